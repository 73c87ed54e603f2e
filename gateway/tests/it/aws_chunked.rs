//! aws-chunked uploads with a trailing checksum (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`),
//! what aws cli v2 and boto3 >= 1.36 send over HTTPS.

use crate::common;

use base64::Engine as _;
use common::*;

/// One aws-chunked body: a single data chunk, the final chunk, and the trailer.
fn chunked(data: &[u8], trailer_name: &str, trailer_value: &str) -> Vec<u8> {
    let mut b = format!("{:x}\r\n", data.len()).into_bytes();
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n0\r\n{trailer_name}:{trailer_value}\r\n\r\n").as_bytes());
    b
}

async fn put_trailer(srv: &Server, key: &str, data: &[u8], crc_b64: &str) -> RawResponse {
    let body = chunked(data, "x-amz-checksum-crc32", crc_b64);
    let (decoded, length) = (data.len().to_string(), body.len().to_string());
    let headers = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("content-length", length.as_str()),
    ];
    srv.signed_with_hash(
        ACCESS_KEY,
        SECRET_KEY,
        "PUT",
        &format!("/chunky/{key}"),
        &headers,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        &body,
    )
    .await
}

fn crc32_b64(data: &[u8]) -> String {
    let mut h = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc);
    h.update(data);
    let v = u32::try_from(h.finalize()).expect("crc32 fits");
    base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())
}

#[tokio::test]
async fn trailing_checksums_are_verified_and_stored() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "chunky").await;
    let data = data(300_000, 9);

    let ok = put_trailer(&srv, "good", &data, &crc32_b64(&data)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let got = c.get_object().bucket("chunky").key("good").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), data.as_slice());

    let bad = put_trailer(&srv, "bad", &data, "AAAAAA==").await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.error_code().as_deref(), Some("BadDigest"));
    assert_code(c.head_object().bucket("chunky").key("bad").send().await, "NotFound");
}
