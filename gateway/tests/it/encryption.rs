//! Encryption at rest: SSE-S3, SSE-KMS with the operator's named keys, SSE-C, the
//! bucket default, key rotation, and the refusals AWS gives for bad input. The keys live
//! in a key file outside the data dir.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine as _;
use common::*;

const B: &str = "enc";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A key file with the named keys (each a distinct 32-byte key), outside any data dir.
fn key_file(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_keys(dir.path(), names);
    dir
}

fn write_keys(dir: &std::path::Path, names: &[&str]) {
    let text: String = names
        .iter()
        .map(|n| format!("{n}:{}\n", B64.encode(key_bytes(n))))
        .collect();
    std::fs::write(dir.join("keys"), text).expect("write keys");
}

fn key_bytes(name: &str) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in name.bytes().cycle().take(32).enumerate() {
        k[i] = b.wrapping_add(i as u8);
    }
    k
}

fn config(keys: &tempfile::TempDir, extra: &str) -> String {
    format!(
        "[encryption]\nkey_file = \"{}\"\nallow_sse_c_over_http = true\n{extra}",
        keys.path().join("keys").display()
    )
}

async fn setup(names: &[&str]) -> (tempfile::TempDir, Server, aws_sdk_s3::Client) {
    let keys = key_file(names);
    let srv = Server::with_config(&config(&keys, ""));
    let c = srv.client();
    create_bucket(&c, B).await;
    (keys, srv, c)
}

/// Content whose every 64-byte window holds a marker that a grep can find.
fn marked(len: usize, marker: &[u8]) -> Vec<u8> {
    marker.iter().copied().cycle().take(len).collect()
}

async fn put_s3(c: &aws_sdk_s3::Client, key: &str, body: &[u8]) {
    c.put_object()
        .bucket(B)
        .key(key)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn range(c: &aws_sdk_s3::Client, key: &str, from: usize, to: usize) -> Vec<u8> {
    c.get_object()
        .bucket(B)
        .key(key)
        .range(format!("bytes={from}-{}", to - 1))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key} {from}-{to}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under the data dir that holds `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| contains(&read_file(p), needle))
        .collect()
}

#[tokio::test]
async fn an_sse_s3_object_reads_back_whole_and_by_ranges_across_segments_and_says_so() {
    let (_keys, _srv, c) = setup(&["master"]).await;
    const SEG: usize = 64 * 1024;
    let body = data(5 * SEG + 123, 1);
    put_s3(&c, "big", &body).await;
    let small = b"small and sealed".to_vec();
    put_s3(&c, "small", &small).await;

    assert_eq!(get(&c, B, "big").await, body);
    assert_eq!(get(&c, B, "small").await, small);
    for (from, to) in [
        (0, 1),
        (SEG - 3, SEG + 3),
        (SEG, 2 * SEG),
        (SEG + 1, 4 * SEG - 1),
        (5 * SEG, 5 * SEG + 123),
        (5 * SEG + 122, 5 * SEG + 123),
        (17, 5 * SEG + 100),
    ] {
        assert_eq!(range(&c, "big", from, to).await, &body[from..to], "{from}..{to}");
    }
    assert_eq!(range(&c, "small", 3, 9).await, &small[3..9]);
    let head = c.head_object().bucket(B).key("big").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(head.content_length(), Some(body.len() as i64));
    let got = c.get_object().bucket(B).key("small").send().await.expect("get");
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    // A plaintext object says nothing about encryption.
    put(&c, B, "plain", b"plain").await;
    let head = c.head_object().bucket(B).key("plain").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), None);
}

#[tokio::test]
async fn no_plaintext_of_an_encrypted_object_can_be_found_anywhere_under_the_data_dir() {
    let (_keys, srv, c) = setup(&["master", "kms1"]).await;
    let marker = b"FASTGATE-PLAINTEXT-MARKER-7f3a9c";
    // A small object (a trunk slot), a large one (a file of its own), a multipart one,
    // an SSE-KMS one, an SSE-C one and a copy, all of the marked content or parts of it.
    put_s3(&c, "small", &marked(1000, marker)).await;
    put_s3(&c, "large", &marked(700_000, marker)).await;
    c.put_object()
        .bucket(B)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("kms1")
        .body(marked(300_000, marker).into())
        .send()
        .await
        .expect("put kms");
    let ck = [7u8; 32];
    c.put_object()
        .bucket(B)
        .key("ssec")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(B64.encode(ck))
        .sse_customer_key_md5(md5_b64(&ck))
        .body(marked(2000, marker).into())
        .send()
        .await
        .expect("put sse-c");
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let mut parts = Vec::new();
    for (n, len) in [(1, 5 << 20), (2, 1000)] {
        let p = c
            .upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(marked(len, marker).into())
            .send()
            .await
            .expect("part");
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap_or_default())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete");
    c.copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/large"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy");
    assert_eq!(get(&c, B, "large").await, marked(700_000, marker));

    let found = files_holding(&srv.data_dir(), marker);
    assert!(found.is_empty(), "plaintext found in {found:?}");
    // The check finds plaintext where there is some.
    put(&c, B, "plain", &marked(1000, marker)).await;
    assert!(!files_holding(&srv.data_dir(), marker).is_empty());
}

#[tokio::test]
async fn the_bucket_default_encryption_applies_to_new_objects_until_deleted() {
    let (_keys, _srv, c) = setup(&["master"]).await;
    let missing = c.get_bucket_encryption().bucket(B).send().await;
    assert_code(missing, "ServerSideEncryptionConfigurationNotFoundError");
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .expect("default"),
        )
        .build();
    c.put_bucket_encryption()
        .bucket(B)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("put bucket encryption");
    let got = c.get_bucket_encryption().bucket(B).send().await.expect("get");
    let rules = got.server_side_encryption_configuration().expect("config").rules();
    let by_default = rules[0].apply_server_side_encryption_by_default().expect("default");
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::Aes256);

    put(&c, B, "defaulted", b"sealed by default").await;
    let head = c.head_object().bucket(B).key("defaulted").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(get(&c, B, "defaulted").await, b"sealed by default");

    c.delete_bucket_encryption().bucket(B).send().await.expect("delete");
    let missing = c.get_bucket_encryption().bucket(B).send().await;
    assert_code(missing, "ServerSideEncryptionConfigurationNotFoundError");
    put(&c, B, "after", b"plain again").await;
    let head = c.head_object().bucket(B).key("after").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), None);
    // Objects written under the default keep their encryption.
    let head = c.head_object().bucket(B).key("defaulted").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
}

#[tokio::test]
async fn copies_between_plaintext_and_sse_s3_re_encrypt_and_read_back() {
    let (_keys, _srv, c) = setup(&["master"]).await;
    let body = data(300_000, 4);
    put(&c, B, "plain", &body).await;
    c.copy_object()
        .bucket(B)
        .key("sealed")
        .copy_source(format!("{B}/plain"))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .expect("copy to sealed");
    c.copy_object()
        .bucket(B)
        .key("back")
        .copy_source(format!("{B}/sealed"))
        .send()
        .await
        .expect("copy to plain");
    let sealed = c.head_object().bucket(B).key("sealed").send().await.expect("head");
    assert_eq!(sealed.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let back = c.head_object().bucket(B).key("back").send().await.expect("head");
    assert_eq!(back.server_side_encryption(), None);
    assert_eq!(get(&c, B, "sealed").await, body);
    assert_eq!(get(&c, B, "back").await, body);
}

/// An instant-upload probe (see `probe.rs`) for `content` with extra headers.
async fn probe(srv: &Server, key: &str, content: &[u8], extra: &[(&str, &str)]) -> RawResponse {
    use sha2::Digest as _;
    let size = content.len().to_string();
    let b64 = B64.encode(sha2::Sha256::digest(content));
    let mut headers = vec![
        ("x-amz-checksum-sha256", b64.as_str()),
        ("x-fastgate-probe", size.as_str()),
    ];
    headers.extend_from_slice(extra);
    srv.signed_with_hash(
        ACCESS_KEY,
        SECRET_KEY,
        "PUT",
        &format!("/{B}/{key}"),
        &headers,
        &sha256_hex(content),
        b"",
    )
    .await
}

#[tokio::test]
async fn an_sse_s3_object_takes_an_instant_upload_of_sealed_content_and_never_of_plaintext() {
    let (_keys, srv, c) = setup(&["master"]).await;
    let body = random_data(400_000);
    put_s3(&c, "first", &body).await;
    let sse = [("x-amz-server-side-encryption", "AES256")];
    let hit = probe(&srv, "second", &body, &sse).await;
    assert_eq!(hit.status, 200, "{}", hit.text());
    assert_eq!(hit.header("x-fastgate-dedup"), Some("hit"));
    assert_eq!(hit.header("x-amz-server-side-encryption"), Some("AES256"));
    assert_eq!(get(&c, B, "second").await, body);
    // Plaintext of the same content is not stored: a plaintext write must send it.
    let miss = probe(&srv, "plain", &body, &[]).await;
    assert_eq!(miss.status, 404, "{}", miss.text());
    assert_eq!(miss.header("x-fastgate-dedup"), Some("miss"));
    // And the other way round: plaintext content is no sealed chunk.
    let plain = random_data(1000);
    put(&c, B, "p", &plain).await;
    let miss = probe(&srv, "p2", &plain, &sse).await;
    assert_eq!(miss.status, 404, "{}", miss.text());
}

fn customer(key: &[u8; 32]) -> (String, String) {
    (B64.encode(key), md5_b64(key))
}

#[tokio::test]
async fn an_sse_c_object_reads_back_only_with_its_key_and_by_ranges() {
    let (_keys, _srv, c) = setup(&["master"]).await;
    let key = [42u8; 32];
    let (k, md5) = customer(&key);
    let body = data(200_000, 9);
    let put = c
        .put_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&md5)
        .body(body.clone().into())
        .send()
        .await
        .expect("put");
    assert_eq!(put.sse_customer_key_md5(), Some(md5.as_str()));
    let get_with = |from: usize, to: usize| {
        c.get_object()
            .bucket(B)
            .key("c")
            .range(format!("bytes={from}-{}", to - 1))
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&k)
            .sse_customer_key_md5(&md5)
            .send()
    };
    for (from, to) in [(0, 200_000), (65_530, 65_550), (131_072, 131_073), (199_000, 200_000)] {
        let got = get_with(from, to).await.expect("ranged get");
        assert_eq!(got.sse_customer_algorithm(), Some("AES256"));
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(&bytes[..], &body[from..to], "{from}..{to}");
    }
    let without = c.get_object().bucket(B).key("c").send().await;
    assert_eq!(assert_code(without, "InvalidRequest"), 400);
    let (other, other_md5) = customer(&[1u8; 32]);
    let wrong = c
        .get_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(other)
        .sse_customer_key_md5(other_md5)
        .send()
        .await;
    assert_eq!(assert_code(wrong, "AccessDenied"), 403);
    let head = c
        .head_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .expect("head");
    assert_eq!(head.sse_customer_key_md5(), Some(md5.as_str()));
    let head = c.head_object().bucket(B).key("c").send().await;
    assert!(head.is_err(), "a HEAD without the key is refused");
    let attributes = c
        .get_object_attributes()
        .bucket(B)
        .key("c")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await;
    assert_code(attributes, "InvalidRequest");
}

#[tokio::test]
async fn sse_c_multipart_and_copy_carry_the_key_on_every_request() {
    let (_keys, _srv, c) = setup(&["master"]).await;
    let (k, md5) = customer(&[5u8; 32]);
    let up = c
        .create_multipart_upload()
        .bucket(B)
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id").to_owned();
    let part = data(5 << 20, 11);
    // Refused before its body is read (a small one, so that the client sees the answer).
    let keyless = c
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_code(keyless, "InvalidRequest");
    let p = c
        .upload_part()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k)
        .sse_customer_key_md5(&md5)
        .body(part.clone().into())
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket(B)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    // Copied under another customer key: the source's key opens it, the copy's seals it.
    let (k2, md5_2) = customer(&[6u8; 32]);
    c.copy_object()
        .bucket(B)
        .key("copy")
        .copy_source(format!("{B}/mp"))
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&k)
        .copy_source_sse_customer_key_md5(&md5)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2)
        .sse_customer_key_md5(&md5_2)
        .send()
        .await
        .expect("copy");
    let got = c
        .get_object()
        .bucket(B)
        .key("copy")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&k2)
        .sse_customer_key_md5(&md5_2)
        .send()
        .await
        .expect("get copy")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&got[..], &part[..]);
    let no_source_key = c
        .copy_object()
        .bucket(B)
        .key("copy2")
        .copy_source(format!("{B}/mp"))
        .send()
        .await;
    assert_code(no_source_key, "InvalidRequest");
}

#[tokio::test]
async fn sse_c_over_plain_http_is_refused_unless_the_operator_allows_it() {
    let keys = key_file(&["master"]);
    let srv = Server::with_config(&format!(
        "[encryption]\nkey_file = \"{}\"\n",
        keys.path().join("keys").display()
    ));
    let c = srv.client();
    create_bucket(&c, B).await;
    let (k, md5) = customer(&[3u8; 32]);
    let r = c
        .put_object()
        .bucket(B)
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(k)
        .sse_customer_key_md5(md5)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(assert_code(r, "InvalidRequest"), 400);
    assert!(
        c.head_object().bucket(B).key("c").send().await.is_err(),
        "nothing stored"
    );
}

/// A refused PUT: its key, its headers, the code AWS answers.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

#[tokio::test]
async fn contradictory_or_malformed_encryption_headers_get_aws_codes_and_store_nothing() {
    let (_keys, srv, c) = setup(&["master"]).await;
    let (k, md5) = customer(&[9u8; 32]);
    let (_, wrong_md5) = customer(&[8u8; 32]);
    let cases: Vec<Case> = vec![
        (
            "both",
            vec![
                ("x-amz-server-side-encryption", "AES256"),
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", &k),
                ("x-amz-server-side-encryption-customer-key-md5", &md5),
            ],
            "InvalidArgument",
        ),
        (
            "unknown-sse",
            vec![("x-amz-server-side-encryption", "AES512")],
            "InvalidArgument",
        ),
        (
            "unknown-customer-algorithm",
            vec![
                ("x-amz-server-side-encryption-customer-algorithm", "AES128"),
                ("x-amz-server-side-encryption-customer-key", &k),
                ("x-amz-server-side-encryption-customer-key-md5", &md5),
            ],
            "InvalidEncryptionAlgorithmError",
        ),
        (
            "wrong-md5",
            vec![
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", &k),
                ("x-amz-server-side-encryption-customer-key-md5", &wrong_md5),
            ],
            "InvalidArgument",
        ),
        (
            "short-key",
            vec![
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", "c2hvcnQ="),
                ("x-amz-server-side-encryption-customer-key-md5", &md5),
            ],
            "InvalidArgument",
        ),
        (
            "unknown-kms-key",
            vec![
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", "nosuchkey"),
            ],
            "KMS.NotFoundException",
        ),
        (
            "kms-key-without-kms",
            vec![("x-amz-server-side-encryption-aws-kms-key-id", "master")],
            "InvalidArgument",
        ),
    ];
    for (key, headers, code) in cases {
        let r = srv.signed("PUT", &format!("/{B}/{key}"), &headers, b"body").await;
        assert_eq!(r.status, 400, "{key}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some(code), "{key}: {}", r.text());
        assert!(
            c.head_object().bucket(B).key(key).send().await.is_err(),
            "{key}: nothing stored"
        );
    }
}

#[tokio::test]
async fn sse_kms_names_an_operators_key_and_echoes_it_with_context_and_bucket_key() {
    let (_keys, _srv, c) = setup(&["master", "tenant-a"]).await;
    let ctx = B64.encode(br#"{"app":"backup"}"#);
    let put = c
        .put_object()
        .bucket(B)
        .key("k")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("tenant-a")
        .ssekms_encryption_context(&ctx)
        .bucket_key_enabled(true)
        .body(b"kms sealed".to_vec().into())
        .send()
        .await
        .expect("put");
    assert_eq!(put.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(put.ssekms_key_id(), Some("tenant-a"));
    assert_eq!(put.bucket_key_enabled(), Some(true));
    let head = c.head_object().bucket(B).key("k").send().await.expect("head");
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(head.ssekms_key_id(), Some("tenant-a"));
    assert_eq!(head.bucket_key_enabled(), Some(true));
    assert_eq!(get(&c, B, "k").await, b"kms sealed");
    let bad_ctx = c
        .put_object()
        .bucket(B)
        .key("bad")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_encryption_context("not base64 json")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_code(bad_ctx, "InvalidArgument");
}

/// Every chunk and trunk file's bytes, by path (metadata left out).
fn chunk_files(srv: &Server) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let meta = srv.data_dir().join("meta");
    let mut v: Vec<_> = files_under(&srv.data_dir())
        .into_iter()
        .filter(|p| !p.starts_with(&meta))
        .map(|p| {
            let b = read_file(&p);
            (p, b)
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn rotation_rewraps_every_key_without_rewriting_chunks_and_the_new_key_alone_reads_back() {
    let keys = key_file(&["old", "new"]);
    let mut srv = Server::with_config(&config(&keys, "master_key = \"old\"\n"));
    let c = srv.client();
    create_bucket(&c, B).await;
    let (small, large) = (data(1000, 21), data(400_000, 22));
    put_s3(&c, "small", &small).await;
    put_s3(&c, "large", &large).await;
    c.put_object()
        .bucket(B)
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("old")
        .body(large.clone().into())
        .send()
        .await
        .expect("put kms");
    let before = chunk_files(&srv);

    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["admin", "--endpoint", &srv.endpoint(), "--access-key", ACCESS_KEY])
        .args(["--secret-key", SECRET_KEY, "rotate-key", "--from", "old", "--to", "new"])
        .output()
        .expect("fastgate admin rotate-key");
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(said.contains("rewrapped 3"), "{said}");
    assert_eq!(chunk_files(&srv), before, "no chunk was rewritten");

    // The old key leaves the key file; the new one is the master key.
    write_keys(keys.path(), &["new"]);
    std::fs::write(srv.root.path().join("fastgate.toml"), config(&keys, "")).expect("config");
    srv.restart();
    let c = srv.client();
    assert_eq!(get(&c, B, "small").await, small);
    assert_eq!(get(&c, B, "large").await, large);
    assert_eq!(get(&c, B, "kms").await, large);
    put_s3(&c, "after", b"under the new key").await;
    assert_eq!(get(&c, B, "after").await, b"under the new key");
}

#[tokio::test]
async fn a_data_dir_whose_objects_need_a_key_the_server_lacks_is_refused_at_start() {
    let keys = key_file(&["only"]);
    let mut srv = Server::with_config(&config(&keys, ""));
    let c = srv.client();
    create_bucket(&c, B).await;
    put_s3(&c, "x", b"sealed").await;
    srv.kill9();
    write_keys(keys.path(), &["other"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("serve")
        .env("FASTGATE_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_METRICS_LISTEN", "off")
        .env("FASTGATE_CONSOLE_LISTEN", "off")
        .env("FASTGATE_DATA_DIR", srv.data_dir())
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .env("FASTGATE_CONFIG", srv.root.path().join("fastgate.toml"))
        .env_remove("FASTGATE_META_URL")
        .envs(srv.meta_env())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fastgate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"only\""), "{err}");
}

#[tokio::test]
async fn a_key_file_under_the_data_dir_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    write_keys(&data, &["k"]);
    std::fs::write(
        root.path().join("fastgate.toml"),
        format!("[encryption]\nkey_file = \"{}\"\n", data.join("keys").display()),
    )
    .expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("serve")
        .env("FASTGATE_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_DATA_DIR", &data)
        // The check is the key file's, before any metadata engine opens.
        .env_remove("FASTGATE_META_ENGINE")
        .env("FASTGATE_CONFIG", root.path().join("fastgate.toml"))
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run fastgate");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("under the data dir"));
}
