//! Object operations: put/get/head/delete, metadata, ranges, conditions, copy, keys,
//! integrity checks, checksums and presigned URLs.

use crate::common;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier};
use base64::Engine as _;
use common::*;
use sha2::Digest as _;

const B: &str = "objects";

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    (srv, c)
}

async fn exists(c: &aws_sdk_s3::Client, key: &str) -> bool {
    match c.head_object().bucket(B).key(key).send().await {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(sdk_error(&e).1, Some(404), "{e:?}");
            false
        }
    }
}

#[tokio::test]
async fn put_get_round_trip_with_headers_and_metadata() {
    let (_srv, c) = setup().await;
    let body = data(10_000, 1);
    let expires = DateTime::from_secs(4_102_444_800); // 2100-01-01
    let out = c
        .put_object()
        .bucket(B)
        .key("dir/file.json")
        .body(body.clone().into())
        .content_type("application/json")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"file.json\"")
        .content_language("de-DE")
        .cache_control("max-age=60")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("Owner-Name", "Ada")
        .send()
        .await
        .expect("put");
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(out.e_tag(), Some(etag.as_str()));

    let got = c.get_object().bucket(B).key("dir/file.json").send().await.expect("get");
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_length(), Some(10_000));
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(got.content_encoding(), Some("identity"));
    assert_eq!(got.content_disposition(), Some("attachment; filename=\"file.json\""));
    assert_eq!(got.content_language(), Some("de-DE"));
    assert_eq!(got.cache_control(), Some("max-age=60"));
    assert_eq!(got.expires_string(), Some("Fri, 01 Jan 2100 00:00:00 GMT"));
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("owner-name").map(String::as_str), Some("Ada"), "{meta:?}");
    assert!(got.last_modified().is_some());
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

    let head = c
        .head_object()
        .bucket(B)
        .key("dir/file.json")
        .send()
        .await
        .expect("head");
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_length(), Some(10_000));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("color")).map(String::as_str),
        Some("blue")
    );

    // Overwrite: the new content and headers replace the old entirely.
    put(&c, B, "dir/file.json", b"v2").await;
    let got = c.get_object().bucket(B).key("dir/file.json").send().await.expect("get");
    assert!(got.metadata().is_none_or(|m| m.is_empty()), "{:?}", got.metadata());
    assert_eq!(got.cache_control(), None);
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"v2");

    // Empty object.
    let e = put(&c, B, "empty", b"").await;
    assert_eq!(e, format!("\"{}\"", md5_hex(b"")));
    assert_eq!(get(&c, B, "empty").await, b"");

    assert_code(c.get_object().bucket(B).key("nope").send().await, "NoSuchKey");
    assert_code(
        c.get_object().bucket("no-such-bucket").key("k").send().await,
        "NoSuchBucket",
    );
}

#[tokio::test]
async fn ranges() {
    let (srv, c) = setup().await;
    let body = data(1000, 2);
    put(&c, B, "r", &body).await;

    let got = c
        .get_object()
        .bucket(B)
        .key("r")
        .range("bytes=10-19")
        .send()
        .await
        .expect("range");
    assert_eq!(got.content_range(), Some("bytes 10-19/1000"));
    assert_eq!(got.content_length(), Some(10));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[10..20]);

    let got = c
        .get_object()
        .bucket(B)
        .key("r")
        .range("bytes=-5")
        .send()
        .await
        .expect("suffix");
    assert_eq!(got.content_range(), Some("bytes 995-999/1000"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[995..]);

    let got = c
        .get_object()
        .bucket(B)
        .key("r")
        .range("bytes=990-")
        .send()
        .await
        .expect("open");
    assert_eq!(got.content_range(), Some("bytes 990-999/1000"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[990..]);

    // An end past the size is clamped.
    let got = c
        .get_object()
        .bucket(B)
        .key("r")
        .range("bytes=998-5000")
        .send()
        .await
        .expect("clamp");
    assert_eq!(got.content_range(), Some("bytes 998-999/1000"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &body[998..]);

    let status = assert_code(
        c.get_object().bucket(B).key("r").range("bytes=1000-2000").send().await,
        "InvalidRange",
    );
    assert_eq!(status, 416);

    // The raw status line of a ranged GET is 206.
    let r = srv
        .signed("GET", &format!("/{B}/r"), &[("range", "bytes=0-0")], b"")
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-0/1000"));
    assert_eq!(r.body.as_ref(), &body[..1]);
}

#[tokio::test]
async fn conditional_requests() {
    let (_srv, c) = setup().await;
    let etag = put(&c, B, "c", b"conditional").await;
    let past = DateTime::from_secs(1_000_000_000);
    let future = DateTime::from_secs(
        i64::try_from(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
            + 3600,
    );
    let get = || c.get_object().bucket(B).key("c");

    get().if_match(&etag).send().await.expect("if-match hit");
    get().if_match("*").send().await.expect("if-match any");
    let s = assert_code(get().if_match("\"0123\"").send().await, "PreconditionFailed");
    assert_eq!(s, 412);

    get()
        .if_none_match("\"0123\"")
        .send()
        .await
        .expect("if-none-match miss");
    let e = get().if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(sdk_error(&e).1, Some(304), "{e:?}");

    get()
        .if_modified_since(past)
        .send()
        .await
        .expect("modified since the past");
    let e = get().if_modified_since(future).send().await.unwrap_err();
    assert_eq!(sdk_error(&e).1, Some(304), "{e:?}");

    get()
        .if_unmodified_since(future)
        .send()
        .await
        .expect("unmodified since the future");
    let s = assert_code(get().if_unmodified_since(past).send().await, "PreconditionFailed");
    assert_eq!(s, 412);

    // If-Match wins over If-Unmodified-Since; If-None-Match over If-Modified-Since.
    get()
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await
        .expect("if-match beats if-unmodified-since");
    get()
        .if_none_match("\"0123\"")
        .if_modified_since(future)
        .send()
        .await
        .expect("if-none-match beats if-modified-since");

    // HEAD follows the same rules.
    let e = c
        .head_object()
        .bucket(B)
        .key("c")
        .if_match("\"0123\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&e).1, Some(412), "{e:?}");
    let e = c
        .head_object()
        .bucket(B)
        .key("c")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&e).1, Some(304), "{e:?}");
}

#[tokio::test]
async fn response_header_overrides() {
    let (_srv, c) = setup().await;
    c.put_object()
        .bucket(B)
        .key("o")
        .content_type("text/plain")
        .body(b"override me".to_vec().into())
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket(B)
        .key("o")
        .response_content_type("application/x-override")
        .response_content_disposition("inline")
        .response_cache_control("no-store")
        .send()
        .await
        .expect("get");
    assert_eq!(got.content_type(), Some("application/x-override"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-store"));
    // The stored headers are unchanged.
    let head = c.head_object().bucket(B).key("o").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
}

#[tokio::test]
async fn delete_and_delete_objects() {
    let (_srv, c) = setup().await;
    put(&c, B, "gone", b"x").await;
    c.delete_object().bucket(B).key("gone").send().await.expect("delete");
    assert!(!exists(&c, "gone").await);
    // Deleting a missing key succeeds.
    c.delete_object()
        .bucket(B)
        .key("gone")
        .send()
        .await
        .expect("delete missing");
    c.delete_object()
        .bucket(B)
        .key("never-was")
        .send()
        .await
        .expect("delete missing");

    for k in ["a", "b", "c", "d", "e"] {
        put(&c, B, k, k.as_bytes()).await;
    }
    let ids = |keys: &[&str]| {
        keys.iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect::<Vec<_>>()
    };
    let out = c
        .delete_objects()
        .bucket(B)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["a", "b", "missing"])))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("delete_objects");
    let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort_unstable();
    assert_eq!(deleted, ["a", "b", "missing"]);
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    let out = c
        .delete_objects()
        .bucket(B)
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .set_objects(Some(ids(&["c", "d"])))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("quiet delete_objects with bypass governance");
    assert!(out.deleted().is_empty(), "quiet mode lists no deletions: {out:?}");
    assert!(out.errors().is_empty(), "{:?}", out.errors());

    for k in ["a", "b", "c", "d"] {
        assert!(!exists(&c, k).await, "{k} still exists");
    }
    assert!(exists(&c, "e").await);
}

#[tokio::test]
async fn copy_object_copy_and_replace() {
    let (_srv, c) = setup().await;
    let body = data(5000, 3);
    c.put_object()
        .bucket(B)
        .key("src")
        .body(body.clone().into())
        .content_type("image/png")
        .metadata("origin", "src")
        .send()
        .await
        .unwrap();
    create_bucket(&c, "other-bucket").await;

    let out = c
        .copy_object()
        .bucket("other-bucket")
        .key("dst-copy")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .expect("copy");
    let etag = format!("\"{}\"", md5_hex(&body));
    assert_eq!(out.copy_object_result().and_then(|r| r.e_tag()), Some(etag.as_str()));
    let got = c
        .get_object()
        .bucket("other-bucket")
        .key("dst-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("origin")).map(String::as_str),
        Some("src")
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

    c.copy_object()
        .bucket(B)
        .key("dst-replace")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/csv")
        .metadata("origin", "replaced")
        .send()
        .await
        .expect("copy replace");
    let got = c.get_object().bucket(B).key("dst-replace").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/csv"));
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("origin").map(String::as_str), Some("replaced"));
    assert_eq!(meta.len(), 1, "{meta:?}");
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

    // Copying onto itself is allowed only with REPLACE.
    c.copy_object()
        .bucket(B)
        .key("src")
        .copy_source(format!("{B}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("origin", "self")
        .send()
        .await
        .expect("self copy with replace");
    let head = c.head_object().bucket(B).key("src").send().await.unwrap();
    assert_eq!(
        head.metadata().and_then(|m| m.get("origin")).map(String::as_str),
        Some("self")
    );
    assert_code(
        c.copy_object()
            .bucket(B)
            .key("src")
            .copy_source(format!("{B}/src"))
            .send()
            .await,
        "InvalidRequest",
    );

    assert_code(
        c.copy_object()
            .bucket(B)
            .key("x")
            .copy_source(format!("{B}/missing"))
            .send()
            .await,
        "NoSuchKey",
    );
}

#[tokio::test]
async fn odd_keys_round_trip_and_stay_inside_the_data_dir() {
    let (srv, c) = setup().await;
    let keys = [
        "../../etc/passwd",
        "../../../../../../tmp/fastgate-escape",
        "with space/and more spaces .txt",
        "unicodé/日本語/файл 🎉.bin",
        "a+b=c&d?e#f%g",
        "trailing/",
        "/leading-slash",
        "dots/./and/../x",
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = format!("body of key {i}").into_bytes();
        put(&c, B, k, &body).await;
        assert_eq!(get(&c, B, k).await, body, "{k}");
    }
    let mut listed: Vec<String> = c
        .list_objects_v2()
        .bucket(B)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    listed.sort();
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    assert_eq!(listed, want);

    // Nothing outside the data dir (besides our config and log) was written.
    let root = srv.root.path();
    for f in files_under(root) {
        assert!(
            f.starts_with(srv.data_dir()) || f == srv.log_path() || f == root.join("fastgate.toml"),
            "file outside the data dir: {}",
            f.display()
        );
    }
    assert!(!root.join("etc").exists());
    assert!(!std::path::Path::new("/tmp/fastgate-escape").exists());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    assert!(!passwd.contains("body of key"));

    for k in keys {
        c.delete_object().bucket(B).key(k).send().await.expect("delete");
        assert!(!exists(&c, k).await, "{k}");
    }
}

#[tokio::test]
async fn key_too_long() {
    let (_srv, c) = setup().await;
    let long = "k".repeat(1025);
    let status = assert_code(
        c.put_object()
            .bucket(B)
            .key(&long)
            .body(b"x".to_vec().into())
            .send()
            .await,
        "KeyTooLongError",
    );
    assert_eq!(status, 400);
    let ok = "k".repeat(1024);
    put(&c, B, &ok, b"max").await;
    assert_eq!(get(&c, B, &ok).await, b"max");
}

#[tokio::test]
async fn content_md5_mismatch_is_bad_digest() {
    let (srv, c) = setup().await;
    let chunks_before = srv.metric("fastgate_chunks").await;
    let status = assert_code(
        c.put_object()
            .bucket(B)
            .key("bad")
            .content_md5(md5_b64(b"something else"))
            .body(b"the real body".to_vec().into())
            .send()
            .await,
        "BadDigest",
    );
    assert_eq!(status, 400);
    assert!(!exists(&c, "bad").await);
    assert_eq!(srv.metric("fastgate_chunks").await, chunks_before);

    // Same with a raw request that carries nothing but Content-MD5.
    let md5 = md5_b64(b"other");
    let r = srv
        .signed(
            "PUT",
            &format!("/{B}/bad2"),
            &[("content-md5", md5.as_str())],
            b"the body",
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("BadDigest"));
    assert!(!exists(&c, "bad2").await);

    // A correct Content-MD5 is accepted.
    c.put_object()
        .bucket(B)
        .key("good")
        .content_md5(md5_b64(b"the real body"))
        .body(b"the real body".to_vec().into())
        .send()
        .await
        .expect("correct md5");
}

#[tokio::test]
async fn checksums() {
    let (_srv, c) = setup().await;
    let body = data(3000, 4);
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let sha256 = b64(&sha2::Sha256::digest(&body));
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("ck-{}", alg.as_str());
        let out = c
            .put_object()
            .bucket(B)
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(body.clone().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put with {alg:?}: {e:?}"));
        let sent = match alg {
            ChecksumAlgorithm::Crc32 => out.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => out.checksum_crc32_c(),
            ChecksumAlgorithm::Sha256 => out.checksum_sha256(),
            ChecksumAlgorithm::Sha1 => out.checksum_sha1(),
            _ => out.checksum_crc64_nvme(),
        }
        .unwrap_or_else(|| panic!("PutObject echoes the {alg:?} checksum: {out:?}"))
        .to_owned();
        if alg == ChecksumAlgorithm::Sha256 {
            assert_eq!(sent, sha256);
        }

        // The SDK validates the body against the returned checksum too.
        let got = c
            .get_object()
            .bucket(B)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
        let have = match alg {
            ChecksumAlgorithm::Crc32 => got.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => got.checksum_crc32_c(),
            ChecksumAlgorithm::Sha256 => got.checksum_sha256(),
            ChecksumAlgorithm::Sha1 => got.checksum_sha1(),
            _ => got.checksum_crc64_nvme(),
        };
        assert_eq!(have, Some(sent.as_str()), "{alg:?}: {got:?}");
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

        let head = c
            .head_object()
            .bucket(B)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let have = match alg {
            ChecksumAlgorithm::Crc32 => head.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => head.checksum_crc32_c(),
            ChecksumAlgorithm::Sha256 => head.checksum_sha256(),
            ChecksumAlgorithm::Sha1 => head.checksum_sha1(),
            _ => head.checksum_crc64_nvme(),
        };
        assert_eq!(have, Some(sent.as_str()), "head {alg:?}: {head:?}");
    }

    // A wrong declared checksum is refused, and nothing is stored.
    let wrong = b64(&sha2::Sha256::digest(b"not the body"));
    let r = c
        .put_object()
        .bucket(B)
        .key("ck-wrong")
        .checksum_sha256(wrong)
        .body(body.clone().into())
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    assert!(!exists(&c, "ck-wrong").await);
}

#[tokio::test]
async fn presigned_get_and_put() {
    let (srv, c) = setup().await;
    put(&c, B, "pre/get me", b"presigned content").await;

    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let req = c
        .get_object()
        .bucket(B)
        .key("pre/get me")
        .presigned(cfg.clone())
        .await
        .unwrap();
    let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let r = raw_request("GET", req.uri(), &headers, Vec::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.as_ref(), b"presigned content");

    let req = c.put_object().bucket(B).key("pre/put").presigned(cfg).await.unwrap();
    let headers: Vec<(String, String)> = req.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let r = raw_request("PUT", req.uri(), &headers, b"uploaded via presigned url".to_vec()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&c, B, "pre/put").await, b"uploaded via presigned url");

    // A presigned URL that has expired.
    let expired = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let req = c
        .get_object()
        .bucket(B)
        .key("pre/get me")
        .presigned(expired.clone())
        .await
        .unwrap();
    let r = raw_request("GET", req.uri(), &[], Vec::new()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("AccessDenied"), "{}", r.text());

    let req = c
        .put_object()
        .bucket(B)
        .key("pre/late")
        .presigned(expired)
        .await
        .unwrap();
    let r = raw_request("PUT", req.uri(), &[], b"too late".to_vec()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(!exists(&c, "pre/late").await);

    // A tampered signature.
    let cfg = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let req = c.get_object().bucket(B).key("pre/get me").presigned(cfg).await.unwrap();
    let uri = req.uri().to_owned();
    let at = uri.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &uri[at..=at] == "0" { "1" } else { "0" };
    let uri = format!("{}{flipped}{}", &uri[..at], &uri[at + 1..]);
    let r = raw_request("GET", &uri, &[], Vec::new()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("SignatureDoesNotMatch"), "{}", r.text());
    drop(srv);
}

/// Large bodies get their MD5 from the engine that hashes concurrent uploads side by
/// side: each upload must still get its own ETag, whatever the sizes (just over the
/// in-memory limit, not multiples of 64 bytes, several MiB) and however they interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_puts_each_get_the_md5_of_their_own_body() {
    let (_srv, c) = setup().await;
    let sizes = [
        256 * 1024 + 1,
        300_001,
        1 << 20,
        (1 << 20) + 7,
        3 * (1 << 20) + 13,
        5_000_003,
    ];
    let puts = sizes.iter().enumerate().map(|(i, &n)| {
        let c = c.clone();
        async move {
            let body = data(n, 100 + i as u64);
            let key = format!("large-{i}");
            let out = c
                .put_object()
                .bucket(B)
                .key(&key)
                .body(body.clone().into())
                .send()
                .await
                .expect("put");
            let etag = format!("\"{}\"", md5_hex(&body));
            assert_eq!(out.e_tag(), Some(etag.as_str()), "{key}: {n} bytes");
            let got = c.get_object().bucket(B).key(&key).send().await.expect("get");
            assert_eq!(got.e_tag(), Some(etag.as_str()));
            let bytes = got.body.collect().await.expect("body").into_bytes();
            assert!(bytes[..] == body[..], "{key}: bytes differ");
        }
    });
    futures::future::join_all(puts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_put_survives_a_sigkill() {
    let (mut srv, c) = setup().await;
    // Sixteen writers PUT small (trunk) and large (own file) objects, overwriting some,
    // until the server is killed under them; whatever got a 200 must be there after the
    // restart, byte for byte. The one PUT each writer had in flight may have landed or
    // not.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let writers: Vec<_> = (0..16u64)
        .map(|w| {
            let (c, acked) = (c.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("w{w}/{}", i % 40);
                    let seed = (w << 32) | i;
                    let len = if i % 5 == 0 { 300_000 } else { 2_000 + i as usize };
                    let body = data(len, seed);
                    let sent = c.put_object().bucket(B).key(&key).body(body.into()).send().await;
                    if sent.is_err() {
                        return (key, (len, seed));
                    }
                    acked.lock().unwrap().insert(key, (len, seed));
                }
                unreachable!("writers stop when the server dies")
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    srv.kill9();
    let mut in_flight = std::collections::HashMap::new();
    for w in writers {
        let (key, version) = w.await.unwrap();
        in_flight.insert(key, version);
    }
    srv.restart();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 16, "only {} PUTs were acknowledged", acked.len());
    for (key, (len, seed)) in acked {
        let got = get(&c, B, &key).await;
        let landed_later = in_flight.get(&key).is_some_and(|&(l, s)| got == data(l, s));
        assert!(
            got == data(len, seed) || landed_later,
            "{key} differs after the restart"
        );
    }
}
