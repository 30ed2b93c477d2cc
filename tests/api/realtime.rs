//! The WebSocket API with real WebSocket clients: rooms, history, private messages, bad frames,
//! handshakes, vanished clients, session.revoked, and the abuse limits (per user, not per
//! connection) with private- rooms by invitation.

use api_tests::{local_jwt_secret, with_token, Received, Socket, Stack, TestUser};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::time::Duration;

fn room() -> String {
    format!("room-{}", uuid::Uuid::new_v4().simple())
}

fn connect(stack: &Stack, user: &TestUser) -> Socket {
    stack
        .connect(Some(&user.token))
        .unwrap_or_else(|status| panic!("handshake refused with {status}"))
}

/// Joins `room` and returns the history the joiner got.
fn join(socket: &mut Socket, room: &str) -> Value {
    socket.send(&json!({"action": "join", "room": room}));
    let history = socket.expect("history");
    assert_eq!(history["room"], room);
    history
}

/// Sends a message to `room` and waits for its own copy (the sender is included).
fn say(socket: &mut Socket, room: &str, text: &str) {
    socket.send(&json!({"action": "send", "room": room, "message": text}));
    loop {
        let frame = socket.expect("message");
        if frame["message"] == text {
            return;
        }
    }
}

/// A ping answered by a pong, and nothing else on the way: the connection is open and idle.
fn only_pong(socket: &mut Socket) {
    socket.send(&json!({"action": "ping"}));
    match socket.receive(Duration::from_secs(10)) {
        Received::Frame(frame) => assert_eq!(frame["type"], "pong", "unexpected frame {frame}"),
        other => panic!("no pong: {other:?}"),
    }
}

#[test]
fn three_clients_in_a_room_see_each_others_messages_in_order() {
    let stack = Stack::shared();
    let room = room();
    let users: Vec<TestUser> = (0..3).map(|_| stack.signup()).collect();
    let mut sockets: Vec<Socket> = users.iter().map(|u| connect(stack, u)).collect();
    for socket in &mut sockets {
        join(socket, &room);
    }
    for round in 0..3 {
        for (i, socket) in sockets.iter_mut().enumerate() {
            socket.send(&json!({"action": "send", "room": room, "message": format!("{i}:{round}")}));
        }
    }
    for (reader, socket) in sockets.iter_mut().enumerate() {
        let messages: Vec<Value> = (0..9).map(|_| socket.expect("message")).collect();
        for (sender, user) in users.iter().enumerate() {
            let from: Vec<&str> = messages
                .iter()
                .filter(|m| m["user_id"] == user.id.as_str())
                .map(|m| m["message"].as_str().unwrap_or_default())
                .collect();
            let expected: Vec<String> = (0..3).map(|round| format!("{sender}:{round}")).collect();
            assert_eq!(from, expected, "client {reader} saw {sender}'s messages");
        }
        for message in &messages {
            assert_eq!(message["room"], room);
            assert!(message["id"]
                .as_str()
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
            assert!(message["timestamp"].as_str().is_some());
        }
    }
}

#[test]
fn a_late_joiner_gets_the_last_50_messages_and_the_room_sees_it_join() {
    let stack = Stack::shared();
    let room = room();
    let (alice, bob, carol) = (stack.signup(), stack.signup(), stack.signup());
    let (mut a, mut b) = (connect(stack, &alice), connect(stack, &bob));
    join(&mut a, &room);
    join(&mut b, &room);
    // Two senders (users) stay under the per-user frame rate.
    for n in 0..52 {
        let sender = if n < 26 { &mut a } else { &mut b };
        say(sender, &room, &format!("message {n}"));
    }
    let mut c = connect(stack, &carol);
    let history = join(&mut c, &room);
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["message"].as_str().unwrap_or_default())
        .collect();
    let expected: Vec<String> = (2..52).map(|n| format!("message {n}")).collect();
    assert_eq!(texts, expected);
    let joined = a.expect("user_join");
    assert_eq!(
        (joined["room"].as_str(), joined["user_id"].as_str()),
        (Some(room.as_str()), Some(carol.id.as_str()))
    );
}

#[test]
fn a_private_message_reaches_both_connections_of_the_target_and_no_one_else() {
    let stack = Stack::shared();
    let (alice, bob, carol) = (stack.signup(), stack.signup(), stack.signup());
    let mut a = connect(stack, &alice);
    let (mut b1, mut b2) = (connect(stack, &bob), connect(stack, &bob));
    let mut c = connect(stack, &carol);
    a.send(&json!({"action": "private", "to": bob.id, "message": "for bob only"}));
    for b in [&mut b1, &mut b2] {
        let frame = b.expect("private");
        assert_eq!(frame["from_user"], alice.id.as_str());
        assert_eq!(frame["message"], "for bob only");
        assert!(frame["timestamp"].as_str().is_some());
    }
    only_pong(&mut a);
    only_pong(&mut c);
}

#[test]
fn no_or_bad_token_refuses_the_handshake() {
    let stack = Stack::shared();
    let user = stack.signup();
    assert_eq!(stack.connect(None).err(), Some(401));
    assert_eq!(stack.connect(Some("not-a-token")).err(), Some(401));
    let secret = local_jwt_secret();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    let claims = decode::<Value>(&user.token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .expect("the API's token")
        .claims;
    let forge = |edit: &dyn Fn(&mut Value)| {
        let mut claims = claims.clone();
        edit(&mut claims);
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("sign")
    };
    let expired = forge(&|c| c["exp"] = json!(1_000_000));
    let refresh_type = forge(&|c| c["type"] = json!("refresh"));
    assert_eq!(stack.connect(Some(&expired)).err(), Some(401), "expired");
    assert_eq!(stack.connect(Some(&refresh_type)).err(), Some(401), "wrong type");
    assert!(
        stack.connect(Some(&forge(&|_| {}))).is_ok(),
        "the same claims, re-signed, pass"
    );
    let inactive = stack.signup();
    let answer = with_token(
        "PATCH",
        &stack.api(&format!("/users/{}", inactive.id)),
        &stack.superuser_token(),
        Some(&json!({"is_active": false})),
    );
    assert_eq!(answer.status, 200);
    assert_eq!(stack.connect(Some(&inactive.token)).err(), Some(401), "inactive user");
}

#[test]
fn bad_frames_get_an_error_frame_and_the_connection_stays() {
    let stack = Stack::shared();
    let mut socket = connect(stack, &stack.signup());
    for (frame, detail) in [
        (
            json!({"action": "join", "room": "no spaces!"}).to_string(),
            "room must be",
        ),
        (
            json!({"action": "join", "room": "r".repeat(65)}).to_string(),
            "room must be",
        ),
        (
            json!({"action": "send", "room": room(), "message": ""}).to_string(),
            "message must not be empty",
        ),
        (
            json!({"action": "send", "room": room(), "message": "x".repeat(4001)}).to_string(),
            "at most 4000",
        ),
        (
            json!({"action": "send", "room": room(), "message": "hi"}).to_string(),
            "Join room",
        ),
        (json!({"action": "leave", "room": room()}).to_string(), "Not in room"),
        (
            json!({"action": "private", "to": "someone", "message": "hi"}).to_string(),
            "to must be a user id",
        ),
        (json!({"action": "dance"}).to_string(), "unknown action"),
        ("not json".to_owned(), "frame is not JSON"),
        (
            json!({"action": "ping", "pad": "x".repeat(40 * 1024)}).to_string(),
            "larger than",
        ),
    ] {
        socket.send_text(&frame);
        let error = socket.expect("error");
        assert!(
            error["detail"].as_str().is_some_and(|d| d.contains(detail)),
            "{detail}: {error}"
        );
    }
    only_pong(&mut socket);
}

#[test]
fn a_client_that_vanishes_is_removed_at_the_next_fan_out() {
    let stack = Stack::shared();
    let room = room();
    let (alice, bob) = (stack.signup(), stack.signup());
    let (mut a, mut b) = (connect(stack, &alice), connect(stack, &bob));
    join(&mut a, &room);
    join(&mut b, &room);
    a.expect("user_join");
    b.vanish(stack);
    say(&mut a, &room, "anyone there?");
    let left = a.expect("user_leave");
    assert_eq!(
        (left["room"].as_str(), left["user_id"].as_str()),
        (Some(room.as_str()), Some(bob.id.as_str()))
    );
    // Forgotten: the next message goes to the sender alone, and nobody leaves again.
    say(&mut a, &room, "just me");
    only_pong(&mut a);
}

#[test]
fn a_password_change_sends_session_revoked_and_closes_that_users_connections() {
    let stack = Stack::shared();
    let (user, other) = (stack.signup(), stack.signup());
    let (mut first, mut second) = (connect(stack, &user), connect(stack, &user));
    let mut bystander = connect(stack, &other);
    let answer = with_token(
        "PATCH",
        &stack.api("/users/me/password"),
        &user.token,
        Some(&json!({"current_password": user.password, "new_password": "a-brand-new-password"})),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    for socket in [&mut first, &mut second] {
        let notification = socket.expect("notification");
        assert_eq!(notification["event"], "session.revoked");
        assert_eq!(notification["data"]["reason"], "password_changed");
        assert!(
            matches!(socket.receive(Duration::from_secs(10)), Received::Closed),
            "the connection is closed after session.revoked"
        );
    }
    only_pong(&mut bystander);
    assert_eq!(
        stack.connect(Some(&user.token)).err(),
        Some(401),
        "the old token is void"
    );
}

#[test]
fn deactivating_or_deleting_a_user_closes_their_connections() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    for (change, reason) in [("PATCH", "user_deactivated"), ("DELETE", "user_deleted")] {
        let user = stack.signup();
        let mut socket = connect(stack, &user);
        let body = json!({"is_active": false});
        let answer = with_token(
            change,
            &stack.api(&format!("/users/{}", user.id)),
            &admin,
            (change == "PATCH").then_some(&body),
        );
        assert_eq!(answer.status, 200, "{change}: {}", answer.text);
        let notification = socket.expect("notification");
        assert_eq!(
            (notification["event"].as_str(), notification["data"]["reason"].as_str()),
            (Some("session.revoked"), Some(reason))
        );
        assert!(
            matches!(socket.receive(Duration::from_secs(10)), Received::Closed),
            "{change}"
        );
    }
}

#[test]
fn a_fast_sender_gets_an_error_frame_and_stays_connected() {
    let stack = Stack::shared();
    let (fast, friend) = (stack.signup(), stack.signup());
    let mut socket = connect(stack, &fast);
    // 30 frames per fixed 10-second window: 100 frames answered within 20 s touch at most three
    // windows, so at least 10 of them are over the limit however the windows fall.
    const SENT: usize = 100;
    for _ in 0..SENT {
        socket.send(&json!({"action": "ping"}));
    }
    let frames: Vec<Value> = (0..SENT)
        .map(|_| match socket.receive(Duration::from_secs(10)) {
            Received::Frame(frame) => frame,
            other => panic!("{SENT} answers expected: {other:?}"),
        })
        .collect();
    let refused: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
    assert!(
        frames.iter().all(|f| f["type"] == "pong" || f["type"] == "error"),
        "{frames:?}"
    );
    assert!(refused.len() >= 10, "{} refused of {SENT}", refused.len());
    assert!(refused
        .iter()
        .all(|f| f["detail"].as_str().is_some_and(|d| d.contains("Too many frames"))));
    let mut other = connect(stack, &friend);
    other.send(&json!({"action": "private", "to": fast.id, "message": "still there?"}));
    assert_eq!(socket.expect("private")["message"], "still there?");
}

/// Pings on `socket` until one is refused; how many were answered with a pong first.
fn ping_until_refused(socket: &mut Socket) -> usize {
    for pongs in 0..200 {
        socket.send(&json!({"action": "ping"}));
        let frame = match socket.receive(Duration::from_secs(10)) {
            Received::Frame(frame) => frame,
            other => panic!("no answer to a ping: {other:?}"),
        };
        if frame["type"] == "error" {
            assert!(
                frame["detail"].as_str().is_some_and(|d| d.contains("Too many frames")),
                "{frame}"
            );
            return pongs;
        }
        assert_eq!(frame["type"], "pong", "{frame}");
    }
    panic!("200 pings and none refused")
}

#[test]
fn a_users_second_socket_shares_the_first_ones_frame_allowance() {
    let stack = Stack::shared();
    let (user, other) = (stack.signup(), stack.signup());
    let (mut first, mut second) = (connect(stack, &user), connect(stack, &user));
    // The limit's window is fixed (10 s): should it turn between the refusal on the first
    // socket and the ping on the second, the second gets a pong once, and the next round
    // starts in a fresh window with time to spare.
    let mut refused_on_second = false;
    for _ in 0..2 {
        let pongs = ping_until_refused(&mut first);
        // 30 a window; pings that straddle a window's turn can see up to two windows' worth.
        assert!(pongs <= 60, "{pongs} pongs before the first refusal");
        second.send(&json!({"action": "ping"}));
        let frame = match second.receive(Duration::from_secs(10)) {
            Received::Frame(frame) => frame,
            other => panic!("no answer on the second socket: {other:?}"),
        };
        if frame["type"] == "error" {
            assert!(
                frame["detail"].as_str().is_some_and(|d| d.contains("Too many frames")),
                "{frame}"
            );
            refused_on_second = true;
            break;
        }
    }
    assert!(refused_on_second, "the second socket had an allowance of its own");
    let mut bystander = connect(stack, &other);
    only_pong(&mut bystander);
}

/// `count` handshakes of `user` at once; the sockets that opened.
fn burst(stack: &Stack, user: &TestUser, count: usize) -> Vec<Socket> {
    std::thread::scope(|scope| {
        let handshakes: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| stack.connect(Some(&user.token))))
            .collect();
        handshakes
            .into_iter()
            .filter_map(|h| h.join().expect("a handshake thread").ok())
            .collect()
    })
}

#[test]
fn the_connection_cap_refuses_one_socket_more_even_in_a_parallel_burst() {
    const CAP: usize = 10;
    let stack = Stack::start_with(&["RealtimeConnectionsPerUser=10", "RealtimeConnectsPerUser=100"]);
    let user = stack.signup();
    // A burst up to the cap opens every socket: parallel handshakes spread over the free places.
    let mut sockets = burst(&stack, &user, CAP);
    assert_eq!(sockets.len(), CAP, "{CAP} parallel handshakes under a cap of {CAP}");
    assert_eq!(stack.connect(Some(&user.token)).err(), Some(429), "socket {}", CAP + 1);
    sockets.pop().expect("a socket").close();
    // The clean close's $disconnect frees its place.
    let reopened = api_tests::eventually(Duration::from_secs(10), || stack.connect(Some(&user.token)).ok());
    assert!(reopened.is_some(), "a closed socket's place is taken again");

    // At the cap a handshake asks whether the holders are still there; one whose own handshake
    // is under way must not be taken for gone (its socket would open with no record).
    let mut opened = burst(&stack, &stack.signup(), 3 * CAP);
    assert_eq!(opened.len(), CAP, "{} parallel handshakes of one user", 3 * CAP);
    for socket in &mut opened {
        only_pong(socket);
    }
}

#[test]
fn a_private_message_answers_the_sender_the_same_whether_the_target_is_online_or_not() {
    let stack = Stack::shared();
    let (alice, online, offline) = (stack.signup(), stack.signup(), stack.signup());
    let mut a = connect(stack, &alice);
    let mut target = connect(stack, &online);
    for to in [offline.id.clone(), uuid::Uuid::new_v4().to_string(), online.id.clone()] {
        a.send(&json!({"action": "private", "to": to, "message": "are you there?"}));
        only_pong(&mut a);
    }
    assert_eq!(target.expect("private")["message"], "are you there?");
}

#[test]
fn a_private_room_refuses_an_uninvited_join_and_admits_an_invited_one() {
    let stack = Stack::shared();
    let (owner, guest, stranger) = (stack.signup(), stack.signup(), stack.signup());
    let (mut o, mut g, mut s) = (
        connect(stack, &owner),
        connect(stack, &guest),
        connect(stack, &stranger),
    );
    let room = format!("private-{}-team", owner.id);
    join(&mut o, &room);
    let nowhere = format!("private-{}", uuid::Uuid::new_v4().simple());
    for name in [&room, &nowhere] {
        g.send(&json!({"action": "join", "room": name}));
        assert_eq!(
            g.expect("error")["detail"],
            format!("Room {name} takes members by invitation only"),
            "the same refusal whether the room exists or not"
        );
    }
    s.send(&json!({"action": "invite", "room": room, "user_id": guest.id}));
    assert!(s.expect("error")["detail"]
        .as_str()
        .is_some_and(|d| d.starts_with("Join room")));
    o.send(&json!({"action": "invite", "room": room, "user_id": guest.id}));
    assert_eq!(
        o.expect("invited"),
        json!({"type": "invited", "room": room, "user_id": guest.id})
    );
    let invitation = g.expect("invitation");
    assert_eq!(
        (invitation["room"].as_str(), invitation["from_user"].as_str()),
        (Some(room.as_str()), Some(owner.id.as_str()))
    );
    join(&mut g, &room);
    assert_eq!(o.expect("user_join")["user_id"], guest.id.as_str());
    say(&mut g, &room, "thanks for having me");
    assert_eq!(o.expect("message")["message"], "thanks for having me");
    s.send(&json!({"action": "join", "room": room}));
    assert!(s.expect("error")["detail"]
        .as_str()
        .is_some_and(|d| d.contains("by invitation only")));
}

/// 50 messages of 4,000 four-byte characters are 800 KB: a joiner gets them in several `history`
/// frames, each under API Gateway's 128 KB (the local stack refuses a push over it, as AWS does),
/// oldest first.
#[test]
fn a_history_over_the_frame_limit_reaches_a_joiner_in_several_frames() {
    let stack = Stack::shared();
    let (a, b, reader) = (stack.signup(), stack.signup(), stack.signup());
    let room = format!("long-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut senders = [connect(stack, &a), connect(stack, &b)];
    for socket in &mut senders {
        socket.send(&json!({"action": "join", "room": room}));
        socket.expect("history");
    }
    // 25 messages a user keeps each within its frame allowance.
    for n in 0..50 {
        let text = format!("{n:02}{}", "😀".repeat(3998));
        senders[n % 2].send(&json!({"action": "send", "room": room, "message": text}));
        // Each message is stored before it is broadcast: once the member of the room has seen
        // it, it is in the history, and the next one sorts after it.
        let echoed = senders[0].expect("message");
        assert!(echoed["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&format!("{n:02}"))));
    }
    let mut joiner = connect(stack, &reader);
    joiner.send(&json!({"action": "join", "room": room}));
    let (mut frames, mut seen) = (0, Vec::new());
    while seen.len() < 50 {
        let page = match joiner.receive(Duration::from_secs(10)) {
            Received::Frame(frame) if frame["type"] == "history" => frame,
            other => panic!("{} of 50 messages in {frames} frames, then {other:?}", seen.len()),
        };
        frames += 1;
        for message in page["messages"].as_array().into_iter().flatten() {
            seen.push(message["message"].as_str().unwrap_or_default()[..2].to_owned());
        }
    }
    assert!(frames > 1, "one frame of 800 KB");
    let expected: Vec<String> = (0..50).map(|n| format!("{n:02}")).collect();
    assert_eq!(seen, expected, "every message once, oldest first");
}

#[test]
fn a_room_at_the_presence_size_is_not_told_of_joins_and_leaves_and_answers_who() {
    let stack = Stack::start_with(&["RealtimePresenceMembers=3"]);
    let room = room();
    let users: Vec<TestUser> = (0..4).map(|_| stack.signup()).collect();
    let mut sockets: Vec<Socket> = users.iter().map(|u| connect(&stack, u)).collect();
    join(&mut sockets[0], &room);
    join(&mut sockets[1], &room);
    let joined = sockets[0].expect("user_join");
    assert_eq!(joined["user_id"], users[1].id.as_str(), "a room of 2 is told");
    join(&mut sockets[2], &room);
    join(&mut sockets[3], &room);
    sockets[3].send(&json!({"action": "who", "room": room}));
    assert_eq!(
        sockets[3].expect("presence"),
        json!({"type": "presence", "room": room, "count": 4})
    );
    // The fourth leaves a room of 4 (now 3: not told), the third a room of 3 (now 2: told). The
    // first client's next presence frame is the third's leave, so the fourth's never came.
    sockets[3].send(&json!({"action": "leave", "room": room}));
    assert_eq!(
        sockets[3].expect("user_leave")["user_id"],
        users[3].id.as_str(),
        "the leaver is told"
    );
    sockets[2].send(&json!({"action": "leave", "room": room}));
    sockets[2].expect("user_leave");
    let next = loop {
        match sockets[0].receive(Duration::from_secs(10)) {
            Received::Frame(frame) if frame["type"] == "user_join" || frame["type"] == "user_leave" => break frame,
            Received::Frame(_) => {}
            other => panic!("no presence frame: {other:?}"),
        }
    };
    assert_eq!(next["type"], "user_leave");
    assert_eq!(next["user_id"], users[2].id.as_str());
    sockets[3].send(&json!({"action": "who", "room": room}));
    let refused = sockets[3].expect("error");
    assert!(
        refused["detail"].as_str().unwrap_or_default().starts_with("Join room"),
        "{refused}"
    );
}
