//! Bucket operations and authentication.

use crate::common;

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

/// Authorization is decided in one place (`s3/access.rs`); this walks every family of
/// operations so that none of them skips it: reads, writes, multipart, copies in either
/// direction, tagging, ACLs and bucket configuration.
#[tokio::test]
async fn every_operation_on_another_users_bucket_is_access_denied() {
    let srv = Server::with_second_user("");
    let root = srv.client();
    let other = srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY);
    create_bucket(&root, "private").await;
    put(&root, "private", "secret.txt", b"top secret").await;
    let up = root
        .create_multipart_upload()
        .bucket("private")
        .key("big")
        .send()
        .await
        .expect("create upload");
    let upload_id = up.upload_id().expect("upload id").to_owned();
    create_bucket(&other, "mine").await;
    let mine_up = other
        .create_multipart_upload()
        .bucket("mine")
        .key("big")
        .send()
        .await
        .expect("create own upload");
    let mine_id = mine_up.upload_id().expect("upload id").to_owned();

    let denied = "AccessDenied";
    let (b, k) = ("private", "secret.txt");
    let err = other.head_object().bucket(b).key(k).send().await.unwrap_err();
    assert_eq!(sdk_error(&err).1, Some(403), "{err:?}");
    assert_code(
        other
            .get_object_attributes()
            .bucket(b)
            .key(k)
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
            .send()
            .await,
        denied,
    );
    assert_code(other.list_objects().bucket(b).send().await, denied);
    assert_code(other.list_object_versions().bucket(b).send().await, denied);
    assert_code(other.get_bucket_location().bucket(b).send().await, denied);
    assert_code(other.get_bucket_versioning().bucket(b).send().await, denied);
    assert_code(other.get_bucket_acl().bucket(b).send().await, denied);
    assert_code(other.get_object_acl().bucket(b).key(k).send().await, denied);
    assert_code(other.get_bucket_policy().bucket(b).send().await, denied);
    assert_code(
        other.get_bucket_lifecycle_configuration().bucket(b).send().await,
        denied,
    );
    assert_code(other.delete_bucket_lifecycle().bucket(b).send().await, denied);
    assert_code(other.get_object_tagging().bucket(b).key(k).send().await, denied);
    assert_code(other.delete_object_tagging().bucket(b).key(k).send().await, denied);
    let del = aws_sdk_s3::types::Delete::builder()
        .objects(
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(k)
                .build()
                .expect("id"),
        )
        .build()
        .expect("delete");
    // DeleteObjects is authorized key by key, as in S3: each refused key is an error of
    // the answer.
    let out = other
        .delete_objects()
        .bucket(b)
        .delete(del)
        .send()
        .await
        .expect("delete objects");
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some(denied));
    assert!(out.deleted().is_empty());
    assert_code(other.create_multipart_upload().bucket(b).key("x").send().await, denied);
    assert_code(other.list_multipart_uploads().bucket(b).send().await, denied);
    assert_code(
        other
            .list_parts()
            .bucket(b)
            .key("big")
            .upload_id(&upload_id)
            .send()
            .await,
        denied,
    );
    assert_code(
        other
            .upload_part()
            .bucket(b)
            .key("big")
            .upload_id(&upload_id)
            .part_number(1)
            .body(b"x".to_vec().into())
            .send()
            .await,
        denied,
    );
    assert_code(
        other
            .abort_multipart_upload()
            .bucket(b)
            .key("big")
            .upload_id(&upload_id)
            .send()
            .await,
        denied,
    );
    // Copies: neither into someone else's bucket nor out of it.
    assert_code(
        other
            .copy_object()
            .bucket(b)
            .key("copy")
            .copy_source("mine/whatever")
            .send()
            .await,
        denied,
    );
    assert_code(
        other
            .copy_object()
            .bucket("mine")
            .key("stolen")
            .copy_source("private/secret.txt")
            .send()
            .await,
        denied,
    );
    assert_code(
        other
            .upload_part_copy()
            .bucket("mine")
            .key("big")
            .upload_id(&mine_id)
            .part_number(1)
            .copy_source("private/secret.txt")
            .send()
            .await,
        denied,
    );

    // The owner's upload and object are untouched.
    assert_eq!(get(&root, b, k).await, b"top secret");
    root.list_parts()
        .bucket(b)
        .key("big")
        .upload_id(&upload_id)
        .send()
        .await
        .expect("the owner's upload is still open");
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
