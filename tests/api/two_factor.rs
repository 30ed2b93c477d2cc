//! Two-factor (TOTP, RFC 6238): set up and confirmed with a code computed here from the secret,
//! then every login takes a code after the password. A code is accepted once, a recovery code
//! once ever, an `mfa_token` once; attempts are counted before they are checked, so 40 parallel
//! guesses check no more than the limits allow.

use api_tests::{encode, post_json, request, with_token, Answer, Stack, TestUser};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 4648 base32, as the setup answers the secret.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u64, 0u32, Vec::new());
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&b| b == c).expect("a base32 character");
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The TOTP code (SHA-1, 6 digits, 30 s) of `secret` `steps` steps from now.
fn totp(secret: &str, steps: i64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let step = (now / 30) as i64 + steps;
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(&base32_decode(secret)).expect("any key length");
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

fn me(stack: &Stack, token: &str) -> Answer {
    with_token("GET", &stack.api("/users/me"), token, None)
}

fn setup(stack: &Stack, user: &TestUser) -> Answer {
    post_json(
        &stack.api("/users/me/2fa/totp"),
        &json!({"password": user.password}),
        Some(&user.token),
    )
}

fn confirm(stack: &Stack, user: &TestUser, code: &str) -> Answer {
    post_json(
        &stack.api("/users/me/2fa/totp/confirm"),
        &json!({"code": code}),
        Some(&user.token),
    )
}

/// A new user with two-factor on (confirmed with the code of now): the secret and the recovery
/// codes.
fn user_with_two_factor(stack: &Stack) -> (TestUser, String, Vec<String>) {
    let user = stack.signup();
    let answer = setup(stack, &user);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let secret = answer.json()["secret"].as_str().expect("secret").to_owned();
    let answer = confirm(stack, &user, &totp(&secret, 0));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let codes = answer.json()["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect();
    (user, secret, codes)
}

/// The password step of a login.
fn password_step(stack: &Stack, user: &TestUser) -> Answer {
    let body = format!("username={}&password={}", encode(&user.email), encode(&user.password));
    request(
        "POST",
        &stack.api("/login/access-token"),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
}

/// The `mfa_token` of a password step on an account with two-factor on.
fn mfa_token(stack: &Stack, user: &TestUser) -> String {
    let answer = password_step(stack, user);
    assert_eq!(answer.status, 401, "{}", answer.text);
    answer.json()["mfa_token"].as_str().expect("mfa_token").to_owned()
}

fn second_step(stack: &Stack, token: &str, code: &str) -> Answer {
    post_json(
        &stack.api("/login/mfa"),
        &json!({"mfa_token": token, "code": code}),
        None,
    )
}

fn invalid_code(answer: &Answer) -> bool {
    answer.status == 400 && answer.json() == json!({"detail": "Invalid code"})
}

#[test]
fn totp_is_set_up_confirmed_and_then_asked_for_at_every_login() {
    let stack = Stack::shared();
    let user = stack.signup();
    assert_eq!(me(stack, &user.token).json()["has_2fa"], false);

    let wrong = post_json(
        &stack.api("/users/me/2fa/totp"),
        &json!({"password": "not-the-password"}),
        Some(&user.token),
    );
    assert_eq!(
        (wrong.status, wrong.json()),
        (400, json!({"detail": "Incorrect password"}))
    );
    let answer = setup(stack, &user);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let secret = body["secret"].as_str().expect("secret").to_owned();
    assert_eq!(base32_decode(&secret).len(), 20, "160 bits");
    let uri = body["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(body["qr_svg"].as_str().expect("svg").contains("<svg"));
    assert_eq!(
        me(stack, &user.token).json()["has_2fa"],
        false,
        "inactive until confirmed"
    );
    assert_eq!(
        password_step(stack, &user).status,
        200,
        "logins unchanged until confirmed"
    );

    assert!(
        invalid_code(&confirm(stack, &user, &totp(&secret, -2))),
        "a code two steps old"
    );
    // Each code is computed once: a step may turn between two requests.
    let confirming = totp(&secret, 0);
    let answer = confirm(stack, &user, &confirming);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let recovery = answer.json()["recovery_codes"].as_array().expect("codes").clone();
    assert_eq!(recovery.len(), 10);
    assert_eq!(me(stack, &user.token).json()["has_2fa"], true);

    let answer = password_step(stack, &user);
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(r#"Bearer error="mfa_required""#)
    );
    let body = answer.json();
    assert_eq!(body["detail"], "Two-factor code required");
    let token = body["mfa_token"].as_str().expect("mfa_token").to_owned();
    assert!(body.get("access_token").is_none());

    // The confirming code was accepted once already.
    assert!(invalid_code(&second_step(stack, &token, &confirming)), "a replay");
    let next = totp(&secret, 1);
    let answer = second_step(stack, &token, &next);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let tokens = answer.json();
    assert_eq!(tokens["token_type"], "bearer");
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().expect("access_token");
    assert_eq!(me(stack, access).json()["email"], user.email.as_str());
    let sessions = with_token("GET", &stack.api("/users/me/sessions"), access, None).json();
    assert!(sessions["data"]
        .as_array()
        .expect("sessions")
        .iter()
        .any(|s| s["current"] == true));

    let first_recovery = recovery[0].as_str().expect("code");
    assert!(
        invalid_code(&second_step(stack, &token, first_recovery)),
        "an mfa_token is single use"
    );
    let token = mfa_token(stack, &user);
    assert!(invalid_code(&second_step(stack, &token, &next)), "the same code again");
    assert!(
        invalid_code(&second_step(stack, &token, &totp(&secret, -2))),
        "a code two steps old"
    );
    assert_eq!(
        second_step(stack, &token, first_recovery).status,
        200,
        "a recovery code"
    );
    let token = mfa_token(stack, &user);
    assert!(
        invalid_code(&second_step(stack, &token, first_recovery)),
        "a recovery code once ever"
    );
}

#[test]
fn a_login_without_two_factor_answers_as_before() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = password_step(stack, &user);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let mut keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "refresh_token", "token_type"]);
    let user_keys = me(stack, &user.token).json();
    assert_eq!(user_keys["has_2fa"], false);
    assert_eq!(user_keys["is_active"], true);
}

/// `n` wrong codes at once, each on `tokens[i % tokens.len()]`: how many were 400 and how many 429.
fn wrong_codes_at_once(stack: &Stack, tokens: &[String], n: usize) -> (usize, usize) {
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let token = &tokens[i % tokens.len()];
                scope.spawn(move || second_step(stack, token, "wrong-code").status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a request")).collect()
    });
    let bad = answers.iter().filter(|s| **s == 400).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    assert_eq!(bad + limited, n, "only 400s and 429s: {answers:?}");
    (bad, limited)
}

#[test]
fn forty_parallel_wrong_codes_on_one_mfa_token_check_five() {
    let stack = Stack::shared();
    let (user, secret, _) = user_with_two_factor(stack);
    let token = mfa_token(stack, &user);
    assert_eq!(wrong_codes_at_once(stack, std::slice::from_ref(&token), 40), (40, 0));
    assert!(
        invalid_code(&second_step(stack, &token, &totp(&secret, 1))),
        "5 wrong codes ended the token"
    );
    // Only the 5 the token let through were counted against the account (10 per 15 minutes):
    // 5 more fit, the next is refused.
    let token = mfa_token(stack, &user);
    assert_eq!(wrong_codes_at_once(stack, std::slice::from_ref(&token), 5), (5, 0));
    let token = mfa_token(stack, &user);
    let answer = second_step(stack, &token, &totp(&secret, 1));
    assert_eq!(answer.status, 429, "{}", answer.text);
    assert!(answer.header("retry-after").is_some());
}

#[test]
fn forty_parallel_wrong_codes_over_eight_mfa_tokens_check_ten() {
    let stack = Stack::shared();
    let (user, secret, _) = user_with_two_factor(stack);
    let tokens: Vec<String> = (0..8).map(|_| mfa_token(stack, &user)).collect();
    assert_eq!(
        wrong_codes_at_once(stack, &tokens, 40),
        (10, 30),
        "the account's 10 checked, the rest refused unchecked"
    );
    let token = mfa_token(stack, &user);
    assert_eq!(second_step(stack, &token, &totp(&secret, 1)).status, 429);
}

#[test]
fn disabling_takes_the_password_and_a_code_and_ends_the_other_sessions() {
    let stack = Stack::shared();
    let (user, secret, recovery) = user_with_two_factor(stack);
    let token = mfa_token(stack, &user);
    let other = second_step(stack, &token, &recovery[0]);
    assert_eq!(other.status, 200, "{}", other.text);
    let other = other.json()["access_token"].as_str().expect("access_token").to_owned();

    let disable = |password: &str, code: &str| {
        with_token(
            "DELETE",
            &stack.api("/users/me/2fa"),
            &user.token,
            Some(&json!({"password": password, "code": code})),
        )
    };
    let wrong = disable("not-the-password", &totp(&secret, 1));
    assert_eq!(
        (wrong.status, wrong.json()),
        (400, json!({"detail": "Incorrect password"}))
    );
    assert!(
        invalid_code(&disable(&user.password, &recovery[0])),
        "a used recovery code"
    );
    let answer = disable(&user.password, &totp(&secret, 1));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json(), json!({"message": "Two-factor authentication disabled"}));

    assert_eq!(me(stack, &other).status, 401, "the other session ended");
    let mine = me(stack, &user.token);
    assert_eq!((mine.status, mine.json()["has_2fa"].clone()), (200, json!(false)));
    assert_eq!(password_step(stack, &user).status, 200, "a password is enough again");
}

#[test]
fn an_administrator_resets_a_locked_out_users_two_factor() {
    let stack = Stack::shared();
    let (user, _, _) = user_with_two_factor(stack);
    let path = stack.api(&format!("/users/{}/2fa", user.id));
    let stranger = stack.signup();
    let refused = with_token("DELETE", &path, &stranger.token, None);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(me(stack, &user.token).json()["has_2fa"], true);

    let admin = stack.superuser_token();
    let unknown = with_token(
        "DELETE",
        &stack.api(&format!("/users/{}/2fa", uuid::Uuid::new_v4())),
        &admin,
        None,
    );
    assert_eq!(
        (unknown.status, unknown.json()),
        (404, json!({"detail": "User not found"}))
    );
    let answer = with_token("DELETE", &path, &admin, None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(me(stack, &user.token).status, 401, "the user's sessions ended");
    let answer = password_step(stack, &user);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.json()["access_token"].as_str().expect("access_token").to_owned();
    assert_eq!(me(stack, &token).json()["has_2fa"], false);
    let listed = with_token("GET", &stack.api(&format!("/users/{}", user.id)), &admin, None).json();
    assert_eq!(listed["has_2fa"], Value::Bool(false));
}
