//! The account bodies of the contract, read into the domain's account types.

use super::validation::{scalar, Echo, Fields, FromFields, Invalid, Read};
use crate::domain::user::{resolve_role, AccountChanges, NewAccount};
use crate::domain::{Email, FullName, Password, Role};
use serde_json::Value;

pub fn email(value: &Value) -> Result<Email, Invalid> {
    scalar::string(value).and_then(Email::parse)
}

pub fn password(value: &Value) -> Result<Password, Invalid> {
    scalar::string(value).and_then(Password::parse)
}

pub fn full_name(value: &Value) -> Result<FullName, Invalid> {
    scalar::string(value).and_then(FullName::parse)
}

pub fn role(value: &Value) -> Result<Role, Invalid> {
    scalar::string(value).and_then(Role::parse)
}

/// `UserCreate` of a superuser's `POST /users/`: role fields honoured.
#[derive(Debug)]
pub struct UserCreate(pub NewAccount);

/// `UserRegister` of `POST /users/signup`: whatever role the body claims is ignored.
#[derive(Debug)]
pub struct UserRegister(pub NewAccount);

/// `PrivateUserCreate` of `POST /private/users/`: `full_name` required, roles ignored.
#[derive(Debug)]
pub struct PrivateUserCreate(pub NewAccount);

/// `UserUpdateMe`: email and full name only.
#[derive(Debug)]
pub struct UserUpdateMe(pub AccountChanges);

/// `UserUpdate` of a superuser's `PATCH /users/{id}`.
#[derive(Debug)]
pub struct UserUpdate(pub AccountChanges);

/// `UpdatePassword`.
#[derive(Debug)]
pub struct UpdatePassword {
    pub current_password: Password,
    pub new_password: Password,
}

fn new_account(fields: &mut Fields<'_>, full_name_required: bool, roles: bool) -> Read<NewAccount> {
    let email = fields.required("email", Echo::Yes, email);
    let password = fields.required("password", Echo::Redact, password);
    let full_name = if full_name_required {
        fields.required("full_name", Echo::Yes, full_name).map(Some)
    } else {
        fields.optional("full_name", Echo::Yes, full_name)
    };
    let (is_active, role, is_superuser) = if roles {
        (
            fields.defaulted("is_active", Echo::Yes, scalar::json_boolean)?,
            fields.optional("role", Echo::Yes, role)?,
            fields.defaulted("is_superuser", Echo::Yes, scalar::json_boolean)?,
        )
    } else {
        (None, None, None)
    };
    Ok(NewAccount {
        email: email?,
        password: password?,
        full_name: full_name?,
        is_active: is_active.unwrap_or(true),
        role: resolve_role(Role::User, role, is_superuser),
    })
}

impl FromFields for UserCreate {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        new_account(fields, false, true).map(Self)
    }
}

impl FromFields for UserRegister {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        new_account(fields, false, false).map(Self)
    }
}

impl FromFields for PrivateUserCreate {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let account = new_account(fields, true, false);
        // Read for the reference client's sake (and refused when not a boolean): accounts need
        // no verification here.
        let is_verified = fields.defaulted("is_verified", Echo::Yes, scalar::json_boolean);
        is_verified?;
        account.map(Self)
    }
}

fn account_changes(fields: &mut Fields<'_>, admin: bool) -> Read<AccountChanges> {
    let email = fields.optional("email", Echo::Yes, email);
    let full_name = fields.patch("full_name", Echo::Yes, full_name);
    let mut changes = AccountChanges::default();
    if admin {
        let password = fields.optional("password", Echo::Redact, password);
        let is_active = fields.optional("is_active", Echo::Yes, scalar::json_boolean);
        let role = fields.optional("role", Echo::Yes, role);
        let is_superuser = fields.optional("is_superuser", Echo::Yes, scalar::json_boolean);
        changes.password = password?;
        changes.is_active = is_active?;
        changes.role = role?;
        changes.is_superuser = is_superuser?;
    }
    changes.email = email?;
    changes.full_name = full_name?;
    Ok(changes)
}

impl FromFields for UserUpdateMe {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        account_changes(fields, false).map(Self)
    }
}

impl FromFields for UserUpdate {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        account_changes(fields, true).map(Self)
    }
}

impl FromFields for UpdatePassword {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let current = fields.required("current_password", Echo::Redact, password);
        let new = fields.required("new_password", Echo::Redact, password);
        Ok(Self {
            current_password: current?,
            new_password: new?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::validation::{read, Source};
    use serde_json::json;

    #[test]
    fn signup_ignores_claimed_roles_and_reports_every_field() {
        let body = json!({"email": "a@example.com", "password": "longenough", "role": "superuser"});
        let UserRegister(account) = read(Source::Body, body.as_object().unwrap()).unwrap();
        assert_eq!(account.role, Role::User);
        let errors = read::<UserRegister>(Source::Body, json!({"email": "x"}).as_object().unwrap()).unwrap_err();
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_superuser_may_set_roles() {
        let body = json!({"email": "a@example.com", "password": "longenough", "is_superuser": true});
        let UserCreate(account) = read(Source::Body, body.as_object().unwrap()).unwrap();
        assert_eq!(account.role, Role::Superuser);
    }
}
