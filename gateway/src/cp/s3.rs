//! The S3 requests `cp` makes, on fastgate-client: path-style URLs, every request signed,
//! answers parsed from their XML into types here so the rest of `cp` never sees XML.

use anyhow::{Context as _, bail};
use bytes::Bytes;
use fastgate_client::{Client, EMPTY_SHA256, encode_key, encode_query};
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;

/// One endpoint's S3 API.
#[derive(Clone)]
pub struct S3 {
    client: Client<Full<Bytes>>,
    endpoint: String,
}

/// A part as `ListParts` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    #[serde(rename = "ChecksumSHA256", default)]
    pub checksum_sha256: Option<String>,
}

/// What `HeadObject` says of an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
    /// The object's `x-amz-checksum-sha256` (base64), when it has one.
    pub sha256: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (a checksum of part checksums).
    pub checksum_type: Option<String>,
}

impl ObjectInfo {
    /// The base64 SHA-256 of the whole object's bytes, when the server has one: a
    /// composite multipart checksum (`...-N`) is not.
    pub fn full_object_sha256(&self) -> Option<&str> {
        let sha = self.sha256.as_deref()?;
        (!self.is_composite(sha)).then_some(sha)
    }

    /// The object's composite SHA-256 (`<base64>-N`: the SHA-256 of its N parts' SHA-256
    /// digests), when it has one.
    pub fn composite_sha256(&self) -> Option<&str> {
        let sha = self.sha256.as_deref()?;
        self.is_composite(sha).then_some(sha)
    }

    fn is_composite(&self, sha: &str) -> bool {
        self.checksum_type.as_deref() == Some("COMPOSITE") || sha.contains('-')
    }

    /// The MD5 (hex) of the object's bytes when its ETag is one: single-part objects.
    pub fn md5_hex(&self) -> Option<String> {
        let e = self.etag.trim_matches('"');
        (e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())).then(|| e.to_ascii_lowercase())
    }
}

/// What GetObjectAttributes says of a multipart object's parts.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetObjectAttributesResult {
    #[serde(rename = "ETag", default)]
    etag: Option<String>,
    #[serde(default)]
    object_parts: Option<ObjectParts>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectParts {
    #[serde(rename = "Part", default)]
    parts: Vec<ObjectPart>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_part_number_marker: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ObjectPart {
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateMultipartUploadResult {
    upload_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPartsResult {
    #[serde(rename = "Part", default)]
    parts: Vec<ListedPart>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_part_number_marker: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(rename = "Contents", default)]
    contents: Vec<Listed>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

/// An object as `ListObjectsV2` shows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub key: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What a server said to an instant-upload probe (see `probe.rs` and the README).
#[derive(Debug)]
pub enum Probed {
    /// The write is complete: its ETag.
    Hit { etag: String },
    /// fastgate has not got the content (or this request may not claim it).
    Miss,
    /// Anything else: a server that does not know the probe refused it (or, if it
    /// answered 2xx without `x-fastgate-dedup: hit`, stored an empty object that the body
    /// sent next replaces). The status and error code, for the log.
    Unknown(String),
}

fn path(bucket: &str, key: &str) -> String {
    format!("/{}/{}", encode_query(bucket), encode_key(key))
}

fn header(resp: &Response<Incoming>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl S3 {
    pub fn new(client: Client<Full<Bytes>>, endpoint: &str) -> Self {
        Self {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        }
    }

    async fn call(
        &self,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        payload_sha256: &str,
        body: Bytes,
    ) -> anyhow::Result<Response<Incoming>> {
        self.client
            .call(method.clone(), target, headers, payload_sha256, Full::new(body))
            .await
            .with_context(|| format!("{method} {}{target}", self.endpoint))
    }

    /// Turns a non-2xx answer into an error naming the request and the S3 error code.
    async fn ok(&self, method: &str, target: &str, resp: Response<Incoming>) -> anyhow::Result<Response<Incoming>> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = fastgate_client::read_body(resp.into_body()).await.unwrap_or_default();
        let e: ErrorBody = quick_xml::de::from_str(&String::from_utf8_lossy(&body)).unwrap_or_default();
        bail!("{method} {}{target}: {status} {} {}", self.endpoint, e.code, e.message)
    }

    async fn xml<T: for<'de> Deserialize<'de>>(&self, target: &str, resp: Response<Incoming>) -> anyhow::Result<T> {
        let body = fastgate_client::read_body(resp.into_body()).await?;
        quick_xml::de::from_str(&String::from_utf8_lossy(&body))
            .with_context(|| format!("parsing the answer to {target}"))
    }

    /// One PutObject whose body's SHA-256 is both the signed payload hash and its
    /// `x-amz-checksum-sha256`, so the server verifies it and stores it as the checksum.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        sha_hex: &str,
        sha_b64: &str,
    ) -> anyhow::Result<()> {
        let t = path(bucket, key);
        let resp = self
            .call(Method::PUT, &t, &[("x-amz-checksum-sha256", sha_b64)], sha_hex, body)
            .await?;
        self.ok("PUT", &t, resp).await?;
        Ok(())
    }

    /// The instant-upload probe for a PutObject or UploadPart at `target`: no body, the
    /// content's SHA-256 as the signed payload hash and as `x-amz-checksum-sha256` (so
    /// that a server without the extension refuses it rather than storing an empty
    /// object), and `x-fastgate-probe: <size>`.
    pub async fn probe(&self, target: &str, size: u64, sha_hex: &str, sha_b64: &str) -> anyhow::Result<Probed> {
        let size = size.to_string();
        let headers = [("x-amz-checksum-sha256", sha_b64), ("x-fastgate-probe", size.as_str())];
        let resp = self.call(Method::PUT, target, &headers, sha_hex, Bytes::new()).await?;
        let dedup = header(&resp, "x-fastgate-dedup");
        let (status, etag) = (resp.status(), header(&resp, "etag"));
        // Read the (small) answer whole so that the connection can serve the next request.
        let body = fastgate_client::read_body(resp.into_body()).await.unwrap_or_default();
        Ok(match (status, dedup.as_deref(), etag) {
            (s, Some("hit"), Some(etag)) if s.is_success() => Probed::Hit { etag },
            (StatusCode::NOT_FOUND, Some("miss"), _) => Probed::Miss,
            _ => {
                let e: ErrorBody = quick_xml::de::from_str(&String::from_utf8_lossy(&body)).unwrap_or_default();
                Probed::Unknown(format!("{status} {}", e.code))
            }
        })
    }

    /// The target of a PutObject.
    pub fn object_target(bucket: &str, key: &str) -> String {
        path(bucket, key)
    }

    /// The target of an UploadPart.
    pub fn part_target(bucket: &str, key: &str, upload_id: &str, part_number: u32) -> String {
        format!(
            "{}?partNumber={part_number}&uploadId={}",
            path(bucket, key),
            encode_query(upload_id)
        )
    }

    /// CreateMultipartUpload asking for SHA-256 part checksums; the upload id.
    pub async fn create_multipart(&self, bucket: &str, key: &str) -> anyhow::Result<String> {
        let t = format!("{}?uploads", path(bucket, key));
        let resp = self
            .call(
                Method::POST,
                &t,
                &[("x-amz-checksum-algorithm", "SHA256")],
                EMPTY_SHA256,
                Bytes::new(),
            )
            .await?;
        let resp = self.ok("POST", &t, resp).await?;
        let r: InitiateMultipartUploadResult = self.xml(&t, resp).await?;
        Ok(r.upload_id)
    }

    /// UploadPart with its SHA-256 signed and as `x-amz-checksum-sha256`; the part's ETag.
    #[allow(clippy::too_many_arguments)] // one S3 request's parameters, each of them needed
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
        sha_hex: &str,
        sha_b64: &str,
    ) -> anyhow::Result<String> {
        let t = Self::part_target(bucket, key, upload_id, part_number);
        let resp = self
            .call(Method::PUT, &t, &[("x-amz-checksum-sha256", sha_b64)], sha_hex, body)
            .await?;
        let resp = self.ok("PUT", &t, resp).await?;
        header(&resp, "etag").with_context(|| format!("PUT {t}: no ETag in the answer"))
    }

    /// Every part of an upload (ListParts, paged), or `None` when the upload is gone
    /// (completed, aborted, expired).
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> anyhow::Result<Option<Vec<ListedPart>>> {
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let t = format!(
                "{}?part-number-marker={marker}&uploadId={}",
                path(bucket, key),
                encode_query(upload_id)
            );
            let resp = self.call(Method::GET, &t, &[], EMPTY_SHA256, Bytes::new()).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = self.ok("GET", &t, resp).await?;
            let page: ListPartsResult = self.xml(&t, resp).await?;
            parts.extend(page.parts);
            match page.next_part_number_marker {
                Some(next) if page.is_truncated && next > marker => marker = next,
                _ => return Ok(Some(parts)),
            }
        }
    }

    /// CompleteMultipartUpload with `(part number, ETag, SHA-256 base64)` in order.
    pub async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String, String)],
    ) -> anyhow::Result<()> {
        let t = format!("{}?uploadId={}", path(bucket, key), encode_query(upload_id));
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag, sha) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag><ChecksumSHA256>{sha}</ChecksumSHA256></Part>",
                quick_xml::escape::escape(etag.as_str())
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let body = Bytes::from(xml);
        let sha = fastgate_client::sha256_hex(&body);
        let resp = self.call(Method::POST, &t, &[], &sha, body).await?;
        let resp = self.ok("POST", &t, resp).await?;
        // A completion can fail after the 200 has started: the error is in the body.
        let body = fastgate_client::read_body(resp.into_body()).await?;
        let text = String::from_utf8_lossy(&body);
        if text.contains("<Error>") {
            let e: ErrorBody = quick_xml::de::from_str(&text).unwrap_or_default();
            bail!("POST {}{t}: {} {}", self.endpoint, e.code, e.message);
        }
        Ok(())
    }

    /// AbortMultipartUpload; an upload already gone is no error.
    pub async fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> anyhow::Result<()> {
        let t = format!("{}?uploadId={}", path(bucket, key), encode_query(upload_id));
        let resp = self.call(Method::DELETE, &t, &[], EMPTY_SHA256, Bytes::new()).await?;
        if resp.status() != StatusCode::NOT_FOUND {
            self.ok("DELETE", &t, resp).await?;
        }
        Ok(())
    }

    /// HeadObject with `x-amz-checksum-mode: ENABLED`, so the checksum comes along.
    pub async fn head(&self, bucket: &str, key: &str) -> anyhow::Result<ObjectInfo> {
        let t = path(bucket, key);
        let resp = self
            .call(
                Method::HEAD,
                &t,
                &[("x-amz-checksum-mode", "ENABLED")],
                EMPTY_SHA256,
                Bytes::new(),
            )
            .await?;
        if !resp.status().is_success() {
            bail!("HEAD {}{t}: {}", self.endpoint, resp.status());
        }
        let size = header(&resp, "content-length")
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("HEAD {t}: no Content-Length"))?;
        let etag = header(&resp, "etag").with_context(|| format!("HEAD {t}: no ETag"))?;
        Ok(ObjectInfo {
            size,
            etag,
            sha256: header(&resp, "x-amz-checksum-sha256"),
            checksum_type: header(&resp, "x-amz-checksum-type"),
        })
    }

    /// The sizes of a multipart object's parts in order (GetObjectAttributes, paged), which
    /// a composite checksum needs to be checked; `None` when the server does not list them
    /// (no GetObjectAttributes, or an object without part checksums). An object whose
    /// ETag is no longer `etag` is an error: its parts are another version's.
    pub async fn part_sizes(&self, bucket: &str, key: &str, etag: &str) -> anyhow::Result<Option<Vec<u64>>> {
        let t = format!("{}?attributes", path(bucket, key));
        let mut sizes = Vec::new();
        let mut marker = 0u32;
        loop {
            let marker_s = marker.to_string();
            let headers = [
                ("x-amz-max-parts", "1000"),
                ("x-amz-object-attributes", "ETag,ObjectParts"),
                ("x-amz-part-number-marker", marker_s.as_str()),
            ];
            let resp = self.call(Method::GET, &t, &headers, EMPTY_SHA256, Bytes::new()).await?;
            if !resp.status().is_success() {
                return Ok(None);
            }
            let page: GetObjectAttributesResult = self.xml(&t, resp).await?;
            let unquote = |s: &str| s.trim_matches('"').to_owned();
            if page.etag.as_deref().is_some_and(|e| unquote(e) != unquote(etag)) {
                bail!("s3://{bucket}/{key} changed during the download (its ETag is no longer {etag})");
            }
            let Some(parts) = page.object_parts.filter(|p| !p.parts.is_empty()) else {
                return Ok(None);
            };
            sizes.extend(parts.parts.iter().map(|p| p.size));
            match parts.next_part_number_marker {
                Some(next) if parts.is_truncated && next > marker => marker = next,
                _ => return Ok(Some(sizes)),
            }
        }
    }

    /// GetObject from byte `from` on, only while the object's ETag is still `etag`
    /// (`If-Match`: a changed object answers 412 rather than bytes of another version).
    /// The response is returned whatever its status: the caller decides about 412.
    pub async fn get_from(&self, bucket: &str, key: &str, from: u64, etag: &str) -> anyhow::Result<Response<Incoming>> {
        let t = path(bucket, key);
        let range = format!("bytes={from}-");
        let mut headers = vec![("if-match", etag)];
        if from > 0 {
            headers.push(("range", range.as_str()));
        }
        self.call(Method::GET, &t, &headers, EMPTY_SHA256, Bytes::new()).await
    }

    /// Checks a GET's answer: a 412 is returned as is for the caller to restart.
    pub async fn get_ok(
        &self,
        bucket: &str,
        key: &str,
        resp: Response<Incoming>,
    ) -> anyhow::Result<Response<Incoming>> {
        if resp.status() == StatusCode::PRECONDITION_FAILED {
            return Ok(resp);
        }
        self.ok("GET", &path(bucket, key), resp).await
    }

    /// Every object under `prefix` (ListObjectsV2, paged).
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // Query parameters in SigV4's canonical (sorted) order.
            let mut t = format!("/{}?", encode_query(bucket));
            if let Some(tok) = &token {
                t.push_str(&format!("continuation-token={}&", encode_query(tok)));
            }
            t.push_str(&format!("list-type=2&prefix={}", encode_query(prefix)));
            let resp = self.call(Method::GET, &t, &[], EMPTY_SHA256, Bytes::new()).await?;
            let resp = self.ok("GET", &t, resp).await?;
            let page: ListBucketResult = self.xml(&t, resp).await?;
            out.extend(page.contents);
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => return Ok(out),
            }
        }
    }
}
