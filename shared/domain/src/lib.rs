//! The domain: entities, value types parsed once, account rules and the ports the adapters
//! implement. Nothing here knows HTTP, DynamoDB or any AWS client; the other layers depend on
//! this one, never the other way round.

pub mod accounts;
pub mod api_key;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cursor;
pub mod email;
pub mod error;
pub mod feed;
pub mod file;
pub mod invalid;
pub mod item;
pub mod job;
pub mod owned;
pub mod passwords;
pub mod ports;
pub mod post;
pub mod realtime;
pub mod secrets;
pub mod session;
pub mod tokens;
pub mod two_factor;
pub mod user;
pub mod values;
pub mod verification;

pub use error::{StoreError, WriteError};
pub use invalid::{Invalid, Patch};
pub use item::{Item, ItemChanges, ItemScope};
pub use owned::{Listing, Owned, Remembered};
pub use post::{Post, PostChanges, PostSource};
pub use user::User;
pub use values::{Description, Email, FullName, Password, Permission, PostContent, Price, Role, Title};
