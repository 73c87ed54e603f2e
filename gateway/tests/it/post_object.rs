//! POST Object: HTML form uploads with a SigV4-signed policy, built by hand the way
//! boto3's `generate_presigned_post` builds them, and their refusals.

use crate::common;

use base64::Engine as _;
use common::*;
use sha2::{Digest as _, Sha256};

const BOUNDARY: &str = "----fastgateFormBoundary7MA4YWxkTrZu0gW";

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new().chain_update(ipad).chain_update(msg).finalize();
    Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
}

/// A form as boto3's `generate_presigned_post(Bucket, Key, Fields, Conditions,
/// ExpiresIn)` returns it: the given fields and conditions, plus the bucket and key
/// conditions, the SigV4 fields and their conditions, the policy and its signature.
struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    fn new(
        bucket: &str,
        key: &str,
        fields: &[(&str, &str)],
        conditions: Vec<serde_json::Value>,
        expires_in: i64,
        access_key: &str,
        secret_key: &str,
    ) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let amz_date = now
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap();
        let day = &amz_date[..8];
        let credential = format!("{access_key}/{day}/{REGION}/s3/aws4_request");
        let expiration = (now + time::Duration::seconds(expires_in))
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap();
        let mut all: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        all.push(("key".into(), key.into()));
        all.push(("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()));
        all.push(("x-amz-credential".into(), credential.clone()));
        all.push(("x-amz-date".into(), amz_date.clone()));
        let mut conds = conditions;
        conds.push(serde_json::json!({ "bucket": bucket }));
        conds.push(serde_json::json!({ "key": key }));
        conds.push(serde_json::json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }));
        conds.push(serde_json::json!({ "x-amz-credential": credential }));
        conds.push(serde_json::json!({ "x-amz-date": amz_date }));
        let policy = serde_json::json!({ "expiration": expiration, "conditions": conds }).to_string();
        let policy = base64::engine::general_purpose::STANDARD.encode(policy);
        let mut k = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
        for part in [REGION, "s3", "aws4_request"] {
            k = hmac(&k, part.as_bytes());
        }
        let signature = hex::encode(hmac(&k, policy.as_bytes()));
        all.push(("policy".into(), policy));
        all.push(("x-amz-signature".into(), signature));
        Self { fields: all }
    }

    /// Signed as the root user, valid for an hour, with `fields` each under an `eq`
    /// condition.
    fn root(bucket: &str, key: &str, fields: &[(&str, &str)]) -> Self {
        let conds = fields.iter().map(|(k, v)| serde_json::json!({ *k: *v })).collect();
        Self::new(bucket, key, fields, conds, 3600, ACCESS_KEY, SECRET_KEY)
    }

    fn set(mut self, name: &str, value: &str) -> Self {
        for f in &mut self.fields {
            if f.0 == name {
                f.1 = value.to_owned();
            }
        }
        self
    }

    fn body(&self, file: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in &self.fields {
            b.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
            );
        }
        b.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(file);
        b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        b
    }

    async fn send(&self, srv: &Server, bucket: &str, file: &[u8]) -> RawResponse {
        srv.unsigned(
            "POST",
            &format!("/{bucket}"),
            &[("content-type", &format!("multipart/form-data; boundary={BOUNDARY}"))],
            &self.body(file),
        )
        .await
    }
}

fn message(r: &RawResponse) -> String {
    xml_tag(&r.text(), "Message")
        .unwrap_or_default()
        .replace("&quot;", "\"")
}

#[tokio::test]
async fn a_form_upload_stores_the_file_with_its_fields() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "forms").await;
    let tagging = "<Tagging><TagSet><Tag><Key>kind</Key><Value>photo</Value></Tag></TagSet></Tagging>";
    let file = random_data(3 << 20);
    let form = Form::root(
        "forms",
        "up/photo.bin",
        &[
            ("Content-Type", "image/png"),
            ("x-amz-meta-who", "alice"),
            ("tagging", tagging),
            ("success_action_status", "201"),
        ],
    );
    let r = form.send(&srv, "forms", &file).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let etag = format!("\"{}\"", md5_hex(&file));
    assert_eq!(xml_tag(&r.text(), "Key").as_deref(), Some("up/photo.bin"));
    assert_eq!(xml_tag(&r.text(), "Bucket").as_deref(), Some("forms"));
    assert!(r.text().contains(&md5_hex(&file)), "{}", r.text());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let got = c.get_object().bucket("forms").key("up/photo.bin").send().await.unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("who")).map(String::as_str),
        Some("alice")
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), file.as_slice());
    let tags = c
        .get_object_tagging()
        .bucket("forms")
        .key("up/photo.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].key(), "kind");
    assert_eq!(tags.tag_set()[0].value(), "photo");
}

#[tokio::test]
async fn success_action_status_and_redirect_answer_as_s3_does() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "oks").await;

    let r = Form::root("oks", "a", &[]).send(&srv, "oks", b"one").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", md5_hex(b"one")).as_str()));

    let r = Form::root("oks", "b", &[("success_action_status", "200")])
        .send(&srv, "oks", b"two")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty());

    let r = Form::root("oks", "c", &[("success_action_redirect", "http://page.test/done?x=1")])
        .send(&srv, "oks", b"three")
        .await;
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").unwrap();
    assert!(location.starts_with("http://page.test/done?x=1&"), "{location}");
    assert!(
        location.contains("bucket=oks") && location.contains("key=c"),
        "{location}"
    );
    assert!(location.contains(&md5_hex(b"three")), "{location}");

    for (k, body) in [("a", &b"one"[..]), ("b", b"two"), ("c", b"three")] {
        assert_eq!(get(&c, "oks", k).await, body);
    }
}

#[tokio::test]
async fn form_checksum_fields_are_verified_and_stored() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "sums").await;
    let body = b"checked body";
    let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
    let r = Form::root("sums", "k", &[("x-amz-checksum-sha256", sha.as_str())])
        .send(&srv, "sums", body)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-checksum-sha256"), Some(sha.as_str()));
    let head = c
        .head_object()
        .bucket("sums")
        .key("k")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(sha.as_str()));

    let r = Form::root("sums", "bad", &[("x-amz-checksum-sha256", sha.as_str())])
        .send(&srv, "sums", b"other body")
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("BadDigest"));
    assert_code(c.head_object().bucket("sums").key("bad").send().await, "NotFound");
}

#[tokio::test]
async fn refused_forms_get_s3s_codes_and_store_nothing() {
    let srv = Server::with_second_user("");
    let c = srv.client();
    create_bucket(&c, "strict").await;
    let range = |min: u64, max: u64| vec![serde_json::json!(["content-length-range", min, max])];

    // Expired.
    let form = Form::new("strict", "k", &[], vec![], -60, ACCESS_KEY, SECRET_KEY);
    let r = form.send(&srv, "strict", b"x").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("AccessDenied"));
    assert_eq!(message(&r), "Invalid according to Policy: Policy expired.");

    // The key is not the one the policy names.
    let r = Form::root("strict", "k", &[])
        .set("key", "other")
        .send(&srv, "strict", b"x")
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("AccessDenied"));
    assert_eq!(
        message(&r),
        r#"Invalid according to Policy: Policy Condition failed: ["eq", "$key", "k"]"#
    );

    // A starts-with condition not met.
    let conds = vec![serde_json::json!(["starts-with", "$Content-Type", "image/"])];
    let form = Form::new(
        "strict",
        "k",
        &[("Content-Type", "text/plain")],
        conds,
        3600,
        ACCESS_KEY,
        SECRET_KEY,
    );
    let r = form.send(&srv, "strict", b"x").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        message(&r),
        r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]"#
    );

    // Signed with the wrong secret key.
    let form = Form::new("strict", "k", &[], vec![], 3600, ACCESS_KEY, "not-the-secret");
    let r = form.send(&srv, "strict", b"x").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("SignatureDoesNotMatch"));

    // Outside the content-length range.
    let form = Form::new("strict", "k", &[], range(2, 4), 3600, ACCESS_KEY, SECRET_KEY);
    let r = form.send(&srv, "strict", b"too large").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("EntityTooLarge"));
    let r = form.send(&srv, "strict", b"x").await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("EntityTooSmall"));
    let r = form.send(&srv, "strict", b"fit").await;
    assert_eq!(r.status, 204, "{}", r.text());
    c.delete_object().bucket("strict").key("k").send().await.unwrap();

    // Signed by a user that may not write the bucket.
    let form = Form::new("strict", "k", &[], vec![], 3600, USER2_ACCESS_KEY, USER2_SECRET_KEY);
    let r = form.send(&srv, "strict", b"x").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_code().as_deref(), Some("AccessDenied"));

    let listed = c.list_objects_v2().bucket("strict").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

/// The lock fields of a form are a PUT's lock headers: they lock the version on a bucket
/// with object lock (needing the retention and legal hold permissions, which the root
/// user has), and on a bucket without it they are refused and store nothing.
#[tokio::test]
async fn form_lock_fields_lock_the_version_and_are_refused_where_the_bucket_has_no_lock() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("forms-locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    create_bucket(&c, "forms-plain").await;
    let until = (time::OffsetDateTime::now_utc() + time::Duration::days(2))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let fields = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-retain-until-date", until.as_str()),
        ("x-amz-object-lock-legal-hold", "ON"),
    ];
    let file = random_data(1000);
    let r = Form::root("forms-locked", "held.bin", &fields)
        .send(&srv, "forms-locked", &file)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let version = r.header("x-amz-version-id").expect("a version id").to_owned();

    let ret = c
        .get_object_retention()
        .bucket("forms-locked")
        .key("held.bin")
        .send()
        .await
        .unwrap();
    let ret = ret.retention().unwrap();
    assert_eq!(ret.mode().map(|m| m.as_str()), Some("GOVERNANCE"));
    let hold = c
        .get_object_legal_hold()
        .bucket("forms-locked")
        .key("held.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()).map(|s| s.as_str()),
        Some("ON")
    );
    let e = c
        .delete_object()
        .bucket("forms-locked")
        .key("held.bin")
        .version_id(&version)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.into_service_error().meta().code(), Some("AccessDenied"));

    let r = Form::root("forms-plain", "nope.bin", &fields)
        .send(&srv, "forms-plain", &file)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(xml_tag(&r.text(), "Code").as_deref(), Some("InvalidRequest"));
    assert!(
        c.head_object()
            .bucket("forms-plain")
            .key("nope.bin")
            .send()
            .await
            .is_err()
    );
}
