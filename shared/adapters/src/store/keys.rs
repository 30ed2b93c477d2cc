//! Every key format of the single table (see docs/data-model.md), in one place.

use uuid::Uuid;

pub const PK: &str = "pk";
/// The table's TTL attribute (epoch seconds): DynamoDB deletes a row some time after it, so
/// reads still check it.
pub const EXPIRES: &str = "expires_at";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";

/// How many partitions a partition shared by every writer of its kind is split into: the "all
/// X" index partitions (`ITEMS`, `FILES`, `USERS`, `POSTS#PUBLISHED`) and the global counters.
/// Each shard takes 1,000 WCU/s, so 4 put the capacity mix's first write throttle at 40,000
/// requests/s; a listing reads every shard (4 queries in parallel, 0.5 RRU minimum each), a
/// count 4 counters in one `BatchGetItem`. docs/data-model.md has the numbers.
pub const SHARDS: u32 = 4;

/// The shard of a record: from its id, so its rewrites and its delete land where its create did.
pub fn shard(id: Uuid) -> u32 {
    // The low bits of a v4 id are random.
    (id.as_u128() % u128::from(SHARDS)) as u32
}

/// One shard of a sharded partition: `<base>#<shard, two digits>`.
pub fn sharded(base: &str, shard: u32) -> String {
    format!("{base}#{shard:02}")
}

/// Every shard of a sharded partition, in shard order.
pub fn shards(base: &str) -> Vec<String> {
    (0..SHARDS).map(|shard| sharded(base, shard)).collect()
}

pub fn user(id: Uuid) -> String {
    format!("USER#{id}")
}
pub const USER_SK: &str = "PROFILE";
pub fn email(email: &str) -> String {
    format!("EMAIL#{email}")
}
pub const EMAIL_SK: &str = "EMAIL";
/// A user's two-factor record, beside the profile in the user's partition.
pub const TWO_FACTOR_SK: &str = "TOTP";
/// One of a user's API keys, beside the profile in the user's partition.
pub const API_KEY_PREFIX: &str = "APIKEY#";
pub fn api_key(id: Uuid) -> String {
    format!("{API_KEY_PREFIX}{id}")
}
/// A user's count of API keys, which the cap is checked against.
pub const API_KEYS_SK: &str = "APIKEYS";
/// A login waiting for its second factor: the digest of its `mfa_token`.
pub fn mfa_challenge(digest: &str) -> String {
    format!("MFA#{digest}")
}
pub const MFA_CHALLENGE_SK: &str = "MFA";
pub const USERS_INDEX: &str = "USERS";
pub const USERS_COUNTER: &str = "COUNTER#USERS";
/// The partition of deleted users whose cascade has not finished (sort key: the user's id).
pub const UNFINISHED_DELETIONS: &str = "DELETIONS#UNFINISHED";
pub const COUNTER_SK: &str = "COUNTER";
pub fn refresh(digest: &str) -> String {
    format!("REFRESH#{digest}")
}
pub const REFRESH_SK: &str = "REFRESH";
pub fn family(id: Uuid) -> String {
    format!("FAMILY#{id}")
}
pub const FAMILY_SK: &str = "FAMILY";
pub fn user_families(user: Uuid) -> String {
    format!("USER#{user}#FAMILIES")
}
pub fn reset(digest: &str) -> String {
    format!("RESET#{digest}")
}
pub const RESET_SK: &str = "RESET";
/// An email-verification link, by the SHA-256 of its token.
pub fn verification(digest: &str) -> String {
    format!("VERIFY#{digest}")
}
pub const VERIFICATION_SK: &str = "VERIFY";
/// A rate-limit window. The key (an email, an address) is hashed: whatever a client sends
/// becomes a bounded key and is never stored as it was typed.
pub fn rate(scope: &str, key: &str, window_start: u64) -> String {
    format!("RATE#{scope}#{}#{window_start}", domain::secrets::digest(key))
}
pub const RATE_SK: &str = "RATE";
/// The claim on sending one email job's email (`SentEmails`).
pub fn sent_email(job: Uuid) -> String {
    format!("SENT#{job}")
}
pub const SENT_EMAIL_SK: &str = "SENT";
pub const IDEMPOTENCY_SK: &str = "IDEMP";
pub fn item(id: Uuid) -> String {
    format!("ITEM#{id}")
}
pub const ITEM_SK: &str = "ITEM";
pub fn owner_items(owner: Uuid) -> String {
    format!("OWNER#{owner}#ITEMS")
}
pub const ALL_ITEMS: &str = "ITEMS";
pub const ALL_ITEMS_COUNTER: &str = "COUNTER#ITEMS";
pub fn owner_items_counter(owner: Uuid) -> String {
    format!("COUNTER#ITEMS#{owner}")
}

pub fn post(id: Uuid) -> String {
    format!("POST#{id}")
}
pub const POST_SK: &str = "POST";
fn state(published: bool) -> &'static str {
    if published {
        "PUBLISHED"
    } else {
        "DRAFTS"
    }
}
/// One author's published posts, or their drafts.
pub fn author_posts(author: Uuid, published: bool) -> String {
    format!("AUTHOR#{author}#{}", state(published))
}
pub const PUBLISHED_POSTS: &str = "POSTS#PUBLISHED";
pub const PUBLISHED_POSTS_COUNTER: &str = "COUNTER#POSTS#PUBLISHED";
/// The feed's snapshot, one partition per replica: `FEED#<n>`.
pub const FEED: &str = "FEED";
pub const FEED_SK: &str = "FEED";
pub fn author_posts_counter(author: Uuid, published: bool) -> String {
    format!("COUNTER#POSTS#{author}#{}", state(published))
}

/// An idempotency record: the owner, the collection and the client's key.
pub fn idempotency(owner: Uuid, collection: &str, key: &str) -> String {
    format!("IDEMP#{owner}#{collection}#{key}")
}

/// A WebSocket connection; `gsi1` finds a user's connections.
pub fn connection(id: &str) -> String {
    format!("CONN#{id}")
}
pub const CONNECTION_SK: &str = "CONN";
pub fn user_connections(user: Uuid) -> String {
    format!("USER#{user}#CONNS")
}
/// A room: its members (`MEMBER#<connection>`) and its messages (`MSG#<time>#<id>`) share it.
pub fn room(name: &str) -> String {
    format!("ROOM#{name}")
}
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub fn member(connection: &str) -> String {
    format!("{MEMBER_PREFIX}{connection}")
}
pub const MESSAGE_PREFIX: &str = "MSG#";
pub fn message(timestamp: &str, id: Uuid) -> String {
    format!("{MESSAGE_PREFIX}{timestamp}#{id}")
}
/// A room's count of member connections (`members`), which the room cap is checked against.
pub const ROOM_COUNT_SK: &str = "COUNT";
/// An invitation to a `private-` room, in the room's partition.
pub fn invitation(user: Uuid) -> String {
    format!("INVITE#{user}")
}
/// A user's places for open WebSocket connections, `SLOT#<n>` for n below the cap, each held by
/// one connection: taking a free one is the conditional write that enforces the cap.
pub fn connection_slots(user: Uuid) -> String {
    format!("USER#{user}#WSSLOTS")
}
pub const SLOT_PREFIX: &str = "SLOT#";
pub fn slot(n: u64) -> String {
    format!("{SLOT_PREFIX}{n}")
}
pub fn file(id: Uuid) -> String {
    format!("FILE#{id}")
}
pub const FILE_SK: &str = "FILE";
pub fn owner_files(owner: Uuid) -> String {
    format!("OWNER#{owner}#FILES")
}
pub const ALL_FILES: &str = "FILES";
/// One owner's upload guard: every create of the owner's files bumps its version, so two
/// creates that both read the same usage cannot both commit.
pub fn file_quota(owner: Uuid) -> String {
    format!("FILEQUOTA#{owner}")
}
pub const FILE_QUOTA_SK: &str = "QUOTA";
