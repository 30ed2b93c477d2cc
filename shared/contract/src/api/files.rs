//! The routes of the `files` function.

use super::*;

/// Read Files
pub const READ_FILES: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/files/",
        id: "files-read_files",
        key_scope: Some(Scope::FilesRead),
    },
    tag: "files",
    summary: "Read Files",
    description: "Retrieve files: a superuser's are everyone's, anyone else's their own. Newest first.",
    bearer: Bearer::Required,
    params: &[SKIP, LIMIT, CURSOR],
    body: None,
    replies: &[Reply::ok::<Page<FilePublic>>(), UNAUTHENTICATED, INVALID, UNAVAILABLE],
};

/// Create File
pub const CREATE_FILE: Operation = Operation {
    endpoint: Endpoint { method: Method::POST, path: "/api/v1/files/", id: "files-create_file", key_scope: Some(Scope::FilesWrite) },
    tag: "files",
    summary: "Create File",
    description: "Announce an upload: the file's record (`pending`) and a presigned S3 POST form that accepts\nexactly this size and type for 15 minutes. POST the form's `fields`, then the file, to `url`.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::json::<FileCreate>()),
    replies: &[Reply::json::<FileCreated>(201, "Successful Response"), Reply::error(400, "File type not allowed, or the upload quota is exceeded"), UNAUTHENTICATED, Reply::error(413, "File too large"), INVALID, UNAVAILABLE],
};

/// Upload File
pub const UPLOAD_FILE: Operation = Operation {
    endpoint: Endpoint {
        method: Method::POST,
        path: "/api/v1/files/upload",
        id: "files-upload_file",
        key_scope: Some(Scope::FilesWrite),
    },
    tag: "files",
    summary: "Upload File",
    description:
        "Upload a small file (at most 4 MiB) in the request itself; larger files go through\n`POST /api/v1/files/`.",
    bearer: Bearer::Required,
    params: &[],
    body: Some(Content::multipart::<UploadFileForm>()),
    replies: &[
        Reply::json::<FilePublic>(201, "Successful Response"),
        Reply::error(400, "File type not allowed, or the upload quota is exceeded"),
        UNAUTHENTICATED,
        Reply::error(413, "Too large for a direct upload: use the presigned route"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Read File
pub const READ_FILE: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/files/{id}",
        id: "files-read_file",
        key_scope: Some(Scope::FilesRead),
    },
    tag: "files",
    summary: "Read File",
    description: "Get a file's record by ID.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id"), IF_NONE_MATCH],
    body: None,
    replies: &[
        Reply::ok::<FilePublic>().with_headers(BODY_ETAG),
        NOT_MODIFIED,
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "File not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Delete File
pub const DELETE_FILE: Operation = Operation {
    endpoint: Endpoint {
        method: Method::DELETE,
        path: "/api/v1/files/{id}",
        id: "files-delete_file",
        key_scope: Some(Scope::FilesWrite),
    },
    tag: "files",
    summary: "Delete File",
    description: "Delete a file: its record and its objects.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id")],
    body: None,
    replies: &[
        Reply::ok::<Message>(),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "File not found"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Download File
pub const DOWNLOAD_FILE: Operation = Operation {
    endpoint: Endpoint { method: Method::GET, path: "/api/v1/files/{id}/download", id: "files-download_file", key_scope: Some(Scope::FilesRead) },
    tag: "files",
    summary: "Download File",
    description: "Redirect to a presigned GET of the file's bytes (valid 5 minutes), answered as an attachment\nwith the original filename.",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id")],
    body: None,
    replies: &[Reply { status: 307, description: "Redirect to the bytes", content: None, headers: &[] }.with_headers(LOCATION), UNAUTHENTICATED, Reply::error(403, "Not enough permissions"), Reply::error(404, "File not found"), Reply::error(409, "File is not ready"), INVALID, UNAVAILABLE],
};

/// Read Thumbnail
pub const READ_THUMBNAIL: Operation = Operation {
    endpoint: Endpoint {
        method: Method::GET,
        path: "/api/v1/files/{id}/thumbnail",
        id: "files-read_thumbnail",
        key_scope: Some(Scope::FilesRead),
    },
    tag: "files",
    summary: "Read Thumbnail",
    description: "Redirect to the image's thumbnail (fits 200×200, aspect kept).",
    bearer: Bearer::Required,
    params: &[Param::path_id("id", "Id")],
    body: None,
    replies: &[
        Reply {
            status: 307,
            description: "Redirect to the thumbnail",
            content: None,
            headers: &[],
        }
        .with_headers(LOCATION),
        UNAUTHENTICATED,
        Reply::error(403, "Not enough permissions"),
        Reply::error(404, "File not found, or Thumbnail not available"),
        INVALID,
        UNAVAILABLE,
    ],
};

/// Every route of the function, in the order the document lists them.
pub const OPERATIONS: &[Operation] = &[
    READ_FILES,
    CREATE_FILE,
    UPLOAD_FILE,
    READ_FILE,
    DELETE_FILE,
    DOWNLOAD_FILE,
    READ_THUMBNAIL,
];
