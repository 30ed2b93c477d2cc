//! The feed's snapshot in the table (see `domain::feed`): the same item written to
//! [`REPLICAS`] partitions, each read picking one, so feed reads spread over that many
//! partitions instead of all landing on one. The posts are kept as one deflated JSON attribute:
//! a page of 100 posts is read in a few read units, and stays under DynamoDB's 400 KB item limit
//! (posts are dropped from the end until it does; a page deeper than the snapshot is then read
//! from the index).

use super::attrs::{get_number, number, text, Row};
use super::{condition_held, corrupt, keys, Table};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::clock::{parse_timestamp, timestamp};
use domain::feed::FeedSnapshot;
use domain::ports::FeedStore;
use domain::{Post, PostContent, StoreError, Title};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// How many copies of the snapshot are kept: each takes 3,000 read units/s, so feed reads
/// throttle at `REPLICAS` × 3,000 / (units of one read) per second (docs/data-model.md).
pub const REPLICAS: u32 = 16;
/// The largest deflated page kept: DynamoDB's item limit (400 KB) less room for the rest.
const MAX_PAGE_BYTES: usize = 380 * 1024;
/// How hard to deflate: written once per refresh, read by every feed request.
const LEVEL: u8 = 6;

fn post_json(post: &Post) -> Value {
    json!([
        post.id,
        post.author_id,
        post.title.as_str(),
        post.content.as_str(),
        post.published,
        timestamp(post.created_at),
        timestamp(post.updated_at),
        post.version,
    ])
}

fn post_from(value: &Value) -> Result<Post, StoreError> {
    let bad = || StoreError::Corrupt("feed snapshot: malformed post".into());
    let field = |i: usize| value.get(i).ok_or_else(bad);
    let text_at = |i: usize| field(i).and_then(|v| v.as_str().ok_or_else(bad));
    let uuid_at = |i: usize| text_at(i).and_then(|t| t.parse().map_err(|_| bad()));
    let time_at = |i: usize| text_at(i).and_then(|t| parse_timestamp(t).ok_or_else(bad));
    Ok(Post {
        id: uuid_at(0)?,
        author_id: uuid_at(1)?,
        title: Title::parse(text_at(2)?).map_err(|_| bad())?,
        content: PostContent::parse(text_at(3)?).map_err(|_| bad())?,
        published: field(4)?.as_bool().ok_or_else(bad)?,
        created_at: time_at(5)?,
        updated_at: time_at(6)?,
        version: field(7)?.as_u64().ok_or_else(bad)?,
    })
}

/// The deflated JSON of `posts`, and how many of them it holds: as many from the front as fit.
fn deflated(posts: &[Post]) -> (Vec<u8>, usize) {
    let mut kept = posts.len();
    loop {
        let page = Value::Array(posts[..kept].iter().map(post_json).collect()).to_string();
        let bytes = miniz_oxide::deflate::compress_to_vec(page.as_bytes(), LEVEL);
        if bytes.len() <= MAX_PAGE_BYTES || kept == 0 {
            return (bytes, kept);
        }
        // Shrink in proportion, with a margin, so a huge page takes few rounds.
        kept = (kept * MAX_PAGE_BYTES / bytes.len()).saturating_sub(1).min(kept - 1);
    }
}

fn inflated(bytes: &[u8]) -> Result<Vec<Post>, StoreError> {
    // What 100 posts can inflate to: 50,000 characters each, JSON-escaped at most 6 bytes per
    // character, and their other fields.
    let limit = 100 * (50_000 * 6 + 4096);
    let json =
        miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, limit).map_err(|e| corrupt(format!("{e:?}")))?;
    let posts: Vec<Value> = serde_json::from_slice(&json).map_err(corrupt)?;
    posts.iter().map(post_from).collect()
}

fn replica(n: u32) -> String {
    format!("{}#{n}", keys::FEED)
}

const BUILT_AT: &str = "built_at";

fn built_at(row: &Row) -> Result<OffsetDateTime, StoreError> {
    let micros = i128::from(get_number(row, BUILT_AT));
    OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).map_err(corrupt)
}

impl Table {
    /// One replica of the snapshot, picked at random, or only `attribute` of it. Eventually
    /// consistent: a snapshot is seconds old by design; a read a moment older costs half.
    async fn read_replica(&self, attribute: Option<&str>) -> Result<Option<Row>, StoreError> {
        let pick = u32::from(uuid::Uuid::new_v4().as_bytes()[0]) % REPLICAS;
        let mut read = self
            .client()
            .get_item()
            .table_name(self.name())
            .key(keys::PK, text(replica(pick)))
            .key(keys::SK, text(keys::FEED_SK));
        if let Some(attribute) = attribute {
            read = read
                .projection_expression("#a")
                .expression_attribute_names("#a", attribute);
        }
        Ok(read.send().await.map_err(super::unavailable)?.item)
    }
}

impl FeedStore for Table {
    async fn feed(&self) -> Result<Option<FeedSnapshot>, StoreError> {
        let row = self.read_replica(None).await?;
        row.as_ref().map(snapshot_from).transpose()
    }

    async fn feed_built_at(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let row = self.read_replica(Some(BUILT_AT)).await?;
        row.as_ref().map(built_at).transpose()
    }

    async fn keep_feed(&self, snapshot: &FeedSnapshot) -> Result<(), StoreError> {
        let (page, kept) = deflated(&snapshot.posts);
        let built = snapshot.built_at.unix_timestamp_nanos() / 1000;
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..REPLICAS {
            let row = Row::from([
                (keys::PK.to_owned(), text(replica(n))),
                (keys::SK.to_owned(), text(keys::FEED_SK)),
                ("page".to_owned(), AttributeValue::B(Blob::new(page.clone()))),
                ("count".to_owned(), number(snapshot.count)),
                (
                    "more".to_owned(),
                    AttributeValue::Bool(snapshot.more || kept < snapshot.posts.len()),
                ),
                (BUILT_AT.to_owned(), number(built)),
            ]);
            let put = self
                .client()
                .put_item()
                .table_name(self.name())
                .set_item(Some(row))
                .condition_expression("attribute_not_exists(built_at) OR built_at < :built")
                .expression_attribute_values(":built", number(built));
            // A newer snapshot kept already is not a failure: this one is simply not needed.
            writes.spawn(async move { condition_held(put.send().await).map(|_| ()) });
        }
        while let Some(done) = writes.join_next().await {
            done.map_err(corrupt)??;
        }
        Ok(())
    }
}

fn snapshot_from(row: &Row) -> Result<FeedSnapshot, StoreError> {
    let page = row
        .get("page")
        .and_then(|v| v.as_b().ok())
        .ok_or_else(|| StoreError::Corrupt("feed snapshot: no page".into()))?;
    Ok(FeedSnapshot {
        posts: inflated(page.as_ref())?,
        count: get_number(row, "count"),
        more: row.get("more").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true),
        built_at: built_at(row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::post::NewPost;
    use uuid::Uuid;

    fn post(content: &str) -> Post {
        Post::new(
            Uuid::new_v4(),
            NewPost {
                title: Title::parse("A title").unwrap(),
                content: PostContent::parse(content).unwrap(),
                published: Some(true),
            },
        )
    }

    #[test]
    fn a_page_round_trips() {
        let posts: Vec<_> = (0..100)
            .map(|i| post(&format!("Post number {i}, \"quoted\" ✓")))
            .collect();
        let (bytes, kept) = deflated(&posts);
        assert_eq!(kept, 100);
        assert_eq!(inflated(&bytes).unwrap(), posts);
    }

    #[test]
    fn a_page_too_large_for_one_item_keeps_the_newest_posts_that_fit() {
        // Incompressible content: 100 posts of 50,000 characters would be ~5 MB.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let noise = |seed: &mut u64| -> String {
            (0..50_000)
                .map(|_| {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    char::from(b'!' + (*seed % 90) as u8)
                })
                .collect()
        };
        let posts: Vec<_> = (0..100).map(|_| post(&noise(&mut seed))).collect();
        let (bytes, kept) = deflated(&posts);
        assert!(bytes.len() <= MAX_PAGE_BYTES, "{}", bytes.len());
        assert!((1..100).contains(&kept), "{kept}");
        assert_eq!(inflated(&bytes).unwrap(), posts[..kept].to_vec());
    }

    #[test]
    fn a_corrupt_page_is_an_error_not_a_panic() {
        assert!(inflated(b"not deflate").is_err());
        let json = miniz_oxide::deflate::compress_to_vec(b"[[1,2]]", 6);
        assert!(inflated(&json).is_err());
    }
}
