//! Black-box tests: HTTP against a local stack, the way a client talks to the API.

mod edge;
mod files;
mod hardening;
mod health;
mod items;
mod jobs;
mod login;
mod posts;
mod recovery;
mod test_email;
mod tokens;
mod users;
