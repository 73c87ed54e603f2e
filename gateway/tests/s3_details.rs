//! S3 details that client libraries trip on (issue 19): each test pins an answer to
//! what AWS S3 gives (status, error code, XML element names, headers).

mod common;

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
    srv.signed("PUT", &format!("/{B}/{key}?partNumber={n}&uploadId={id}"), headers, body)
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
        let r = srv.signed("GET", &format!("/{B}/single?partNumber={n}"), &[], b"").await;
        assert_eq!(r.status, 400, "part {n}: {}", r.text());
        assert_eq!(r.error_code().as_deref(), Some("InvalidPartNumber"));
        let h = srv.signed("HEAD", &format!("/{B}/single?partNumber={n}"), &[], b"").await;
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










