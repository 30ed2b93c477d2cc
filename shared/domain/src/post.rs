//! Posts: published for everyone to read, drafts for their author alone.

use super::clock::now_micros;
use super::owned::Owned;
use super::values::{PostContent, Title};
use super::User;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub id: Uuid,
    pub author_id: Uuid,
    pub title: Title,
    pub content: PostContent,
    pub published: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

#[derive(Debug, Clone)]
pub struct NewPost {
    pub title: Title,
    pub content: PostContent,
    pub published: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct PostChanges {
    pub title: Option<Title>,
    pub content: Option<PostContent>,
    pub published: Option<bool>,
}

/// Where posts are listed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostSource {
    /// Every published post.
    Published,
    PublishedBy(Uuid),
    DraftsOf(Uuid),
}

impl PostSource {
    /// The sources whose union a listing asks for: published posts (of `author` when given) and
    /// the caller's own drafts; another user's drafts are never listed.
    pub fn for_listing(caller: Uuid, author: Option<Uuid>, published: Option<bool>) -> Vec<Self> {
        let mut sources = Vec::new();
        if published != Some(false) {
            sources.push(match author {
                Some(author) => Self::PublishedBy(author),
                None => Self::Published,
            });
        }
        if published != Some(true) && author.is_none_or(|a| a == caller) {
            sources.push(Self::DraftsOf(caller));
        }
        sources
    }
}

impl Post {
    pub fn new(author_id: Uuid, new: NewPost) -> Self {
        let now = now_micros();
        Self {
            id: Uuid::new_v4(),
            author_id,
            title: new.title,
            content: new.content,
            published: new.published.unwrap_or(false),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Another user's draft does not exist as far as the caller can tell (a superuser sees all).
    pub fn visible_to(&self, caller: &User) -> bool {
        self.published || self.author_id == caller.id || caller.role.is_superuser()
    }
}

impl Owned for Post {
    const NAME: &'static str = "Post";
    const COLLECTION: &'static str = "posts";
    type Source = PostSource;
    type Changes = PostChanges;

    fn id(&self) -> Uuid {
        self.id
    }
    fn owner(&self) -> Uuid {
        self.author_id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn sort_key(&self) -> String {
        format!("{}#{}", super::clock::timestamp(self.created_at), self.id)
    }
    fn sources_of(owner: Uuid) -> Vec<PostSource> {
        vec![PostSource::PublishedBy(owner), PostSource::DraftsOf(owner)]
    }
    fn listed_in(&self, source: &PostSource) -> bool {
        match source {
            PostSource::Published => self.published,
            PostSource::PublishedBy(author) => self.published && self.author_id == *author,
            PostSource::DraftsOf(author) => !self.published && self.author_id == *author,
        }
    }
    fn matches(&self, search: &str) -> bool {
        super::item::search_text(&[Some(self.title.as_str()), Some(self.content.as_str())]).contains(search)
    }
    fn changed(&self, changes: &PostChanges) -> Option<Self> {
        let mut next = self.clone();
        if let Some(title) = &changes.title {
            next.title = title.clone();
        }
        if let Some(content) = &changes.content {
            next.content = content.clone();
        }
        if let Some(published) = changes.published {
            next.published = published;
        }
        (next != *self).then_some(next)
    }
    fn touch(&mut self) {
        self.version += 1;
        self.updated_at = now_micros();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_follow_the_filters() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        use PostSource::*;
        assert_eq!(PostSource::for_listing(me, None, None), [Published, DraftsOf(me)]);
        assert_eq!(PostSource::for_listing(me, Some(other), None), [PublishedBy(other)]);
        assert_eq!(
            PostSource::for_listing(me, Some(me), None),
            [PublishedBy(me), DraftsOf(me)]
        );
        assert_eq!(PostSource::for_listing(me, None, Some(false)), [DraftsOf(me)]);
        assert!(PostSource::for_listing(me, Some(other), Some(false)).is_empty());
        assert_eq!(PostSource::for_listing(me, None, Some(true)), [Published]);
    }

    #[test]
    fn drafts_are_listed_only_as_their_authors_drafts() {
        let post = Post::new(
            Uuid::new_v4(),
            NewPost {
                title: Title::parse("T").unwrap(),
                content: PostContent::parse("C").unwrap(),
                published: None,
            },
        );
        assert!(!post.listed_in(&PostSource::Published));
        assert!(post.listed_in(&PostSource::DraftsOf(post.author_id)));
        assert!(!post.listed_in(&PostSource::DraftsOf(Uuid::new_v4())));
    }
}
