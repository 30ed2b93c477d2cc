//! Files: uploads a user owns. The allowed types, the client's filename made safe, the size and
//! quota rules, where each object lives in the bucket, the type check of the stored bytes, and
//! the one place a file reaches its final state.

use super::clock::{now_micros, timestamp};
use super::values::Description;
use super::{Invalid, User};
use crate::config::{ConfigError, Env};
use time::OffsetDateTime;
use uuid::Uuid;

/// The types a user may upload, each with its MIME type and extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Jpeg,
    Png,
    Gif,
    Webp,
    Pdf,
    Text,
    Docx,
}

impl FileType {
    pub const ALL: [Self; 7] = [
        Self::Jpeg,
        Self::Png,
        Self::Gif,
        Self::Webp,
        Self::Pdf,
        Self::Text,
        Self::Docx,
    ];

    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
            Self::Text => "text/plain",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        }
    }

    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Self::Jpeg => &["jpg", "jpeg"],
            Self::Png => &["png"],
            Self::Gif => &["gif"],
            Self::Webp => &["webp"],
            Self::Pdf => &["pdf"],
            Self::Text => &["txt"],
            Self::Docx => &["docx"],
        }
    }

    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        Self::ALL.into_iter().find(|t| t.mime().eq_ignore_ascii_case(essence))
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        let extension = extension.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|t| t.extensions().contains(&extension.as_str()))
    }

    /// Whether the processing function makes a thumbnail of it.
    pub fn is_image(self) -> bool {
        matches!(self, Self::Jpeg | Self::Png | Self::Gif | Self::Webp)
    }

    /// The type the bytes really are, from their magic numbers; text is UTF-8 without control
    /// characters other than whitespace. `None`: none of the allowed types.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if starts(b"%PDF-") {
            Some(Self::Pdf)
        } else if starts(b"PK\x03\x04") {
            // A .docx is a zip whose entries include the `word/` part of the document.
            contains(bytes, b"word/").then_some(Self::Docx)
        } else if is_plain_text(bytes) {
            Some(Self::Text)
        } else {
            None
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_plain_text(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).is_ok_and(|text| {
        text.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0C'))
    })
}

/// Unicode's format characters (general category Cf, Unicode 15.1): the bidi embeddings,
/// overrides and isolates, zero-width characters, the soft hyphen, tags. Invisible in a name, they
/// change how it reads: `invoice\u{202E}fdp.txt` shows as "invoicetxt.pdf".
fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The client's filename made safe to store and to send back in `Content-Disposition`: the last
/// path segment only, no control or format (bidi, zero-width) characters or characters that mean something to a shell or a
/// file system, no leading dots, at most 255 characters, with an allowed extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filename(String);

impl Filename {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .filter(|c| !c.is_control() && !is_format(*c))
            .map(|c| if "<>:\"|?*".contains(c) { '_' } else { c })
            .collect();
        let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
        if cleaned.is_empty() {
            return Err(Invalid::new("value_error", "Value error, the filename is empty"));
        }
        if cleaned.chars().count() > Self::MAX_LEN {
            return Err(Invalid::too_long(Self::MAX_LEN));
        }
        Ok(Self(cleaned))
    }

    /// A stored name, as it was parsed before.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The allowed type its extension names, if any.
    pub fn file_type(&self) -> Option<FileType> {
        let (_, extension) = self.0.rsplit_once('.')?;
        FileType::from_extension(extension)
    }

    /// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266).
    pub fn content_disposition(&self) -> String {
        let fallback: String = self
            .0
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded: String = self
            .0
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    }
}

/// Where a file is in its life: `pending` until its bytes arrive, `processing` while they are
/// checked, then `ready` or `rejected` for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Pending,
    Processing,
    Ready,
    Rejected,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Processing, Self::Ready, Self::Rejected]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Ready | Self::Rejected)
    }
}

/// The size and quota limits of uploads (template parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file, in bytes.
    pub max_size: u64,
    /// Files one user may keep (pending ones included).
    pub quota_files: u64,
    /// Bytes one user may keep.
    pub quota_bytes: u64,
}

impl UploadLimits {
    pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;

    /// `FILES_MAX_SIZE` (bytes, default 10 MiB), `FILES_QUOTA_COUNT` (files a user may keep,
    /// default 100) and `FILES_QUOTA_BYTES` (default 1 GiB).
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let number = |name: &'static str, default: u64| env.positive(name, default);
        Ok(Self {
            max_size: number("FILES_MAX_SIZE", Self::DEFAULT_MAX_SIZE)?,
            quota_files: number("FILES_QUOTA_COUNT", 100)?,
            quota_bytes: number("FILES_QUOTA_BYTES", 1024 * 1024 * 1024)?,
        })
    }
}

/// What one user keeps now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

impl Usage {
    /// Whether one more file of `size` bytes fits the quota.
    pub fn admits(&self, limits: &UploadLimits, size: u64) -> bool {
        self.files < limits.quota_files && self.bytes.saturating_add(size) <= limits.quota_bytes
    }

    pub fn add(&mut self, file: &File) {
        self.files += 1;
        self.bytes += file.counted_bytes();
    }
}

/// Why an upload is refused before any byte is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefused {
    #[error("File type not allowed")]
    TypeNotAllowed,
    #[error("File too large")]
    TooLarge,
    #[error("Upload quota exceeded")]
    QuotaExceeded,
}

/// An upload a client announces: the name, declared type and exact size.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub filename: Filename,
    pub content_type: String,
    pub size: u64,
    pub description: Option<Description>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub filename: Filename,
    pub file_type: FileType,
    pub size: u64,
    pub description: Option<Description>,
    pub status: FileStatus,
    pub reason: Option<String>,
    pub has_thumbnail: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The version of the upload's object being checked: the first delivery to move the file to
    /// `processing` claims its version. An upload form is good for one object, so any other
    /// version of the same key (the form POSTed again) is deleted unread. `None` before a claim,
    /// and for events that name no version.
    pub upload_version: Option<String>,
}

/// Where files are listed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileScope {
    /// Every file (a superuser's view).
    All,
    Owner(Uuid),
}

impl FileScope {
    pub fn for_caller(caller: &User) -> Self {
        if caller.role.is_superuser() {
            Self::All
        } else {
            Self::Owner(caller.id)
        }
    }
}

/// The objects of one file in the bucket. Keys are the server's: owner and file id, never the
/// client's filename.
pub mod objects {
    use uuid::Uuid;

    /// Where uploads land (the presigned POST's key). S3 notifies the processing function of
    /// every object created here; a lifecycle rule expires whatever stays here (stray uploads).
    pub const UPLOADS_PREFIX: &str = "uploads/";

    pub fn upload(owner: Uuid, id: Uuid) -> String {
        format!("{UPLOADS_PREFIX}{owner}/{id}")
    }

    /// Where an accepted file is kept and downloaded from.
    pub fn stored(owner: Uuid, id: Uuid) -> String {
        format!("files/{owner}/{id}")
    }

    pub fn thumbnail(owner: Uuid, id: Uuid) -> String {
        format!("thumbnails/{owner}/{id}.png")
    }

    /// Every object a file may have.
    pub fn all(owner: Uuid, id: Uuid) -> Vec<String> {
        vec![upload(owner, id), stored(owner, id), thumbnail(owner, id)]
    }

    /// The owner and file of an upload key (`uploads/<owner>/<id>`).
    pub fn parse_upload(key: &str) -> Option<(Uuid, Uuid)> {
        let rest = key.strip_prefix(UPLOADS_PREFIX)?;
        let (owner, id) = rest.split_once('/')?;
        Some((Uuid::parse_str(owner).ok()?, Uuid::parse_str(id).ok()?))
    }
}

impl File {
    /// A pending file for `upload`, if its type is allowed (the extension and the declared MIME
    /// type name the same allowed type) and its size within the limit.
    pub fn announce(owner_id: Uuid, upload: NewUpload, limits: &UploadLimits) -> Result<Self, UploadRefused> {
        let file_type = upload.filename.file_type().ok_or(UploadRefused::TypeNotAllowed)?;
        if FileType::from_mime(&upload.content_type) != Some(file_type) {
            return Err(UploadRefused::TypeNotAllowed);
        }
        if upload.size > limits.max_size {
            return Err(UploadRefused::TooLarge);
        }
        let now = now_micros();
        Ok(Self {
            id: Uuid::new_v4(),
            owner_id,
            filename: upload.filename,
            file_type,
            size: upload.size,
            description: upload.description,
            status: FileStatus::Pending,
            reason: None,
            has_thumbnail: false,
            created_at: now,
            updated_at: now,
            upload_version: None,
        })
    }

    /// `<created_at>#<id>`: the order of listings (newest first) and a cursor's position.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", timestamp(self.created_at), self.id)
    }

    /// Owners read their files; reading anyone's is a superuser's privilege.
    pub fn readable_by(&self, caller: &User) -> bool {
        self.owner_id == caller.id || caller.role.is_superuser()
    }

    /// Bytes the file counts against its owner's quota: none once rejected (its object is gone).
    pub fn counted_bytes(&self) -> u64 {
        if self.status == FileStatus::Rejected {
            0
        } else {
            self.size
        }
    }

    pub fn upload_key(&self) -> String {
        objects::upload(self.owner_id, self.id)
    }

    pub fn stored_key(&self) -> String {
        objects::stored(self.owner_id, self.id)
    }

    pub fn thumbnail_key(&self) -> String {
        objects::thumbnail(self.owner_id, self.id)
    }

    /// The file as it is while its bytes are checked: those of the upload's `version`.
    pub fn processing(&self, version: Option<&str>) -> Self {
        Self {
            upload_version: version.map(str::to_owned),
            ..self.with_status(FileStatus::Processing, None, false)
        }
    }

    /// Whether `version` of the upload's object is another upload than the one this file checks
    /// (or checked): the form POSTed again. Unknown versions on either side are not told apart.
    pub fn is_reupload(&self, version: Option<&str>) -> bool {
        matches!((self.upload_version.as_deref(), version), (Some(claimed), Some(v)) if claimed != v)
    }

    /// The file in its final state for `outcome`.
    pub fn settled(&self, outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Ready { thumbnail } => self.with_status(FileStatus::Ready, None, *thumbnail),
            Outcome::Rejected(reason) => self.with_status(FileStatus::Rejected, Some(reason.clone()), false),
        }
    }

    fn with_status(&self, status: FileStatus, reason: Option<String>, has_thumbnail: bool) -> Self {
        Self {
            status,
            reason,
            has_thumbnail,
            updated_at: now_micros(),
            ..self.clone()
        }
    }
}

/// How checking a file's bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ready { thumbnail: bool },
    Rejected(String),
}

/// The check of an upload's stored bytes against what was announced: the exact size, and the
/// type read from the bytes themselves.
pub fn check_content(file: &File, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() as u64 != file.size {
        return Err(format!(
            "The upload is {} bytes, {} were announced",
            bytes.len(),
            file.size
        ));
    }
    match FileType::detect(bytes) {
        Some(found) if found == file.file_type => Ok(()),
        Some(found) => Err(format!(
            "The content is {}, not the declared {}",
            found.mime(),
            file.file_type.mime()
        )),
        None => Err(format!(
            "The content is not {} (nor any allowed type)",
            file.file_type.mime()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> UploadLimits {
        UploadLimits {
            max_size: 100,
            quota_files: 2,
            quota_bytes: 150,
        }
    }

    fn upload(name: &str, mime: &str, size: u64) -> NewUpload {
        NewUpload {
            filename: Filename::parse(name).unwrap(),
            content_type: mime.into(),
            size,
            description: None,
        }
    }

    #[test]
    fn filenames_keep_only_their_last_segment_and_safe_characters() {
        assert_eq!(Filename::parse("../../etc/passwd.txt").unwrap().as_str(), "passwd.txt");
        assert_eq!(Filename::parse("C:\\Users\\me\\cv.pdf").unwrap().as_str(), "cv.pdf");
        assert_eq!(Filename::parse("a\u{0}b<c>.png").unwrap().as_str(), "ab_c_.png");
        assert_eq!(Filename::parse("  .hidden.txt ").unwrap().as_str(), "hidden.txt");
        assert!(Filename::parse("../").is_err());
        // Bidi overrides and invisible characters are dropped: the name reads as it is.
        let spoofed = Filename::parse("invoice\u{202E}fdp.txt").unwrap();
        assert_eq!(spoofed.as_str(), "invoicefdp.txt");
        assert_eq!(spoofed.file_type(), Some(FileType::Text));
        assert_eq!(
            Filename::parse("a\u{200B}\u{2066}b\u{FEFF}\u{E0041}.pdf")
                .unwrap()
                .as_str(),
            "ab.pdf"
        );
        assert!(Filename::parse("\u{202E}\u{200F}").is_err());
        assert!(Filename::parse(&format!("{}.txt", "a".repeat(300))).is_err());
    }

    #[test]
    fn content_disposition_has_an_ascii_fallback_and_the_utf8_name() {
        let name = Filename::parse("Résumé \"final\".pdf").unwrap();
        assert_eq!(
            name.content_disposition(),
            "attachment; filename=\"R_sum_ _final_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20_final_.pdf"
        );
    }

    #[test]
    fn the_extension_and_the_declared_type_must_agree_and_be_allowed() {
        let owner = Uuid::new_v4();
        assert!(File::announce(owner, upload("a.JPG", "image/jpeg", 10), &limits()).is_ok());
        assert!(File::announce(owner, upload("a.jpeg", "image/jpeg", 10), &limits()).is_ok());
        for (name, mime) in [
            ("a.exe", "application/octet-stream"),
            ("a.png", "image/jpeg"),
            ("a.svg", "image/svg+xml"),
            ("noextension", "text/plain"),
        ] {
            assert_eq!(
                File::announce(owner, upload(name, mime, 10), &limits()),
                Err(UploadRefused::TypeNotAllowed),
                "{name}"
            );
        }
        assert_eq!(
            File::announce(owner, upload("a.txt", "text/plain", 101), &limits()),
            Err(UploadRefused::TooLarge)
        );
    }

    #[test]
    fn the_quota_counts_files_and_bytes() {
        let used = Usage { files: 1, bytes: 100 };
        assert!(used.admits(&limits(), 50));
        assert!(!used.admits(&limits(), 51));
        assert!(!Usage { files: 2, bytes: 0 }.admits(&limits(), 1));
    }

    #[test]
    fn types_are_detected_from_magic_numbers() {
        assert_eq!(FileType::detect(b"\xFF\xD8\xFF\xE0rest"), Some(FileType::Jpeg));
        assert_eq!(FileType::detect(b"\x89PNG\r\n\x1a\nrest"), Some(FileType::Png));
        assert_eq!(FileType::detect(b"GIF89a..."), Some(FileType::Gif));
        assert_eq!(FileType::detect(b"RIFF\0\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(FileType::detect(b"%PDF-1.7\n"), Some(FileType::Pdf));
        assert_eq!(
            FileType::detect(b"PK\x03\x04....word/document.xml"),
            Some(FileType::Docx)
        );
        assert_eq!(FileType::detect(b"PK\x03\x04....other.xml"), None);
        assert_eq!(FileType::detect("héllo\nworld\t!".as_bytes()), Some(FileType::Text));
        assert_eq!(FileType::detect(b"\x7fELF\x02\x01\x01\0\0\0"), None);
        assert_eq!(FileType::detect(b"MZ\x90\0\x03\0\0\0"), None);
    }

    #[test]
    fn stored_bytes_must_match_the_announced_type_and_size() {
        let owner = Uuid::new_v4();
        let png = File::announce(owner, upload("a.png", "image/png", 8), &limits()).unwrap();
        assert!(check_content(&png, b"\x89PNG\r\n\x1a\n").is_ok());
        assert!(check_content(&png, b"\x7fELF\x02\x01\x01\0")
            .unwrap_err()
            .contains("not image/png"));
        assert!(check_content(&png, b"\x89PNG").unwrap_err().contains("4 bytes"));
    }

    #[test]
    fn upload_keys_name_owner_and_file() {
        let (owner, id) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(objects::parse_upload(&objects::upload(owner, id)), Some((owner, id)));
        assert_eq!(objects::parse_upload(&objects::stored(owner, id)), None);
        assert_eq!(objects::parse_upload("uploads/x/y"), None);
    }
}
