//! Bucket versioning through a real client: versions on every write, reads and deletes
//! by version id, delete markers, ListObjectVersions, suspended buckets.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, VersioningConfiguration,
};
use common::*;

async fn set_versioning(c: &aws_sdk_s3::Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("put bucket versioning");
}

async fn versioned(c: &aws_sdk_s3::Client, bucket: &str) {
    create_bucket(c, bucket).await;
    set_versioning(c, bucket, BucketVersioningStatus::Enabled).await;
}

/// Writes `body` and returns the version id the write answered.
async fn put_version(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("a write to a versioned bucket answers its version id")
        .to_owned()
}

async fn get_version(c: &aws_sdk_s3::Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    let out = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .expect("get version");
    assert_eq!(out.version_id(), Some(version));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Every (key, version id, is latest, is a delete marker) of a bucket, in listing
/// order, following the pages `max` at a time.
async fn all_versions(c: &aws_sdk_s3::Client, bucket: &str, max: i32) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let page = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(max)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        let mut entries: Vec<(String, String, bool, bool)> = page
            .versions()
            .iter()
            .map(|v| {
                let id = v.version_id().unwrap().to_owned();
                (v.key().unwrap().to_owned(), id, v.is_latest().unwrap(), false)
            })
            .chain(page.delete_markers().iter().map(|m| {
                let id = m.version_id().unwrap().to_owned();
                (m.key().unwrap().to_owned(), id, m.is_latest().unwrap(), true)
            }))
            .collect();
        // The two lists come apart in the XML: put them back in listing order (keys
        // ascending, newest first, which version ids sort as).
        entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert!(entries.len() <= usize::try_from(max).unwrap());
        out.extend(entries);
        if !page.is_truncated().unwrap_or(false) {
            return out;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        assert!(key_marker.is_some(), "a truncated page names where to go on");
    }
}

#[tokio::test]
async fn versioning_configuration_round_trips_and_refuses_anything_else() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "cfg").await;
    let got = c.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(got.status(), None, "a bucket never versioned has no status");

    set_versioning(&c, "cfg", BucketVersioningStatus::Enabled).await;
    let got = c.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(got.status(), Some(&BucketVersioningStatus::Enabled));
    set_versioning(&c, "cfg", BucketVersioningStatus::Suspended).await;
    let got = c.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(got.status(), Some(&BucketVersioningStatus::Suspended));

    for body in [
        "<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>",
        "<VersioningConfiguration></VersioningConfiguration>",
    ] {
        let r = srv.signed("PUT", "/cfg?versioning", &[], body.as_bytes()).await;
        assert_eq!(
            (r.status, r.error_code().as_deref()),
            (400, Some("MalformedXML")),
            "{body}"
        );
    }
    let got = c.get_bucket_versioning().bucket("cfg").send().await.unwrap();
    assert_eq!(
        got.status(),
        Some(&BucketVersioningStatus::Suspended),
        "a refused change changes nothing"
    );
}

#[tokio::test]
async fn every_write_to_a_versioned_bucket_is_a_version_readable_by_its_id() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "vbk").await;
    let v1 = put_version(&c, "vbk", "k", b"first").await;
    let v2 = put_version(&c, "vbk", "k", b"second").await;
    assert_ne!(v1, v2);
    assert_eq!(get(&c, "vbk", "k").await, b"second");
    assert_eq!(get_version(&c, "vbk", "k", &v1).await, b"first");
    assert_eq!(get_version(&c, "vbk", "k", &v2).await, b"second");
    let head = c
        .head_object()
        .bucket("vbk")
        .key("k")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!((head.content_length(), head.version_id()), (Some(5), Some(v1.as_str())));

    // A copy of an old version is a new version.
    let copied = c
        .copy_object()
        .bucket("vbk")
        .key("copy")
        .copy_source(format!("vbk/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.copy_source_version_id(), Some(v1.as_str()));
    let v3 = copied.version_id().expect("a copy answers its version id").to_owned();
    assert_eq!(get_version(&c, "vbk", "copy", &v3).await, b"first");

    // So is a completed multipart upload.
    let up = c.create_multipart_upload().bucket("vbk").key("k").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("vbk")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"third"))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("vbk")
        .key("k")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v4 = done
        .version_id()
        .expect("a completion answers its version id")
        .to_owned();
    assert_eq!(get_version(&c, "vbk", "k", &v4).await, b"third");
    assert_eq!(get_version(&c, "vbk", "k", &v1).await, b"first");

    // An id of the right shape that names nothing, and one that cannot be an id.
    let unknown = format!("{:016x}{:016x}", 1, 1);
    let got = c.get_object().bucket("vbk").key("k").version_id(&unknown).send().await;
    assert_eq!(assert_code(got, "NoSuchVersion"), 404);
    let got = c.get_object().bucket("vbk").key("k").version_id("bogus").send().await;
    assert_eq!(assert_code(got, "InvalidArgument"), 400);
    // The `null` version does not exist where every write had an id.
    let got = c.get_object().bucket("vbk").key("k").version_id("null").send().await;
    assert_eq!(assert_code(got, "NoSuchVersion"), 404);
}

#[tokio::test]
async fn a_delete_writes_a_marker_that_hides_the_key_until_the_marker_is_removed() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "dmk").await;
    let v1 = put_version(&c, "dmk", "k", b"kept").await;
    put_version(&c, "dmk", "other", b"x").await;
    let del = c.delete_object().bucket("dmk").key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().expect("a marker has a version id").to_owned();
    assert_ne!(marker, v1);

    let got = c.get_object().bucket("dmk").key("k").send().await;
    assert_eq!(assert_code(got, "NoSuchKey"), 404);
    let raw = srv.signed("GET", "/dmk/k", &[], b"").await;
    assert_eq!(raw.status, 404);
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.header("x-amz-version-id"), Some(marker.as_str()));
    let raw = srv.signed("GET", &format!("/dmk/k?versionId={marker}"), &[], b"").await;
    assert_eq!(raw.status, 405, "a marker named by its id is not an object");
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));

    let listed = c.list_objects_v2().bucket("dmk").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["other"], "a deleted key is not listed");
    assert_eq!(get_version(&c, "dmk", "k", &v1).await, b"kept", "the old version stays");

    // Removing the marker for good brings the previous version back.
    let del = c
        .delete_object()
        .bucket("dmk")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (del.delete_marker(), del.version_id()),
        (Some(true), Some(marker.as_str()))
    );
    assert_eq!(get(&c, "dmk", "k").await, b"kept");
}

#[tokio::test]
async fn deleting_a_version_for_good_leaves_the_others_and_an_empty_bucket_can_go() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "gone").await;
    let v1 = put_version(&c, "gone", "k", b"one").await;
    let v2 = put_version(&c, "gone", "k", b"two").await;
    c.delete_object()
        .bucket("gone")
        .key("k")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        get(&c, "gone", "k").await,
        b"one",
        "the previous version is current again"
    );
    let got = c.get_object().bucket("gone").key("k").version_id(&v2).send().await;
    assert_eq!(assert_code(got, "NoSuchVersion"), 404);

    // A marker or an old version keeps the bucket from being deleted.
    c.delete_object().bucket("gone").key("k").send().await.unwrap();
    assert_eq!(
        assert_code(c.delete_bucket().bucket("gone").send().await, "BucketNotEmpty"),
        409
    );
    let versions = all_versions(&c, "gone", 1000).await;
    assert_eq!(versions.len(), 2);
    for (key, id, _, _) in &versions {
        c.delete_object()
            .bucket("gone")
            .key(key)
            .version_id(id)
            .send()
            .await
            .unwrap();
    }
    assert!(all_versions(&c, "gone", 1000).await.is_empty());
    assert!(
        versions
            .iter()
            .any(|(_, id, latest, marker)| *id == v1 && !latest && !marker)
    );
    c.delete_bucket()
        .bucket("gone")
        .send()
        .await
        .expect("an emptied bucket goes");
}

#[tokio::test]
async fn list_object_versions_pages_through_versions_and_markers_in_order() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "lvb").await;
    let a: Vec<String> = vec![
        put_version(&c, "lvb", "a", b"1").await,
        put_version(&c, "lvb", "a", b"2").await,
        put_version(&c, "lvb", "a", b"3").await,
    ];
    let b1 = put_version(&c, "lvb", "b", b"1").await;
    let bm = c.delete_object().bucket("lvb").key("b").send().await.unwrap();
    let bm = bm.version_id().unwrap().to_owned();
    put_version(&c, "lvb", "c/x", b"x").await;
    put_version(&c, "lvb", "c/y", b"y").await;

    let all = all_versions(&c, "lvb", 1000).await;
    let want: Vec<(String, String, bool, bool)> = vec![
        ("a".into(), a[2].clone(), true, false),
        ("a".into(), a[1].clone(), false, false),
        ("a".into(), a[0].clone(), false, false),
        ("b".into(), bm.clone(), true, true),
        ("b".into(), b1.clone(), false, false),
    ];
    assert_eq!(all[..5], want[..]);
    assert_eq!(all.len(), 7);
    for max in [1, 2, 3] {
        assert_eq!(all_versions(&c, "lvb", max).await, all, "pages of {max}");
    }

    let out = c
        .list_object_versions()
        .bucket("lvb")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["c/"]);
    assert_eq!(out.versions().len(), 4);
    assert_eq!(out.delete_markers().len(), 1);

    // From the middle of a key's versions.
    let out = c
        .list_object_versions()
        .bucket("lvb")
        .key_marker("a")
        .version_id_marker(&a[2])
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = out.versions().iter().filter_map(|v| v.version_id()).collect();
    assert_eq!(ids, [a[1].as_str(), a[0].as_str()]);
    assert_eq!(out.next_key_marker(), Some("a"));
    assert_eq!(out.next_version_id_marker(), Some(a[0].as_str()));
}

#[tokio::test]
async fn a_suspended_bucket_writes_and_replaces_the_null_version_and_keeps_the_others() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "sus").await;
    put(&c, "sus", "k", b"before versioning").await;
    set_versioning(&c, "sus", BucketVersioningStatus::Enabled).await;
    let v1 = put_version(&c, "sus", "k", b"versioned").await;
    assert_eq!(get_version(&c, "sus", "k", "null").await, b"before versioning");

    set_versioning(&c, "sus", BucketVersioningStatus::Suspended).await;
    let put = c
        .put_object()
        .bucket("sus")
        .key("k")
        .body(ByteStream::from_static(b"suspended"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), Some("null"));
    put_version(&c, "sus", "k", b"suspended again").await;
    assert_eq!(get(&c, "sus", "k").await, b"suspended again");
    assert_eq!(get_version(&c, "sus", "k", "null").await, b"suspended again");
    assert_eq!(get_version(&c, "sus", "k", &v1).await, b"versioned");

    let versions = all_versions(&c, "sus", 1000).await;
    let ids: Vec<(&str, bool)> = versions
        .iter()
        .map(|(_, id, latest, _)| (id.as_str(), *latest))
        .collect();
    assert_eq!(ids.len(), 2, "the first null version was replaced: {ids:?}");
    assert!(ids.contains(&("null", true)) && ids.contains(&(v1.as_str(), false)));

    // A delete writes a null marker in place of the null version.
    let del = c.delete_object().bucket("sus").key("k").send().await.unwrap();
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some("null")));
    let versions = all_versions(&c, "sus", 1000).await;
    assert_eq!(versions.len(), 2);
    assert!(
        versions
            .iter()
            .any(|(_, id, latest, marker)| id == "null" && *latest && *marker)
    );
}

#[tokio::test]
async fn delete_objects_removes_the_versions_it_names_and_marks_the_keys_it_does_not() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "batch").await;
    let a1 = put_version(&c, "batch", "a", b"a1").await;
    let a2 = put_version(&c, "batch", "a", b"a2").await;
    put_version(&c, "batch", "b", b"b").await;
    let out = c
        .delete_objects()
        .bucket("batch")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").version_id(&a1).build().unwrap())
                .objects(ObjectIdentifier::builder().key("b").build().unwrap())
                .objects(
                    ObjectIdentifier::builder()
                        .key("c")
                        .version_id("bogus")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted = out.deleted();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    let a = deleted.iter().find(|d| d.key() == Some("a")).unwrap();
    assert_eq!((a.version_id(), a.delete_marker()), (Some(a1.as_str()), None));
    let b = deleted.iter().find(|d| d.key() == Some("b")).unwrap();
    assert_eq!(b.delete_marker(), Some(true));
    assert!(b.delete_marker_version_id().is_some());
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("InvalidArgument"));

    assert_eq!(get(&c, "batch", "a").await, b"a2");
    let got = c.get_object().bucket("batch").key("a").version_id(&a1).send().await;
    assert_eq!(assert_code(got, "NoSuchVersion"), 404);
    assert_eq!(get_version(&c, "batch", "a", &a2).await, b"a2");
    let got = c.get_object().bucket("batch").key("b").send().await;
    assert_eq!(assert_code(got, "NoSuchKey"), 404);
}

#[tokio::test]
async fn tagging_and_acls_read_and_change_the_version_they_name() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "tv1").await;
    let old = put_version(&c, "tv1", "k", b"old").await;
    let new = put_version(&c, "tv1", "k", b"new").await;
    let tags = |k: &str, v: &str| {
        aws_sdk_s3::types::Tagging::builder()
            .tag_set(aws_sdk_s3::types::Tag::builder().key(k).value(v).build().expect("tag"))
            .build()
            .expect("tagging")
    };
    let out = c
        .put_object_tagging()
        .bucket("tv1")
        .key("k")
        .version_id(&old)
        .tagging(tags("era", "old"))
        .send()
        .await
        .expect("tag the old version");
    assert_eq!(out.version_id(), Some(old.as_str()));
    let read = |v: String| {
        let c = c.clone();
        async move {
            let out = c
                .get_object_tagging()
                .bucket("tv1")
                .key("k")
                .version_id(&v)
                .send()
                .await
                .expect("get tagging");
            assert_eq!(out.version_id(), Some(v.as_str()));
            out.tag_set()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(read(old.clone()).await, ["era=old"]);
    assert!(
        read(new.clone()).await.is_empty(),
        "the current version's tags are its own"
    );
    c.delete_object_tagging()
        .bucket("tv1")
        .key("k")
        .version_id(&old)
        .send()
        .await
        .expect("delete tagging");
    assert!(read(old.clone()).await.is_empty());

    let acl = c
        .get_object_acl()
        .bucket("tv1")
        .key("k")
        .version_id(&old)
        .send()
        .await
        .expect("acl of a version");
    assert!(acl.owner().is_some());
    c.put_object_acl()
        .bucket("tv1")
        .key("k")
        .version_id(&old)
        .acl(aws_sdk_s3::types::ObjectCannedAcl::Private)
        .send()
        .await
        .expect("put acl of a version");
    let res = c
        .get_object_tagging()
        .bucket("tv1")
        .key("k")
        .version_id("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH")
        .send()
        .await;
    assert_code(res, "NoSuchVersion");
}

#[tokio::test]
async fn a_request_naming_a_version_needs_the_version_action_of_the_policy() {
    let srv = Server::with_second_user("");
    let (c, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    versioned(&c, "pv1").await;
    let v = put_version(&c, "pv1", "k", b"data").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"{USER2_ACCESS_KEY}"}},
          "Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::pv1/*"}}]}}"#
    );
    c.put_bucket_policy()
        .bucket("pv1")
        .policy(policy)
        .send()
        .await
        .expect("policy");
    other
        .get_object()
        .bucket("pv1")
        .key("k")
        .send()
        .await
        .expect("s3:GetObject reads the current version");
    let res = other.get_object().bucket("pv1").key("k").version_id(&v).send().await;
    assert_code(res, "AccessDenied");
    let res = other.delete_object().bucket("pv1").key("k").version_id(&v).send().await;
    assert_code(res, "AccessDenied");
    assert_eq!(get_version(&c, "pv1", "k", &v).await, b"data");

    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"{USER2_ACCESS_KEY}"}},
          "Action":["s3:GetObjectVersion","s3:DeleteObjectVersion"],"Resource":"arn:aws:s3:::pv1/*"}}]}}"#
    );
    c.put_bucket_policy()
        .bucket("pv1")
        .policy(policy)
        .send()
        .await
        .expect("policy");
    other
        .get_object()
        .bucket("pv1")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("s3:GetObjectVersion reads the version");
    other
        .delete_object()
        .bucket("pv1")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("s3:DeleteObjectVersion removes it");
}

#[tokio::test]
async fn a_retried_completion_answers_the_version_the_first_one_wrote() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "rc1").await;
    let id = c
        .create_multipart_upload()
        .bucket("rc1")
        .key("k")
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_owned();
    let etag = c
        .upload_part()
        .bucket("rc1")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("upload part")
        .e_tag
        .expect("part etag");
    let complete = || {
        c.complete_multipart_upload()
            .bucket("rc1")
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(&etag).build())
                    .build(),
            )
            .send()
    };
    let first = complete().await.expect("first completion");
    let v = first.version_id().expect("a version id").to_owned();
    // A later write makes that version noncurrent; a retry still names it.
    put_version(&c, "rc1", "k", b"later").await;
    let again = complete().await.expect("retried completion");
    assert_eq!(again.version_id(), Some(v.as_str()));
    assert_eq!(again.e_tag(), first.e_tag());
}

#[tokio::test]
async fn conditional_deletes_of_a_named_version_compare_that_version() {
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "cd1").await;
    let old = put_version(&c, "cd1", "k", b"old!").await;
    let old_etag = c
        .head_object()
        .bucket("cd1")
        .key("k")
        .version_id(&old)
        .send()
        .await
        .expect("head")
        .e_tag()
        .expect("etag")
        .to_owned();
    let new = put_version(&c, "cd1", "k", b"new").await;

    // The current version's size is 3, the named one's 4: the condition is on the latter.
    let res = c
        .delete_object()
        .bucket("cd1")
        .key("k")
        .version_id(&old)
        .if_match_size(3)
        .send()
        .await;
    assert_eq!(assert_code(res, "PreconditionFailed"), 412);
    let out = c
        .delete_objects()
        .bucket("cd1")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(&new)
                        .e_tag(&old_etag)
                        .build()
                        .expect("id"),
                )
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let errors: Vec<&str> = out.errors().iter().filter_map(|e| e.code()).collect();
    assert_eq!(errors, ["PreconditionFailed"]);
    assert_eq!(get_version(&c, "cd1", "k", &new).await, b"new");

    c.delete_object()
        .bucket("cd1")
        .key("k")
        .version_id(&old)
        .if_match(&old_etag)
        .if_match_size(4)
        .send()
        .await
        .expect("delete with matching conditions");
    let res = c.get_object().bucket("cd1").key("k").version_id(&old).send().await;
    assert_code(res, "NoSuchVersion");
}

#[tokio::test]
async fn lifecycle_rules_for_versions_and_filters_round_trip() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator,
        LifecycleRuleFilter, NoncurrentVersionExpiration, Tag,
    };
    let srv = Server::start();
    let c = srv.client();
    versioned(&c, "lc1").await;
    let and = LifecycleRuleAndOperator::builder()
        .prefix("logs/")
        .tags(Tag::builder().key("tier").value("scratch").build().expect("tag"))
        .object_size_greater_than(100)
        .object_size_less_than(1_000_000)
        .build();
    let versions = LifecycleRule::builder()
        .id("versions")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().and(and).build())
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .newer_noncurrent_versions(3)
                .build(),
        )
        .build()
        .expect("rule");
    let markers = LifecycleRule::builder()
        .id("markers")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .expiration(
            LifecycleExpiration::builder()
                .expired_object_delete_marker(true)
                .build(),
        )
        .build()
        .expect("rule");
    c.put_bucket_lifecycle_configuration()
        .bucket("lc1")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(versions)
                .rules(markers)
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("put lifecycle");
    // Rules apply in the background; nothing here is old enough for them.
    let v = put_version(&c, "lc1", "logs/a", &[0u8; 200]).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("lc1")
        .send()
        .await
        .expect("get lifecycle");
    let rules = got.rules();
    assert_eq!(rules.len(), 2);
    let nc = rules[0].noncurrent_version_expiration().expect("noncurrent expiration");
    assert_eq!(
        (nc.noncurrent_days(), nc.newer_noncurrent_versions()),
        (Some(7), Some(3))
    );
    let and = rules[0].filter().and_then(|f| f.and()).expect("an And filter");
    assert_eq!(and.prefix(), Some("logs/"));
    assert_eq!(and.tags().len(), 1);
    assert_eq!(
        (and.object_size_greater_than(), and.object_size_less_than()),
        (Some(100), Some(1_000_000))
    );
    assert_eq!(
        rules[1].expiration().and_then(|e| e.expired_object_delete_marker()),
        Some(true)
    );
    assert_eq!(get_version(&c, "lc1", "logs/a", &v).await, [0u8; 200]);

    let bad = LifecycleRule::builder()
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(0).build())
        .build()
        .expect("rule");
    let res = c
        .put_bucket_lifecycle_configuration()
        .bucket("lc1")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(bad).build().expect("cfg"))
        .send()
        .await;
    assert_code(res, "InvalidArgument");
}
