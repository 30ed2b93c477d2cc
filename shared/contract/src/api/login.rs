//! The routes of the `login` function.

use super::*;

/// Login Access Token
pub const LOGIN_ACCESS_TOKEN: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/login/access-token",
        id: "login-login_access_token",
        key_scope: None,
    },
    tag: "login",
    summary: "Login Access Token",
    description: "OAuth2 compatible token login, get an access token for future requests. An account with \
                  two-factor on answers the right password with 401 and an `mfa_token` for `POST /login/mfa`.",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::form::<LoginForm>()),
    replies: &[
        Reply::ok::<Token>(),
        Reply::error(400, "Incorrect email or password, or an inactive user"),
        Reply::error(
            403,
            "Email not verified (only when the stack requires verified emails): a new link is sent",
        ),
        Reply::json::<MfaRequired>(401, "Two-factor code required").with_headers(MFA_CHALLENGE),
        INVALID,
        Reply::error(429, "Too many failed logins").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Refresh Token
pub const REFRESH_TOKEN: Operation = Operation {
    endpoint: Endpoint { method: Method::POST, path: "/api/v1/login/refresh-token", id: "login-refresh_token", key_scope: None },
    tag: "login",
    summary: "Refresh Token",
    description: "A new access token and a new refresh token for a refresh token, which stops working. A refresh\ntoken used twice revokes its whole login (401).",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<RefreshTokenRequest>()),
    replies: &[Reply::ok::<Token>(), Reply::error(401, "Invalid, expired or reused refresh token"), INVALID, UNAVAILABLE],
};

/// Test Token
pub const TEST_TOKEN: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/login/test-token",
        id: "login-test_token",
        key_scope: Some(Scope::ProfileRead),
    },
    tag: "login",
    summary: "Test Token",
    description: "Test access token.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[Reply::ok::<UserPublic>(), UNAUTHENTICATED, UNAVAILABLE],
};

/// Logout
pub const LOGOUT: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/logout",
        id: "login-logout",
        key_scope: None,
    },
    tag: "login",
    summary: "Logout",
    description: "Revokes the caller's refresh tokens.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[Reply::ok::<Message>(), UNAUTHENTICATED, UNAVAILABLE],
};

/// Recover Password Html Content
pub const RECOVER_PASSWORD_HTML_CONTENT: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/password-recovery-html-content/{email}",
        id: "login-recover_password_html_content",
        key_scope: None,
    },
    tag: "login",
    summary: "Recover Password Html Content",
    description: "HTML Content for Password Recovery",
    bearer: Bearer::Required,
    params: &[Param::path_text("email", "Email")],
    body: None,
    replies: &[
        Reply {
            status: 200,
            description: "Successful Response",
            content: Some(Content::html()),
            headers: &[],
        },
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        Reply::error(404, "No user with this email"),
        UNAVAILABLE,
    ],
};

/// Recover Password
pub const RECOVER_PASSWORD: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/password-recovery/{email}",
        id: "login-recover_password",
        key_scope: None,
    },
    tag: "login",
    summary: "Recover Password",
    description: "Password Recovery",
    bearer: Bearer::No,
    params: &[Param::path_text("email", "Email")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(429, "Too many recovery requests").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Reset Password
pub const RESET_PASSWORD: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/reset-password/",
        id: "login-reset_password",
        key_scope: None,
    },
    tag: "login",
    summary: "Reset Password",
    description: "Reset password",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<NewPassword>()),
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "Invalid token"),
        INVALID,
        Reply::error(429, "Too many failed resets").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// The 401 of a right password on an account with two-factor on.
const MFA_CHALLENGE: &[Header] = &[Header {
    name: "WWW-Authenticate",
    description: "`Bearer error=\"mfa_required\"`",
    schema: || json!({ "type": "string" }),
}];

/// Login Mfa
pub const LOGIN_MFA: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/login/mfa",
        id: "login-login_mfa",
        key_scope: None,
    },
    tag: "login",
    summary: "Login Mfa",
    description: "The second step of a login with two-factor on: the `mfa_token` of the password step and a code \
                  (TOTP or recovery) for the tokens of a new session. A code is good once; 5 wrong codes end \
                  the `mfa_token`, and an account takes 10 codes per 15 minutes.",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<MfaLogin>()),
    replies: &[
        Reply::ok::<Token>(),
        Reply::error(400, "Invalid code, or an unknown, spent or expired mfa_token"),
        INVALID,
        Reply::error(429, "Too many codes tried for the account").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[
    LOGIN_ACCESS_TOKEN,
    LOGIN_MFA,
    REFRESH_TOKEN,
    TEST_TOKEN,
    LOGOUT,
    RECOVER_PASSWORD_HTML_CONTENT,
    RECOVER_PASSWORD,
    RESET_PASSWORD,
];
