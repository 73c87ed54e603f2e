//! Instant upload: a PUT or UploadPart sent with `Expect: 100-continue` and a strong
//! hash of content the store already holds is answered before the body is sent.
//!
//! These tests speak HTTP/1.1 by hand over a `TcpStream`, so that they can see whether a
//! `100 Continue` arrives and can withhold the body.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const B: &str = "instant";
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// What happened to one `Expect: 100-continue` request.
#[derive(Debug)]
struct ExpectOutcome {
    /// Whether the server asked for the body (and we sent it).
    got_continue: bool,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whether the server closed the connection after its answer.
    closed_after: bool,
}

impl ExpectOutcome {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn is_hit(&self) -> bool {
        self.header("x-fastgate-dedup") == Some("hit")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A PUT request to send by hand.
struct RawPut<'a> {
    access_key: &'a str,
    secret_key: &'a str,
    path: String,
    /// What `x-amz-content-sha256` declares (a hex SHA-256 or `UNSIGNED-PAYLOAD`).
    content_sha256: String,
    extra: Vec<(String, String)>,
}

impl<'a> RawPut<'a> {
    fn new(path: impl Into<String>, body_for_hash: &[u8]) -> Self {
        Self {
            access_key: ACCESS_KEY,
            secret_key: SECRET_KEY,
            path: path.into(),
            content_sha256: sha256_hex(body_for_hash),
            extra: Vec::new(),
        }
    }
    fn user(mut self, access_key: &'a str, secret_key: &'a str) -> Self {
        self.access_key = access_key;
        self.secret_key = secret_key;
        self
    }
    fn content_sha256(mut self, v: &str) -> Self {
        self.content_sha256 = v.to_owned();
        self
    }
    fn header(mut self, k: &str, v: &str) -> Self {
        self.extra.push((k.to_owned(), v.to_owned()));
        self
    }

    /// The request head, SigV4-signed, with `Expect: 100-continue`.
    fn head(&self, srv: &Server, content_length: usize) -> Vec<u8> {
        let url = format!("{}{}", srv.endpoint(), self.path);
        let mut headers = vec![("host".to_owned(), srv.addr.to_string())];
        headers.extend(self.extra.iter().cloned());
        let signed = sign_headers(
            self.access_key,
            self.secret_key,
            "PUT",
            &url,
            &headers,
            &self.content_sha256,
            SystemTime::now(),
        );
        headers.extend(signed);
        headers.push(("content-length".into(), content_length.to_string()));
        headers.push(("expect".into(), "100-continue".into()));
        let mut head = format!("PUT {} HTTP/1.1\r\n", self.path);
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// Reads one response head: status and headers. Leftover bytes stay in `buf`.
async fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, Vec<(String, String)>) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let status: u16 = status_line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return (status, headers);
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut chunk))
            .await
            .expect("timed out waiting for a response head")
            .expect("read response head");
        assert!(
            n > 0,
            "connection closed before a response head; got {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads a `Content-Length` body.
async fn read_body(s: &mut TcpStream, buf: &mut Vec<u8>, headers: &[(String, String)]) -> Vec<u8> {
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut chunk))
            .await
            .expect("timed out reading a response body")
            .expect("read response body");
        assert!(n > 0, "connection closed inside a response body");
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..len).collect()
}

/// Whether the peer closes the connection within a short while.
async fn closes_soon(s: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Sends the head, waits for the server's first answer, and sends `body` only when
/// asked to with `100 Continue`.
async fn send_expect(srv: &Server, req: &RawPut<'_>, body: &[u8]) -> ExpectOutcome {
    send_expect_with(srv, req, body, None).await
}

/// As [`send_expect`]; when `barrier` is given, waits on it after `100 Continue` and
/// before sending the body (to line up concurrent uploads).
async fn send_expect_with(
    srv: &Server,
    req: &RawPut<'_>,
    body: &[u8],
    barrier: Option<&tokio::sync::Barrier>,
) -> ExpectOutcome {
    let mut s = TcpStream::connect(srv.addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    s.write_all(&req.head(srv, body.len())).await.expect("write head");
    let mut buf = Vec::new();
    let (mut status, mut headers) = read_head(&mut s, &mut buf).await;
    let got_continue = status == 100;
    if got_continue {
        if let Some(b) = barrier {
            b.wait().await;
        }
        s.write_all(body).await.expect("write body");
        (status, headers) = read_head(&mut s, &mut buf).await;
    }
    let body = read_body(&mut s, &mut buf, &headers).await;
    let closed_after = if got_continue { false } else { closes_soon(&mut s).await };
    ExpectOutcome {
        got_continue,
        status,
        headers,
        body,
        closed_after,
    }
}

async fn setup(config: Option<&str>) -> (Server, aws_sdk_s3::Client) {
    let srv = match config {
        Some(c) => Server::with_config(c),
        None => Server::start(),
    };
    let c = srv.client();
    create_bucket(&c, B).await;
    (srv, c)
}

async fn head_status(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> u16 {
    match c.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => 200,
        Err(e) => sdk_error(&e).1.unwrap_or(0),
    }
}

#[tokio::test]
async fn hit_answers_before_the_body_and_miss_asks_for_it() {
    let (srv, c) = setup(None).await;
    let content = random_data(64 * 1024);

    // Unknown content: 100 Continue, body sent, stored.
    let miss = send_expect(&srv, &RawPut::new(format!("/{B}/first"), &content), &content).await;
    assert!(miss.got_continue, "{miss:?}");
    assert_eq!(miss.status, 200, "{}", miss.text());
    assert!(!miss.is_hit(), "{miss:?}");
    assert_eq!(miss.header("etag"), Some(format!("\"{}\"", md5_hex(&content)).as_str()));
    assert_eq!(get(&c, B, "first").await, content);
    let received_before = srv.metric("fastgate_request_body_bytes_total").await;
    assert!(received_before >= content.len() as u64, "body bytes counted");

    // Known content: the final answer comes at once, and the body is never sent.
    let hit = send_expect(&srv, &RawPut::new(format!("/{B}/second"), &content), &content).await;
    assert!(!hit.got_continue, "a hit must not ask for the body: {hit:?}");
    assert_eq!(hit.status, 200, "{}", hit.text());
    assert!(hit.is_hit(), "{hit:?}");
    assert_eq!(hit.header("etag"), Some(format!("\"{}\"", md5_hex(&content)).as_str()));
    assert!(
        hit.closed_after,
        "after a hit the server closes the connection (the unsent body cannot be told from the next request)"
    );
    // ... and says so, so that no client reuses it (RFC 9110 §10.1.1).
    assert_eq!(hit.header("connection"), Some("close"), "{hit:?}");

    // A new connection works, and the object has the right bytes.
    assert_eq!(get(&c, B, "second").await, content);
    let r = srv.signed("GET", &format!("/{B}/second"), &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.body.as_ref() == content.as_slice());

    assert_eq!(srv.metric("fastgate_dedup_hits_total").await, 1);
    assert_eq!(
        srv.metric("fastgate_dedup_bytes_not_received_total").await,
        content.len() as u64
    );
    assert_eq!(
        srv.metric("fastgate_request_body_bytes_total").await,
        received_before,
        "no body bytes were read for the hit"
    );
    assert_eq!(srv.metric("fastgate_chunks").await, 1);

    // Headers and metadata of the instant upload are its own.
    let hit = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/third"), &content)
            .header("content-type", "text/x-instant")
            .header("x-amz-meta-via", "instant"),
        &content,
    )
    .await;
    assert!(hit.is_hit() && !hit.got_continue, "{hit:?}");
    let got = c.head_object().bucket(B).key("third").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/x-instant"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("via")).map(String::as_str),
        Some("instant")
    );
    assert_eq!(got.content_length(), Some(content.len() as i64));
}

#[tokio::test]
async fn body_not_matching_its_declared_sha256_is_refused() {
    let (srv, c) = setup(None).await;
    let declared = random_data(4096);
    let actual = random_data(4096);
    let out = send_expect(&srv, &RawPut::new(format!("/{B}/liar"), &declared), &actual).await;
    assert!(out.got_continue, "{out:?}");
    assert_eq!(out.status, 400, "{}", out.text());
    // S3 says XAmzContentSHA256Mismatch; see the ignored test below for the exact code.
    let code = xml_tag(&out.text(), "Code");
    assert!(
        matches!(code.as_deref(), Some("XAmzContentSHA256Mismatch" | "BadDigest")),
        "{}",
        out.text()
    );
    assert_eq!(head_status(&c, B, "liar").await, 404);
    assert_eq!(srv.metric("fastgate_chunks").await, 0);

    // Nor does the refused body become claimable under either hash.
    let again = send_expect(&srv, &RawPut::new(format!("/{B}/liar2"), &actual), &actual).await;
    assert!(again.got_continue, "{again:?}");
    assert_eq!(again.status, 200);
    let again = send_expect(&srv, &RawPut::new(format!("/{B}/liar3"), &declared), &declared).await;
    assert!(again.got_continue, "{again:?}");
    assert_eq!(again.status, 200);
}

/// Small bodies are checked by s3s as they stream; bodies of 1 MiB and more are taken
/// from s3s before it hashes them and checked by fastgate's own hashing before commit.
#[tokio::test]
async fn sha256_mismatch_error_code() {
    let (srv, c) = setup(None).await;
    for (size, expect) in [(4096, true), (4096, false), (3 << 20, true), (3 << 20, false)] {
        let declared = random_data(size);
        let actual = random_data(size);
        let key = format!("liar-{size}-{expect}");
        let chunks_before = srv.metric("fastgate_chunks").await;
        let out = if expect {
            let out = send_expect(&srv, &RawPut::new(format!("/{B}/{key}"), &declared), &actual).await;
            (out.status, out.text())
        } else {
            // Without Expect, through hyper's client: the same answer is due.
            let path = format!("/{B}/{key}");
            let r = srv
                .signed_with_hash(
                    ACCESS_KEY,
                    SECRET_KEY,
                    "PUT",
                    &path,
                    &[],
                    &sha256_hex(&declared),
                    &actual,
                )
                .await;
            (r.status, r.text())
        };
        assert_eq!(out.0, 400, "{}", out.1);
        assert_eq!(
            xml_tag(&out.1, "Code").as_deref(),
            Some("XAmzContentSHA256Mismatch"),
            "{}",
            out.1
        );
        assert_eq!(head_status(&c, B, &key).await, 404);
        assert_eq!(srv.metric("fastgate_chunks").await, chunks_before);
        // The true hash for the same body is accepted.
        let ok = send_expect(&srv, &RawPut::new(format!("/{B}/{key}"), &actual), &actual).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        let got = c.get_object().bucket(B).key(&key).send().await.unwrap();
        assert!(got.body.collect().await.unwrap().into_bytes() == actual.as_slice());
    }
}

/// A large signed PUT that is not an upload (here an XML document padded past 1 MiB) is
/// not parked by `raw_body`: s3s reads it whole, and its payload hash is still checked.
#[tokio::test]
async fn large_signed_put_of_another_operation_reads_its_body() {
    let (srv, c) = setup(None).await;
    put(&c, B, "tagged", b"x").await;
    let path = format!("/{B}/tagged?tagging");
    let xml = |value: &str| {
        let mut doc = format!("<Tagging><TagSet><Tag><Key>k</Key><Value>{value}</Value></Tag></TagSet></Tagging>");
        doc.push_str(&" ".repeat((3 << 20) / 2));
        doc.into_bytes()
    };
    let send = |body: Vec<u8>, declared: Vec<u8>| {
        let path = path.clone();
        let srv = &srv;
        async move {
            srv.signed_with_hash(ACCESS_KEY, SECRET_KEY, "PUT", &path, &[], &sha256_hex(&declared), &body)
                .await
        }
    };
    let ok = send(xml("big"), xml("big")).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // Refused as S3 does, and nothing changes.
    let liar = send(xml("liar"), xml("other")).await;
    assert_eq!(liar.status, 400, "{}", liar.text());
    assert_eq!(
        xml_tag(&liar.text(), "Code").as_deref(),
        Some("XAmzContentSHA256Mismatch"),
        "{}",
        liar.text()
    );
    let tags = c.get_object_tagging().bucket(B).key("tagged").send().await.unwrap();
    let values: Vec<&str> = tags.tag_set().iter().map(|t| t.value()).collect();
    assert_eq!(values, ["big"]);
}

/// The XML documents s3s reads whole (here a PUT ?tagging and a POST ?delete) answer a
/// payload hash that is not the body's with S3's 400 XAmzContentSHA256Mismatch, not
/// s3s's 500, and change nothing; with the right hash they go through.
#[tokio::test]
async fn xml_body_with_a_wrong_payload_hash_is_refused_as_s3_does() {
    let (srv, c) = setup(None).await;
    put(&c, B, "kept", b"x").await;
    let tagging = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>".to_vec();
    let delete = b"<Delete><Object><Key>kept</Key></Object></Delete>".to_vec();
    let requests = [
        ("PUT", format!("/{B}/kept?tagging"), tagging),
        ("POST", format!("/{B}?delete"), delete),
    ];
    for (method, path, body) in &requests {
        let r = srv
            .signed_with_hash(
                ACCESS_KEY,
                SECRET_KEY,
                method,
                path,
                &[],
                &sha256_hex(b"not the body"),
                body,
            )
            .await;
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
        assert_eq!(
            xml_tag(&r.text(), "Code").as_deref(),
            Some("XAmzContentSHA256Mismatch"),
            "{}",
            r.text()
        );
    }
    let tags = c.get_object_tagging().bucket(B).key("kept").send().await.unwrap();
    assert!(tags.tag_set().is_empty());
    assert_eq!(head_status(&c, B, "kept").await, 200);
    for (method, path, body) in &requests {
        let r = srv
            .signed_with_hash(ACCESS_KEY, SECRET_KEY, method, path, &[], &sha256_hex(body), body)
            .await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    }
    assert_eq!(head_status(&c, B, "kept").await, 404);
}

#[tokio::test]
async fn declared_digests_must_all_agree() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let (srv, c) = setup(None).await;
    let content = random_data(7000);
    put(&c, B, "orig", &content).await;

    // Only an x-amz-checksum-sha256 header (unsigned payload): a hit.
    let sum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&content));
    let out = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/by-checksum"), &content)
            .content_sha256("UNSIGNED-PAYLOAD")
            .header("x-amz-checksum-sha256", &sum),
        &content,
    )
    .await;
    assert!(out.is_hit() && !out.got_continue, "{out:?}");
    assert_eq!(out.header("x-amz-checksum-sha256"), Some(sum.as_str()));
    assert_eq!(get(&c, B, "by-checksum").await, content);

    // A known SHA-256 with the Content-MD5 of something else: no hit; the body is
    // needed, and then refused.
    let out = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/inconsistent"), &content).header("content-md5", &md5_b64(b"other")),
        &content,
    )
    .await;
    assert!(out.got_continue, "inconsistent digests must not be a hit: {out:?}");
    assert_eq!(out.status, 400, "{}", out.text());
    assert_eq!(xml_tag(&out.text(), "Code").as_deref(), Some("BadDigest"));
    assert_eq!(head_status(&c, B, "inconsistent").await, 404);

    // A known SHA-256 with a different Content-Length: no hit either.
    let shorter = &content[..6000];
    let out = send_expect(&srv, &RawPut::new(format!("/{B}/short"), &content), shorter).await;
    assert!(out.got_continue, "a length mismatch must not be a hit: {out:?}");
    assert_eq!(out.status, 400, "{}", out.text());
    assert_eq!(head_status(&c, B, "short").await, 404);
    assert_eq!(srv.metric("fastgate_dedup_hits_total").await, 1);
}

#[tokio::test]
async fn owner_scope_requires_the_bytes_from_another_user() {
    let srv = Server::with_second_user("");
    let root = srv.client();
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "root-bucket").await;
    create_bucket(&other, "user2-bucket").await;
    let content = random_data(10_000);
    put(&root, "root-bucket", "orig", &content).await;

    // The same owner, another bucket: a hit.
    create_bucket(&root, "root-bucket-2").await;
    let out = send_expect(&srv, &RawPut::new("/root-bucket-2/copy", &content), &content).await;
    assert!(out.is_hit() && !out.got_continue, "{out:?}");

    // Another user knows only the hash: it must send the bytes.
    let req = RawPut::new("/user2-bucket/claim", &content).user(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let out = send_expect(&srv, &req, &content).await;
    assert!(out.got_continue, "another user must send the body: {out:?}");
    assert_eq!(out.status, 200, "{}", out.text());
    assert!(!out.is_hit());
    assert_eq!(get(&other, "user2-bucket", "claim").await, content);

    // Having sent them once, it may claim them.
    let req = RawPut::new("/user2-bucket/claim2", &content).user(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let out = send_expect(&srv, &req, &content).await;
    assert!(out.is_hit() && !out.got_continue, "{out:?}");
    assert_eq!(get(&other, "user2-bucket", "claim2").await, content);
    // Stored once.
    assert_eq!(srv.metric("fastgate_chunks").await, 1);

    // Content-MD5 alone does not trigger instant upload by default.
    let md5 = md5_b64(&content);
    let out = send_expect(
        &srv,
        &RawPut::new("/root-bucket/md5-only", &content)
            .content_sha256("UNSIGNED-PAYLOAD")
            .header("content-md5", &md5),
        &content,
    )
    .await;
    assert!(out.got_continue, "MD5 is not trusted by default: {out:?}");
    assert_eq!(out.status, 200, "{}", out.text());
}

#[tokio::test]
async fn bucket_scope() {
    let (srv, c) = setup(Some("[instant_upload]\nscope = \"bucket\"\n")).await;
    create_bucket(&c, "instant-other").await;
    let content = random_data(20_000);
    put(&c, B, "orig", &content).await;

    let out = send_expect(&srv, &RawPut::new(format!("/{B}/same-bucket"), &content), &content).await;
    assert!(out.is_hit() && !out.got_continue, "same bucket: {out:?}");
    assert_eq!(get(&c, B, "same-bucket").await, content);

    let out = send_expect(&srv, &RawPut::new("/instant-other/other-bucket", &content), &content).await;
    assert!(out.got_continue, "another bucket must send the body: {out:?}");
    assert_eq!(out.status, 200);
    assert!(!out.is_hit());
    assert_eq!(get(&c, "instant-other", "other-bucket").await, content);
}

#[tokio::test]
async fn global_scope() {
    let srv = Server::with_second_user("[instant_upload]\nscope = \"global\"\n");
    let root = srv.client();
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "root-bucket").await;
    create_bucket(&other, "user2-bucket").await;
    let content = random_data(30_000);
    put(&root, "root-bucket", "orig", &content).await;

    let req = RawPut::new("/user2-bucket/claim", &content).user(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let out = send_expect(&srv, &req, &content).await;
    assert!(out.is_hit() && !out.got_continue, "global scope: {out:?}");
    assert_eq!(get(&other, "user2-bucket", "claim").await, content);
    // Still no access to the other user's bucket.
    let req = RawPut::new("/root-bucket/intrude", &content).user(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let out = send_expect(&srv, &req, &content).await;
    assert_eq!(out.status, 403, "{out:?}");
    assert_eq!(head_status(&root, "root-bucket", "intrude").await, 404);
}

#[tokio::test]
async fn trust_md5_with_only_content_md5() {
    let (srv, c) = setup(Some("[instant_upload]\ntrust_md5 = true\n")).await;
    let content = random_data(12_345);
    put(&c, B, "orig", &content).await;
    let md5 = md5_b64(&content);
    let out = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/by-md5"), &content)
            .content_sha256("UNSIGNED-PAYLOAD")
            .header("content-md5", &md5),
        &content,
    )
    .await;
    assert!(out.is_hit() && !out.got_continue, "trust_md5: {out:?}");
    assert_eq!(out.header("etag"), Some(format!("\"{}\"", md5_hex(&content)).as_str()));
    assert_eq!(get(&c, B, "by-md5").await, content);

    // An MD5 nobody stored: the body is needed.
    let fresh = random_data(12_345);
    let out = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/fresh"), &fresh)
            .content_sha256("UNSIGNED-PAYLOAD")
            .header("content-md5", &md5_b64(&fresh)),
        &fresh,
    )
    .await;
    assert!(out.got_continue, "{out:?}");
    assert_eq!(out.status, 200);
    assert_eq!(get(&c, B, "fresh").await, fresh);
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_new_content() {
    let (srv, c) = setup(None).await;
    let srv = Arc::new(srv);
    let content = Arc::new(random_data(256 * 1024));
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for key in ["twin-a", "twin-b"] {
        let (srv, content, barrier) = (srv.clone(), content.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let req = RawPut::new(format!("/{B}/{key}"), &content);
            send_expect_with(&srv, &req, &content, Some(&barrier)).await
        }));
    }
    for t in tasks {
        let out = t.await.unwrap();
        assert!(out.got_continue, "neither upload could be a hit: {out:?}");
        assert_eq!(out.status, 200, "{}", out.text());
    }
    assert_eq!(get(&c, B, "twin-a").await, *content);
    assert_eq!(get(&c, B, "twin-b").await, *content);
    let metrics = srv.metrics().await;
    assert_eq!(metric_value(&metrics, "fastgate_chunks"), 1, "{metrics}");
}

#[tokio::test]
async fn reupload_after_delete_hits_during_grace_period() {
    let (srv, c) = setup(None).await;
    let content = random_data(8000);
    put(&c, B, "k", &content).await;
    c.delete_object().bucket(B).key("k").send().await.unwrap();
    assert_eq!(head_status(&c, B, "k").await, 404);
    let out = send_expect(&srv, &RawPut::new(format!("/{B}/k"), &content), &content).await;
    assert!(out.is_hit() && !out.got_continue, "within the grace period: {out:?}");
    assert_eq!(get(&c, B, "k").await, content);
}

#[tokio::test]
async fn reupload_after_gc_is_a_miss() {
    let (srv, c) = setup(Some("[gc]\ngrace_period_secs = 0\n")).await;

    // Through the admin endpoint.
    let content = random_data(8000);
    put(&c, B, "k", &content).await;
    c.delete_object().bucket(B).key("k").send().await.unwrap();
    let unsigned = srv.unsigned("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(unsigned.status, 403, "gc needs the root user: {}", unsigned.text());
    let r = srv.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("chunks_deleted 1"), "{}", r.text());
    assert_eq!(srv.metric("fastgate_chunks").await, 0);
    let out = send_expect(&srv, &RawPut::new(format!("/{B}/k"), &content), &content).await;
    assert!(out.got_continue && !out.is_hit(), "after gc: {out:?}");
    assert_eq!(out.status, 200);
    assert_eq!(get(&c, B, "k").await, content);

    // Through `fastgate admin gc`.
    let content = random_data(9000);
    put(&c, B, "k2", &content).await;
    c.delete_object().bucket(B).key("k2").send().await.unwrap();
    // Blocking is fine here: the server is another process.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["admin", "--endpoint", &srv.endpoint(), "gc"])
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("run fastgate admin gc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("chunks_deleted 1"), "{stdout}");
    let out = send_expect(&srv, &RawPut::new(format!("/{B}/k2"), &content), &content).await;
    assert!(out.got_continue && !out.is_hit(), "after admin gc: {out:?}");
    assert_eq!(get(&c, B, "k2").await, content);
}

#[tokio::test]
async fn upload_part_hit() {
    let (srv, c) = setup(None).await;
    let part = random_data(5 * 1024 * 1024);
    put(&c, B, "orig", &part).await;

    let key = "mp";
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let out = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/{key}?partNumber=1&uploadId={id}"), &part),
        &part,
    )
    .await;
    assert!(out.is_hit() && !out.got_continue, "{:?} {}", out.headers, out.text());
    assert_eq!(out.status, 200);
    let etag = out.header("etag").expect("part etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", md5_hex(&part)));

    // A new part, sent normally.
    let tail = random_data(1000);
    let out2 = send_expect(
        &srv,
        &RawPut::new(format!("/{B}/{key}?partNumber=2&uploadId={id}"), &tail),
        &tail,
    )
    .await;
    assert!(out2.got_continue && !out2.is_hit(), "{out2:?}");
    assert_eq!(out2.status, 200, "{}", out2.text());

    let listed = c.list_parts().bucket(B).key(key).upload_id(&id).send().await.unwrap();
    let sizes: Vec<i64> = listed.parts().iter().filter_map(|p| p.size()).collect();
    assert_eq!(sizes, [part.len() as i64, 1000]);

    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(etag).build(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(out2.header("etag").unwrap())
            .build(),
    ];
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    let got = get(&c, B, key).await;
    assert!(got == [part.as_slice(), &tail].concat(), "object bytes differ");
    assert_eq!(srv.metric("fastgate_dedup_hits_total").await, 1);
}
