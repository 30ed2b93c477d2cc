//! Black-box tests: HTTP against a local stack, the way a client talks to the API.

mod api_keys;
mod docs;
mod edge;
mod faults;
mod files;
mod hardening;
mod health;
mod items;
mod jobs;
mod login;
mod posts;
mod realtime;
mod recovery;
mod sessions;
mod test_email;
mod tokens;
mod two_factor;
mod users;
mod verification;
