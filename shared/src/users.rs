//! Accounts: the user record, its public shape, and the store port it is kept behind.

use crate::domain::{Email, FullName, Password, Role};
use crate::passwords::{self, PasswordHash};
use crate::store::StoreError;
use serde::Serialize;
use std::future::Future;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
    pub full_name: Option<FullName>,
    pub is_active: bool,
    pub role: Role,
    pub created_at: OffsetDateTime,
    pub password_hash: PasswordHash,
}

/// `UserPublic` of the contract: what any response may show of a user.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserPublic {
    pub id: Uuid,
    pub email: Email,
    pub is_active: bool,
    pub is_superuser: bool,
    pub full_name: Option<FullName>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub role: Role,
}

impl User {
    pub fn new(email: Email, password_hash: PasswordHash, full_name: Option<FullName>, role: Role) -> Self {
        Self {
            id: Uuid::new_v4(),
            email,
            full_name,
            is_active: true,
            role,
            created_at: now_micros(),
            password_hash,
        }
    }

    pub fn public(&self) -> UserPublic {
        UserPublic {
            id: self.id,
            email: self.email.clone(),
            is_active: self.is_active,
            is_superuser: self.role.is_superuser(),
            full_name: self.full_name.clone(),
            created_at: self.created_at,
            role: self.role,
        }
    }
}

/// Now, to the microsecond, as pydantic serialises datetimes.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
}

/// Where users are kept. `create` fails with `EmailTaken` when another user holds the email,
/// however many requests race for it.
pub trait UserStore: Send + Sync {
    fn get(&self, id: Uuid) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn find_by_email(&self, email: &Email) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    fn create(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Newest first.
    fn list(&self, skip: usize, limit: usize) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// `NotFound` when the user is gone; `EmailTaken` when the new email belongs to someone else.
    fn update(&self, user: &User, previous_email: &Email) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete(&self, user: &User) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    Created(Uuid),
    AlreadyPresent(Uuid),
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] passwords::HashError),
}

/// Makes sure the first superuser exists; safe to run at every deploy or start.
pub async fn ensure_first_superuser(
    store: &impl UserStore,
    email: &Email,
    password: &Password,
) -> Result<Bootstrap, BootstrapError> {
    if let Some(existing) = store.find_by_email(email).await? {
        return Ok(Bootstrap::AlreadyPresent(existing.id));
    }
    let user = User::new(email.clone(), passwords::hash(password)?, None, Role::Superuser);
    match store.create(&user).await {
        Ok(()) => Ok(Bootstrap::Created(user.id)),
        Err(StoreError::EmailTaken) => {
            let winner = store.find_by_email(email).await?.ok_or(StoreError::EmailTaken)?;
            Ok(Bootstrap::AlreadyPresent(winner.id))
        }
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
pub mod memory {
    //! An in-memory `UserStore` for unit tests of domain logic.
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct MemoryUsers(Mutex<HashMap<Uuid, User>>);

    impl UserStore for MemoryUsers {
        async fn get(&self, id: Uuid) -> Result<Option<User>, StoreError> {
            Ok(self
                .0
                .lock()
                .map_err(|_| StoreError::Corrupt("poisoned".into()))?
                .get(&id)
                .cloned())
        }
        async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
            let users = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
            Ok(users.values().find(|u| &u.email == email).cloned())
        }
        async fn create(&self, user: &User) -> Result<(), StoreError> {
            let mut users = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
            if users.values().any(|u| u.email == user.email) {
                return Err(StoreError::EmailTaken);
            }
            users.insert(user.id, user.clone());
            Ok(())
        }
        async fn list(&self, skip: usize, limit: usize) -> Result<Vec<User>, StoreError> {
            let users = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
            let mut all: Vec<User> = users.values().cloned().collect();
            all.sort_by_key(|u| std::cmp::Reverse(u.created_at));
            Ok(all.into_iter().skip(skip).take(limit).collect())
        }
        async fn count(&self) -> Result<u64, StoreError> {
            Ok(self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?.len() as u64)
        }
        async fn update(&self, user: &User, _previous: &Email) -> Result<(), StoreError> {
            let mut users = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
            if users.values().any(|u| u.email == user.email && u.id != user.id) {
                return Err(StoreError::EmailTaken);
            }
            match users.get_mut(&user.id) {
                Some(stored) => {
                    *stored = user.clone();
                    Ok(())
                }
                None => Err(StoreError::NotFound),
            }
        }
        async fn delete(&self, user: &User) -> Result<(), StoreError> {
            let mut users = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
            users.remove(&user.id).map(|_| ()).ok_or(StoreError::NotFound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryUsers;
    use super::*;

    #[tokio::test]
    async fn first_superuser_is_created_once() {
        let store = MemoryUsers::default();
        let email = Email::parse("admin@example.com").unwrap();
        let password = Password::parse("changethis").unwrap();
        let Bootstrap::Created(id) = ensure_first_superuser(&store, &email, &password).await.unwrap() else {
            panic!("expected a new superuser");
        };
        assert_eq!(
            ensure_first_superuser(&store, &email, &password).await.unwrap(),
            Bootstrap::AlreadyPresent(id)
        );
        let user = store.get(id).await.unwrap().unwrap();
        assert!(user.public().is_superuser);
        assert!(passwords::verify("changethis", &user.password_hash));
    }

    #[test]
    fn public_shape_has_no_password_hash() {
        let user = User::new(
            Email::parse("a@example.com").unwrap(),
            PasswordHash::from_stored("$argon2id$secret".into()),
            None,
            Role::User,
        );
        let json = serde_json::to_value(user.public()).unwrap();
        assert!(!json.to_string().contains("argon2"));
        assert_eq!(json["role"], "user");
        assert_eq!(json["is_superuser"], false);
        assert!(json["full_name"].is_null());
    }
}
