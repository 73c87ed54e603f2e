//! The instant-upload probe (issue 18): a bodiless PutObject or UploadPart marked
//! `x-fastgate-probe: <size>` that carries the content's SHA-256, answered with the
//! completed write (a hit) or 404 `XFastgateNotStored` (a miss that changes nothing).
//!
//! A server that does not know the probe is s3s-fs (s3s's reference backend, run in
//! this process by `common::S3sFs`): every form of the probe must be refused there and
//! leave nothing behind. The probe sent to fastgate without its marker is the same
//! request as an unaware server reads it, refused for the same reason: the declared
//! hashes do not match the empty body.

use crate::common;

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use common::*;
use sha2::Digest as _;

const B: &str = "probe";

fn sha_b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b))
}

/// The probe for `content` at `path_and_query`, signed by `user` with `extra` headers.
async fn probe_as(
    srv: &Server,
    user: (&str, &str),
    path_and_query: &str,
    content: &[u8],
    extra: &[(&str, &str)],
) -> RawResponse {
    let size = content.len().to_string();
    let b64 = sha_b64(content);
    let mut headers = vec![
        ("x-amz-checksum-sha256", b64.as_str()),
        ("x-fastgate-probe", size.as_str()),
    ];
    headers.extend_from_slice(extra);
    srv.signed_with_hash(
        user.0,
        user.1,
        "PUT",
        path_and_query,
        &headers,
        &sha256_hex(content),
        b"",
    )
    .await
}

async fn probe(srv: &Server, path_and_query: &str, content: &[u8], extra: &[(&str, &str)]) -> RawResponse {
    probe_as(srv, (ACCESS_KEY, SECRET_KEY), path_and_query, content, extra).await
}

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    (srv, c)
}

async fn head_status(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> u16 {
    match c.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => 200,
        Err(e) => e.raw_response().map_or(0, |r| r.status().as_u16()),
    }
}

fn assert_miss(r: &RawResponse) {
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("XFastgateNotStored"), "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("miss"));
}

#[tokio::test]
async fn probe_of_stored_content_completes_the_write_without_a_body() {
    let (srv, c) = setup().await;
    let content = random_data(100_000);
    let put_etag = put(&c, B, "orig", &content).await;
    let received = srv.metric("fastgate_request_body_bytes_total").await;

    let r = probe(&srv, &format!("/{B}/copy"), &content, &[("x-amz-meta-color", "blue")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("hit"));
    assert_eq!(r.header("etag"), Some(put_etag.as_str()), "the ETag of a normal PUT");
    assert_eq!(r.header("x-amz-checksum-sha256"), Some(sha_b64(&content).as_str()));
    // No body was unread, so the connection need not close.
    assert_eq!(r.header("connection"), None);

    assert_eq!(get(&c, B, "copy").await, content);
    let head = c.head_object().bucket(B).key("copy").send().await.unwrap();
    assert_eq!(
        head.metadata().and_then(|m| m.get("color")).map(String::as_str),
        Some("blue")
    );
    assert_eq!(srv.metric("fastgate_request_body_bytes_total").await, received);
    assert_eq!(srv.metric("fastgate_dedup_hits_total").await, 1);
}

#[tokio::test]
async fn probe_of_unknown_content_is_a_miss_that_creates_nothing() {
    let (srv, c) = setup().await;
    let content = random_data(10_000);
    let r = probe(&srv, &format!("/{B}/new"), &content, &[]).await;
    assert_miss(&r);
    assert_eq!(head_status(&c, B, "new").await, 404);

    // A size that does not match the stored content is a miss too.
    put(&c, B, "orig", &content).await;
    let size = (content.len() + 1).to_string();
    let b64 = sha_b64(&content);
    let headers = [
        ("x-amz-checksum-sha256", b64.as_str()),
        ("x-fastgate-probe", size.as_str()),
    ];
    let r = srv
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            &format!("/{B}/longer"),
            &headers,
            &sha256_hex(&content),
            b"",
        )
        .await;
    assert_miss(&r);
    assert_eq!(head_status(&c, B, "longer").await, 404);
    assert_eq!(srv.metric("fastgate_dedup_hits_total").await, 0);
}

#[tokio::test]
async fn probe_for_another_users_content_is_a_miss_under_the_owner_scope() {
    let srv = Server::with_second_user("");
    let root = srv.client();
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "root-bucket").await;
    create_bucket(&other, "user2-bucket").await;
    let content = random_data(10_000);
    put(&root, "root-bucket", "orig", &content).await;

    let user2 = (USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let r = probe_as(&srv, user2, "/user2-bucket/claim", &content, &[]).await;
    assert_miss(&r);
    assert_eq!(head_status(&other, "user2-bucket", "claim").await, 404);

    // Authorization applies as to a PUT: no probing into someone else's bucket.
    let r = probe_as(&srv, user2, "/root-bucket/intrude", &content, &[]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(head_status(&root, "root-bucket", "intrude").await, 404);
}

#[tokio::test]
async fn conditional_probe_on_an_existing_key_fails_even_on_a_hit() {
    let (srv, c) = setup().await;
    let content = random_data(10_000);
    put(&c, B, "orig", &content).await;
    put(&c, B, "taken", b"earlier bytes").await;

    let r = probe(&srv, &format!("/{B}/taken"), &content, &[("if-none-match", "*")]).await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(get(&c, B, "taken").await, b"earlier bytes");

    let r = probe(&srv, &format!("/{B}/fresh"), &content, &[("if-none-match", "*")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&c, B, "fresh").await, content);
}

#[tokio::test]
async fn upload_part_probe_records_the_part_for_completion() {
    let (srv, c) = setup().await;
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

    let r = probe(&srv, &format!("/{B}/{key}?partNumber=1&uploadId={id}"), &part, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("hit"));
    let etag = r.header("etag").expect("part etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", md5_hex(&part)));

    let tail = random_data(1000);
    let r = probe(&srv, &format!("/{B}/{key}?partNumber=2&uploadId={id}"), &tail, &[]).await;
    assert_miss(&r);
    let tail_etag = c
        .upload_part()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .part_number(2)
        .body(tail.clone().into())
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();

    let listed = c.list_parts().bucket(B).key(key).upload_id(&id).send().await.unwrap();
    let sizes: Vec<i64> = listed.parts().iter().filter_map(|p| p.size()).collect();
    assert_eq!(sizes, [part.len() as i64, 1000]);

    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(etag).build(),
        CompletedPart::builder().part_number(2).e_tag(tail_etag).build(),
    ];
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    assert!(
        get(&c, B, key).await == [part.as_slice(), &tail].concat(),
        "object bytes differ"
    );
}

#[tokio::test]
async fn presigned_probe_url_completes_the_write() {
    let (_srv, c) = setup().await;
    let content = random_data(10_000);
    put(&c, B, "orig", &content).await;

    let presign = |key: &'static str, marker: bool| {
        let c = c.clone();
        let (b64, size) = (sha_b64(&content), content.len());
        async move {
            let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
            c.put_object()
                .bucket(B)
                .key(key)
                .checksum_sha256(b64)
                .customize()
                .mutate_request(move |r| {
                    if marker {
                        let sep = if r.uri().contains('?') { '&' } else { '?' };
                        let uri = format!("{}{sep}x-fastgate-probe={size}", r.uri());
                        r.set_uri(uri).expect("uri");
                    }
                })
                .presigned(cfg)
                .await
                .unwrap()
        }
    };
    let send = |req: aws_sdk_s3::presigning::PresignedRequest| async move {
        let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        raw_request("PUT", req.uri(), &headers, Vec::new()).await
    };

    let req = presign("pre/copy", true).await;
    assert!(req.uri().contains("x-fastgate-probe="), "{}", req.uri());
    // The checksum travels as a signed header; the payload is UNSIGNED-PAYLOAD.
    assert!(
        req.uri().contains("X-Amz-SignedHeaders=host%3Bx-amz-checksum-sha256"),
        "{}",
        req.uri()
    );
    let r = send(req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("hit"));
    assert_eq!(get(&c, B, "pre/copy").await, content);

    // The same presigned request as a server without the probe reads it: the declared
    // checksum does not match the empty body.
    let r = send(presign("pre/unaware", false).await).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("BadDigest"), "{}", r.text());
    assert_eq!(head_status(&c, B, "pre/unaware").await, 404);
}

#[tokio::test]
async fn probe_without_its_marker_is_refused_as_any_sigv4_server_refuses_it() {
    let (srv, c) = setup().await;
    let content = random_data(10_000);
    put(&c, B, "orig", &content).await;

    // What a server without the extension sees: a PUT of an empty body declaring the
    // SHA-256 (signed payload hash and checksum) of other bytes.
    let b64 = sha_b64(&content);
    let r = srv
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            &format!("/{B}/unaware"),
            &[("x-amz-checksum-sha256", b64.as_str())],
            &sha256_hex(&content),
            b"",
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.error_code().as_deref(),
        Some("XAmzContentSHA256Mismatch"),
        "{}",
        r.text()
    );
    assert_eq!(head_status(&c, B, "unaware").await, 404);

    // A probe that carries a body is refused rather than half-read.
    let size = content.len().to_string();
    let r = srv
        .signed(
            "PUT",
            &format!("/{B}/with-body"),
            &[("x-fastgate-probe", size.as_str())],
            b"bytes",
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(head_status(&c, B, "with-body").await, 404);
}

/// The refusal a server without the probe must give: an S3 error, never a 2xx, and
/// nothing a client could read as a hit or a miss.
fn assert_refused_by_an_unaware_server(r: &RawResponse, what: &str) {
    assert!((400..500).contains(&r.status), "{what}: {} {}", r.status, r.text());
    assert!(r.error_code().is_some(), "{what}: no S3 error: {}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), None, "{what}");
}

#[tokio::test]
async fn a_server_without_the_probe_refuses_every_form_of_it_and_stores_nothing() {
    // s3s-fs knows nothing of `x-fastgate-probe`: it reads each probe as an ordinary
    // PutObject or UploadPart of an empty body.
    let other = S3sFs::start();
    let c = other.client();
    create_bucket(&c, B).await;
    let content = random_data(100_000);
    let (b64, size) = (sha_b64(&content), content.len().to_string());
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let part_target = format!("/{B}/mp?partNumber=1&uploadId={id}");

    // Header-signed, PutObject and UploadPart, exactly as `fastgate cp` and the console send them.
    for target in [format!("/{B}/obj"), part_target.clone()] {
        let url = format!("{}{target}", other.endpoint());
        let headers = [
            ("x-amz-checksum-sha256", b64.as_str()),
            ("x-fastgate-probe", size.as_str()),
        ];
        let r = signed_request(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            &url,
            &headers,
            &sha256_hex(&content),
            b"",
        )
        .await;
        assert_refused_by_an_unaware_server(&r, &target);
        assert_eq!(r.error_code().as_deref(), Some("BadDigest"), "{target}: {}", r.text());
    }

    // Presigned, with the marker in the query and the checksum a signed header.
    let cfg = || PresigningConfig::expires_in(Duration::from_secs(300)).expect("presigning config");
    let marker = format!("x-fastgate-probe={size}");
    let with_marker = |marker: String| {
        move |r: &mut aws_smithy_runtime_api::client::orchestrator::HttpRequest| {
            let sep = if r.uri().contains('?') { '&' } else { '?' };
            let uri = format!("{}{sep}{marker}", r.uri());
            r.set_uri(uri).expect("uri");
        }
    };
    let presigned_put = c
        .put_object()
        .bucket(B)
        .key("pre-obj")
        .checksum_sha256(&b64)
        .customize()
        .mutate_request(with_marker(marker.clone()))
        .presigned(cfg())
        .await
        .expect("presign PutObject");
    let presigned_part = c
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .part_number(2)
        .checksum_sha256(&b64)
        .customize()
        .mutate_request(with_marker(marker))
        .presigned(cfg())
        .await
        .expect("presign UploadPart");
    for req in [presigned_put, presigned_part] {
        assert!(req.uri().contains("x-fastgate-probe="), "{}", req.uri());
        let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let r = raw_request("PUT", req.uri(), &headers, Vec::new()).await;
        assert_refused_by_an_unaware_server(&r, req.uri());
        assert_eq!(
            r.error_code().as_deref(),
            Some("BadDigest"),
            "{}: {}",
            req.uri(),
            r.text()
        );
    }

    // No object and no part came of any of them.
    let listed = c.list_objects_v2().bucket(B).send().await.expect("list objects");
    assert!(listed.contents().is_empty(), "{listed:?}");
    assert_eq!(head_status(&c, B, "obj").await, 404);
    assert_eq!(head_status(&c, B, "pre-obj").await, 404);
    let parts = c
        .list_parts()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    assert!(parts.parts().is_empty(), "{parts:?}");
}
