//! Accounts: the user record and the rules for creating and changing one.

use super::clock::now_micros;
use super::passwords::{self, PasswordHash};
use super::values::{Email, FullName, Password, Role};
use super::Patch;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub full_name: Option<FullName>,
    pub is_active: bool,
    /// Whether the owner proved they read mail at `email` (a verification link); a new email
    /// is unverified until its own link is followed.
    pub is_verified: bool,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub password_hash: PasswordHash,
    /// Access tokens issued before this time (seconds since the epoch) are void: set when the
    /// password, the role or the active flag changes.
    pub tokens_valid_after: u64,
    /// Whether a login needs a second factor (TOTP or a recovery code) after the password. Only
    /// the two-factor store turns it on or off, with the record it stands for.
    pub has_2fa: bool,
    /// Bumped by every write, so concurrent writers cannot undo each other's changes.
    pub version: u64,
}

impl User {
    pub fn new(email: Email, password_hash: PasswordHash, full_name: Option<FullName>, role: Role) -> Self {
        Self {
            id: Uuid::new_v4(),
            email,
            full_name,
            is_active: true,
            is_verified: false,
            role,
            created_at: now_micros(),
            password_hash,
            tokens_valid_after: 0,
            has_2fa: false,
            version: 1,
        }
    }

    /// Voids every access token issued so far (password, role or active flag changed).
    pub fn end_sessions(&mut self) {
        self.tokens_valid_after = super::clock::now_secs();
    }

    /// Whether an access token issued at `issued_at` may still act for this user.
    pub fn accepts_token_issued_at(&self, issued_at: u64) -> bool {
        self.is_active && issued_at >= self.tokens_valid_after
    }
}

/// A new account as a route's body describes it.
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub is_active: bool,
    /// Set only where the address is known to be the owner's (`POST /private/users/`).
    pub is_verified: bool,
    pub role: Role,
}

/// `role` wins over `is_superuser`; `is_superuser: false` demotes a superuser to `user`.
pub fn resolve_role(current: Role, role: Option<Role>, is_superuser: Option<bool>) -> Role {
    match (role, is_superuser) {
        (Some(role), _) => role,
        (None, Some(true)) => Role::Superuser,
        (None, Some(false)) if current == Role::Superuser => Role::User,
        _ => current,
    }
}

/// A partial update of an account (`PATCH /users/me` carries only email and full name).
#[derive(Debug, Default)]
pub struct AccountChanges {
    pub email: Option<Email>,
    pub full_name: Patch<FullName>,
    pub password: Option<Password>,
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub is_superuser: Option<bool>,
}

impl AccountChanges {
    /// Applies the changes to `user`, hashing a new password if there is one. A new password,
    /// role or active flag ends the user's sessions; a new email is unverified.
    pub fn apply(self, user: &mut User) -> Result<(), passwords::HashError> {
        let (role, active) = (user.role, user.is_active);
        let password_changed = self.password.is_some();
        if let Some(email) = self.email {
            if email != user.email {
                user.is_verified = false;
            }
            user.email = email;
        }
        self.full_name.apply_to(&mut user.full_name);
        if let Some(password) = self.password {
            user.password_hash = passwords::hash(&password)?;
        }
        if let Some(active) = self.is_active {
            user.is_active = active;
        }
        user.role = resolve_role(user.role, self.role, self.is_superuser);
        if password_changed || user.role != role || user.is_active != active {
            user.end_sessions();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified_user() -> User {
        let mut user = User::new(
            Email::parse("a@example.com").unwrap(),
            PasswordHash::from_stored("$argon2id$v=19$x".into()),
            None,
            Role::User,
        );
        user.is_verified = true;
        user
    }

    #[test]
    fn a_new_email_is_unverified_and_the_same_one_stays_verified() {
        let mut user = verified_user();
        let same = AccountChanges {
            email: Some(Email::parse("A@example.com").unwrap()),
            ..AccountChanges::default()
        };
        same.apply(&mut user).unwrap();
        assert!(user.is_verified);
        let other = AccountChanges {
            email: Some(Email::parse("b@example.com").unwrap()),
            ..AccountChanges::default()
        };
        other.apply(&mut user).unwrap();
        assert!(!user.is_verified);
        assert_eq!(user.email.as_str(), "b@example.com");
    }

    #[test]
    fn role_field_wins_and_is_superuser_maps_onto_roles() {
        assert_eq!(resolve_role(Role::User, Some(Role::Admin), Some(true)), Role::Admin);
        assert_eq!(resolve_role(Role::User, None, Some(true)), Role::Superuser);
        assert_eq!(resolve_role(Role::Superuser, None, Some(false)), Role::User);
        assert_eq!(resolve_role(Role::Moderator, None, Some(false)), Role::Moderator);
        assert_eq!(resolve_role(Role::Moderator, None, None), Role::Moderator);
    }
}
