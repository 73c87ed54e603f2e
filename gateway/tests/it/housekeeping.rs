//! Housekeeping through the running server: expiry of incomplete uploads, disk usage
//! after deletes and garbage collection, a full disk, and virtual-hosted-style requests.

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Bytes in chunk files and trunk files under a store path.
fn stored_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        let md = e.metadata().expect("metadata");
        n += if md.is_dir() { stored_bytes(&e.path()) } else { md.len() };
    }
    n
}

async fn gc(srv: &Server) {
    let r = srv.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn disk_usage_returns_to_its_start_after_deletes_and_gc() {
    let srv = Server::with_config("[gc]\ngrace_period_secs = 0\n");
    let c = srv.client();
    create_bucket(&c, "usage").await;
    let m00 = srv.data_dir().join("M00");
    let start = stored_bytes(&m00.join("data")) + stored_bytes(&m00.join("trunk"));
    assert_eq!(start, 0);

    // Small (trunk) and large (own file) objects, a copy, and a multipart upload that
    // is completed and another that is aborted.
    put(&c, "usage", "small", &data(1000, 1)).await;
    put(&c, "usage", "large", &data(3 << 20, 2)).await;
    c.copy_object()
        .bucket("usage")
        .key("copy")
        .copy_source("usage/large")
        .send()
        .await
        .unwrap();
    for (key, complete) in [("mp-done", true), ("mp-aborted", false)] {
        let up = c
            .create_multipart_upload()
            .bucket("usage")
            .key(key)
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap();
        let r = c
            .upload_part()
            .bucket("usage")
            .key(key)
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(data(300_000, 7)))
            .send()
            .await
            .unwrap();
        if complete {
            let part = CompletedPart::builder()
                .part_number(1)
                .e_tag(r.e_tag().unwrap())
                .build();
            c.complete_multipart_upload()
                .bucket("usage")
                .key(key)
                .upload_id(id)
                .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
                .send()
                .await
                .unwrap();
        } else {
            c.abort_multipart_upload()
                .bucket("usage")
                .key(key)
                .upload_id(id)
                .send()
                .await
                .unwrap();
        }
    }
    assert!(stored_bytes(&m00.join("data")) + stored_bytes(&m00.join("trunk")) > 3 << 20);

    for key in ["small", "large", "copy", "mp-done"] {
        c.delete_object().bucket("usage").key(key).send().await.unwrap();
    }
    // The first pass seals the active trunk, the second deletes it.
    gc(&srv).await;
    gc(&srv).await;
    assert_eq!(stored_bytes(&m00.join("data")), 0, "chunk files left");
    assert_eq!(stored_bytes(&m00.join("trunk")), 0, "trunk bytes left");
    assert_eq!(srv.metric("fastgate_chunks").await, 0);
}

#[tokio::test]
async fn incomplete_uploads_expire_in_the_background() {
    let srv = Server::with_config("[multipart]\nexpire_after_secs = 1\ncheck_interval_secs = 1\n");
    let c = srv.client();
    create_bucket(&c, "expiry").await;
    c.create_multipart_upload()
        .bucket("expiry")
        .key("stale")
        .send()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = c.list_multipart_uploads().bucket("expiry").send().await.unwrap();
        if l.uploads().is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "upload was not expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(srv.metric("fastgate_uploads_expired_total").await >= 1);
}

#[tokio::test]
async fn a_full_disk_is_a_clear_error_and_stores_nothing() {
    let srv = Server::with_config("[placement]\nreserved_space = \"100%\"\n");
    let c = srv.client();
    create_bucket(&c, "full").await;
    let err = c
        .put_object()
        .bucket("full")
        .key("k")
        .body(ByteStream::from(data(1000, 1)))
        .send()
        .await
        .unwrap_err();
    let (code, status) = sdk_error(&err);
    assert_eq!(status, Some(507), "{err:?}");
    assert_eq!(code.as_deref(), Some("XFastgateNoSpace"));
    assert_code(c.head_object().bucket("full").key("k").send().await, "NotFound");
}

#[tokio::test]
async fn virtual_hosted_style_requests() {
    let srv = Server::with_config("domains = [\"s3.test\"]\n");
    let c = srv.client();
    create_bucket(&c, "vhost").await;
    put(&c, "vhost", "dir/hello.txt", b"hello, vhost").await;

    let host = format!("vhost.s3.test:{}", srv.addr.port());
    let url = format!("http://{host}/dir/hello.txt");
    let headers = vec![("host".to_owned(), host.clone())];
    let signed = sign_headers(
        ACCESS_KEY,
        SECRET_KEY,
        "GET",
        &url,
        &headers,
        &sha256_hex(b""),
        SystemTime::now(),
    );
    let mut req = format!("GET /dir/hello.txt HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
    for (k, v) in signed {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("hello, vhost"), "{text}");
}

#[tokio::test]
async fn multipart_checksums_are_composite() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "sums").await;
    let up = c
        .create_multipart_upload()
        .bucket("sums")
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 << 20), (2, 1000)] {
        let r = c
            .upload_part()
            .bucket("sums")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(data(len, n as u64)))
            .send()
            .await
            .unwrap();
        let crc = r.checksum_crc32().expect("part checksum").to_owned();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .checksum_crc32(crc)
                .build(),
        );
    }
    let done = c
        .complete_multipart_upload()
        .bucket("sums")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let composite = done.checksum_crc32().expect("composite checksum").to_owned();
    assert!(composite.ends_with("-2"), "{composite}");
    let head = c
        .head_object()
        .bucket("sums")
        .key("mp")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32(), Some(composite.as_str()));
}
