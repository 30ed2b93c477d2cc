use api_tests::{eventually, get_auth, multipart, post_json, request_raw, with_token, RawAnswer, Stack, TestUser};
use base64::Engine;
use serde_json::{json, Value};
use std::io::Cursor;
use std::time::{Duration, Instant};

fn encoded(format: image::ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode test image");
    bytes
}

/// `POST /files/` for a file of this name, type and size.
fn announce(stack: &Stack, token: &str, filename: &str, content_type: &str, size: usize) -> api_tests::Answer {
    post_json(
        &stack.api("/files/"),
        &json!({"filename": filename, "content_type": content_type, "size": size}),
        Some(token),
    )
}

/// What a browser does with the answer of `POST /files/`: the form's fields, then the file.
fn post_form(created: &Value, filename: &str, content_type: &str, bytes: &[u8]) -> RawAnswer {
    let upload = &created["upload"];
    let fields: Vec<(String, String)> = upload["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let (body, content_type_header) = multipart(&fields, filename, content_type, bytes);
    let url = upload["url"].as_str().expect("url");
    request_raw("POST", url, &[("content-type", &content_type_header)], body)
}

/// The file once it is `ready` or `rejected`.
fn settled(stack: &Stack, token: &str, id: &str) -> Value {
    eventually(Duration::from_secs(40), || {
        let file = get_auth(&stack.api(&format!("/files/{id}")), token).json();
        matches!(file["status"].as_str(), Some("ready" | "rejected")).then_some(file)
    })
    .unwrap_or_else(|| panic!("file {id} was not processed"))
}

/// Announces and uploads a file through the presigned form; its answer to `POST /files/`.
fn upload(stack: &Stack, user: &TestUser, filename: &str, content_type: &str, bytes: &[u8]) -> Value {
    let answer = announce(stack, &user.token, filename, content_type, bytes.len());
    assert_eq!(answer.status, 201, "{}", answer.text);
    let created = answer.json();
    let posted = post_form(&created, filename, content_type, bytes);
    assert_eq!(
        posted.status,
        204,
        "S3 answered {}",
        String::from_utf8_lossy(&posted.body)
    );
    created
}

fn get_raw(url: &str, token: Option<&str>) -> RawAnswer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    request_raw("GET", url, &headers, Vec::new())
}

/// Follows one of the API's 307s to its presigned link.
fn follow(stack: &Stack, token: &str, path: &str) -> (String, RawAnswer) {
    let redirect = get_raw(&stack.api(path), Some(token));
    assert_eq!(redirect.status, 307, "{}", String::from_utf8_lossy(&redirect.body));
    let location = redirect.header("location").expect("location").to_owned();
    let target = get_raw(&location, None);
    (location, target)
}

/// Whether a link no longer serves an object: S3 answers 404 for a deleted key (403 when the
/// signer may not list the bucket, which is what the emulator answers for a deleted version).
fn gone(status: u16) -> bool {
    matches!(status, 403 | 404)
}

/// The bucket's URL (path-style on the emulator) and a key in it, read without credentials.
fn object_url(created: &Value, key: &str) -> String {
    format!("{}/{key}", created["upload"]["url"].as_str().unwrap_or_default())
}

#[test]
fn uploads_of_each_type_become_ready_and_images_get_thumbnails_that_fit_200() {
    let stack = Stack::shared();
    let user = stack.signup();
    // (filename, type, bytes, the thumbnail's size)
    type Case = (&'static str, &'static str, Vec<u8>, Option<(u32, u32)>);
    let cases: Vec<Case> = vec![
        (
            "photo.jpg",
            "image/jpeg",
            encoded(image::ImageFormat::Jpeg, 640, 480),
            Some((200, 150)),
        ),
        (
            "tall.png",
            "image/png",
            encoded(image::ImageFormat::Png, 300, 600),
            Some((100, 200)),
        ),
        (
            "small.gif",
            "image/gif",
            encoded(image::ImageFormat::Gif, 120, 80),
            Some((120, 80)),
        ),
        (
            "cv.pdf",
            "application/pdf",
            b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n".to_vec(),
            None,
        ),
        (
            "Notes – é.txt",
            "text/plain",
            "Agenda\n1. Files\n".as_bytes().to_vec(),
            None,
        ),
    ];
    let created: Vec<Value> = cases
        .iter()
        .map(|(name, mime, bytes, _)| upload(stack, &user, name, mime, bytes))
        .collect();
    for ((name, _, bytes, thumbnail), created) in cases.iter().zip(&created) {
        let id = created["file"]["id"].as_str().expect("id");
        let file = settled(stack, &user.token, id);
        assert_eq!(file["status"], "ready", "{name}: {file}");
        assert_eq!(file["has_thumbnail"], thumbnail.is_some(), "{name}");

        let (_, download) = follow(stack, &user.token, &format!("/files/{id}/download"));
        assert_eq!(download.status, 200, "{name}");
        assert_eq!(
            &download.body, bytes,
            "{name}: the downloaded bytes are the uploaded ones"
        );
        let disposition = download.header("content-disposition").unwrap_or_default().to_owned();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        let encoded_name: String = api_tests::encode(name);
        assert!(
            disposition.contains(&format!("filename*=UTF-8''{encoded_name}")),
            "{disposition}"
        );

        let thumbnail_link = get_raw(&stack.api(&format!("/files/{id}/thumbnail")), Some(&user.token));
        match thumbnail {
            Some(expected) => {
                let (_, thumb) = follow(stack, &user.token, &format!("/files/{id}/thumbnail"));
                let image = image::load_from_memory(&thumb.body).expect("a decodable thumbnail");
                assert_eq!((image.width(), image.height()), *expected, "{name}");
            }
            None => {
                assert_eq!(thumbnail_link.status, 404, "{name}");
                assert_eq!(
                    serde_json::from_slice::<Value>(&thumbnail_link.body).unwrap()["detail"],
                    "Thumbnail not available"
                );
            }
        }
    }
}

#[test]
fn an_executable_declared_as_png_is_rejected_and_its_object_removed() {
    let stack = Stack::shared();
    let user = stack.signup();
    let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    elf.resize(4096, 0x90);
    let created = upload(stack, &user, "cute-cat.png", "image/png", &elf);
    let key = created["upload"]["fields"]["key"].as_str().expect("key").to_owned();
    let file = settled(stack, &user.token, created["file"]["id"].as_str().expect("id"));
    assert_eq!(file["status"], "rejected");
    assert!(
        file["reason"].as_str().unwrap_or_default().contains("image/png"),
        "{file}"
    );
    assert_eq!(file["has_thumbnail"], false);
    assert_eq!(
        get_raw(&object_url(&created, &key), None).status,
        404,
        "the upload is gone"
    );
    let download = get_raw(
        &stack.api(&format!("/files/{}/download", file["id"].as_str().unwrap_or_default())),
        Some(&user.token),
    );
    assert_eq!(download.status, 409);
}

#[test]
fn the_signed_policy_pins_key_size_type_and_a_15_minute_expiry() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = announce(stack, &user.token, "report.pdf", "application/pdf", 12_345);
    assert_eq!(answer.status, 201, "{}", answer.text);
    let created = answer.json();
    let file = &created["file"];
    assert_eq!(file["status"], "pending");
    assert_eq!(file["size"], 12_345);
    let fields = &created["upload"]["fields"];
    let key = fields["key"].as_str().expect("key");
    assert_eq!(
        key,
        format!("uploads/{}/{}", user.id, file["id"].as_str().unwrap_or_default())
    );
    assert!(
        !key.contains("report"),
        "object keys are the server's, never the client's name"
    );
    assert_eq!(fields["Content-Type"], "application/pdf");
    assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
    assert!(fields["x-amz-signature"].as_str().is_some_and(|s| s.len() == 64));
    assert_eq!(created["upload"]["expires_in"], 900);
    let policy = base64::engine::general_purpose::STANDARD
        .decode(fields["policy"].as_str().expect("policy"))
        .expect("base64 policy");
    let policy: Value = serde_json::from_slice(&policy).expect("JSON policy");
    let conditions = policy["conditions"].as_array().expect("conditions");
    for expected in [
        json!(["eq", "$key", key]),
        json!(["content-length-range", 12_345, 12_345]),
        json!(["eq", "$Content-Type", "application/pdf"]),
        json!({"x-amz-credential": fields["x-amz-credential"]}),
        json!({"x-amz-date": fields["x-amz-date"]}),
    ] {
        assert!(conditions.contains(&expected), "{expected} in {conditions:?}");
    }
    let bucket = conditions.iter().find_map(|c| c["bucket"].as_str()).expect("bucket");
    assert!(created["upload"]["url"].as_str().unwrap_or_default().ends_with(bucket));
    let expiration = time::OffsetDateTime::parse(
        policy["expiration"].as_str().expect("expiration"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339 expiration");
    let in_seconds = (expiration - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((840..=900).contains(&in_seconds), "expires in {in_seconds} s");
}

#[test]
fn disallowed_types_are_400_and_too_large_is_413() {
    let stack = Stack::shared();
    let user = stack.signup();
    for (name, mime) in [
        ("setup.exe", "application/octet-stream"),
        ("page.html", "text/html"),
        ("photo.png", "image/jpeg"),
    ] {
        let answer = announce(stack, &user.token, name, mime, 100);
        assert_eq!(
            (answer.status, answer.json()["detail"].clone()),
            (400, json!("File type not allowed")),
            "{name}"
        );
    }
    let answer = announce(stack, &user.token, "big.pdf", "application/pdf", 10 * 1024 * 1024 + 1);
    assert_eq!(
        (answer.status, answer.json()["detail"].clone()),
        (413, json!("File too large"))
    );
    let answer = announce(stack, &user.token, "empty.txt", "text/plain", 0);
    assert_eq!(answer.status, 422);
}

#[test]
fn another_users_file_is_forbidden() {
    let stack = Stack::shared();
    let (owner, stranger) = (stack.signup(), stack.signup());
    let answer = announce(stack, &owner.token, "secret.txt", "text/plain", 10);
    let id = answer.json()["file"]["id"].as_str().expect("id").to_owned();
    for (method, path) in [
        ("GET", format!("/files/{id}")),
        ("GET", format!("/files/{id}/download")),
        ("GET", format!("/files/{id}/thumbnail")),
        ("DELETE", format!("/files/{id}")),
    ] {
        let answer = with_token(method, &stack.api(&path), &stranger.token, None);
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.text);
        assert_eq!(answer.json()["detail"], "Not enough permissions");
    }
    let listed = get_auth(&stack.api("/files/"), &stranger.token).json();
    assert_eq!(listed["count"], 0);
    let superuser = get_auth(&stack.api(&format!("/files/{id}")), &stack.superuser_token());
    assert_eq!(superuser.status, 200);
    let deleted = with_token("DELETE", &stack.api(&format!("/files/{id}")), &owner.token, None);
    assert_eq!(deleted.json()["message"], "File deleted successfully");
    assert_eq!(get_auth(&stack.api(&format!("/files/{id}")), &owner.token).status, 404);
}

#[test]
fn a_small_file_uploaded_directly_is_processed_like_a_presigned_one() {
    let stack = Stack::shared();
    let user = stack.signup();
    let png = encoded(image::ImageFormat::Png, 400, 100);
    let (body, content_type) = multipart(
        &[("description".into(), "A banner".into())],
        "banner.png",
        "image/png",
        &png,
    );
    let auth = format!("Bearer {}", user.token);
    let answer = request_raw(
        "POST",
        &stack.api("/files/upload"),
        &[("authorization", &auth), ("content-type", &content_type)],
        body,
    );
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let created: Value = serde_json::from_slice(&answer.body).expect("JSON");
    assert_eq!(created["description"], "A banner");
    let file = settled(stack, &user.token, created["id"].as_str().expect("id"));
    assert_eq!(
        (file["status"].clone(), file["has_thumbnail"].clone()),
        (json!("ready"), json!(true))
    );
    let (_, thumb) = follow(
        stack,
        &user.token,
        &format!("/files/{}/thumbnail", file["id"].as_str().unwrap_or_default()),
    );
    let image = image::load_from_memory(&thumb.body).expect("thumbnail");
    assert_eq!((image.width(), image.height()), (200, 50));
}

#[test]
fn an_empty_direct_upload_is_422_and_a_bidi_filename_reads_as_it_is_stored() {
    let stack = Stack::shared();
    let user = stack.signup();
    let auth = format!("Bearer {}", user.token);
    let post = |filename: &str, bytes: &[u8]| {
        let (body, content_type) = multipart(&[], filename, "text/plain", bytes);
        request_raw(
            "POST",
            &stack.api("/files/upload"),
            &[("authorization", &auth), ("content-type", &content_type)],
            body,
        )
    };
    let empty = post("empty.txt", b"");
    assert_eq!(empty.status, 422, "{}", String::from_utf8_lossy(&empty.body));
    let detail: Value = serde_json::from_slice(&empty.body).expect("JSON");
    assert_eq!(detail["detail"][0]["loc"], json!(["body", "file"]));
    assert_eq!(
        announce(stack, &user.token, "empty.txt", "text/plain", 0).status,
        422,
        "announced empty too"
    );

    // U+202E RIGHT-TO-LEFT OVERRIDE would show "invoice\u{202E}fdp.txt" as "invoicetxt.pdf".
    let spoofed = post("invoice\u{202E}fdp.txt", b"plain text");
    assert_eq!(spoofed.status, 201, "{}", String::from_utf8_lossy(&spoofed.body));
    let created: Value = serde_json::from_slice(&spoofed.body).expect("JSON");
    assert_eq!(created["filename"], "invoicefdp.txt");
    let announced = announce(stack, &user.token, "cv\u{200B}\u{2067}.pdf", "application/pdf", 10);
    assert_eq!(announced.json()["file"]["filename"], "cv.pdf", "{}", announced.text);
}

/// A progressive JPEG followed by `extra` empty scans (each an end-of-band run over every block,
/// a few bytes): what a general decoder walks every block of, once per scan.
fn many_scan_jpeg(extra: usize) -> Vec<u8> {
    let (width, height) = (2000u16, 1500u16);
    let pixels: Vec<u8> = (0..u32::from(width) * u32::from(height))
        .flat_map(|i| [(i % 251) as u8, (i / 2000 % 256) as u8, 90])
        .collect();
    let mut progressive = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
    encoder.set_progressive(true);
    encoder
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    let mut bytes = progressive[..progressive.len() - 2].to_vec();
    for _ in 0..extra {
        // SOS: the first component, coefficients 1–63, refining bit 0; no data.
        bytes.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 63, 0x10]);
    }
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

#[test]
fn a_jpeg_with_thousands_of_scans_is_rejected_within_seconds_and_the_uploads_beside_it_become_ready() {
    let stack = Stack::shared();
    let user = stack.signup();
    let poison = many_scan_jpeg(5000);
    let photo = encoded(image::ImageFormat::Jpeg, 640, 480);
    // Uploaded back to back, as one batch of the files queue would have held them.
    let started = Instant::now();
    let bad = upload(stack, &user, "scans.jpg", "image/jpeg", &poison);
    let good: Vec<Value> = (0..4)
        .map(|i| upload(stack, &user, &format!("photo-{i}.jpg"), "image/jpeg", &photo))
        .collect();
    let rejected = settled(stack, &user.token, bad["file"]["id"].as_str().expect("id"));
    let took = started.elapsed();
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert!(
        rejected["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("more than 64 scans"),
        "{rejected}"
    );
    assert!(took < Duration::from_secs(15), "rejected after {took:?}");
    for created in &good {
        let file = settled(stack, &user.token, created["file"]["id"].as_str().expect("id"));
        assert_eq!(
            (file["status"].as_str(), file["has_thumbnail"].as_bool()),
            (Some("ready"), Some(true)),
            "{file}"
        );
    }
}

#[test]
fn the_same_s3_event_delivered_twice_makes_one_thumbnail_and_one_state_change() {
    let stack = Stack::shared();
    let user = stack.signup();
    let jpeg = encoded(image::ImageFormat::Jpeg, 800, 600);
    let created = upload(stack, &user, "twice.jpg", "image/jpeg", &jpeg);
    let id = created["file"]["id"].as_str().expect("id").to_owned();
    let first = settled(stack, &user.token, &id);
    assert_eq!(first["status"], "ready");
    let key = created["upload"]["fields"]["key"].as_str().expect("key").to_owned();
    let bucket = created["upload"]["url"]
        .as_str()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T10:00:00.000Z", "eventName": "ObjectCreated:Post",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": key, "size": jpeg.len(), "eTag": "x"}}}]})
    .to_string();
    let sent = post_json(&stack.admin("/queues/FilesQueue/batch"), &json!([event, event]), None);
    assert_eq!(sent.json()["sent"], 2, "{}", sent.text);
    let drained = eventually(Duration::from_secs(30), || {
        (stack.queue_depth("FilesQueue") == (0, 0)).then_some(())
    });
    assert!(drained.is_some(), "both deliveries were consumed");
    let again = get_auth(&stack.api(&format!("/files/{id}")), &user.token).json();
    assert_eq!(again, first, "no second state change");
    let thumbnail_key = format!("thumbnails/{}/{id}.png", user.id);
    let versions = get_raw(
        &format!(
            "{}?versions&prefix={}",
            created["upload"]["url"].as_str().unwrap_or_default(),
            thumbnail_key
        ),
        None,
    );
    let listing = String::from_utf8_lossy(&versions.body);
    assert_eq!(
        listing.matches("<Version>").count(),
        1,
        "one thumbnail ever written: {listing}"
    );
}

/// The versions S3 keeps under `prefix`, listed without credentials as the emulator allows.
fn versions_under(created: &Value, prefix: &str) -> usize {
    let url = format!(
        "{}?versions&prefix={prefix}",
        created["upload"]["url"].as_str().unwrap_or_default()
    );
    let listing = get_raw(&url, None);
    let text = String::from_utf8_lossy(&listing.body);
    text.matches("<Version>").count() + text.matches("<DeleteMarker>").count()
}

#[test]
fn a_form_posted_again_changes_nothing_and_leaves_no_version_behind() {
    let stack = Stack::shared();
    let user = stack.signup();
    let first = encoded(image::ImageFormat::Png, 300, 200);
    let created = upload(stack, &user, "once.png", "image/png", &first);
    let id = created["file"]["id"].as_str().expect("id").to_owned();
    let ready = settled(stack, &user.token, &id);
    assert_eq!(ready["status"], "ready");
    let key = created["upload"]["fields"]["key"].as_str().expect("key").to_owned();
    let thumbnail_key = format!("thumbnails/{}/{id}.png", user.id);
    let no_versions_left = || {
        eventually(Duration::from_secs(30), || {
            (stack.queue_depth("FilesQueue") == (0, 0) && versions_under(&created, &key) == 0).then_some(())
        })
        .is_some()
    };
    assert!(no_versions_left(), "the checked upload is deleted by version");

    // The same form again, with other bytes of the same size (an executable, say): S3 takes it
    // (a presigned POST cannot be made single-use), and the thumbnails function deletes that
    // version unread.
    let mut other = b"MZ".to_vec();
    other.resize(first.len(), 0x90);
    let posted = post_form(&created, "once.png", "image/png", &other);
    assert_eq!(posted.status, 204, "{}", String::from_utf8_lossy(&posted.body));
    assert!(
        no_versions_left(),
        "the re-upload is deleted, with no noncurrent version or marker"
    );
    let after = get_auth(&stack.api(&format!("/files/{id}")), &user.token).json();
    assert_eq!(after, ready, "the file is as its first upload made it");
    let (_, download) = follow(stack, &user.token, &format!("/files/{id}/download"));
    assert_eq!(download.status, 200);
    assert_eq!(download.body, first, "the kept bytes are the first upload's");
    assert_eq!(versions_under(&created, &thumbnail_key), 1, "never processed twice");
}

#[test]
fn deleting_a_user_removes_their_files_and_objects() {
    let stack = Stack::shared();
    let user = stack.signup();
    let created = upload(
        stack,
        &user,
        "mine.png",
        "image/png",
        &encoded(image::ImageFormat::Png, 250, 250),
    );
    let id = created["file"]["id"].as_str().expect("id").to_owned();
    assert_eq!(settled(stack, &user.token, &id)["status"], "ready");
    let (download, object) = follow(stack, &user.token, &format!("/files/{id}/download"));
    let (thumbnail, thumb) = follow(stack, &user.token, &format!("/files/{id}/thumbnail"));
    assert_eq!((object.status, thumb.status), (200, 200));

    let guard_key = format!("FILEQUOTA#{}", user.id);
    assert!(
        stored_item(stack, &guard_key, "QUOTA").get("Item").is_some(),
        "an upload keeps the owner's quota guard"
    );

    let deleted = with_token("DELETE", &stack.api("/users/me"), &user.token, None);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let superuser = stack.superuser_token();
    let gone = eventually(Duration::from_secs(30), || {
        let record = get_auth(&stack.api(&format!("/files/{id}")), &superuser).status;
        (record == 404 && gone(get_raw(&download, None).status) && gone(get_raw(&thumbnail, None).status)).then_some(())
    });
    assert!(gone.is_some(), "the user's file record and objects are deleted");
    let guard = eventually(Duration::from_secs(30), || {
        stored_item(stack, &guard_key, "QUOTA")
            .get("Item")
            .is_none()
            .then_some(())
    });
    assert!(guard.is_some(), "the user's quota guard is deleted too");
}

/// A DynamoDB `GetItem` of the table, straight to the emulator (it routes by the credential
/// scope and does not check the signature): what the store keeps, unseen through the API.
fn stored_item(stack: &Stack, pk: &str, sk: &str) -> Value {
    let info = api_tests::get(&stack.admin("/info")).json();
    let env = info["functions"]
        .as_array()
        .and_then(|functions| {
            functions
                .iter()
                .find_map(|f| f["env"].get("TABLE_NAME").map(|_| &f["env"]))
        })
        .expect("a function with TABLE_NAME");
    let region = env["AWS_REGION"].as_str().expect("AWS_REGION");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261127/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
    );
    let body = json!({
        "TableName": env["TABLE_NAME"],
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "ConsistentRead": true,
    });
    let answer = api_tests::request(
        "POST",
        info["emulator"].as_str().expect("emulator"),
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ("authorization", &authorization),
        ],
        Some(&body.to_string()),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

#[test]
fn files_are_listed_newest_first_with_cursors() {
    let stack = Stack::shared();
    let user = stack.signup();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let answer = announce(stack, &user.token, &format!("n{i}.txt"), "text/plain", 5);
            answer.json()["file"]["id"].as_str().expect("id").to_owned()
        })
        .collect();
    let first = get_auth(&stack.api("/files/?limit=2"), &user.token).json();
    assert_eq!(first["count"], 3);
    let page: Vec<_> = first["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["id"].clone())
        .collect();
    assert_eq!(page, vec![json!(ids[2]), json!(ids[1])]);
    let cursor = first["next_cursor"].as_str().expect("next_cursor");
    let next = get_auth(&stack.api(&format!("/files/?limit=2&cursor={cursor}")), &user.token).json();
    assert_eq!(next["data"][0]["id"], ids[0].as_str());
    assert_eq!(next["next_cursor"], Value::Null);
}

#[test]
fn the_owner_hears_on_their_websockets_that_an_upload_is_ready_or_rejected() {
    let stack = Stack::shared();
    let (owner, stranger) = (stack.signup(), stack.signup());
    let connect = |user: &TestUser| {
        stack
            .connect(Some(&user.token))
            .unwrap_or_else(|status| panic!("handshake refused with {status}"))
    };
    let (mut owner_socket, mut stranger_socket) = (connect(&owner), connect(&stranger));

    let image = upload(
        stack,
        &owner,
        "hello.png",
        "image/png",
        &encoded(image::ImageFormat::Png, 64, 48),
    );
    let id = image["file"]["id"].as_str().unwrap().to_owned();
    let frame = owner_socket.expect("notification");
    assert_eq!(frame["event"], "file.ready", "{frame}");
    assert_eq!(
        (frame["data"]["id"].as_str(), frame["data"]["status"].as_str()),
        (Some(id.as_str()), Some("ready"))
    );
    assert_eq!(frame["data"]["has_thumbnail"], true);
    assert!(frame["timestamp"].is_string());

    let bogus = upload(stack, &owner, "fake.png", "image/png", b"MZ\x90\0 not a png at all");
    let frame = owner_socket.expect("notification");
    assert_eq!(frame["event"], "file.rejected", "{frame}");
    assert_eq!(frame["data"]["id"], bogus["file"]["id"]);
    assert!(frame["data"]["reason"].is_string());

    let heard = stranger_socket.drain(Duration::from_secs(1));
    assert!(heard.iter().all(|f| f["type"] != "notification"), "{heard:?}");
}

/// Conditional GET of a file's record: its tag changes as the file is processed.
#[test]
fn a_current_copy_of_a_file_record_is_not_sent_again() {
    let stack = Stack::shared();
    let user = stack.signup();
    let created = announce(stack, &user.token, "notes.txt", "text/plain", 5).json();
    let url = stack.api(&format!(
        "/files/{}",
        created["file"]["id"].as_str().unwrap_or_default()
    ));
    let auth = format!("Bearer {}", user.token);
    let pending = api_tests::request("GET", &url, &[("authorization", &auth)], None);
    let tag = pending.header("etag").expect("an ETag").to_owned();
    let current = api_tests::request("GET", &url, &[("authorization", &auth), ("if-none-match", &tag)], None);
    assert_eq!((current.status, current.text.as_str()), (304, ""));

    let posted = post_form(&created, "notes.txt", "text/plain", b"hello");
    assert_eq!(posted.status, 204);
    let id = created["file"]["id"].as_str().unwrap_or_default();
    assert_eq!(settled(stack, &user.token, id)["status"], "ready");
    let changed = api_tests::request("GET", &url, &[("authorization", &auth), ("if-none-match", &tag)], None);
    assert_eq!(changed.status, 200, "a ready file is not the pending one");
    assert_eq!(changed.json()["status"], "ready");
}
