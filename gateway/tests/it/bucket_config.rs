//! ACLs, absent bucket configurations and GetObjectAttributes, as tools probe them.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, CompletedMultipartUpload, CompletedPart, ObjectAttributes, ObjectCannedAcl};
use common::*;

#[tokio::test]
async fn acls_report_the_owner_and_accept_only_private() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "acls").await;
    c.put_object()
        .bucket("acls")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let acl = c.get_bucket_acl().bucket("acls").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCESS_KEY));
    assert_eq!(acl.grants().len(), 1);
    assert_eq!(acl.grants()[0].permission().map(|p| p.as_str()), Some("FULL_CONTROL"));
    let acl = c.get_object_acl().bucket("acls").key("k").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCESS_KEY));

    c.put_bucket_acl()
        .bucket("acls")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    c.put_object_acl()
        .bucket("acls")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_code(
        c.put_bucket_acl()
            .bucket("acls")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await,
        "AccessControlListNotSupported",
    );
    assert_code(
        c.get_object_acl().bucket("acls").key("missing").send().await,
        "NoSuchKey",
    );
}

#[tokio::test]
async fn absent_bucket_configurations_answer_like_s3() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "cfgs").await;
    assert_code(c.get_bucket_policy().bucket("cfgs").send().await, "NoSuchBucketPolicy");
    assert_code(
        c.get_bucket_cors().bucket("cfgs").send().await,
        "NoSuchCORSConfiguration",
    );
    assert_code(
        c.get_bucket_encryption().bucket("cfgs").send().await,
        "ServerSideEncryptionConfigurationNotFoundError",
    );
    assert_code(c.get_bucket_tagging().bucket("cfgs").send().await, "NoSuchTagSet");
    assert_code(
        c.get_bucket_website().bucket("cfgs").send().await,
        "NoSuchWebsiteConfiguration",
    );
    assert_code(
        c.get_object_lock_configuration().bucket("cfgs").send().await,
        "ObjectLockConfigurationNotFoundError",
    );
    assert_code(c.get_bucket_policy().bucket("nope").send().await, "NoSuchBucket");
}

#[tokio::test]
async fn object_attributes_of_single_and_multipart_objects() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "attrs").await;
    let body = data(1000, 3);
    c.put_object()
        .bucket("attrs")
        .key("one")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("one")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(1000));
    assert_eq!(a.e_tag().map(|e| e.trim_matches('"').to_owned()), Some(md5_hex(&body)));
    assert!(a.object_parts().is_none());

    let up = c
        .create_multipart_upload()
        .bucket("attrs")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let five = 5 * 1024 * 1024;
    let mut parts = Vec::new();
    for (n, len) in [(1, five), (2, 10)] {
        let r = c
            .upload_part()
            .bucket("attrs")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data(len, n as u64)))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("attrs")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let a = c
        .get_object_attributes()
        .bucket("attrs")
        .key("mp")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .max_parts(1)
        .send()
        .await
        .unwrap();
    assert_eq!(a.object_size(), Some(five as i64 + 10));
    // Without an additional checksum S3 gives the parts count alone, no Part elements.
    let p = a.object_parts().unwrap();
    assert_eq!(p.total_parts_count(), Some(2));
    assert!(p.parts().is_empty(), "{p:?}");
}
