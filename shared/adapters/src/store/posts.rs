//! Posts in the table: each author's published posts and drafts (GSI1), and every published
//! post (GSI2, sparse: drafts are not in it).

use super::attrs::{get_bool, get_required, get_time, get_uuid, text, time, Row};
use super::keys;
use super::merge::Partition;
use super::records::{base_row, version_of, Place, TableRow};
use aws_sdk_dynamodb::types::AttributeValue;
use domain::{Owned, Post, PostContent, PostSource, StoreError, Title};
use uuid::Uuid;

impl TableRow for Post {
    fn key(id: Uuid) -> (String, &'static str) {
        (keys::post(id), keys::POST_SK)
    }

    fn to_row(&self) -> Row {
        let mut row = base_row(self);
        row.extend([
            (
                keys::GSI1_PK.to_owned(),
                text(keys::author_posts(self.author_id, self.published)),
            ),
            ("id".to_owned(), text(self.id.to_string())),
            ("author_id".to_owned(), text(self.author_id.to_string())),
            ("title".to_owned(), text(self.title.as_str())),
            ("content".to_owned(), text(self.content.as_str())),
            ("published".to_owned(), AttributeValue::Bool(self.published)),
            ("created_at".to_owned(), time(self.created_at)),
            ("updated_at".to_owned(), time(self.updated_at)),
        ]);
        if self.published {
            row.insert(
                keys::GSI2_PK.to_owned(),
                text(keys::sharded(keys::PUBLISHED_POSTS, keys::shard(self.id))),
            );
            row.insert(keys::GSI2_SK.to_owned(), text(self.sort_key()));
        }
        row
    }

    fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: get_uuid(row, "id")?,
            author_id: get_uuid(row, "author_id")?,
            title: get_required(row, "title", Title::parse)?,
            content: get_required(row, "content", PostContent::parse)?,
            published: get_bool(row, "published", false),
            created_at: get_time(row, "created_at")?,
            updated_at: get_time(row, "updated_at")?,
            version: version_of(row),
        })
    }

    fn counted_in(&self) -> Vec<String> {
        if self.published {
            vec![
                keys::sharded(keys::PUBLISHED_POSTS_COUNTER, keys::shard(self.id)),
                keys::author_posts_counter(self.author_id, true),
            ]
        } else {
            vec![keys::author_posts_counter(self.author_id, false)]
        }
    }

    fn place(source: &PostSource) -> Place {
        match source {
            PostSource::Published => Place {
                partitions: Partition::shards(keys::GSI2, keys::PUBLISHED_POSTS),
                counters: keys::shards(keys::PUBLISHED_POSTS_COUNTER),
            },
            PostSource::PublishedBy(author) => Place {
                partitions: vec![Partition::gsi1(keys::author_posts(*author, true))],
                counters: vec![keys::author_posts_counter(*author, true)],
            },
            PostSource::DraftsOf(author) => Place {
                partitions: vec![Partition::gsi1(keys::author_posts(*author, false))],
                counters: vec![keys::author_posts_counter(*author, false)],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::post::NewPost;

    #[test]
    fn only_published_posts_enter_the_public_listing() {
        let mut post = Post::new(
            Uuid::new_v4(),
            NewPost {
                title: Title::parse("T").unwrap(),
                content: PostContent::parse("C").unwrap(),
                published: None,
            },
        );
        assert!(!post.to_row().contains_key(keys::GSI2_PK));
        assert_eq!(
            post.counted_in(),
            vec![keys::author_posts_counter(post.author_id, false)]
        );
        post.published = true;
        let shard = keys::sharded(keys::PUBLISHED_POSTS, keys::shard(post.id));
        assert_eq!(post.to_row()[keys::GSI2_PK].as_s().unwrap(), &shard);
        assert!(Post::place(&PostSource::Published)
            .partitions
            .iter()
            .any(|p| p.key == shard));
        assert_eq!(
            post.counted_in()[0],
            keys::sharded(keys::PUBLISHED_POSTS_COUNTER, keys::shard(post.id))
        );
        assert_eq!(Post::from_row(&post.to_row()).unwrap(), post);
    }
}
