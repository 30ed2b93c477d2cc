//! `multipart/form-data` (RFC 7578) of a direct upload, read from a body already in memory.
//! Written here rather than taken from a crate: the stream-oriented parsers pull in an async
//! stack and charset tables that cost this function more zip size than its whole S3 client,
//! and a body of at most a few MiB in one buffer needs none of that.

/// One part: its form name, the filename and type a file part carries, and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let offset = haystack[at..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        at += offset;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// A header parameter such as `name="file"`, quotes and `\` escapes removed.
fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            value.replace("\\\"", "\"").replace("\\\\", "\\")
        })
    })
}

/// Every part of `body`, or `None` when it is not a well-formed multipart body.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Some(parts);
        }
        // Transport padding, then the line break that ends the delimiter line.
        while body.get(at).is_some_and(|b| *b == b' ' || *b == b'\t') {
            at += 1;
        }
        if !body[at..].starts_with(b"\r\n") {
            return None;
        }
        // From the line break that ends the delimiter line: a part may have no headers.
        let headers_end = find(body, b"\r\n\r\n", at)?;
        // Header bytes that are not UTF-8 (a client's own field names) make a lossy name, not a
        // malformed body: only `file` and `description` are read, and those names are ASCII.
        let headers = String::from_utf8_lossy(&body[(at + 2).min(headers_end)..headers_end]);
        let content_start = headers_end + 4;
        let content_end = find(body, next_delimiter.as_bytes(), content_start)?;
        let (mut name, mut filename, mut content_type) = (None, None, None);
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = param(value, "name");
                filename = param(value, "filename");
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(Part {
            name: name?,
            filename,
            content_type,
            body: &body[content_start..content_end],
        });
        at = content_end + next_delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("text/plain; boundary=abc"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parts_are_read_with_their_names_filenames_types_and_bytes() {
        let body = b"preamble\r\n--XX\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nA cat\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c\\\"at.png\"\r\nContent-Type: image/png\r\n\r\n\
\x89PNG\r\n--X not the end\r\n--XX--\r\nepilogue";
        let parts = parts(body, "XX").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].body), ("description", &b"A cat"[..]));
        assert_eq!(parts[1].filename.as_deref(), Some("c\"at.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].body, b"\x89PNG\r\n--X not the end");
    }

    #[test]
    fn parts_with_empty_or_non_utf8_names_are_read_not_refused() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"\"\r\n\r\ntrue\r\n\
--XX\r\nContent-Disposition: form-data; name=\"\xff\xfe\x1c\"\r\n\r\n9\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhi\r\n--XX--\r\n";
        let parts = parts(body, "XX").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "");
        assert_eq!((parts[2].name.as_str(), parts[2].body), ("file", &b"hi"[..]));
    }

    #[test]
    fn malformed_bodies_are_none() {
        assert_eq!(parts(b"no delimiter at all", "XX"), None);
        assert_eq!(
            parts(
                b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
                "XX"
            ),
            None
        );
        assert_eq!(
            parts(b"--XX\r\nContent-Type: text/plain\r\n\r\nno name\r\n--XX--", "XX"),
            None
        );
    }
}
