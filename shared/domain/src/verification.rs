//! Email verification: the single-use links that prove a user reads mail at their address, and
//! the limits on asking for them.

use super::email::{self, EmailMessage};
use super::ports::EmailVerifications;
use super::session::Limit;
use super::user::User;
use super::StoreError;
use std::time::Duration;

/// How long a verification link works.
pub const LINK_TTL: Duration = Duration::from_secs(email::VERIFY_TOKEN_HOURS * 3600);

/// Links a user may ask for in an hour (`POST /users/me/verification-email`, and the ones an
/// unverified login sends when verification is required): each is an email to the address,
/// so an account cannot be used to flood a mailbox.
pub const RESENDS: Limit = Limit {
    scope: "verify-resend",
    max: 3,
    window: Duration::from_secs(3600),
};

/// Failed redemptions (made-up, spent, expired or stale tokens) per source address.
pub const FAILURES_PER_ADDRESS: Limit = Limit {
    scope: "verify-ip",
    max: 50,
    window: Duration::from_secs(3600),
};

/// A new link for `user`'s current address (the token is stored only as its SHA-256), in the
/// email that carries it.
pub async fn link_email(
    store: &impl EmailVerifications,
    user: &User,
    project_name: &str,
    frontend_host: &str,
) -> Result<EmailMessage, StoreError> {
    let token = store.create_verification(user, LINK_TTL).await?;
    Ok(email::verify_email(
        project_name,
        frontend_host,
        user.email.clone(),
        &token,
    ))
}
