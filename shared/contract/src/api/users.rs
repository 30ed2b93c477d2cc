//! The routes of the `users` function.

use super::*;

/// Read Users
pub const READ_USERS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/users/",
        id: "users-read_users",
        key_scope: None,
    },
    tag: "users",
    summary: "Read Users",
    description: "Retrieve users.",
    bearer: Bearer::Required,
    params: &[SKIP, LIMIT],
    body: None,
    replies: &[
        Reply::ok::<UsersPublic>(),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Create User
pub const CREATE_USER: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/",
        id: "users-create_user",
        key_scope: None,
    },
    tag: "users",
    summary: "Create User",
    description: "Create new user.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<UserCreate>()),
    replies: &[
        Reply::ok::<UserPublic>(),
        Reply::error(400, "The email is taken"),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read User Me
pub const READ_USER_ME: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/users/me",
        id: "users-read_user_me",
        key_scope: Some(Scope::ProfileRead),
    },
    tag: "users",
    summary: "Read User Me",
    description: "Get current user.",
    bearer: Bearer::Required,
    params: &[IF_NONE_MATCH],
    body: None,
    replies: &[
        Reply::ok::<UserPublic>().with_headers(BODY_ETAG),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        UNAVAILABLE,
    ],
};

/// Delete User Me
pub const DELETE_USER_ME: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/me",
        id: "users-delete_user_me",
        key_scope: None,
    },
    tag: "users",
    summary: "Delete User Me",
    description: "Delete own user.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(403, "Super users are not allowed to delete themselves"),
        UNAVAILABLE,
    ],
};

/// Update User Me
pub const UPDATE_USER_ME: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PATCH,
        path: "/api/v1/users/me",
        id: "users-update_user_me",
        key_scope: None,
    },
    tag: "users",
    summary: "Update User Me",
    description: "Update own user.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<UserUpdateMe>()),
    replies: &[
        Reply::ok::<UserPublic>(),
        UNAUTHENTICATED,
        Reply::error(409, "User with this email already exists"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Update Password Me
pub const UPDATE_PASSWORD_ME: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PATCH,
        path: "/api/v1/users/me/password",
        id: "users-update_password_me",
        key_scope: None,
    },
    tag: "users",
    summary: "Update Password Me",
    description: "Update own password.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<UpdatePassword>()),
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "Incorrect password, or the new one is the current one"),
        UNAUTHENTICATED,
        INVALID,
        Reply::error(429, "Too many wrong passwords").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Register User
pub const REGISTER_USER: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/signup",
        id: "users-register_user",
        key_scope: None,
    },
    tag: "users",
    summary: "Register User",
    description: "Create new user without the need to be logged in.",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<UserRegister>()),
    replies: &[
        Reply::ok::<UserPublic>(),
        Reply::error(400, "The email is taken"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read User By Id
pub const READ_USER_BY_ID: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/users/{user_id}",
        id: "users-read_user_by_id",
        key_scope: None,
    },
    tag: "users",
    summary: "Read User By Id",
    description: "Get a specific user by id.",
    bearer: Bearer::Required,
    params: &[Param::path_id("user_id", "User Id"), IF_NONE_MATCH],
    body: None,
    replies: &[
        Reply::ok::<UserPublic>().with_headers(BODY_ETAG),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        Reply::error(404, "User not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Delete User
pub const DELETE_USER: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/{user_id}",
        id: "users-delete_user",
        key_scope: None,
    },
    tag: "users",
    summary: "Delete User",
    description: "Delete a user.",
    bearer: Bearer::Required,
    params: &[Param::path_id("user_id", "User Id")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        Reply::error(404, "User not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Update User
pub const UPDATE_USER: Operation = Operation {
    endpoint: Endpoint {
        method: Method::PATCH,
        path: "/api/v1/users/{user_id}",
        id: "users-update_user",
        key_scope: None,
    },
    tag: "users",
    summary: "Update User",
    description: "Update a user.",
    bearer: Bearer::Required,
    params: &[Param::path_id("user_id", "User Id")],
    body: Some(Content::json::<UserUpdate>()),
    replies: &[
        Reply::ok::<UserPublic>(),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        Reply::error(404, "The user with this id does not exist in the system"),
        Reply::error(409, "User with this email already exists"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read Sessions
pub const READ_SESSIONS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/users/me/sessions",
        id: "users-read_sessions",
        key_scope: None,
    },
    tag: "users",
    summary: "Read Sessions",
    description: "The caller's logins that still stand, newest first, the caller's own marked `current`.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[Reply::ok::<SessionsPublic>(), UNAUTHENTICATED, UNAVAILABLE],
};

/// Revoke Other Sessions
pub const REVOKE_OTHER_SESSIONS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/me/sessions",
        id: "users-revoke_other_sessions",
        key_scope: None,
    },
    tag: "users",
    summary: "Revoke Other Sessions",
    description: "Ends every login of the caller but the one it calls with: their refresh and access tokens \
                  stop working at once, and their WebSockets get `session.revoked` and are closed.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[Reply::ok::<Message>(), UNAUTHENTICATED, UNAVAILABLE],
};

/// Revoke Session
pub const REVOKE_SESSION: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/me/sessions/{session_id}",
        id: "users-revoke_session",
        key_scope: None,
    },
    tag: "users",
    summary: "Revoke Session",
    description: "Ends one of the caller's logins: its refresh and access tokens stop working at once, and its \
                  WebSockets get `session.revoked` and are closed.",
    bearer: Bearer::Required,
    params: &[Param::path_id("session_id", "Session Id")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(404, "Session not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Verify Email
pub const VERIFY_EMAIL: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/verify-email",
        id: "users-verify_email",
        key_scope: None,
    },
    tag: "users",
    summary: "Verify Email",
    description: "Follows a verification link: its token (single use, 48 hours) verifies the address it was sent \
                  to, if that is still the user's email.",
    bearer: Bearer::No,
    params: &[],
    body: Some(Content::json::<VerifyEmail>()),
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "Invalid token: unknown, expired, used, or the email changed since"),
        INVALID,
        Reply::error(429, "Too many invalid tokens from this address").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Send Verification Email
pub const SEND_VERIFICATION_EMAIL: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/me/verification-email",
        id: "users-send_verification_email",
        key_scope: None,
    },
    tag: "users",
    summary: "Send Verification Email",
    description: "Sends a new verification link to the caller's email (at most 3 an hour).",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "Email already verified"),
        UNAUTHENTICATED,
        Reply::error(429, "Too many verification emails").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Set Up Totp
pub const SETUP_TOTP: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/me/2fa/totp",
        id: "users-setup_totp",
        key_scope: None,
    },
    tag: "users",
    summary: "Set Up Totp",
    description: "A new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s) for the caller, with its `otpauth://` URI \
                  and a QR code of it (SVG). It is inactive until a code of it is confirmed; a new setup \
                  replaces one not confirmed yet.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<TotpSetupRequest>()),
    replies: &[
        Reply::ok::<TotpSetup>(),
        Reply::error(400, "Incorrect password, or two-factor is on already"),
        UNAUTHENTICATED,
        INVALID,
        Reply::error(429, "Too many wrong passwords").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Confirm Totp
pub const CONFIRM_TOTP: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/me/2fa/totp/confirm",
        id: "users-confirm_totp",
        key_scope: None,
    },
    tag: "users",
    summary: "Confirm Totp",
    description: "Turns two-factor on with a code of the secret set up last, and answers the 10 recovery codes: \
                  shown this once, stored only as hashes.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<TotpConfirm>()),
    replies: &[
        Reply::ok::<RecoveryCodes>(),
        Reply::error(400, "Invalid code, no setup to confirm, or two-factor is on already"),
        UNAUTHENTICATED,
        INVALID,
        Reply::error(429, "Too many codes tried").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Disable Two Factor Me
pub const DISABLE_TWO_FACTOR_ME: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/me/2fa",
        id: "users-disable_two_factor_me",
        key_scope: None,
    },
    tag: "users",
    summary: "Disable Two Factor Me",
    description: "Turns the caller's two-factor off with their password and a code (TOTP or recovery), and ends \
                  their other sessions.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<TwoFactorDisable>()),
    replies: &[
        Reply::ok::<Message>(),
        Reply::error(400, "Incorrect password, invalid code, or two-factor is off"),
        UNAUTHENTICATED,
        INVALID,
        Reply::error(429, "Too many wrong passwords or codes").with_headers(RETRY_AFTER),
        UNAVAILABLE,
    ],
};

/// Reset Two Factor
pub const RESET_TWO_FACTOR: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/{user_id}/2fa",
        id: "users-reset_two_factor",
        key_scope: None,
    },
    tag: "users",
    summary: "Reset Two Factor",
    description: "Turns two-factor off for a user locked out of it, and ends that user's sessions.",
    bearer: Bearer::Required,
    params: &[Param::path_id("user_id", "User Id")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        Reply::error(404, "User not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
/// Every route of the function, in the order the document lists them.
/// Create Api Key
pub const CREATE_API_KEY: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/users/me/api-keys",
        id: "users-create_api_key",
        key_scope: None,
    },
    tag: "users",
    summary: "Create Api Key",
    description: "A new API key for scripts and machines, acting as the caller within `scopes` (never beyond \
                  the caller's role) until `expires_in_days` (1–365, default 90). The key is in this answer \
                  only; it is kept as a hash. At most 20 keys (expired ones count until deleted).",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<ApiKeyCreate>()),
    replies: &[
        Reply::json::<ApiKeyCreated>(201, "Successful Response"),
        Reply::error(400, "Too many API keys"),
        UNAUTHENTICATED,
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read Api Keys
pub const READ_API_KEYS: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/users/me/api-keys",
        id: "users-read_api_keys",
        key_scope: None,
    },
    tag: "users",
    summary: "Read Api Keys",
    description: "The caller's API keys, newest first: their prefixes, never the keys.",
    bearer: Bearer::Required,
    params: &[],
    body: None,
    replies: &[Reply::ok::<ApiKeysPublic>(), UNAUTHENTICATED, UNAVAILABLE],
};

/// Delete Api Key
pub const DELETE_API_KEY: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/users/me/api-keys/{key_id}",
        id: "users-delete_api_key",
        key_scope: None,
    },
    tag: "users",
    summary: "Delete Api Key",
    description: "Deletes one of the caller's API keys: it stops working at once.",
    bearer: Bearer::Required,
    params: &[Param::path_id("key_id", "Key Id")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(404, "API key not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

pub const OPERATIONS: &[Operation] = &[
    READ_USERS,
    CREATE_USER,
    READ_USER_ME,
    DELETE_USER_ME,
    UPDATE_USER_ME,
    UPDATE_PASSWORD_ME,
    REGISTER_USER,
    READ_USER_BY_ID,
    DELETE_USER,
    UPDATE_USER,
    READ_SESSIONS,
    REVOKE_OTHER_SESSIONS,
    REVOKE_SESSION,
    VERIFY_EMAIL,
    SETUP_TOTP,
    CONFIRM_TOTP,
    DISABLE_TWO_FACTOR_ME,
    RESET_TWO_FACTOR,
    SEND_VERIFICATION_EMAIL,
    CREATE_API_KEY,
    READ_API_KEYS,
    DELETE_API_KEY,
];
