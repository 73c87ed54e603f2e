//! POST Object: HTML form uploads with a signed policy document.
//!
//! s3s parses the form (its fields are read whole, the file part is streamed, with its
//! length known from `Content-Length`), checks the SigV4 (or SigV2) signature of the
//! policy with the signer's secret key, the policy's expiration and every condition
//! (`eq`, `starts-with`, `content-length-range`, `{"field": "value"}`), and that every
//! form field is named by a condition. What is left here is what a PutObject does: the
//! signer must be allowed `s3:PutObject` on the key, and the file goes through the same
//! write path ([`body::store_body`] around the model's `store_object`). s3s answers
//! `success_action_status` and `success_action_redirect` itself.
//!
//! s3s words some refusals its own way; [`Refusal`] puts AWS's in their place on the
//! way out (`server.rs`), as browser code and SDK tests match on them. And it hands the
//! handler only the form fields it models: [`tap`] keeps the form's bytes before the
//! file for the `tagging` field.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use fastgate_model::ids::now_ms;
use fastgate_model::records::ObjectRecord;
use http_body::{Frame, SizeHint};
use s3s::dto::{PostObjectInput, PostObjectOutput, Tagging};
use s3s::{S3Error, S3Request, S3Response, S3Result, StdError};

use super::access::{Action, RequestContext, Resource};
use super::checksums::{Declared, Fields};
use super::error::{ApiError, StorageResultExt as _};
use super::{Gateway, acl, body, check_key, headers, lock, put, tagging, unsupported};
use crate::metrics::Metrics;

/// The digests a form declares for its file: `Content-MD5` and `x-amz-checksum-*` are
/// form fields, checked as the same headers of a PutObject are.
fn declared(input: &PostObjectInput) -> S3Result<Declared> {
    let mut h = http::HeaderMap::new();
    let fields = [
        ("content-md5", input.content_md5.as_deref()),
        ("x-amz-checksum-crc32", input.checksum_crc32.as_deref()),
        ("x-amz-checksum-crc32c", input.checksum_crc32c.as_deref()),
        ("x-amz-checksum-crc64nvme", input.checksum_crc64nvme.as_deref()),
        ("x-amz-checksum-sha1", input.checksum_sha1.as_deref()),
        ("x-amz-checksum-sha256", input.checksum_sha256.as_deref()),
        (
            "x-amz-sdk-checksum-algorithm",
            input.checksum_algorithm.as_ref().map(|a| a.as_str()),
        ),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            let v =
                http::HeaderValue::from_str(v).map_err(|_| ApiError::InvalidArgument("A checksum field is invalid"))?;
            h.insert(name, v);
        }
    }
    Declared::from_headers(&h)
}

/// The form's `tagging` field (a `<Tagging>` document, as S3 takes it), from the form
/// bytes [`tap`] kept: s3s hands the handler only the fields it models, and this one is
/// not among them. s3s has checked it against the policy like every other field.
fn form_tags(
    input: &PostObjectInput,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> S3Result<Vec<(String, String)>> {
    let field = extensions
        .get::<FormPrefix>()
        .zip(boundary(headers))
        .and_then(|(prefix, boundary)| prefix.field(&boundary, "tagging"));
    let Some(xml) = field else {
        return headers::parse_tagging(input.tagging.as_deref());
    };
    let mut de = s3s::xml::Deserializer::new(xml.as_bytes());
    let doc = <Tagging as s3s::xml::Deserialize>::deserialize(&mut de).map_err(|_| ApiError::MalformedXml)?;
    tagging::tag_list(doc.tag_set)
}

/// At most this much of a form is kept for [`form_tags`]: its fields come before the
/// file, and a form whose fields are larger is not one a browser builds.
const PREFIX_MAX: usize = 1 << 20;

/// The bytes of a form upload up to its file part, kept as they pass to s3s.
#[derive(Clone, Default)]
pub struct FormPrefix(Arc<Mutex<Prefix>>);

#[derive(Default)]
struct Prefix {
    bytes: Vec<u8>,
    done: bool,
}

impl FormPrefix {
    fn record(&self, data: &[u8]) {
        let mut p = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if p.done {
            return;
        }
        let from = p.bytes.len().saturating_sub(FILE_PART.len());
        let room = PREFIX_MAX.saturating_sub(p.bytes.len());
        p.bytes
            .extend_from_slice(data.get(..data.len().min(room)).unwrap_or_default());
        if room <= data.len() || find(p.bytes.get(from..).unwrap_or_default(), FILE_PART).is_some() {
            p.done = true;
        }
    }

    /// The value of the form field `name` (case-insensitive, as S3 reads field names).
    fn field(&self, boundary: &str, name: &str) -> Option<String> {
        let p = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let delimiter = format!("--{boundary}");
        let mut rest: &[u8] = &p.bytes;
        while let Some(at) = find(rest, delimiter.as_bytes()) {
            rest = rest.get(at + delimiter.len()..)?;
            let part = rest.strip_prefix(b"\r\n")?;
            let head_end = find(part, b"\r\n\r\n")?;
            let head = String::from_utf8_lossy(part.get(..head_end)?).to_ascii_lowercase();
            let named = head.lines().any(|l| {
                l.starts_with("content-disposition:") && l.contains(&format!("name=\"{}\"", name.to_ascii_lowercase()))
            });
            if named {
                let value = part.get(head_end + 4..)?;
                let end = find(value, format!("\r\n{delimiter}").as_bytes())?;
                return String::from_utf8(value.get(..end)?.to_vec()).ok();
            }
        }
        None
    }
}

/// What starts the file part: the form ends there as far as its fields go.
const FILE_PART: &[u8] = b"name=\"file\"";

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The multipart boundary of a form upload's `Content-Type`.
fn boundary(headers: &http::HeaderMap) -> Option<String> {
    let ct = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let b = ct.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?;
    Some(b.trim_matches('"').to_owned())
}

pin_project_lite::pin_project! {
    /// A form upload's body on its way to s3s, its bytes up to the file part kept in a
    /// [`FormPrefix`] (a request extension, which s3s passes to the handler).
    struct Tap {
        #[pin]
        body: s3s::Body,
        prefix: FormPrefix,
    }
}

impl http_body::Body for Tap {
    type Data = Bytes;
    type Error = StdError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, StdError>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.prefix.record(data);
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

/// The request of a form upload with its body tapped (see [`FormPrefix`]).
pub fn tap(req: http::Request<s3s::Body>) -> http::Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    let prefix = FormPrefix::default();
    parts.extensions.insert(prefix.clone());
    http::Request::from_parts(parts, s3s::Body::http_body_unsync(Tap { body, prefix }))
}

pub async fn post_object(gw: &Gateway, req: S3Request<PostObjectInput>) -> S3Result<S3Response<PostObjectOutput>> {
    // The credentials are the policy's signer's, checked by s3s.
    let ctx = RequestContext::of(&req)?;
    let S3Request {
        input,
        headers: req_headers,
        uri,
        extensions,
        ..
    } = req;
    let bucket = gw
        .authorize(&ctx, Action::PutObject, Resource::object(&input.bucket, &input.key))
        .await?;
    check_key(&input.key)?;
    let mut asked = unsupported::object_write!(input);
    // Encryption is `sse`'s, checked here before the body is read; the lock fields are
    // lock.rs's, checked as a PUT's headers are (a form field is a header there).
    asked.encryption = false;
    asked.lock = false;
    unsupported::check_object_write(&asked)?;
    let lock = gw
        .object_write_lock(&ctx, &input.bucket, &input.key, &bucket, &lock::lock_headers!(input))
        .await?;
    let protection = super::sse::for_write(gw, &super::sse::asked!(input), &bucket, super::sse::secure(&extensions))?;
    let (owner, acl) = gw
        .object_write_acl(&ctx, &bucket, &acl::object_acl_request!(input))
        .await?;
    let length = input.content_length.map_or(0, |l| u64::try_from(l).unwrap_or(0));
    if length > gw.max_object_size {
        return Err(ApiError::EntityTooLarge.into());
    }
    let declared = declared(&input)?;
    let cond = put::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let tags = form_tags(&input, &req_headers, &extensions)?;
    let record = ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        owner,
        headers: headers::object_headers!(input),
        user_metadata: headers::metadata_to_vec(input.metadata.clone()),
        tags,
        checksum: None,
        parts: Vec::new(),
        multipart: false,
        acl,
        version: None,
        lock,
        encryption: protection.encryption.clone(),
    };
    let incoming = body::Incoming {
        extensions: &extensions,
        body: input.body,
        headers: &req_headers,
        uri: &uri,
        trailing: None,
        length,
        seal: protection.spec.clone(),
    };
    let (bucket, key) = (input.bucket.clone(), input.key.clone());
    let record = body::store_body(gw, incoming, declared, move |store, content, declared| async move {
        let mut record = record;
        record.checksum = declared.object_checksum(content.digests());
        store.store_object(&bucket, &key, record, content, cond).await.s3()
    })
    .await?;
    Metrics::add(&gw.metrics.objects_put, 1);

    let mut resp = S3Response::new(PostObjectOutput {
        e_tag: Some(headers::etag(&record.etag)),
        ..Default::default()
    });
    // s3s writes the status (and the 201 document or the redirect) but no headers of
    // the output: the ETag and checksum go in as S3 sends them.
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", record.etag)) {
        resp.headers.insert(http::header::ETAG, v);
    }
    if let Some(v) = headers::version_id(&record).and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        resp.headers.insert("x-amz-version-id", v);
    }
    let f = Fields::of(record.checksum.as_ref());
    for (name, value) in [
        ("x-amz-checksum-crc32", f.crc32),
        ("x-amz-checksum-crc32c", f.crc32c),
        ("x-amz-checksum-crc64nvme", f.crc64nvme),
        ("x-amz-checksum-sha1", f.sha1),
        ("x-amz-checksum-sha256", f.sha256),
    ] {
        if let Some(v) = value.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
            resp.headers.insert(name, v);
        }
    }
    Ok(resp)
}

/// Whether a request is a form upload (a multipart POST), whose refusals by s3s
/// [`Refusal::correct`] rewords.
pub fn is_form_upload<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::POST
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// AWS's words for s3s's refusals of a form upload: an expired policy and a failed
/// condition are AccessDenied "Invalid according to Policy: ...", where s3s answers
/// "Request has expired" and InvalidPolicyDocument.
pub struct Refusal;

impl Refusal {
    /// The answer to send in place of `resp` (only a whole XML error document of s3s's
    /// is looked at).
    pub fn correct(resp: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
        if resp.status().is_success() || resp.status().is_redirection() {
            return resp;
        }
        let Some(text) = resp.body().bytes().map(|b| String::from_utf8_lossy(&b).into_owned()) else {
            return resp;
        };
        let tag = |name: &str| {
            let (open, close) = (format!("<{name}>"), format!("</{name}>"));
            let start = text.find(&open)? + open.len();
            let end = text[start..].find(&close)? + start;
            Some(unescape(&text[start..end]))
        };
        let (Some(code), Some(message)) = (tag("Code"), tag("Message")) else {
            return resp;
        };
        let replacement = match code.as_str() {
            "AccessDenied" if message == "Request has expired" => ApiError::PolicyExpired,
            "InvalidPolicyDocument" => match failed_condition(&message) {
                Some(c) => ApiError::PolicyConditionFailed(c),
                None => return resp,
            },
            _ => return resp,
        };
        S3Error::from(replacement)
            .to_http_response()
            .map_or(resp, |r| r.map(s3s::Body::from))
    }
}

/// The condition, as the policy spells it, that s3s's message
/// `Policy condition '<op>' for field '<field>' failed: expected '<value>', got '...'`
/// reports.
fn failed_condition(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Policy condition '")?;
    let (op, rest) = rest.split_once("' for field '")?;
    let (field, rest) = rest.split_once("' failed: expected ")?;
    let rest = rest.strip_prefix("prefix ").unwrap_or(rest);
    let rest = rest.strip_prefix('\'')?;
    let value = &rest[..rest.rfind("', got '")?];
    let json = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    Some(format!(
        "[{}, {}, {}]",
        json(op),
        json(&format!("${field}")),
        json(value)
    ))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_conditions_are_quoted_as_the_policy_spells_them() {
        assert_eq!(
            failed_condition("Policy condition 'eq' for field 'key' failed: expected 'a/b', got 'c'").as_deref(),
            Some(r#"["eq", "$key", "a/b"]"#)
        );
        assert_eq!(
            failed_condition(
                "Policy condition 'starts-with' for field 'content-type' failed: expected prefix 'image/', got 'text/plain'"
            )
            .as_deref(),
            Some(r#"["starts-with", "$content-type", "image/"]"#)
        );
        assert_eq!(failed_condition("x-amz-date does not match policy"), None);
    }
}
