//! The account bodies of the contract, and what each means for the domain's accounts: which
//! fields a caller may set, and how roles resolve.

use crate::schema::{body, Secret};
use domain::user::{resolve_role, AccountChanges, NewAccount};
use domain::{Email, FullName, Password, Role};

body! {
    /// A superuser's `POST /users/`: role fields honoured.
    pub struct UserCreate as "UserCreate" {
        required email: Email,
        default is_active: bool = true,
        default is_superuser: bool = false,
        optional full_name: FullName,
        required password: Password,
        optional role: Role,
    }
}

impl UserCreate {
    pub fn into_account(self) -> NewAccount {
        NewAccount {
            email: self.email,
            password: self.password,
            full_name: self.full_name,
            is_active: self.is_active,
            is_verified: false,
            // `role` wins; `is_superuser` counts only when it was sent as true.
            role: resolve_role(Role::User, self.role, self.is_superuser.then_some(true)),
        }
    }
}

body! {
    /// `POST /users/signup`: whatever role the body claims is not read.
    pub struct UserRegister as "UserRegister" {
        required email: Email,
        required password: Password,
        optional full_name: FullName,
    }
}

impl UserRegister {
    pub fn into_account(self) -> NewAccount {
        NewAccount {
            email: self.email,
            password: self.password,
            full_name: self.full_name,
            is_active: true,
            is_verified: false,
            role: Role::User,
        }
    }
}

body! {
    /// `POST /private/users/`: `full_name` required, roles not read; `is_verified` as sent (the
    /// reference client's test fixtures make users that need no link).
    pub struct PrivateUserCreate as "PrivateUserCreate" {
        required email: Email,
        required password: Password,
        required full_name: FullName,
        default is_verified: bool = false,
    }
}

impl PrivateUserCreate {
    pub fn into_account(self) -> NewAccount {
        NewAccount {
            email: self.email,
            password: self.password,
            full_name: Some(self.full_name),
            is_active: true,
            is_verified: self.is_verified,
            role: Role::User,
        }
    }
}

body! {
    /// `PATCH /users/me`: email and full name only.
    pub struct UserUpdateMe as "UserUpdateMe" {
        patch full_name: FullName,
        optional email: Email,
    }
}

impl From<UserUpdateMe> for AccountChanges {
    fn from(body: UserUpdateMe) -> Self {
        Self {
            email: body.email,
            full_name: body.full_name,
            ..Self::default()
        }
    }
}

body! {
    /// A superuser's `PATCH /users/{id}`.
    pub struct UserUpdate as "UserUpdate" {
        optional email: Email,
        optional is_active: bool,
        optional is_superuser: bool,
        patch full_name: FullName,
        optional password: Password,
        optional role: Role,
    }
}

impl From<UserUpdate> for AccountChanges {
    fn from(body: UserUpdate) -> Self {
        Self {
            email: body.email,
            full_name: body.full_name,
            password: body.password,
            is_active: body.is_active,
            role: body.role,
            is_superuser: body.is_superuser,
        }
    }
}

body! {
    /// `POST /users/verify-email`: the token of a verification link.
    pub struct VerifyEmail as "VerifyEmail" {
        required token: Secret,
    }
}

body! {
    /// `PATCH /users/me/password`.
    pub struct UpdatePassword as "UpdatePassword" {
        required current_password: Password,
        required new_password: Password,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{read, Source};
    use domain::Role;
    use serde_json::json;

    #[test]
    fn signup_ignores_claimed_roles_and_reports_every_field() {
        let body = json!({"email": "a@example.com", "password": "longenough", "role": "superuser"});
        let account = read::<UserRegister>(Source::Body, body.as_object().unwrap())
            .unwrap()
            .into_account();
        assert_eq!(account.role, Role::User);
        let errors = read::<UserRegister>(Source::Body, json!({"email": "x"}).as_object().unwrap()).unwrap_err();
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_superuser_may_set_roles() {
        let body = json!({"email": "a@example.com", "password": "longenough", "is_superuser": true});
        let account = read::<UserCreate>(Source::Body, body.as_object().unwrap())
            .unwrap()
            .into_account();
        assert_eq!(account.role, Role::Superuser);
    }
}
