//! Access control through the real server: anonymous requests, ACLs, object ownership,
//! bucket policies, Block Public Access and `x-amz-expected-bucket-owner`, with the
//! root user as bucket owner, a second user, and plain unsigned HTTP as curl sends it.

use crate::common;

use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, Permission, PublicAccessBlockConfiguration, Type,
};
use common::*;

const USER2_EMAIL: &str = "user2@example.com";

/// A server with the second user, who has an email for grants by email.
fn server() -> Server {
    Server::with_config(&format!(
        "[[users]]\naccess_key = \"{USER2_ACCESS_KEY}\"\nsecret_key = \"{USER2_SECRET_KEY}\"\nemail = \"{USER2_EMAIL}\"\n"
    ))
}

/// A bucket whose ACLs count (`ObjectWriter`), as one must ask for since S3 disables
/// ACLs on new buckets.
async fn acl_bucket(c: &aws_sdk_s3::Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
}

async fn put_policy(c: &aws_sdk_s3::Client, bucket: &str, policy: &str) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put policy on {bucket}: {e:?}"));
}

#[tokio::test]
async fn a_public_read_object_is_read_with_no_credentials() {
    let mut srv = server();
    let c = srv.client();
    acl_bucket(&c, "pub").await;
    c.put_object()
        .bucket("pub")
        .key("hello.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"hello world".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&c, "pub", "private.txt", b"secret").await;

    // As curl would: no signature at all.
    let r = srv.unsigned("GET", "/pub/hello.txt", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "hello world");
    let r = srv.unsigned("HEAD", "/pub/hello.txt", &[], b"").await;
    assert_eq!(r.status, 200);
    let r = srv.unsigned("GET", "/pub/private.txt", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")));
    // Which keys exist is not told to who may not list the bucket.
    let r = srv.unsigned("GET", "/pub/missing", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")));
    let r = srv.unsigned("GET", "/pub", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")));
    let r = srv.unsigned("GET", "/nosuchbucket/k", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (404, Some("NoSuchBucket")));
    let r = srv.unsigned("PUT", "/pub/anon", &[], b"anonymous").await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = srv.unsigned("GET", "/", &[], b"").await;
    assert_eq!(r.status, 403, "{}", r.text());

    // A public-read bucket lists to anyone, and then a missing key is NoSuchKey.
    c.put_bucket_acl()
        .bucket("pub")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let r = srv.unsigned("GET", "/pub?list-type=2", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<Key>hello.txt</Key>"), "{}", r.text());
    let r = srv.unsigned("GET", "/pub/missing", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (404, Some("NoSuchKey")));

    // The ACL of a copy and of a multipart upload is the one the request asks for.
    c.copy_object()
        .bucket("pub")
        .key("copy.txt")
        .copy_source("pub/private.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(srv.unsigned("GET", "/pub/copy.txt", &[], b"").await.text(), "secret");
    let up = c
        .create_multipart_upload()
        .bucket("pub")
        .key("mp.txt")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("pub")
        .key("mp.txt")
        .upload_id(id)
        .part_number(1)
        .body(b"multipart".to_vec().into())
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("pub")
        .key("mp.txt")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(srv.unsigned("GET", "/pub/mp.txt", &[], b"").await.text(), "multipart");

    let acl = c.get_object_acl().bucket("pub").key("hello.txt").send().await.unwrap();
    let uris: Vec<_> = acl
        .grants()
        .iter()
        .filter_map(|g| g.grantee().and_then(|g| g.uri()))
        .collect();
    assert_eq!(uris, ["http://acs.amazonaws.com/groups/global/AllUsers"]);

    // The grants are stored with the records: they survive a restart.
    srv.restart();
    let r = srv.unsigned("GET", "/pub/hello.txt", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.unsigned("GET", "/pub/private.txt", &[], b"").await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_second_user_reads_what_an_acl_grants_it_by_id_or_by_email() {
    let srv = server();
    let (c, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    acl_bucket(&c, "shared").await;
    c.put_object()
        .bucket("shared")
        .key("by-id")
        .grant_read(format!("id=\"{USER2_ACCESS_KEY}\""))
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&c, "shared", "by-email", b"two").await;
    put(&c, "shared", "not-granted", b"three").await;

    assert_eq!(get(&other, "shared", "by-id").await, b"one");
    assert_code(
        other.get_object().bucket("shared").key("by-email").send().await,
        "AccessDenied",
    );
    // The XML body form, by email.
    let grant = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::AmazonCustomerByEmail)
                .email_address(USER2_EMAIL)
                .build()
                .unwrap(),
        )
        .permission(Permission::Read)
        .build();
    c.put_object_acl()
        .bucket("shared")
        .key("by-email")
        .access_control_policy(AccessControlPolicy::builder().grants(grant).build())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&other, "shared", "by-email").await, b"two");
    let acl = c
        .get_object_acl()
        .bucket("shared")
        .key("by-email")
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = acl
        .grants()
        .iter()
        .map(|g| {
            (
                g.grantee().and_then(|g| g.id()).unwrap_or_default(),
                g.permission().map(|p| p.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(ids, [(ACCESS_KEY, "FULL_CONTROL"), (USER2_ACCESS_KEY, "READ")]);

    assert_code(
        other.get_object().bucket("shared").key("not-granted").send().await,
        "AccessDenied",
    );
    // READ on an object is not READ_ACP, nor anything on the bucket.
    assert_code(
        other.get_object_acl().bucket("shared").key("by-id").send().await,
        "AccessDenied",
    );
    assert_code(other.list_objects_v2().bucket("shared").send().await, "AccessDenied");
    assert_code(
        c.put_object_acl()
            .bucket("shared")
            .key("by-id")
            .grant_read("emailAddress=\"nobody@example.com\"")
            .send()
            .await,
        "UnresolvableGrantByEmailAddress",
    );

    // WRITE on the bucket lets the second user write there; the object is its own.
    c.put_bucket_acl()
        .bucket("shared")
        .grant_write(format!("id=\"{USER2_ACCESS_KEY}\""))
        .grant_full_control(format!("id=\"{ACCESS_KEY}\""))
        .send()
        .await
        .unwrap();
    put(&other, "shared", "from-user2", b"mine").await;
    let acl = other
        .get_object_acl()
        .bucket("shared")
        .key("from-user2")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(USER2_ACCESS_KEY));
    // As in S3, the bucket owner reads another writer's object only where its ACL says
    // so, and may always delete it.
    assert_code(
        c.get_object().bucket("shared").key("from-user2").send().await,
        "AccessDenied",
    );
    other
        .put_object_acl()
        .bucket("shared")
        .key("from-user2")
        .acl(ObjectCannedAcl::BucketOwnerRead)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "shared", "from-user2").await, b"mine");
    c.delete_object()
        .bucket("shared")
        .key("from-user2")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn acls_are_refused_where_the_bucket_owner_enforces_ownership() {
    let srv = server();
    let c = srv.client();
    create_bucket(&c, "enforced").await;
    let controls = c
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let rule = &controls.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership(), &ObjectOwnership::BucketOwnerEnforced);
    let public = c
        .put_object()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_eq!(assert_code(public, "AccessControlListNotSupported"), 400);
    c.put_object()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let created = c
        .create_bucket()
        .bucket("enforced2")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_code(created, "InvalidBucketAclWithObjectOwnership");

    // Enabling ACLs, then deleting the controls (ACLs stay enabled).
    c.put_bucket_ownership_controls()
        .bucket("enforced")
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    c.put_object_acl()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(srv.unsigned("GET", "/enforced/k", &[], b"").await.status, 200);
    c.delete_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    assert_code(
        c.get_bucket_ownership_controls().bucket("enforced").send().await,
        "OwnershipControlsNotFoundError",
    );
    assert_eq!(srv.unsigned("GET", "/enforced/k", &[], b"").await.status, 200);
}

#[tokio::test]
async fn a_policy_lets_a_second_user_read_one_prefix_and_nothing_else() {
    let srv = server();
    let (c, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    create_bucket(&c, "team").await;
    put(&c, "team", "shared/report.txt", b"for user2").await;
    put(&c, "team", "private/plans.txt", b"not for user2").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"ReadShared","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::000000000000:user/{USER2_ACCESS_KEY}"}},
          "Action":"s3:GetObject","Resource":"arn:aws:s3:::team/shared/*"}},
        {{"Sid":"ListShared","Effect":"Allow","Principal":{{"AWS":"{USER2_ACCESS_KEY}"}},
          "Action":"s3:ListBucket","Resource":"arn:aws:s3:::team",
          "Condition":{{"StringLike":{{"s3:prefix":"shared/*"}}}}}}]}}"#
    );
    assert_code(
        other.get_object().bucket("team").key("shared/report.txt").send().await,
        "AccessDenied",
    );
    put_policy(&c, "team", &policy).await;

    assert_eq!(get(&other, "team", "shared/report.txt").await, b"for user2");
    let listed = other
        .list_objects_v2()
        .bucket("team")
        .prefix("shared/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);
    assert_code(
        other.get_object().bucket("team").key("private/plans.txt").send().await,
        "AccessDenied",
    );
    assert_code(other.list_objects_v2().bucket("team").send().await, "AccessDenied");
    assert_code(
        other.list_objects_v2().bucket("team").prefix("private/").send().await,
        "AccessDenied",
    );
    assert_code(
        other
            .put_object()
            .bucket("team")
            .key("shared/new")
            .body(b"x".to_vec().into())
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        other
            .delete_object()
            .bucket("team")
            .key("shared/report.txt")
            .send()
            .await,
        "AccessDenied",
    );
    // DeleteObjects decides key by key: each refused key is an error of the answer.
    let batch = aws_sdk_s3::types::Delete::builder()
        .objects(
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key("shared/report.txt")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = other
        .delete_objects()
        .bucket("team")
        .delete(batch)
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert!(out.deleted().is_empty());
    assert_eq!(get(&c, "team", "shared/report.txt").await, b"for user2");
    // The policy is the owner's to read and change, verbatim.
    let got = c.get_bucket_policy().bucket("team").send().await.unwrap();
    assert_eq!(got.policy(), Some(policy.as_str()));
    assert_code(other.get_bucket_policy().bucket("team").send().await, "AccessDenied");
    assert_code(
        other.put_bucket_policy().bucket("team").policy(&policy).send().await,
        "AccessDenied",
    );
    let status = c.get_bucket_policy_status().bucket("team").send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(false));

    c.delete_bucket_policy().bucket("team").send().await.unwrap();
    assert_code(c.get_bucket_policy().bucket("team").send().await, "NoSuchBucketPolicy");
    assert_code(
        other.get_object().bucket("team").key("shared/report.txt").send().await,
        "AccessDenied",
    );
}

#[tokio::test]
async fn an_explicit_deny_beats_an_allow() {
    let srv = server();
    let (c, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    acl_bucket(&c, "deny").await;
    c.put_object()
        .bucket("deny")
        .key("secret/a")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    put(&c, "deny", "open/b", b"b").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":["{USER2_ACCESS_KEY}"]}},"Action":"s3:Get*","Resource":"arn:aws:s3:::deny/*"}},
        {{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::deny/secret/*"}}]}}"#
    );
    put_policy(&c, "deny", &policy).await;
    assert_eq!(get(&other, "deny", "open/b").await, b"b");
    // Denied whatever allows it: the policy's Allow, the object's public-read ACL, and
    // ownership.
    assert_code(
        other.get_object().bucket("deny").key("secret/a").send().await,
        "AccessDenied",
    );
    assert_eq!(srv.unsigned("GET", "/deny/secret/a", &[], b"").await.status, 403);
    assert_code(
        c.get_object().bucket("deny").key("secret/a").send().await,
        "AccessDenied",
    );
    // The owner can always take the policy back.
    c.delete_bucket_policy().bucket("deny").send().await.unwrap();
    assert_eq!(get(&c, "deny", "secret/a").await, b"a");
}

#[tokio::test]
async fn an_anonymous_get_is_allowed_by_a_policy_and_malformed_policies_are_refused() {
    let srv = server();
    let c = srv.client();
    create_bucket(&c, "site").await;
    put(&c, "site", "index.html", b"<h1>hi</h1>").await;
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
        "Action":["s3:GetObject"],"Resource":["arn:aws:s3:::site/*"]}]}"#;
    assert_eq!(srv.unsigned("GET", "/site/index.html", &[], b"").await.status, 403);
    put_policy(&c, "site", public).await;
    let r = srv.unsigned("GET", "/site/index.html", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (200, "<h1>hi</h1>"));
    assert_eq!(srv.unsigned("PUT", "/site/x", &[], b"x").await.status, 403);
    assert_eq!(srv.unsigned("DELETE", "/site/index.html", &[], b"").await.status, 403);
    let status = c.get_bucket_policy_status().bucket("site").send().await.unwrap();
    assert_eq!(status.policy_status().and_then(|s| s.is_public()), Some(true));

    for bad in [
        "{not json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::site/*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}"#,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"NOSUCHUSER"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"}]}"#,
    ] {
        let r = c.put_bucket_policy().bucket("site").policy(bad).send().await;
        assert_eq!(assert_code(r, "MalformedPolicy"), 400, "{bad}");
    }
    let kept = c.get_bucket_policy().bucket("site").send().await.unwrap();
    assert_eq!(kept.policy(), Some(public));

    // Conditions see the client's address (the tests connect from 127.0.0.1) and that
    // it came over plain HTTP.
    let from = |cidr: &str| {
        format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*",
            "Condition":{{"IpAddress":{{"aws:SourceIp":"{cidr}"}},"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
        )
    };
    put_policy(&c, "site", &from("127.0.0.0/8")).await;
    assert_eq!(srv.unsigned("GET", "/site/index.html", &[], b"").await.status, 200);
    put_policy(&c, "site", &from("10.0.0.0/8")).await;
    assert_eq!(srv.unsigned("GET", "/site/index.html", &[], b"").await.status, 403);
}

#[tokio::test]
async fn block_public_access_overrides_a_public_policy_and_public_acls() {
    let srv = server();
    let c = srv.client();
    acl_bucket(&c, "bpa").await;
    put(&c, "bpa", "k", b"data").await;
    let public =
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bpa/*"}]}"#;
    put_policy(&c, "bpa", public).await;
    assert_eq!(srv.unsigned("GET", "/bpa/k", &[], b"").await.status, 200);
    assert_code(
        c.get_public_access_block().bucket("bpa").send().await,
        "NoSuchPublicAccessBlockConfiguration",
    );

    let block = |acls: bool, policy: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(acls)
            .ignore_public_acls(acls)
            .block_public_policy(policy)
            .restrict_public_buckets(policy)
            .build()
    };
    c.put_public_access_block()
        .bucket("bpa")
        .public_access_block_configuration(block(false, true))
        .send()
        .await
        .unwrap();
    let r = srv.unsigned("GET", "/bpa/k", &[], b"").await;
    assert_eq!((r.status, r.error_code().as_deref()), (403, Some("AccessDenied")));
    assert_eq!(get(&c, "bpa", "k").await, b"data");
    let refused = c.put_bucket_policy().bucket("bpa").policy(public).send().await;
    assert_eq!(assert_code(refused, "AccessDenied"), 403);
    let got = c.get_public_access_block().bucket("bpa").send().await.unwrap();
    let cfg = got.public_access_block_configuration().unwrap();
    assert_eq!(cfg.restrict_public_buckets(), Some(true));
    assert_eq!(cfg.block_public_acls(), Some(false));

    // Public ACLs: ignored, and refused when written.
    c.delete_bucket_policy().bucket("bpa").send().await.unwrap();
    c.put_object_acl()
        .bucket("bpa")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    assert_eq!(srv.unsigned("GET", "/bpa/k", &[], b"").await.status, 200);
    c.put_public_access_block()
        .bucket("bpa")
        .public_access_block_configuration(block(true, false))
        .send()
        .await
        .unwrap();
    assert_eq!(srv.unsigned("GET", "/bpa/k", &[], b"").await.status, 403);
    let refused = c
        .put_object()
        .bucket("bpa")
        .key("k2")
        .acl(ObjectCannedAcl::PublicRead)
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_code(refused, "AccessDenied");
    c.delete_public_access_block().bucket("bpa").send().await.unwrap();
    assert_eq!(srv.unsigned("GET", "/bpa/k", &[], b"").await.status, 200);
}

#[tokio::test]
async fn the_expected_bucket_owner_is_checked_on_every_operation() {
    let srv = server();
    let c = srv.client();
    create_bucket(&c, "mine").await;
    put(&c, "mine", "k", b"v").await;
    c.head_bucket()
        .bucket("mine")
        .expected_bucket_owner(ACCESS_KEY)
        .send()
        .await
        .unwrap();
    let wrong = "123456789012";
    let head = c.head_bucket().bucket("mine").expected_bucket_owner(wrong).send().await;
    assert!(head.is_err_and(|e| sdk_error(&e).1 == Some(403)));
    assert_code(
        c.get_object()
            .bucket("mine")
            .key("k")
            .expected_bucket_owner(wrong)
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        c.put_object()
            .bucket("mine")
            .key("k")
            .expected_bucket_owner(wrong)
            .body(b"x".to_vec().into())
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        c.list_objects_v2()
            .bucket("mine")
            .expected_bucket_owner(wrong)
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        c.get_bucket_policy()
            .bucket("mine")
            .expected_bucket_owner(wrong)
            .send()
            .await,
        "AccessDenied",
    );
    assert_code(
        c.copy_object()
            .bucket("mine")
            .key("copy")
            .copy_source("mine/k")
            .expected_source_bucket_owner(wrong)
            .send()
            .await,
        "AccessDenied",
    );
    c.copy_object()
        .bucket("mine")
        .key("copy")
        .copy_source("mine/k")
        .expected_bucket_owner(ACCESS_KEY)
        .expected_source_bucket_owner(ACCESS_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "mine", "copy").await, b"v");
}
