//! The uploads bucket: objects by key, presigned downloads (the SDK's presigning), and presigned
//! POST upload forms — which the SDK does not make, so the POST policy is signed here (SigV4,
//! as S3's "Browser-based uploads using POST" describes).

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use domain::ports::{ObjectError, ObjectStore, Probe, UploadForm, UploadTicket};
use domain::secrets::hex;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// What a copy source keeps as it is: the key's `/` and the unreserved characters.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug)]
pub struct Bucket {
    client: crate::aws::Lazy<aws_sdk_s3::Client>,
    aws: crate::aws::AwsConfig,
    name: String,
}

impl Bucket {
    /// The client is built on first use.
    pub fn new(aws: &crate::aws::AwsConfig, name: impl Into<String>) -> Self {
        Self {
            client: crate::aws::Lazy::on_first_use(aws),
            aws: aws.clone(),
            name: name.into(),
        }
    }

    fn client(&self) -> &aws_sdk_s3::Client {
        self.client.get_with(crate::aws::AwsConfig::s3)
    }

    /// Where a browser POSTs: the bucket's virtual-host URL on AWS, path-style on an emulator.
    fn form_url(&self) -> String {
        match self.aws.s3_endpoint() {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.name),
            None => format!("https://{}.s3.{}.amazonaws.com", self.name, self.aws.region()),
        }
    }
}

/// Error codes of S3 that mean "try again later".
const RETRYABLE_CODES: &[&str] = &["SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"];

fn classify<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>) -> ObjectError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = crate::aws::SdkFailure::of(&err, RETRYABLE_CODES);
    if failure.retryable {
        ObjectError::Unavailable(failure.cause)
    } else {
        ObjectError::Refused(failure.cause)
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // An HMAC accepts keys of any length.
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The credentials and place a POST policy is signed for.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    pub now: OffsetDateTime,
}

/// The form fields of a presigned POST of `ticket` to `bucket`: the policy document (base64)
/// pins the bucket, the exact key, the exact size (`content-length-range`), the content type and
/// the expiry, and is signed with SigV4.
pub fn sign_post_policy(bucket: &str, ticket: &UploadTicket<'_>, signer: &Signer<'_>) -> Vec<(String, String)> {
    let date = format!(
        "{:04}{:02}{:02}",
        signer.now.year(),
        u8::from(signer.now.month()),
        signer.now.day()
    );
    let amz_date = format!(
        "{date}T{:02}{:02}{:02}Z",
        signer.now.hour(),
        signer.now.minute(),
        signer.now.second()
    );
    let credential = format!("{}/{date}/{}/s3/aws4_request", signer.access_key_id, signer.region);
    let expires = signer.now + ticket.expires_in;
    let expiration = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        expires.year(),
        u8::from(expires.month()),
        expires.day(),
        expires.hour(),
        expires.minute(),
        expires.second()
    );
    let mut fields = vec![
        ("key".to_owned(), ticket.key.to_owned()),
        ("Content-Type".to_owned(), ticket.content_type.to_owned()),
        ("x-amz-algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        ("x-amz-credential".to_owned(), credential.clone()),
        ("x-amz-date".to_owned(), amz_date.clone()),
    ];
    let mut conditions = vec![
        json!({ "bucket": bucket }),
        json!(["eq", "$key", ticket.key]),
        json!(["content-length-range", ticket.size, ticket.size]),
        json!(["eq", "$Content-Type", ticket.content_type]),
        json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }),
        json!({ "x-amz-credential": credential }),
        json!({ "x-amz-date": amz_date }),
    ];
    if let Some(token) = signer.session_token {
        fields.push(("x-amz-security-token".to_owned(), token.to_owned()));
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    let policy = json!({ "expiration": expiration, "conditions": Value::Array(conditions) });
    let policy = STANDARD.encode(policy.to_string());
    let key = [date.as_str(), signer.region, "s3", "aws4_request"]
        .iter()
        .fold(format!("AWS4{}", signer.secret_access_key).into_bytes(), |key, part| {
            hmac(&key, part.as_bytes())
        });
    let signature = hex(&hmac(&key, policy.as_bytes()));
    fields.push(("policy".to_owned(), policy));
    fields.push(("x-amz-signature".to_owned(), signature));
    fields
}

impl ObjectStore for Bucket {
    async fn upload_form(&self, ticket: &UploadTicket<'_>) -> Result<UploadForm, ObjectError> {
        let provider = self
            .aws
            .credentials()
            .ok_or_else(|| ObjectError::Refused("no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| ObjectError::Unavailable(format!("no credentials: {e}")))?;
        let region = self.aws.region();
        let signer = Signer {
            access_key_id: credentials.access_key_id(),
            secret_access_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            region: &region,
            now: OffsetDateTime::now_utc(),
        };
        Ok(UploadForm {
            url: self.form_url(),
            fields: sign_post_policy(&self.name, ticket, &signer),
        })
    }

    async fn download_link(
        &self,
        key: &str,
        content_type: &str,
        disposition: Option<&str>,
        expires_in: Duration,
    ) -> Result<String, ObjectError> {
        let config = PresigningConfig::builder()
            .start_time(SystemTime::now())
            .expires_in(expires_in)
            .build()
            .map_err(|e| ObjectError::Refused(e.to_string()))?;
        let request = self
            .client()
            .get_object()
            .bucket(&self.name)
            .key(key)
            .response_content_type(content_type)
            .set_response_content_disposition(disposition.map(str::to_owned))
            .presigned(config)
            .await
            .map_err(classify)?;
        Ok(request.uri().to_owned())
    }

    async fn put_object(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        self.client()
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn get_object(
        &self,
        key: &str,
        version: Option<&str>,
        max_bytes: u64,
    ) -> Result<Option<Vec<u8>>, ObjectError> {
        let result = self
            .client()
            .get_object()
            .bucket(&self.name)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .range(format!("bytes=0-{max_bytes}"))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            // A version that is gone (deleted by an earlier delivery) answers `NoSuchVersion`.
            Err(err) if err.code() == Some("NoSuchVersion") => return Ok(None),
            Err(err) => return Err(classify(err)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ObjectError::Unavailable(format!("reading {key}: {e}")))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// The copy names the version it read, so bytes written to the key since (the form POSTed
    /// again) are never what is copied.
    async fn copy_object(&self, from: &str, version: Option<&str>, to: &str) -> Result<(), ObjectError> {
        let source = utf8_percent_encode(&format!("{}/{from}", self.name), COPY_SOURCE).to_string();
        let source = match version {
            Some(version) => format!("{source}?versionId={}", utf8_percent_encode(version, COPY_SOURCE)),
            None => source,
        };
        self.client()
            .copy_object()
            .bucket(&self.name)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn delete_version(&self, key: &str, version: &str) -> Result<(), ObjectError> {
        self.client()
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .version_id(version)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn delete_objects(&self, keys: &[String]) -> Result<(), ObjectError> {
        for key in keys {
            self.client()
                .delete_object()
                .bucket(&self.name)
                .key(key)
                .send()
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

impl Probe for Bucket {
    fn service(&self) -> &'static str {
        "bucket"
    }

    async fn probe(&self) -> Result<(), String> {
        self.client()
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy pins bucket, key, size, type and expiry; the signature is the HMAC of the
    /// base64 policy under the SigV4 signing key of the day, region and service.
    #[test]
    fn the_policy_pins_key_size_type_and_expiry_and_is_signed() {
        let now = time::macros::datetime!(2026-11-27 10:00:00 UTC);
        let ticket = UploadTicket {
            key: "uploads/o/f",
            content_type: "image/png",
            size: 1234,
            expires_in: Duration::from_secs(900),
        };
        let signer = Signer {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: Some("token"),
            region: "eu-west-1",
            now,
        };
        let fields: std::collections::HashMap<_, _> = sign_post_policy("b", &ticket, &signer).into_iter().collect();
        let policy: Value = serde_json::from_slice(&STANDARD.decode(&fields["policy"]).unwrap()).unwrap();
        assert_eq!(policy["expiration"], "2026-11-27T10:15:00.000Z");
        let conditions = policy["conditions"].as_array().unwrap();
        for expected in [
            json!({"bucket": "b"}),
            json!(["eq", "$key", "uploads/o/f"]),
            json!(["content-length-range", 1234, 1234]),
            json!(["eq", "$Content-Type", "image/png"]),
            json!({"x-amz-credential": "AKIDEXAMPLE/20261127/eu-west-1/s3/aws4_request"}),
            json!({"x-amz-date": "20261127T100000Z"}),
            json!({"x-amz-security-token": "token"}),
        ] {
            assert!(conditions.contains(&expected), "{expected}");
        }
        let key = ["20261127", "eu-west-1", "s3", "aws4_request"]
            .iter()
            .fold(b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_vec(), |k, p| {
                hmac(&k, p.as_bytes())
            });
        assert_eq!(fields["x-amz-signature"], hex(&hmac(&key, fields["policy"].as_bytes())));
        assert_eq!(fields["x-amz-security-token"], "token");
    }

    /// The signing-key derivation against AWS's published SigV4 example (the "Deriving the
    /// signing key" example of the IAM documentation).
    #[test]
    fn the_signing_key_derivation_matches_the_aws_example() {
        let key = ["20120215", "us-east-1", "iam", "aws4_request"]
            .iter()
            .fold(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_vec(), |k, p| {
                hmac(&k, p.as_bytes())
            });
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }
}
