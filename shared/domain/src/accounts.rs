//! Account rules that need the stores: creating an account, the first superuser, and the
//! delete-user cascade.

use super::file::{objects, FileScope};
use super::owned::Owned;
use super::passwords;
use super::ports::{ApiKeyStore, FileStore, ObjectError, ObjectStore, Records, SessionStore, UserStore};
use super::user::{NewAccount, User};
use super::values::{Email, Password, Role};
use super::{Item, Listing, Post, StoreError, WriteError};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] passwords::HashError),
}

impl From<StoreError> for AccountError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::EmailTaken => Self::EmailTaken,
            other => Self::Store(other),
        }
    }
}

impl NewAccount {
    /// Hashes the password and stores the user, unless the email is taken.
    pub async fn create(self, store: &impl UserStore) -> Result<User, AccountError> {
        // A taken email answers before the Argon2 work; the store still guards races.
        if store.find_by_email(&self.email).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        let hash = passwords::hash(&self.password)?;
        let mut user = User::new(self.email, hash, self.full_name, self.role);
        user.is_active = self.is_active;
        user.is_verified = self.is_verified;
        store.create(&user).await?;
        Ok(user)
    }
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
    let mut user = User::new(email.clone(), passwords::hash(password)?, None, Role::Superuser);
    // The operator chose this address: no link to follow, and no lock-out when verification is required.
    user.is_verified = true;
    match store.create(&user).await {
        Ok(()) => Ok(Bootstrap::Created(user.id)),
        Err(StoreError::EmailTaken) => {
            let winner = store.find_by_email(email).await?.ok_or(StoreError::EmailTaken)?;
            Ok(Bootstrap::AlreadyPresent(winner.id))
        }
        Err(other) => Err(other.into()),
    }
}

/// Why the delete-user cascade stopped (to be retried).
#[derive(Debug, thiserror::Error)]
pub enum CascadeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bucket(#[from] ObjectError),
}

/// What the delete-user cascade removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub items: usize,
    pub posts: usize,
    pub files: usize,
}

/// Removes what a deleted user left behind: their logins, API keys, items, posts, and files with
/// their objects. Idempotent: the job may run more than once, or after a partial run.
pub async fn delete_user_data(
    store: &(impl SessionStore + ApiKeyStore + Records<Item> + Records<Post> + FileStore),
    bucket: &impl ObjectStore,
    user_id: Uuid,
) -> Result<Removed, CascadeError> {
    store.revoke_user_sessions(user_id).await?;
    store.delete_user_keys(user_id).await?;
    let items = delete_all_owned::<Item>(store, user_id).await?;
    let posts = delete_all_owned::<Post>(store, user_id).await?;
    let files = delete_all_files(store, bucket, user_id).await?;
    Ok(Removed { items, posts, files })
}

/// Deletes every file of `owner`: its objects first, then its record (a failure leaves the
/// record for the retry to find); then the owner's quota guard.
pub async fn delete_all_files(
    store: &impl FileStore,
    bucket: &impl ObjectStore,
    owner: Uuid,
) -> Result<usize, CascadeError> {
    let mut deleted = 0;
    loop {
        let files = store.list_files(&FileScope::Owner(owner), None, 100).await?;
        if files.is_empty() {
            store.forget_uploader(owner).await?;
            return Ok(deleted);
        }
        for file in &files {
            bucket.delete_objects(&objects::all(file.owner_id, file.id)).await?;
            if store.delete_file(file).await? {
                deleted += 1;
            }
        }
    }
}

/// Deletes every record `owner` has (the delete-user cascade). Safe to rerun: what is already
/// gone is skipped.
pub async fn delete_all_owned<T: Owned>(store: &impl Records<T>, owner: Uuid) -> Result<usize, StoreError> {
    let listing = Listing::of(T::sources_of(owner));
    let mut deleted = 0;
    loop {
        let rows = store.list(&listing, 100).await?;
        if rows.is_empty() {
            return Ok(deleted);
        }
        for row in &rows {
            match store.delete(row, None).await {
                Ok(()) => deleted += 1,
                Err(WriteError::Store(err)) => return Err(err),
                Err(WriteError::Conflict | WriteError::KeyTaken) => {}
            }
        }
    }
}
