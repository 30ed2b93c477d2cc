use api_tests::{eventually, get_auth, request, with_token, Stack, TestUser};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

fn create(stack: &Stack, user: &TestUser, body: Value) -> api_tests::Answer {
    with_token("POST", &stack.api("/items/"), &user.token, Some(&body))
}

fn create_ok(stack: &Stack, user: &TestUser, title: &str) -> Value {
    let answer = create(stack, user, json!({"title": title}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn list(stack: &Stack, token: &str, query: &str) -> Value {
    let answer = get_auth(&stack.api(&format!("/items/?{query}")), token);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn an_item_is_created_read_and_carries_an_etag() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = create(
        stack,
        &user,
        json!({"title": "Desk lamp", "description": "Warm light", "price": 19.99}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let item = answer.json();
    assert_eq!(item["title"], "Desk lamp");
    assert_eq!(item["description"], "Warm light");
    assert_eq!(item["price"], 19.99);
    assert_eq!(item["is_available"], true);
    assert_eq!(item["owner_id"], user.id.as_str());
    for field in ["id", "created_at", "updated_at"] {
        assert!(item[field].is_string(), "{field}");
    }
    let read = get_auth(
        &stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default())),
        &user.token,
    );
    assert_eq!(read.status, 200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.json(), item);
}

#[test]
fn item_bodies_are_validated_field_by_field() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = create(
        stack,
        &user,
        json!({"title": "", "description": "d".repeat(256), "price": 0}),
    );
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.locs(),
        vec![
            json!(["body", "title"]),
            json!(["body", "description"]),
            json!(["body", "price"])
        ]
    );
    let missing = create(stack, &user, json!({}));
    assert_eq!(missing.json()["detail"][0]["type"], "missing");
    let not_object = with_token("POST", &stack.api("/items/"), &user.token, Some(&json!(["title"])));
    assert_eq!(not_object.status, 422);
    assert_eq!(
        get_auth(&stack.api("/items/not-a-uuid"), &user.token).json()["detail"][0]["loc"],
        json!(["path", "id"])
    );
}

#[test]
fn put_and_patch_change_only_what_they_name() {
    let stack = Stack::shared();
    let user = stack.signup();
    let item = create(
        stack,
        &user,
        json!({"title": "Chair", "description": "Oak", "price": 40}),
    )
    .json();
    let url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    let patched = with_token(
        "PATCH",
        &url,
        &user.token,
        Some(&json!({"price": 35.5, "description": null})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    let patched = patched.json();
    assert_eq!(
        (patched["title"].clone(), patched["price"].clone()),
        (json!("Chair"), json!(35.5))
    );
    assert!(patched["description"].is_null());
    assert_ne!(patched["updated_at"], item["updated_at"]);
    let put = with_token("PUT", &url, &user.token, Some(&json!({"is_available": false})));
    assert_eq!(put.json()["is_available"], false);
    assert_eq!(put.json()["title"], "Chair");
}

#[test]
fn other_users_items_are_forbidden_and_unknown_ones_not_found() {
    let stack = Stack::shared();
    let (owner, other) = (stack.signup(), stack.signup());
    let item = create_ok(stack, &owner, "Mine");
    let url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    let forbidden = json!({"detail": "Not enough permissions"});
    for (method, body) in [
        ("GET", None),
        ("PUT", Some(json!({"title": "x"}))),
        ("PATCH", Some(json!({"title": "x"}))),
        ("DELETE", None),
    ] {
        let answer = with_token(method, &url, &other.token, body.as_ref());
        assert_eq!((answer.status, answer.json()), (403, forbidden.clone()), "{method}");
    }
    let unknown = stack.api(&format!("/items/{}", uuid::Uuid::new_v4()));
    for method in ["GET", "PUT", "PATCH", "DELETE"] {
        let body = (method == "PUT" || method == "PATCH").then(|| json!({"title": "x"}));
        let answer = with_token(method, &unknown, &owner.token, body.as_ref());
        assert_eq!(
            (answer.status, answer.json()),
            (404, json!({"detail": "Item not found"})),
            "{method}"
        );
    }
}

#[test]
fn roles_grant_write_and_delete_on_other_users_items() {
    let stack = Stack::shared();
    let owner = stack.signup();
    let moderator = stack.user_with_role("moderator");
    let admin = stack.user_with_role("admin");
    let item = create_ok(stack, &owner, "Shared");
    let url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    assert_eq!(
        with_token("PATCH", &url, &moderator.token, Some(&json!({"title": "Moderated"}))).status,
        200
    );
    assert_eq!(with_token("DELETE", &url, &moderator.token, None).status, 403);
    let deleted = with_token("DELETE", &url, &admin.token, None);
    assert_eq!(
        (deleted.status, deleted.json()),
        (200, json!({"message": "Item deleted successfully"}))
    );
}

#[test]
fn a_superuser_sees_every_item_and_a_user_only_their_own() {
    let stack = Stack::shared();
    let (a, b) = (stack.signup(), stack.signup());
    let (item_a, item_b) = (create_ok(stack, &a, "A's"), create_ok(stack, &b, "B's"));
    let mine = list(stack, &a.token, "");
    assert_eq!(ids(&mine), vec![item_a["id"].as_str().unwrap_or_default().to_owned()]);
    assert_eq!(mine["count"], 1);
    let all = list(stack, &stack.superuser_token(), &format!("limit={}", 1000));
    let all_ids = ids(&all);
    assert!(all_ids.contains(&item_a["id"].as_str().unwrap_or_default().to_owned()));
    assert!(all_ids.contains(&item_b["id"].as_str().unwrap_or_default().to_owned()));
    assert!(all["count"].as_u64() >= Some(2));
}

#[test]
fn stale_if_match_is_412() {
    let stack = Stack::shared();
    let user = stack.signup();
    let item = create_ok(stack, &user, "Versioned");
    let url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    let auth = format!("Bearer {}", user.token);
    let first = request(
        "PATCH",
        &url,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("if-match", "\"1\""),
        ],
        Some(r#"{"title":"v2"}"#),
    );
    assert_eq!(first.status, 200);
    let stale = request(
        "PATCH",
        &url,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("if-match", "\"1\""),
        ],
        Some(r#"{"title":"lost"}"#),
    );
    assert_eq!(stale.status, 412, "{}", stale.text);
    let stale_delete = request("DELETE", &url, &[("authorization", &auth), ("if-match", "\"1\"")], None);
    assert_eq!(stale_delete.status, 412);
    assert_eq!(get_auth(&url, &user.token).json()["title"], "v2");
    let delete = request("DELETE", &url, &[("authorization", &auth), ("if-match", "\"2\"")], None);
    assert_eq!(delete.status, 200);
}

#[test]
fn twenty_concurrent_patches_with_one_if_match_let_exactly_one_through() {
    let stack = Stack::shared();
    let user = stack.signup();
    let item = create_ok(stack, &user, "Contested");
    let url = Arc::new(stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default())));
    let auth = Arc::new(format!("Bearer {}", user.token));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (url, auth) = (url.clone(), auth.clone());
            std::thread::spawn(move || {
                let body = json!({"title": format!("writer {i}")}).to_string();
                request(
                    "PATCH",
                    &url,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                        ("if-match", "\"1\""),
                    ],
                    Some(&body),
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 19, "{statuses:?}");
    let stored = get_auth(&url, &user.token);
    assert_eq!(stored.header("etag"), Some("\"2\""), "exactly one change was stored");
}

#[test]
fn ten_concurrent_creates_with_one_idempotency_key_make_one_item() {
    let stack = Stack::shared();
    let user = stack.signup();
    let url = Arc::new(stack.api("/items/"));
    let auth = Arc::new(format!("Bearer {}", user.token));
    let key = Arc::new(uuid::Uuid::new_v4().to_string());
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let (url, auth, key) = (url.clone(), auth.clone(), key.clone());
            std::thread::spawn(move || {
                let answer = request(
                    "POST",
                    &url,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                        ("idempotency-key", &key),
                    ],
                    Some(r#"{"title": "Once", "price": 5}"#),
                );
                (
                    answer.status,
                    answer.json()["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let ids: HashSet<_> = answers.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(list(stack, &user.token, "")["count"], 1);

    let other_body = request(
        "POST",
        &url,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("idempotency-key", &key),
        ],
        Some(r#"{"title": "Something else"}"#),
    );
    assert_eq!(other_body.status, 422);
    assert_eq!(
        other_body.json()["detail"][0]["loc"],
        json!(["header", "idempotency-key"])
    );
}

#[test]
fn paging_through_250_items_returns_each_once_with_exact_counts() {
    let stack = Stack::shared();
    let user = stack.signup();
    let created: Vec<String> = (0..250)
        .map(|i| {
            create_ok(stack, &user, &format!("item {i:03}"))["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let expected: HashSet<_> = created.iter().cloned().collect();

    let mut by_skip = Vec::new();
    for skip in (0..250).step_by(60) {
        let page = list(stack, &user.token, &format!("skip={skip}&limit=60"));
        assert_eq!(page["count"], 250);
        by_skip.extend(ids(&page));
    }
    assert_eq!(by_skip.len(), 250);
    assert_eq!(by_skip.iter().cloned().collect::<HashSet<_>>(), expected);
    assert_eq!(by_skip.first(), created.last(), "newest first");

    let mut by_cursor = Vec::new();
    let mut query = "limit=40".to_owned();
    loop {
        let page = list(stack, &user.token, &query);
        by_cursor.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=40&cursor={}", api_tests::encode(cursor)),
            None => break,
        }
    }
    assert_eq!(by_cursor, by_skip, "cursor paging sees the same order, each item once");

    for id in &created[..10] {
        assert_eq!(
            with_token("DELETE", &stack.api(&format!("/items/{id}")), &user.token, None).status,
            200
        );
    }
    let after = list(stack, &user.token, "limit=1000");
    assert_eq!(after["count"], 240);
    assert_eq!(ids(&after).len(), 240);
}

#[test]
fn cursors_cannot_be_forged_or_borrowed() {
    let stack = Stack::shared();
    let (a, b) = (stack.signup(), stack.signup());
    for i in 0..3 {
        create_ok(stack, &a, &format!("a{i}"));
    }
    let cursor = list(stack, &a.token, "limit=1")["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let borrowed = get_auth(
        &stack.api(&format!("/items/?cursor={}", api_tests::encode(&cursor))),
        &b.token,
    );
    assert_eq!(borrowed.status, 422);
    assert_eq!(borrowed.json()["detail"][0]["loc"], json!(["query", "cursor"]));
    let (payload, _) = cursor.split_once('.').unwrap_or_default();
    let forged = get_auth(&stack.api(&format!("/items/?cursor={payload}.AAAA")), &a.token);
    assert_eq!(forged.status, 422);
    let too_many = get_auth(&stack.api("/items/?limit=1001"), &a.token);
    assert_eq!(too_many.status, 422);
}

#[test]
fn q_searches_title_and_description_case_insensitively() {
    let stack = Stack::shared();
    let user = stack.signup();
    create(stack, &user, json!({"title": "Red Apple"}));
    create(stack, &user, json!({"title": "Pie", "description": "made of APPLES"}));
    create(stack, &user, json!({"title": "Pear"}));
    let found = list(stack, &user.token, "q=apple");
    assert_eq!(found["count"], 2);
    let titles: HashSet<_> = found["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(titles, HashSet::from(["Red Apple".to_owned(), "Pie".to_owned()]));
}

#[test]
fn deleting_a_user_removes_their_items_and_posts() {
    let stack = Stack::shared();
    let user = stack.signup();
    let admin = stack.superuser_token();
    let item = create_ok(stack, &user, "Doomed");
    let post = with_token(
        "POST",
        &stack.api("/posts/"),
        &user.token,
        Some(&json!({"title": "Bye", "content": "x", "published": true})),
    )
    .json();
    assert_eq!(
        with_token("DELETE", &stack.api("/users/me"), &user.token, None).status,
        200
    );
    let item_url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    let post_url = stack.api(&format!("/posts/{}", post["id"].as_str().unwrap_or_default()));
    let gone = eventually(Duration::from_secs(20), || {
        (get_auth(&item_url, &admin).status == 404 && get_auth(&post_url, &admin).status == 404).then_some(())
    });
    assert!(gone.is_some(), "the cascade removed the user's item and post");
}

/// Every page of a listing, by `limit`-sized cursor pages.
fn by_cursor(stack: &Stack, token: &str, path: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut query = format!("limit={limit}");
    loop {
        let answer = get_auth(&stack.api(&format!("{path}?{query}")), token);
        assert_eq!(answer.status, 200, "{}", answer.text);
        let page = answer.json();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit={limit}&cursor={}", api_tests::encode(cursor)),
            None => return seen,
        }
    }
}

/// Every page of a listing, by `skip`.
fn by_skip(stack: &Stack, token: &str, path: &str, limit: usize, total: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for skip in (0..total + limit).step_by(limit) {
        let answer = get_auth(&stack.api(&format!("{path}?skip={skip}&limit={limit}")), token);
        assert_eq!(answer.status, 200, "{}", answer.text);
        let page = answer.json();
        assert_eq!(page["count"], total, "skip={skip}");
        seen.extend(ids(&page));
    }
    seen
}

/// The "all items", "all published posts" and "all users" partitions are split into shards
/// (docs/data-model.md): a listing merges them. On a stack of its own, so the whole table is
/// this test's: the merged order, every page, and every count are exact.
#[test]
fn listings_of_everything_merge_their_shards_newest_first_with_exact_counts() {
    let stack = Stack::start();
    let admin = stack.superuser_token();
    let users: Vec<TestUser> = (0..3).map(|_| stack.signup()).collect();
    let mut items = Vec::new();
    let mut needles = Vec::new();
    for i in 0..45 {
        let title = if i % 4 == 0 {
            format!("needle {i}")
        } else {
            format!("hay {i}")
        };
        let id = create_ok(&stack, &users[i % 3], &title)["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if i % 4 == 0 {
            needles.push(id.clone());
        }
        items.push(id);
    }
    items.reverse();
    needles.reverse();

    let all = list(&stack, &admin, "limit=1000");
    assert_eq!(all["count"], 45);
    assert_eq!(ids(&all), items, "newest first across every shard");
    assert_eq!(by_cursor(&stack, &admin, "/items/", 7), items);
    assert_eq!(by_skip(&stack, &admin, "/items/", 10, 45), items);
    let found = list(&stack, &admin, "q=NEEDLE&limit=5");
    assert_eq!(found["count"], needles.len());
    assert_eq!(ids(&found), needles[..5]);
    let cursor = found["next_cursor"].as_str().expect("a cursor").to_owned();
    let rest = list(
        &stack,
        &admin,
        &format!("q=NEEDLE&limit=100&cursor={}", api_tests::encode(&cursor)),
    );
    assert_eq!(ids(&rest), needles[5..]);

    // A delete leaves the counts exact, whichever shard it was in.
    for id in &items[..5] {
        let deleted = with_token("DELETE", &stack.api(&format!("/items/{id}")), &admin, None);
        assert_eq!(deleted.status, 200, "{}", deleted.text);
    }
    let after = list(&stack, &admin, "limit=1000");
    assert_eq!((after["count"].clone(), ids(&after)), (json!(40), items[5..].to_vec()));
    let mine = list(&stack, &users[0].token, "limit=1000");
    assert_eq!(mine["count"], ids(&mine).len());

    // Published posts: the public feed, paged both ways; drafts are in no shard.
    let mut posts = Vec::new();
    for i in 0..30 {
        let body = json!({"title": format!("post {i}"), "content": "text", "published": i % 5 != 0});
        let answer = with_token("POST", &stack.api("/posts/"), &users[i % 3].token, Some(&body));
        assert_eq!(answer.status, 200, "{}", answer.text);
        if i % 5 != 0 {
            posts.push(answer.json()["id"].as_str().unwrap_or_default().to_owned());
        }
    }
    posts.reverse();
    // A first page is the feed's snapshot, which the worker refreshes a moment after a change.
    let caught_up = eventually(Duration::from_secs(30), || {
        (ids(&list_posts(&stack, &admin, "limit=100")) == posts).then_some(())
    });
    assert!(caught_up.is_some(), "the feed's snapshot shows the new posts");
    let feed = list_posts(&stack, &admin, "published=true&limit=1000");
    assert_eq!((feed["count"].clone(), ids(&feed)), (json!(24), posts.clone()));
    assert_eq!(
        by_cursor(&stack, &admin, "/posts/", 5),
        posts,
        "the admin has no drafts"
    );
    assert_eq!(by_skip(&stack, &admin, "/posts/", 9, 24), posts);
    // Unpublishing moves a post out of its shard and the count with it.
    let unpublished = with_token(
        "PATCH",
        &stack.api(&format!("/posts/{}", posts[3])),
        &admin,
        Some(&json!({"published": false})),
    );
    assert_eq!(unpublished.status, 200, "{}", unpublished.text);
    let feed = list_posts(&stack, &admin, "published=true&limit=1000");
    let mut expected = posts.clone();
    expected.remove(3);
    assert_eq!((feed["count"].clone(), ids(&feed)), (json!(23), expected));

    // Users: the superuser first, then the three signups, newest first.
    let listed = get_auth(&stack.api("/users/?limit=1000"), &admin).json();
    assert_eq!(listed["count"], 4);
    let mut signups: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    signups.reverse();
    assert_eq!(ids(&listed)[..3], signups);
    let paged: Vec<String> = (0..4)
        .flat_map(|skip| ids(&get_auth(&stack.api(&format!("/users/?skip={skip}&limit=1")), &admin).json()))
        .collect();
    assert_eq!(paged, ids(&listed));
}

fn list_posts(stack: &Stack, token: &str, query: &str) -> Value {
    let answer = get_auth(&stack.api(&format!("/posts/?{query}")), token);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}
