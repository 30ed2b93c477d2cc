//! Account rules shared by the users and private functions: reading the account bodies of the
//! contract, and creating users.

use crate::api::ApiRequest;
use crate::domain::{Email, FullName, Password, Role};
use crate::error::{ApiError, ApiResult};
use crate::passwords;
use crate::store::StoreError;
use crate::users::{User, UserStore};
use crate::validation::{scalar, Echo, Fields, Patch, Source};
use serde_json::Value;

pub fn email(value: &Value) -> Result<Email, crate::validation::Invalid> {
    scalar::string(value).and_then(Email::parse)
}

pub fn password(value: &Value) -> Result<Password, crate::validation::Invalid> {
    scalar::string(value).and_then(Password::parse)
}

pub fn full_name(value: &Value) -> Result<FullName, crate::validation::Invalid> {
    scalar::string(value).and_then(FullName::parse)
}

pub fn role(value: &Value) -> Result<Role, crate::validation::Invalid> {
    scalar::string(value).and_then(Role::parse)
}

/// A new account as a route's body describes it. `role` is only ever read on the routes where a
/// superuser may set it.
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub full_name: Option<FullName>,
    pub is_active: bool,
    pub role: Role,
}

/// Who may choose the role of a new or changed account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleFields {
    /// Signup and the private route: `role` and `is_superuser` are ignored.
    Ignored,
    /// A superuser's `POST /users/` and `PATCH /users/{id}`.
    Honoured,
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

impl NewAccount {
    pub fn from_request(request: &ApiRequest, roles: RoleFields, full_name_required: bool) -> ApiResult<Self> {
        let body = request.json_object()?;
        let mut fields = Fields::new(Source::Body, &body);
        let email = fields.required("email", Echo::Yes, email);
        let password = fields.required("password", Echo::Redact, password);
        let full_name = if full_name_required {
            fields.required("full_name", Echo::Yes, full_name).map(Some)
        } else {
            fields.optional("full_name", Echo::Yes, full_name)
        };
        let is_active = fields.optional("is_active", Echo::Yes, scalar::boolean);
        let (role, is_superuser) = match roles {
            RoleFields::Honoured => (
                fields.optional("role", Echo::Yes, role).flatten(),
                fields.optional("is_superuser", Echo::Yes, scalar::boolean).flatten(),
            ),
            RoleFields::Ignored => (None, None),
        };
        fields.finish().map_err(ApiError::Validation)?;
        let (Some(email), Some(password), Some(full_name)) = (email, password, full_name) else {
            return Err(ApiError::Internal("body parsed without values".into()));
        };
        let is_active = match roles {
            RoleFields::Honoured => is_active.flatten().unwrap_or(true),
            RoleFields::Ignored => true,
        };
        Ok(Self {
            email,
            password,
            full_name,
            is_active,
            role: resolve_role(Role::User, role, is_superuser),
        })
    }

    /// Hashes the password and stores the user; an email that is taken is `StoreError::EmailTaken`.
    pub async fn create(self, store: &impl UserStore) -> ApiResult<Result<User, StoreError>> {
        // A taken email answers before the Argon2 work; the transaction still guards races.
        if store.find_by_email(&self.email).await?.is_some() {
            return Ok(Err(StoreError::EmailTaken));
        }
        let hash = passwords::hash(&self.password).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut user = User::new(self.email, hash, self.full_name, self.role);
        user.is_active = self.is_active;
        match store.create(&user).await {
            Ok(()) => Ok(Ok(user)),
            Err(StoreError::EmailTaken) => Ok(Err(StoreError::EmailTaken)),
            Err(other) => Err(other.into()),
        }
    }
}

/// A partial update of an account (`PATCH /users/me` reads only email and full name).
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
    pub fn from_request(request: &ApiRequest, admin: bool) -> ApiResult<Self> {
        let body = request.json_object()?;
        let mut fields = Fields::new(Source::Body, &body);
        let mut changes = AccountChanges {
            email: fields.optional("email", Echo::Yes, email).flatten(),
            full_name: fields.patch("full_name", Echo::Yes, full_name),
            ..Default::default()
        };
        if admin {
            changes.password = fields.optional("password", Echo::Redact, password).flatten();
            changes.is_active = fields.optional("is_active", Echo::Yes, scalar::boolean).flatten();
            changes.role = fields.optional("role", Echo::Yes, role).flatten();
            changes.is_superuser = fields.optional("is_superuser", Echo::Yes, scalar::boolean).flatten();
        }
        fields.finish().map_err(ApiError::Validation)?;
        Ok(changes)
    }

    /// Applies the changes to `user`, hashing a new password if there is one.
    pub fn apply(self, user: &mut User) -> ApiResult<()> {
        if let Some(email) = self.email {
            user.email = email;
        }
        match self.full_name {
            Patch::Absent => {}
            Patch::Null => user.full_name = None,
            Patch::Value(name) => user.full_name = Some(name),
        }
        if let Some(password) = self.password {
            user.password_hash = passwords::hash(&password).map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        if let Some(active) = self.is_active {
            user.is_active = active;
        }
        user.role = resolve_role(user.role, self.role, self.is_superuser);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_field_wins_and_is_superuser_maps_onto_roles() {
        assert_eq!(resolve_role(Role::User, Some(Role::Admin), Some(true)), Role::Admin);
        assert_eq!(resolve_role(Role::User, None, Some(true)), Role::Superuser);
        assert_eq!(resolve_role(Role::Superuser, None, Some(false)), Role::User);
        assert_eq!(resolve_role(Role::Moderator, None, Some(false)), Role::Moderator);
        assert_eq!(resolve_role(Role::Moderator, None, None), Role::Moderator);
    }
}
