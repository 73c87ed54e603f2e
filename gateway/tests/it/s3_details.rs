//! S3 details that client libraries trip on (issue 19): each test pins an answer to
//! what AWS S3 gives (status, error code, XML element names, headers).

use crate::common;

use common::*;

const B: &str = "details";

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    (srv, c)
}

fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn sha256_b64(b: &[u8]) -> String {
    use sha2::Digest as _;
    b64(&sha2::Sha256::digest(b))
}

fn crc64nvme_b64(b: &[u8]) -> String {
    let mut h = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    h.update(b);
    b64(&h.finalize().to_be_bytes())
}

fn crc32_b64(b: &[u8]) -> String {
    let mut h = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    h.update(b);
    b64(&u32::try_from(h.finalize()).expect("crc32 fits").to_be_bytes())
}

/// Every `<tag>` value of an XML document, in order.
fn xml_tags(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(s) = rest.find(&open) {
        let after = &rest[s + open.len()..];
        let Some(e) = after.find(&close) else { break };
        out.push(after[..e].to_owned());
        rest = &after[e + close.len()..];
    }
    out
}

/// Starts a multipart upload with raw requests; `checksum` is `x-amz-checksum-algorithm`.
async fn create_upload(srv: &Server, key: &str, headers: &[(&str, &str)]) -> String {
    let r = srv.signed("POST", &format!("/{B}/{key}?uploads"), headers, b"").await;
    assert_eq!(r.status, 200, "create upload: {}", r.text());
    xml_tag(&r.text(), "UploadId").expect("UploadId")
}

async fn upload_part(srv: &Server, key: &str, id: &str, n: u32, body: &[u8], headers: &[(&str, &str)]) -> RawResponse {
    srv.signed(
        "PUT",
        &format!("/{B}/{key}?partNumber={n}&uploadId={id}"),
        headers,
        body,
    )
    .await
}

async fn complete_upload(srv: &Server, key: &str, id: &str, parts_xml: &str, headers: &[(&str, &str)]) -> RawResponse {
    let body = format!("<CompleteMultipartUpload>{parts_xml}</CompleteMultipartUpload>");
    srv.signed("POST", &format!("/{B}/{key}?uploadId={id}"), headers, body.as_bytes())
        .await
}

fn part_xml(n: u32, etag: &str, extra: &str) -> String {
    format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag>{extra}</Part>")
}

#[tokio::test]
async fn part_number_past_the_parts_count_is_400_invalid_part_number() {
    let (srv, c) = setup().await;
    put(&c, B, "single", b"one part only").await;
    let one = srv.signed("GET", &format!("/{B}/single?partNumber=1"), &[], b"").await;
    assert_eq!(one.status, 200, "{}", one.text());
    assert_eq!(one.body.as_ref(), b"one part only");
    for n in [2, 3, 10_000] {
        let r = srv
            .signed("GET", &format!("/{B}/single?partNumber={n}"), &[], b"")
            .await;
        assert_eq!(r.status, 400, "part {n}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("InvalidPartNumber"));
        let h = srv
            .signed("HEAD", &format!("/{B}/single?partNumber={n}"), &[], b"")
            .await;
        assert_eq!(h.status, 400, "head part {n}");
    }

    let id = create_upload(&srv, "multi", &[]).await;
    let p = upload_part(&srv, "multi", &id, 1, b"the only part", &[]).await;
    let etag = p.header("etag").expect("etag").to_owned();
    let done = complete_upload(&srv, "multi", &id, &part_xml(1, &etag, ""), &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let r = srv.signed("GET", &format!("/{B}/multi?partNumber=2"), &[], b"").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("InvalidPartNumber"));
    let h = srv.signed("HEAD", &format!("/{B}/multi?partNumber=2"), &[], b"").await;
    assert_eq!(h.status, 400);
    let ok = srv.signed("GET", &format!("/{B}/multi?partNumber=1"), &[], b"").await;
    assert_eq!(ok.status, 206, "{}", ok.text());
}

#[tokio::test]
async fn get_object_attributes_answers_every_attribute_it_is_asked_for() {
    let (srv, _c) = setup().await;
    let all = "ETag,Checksum,ObjectParts,StorageClass,ObjectSize";
    let body = data(1000, 3);

    // A single-part object with a SHA-256 checksum.
    let sha = sha256_b64(&body);
    let r = srv
        .signed(
            "PUT",
            &format!("/{B}/plain"),
            &[("x-amz-checksum-sha256", sha.as_str())],
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for attrs in [all, "ETag, Checksum, ObjectParts, StorageClass, ObjectSize"] {
        let r = srv
            .signed(
                "GET",
                &format!("/{B}/plain?attributes"),
                &[("x-amz-object-attributes", attrs)],
                b"",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let x = r.text();
        assert_eq!(xml_tag(&x, "ObjectSize").as_deref(), Some("1000"), "{attrs}: {x}");
        // S3 gives this ETag unquoted; s3s always quotes it, which clients pass through.
        assert_eq!(
            xml_tag(&x, "ETag").map(|e| e.trim_matches('"').to_owned()),
            Some(md5_hex(&body)),
            "{x}"
        );
        assert_eq!(xml_tag(&x, "StorageClass").as_deref(), Some("STANDARD"), "{x}");
        assert_eq!(xml_tag(&x, "ChecksumSHA256"), Some(sha.clone()), "{x}");
        assert_eq!(xml_tag(&x, "ChecksumType").as_deref(), Some("FULL_OBJECT"), "{x}");
        assert!(xml_tag(&x, "ObjectParts").is_none(), "{x}");
    }
    // Only what was asked for.
    let r = srv
        .signed(
            "GET",
            &format!("/{B}/plain?attributes"),
            &[("x-amz-object-attributes", "ObjectSize")],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(xml_tag(&x, "ObjectSize").as_deref(), Some("1000"), "{x}");
    assert!(
        xml_tag(&x, "ETag").is_none() && xml_tag(&x, "Checksum").is_none(),
        "{x}"
    );

    // A three-part object with SHA-256 part checksums, paged two parts at a time.
    let parts: Vec<Vec<u8>> = (0..3)
        .map(|i| data(if i < 2 { 5 << 20 } else { 1000 }, 10 + i))
        .collect();
    let id = create_upload(&srv, "multi", &[("x-amz-checksum-algorithm", "SHA256")]).await;
    let mut listed = String::new();
    for (i, p) in parts.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let sum = sha256_b64(p);
        let r = upload_part(&srv, "multi", &id, n, p, &[("x-amz-checksum-sha256", sum.as_str())]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let etag = r.header("etag").unwrap().to_owned();
        listed.push_str(&part_xml(n, &etag, &format!("<ChecksumSHA256>{sum}</ChecksumSHA256>")));
    }
    let done = complete_upload(&srv, "multi", &id, &listed, &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let size: usize = parts.iter().map(Vec::len).sum();
    let r = srv
        .signed(
            "GET",
            &format!("/{B}/multi?attributes"),
            &[("x-amz-object-attributes", all), ("x-amz-max-parts", "2")],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(r.status, 200, "{x}");
    assert_eq!(xml_tag(&x, "ObjectSize"), Some(size.to_string()), "{x}");
    assert!(
        xml_tag(&x, "ETag").is_some_and(|e| e.trim_matches('"').ends_with("-3")),
        "{x}"
    );
    assert_eq!(xml_tag(&x, "ChecksumType").as_deref(), Some("COMPOSITE"), "{x}");
    // TotalPartsCount travels as `PartsCount` (its xmlName in S3's model).
    assert_eq!(xml_tag(&x, "PartsCount").as_deref(), Some("3"), "{x}");
    assert_eq!(xml_tag(&x, "MaxParts").as_deref(), Some("2"), "{x}");
    assert_eq!(xml_tag(&x, "IsTruncated").as_deref(), Some("true"), "{x}");
    assert_eq!(xml_tag(&x, "NextPartNumberMarker").as_deref(), Some("2"), "{x}");
    assert_eq!(xml_tags(&x, "PartNumber"), ["1", "2"], "{x}");
    assert_eq!(
        xml_tags(&x, "Size"),
        [(5 << 20).to_string(), (5 << 20).to_string()],
        "{x}"
    );
    let r = srv
        .signed(
            "GET",
            &format!("/{B}/multi?attributes"),
            &[
                ("x-amz-object-attributes", "ObjectParts"),
                ("x-amz-max-parts", "2"),
                ("x-amz-part-number-marker", "2"),
            ],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(xml_tag(&x, "PartNumberMarker").as_deref(), Some("2"), "{x}");
    assert_eq!(xml_tag(&x, "IsTruncated").as_deref(), Some("false"), "{x}");
    assert_eq!(xml_tags(&x, "PartNumber"), ["3"], "{x}");
    assert_eq!(xml_tags(&x, "ChecksumSHA256"), [sha256_b64(&parts[2])], "{x}");

    // Without checksums a general purpose bucket lists no Part elements, only the count.
    let id = create_upload(&srv, "bare", &[]).await;
    let r = upload_part(&srv, "bare", &id, 1, b"bare part", &[]).await;
    let etag = r.header("etag").unwrap().to_owned();
    let done = complete_upload(&srv, "bare", &id, &part_xml(1, &etag, ""), &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let r = srv
        .signed(
            "GET",
            &format!("/{B}/bare?attributes"),
            &[("x-amz-object-attributes", all)],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(xml_tag(&x, "ObjectSize").as_deref(), Some("9"), "{x}");
    assert_eq!(xml_tag(&x, "PartsCount").as_deref(), Some("1"), "{x}");
    assert!(
        xml_tag(&x, "Part").is_none() && xml_tag(&x, "Checksum").is_none(),
        "{x}"
    );
    assert!(
        xml_tag(&x, "MaxParts").is_none() && xml_tag(&x, "IsTruncated").is_none(),
        "{x}"
    );
}

#[tokio::test]
async fn get_and_head_of_a_tagged_object_carry_the_tagging_count() {
    let (srv, _c) = setup().await;
    let r = srv
        .signed("PUT", &format!("/{B}/tagged"), &[("x-amz-tagging", "a=1&b=2")], b"body")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = srv.signed("GET", &format!("/{B}/tagged?tagging"), &[], b"").await;
    assert_eq!(xml_tags(&t.text(), "Key"), ["a", "b"], "{}", t.text());
    let g = srv.signed("GET", &format!("/{B}/tagged"), &[], b"").await;
    assert_eq!(g.header("x-amz-tagging-count"), Some("2"), "{:?}", g.headers);
    let h = srv.signed("HEAD", &format!("/{B}/tagged"), &[], b"").await;
    assert_eq!(h.header("x-amz-tagging-count"), Some("2"), "{:?}", h.headers);
    let r = srv.signed("PUT", &format!("/{B}/untagged"), &[], b"body").await;
    assert_eq!(r.status, 200);
    let h = srv.signed("HEAD", &format!("/{B}/untagged"), &[], b"").await;
    assert_eq!(h.header("x-amz-tagging-count"), None);
}

/// One aws-chunked body with an unsigned trailer: one data chunk, the final chunk, the trailer.
fn aws_chunked(data: &[u8], trailer_name: &str, trailer_value: &str) -> Vec<u8> {
    let mut b = format!("{:x}\r\n", data.len()).into_bytes();
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n0\r\n{trailer_name}:{trailer_value}\r\n\r\n").as_bytes());
    b
}

async fn put_aws_chunked(
    srv: &Server,
    path: &str,
    data: &[u8],
    content_encoding: &str,
    trailer: (&str, &str),
) -> RawResponse {
    let body = aws_chunked(data, trailer.0, trailer.1);
    let (decoded, length) = (data.len().to_string(), body.len().to_string());
    let headers = [
        ("content-encoding", content_encoding),
        ("x-amz-trailer", trailer.0),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("content-length", length.as_str()),
    ];
    srv.signed_with_hash(
        ACCESS_KEY,
        SECRET_KEY,
        "PUT",
        path,
        &headers,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        &body,
    )
    .await
}

#[tokio::test]
async fn aws_chunked_is_not_stored_as_a_content_encoding() {
    let (srv, _c) = setup().await;
    let body = b"compressed, supposedly";
    let crc = crc32_b64(body);
    for (key, sent, stored) in [
        ("gz", "gzip, aws-chunked", Some("gzip")),
        ("gz2", "aws-chunked,gzip", Some("gzip")),
        ("plain", "aws-chunked", None),
    ] {
        let r = put_aws_chunked(&srv, &format!("/{B}/{key}"), body, sent, ("x-amz-checksum-crc32", &crc)).await;
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        let h = srv.signed("HEAD", &format!("/{B}/{key}"), &[], b"").await;
        assert_eq!(h.header("content-encoding"), stored, "{sent}");
    }
    // The same for a multipart upload created with it.
    let id = create_upload(&srv, "mp", &[("content-encoding", "gzip, aws-chunked")]).await;
    let p = upload_part(&srv, "mp", &id, 1, body, &[]).await;
    let etag = p.header("etag").unwrap().to_owned();
    let done = complete_upload(&srv, "mp", &id, &part_xml(1, &etag, ""), &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let h = srv.signed("HEAD", &format!("/{B}/mp"), &[], b"").await;
    assert_eq!(h.header("content-encoding"), Some("gzip"));
}

/// `<Prefix>` holding `a\nb`, as s3s escapes (or not) the newline.
fn has_raw(x: &str, tag: &str, v: &str) -> bool {
    [v.to_owned(), v.replace('\n', "&#xA;"), v.replace('\n', "&#10;")]
        .iter()
        .any(|v| x.contains(&format!("<{tag}>{v}</{tag}>")))
}

#[tokio::test]
async fn list_objects_v1_returns_the_prefix_as_sent_even_when_boto3_asks_for_url_encoding() {
    let (srv, c) = setup().await;
    put(&c, B, "a\nb/key", b"x").await;
    for q in ["", "list-type=2&"] {
        let r = srv.signed("GET", &format!("/{B}?{q}prefix=a%0Ab"), &[], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let x = r.text();
        assert!(
            has_raw(&x, "Prefix", "a\nb") && has_raw(&x, "Key", "a\nb/key"),
            "{q}: {x}"
        );
        assert!(!x.contains("%0A"), "{x}");
    }
    // boto3 adds encoding-type=url to every list_objects and decodes all but Prefix.
    let r = srv
        .signed("GET", &format!("/{B}?prefix=a%0Ab&encoding-type=url"), &[], b"")
        .await;
    let x = r.text();
    assert!(has_raw(&x, "Prefix", "a\nb"), "{x}");
    assert!(x.contains("<Key>a%0Ab/key</Key>"), "{x}");
    let r = srv
        .signed(
            "GET",
            &format!("/{B}?list-type=2&prefix=a%0Ab&encoding-type=url"),
            &[],
            b"",
        )
        .await;
    let x = r.text();
    assert!(
        x.contains("<Prefix>a%0Ab</Prefix>") && x.contains("<Key>a%0Ab/key</Key>"),
        "{x}"
    );
}

#[tokio::test]
async fn list_buckets_pages_with_max_buckets_continuation_token_prefix_and_region() {
    let srv = Server::start();
    let c = srv.client();
    for name in ["pa-1", "pa-2", "pa-3", "pb-1", "pb-2"] {
        create_bucket(&c, name).await;
    }
    let r = srv.signed("GET", "/?max-buckets=2", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let x = r.text();
    assert_eq!(xml_tags(&x, "Name"), ["pa-1", "pa-2"], "{x}");
    let token = xml_tag(&x, "ContinuationToken").expect("ContinuationToken");
    let r = srv
        .signed(
            "GET",
            &format!("/?max-buckets=2&continuation-token={}", urlencoding::encode(&token)),
            &[],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(xml_tags(&x, "Name"), ["pa-3", "pb-1"], "{x}");
    let token = xml_tag(&x, "ContinuationToken").expect("ContinuationToken");
    let r = srv
        .signed(
            "GET",
            &format!("/?max-buckets=2&continuation-token={}", urlencoding::encode(&token)),
            &[],
            b"",
        )
        .await;
    let x = r.text();
    assert_eq!(xml_tags(&x, "Name"), ["pb-2"], "{x}");
    assert!(xml_tag(&x, "ContinuationToken").is_none(), "{x}");

    let r = srv.signed("GET", "/?prefix=pb-", &[], b"").await;
    let x = r.text();
    assert_eq!(xml_tags(&x, "Name"), ["pb-1", "pb-2"], "{x}");
    assert_eq!(xml_tag(&x, "Prefix").as_deref(), Some("pb-"), "{x}");
    let r = srv
        .signed("GET", &format!("/?bucket-region={REGION}&max-buckets=10"), &[], b"")
        .await;
    assert_eq!(xml_tags(&r.text(), "Name").len(), 5, "{}", r.text());
    let r = srv.signed("GET", "/?bucket-region=eu-west-3", &[], b"").await;
    assert!(xml_tags(&r.text(), "Name").is_empty(), "{}", r.text());
    for bad in ["0", "10001", "-1"] {
        let r = srv.signed("GET", &format!("/?max-buckets={bad}"), &[], b"").await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("InvalidArgument"), "{bad}");
    }

    // The SDK's paginator follows ContinuationToken.
    let mut pages = c.list_buckets().max_buckets(2).into_paginator().send();
    let mut names = Vec::new();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        let page = page.expect("page");
        n += 1;
        names.extend(page.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
    }
    assert_eq!(n, 3);
    assert_eq!(names, ["pa-1", "pa-2", "pa-3", "pb-1", "pb-2"]);
}

#[tokio::test]
async fn error_bodies_carry_the_request_id_of_their_answer() {
    let (srv, _c) = setup().await;
    let r = srv.signed("GET", &format!("/{B}/missing"), &[], b"").await;
    assert_eq!(r.status, 404);
    let x = r.text();
    let id = r.header("x-amz-request-id").expect("x-amz-request-id").to_owned();
    assert_eq!(xml_tag(&x, "RequestId"), Some(id), "{x}");
    assert!(xml_tag(&x, "HostId").is_some(), "{x}");
    // Errors s3s answers itself (here: a bad signature) too.
    let r = srv
        .signed_as(ACCESS_KEY, "not-the-secret", "GET", &format!("/{B}/missing"), &[], b"")
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let id = r.header("x-amz-request-id").expect("x-amz-request-id").to_owned();
    assert_eq!(xml_tag(&r.text(), "RequestId"), Some(id), "{}", r.text());
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
}

#[tokio::test]
async fn a_checksum_that_does_not_match_the_body_is_bad_digest() {
    let (srv, _c) = setup().await;
    let body = data(5000, 7);
    let other = b"not the body";
    let wrong: [(&str, String); 5] = [
        ("x-amz-checksum-crc32", crc32_b64(other)),
        ("x-amz-checksum-crc32c", b64(&[0, 1, 2, 3])),
        ("x-amz-checksum-crc64nvme", crc64nvme_b64(other)),
        ("x-amz-checksum-sha1", b64(&[7u8; 20])),
        ("x-amz-checksum-sha256", sha256_b64(other)),
    ];
    let id = create_upload(&srv, "mp", &[]).await;
    for (name, value) in &wrong {
        // As a header, on a single PUT and on UploadPart.
        let r = srv
            .signed("PUT", &format!("/{B}/k"), &[(name, value.as_str())], &body)
            .await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("BadDigest"), "{name}: {}", r.text());
        let r = upload_part(&srv, "mp", &id, 1, &body, &[(name, value.as_str())]).await;
        assert_eq!(r.status, 400, "part {name}: {}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("BadDigest"),
            "part {name}: {}",
            r.text()
        );
        // As an aws-chunked trailer.
        let r = put_aws_chunked(&srv, &format!("/{B}/k"), &body, "aws-chunked", (name, value)).await;
        assert_eq!(r.status, 400, "trailer {name}: {}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("BadDigest"),
            "trailer {name}: {}",
            r.text()
        );
        let r = put_aws_chunked(
            &srv,
            &format!("/{B}/mp?partNumber=1&uploadId={id}"),
            &body,
            "aws-chunked",
            (name, value),
        )
        .await;
        assert_eq!(r.status, 400, "part trailer {name}: {}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("BadDigest"),
            "part trailer {name}: {}",
            r.text()
        );
    }
    let h = srv.signed("HEAD", &format!("/{B}/k"), &[], b"").await;
    assert_eq!(h.status, 404);
}

#[tokio::test]
async fn a_sha256_multipart_upload_needs_the_right_checksum_of_every_part_to_complete() {
    let (srv, _c) = setup().await;
    let parts = [data(5 << 20, 21), data(100, 22)];
    let id = create_upload(&srv, "mp", &[("x-amz-checksum-algorithm", "SHA256")]).await;
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let r = upload_part(&srv, "mp", &id, n, p, &[("x-amz-checksum-sha256", &sha256_b64(p))]).await;
        assert_eq!(r.status, 200, "{}", r.text());
        etags.push(r.header("etag").unwrap().to_owned());
    }
    let sum = |i: usize| format!("<ChecksumSHA256>{}</ChecksumSHA256>", sha256_b64(&parts[i]));
    // A checksum missing from the list: InvalidRequest.
    let missing = format!("{}{}", part_xml(1, &etags[0], &sum(0)), part_xml(2, &etags[1], ""));
    let r = complete_upload(&srv, "mp", &id, &missing, &[]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("InvalidRequest"), "{}", r.text());
    // A wrong one: InvalidPart.
    let wrong = format!("{}{}", part_xml(1, &etags[0], &sum(0)), part_xml(2, &etags[1], &sum(0)));
    let r = complete_upload(&srv, "mp", &id, &wrong, &[]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("InvalidPart"), "{}", r.text());
    // The right ones: a COMPOSITE checksum of two parts.
    let right = format!("{}{}", part_xml(1, &etags[0], &sum(0)), part_xml(2, &etags[1], &sum(1)));
    let r = complete_upload(&srv, "mp", &id, &right, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let x = r.text();
    assert!(xml_tag(&x, "ChecksumSHA256").is_some_and(|v| v.ends_with("-2")), "{x}");
    assert_eq!(xml_tag(&x, "ChecksumType").as_deref(), Some("COMPOSITE"), "{x}");
    let h = srv
        .signed("HEAD", &format!("/{B}/mp"), &[("x-amz-checksum-mode", "ENABLED")], b"")
        .await;
    assert_eq!(h.header("x-amz-checksum-type"), Some("COMPOSITE"), "{:?}", h.headers);

    // FULL_OBJECT was asked for: the part checksums may be left out.
    let id = create_upload(
        &srv,
        "full",
        &[
            ("x-amz-checksum-algorithm", "CRC64NVME"),
            ("x-amz-checksum-type", "FULL_OBJECT"),
        ],
    )
    .await;
    let r = upload_part(&srv, "full", &id, 1, &parts[1], &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").unwrap().to_owned();
    let r = complete_upload(&srv, "full", &id, &part_xml(1, &etag, ""), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let h = srv
        .signed(
            "HEAD",
            &format!("/{B}/full"),
            &[("x-amz-checksum-mode", "ENABLED")],
            b"",
        )
        .await;
    assert_eq!(h.header("x-amz-checksum-type"), Some("FULL_OBJECT"), "{:?}", h.headers);
    assert_eq!(
        h.header("x-amz-checksum-crc64nvme"),
        Some(crc64nvme_b64(&parts[1]).as_str())
    );
}

#[tokio::test]
async fn if_match_on_writes_is_412_or_404_never_501() {
    let (srv, _c) = setup().await;
    // PutObject.
    let r = srv
        .signed("PUT", &format!("/{B}/absent"), &[("if-match", "\"0123\"")], b"x")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("NoSuchKey"));
    let r = srv
        .signed("PUT", &format!("/{B}/absent"), &[("if-match", "*")], b"x")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = srv.signed("PUT", &format!("/{B}/k"), &[], b"v1").await;
    let etag = r.header("etag").unwrap().to_owned();
    let r = srv
        .signed("PUT", &format!("/{B}/k"), &[("if-match", "\"0123\"")], b"v2")
        .await;
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("PreconditionFailed"));
    let list = format!("\"0123\", {etag}");
    let r = srv
        .signed("PUT", &format!("/{B}/k"), &[("if-match", list.as_str())], b"v2")
        .await;
    assert_ne!(r.status, 501, "{}", r.text());
    assert!(r.status == 200 || r.status == 412, "{}", r.text());
    let r = srv
        .signed("PUT", &format!("/{B}/k"), &[("if-match", "\"0123\", \"4567\"")], b"v3")
        .await;
    assert_eq!(r.status, 412, "{}", r.text());
    let cur = srv.signed("HEAD", &format!("/{B}/k"), &[], b"").await;
    let etag = cur.header("etag").unwrap().to_owned();
    let r = srv
        .signed("PUT", &format!("/{B}/k"), &[("if-match", etag.as_str())], b"v4")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // CompleteMultipartUpload.
    for (key, cond, status, code) in [
        ("absent2", "\"0123\"", 404, "NoSuchKey"),
        ("k", "\"0123\"", 412, "PreconditionFailed"),
        ("k", "\"0123\", \"4567\"", 412, "PreconditionFailed"),
    ] {
        let id = create_upload(&srv, key, &[]).await;
        let p = upload_part(&srv, key, &id, 1, b"part", &[]).await;
        let e = p.header("etag").unwrap().to_owned();
        let r = complete_upload(&srv, key, &id, &part_xml(1, &e, ""), &[("if-match", cond)]).await;
        assert_eq!(r.status, status, "{key} {cond}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some(code), "{key} {cond}");
    }
}

#[tokio::test]
async fn creating_a_bucket_you_own_in_us_east_1_is_200_as_in_aws() {
    let (srv, _c) = setup().await;
    let r = srv.signed("PUT", &format!("/{B}"), &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // An explicit us-east-1 constraint is refused by AWS in us-east-1.
    let cfg =
        "<CreateBucketConfiguration><LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>";
    let r = srv.signed("PUT", "/fresh", &[], cfg.as_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("InvalidLocationConstraint"));
    let cfg =
        "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
    let r = srv.signed("PUT", "/fresh", &[], cfg.as_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("IllegalLocationConstraintException"));
    // GetBucketLocation of a us-east-1 bucket: an empty LocationConstraint element.
    let r = srv.signed("GET", &format!("/{B}?location"), &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let x = r.text();
    assert!(x.contains("<LocationConstraint") && !x.contains("us-east-1"), "{x}");
}

#[tokio::test]
async fn creating_a_bucket_you_own_elsewhere_is_409_bucket_already_owned_by_you() {
    let srv = Server::with_config("region = \"eu-west-1\"\n");
    let cfg =
        "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
    let r = srv.signed("PUT", "/mine", &[], cfg.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    for body in [cfg, ""] {
        let r = srv.signed("PUT", "/mine", &[], body.as_bytes()).await;
        assert_eq!(r.status, 409, "{}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("BucketAlreadyOwnedByYou"));
    }
    let r = srv.signed("GET", "/mine?location", &[], b"").await;
    assert!(r.text().contains(">eu-west-1</LocationConstraint>"), "{}", r.text());
    let other =
        "<CreateBucketConfiguration><LocationConstraint>us-west-2</LocationConstraint></CreateBucketConfiguration>";
    let r = srv.signed("PUT", "/other", &[], other.as_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("IllegalLocationConstraintException"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_resent_while_in_flight_ends_with_the_last_completed_attempt() {
    let (srv, _c) = setup().await;
    let srv = std::sync::Arc::new(srv);
    let id = create_upload(&srv, "mp", &[]).await;
    let (first, second) = (data(3 << 20, 31), data(3 << 20, 32));
    let (s1, s2, i1, i2) = (srv.clone(), srv.clone(), id.clone(), id.clone());
    let (f1, f2) = (first.clone(), second.clone());
    let a = tokio::spawn(async move { upload_part(&s1, "mp", &i1, 1, &f1, &[]).await });
    let b = tokio::spawn(async move { upload_part(&s2, "mp", &i2, 1, &f2, &[]).await });
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!((a.status, b.status), (200, 200));
    // Whichever finished last is the part now; the listing says which.
    let l = srv.signed("GET", &format!("/{B}/mp?uploadId={id}"), &[], b"").await;
    let listed = xml_tag(&l.text(), "ETag").expect("listed part");
    let (ea, eb) = (
        a.header("etag").unwrap().to_owned(),
        b.header("etag").unwrap().to_owned(),
    );
    assert!(listed == ea || listed == eb, "{listed} {ea} {eb}");
    assert_eq!(xml_tags(&l.text(), "PartNumber"), ["1"]);
    // Completing with the part list as the client last saw it succeeds, with that body.
    let r = complete_upload(&srv, "mp", &id, &part_xml(1, &listed, ""), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = srv.signed("GET", &format!("/{B}/mp"), &[], b"").await;
    let want = if listed == ea { &first } else { &second };
    assert!(got.body.as_ref() == want.as_slice());
    // Re-sending a part replaces it.
    let id = create_upload(&srv, "again", &[]).await;
    upload_part(&srv, "again", &id, 1, b"old", &[]).await;
    let new = upload_part(&srv, "again", &id, 1, b"new", &[]).await;
    let e = new.header("etag").unwrap().to_owned();
    let r = complete_upload(&srv, "again", &id, &part_xml(1, &e, ""), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        srv.signed("GET", &format!("/{B}/again"), &[], b"").await.body.as_ref(),
        b"new"
    );
}

#[tokio::test]
async fn a_put_with_chunked_transfer_encoding_and_no_length_is_stored() {
    let (srv, _c) = setup().await;
    let body = data(300_000, 41);
    let te = [("transfer-encoding", "chunked")];
    // A signed payload hash.
    let r = srv.signed("PUT", &format!("/{B}/signed"), &te, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(&body)).as_str()));
    let got = srv.signed("GET", &format!("/{B}/signed"), &[], b"").await;
    assert!(got.body.as_ref() == body.as_slice());
    // UNSIGNED-PAYLOAD.
    let r = srv
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            &format!("/{B}/unsigned"),
            &te,
            "UNSIGNED-PAYLOAD",
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = srv.signed("GET", &format!("/{B}/unsigned"), &[], b"").await;
    assert!(got.body.as_ref() == body.as_slice());
    // A signed hash that is not the body's is still refused, and nothing is stored.
    let wrong = sha256_hex(b"other");
    let r = srv
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            &format!("/{B}/wrong"),
            &te,
            &wrong,
            &body,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("XAmzContentSHA256Mismatch"));
    assert_eq!(srv.signed("HEAD", &format!("/{B}/wrong"), &[], b"").await.status, 404);
    // UploadPart too.
    let id = create_upload(&srv, "mp", &[]).await;
    let r = upload_part(&srv, "mp", &id, 1, &body, &te).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").unwrap().to_owned();
    let done = complete_upload(&srv, "mp", &id, &part_xml(1, &etag, ""), &[]).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(srv.signed("GET", &format!("/{B}/mp"), &[], b"").await.body.as_ref() == body.as_slice());
}
