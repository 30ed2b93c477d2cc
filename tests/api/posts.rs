use api_tests::{eventually, get, get_auth, request, with_token, Stack, TestUser};
use serde_json::{json, Value};
use std::time::Duration;

fn post(stack: &Stack, user: &TestUser, title: &str, published: bool) -> Value {
    let answer = with_token(
        "POST",
        &stack.api("/posts/"),
        &user.token,
        Some(&json!({"title": title, "content": "Body", "published": published})),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// The titles of a page of posts, in order.
fn titles_of(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn titles(stack: &Stack, user: &TestUser, query: &str) -> (Vec<String>, u64) {
    let page = get_auth(&stack.api(&format!("/posts/?limit=1000&{query}")), &user.token);
    assert_eq!(page.status, 200, "{}", page.text);
    let page = page.json();
    (titles_of(&page), page["count"].as_u64().unwrap_or(0))
}

#[test]
fn a_post_has_the_contract_shape_and_defaults_to_draft() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = with_token(
        "POST",
        &stack.api("/posts/"),
        &user.token,
        Some(&json!({"title": "Hi", "content": "There"})),
    );
    let created = answer.json();
    assert_eq!(created["published"], false);
    assert_eq!(created["author_id"], user.id.as_str());
    for field in ["id", "created_at", "updated_at"] {
        assert!(created[field].is_string(), "{field}");
    }
    let invalid = with_token(
        "POST",
        &stack.api("/posts/"),
        &user.token,
        Some(&json!({"title": "x", "content": ""})),
    );
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.json()["detail"][0]["loc"], json!(["body", "content"]));
}

#[test]
fn listing_shows_everyones_published_posts_and_only_my_drafts() {
    let stack = Stack::shared();
    let (me, other) = (stack.signup(), stack.signup());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    post(stack, &me, &format!("my draft {tag}"), false);
    post(stack, &me, &format!("my post {tag}"), true);
    post(stack, &other, &format!("their draft {tag}"), false);
    post(stack, &other, &format!("their post {tag}"), true);

    let (seen, _) = titles(stack, &me, "");
    let mine: Vec<_> = seen.iter().filter(|t| t.ends_with(&tag)).cloned().collect();
    assert_eq!(
        mine,
        vec![
            format!("their post {tag}"),
            format!("my post {tag}"),
            format!("my draft {tag}")
        ],
        "newest first"
    );

    assert_eq!(
        titles(stack, &me, &format!("author_id={}", other.id)),
        (vec![format!("their post {tag}")], 1)
    );
    assert_eq!(titles(stack, &me, &format!("author_id={}", me.id)).1, 2);
    assert_eq!(
        titles(stack, &me, "published=false"),
        (vec![format!("my draft {tag}")], 1)
    );
    assert_eq!(
        titles(stack, &me, &format!("author_id={}&published=false", other.id)),
        (vec![], 0)
    );
}

#[test]
fn another_users_draft_does_not_exist_for_me() {
    let stack = Stack::shared();
    let (author, reader) = (stack.signup(), stack.signup());
    let draft = post(stack, &author, "secret", false);
    let url = stack.api(&format!("/posts/{}", draft["id"].as_str().unwrap_or_default()));
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"title": "x"}))),
        ("PUT", Some(json!({"title": "x"}))),
        ("DELETE", None),
    ] {
        let answer = with_token(method, &url, &reader.token, body.as_ref());
        assert_eq!(
            (answer.status, answer.json()),
            (404, json!({"detail": "Post not found"})),
            "{method}"
        );
    }
    assert_eq!(
        get_auth(&url, &stack.superuser_token()).status,
        200,
        "a superuser reads everything"
    );
}

#[test]
fn published_posts_are_readable_but_not_writable_by_others() {
    let stack = Stack::shared();
    let (author, reader) = (stack.signup(), stack.signup());
    let published = post(stack, &author, "public", true);
    let url = stack.api(&format!("/posts/{}", published["id"].as_str().unwrap_or_default()));
    let read = get_auth(&url, &reader.token);
    assert_eq!(read.status, 200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    let edit = with_token("PATCH", &url, &reader.token, Some(&json!({"title": "hijacked"})));
    assert_eq!(
        (edit.status, edit.json()),
        (403, json!({"detail": "Not enough permissions"}))
    );
    let moderator = stack.user_with_role("moderator");
    assert_eq!(
        with_token("PATCH", &url, &moderator.token, Some(&json!({"title": "moderated"}))).status,
        200
    );
    assert_eq!(with_token("DELETE", &url, &moderator.token, None).status, 403);
    let deleted = with_token("DELETE", &url, &author.token, None);
    assert_eq!(
        (deleted.status, deleted.json()),
        (200, json!({"message": "Post deleted successfully"}))
    );
}

#[test]
fn publishing_moves_a_post_between_listings_and_counts() {
    let stack = Stack::shared();
    let (author, reader) = (stack.signup(), stack.signup());
    let draft = post(stack, &author, "soon", false);
    let url = stack.api(&format!("/posts/{}", draft["id"].as_str().unwrap_or_default()));
    assert_eq!(titles(stack, &reader, &format!("author_id={}", author.id)).1, 0);
    let published = with_token("PATCH", &url, &author.token, Some(&json!({"published": true})));
    assert_eq!(published.json()["published"], true);
    assert_eq!(
        titles(stack, &reader, &format!("author_id={}", author.id)),
        (vec!["soon".to_owned()], 1)
    );
    assert_eq!(titles(stack, &author, "published=false").1, 0);
}

/// The titles of the default first page of `GET /posts/` (no `limit`: the feed's snapshot).
fn feed(stack: &Stack, token: Option<&str>) -> (Vec<String>, Value) {
    let page = match token {
        Some(token) => get_auth(&stack.api("/posts/"), token),
        None => get(&stack.api("/posts/?published=true")),
    };
    assert_eq!(page.status, 200, "{}", page.text);
    let body = page.json();
    (titles_of(&body), body)
}

#[test]
fn the_public_feed_needs_no_token_and_a_cdn_may_keep_it() {
    let stack = Stack::shared();
    let author = stack.signup();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    post(stack, &author, &format!("public {tag}"), true);
    post(stack, &author, &format!("draft {tag}"), false);

    // The snapshot is refreshed by the worker a moment after the change.
    let shown = eventually(Duration::from_secs(20), || {
        let (titles, _) = feed(stack, None);
        titles.contains(&format!("public {tag}")).then_some(titles)
    });
    let shown = shown.expect("a published post reaches the public feed");
    assert!(!shown.contains(&format!("draft {tag}")), "drafts are nobody's feed");

    let answer = get(&stack.api("/posts/?published=true"));
    assert_eq!(
        answer.header("cache-control"),
        Some("public, max-age=30, stale-while-revalidate=60")
    );
    let etag = answer.header("etag").expect("an ETag").to_owned();
    let again = request(
        "GET",
        &stack.api("/posts/?published=true"),
        &[("if-none-match", &etag)],
        None,
    );
    // 304 unless another test changed a published post in between: then a fresh 200.
    assert!(
        (again.status == 304 && again.text.is_empty()) || (again.status == 200 && again.header("etag") != Some(&etag)),
        "{} {:?}",
        again.status,
        again.header("etag")
    );
    assert_eq!(get(&stack.api("/posts/")).status, 401, "anything else needs a token");
    assert_eq!(get(&stack.api("/posts/?published=false")).status, 401);
}

#[test]
fn an_author_sees_their_own_change_in_the_feed_at_once_and_everyone_soon() {
    let stack = Stack::shared();
    let (author, reader) = (stack.signup(), stack.signup());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let created = post(stack, &author, &format!("fresh {tag}"), true);
    let (titles, mine) = feed(stack, Some(&author.token));
    assert!(titles.contains(&format!("fresh {tag}")), "{titles:?}");
    assert!(mine["count"].as_u64().unwrap_or(0) >= 1);

    let seen = eventually(Duration::from_secs(20), || {
        feed(stack, Some(&reader.token))
            .0
            .contains(&format!("fresh {tag}"))
            .then_some(())
    });
    assert!(seen.is_some(), "another reader sees it once the snapshot is refreshed");

    // Unpublished: gone from the author's feed at once (a draft now, still theirs), and from
    // everyone else's soon.
    let url = stack.api(&format!("/posts/{}", created["id"].as_str().unwrap_or_default()));
    let unpublished = with_token("PATCH", &url, &author.token, Some(&json!({"published": false})));
    assert_eq!(unpublished.status, 200);
    let (_, mine) = feed(stack, Some(&author.token));
    let entry = mine["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["id"] == created["id"])
        .cloned();
    assert_eq!(entry.map(|p| p["published"].clone()), Some(json!(false)));
    let gone = eventually(Duration::from_secs(20), || {
        (!feed(stack, None).0.contains(&format!("fresh {tag}"))).then_some(())
    });
    assert!(gone.is_some(), "an unpublished post leaves the public feed");
}

#[test]
fn a_current_copy_of_a_post_is_not_sent_again() {
    let stack = Stack::shared();
    let author = stack.signup();
    let created = post(stack, &author, "cached", true);
    let url = stack.api(&format!("/posts/{}", created["id"].as_str().unwrap_or_default()));
    let auth = format!("Bearer {}", author.token);
    let current = request(
        "GET",
        &url,
        &[("authorization", &auth), ("if-none-match", "\"1\"")],
        None,
    );
    assert_eq!((current.status, current.text.as_str()), (304, ""));
    assert_eq!(current.header("etag"), Some("\"1\""));
    assert_eq!(current.header("cache-control"), Some("no-store"));
    let weak = request(
        "GET",
        &url,
        &[("authorization", &auth), ("if-none-match", "W/\"1\"")],
        None,
    );
    assert_eq!(weak.status, 304, "If-None-Match compares weakly");
    let stale = request(
        "GET",
        &url,
        &[("authorization", &auth), ("if-none-match", "\"0\"")],
        None,
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.json()["title"], "cached");
}

/// A page of long posts stays within what a Lambda function may answer (6 MB): it is cut, and
/// its cursor continues it, never a 5xx. (32 posts of 200 KB as JSON: 6.4 MB in one page.)
#[test]
fn a_page_of_long_posts_is_cut_and_continued_by_its_cursor() {
    let stack = Stack::shared();
    let author = stack.signup();
    let content = "é\u{1}".repeat(25_000); // 50,000 characters, 6 bytes each as JSON escapes
    for n in 0..32 {
        let body = json!({"title": format!("long {n}"), "content": content, "published": false});
        let answer = with_token("POST", &stack.api("/posts/"), &author.token, Some(&body));
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let url = stack.api("/posts/?published=false&limit=1000");
    let first = get_auth(&url, &author.token);
    assert_eq!(first.status, 200, "{}", first.text.len());
    let first = first.json();
    let shown = first["data"].as_array().map_or(0, Vec::len);
    assert!((1..32).contains(&shown), "{shown} posts in one page");
    assert_eq!(first["count"], 32);
    let cursor = first["next_cursor"].as_str().expect("a cursor to the rest");
    let rest = get_auth(&format!("{url}&cursor={cursor}"), &author.token).json();
    let more = rest["data"].as_array().map_or(0, Vec::len);
    assert!(shown + more <= 32 && more >= 1);
}
