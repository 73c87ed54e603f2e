//! Bucket operations and authentication.

mod common;

use aws_sdk_s3::types::BucketVersioningStatus;
use common::*;

#[tokio::test]
async fn create_head_list_location_versioning_delete() {
    let srv = Server::start();
    let c = srv.client();

    create_bucket(&c, "alpha").await;
    create_bucket(&c, "beta-2").await;

    // Creating it again in us-east-1: S3 answers 200 to the owner (409 elsewhere, see
    // s3_details.rs).
    c.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("re-create own bucket");

    c.head_bucket().bucket("alpha").send().await.expect("head alpha");
    let err = c.head_bucket().bucket("missing").send().await.unwrap_err();
    assert_eq!(sdk_error(&err).1, Some(404), "{err:?}");

    let list = c.list_buckets().send().await.expect("list buckets");
    let names: Vec<&str> = list.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta-2"]);
    assert!(list.buckets().iter().all(|b| b.creation_date().is_some()));

    let loc = c.get_bucket_location().bucket("alpha").send().await.expect("location");
    // us-east-1 is reported as an empty LocationConstraint.
    assert!(
        loc.location_constraint()
            .is_none_or(|l| l.as_str().is_empty() || l.as_str() == "us-east-1"),
        "{loc:?}"
    );

    let v = c
        .get_bucket_versioning()
        .bucket("alpha")
        .send()
        .await
        .expect("versioning");
    assert_ne!(v.status(), Some(&BucketVersioningStatus::Enabled));

    // Not empty: refused, and the bucket stays.
    put(&c, "alpha", "k", b"hello").await;
    assert_code(c.delete_bucket().bucket("alpha").send().await, "BucketNotEmpty");
    c.head_bucket().bucket("alpha").send().await.expect("still there");

    c.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect("delete object");
    c.delete_bucket().bucket("alpha").send().await.expect("delete bucket");
    let err = c.head_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(sdk_error(&err).1, Some(404), "{err:?}");
    assert_code(c.delete_bucket().bucket("alpha").send().await, "NoSuchBucket");

    let list = c.list_buckets().send().await.expect("list buckets");
    let names: Vec<&str> = list.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["beta-2"]);
}

#[tokio::test]
async fn invalid_bucket_names() {
    let srv = Server::start();
    for name in ["ab", "Bad_Name"] {
        let r = srv.signed("PUT", &format!("/{name}"), &[], b"").await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("InvalidBucketName"),
            "{name}: {}",
            r.text()
        );
    }
    let list = srv.client().list_buckets().send().await.expect("list");
    assert!(list.buckets().is_empty(), "{list:?}");
}

#[tokio::test]
async fn second_user_is_denied_the_first_users_bucket() {
    let srv = Server::with_second_user("");
    let root = srv.client();
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "private").await;
    put(&root, "private", "secret.txt", b"top secret").await;

    let err = other.head_bucket().bucket("private").send().await.unwrap_err();
    assert_eq!(sdk_error(&err).1, Some(403), "{err:?}");
    assert_code(
        other.get_object().bucket("private").key("secret.txt").send().await,
        "AccessDenied",
    );
    assert_code(
        other
            .put_object()
            .bucket("private")
            .key("intruder")
            .body(b"x".to_vec().into())
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(other.list_objects_v2().bucket("private").send().await, "AccessDenied");
    assert_code(
        other.delete_object().bucket("private").key("secret.txt").send().await,
        "AccessDenied",
    );
    assert_code(other.delete_bucket().bucket("private").send().await, "AccessDenied");
    // The name is taken, by someone else.
    assert_code(
        other.create_bucket().bucket("private").send().await,
        "BucketAlreadyExists",
    );
    // The second user sees only its own buckets.
    create_bucket(&other, "mine").await;
    let names: Vec<String> = other
        .list_buckets()
        .send()
        .await
        .expect("list")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["mine"]);

    // Nothing changed for the owner.
    assert_eq!(get(&root, "private", "secret.txt").await, b"top secret");
    let keys: Vec<String> = root
        .list_objects_v2()
        .bucket("private")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys, ["secret.txt"]);
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let srv = Server::start();
    create_bucket(&srv.client(), "bkt1").await;
    let bad = srv.client_as(ACCESS_KEY, "not-the-right-secret-key-at-all-000000000");
    let status = assert_code(bad.list_buckets().send().await, "SignatureDoesNotMatch");
    assert_eq!(status, 403);
    assert_code(
        bad.list_objects_v2().bucket("bkt1").send().await,
        "SignatureDoesNotMatch",
    );

    let unknown = srv.client_as("FGNOSUCHACCESSKEY000", SECRET_KEY);
    assert_code(unknown.list_buckets().send().await, "InvalidAccessKeyId");
}

#[tokio::test]
async fn unsigned_requests_are_denied() {
    let srv = Server::start();
    create_bucket(&srv.client(), "bkt1").await;
    put(&srv.client(), "bkt1", "k", b"data").await;
    for path in ["/", "/bkt1", "/bkt1/k"] {
        let r = srv.unsigned("GET", path, &[], b"").await;
        assert_eq!(r.status, 403, "GET {path}: {}", r.text());
        assert!(
            r.header("content-type").is_some_and(|t| t.contains("xml")),
            "GET {path}: {:?}",
            r.headers
        );
        assert!(
            r.text().starts_with("<?xml") || r.text().starts_with("<Error>"),
            "{}",
            r.text()
        );
        assert_eq!(
            r.error_code().as_deref(),
            Some("AccessDenied"),
            "GET {path}: {}",
            r.text()
        );
    }
    let r = srv.unsigned("PUT", "/bkt1/anon", &[], b"anonymous").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_code(
        srv.client().head_object().bucket("bkt1").key("anon").send().await,
        "NotFound",
    );
}
