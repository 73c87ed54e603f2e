//! Hostile and unlucky clients: retried requests, protection asked for and not given,
//! full disks, slow or idle connections, metrics scraped by strangers, and proofs of
//! possession that outlive what they prove.

mod common;

use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectCannedAcl, ObjectIdentifier, ObjectLockMode,
    ServerSideEncryption,
};
use common::*;

#[tokio::test]
async fn a_retried_completion_gets_the_first_answer() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "retry").await;
    let id = c
        .create_multipart_upload()
        .bucket("retry")
        .key("k")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let body = random_data(1000);
    let etag = c
        .upload_part()
        .bucket("retry")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(body.clone().into())
        .send()
        .await
        .expect("upload part")
        .e_tag
        .expect("part etag");
    let list = |etag: &str| {
        CompletedMultipartUpload::builder()
            .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
            .build()
    };
    let complete = |l: CompletedMultipartUpload| {
        c.complete_multipart_upload()
            .bucket("retry")
            .key("k")
            .upload_id(&id)
            .multipart_upload(l)
            .send()
    };
    let first = complete(list(&etag)).await.expect("first completion");
    // The client lost that answer and sends the same request again.
    let again = complete(list(&etag)).await.expect("retried completion");
    assert_eq!(again.e_tag(), first.e_tag());
    assert_eq!(again.location(), first.location());
    assert_eq!(get(&c, "retry", "k").await, body);

    // A different list is not a retry of that completion.
    let other = complete(list(&format!("\"{}\"", "0".repeat(32)))).await;
    assert_code(other, "NoSuchUpload");
}

/// Whether `bucket/key` exists (HEAD answers 200).
async fn exists(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    c.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn protection_that_is_not_given_is_refused_and_nothing_is_stored() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "protect").await;
    let put = || {
        c.put_object()
            .bucket("protect")
            .key("k")
            .body(b"secret".to_vec().into())
    };

    let locked = put().object_lock_mode(ObjectLockMode::Compliance).send().await;
    assert_eq!(assert_code(locked, "InvalidRequest"), 400);
    let encrypted = put().server_side_encryption(ServerSideEncryption::Aes256).send().await;
    assert_eq!(assert_code(encrypted, "NotImplemented"), 501);
    let public = put().acl(ObjectCannedAcl::PublicRead).send().await;
    assert_eq!(assert_code(public, "AccessControlListNotSupported"), 400);
    assert!(!exists(&c, "protect", "k").await, "a refused PUT stored the object");

    // An append is refused and leaves the object as it was.
    put().acl(ObjectCannedAcl::Private).send().await.expect("private PUT");
    let appended = c
        .put_object()
        .bucket("protect")
        .key("k")
        .write_offset_bytes(6)
        .body(b"more".to_vec().into())
        .send()
        .await;
    assert_eq!(assert_code(appended, "NotImplemented"), 501);
    assert_eq!(get(&c, "protect", "k").await, b"secret");

    let copied = c
        .copy_object()
        .bucket("protect")
        .key("copy")
        .copy_source("protect/k")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .send()
        .await;
    assert_eq!(assert_code(copied, "NotImplemented"), 501);
    assert!(!exists(&c, "protect", "copy").await);
    let upload = c
        .create_multipart_upload()
        .bucket("protect")
        .key("mp")
        .object_lock_mode(ObjectLockMode::Governance)
        .send()
        .await;
    assert_eq!(assert_code(upload, "InvalidRequest"), 400);

    let bucket = c
        .create_bucket()
        .bucket("locked-bucket")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await;
    assert_eq!(assert_code(bucket, "NotImplemented"), 501);
    assert!(c.head_bucket().bucket("locked-bucket").send().await.is_err());
}

#[tokio::test]
async fn reads_of_a_version_that_cannot_exist_are_refused() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "versions").await;
    put(&c, "versions", "k", b"only version").await;
    let parseable = "3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH";
    let got = c
        .get_object()
        .bucket("versions")
        .key("k")
        .version_id(parseable)
        .send()
        .await;
    assert_eq!(assert_code(got, "NoSuchVersion"), 404);
    let got = c
        .get_object()
        .bucket("versions")
        .key("k")
        .version_id("bogus")
        .send()
        .await;
    assert_eq!(assert_code(got, "InvalidArgument"), 400);
    let head = srv
        .signed("HEAD", &format!("/versions/k?versionId={parseable}"), &[], b"")
        .await;
    assert_eq!(head.status, 404);
    let null = c
        .get_object()
        .bucket("versions")
        .key("k")
        .version_id("null")
        .send()
        .await;
    assert!(null.is_ok(), "versionId=null is the object: {null:?}");
}

#[tokio::test]
async fn conditional_deletes_delete_only_what_they_name() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "cond").await;
    let etag = put(&c, "cond", "k", b"v1").await;
    let wrong = format!("\"{}\"", "0".repeat(32));

    let res = c.delete_object().bucket("cond").key("k").if_match(&wrong).send().await;
    assert_eq!(assert_code(res, "PreconditionFailed"), 412);
    let res = c.delete_object().bucket("cond").key("k").if_match_size(3).send().await;
    assert_eq!(assert_code(res, "PreconditionFailed"), 412);
    assert!(exists(&c, "cond", "k").await, "a failed condition deleted the object");
    c.delete_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .if_match_size(2)
        .send()
        .await
        .expect("delete with matching conditions");
    assert!(!exists(&c, "cond", "k").await);
    let res = c.delete_object().bucket("cond").key("k").if_match(&etag).send().await;
    assert_eq!(assert_code(res, "NoSuchKey"), 404);

    let a = put(&c, "cond", "a", b"a").await;
    put(&c, "cond", "b", b"b").await;
    let out = c
        .delete_objects()
        .bucket("cond")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").e_tag(a).build().expect("id"))
                .objects(ObjectIdentifier::builder().key("b").e_tag(&wrong).build().expect("id"))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["a"]);
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default()))
        .collect();
    assert_eq!(errors, [("b", "PreconditionFailed")]);
    assert!(!exists(&c, "cond", "a").await);
    assert!(exists(&c, "cond", "b").await);
}
