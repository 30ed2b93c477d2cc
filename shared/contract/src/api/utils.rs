//! The routes of the `utils` function.

use super::*;

/// Health Check
pub const HEALTH_CHECK: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/utils/health-check/",
        id: "utils-health_check",
        key_scope: None,
    },
    tag: "utils",
    summary: "Health Check",
    description: "`true`; with `deep=true`, the state of each backing service (table, bucket, queue).",
    bearer: Bearer::No,
    params: &[Param::query(
        "deep",
        "Check every backing service",
        || json!({"type": "boolean"}),
    )],
    body: None,
    replies: &[
        Reply::ok::<HealthCheck>(),
        INVALID,
        Reply::json::<Health>(503, "A backing service is unavailable"),
    ],
};

/// Test Email
pub const TEST_EMAIL: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/utils/test-email/",
        id: "utils-test_email",
        key_scope: None,
    },
    tag: "utils",
    summary: "Test Email",
    description: "Test emails.",
    bearer: Bearer::Required,
    params: &[Param::query(
        "email_to",
        "Where to send the test email",
        || json!({"type": "string", "format": "email"}),
    )
    .required()],
    body: None,
    replies: &[
        Reply::json::<Message>(201, "Successful Response"),
        UNAUTHENTICATED,
        Reply::error(403, "The user doesn't have enough privileges"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[HEALTH_CHECK, TEST_EMAIL];
