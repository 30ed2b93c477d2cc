//! The feed: the first page of published posts, kept as a snapshot that a job rebuilds after
//! every change to a published post. Every default `GET /posts/` reads that snapshot (one item,
//! from one of several replicas) instead of querying the one index partition that holds every
//! published post: that partition would take every feed read of the world.
//!
//! A snapshot is at most a few seconds old (the refresh job's delay and run). The caller's own
//! posts are read fresh and merged in, so an author sees their own change at once; others see it
//! on the next refresh — the public feed is cached for 30 s by the contract anyway.

use super::owned::{Listing, Owned};
use super::ports::{FeedStore, Records};
use super::post::{Post, PostSource};
use super::StoreError;
use time::OffsetDateTime;
use uuid::Uuid;

/// How many posts a snapshot keeps: the default page (`limit` 100).
pub const FEED_POSTS: usize = 100;

/// The newest published posts, as of `built_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSnapshot {
    /// Newest first; at most [`FEED_POSTS`], fewer when the store could not keep them all.
    pub posts: Vec<Post>,
    /// How many posts were published in all.
    pub count: u64,
    /// Whether published posts follow the last one kept.
    pub more: bool,
    /// When the listing it was built from was read.
    pub built_at: OffsetDateTime,
}

/// One page of a feed: the posts, whether more follow, and the count of the whole listing.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    pub posts: Vec<Post>,
    pub more: bool,
    pub count: u64,
}

impl FeedSnapshot {
    /// Builds the snapshot from the store's listing of every published post, leaving out the
    /// posts of `gone` (an author whose posts were just deleted: the index may still show them).
    pub async fn build<S: Records<Post>>(store: &S, gone: Option<Uuid>) -> Result<Self, StoreError> {
        let built_at = OffsetDateTime::now_utc();
        let listing = Listing::of(vec![PostSource::Published]);
        let mut posts = store.list(&listing, FEED_POSTS + 1).await?;
        posts.retain(|post| Some(post.author_id) != gone);
        let count = store.count(&listing).await?;
        let more = posts.len() > FEED_POSTS;
        posts.truncate(FEED_POSTS);
        Ok(Self {
            posts,
            count,
            more,
            built_at,
        })
    }

    /// The sort key of the oldest post kept: every published post newer than it is in the
    /// snapshot (as of `built_at`).
    fn boundary(&self) -> Option<String> {
        self.posts.last().map(Owned::sort_key)
    }

    /// The first `limit` published posts, when the snapshot holds them.
    pub fn public_page(&self, limit: usize) -> Option<FeedPage> {
        if limit > self.posts.len() && self.more {
            return None;
        }
        let posts: Vec<Post> = self.posts.iter().take(limit).cloned().collect();
        Some(FeedPage {
            more: self.posts.len() > limit || self.more,
            posts,
            count: self.count,
        })
    }

    /// The first `limit` posts of `caller`'s feed: everyone's published posts from the snapshot,
    /// with the caller's own replaced by `own_published` (read now, newest first, at most
    /// [`FEED_POSTS`] + 1: more than [`FEED_POSTS`] is left to the index) and their
    /// `drafts` (read now, newest first, `draft_count` in all) merged in. `None` when the
    /// snapshot does not reach deep enough for that page.
    ///
    /// The count is the snapshot's, corrected for the caller's own published posts within the
    /// snapshot's reach (a post published or unpublished since the snapshot), plus the drafts.
    pub fn page_for(
        &self,
        caller: Uuid,
        own_published: Vec<Post>,
        drafts: Vec<Post>,
        draft_count: u64,
        limit: usize,
    ) -> Option<FeedPage> {
        if own_published.len() > FEED_POSTS {
            return None;
        }
        let boundary = self.boundary();
        let within = |post: &Post| boundary.as_ref().is_none_or(|b| post.sort_key() >= *b) || !self.more;
        let stale_own = self.posts.iter().filter(|p| p.author_id == caller).count() as u64;
        let fresh_own: Vec<Post> = own_published.into_iter().filter(|p| within(p)).collect();
        let count = (self.count + fresh_own.len() as u64).saturating_sub(stale_own) + draft_count;

        // Published posts are known up to the boundary; drafts only as deep as they were read.
        let mut rows: Vec<Post> = self.posts.iter().filter(|p| p.author_id != caller).cloned().collect();
        rows.extend(fresh_own);
        rows.extend(drafts);
        rows.sort_by_key(|p| std::cmp::Reverse(p.sort_key()));
        let exact = rows.iter().take(limit).all(within);
        if !exact || (rows.len() < limit && self.more) {
            return None;
        }
        let more = rows.len() > limit || self.more;
        rows.truncate(limit);
        Some(FeedPage {
            posts: rows,
            more,
            count,
        })
    }
}

/// Rebuilds the snapshot and keeps it, unless one built after `requested_at` is already kept.
/// Returns whether a snapshot was written.
pub async fn refresh<S: Records<Post> + FeedStore>(
    store: &S,
    requested_at: OffsetDateTime,
) -> Result<bool, StoreError> {
    if store
        .feed_built_at()
        .await?
        .is_some_and(|built_at| built_at > requested_at)
    {
        return Ok(false);
    }
    store.keep_feed(&FeedSnapshot::build(store, None).await?).await?;
    Ok(true)
}

/// Rebuilds the snapshot without `author`'s posts, which were just deleted.
pub async fn refresh_without<S: Records<Post> + FeedStore>(store: &S, author: Uuid) -> Result<(), StoreError> {
    store.keep_feed(&FeedSnapshot::build(store, Some(author)).await?).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::NewPost;
    use crate::{PostContent, Title};
    use time::macros::datetime;

    /// A post by `author`, created `minute` minutes into the day (later is newer).
    fn post(author: Uuid, minute: i64, published: bool) -> Post {
        let mut post = Post::new(
            author,
            NewPost {
                title: Title::parse("T").unwrap(),
                content: PostContent::parse("C").unwrap(),
                published: Some(published),
            },
        );
        post.created_at = datetime!(2026-12-05 00:00 UTC) + time::Duration::minutes(minute);
        post
    }

    fn snapshot(mut posts: Vec<Post>, count: u64, more: bool) -> FeedSnapshot {
        posts.sort_by_key(|p| std::cmp::Reverse(p.sort_key()));
        FeedSnapshot {
            posts,
            count,
            more,
            built_at: datetime!(2026-12-05 12:00 UTC),
        }
    }

    fn minutes(page: &FeedPage) -> Vec<i64> {
        let day = datetime!(2026-12-05 00:00 UTC);
        page.posts
            .iter()
            .map(|p| (p.created_at - day).whole_minutes())
            .collect()
    }

    #[test]
    fn the_public_page_is_served_only_as_deep_as_the_snapshot_reaches() {
        let other = Uuid::new_v4();
        let feed = snapshot((0..5).map(|m| post(other, m, true)).collect(), 9, true);
        let page = feed.public_page(3).unwrap();
        assert_eq!((minutes(&page), page.more, page.count), (vec![4, 3, 2], true, 9));
        assert_eq!(feed.public_page(5).map(|p| p.more), Some(true));
        assert_eq!(feed.public_page(6), None, "posts beyond the snapshot exist");

        let whole = snapshot((0..5).map(|m| post(other, m, true)).collect(), 5, false);
        let page = whole.public_page(100).unwrap();
        assert_eq!((page.posts.len(), page.more), (5, false));
    }

    #[test]
    fn the_callers_own_posts_are_read_fresh_and_merged() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let gone = post(me, 8, true); // unpublished since the snapshot
        let feed = snapshot(
            vec![post(other, 10, true), gone, post(other, 6, true), post(other, 4, true)],
            20,
            true,
        );
        // Published since the snapshot (newest), and a draft.
        let fresh = vec![post(me, 12, true)];
        let drafts = vec![post(me, 7, false)];
        let page = feed.page_for(me, fresh, drafts, 1, 4).unwrap();
        assert_eq!(minutes(&page), vec![12, 10, 7, 6]);
        assert!(page.more);
        assert_eq!(page.count, 20 + 1 - 1 + 1, "one published, one gone, one draft");
    }

    #[test]
    fn a_page_deeper_than_the_snapshot_is_left_to_the_index() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let feed = snapshot(vec![post(other, 10, true), post(other, 9, true)], 50, true);
        // A draft older than the snapshot's oldest post would sit among published posts the
        // snapshot does not hold.
        assert_eq!(feed.page_for(me, vec![], vec![post(me, 1, false)], 1, 3), None);
        assert_eq!(feed.page_for(me, vec![], vec![], 0, 3), None);
        let page = feed.page_for(me, vec![], vec![], 0, 2).unwrap();
        assert_eq!((minutes(&page), page.more, page.count), (vec![10, 9], true, 50));
    }

    #[test]
    fn a_complete_snapshot_serves_every_page_size() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let feed = snapshot(vec![post(other, 10, true)], 1, false);
        let page = feed
            .page_for(me, vec![post(me, 2, true)], vec![post(me, 1, false)], 1, 100)
            .unwrap();
        assert_eq!((minutes(&page), page.more, page.count), (vec![10, 2, 1], false, 3));
    }
}
