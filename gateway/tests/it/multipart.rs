//! Multipart uploads: parts, listing, completion rules, part reads, copy, resumption
//! after a crash, and lifecycle rules.

use crate::common;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, CompletedMultipartUpload, CompletedPart,
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
};
use common::*;
use md5::Digest as _;

const B: &str = "multipart";
const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, B).await;
    (srv, c)
}

async fn create(c: &aws_sdk_s3::Client, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(B)
        .key(key)
        .send()
        .await
        .expect("create multipart upload")
        .upload_id()
        .expect("upload id")
        .to_owned()
}

async fn upload(c: &aws_sdk_s3::Client, key: &str, id: &str, n: i32, body: &[u8]) -> CompletedPart {
    let out = c
        .upload_part()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
    let etag = out.e_tag().expect("part etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", md5_hex(body)), "part {n} ETag is its MD5");
    CompletedPart::builder().part_number(n).e_tag(etag).build()
}

fn completed(parts: &[CompletedPart]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts.to_vec()))
        .build()
}

async fn complete(
    c: &aws_sdk_s3::Client,
    key: &str,
    id: &str,
    parts: &[CompletedPart],
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError,
        aws_smithy_runtime_api::http::Response,
    >,
> {
    c.complete_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
}

/// The S3 multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut cat = Vec::new();
    for p in parts {
        cat.extend_from_slice(&md5::Md5::digest(p));
    }
    format!("\"{}-{}\"", md5_hex(&cat), parts.len())
}

#[tokio::test]
async fn upload_list_complete_and_read_parts() {
    let (_srv, c) = setup().await;
    let key = "big/object.bin";
    let p1 = data(PART, 11);
    let p2 = data(PART, 12);
    let p3 = data(1000, 13);
    let id = c
        .create_multipart_upload()
        .bucket(B)
        .key(key)
        .content_type("application/x-big")
        .metadata("kind", "multipart")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let parts = vec![
        upload(&c, key, &id, 1, &p1).await,
        upload(&c, key, &id, 2, &p2).await,
        upload(&c, key, &id, 3, &p3).await,
    ];

    // ListParts, one part per page.
    let mut marker: Option<String> = None;
    let mut listed = Vec::new();
    loop {
        let out = c
            .list_parts()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .max_parts(1)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .expect("list parts");
        assert!(out.parts().len() <= 1);
        listed.extend(out.parts().iter().map(|p| {
            (
                p.part_number().unwrap(),
                p.e_tag().unwrap().to_owned(),
                p.size().unwrap(),
            )
        }));
        if out.is_truncated() == Some(true) {
            marker = Some(out.next_part_number_marker().expect("next marker").to_owned());
        } else {
            break;
        }
    }
    let sizes = [PART as i64, PART as i64, 1000];
    let want: Vec<(i32, String, i64)> = parts
        .iter()
        .zip(sizes)
        .map(|(p, s)| (p.part_number().unwrap(), p.e_tag().unwrap().to_owned(), s))
        .collect();
    assert_eq!(listed, want);
    // From a marker, all at once.
    let out = c
        .list_parts()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .part_number_marker("1")
        .send()
        .await
        .unwrap();
    let nums: Vec<i32> = out.parts().iter().filter_map(|p| p.part_number()).collect();
    assert_eq!(nums, [2, 3]);
    assert_eq!(out.is_truncated(), Some(false));

    let out = complete(&c, key, &id, &parts).await.expect("complete");
    let etag = multipart_etag(&[&p1, &p2, &p3]);
    assert_eq!(out.e_tag(), Some(etag.as_str()));

    let all: Vec<u8> = [p1.as_slice(), &p2, &p3].concat();
    let got = c.get_object().bucket(B).key(key).send().await.unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.content_type(), Some("application/x-big"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("kind")).map(String::as_str),
        Some("multipart")
    );
    assert_eq!(got.content_length(), Some(all.len() as i64));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert!(body.as_ref() == all.as_slice(), "multipart object bytes differ");

    // Part reads.
    let head = c.head_object().bucket(B).key(key).part_number(2).send().await.unwrap();
    assert_eq!(head.content_length(), Some(PART as i64));
    assert_eq!(head.parts_count(), Some(3));
    let head = c.head_object().bucket(B).key(key).send().await.unwrap();
    assert_eq!(head.parts_count(), Some(3));
    assert_eq!(head.content_length(), Some(all.len() as i64));
    for (n, want) in [(1, &p1), (2, &p2), (3, &p3)] {
        let got = c.get_object().bucket(B).key(key).part_number(n).send().await.unwrap();
        assert_eq!(got.parts_count(), Some(3));
        assert_eq!(got.content_length(), Some(want.len() as i64));
        let start = (n as usize - 1) * PART;
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {}-{}/{}", start, start + want.len() - 1, all.len()).as_str())
        );
        let b = got.body.collect().await.unwrap().into_bytes();
        assert!(b.as_ref() == want.as_slice(), "part {n} bytes differ");
    }
    let err = c
        .get_object()
        .bucket(B)
        .key(key)
        .part_number(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        sdk_error(&err),
        (Some("InvalidPartNumber".into()), Some(400)),
        "{err:?}"
    );

    // A range across both part boundaries.
    let (s, e) = (PART - 10, 2 * PART + 9);
    let got = c
        .get_object()
        .bucket(B)
        .key(key)
        .range(format!("bytes={s}-{e}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.content_range(),
        Some(format!("bytes {s}-{e}/{}", all.len()).as_str())
    );
    let b = got.body.collect().await.unwrap().into_bytes();
    assert!(b.as_ref() == &all[s..=e], "range across parts differs");

    // The upload is gone.
    assert_code(
        c.list_parts().bucket(B).key(key).upload_id(&id).send().await,
        "NoSuchUpload",
    );
    assert_code(
        c.upload_part()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(b"late".to_vec().into())
            .send()
            .await,
        "NoSuchUpload",
    );
    // A retried completion gets the first answer (see hostile.rs); another list does not.
    let again = complete(&c, key, &id, &parts).await.expect("retried completion");
    assert_eq!(again.e_tag(), out.e_tag());
    assert_code(complete(&c, key, &id, &parts[..1]).await, "NoSuchUpload");
}

#[tokio::test]
async fn completion_errors_and_abort() {
    let (_srv, c) = setup().await;
    let key = "errors";
    let id = create(&c, key).await;
    let small = upload(&c, key, &id, 1, &data(MIB, 21)).await;
    let last = upload(&c, key, &id, 2, &data(100, 22)).await;

    // A 1 MiB part that is not the last one.
    let s = assert_code(
        complete(&c, key, &id, &[small.clone(), last.clone()]).await,
        "EntityTooSmall",
    );
    assert_eq!(s, 400);

    // Only one part: it is the last one, so it may be small.
    let big = upload(&c, key, &id, 1, &data(PART, 23)).await;
    // The old ETag of part 1 no longer matches.
    assert_code(complete(&c, key, &id, &[small, last.clone()]).await, "InvalidPart");
    // A wrong ETag.
    let wrong = CompletedPart::builder()
        .part_number(2)
        .e_tag(format!("\"{}\"", md5_hex(b"nope")))
        .build();
    assert_code(complete(&c, key, &id, &[big.clone(), wrong]).await, "InvalidPart");
    // A part never uploaded.
    let missing = CompletedPart::builder()
        .part_number(7)
        .e_tag(last.e_tag().unwrap())
        .build();
    assert_code(complete(&c, key, &id, &[big.clone(), missing]).await, "InvalidPart");
    // Out of order.
    assert_code(
        complete(&c, key, &id, &[last.clone(), big.clone()]).await,
        "InvalidPartOrder",
    );

    // Part numbers outside 1..=10000.
    for n in [0, 10001] {
        let r = c
            .upload_part()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(b"x".to_vec().into())
            .send()
            .await;
        let e = r.expect_err("part number out of range");
        let (code, status) = sdk_error(&e);
        assert_eq!(status, Some(400), "part {n}: {e:?}");
        assert_eq!(code.as_deref(), Some("InvalidArgument"), "part {n}: {e:?}");
    }

    // The failed attempts left the upload usable.
    c.abort_multipart_upload()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .expect("abort");
    assert_code(
        c.list_parts().bucket(B).key(key).upload_id(&id).send().await,
        "NoSuchUpload",
    );
    assert_code(complete(&c, key, &id, &[big, last]).await, "NoSuchUpload");
    assert_code(
        c.abort_multipart_upload()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
    );
    assert_code(c.head_object().bucket(B).key(key).send().await, "NotFound");
    assert_code(
        c.list_parts()
            .bucket(B)
            .key(key)
            .upload_id("no-such-upload-id")
            .send()
            .await,
        "NoSuchUpload",
    );
}

#[tokio::test]
async fn replaced_part_and_subset_completion() {
    let (_srv, c) = setup().await;
    let key = "subset";
    let id = create(&c, key).await;
    let p1 = data(PART, 31);
    let p2a = data(PART, 32);
    let p2b = data(PART, 33);
    let p3 = data(PART, 34);
    let p4 = data(4321, 35);
    let c1 = upload(&c, key, &id, 1, &p1).await;
    let c2a = upload(&c, key, &id, 2, &p2a).await;
    upload(&c, key, &id, 3, &p3).await;
    let c4 = upload(&c, key, &id, 4, &p4).await;
    let c2b = upload(&c, key, &id, 2, &p2b).await;

    let out = c.list_parts().bucket(B).key(key).upload_id(&id).send().await.unwrap();
    let listed: Vec<(i32, &str)> = out
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.e_tag().unwrap()))
        .collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(
        listed[1],
        (2, c2b.e_tag().unwrap()),
        "re-uploaded part 2 replaces the first"
    );

    // The replaced part's ETag is refused.
    assert_code(
        complete(&c, key, &id, &[c1.clone(), c2a, c4.clone()]).await,
        "InvalidPart",
    );

    let out = complete(&c, key, &id, &[c1, c2b, c4]).await.expect("complete subset");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1, &p2b, &p4]).as_str()));
    let got = get(&c, B, key).await;
    let want = [p1.as_slice(), &p2b, &p4].concat();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "subset object bytes differ");
    let head = c.head_object().bucket(B).key(key).send().await.unwrap();
    assert_eq!(head.parts_count(), Some(3));
    let p = c.get_object().bucket(B).key(key).part_number(3).send().await.unwrap();
    assert!(p.body.collect().await.unwrap().into_bytes().as_ref() == p4.as_slice());
}

#[tokio::test]
async fn list_multipart_uploads_with_prefix() {
    let (_srv, c) = setup().await;
    let a1 = create(&c, "a/1").await;
    let a2 = create(&c, "a/2").await;
    let b1 = create(&c, "b/1").await;

    let out = c.list_multipart_uploads().bucket(B).prefix("a/").send().await.unwrap();
    let mut got: Vec<(&str, &str)> = out
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap(), u.upload_id().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, [("a/1", a1.as_str()), ("a/2", a2.as_str())]);
    assert!(out.uploads().iter().all(|u| u.initiated().is_some()));

    let out = c.list_multipart_uploads().bucket(B).send().await.unwrap();
    assert_eq!(out.uploads().len(), 3);
    let out = c
        .list_multipart_uploads()
        .bucket(B)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let mut prefixes: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    prefixes.sort_unstable();
    assert_eq!(prefixes, ["a/", "b/"]);

    c.abort_multipart_upload()
        .bucket(B)
        .key("b/1")
        .upload_id(&b1)
        .send()
        .await
        .unwrap();
    let out = c.list_multipart_uploads().bucket(B).prefix("b/").send().await.unwrap();
    assert!(out.uploads().is_empty(), "{out:?}");
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let (_srv, c) = setup().await;
    let src = data(PART + MIB, 41);
    put(&c, B, "source", &src).await;
    let key = "copied";
    let id = create(&c, key).await;
    // An uploaded part first, then two copied ranges of the source.
    let head = data(PART, 42);
    let mut parts = vec![upload(&c, key, &id, 1, &head).await];
    for (n, range) in [(2, (0, PART - 1)), (3, (PART, PART + MIB - 1))] {
        let out = c
            .upload_part_copy()
            .bucket(B)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{B}/source"))
            .copy_source_range(format!("bytes={}-{}", range.0, range.1))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part copy {n}: {e:?}"));
        let etag = out.copy_part_result().and_then(|r| r.e_tag()).expect("etag").to_owned();
        assert_eq!(etag, format!("\"{}\"", md5_hex(&src[range.0..=range.1])));
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    complete(&c, key, &id, &parts).await.expect("complete");
    let want = [head.as_slice(), &src].concat();
    let got = get(&c, B, key).await;
    assert!(got == want, "copied object bytes differ");

    // Whole-object part copy and a range beyond the source.
    let id = create(&c, "copied2").await;
    c.upload_part_copy()
        .bucket(B)
        .key("copied2")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{B}/source"))
        .send()
        .await
        .expect("whole-object part copy");
    assert_code(
        c.upload_part_copy()
            .bucket(B)
            .key("copied2")
            .upload_id(&id)
            .part_number(2)
            .copy_source(format!("{B}/source"))
            .copy_source_range(format!("bytes=0-{}", src.len()))
            .send()
            .await,
        "InvalidRange",
    );
}

#[tokio::test]
async fn resume_after_sigkill() {
    let (mut srv, c) = setup().await;
    let key = "resumed.bin";
    let p1 = data(PART, 51);
    let p2 = data(PART, 52);
    let p3 = data(12_345, 53);
    let id = create(&c, key).await;
    let c1 = upload(&c, key, &id, 1, &p1).await;
    let c2 = upload(&c, key, &id, 2, &p2).await;

    srv.restart();
    let c = srv.client();

    let out = c
        .list_parts()
        .bucket(B)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .expect("list parts after restart");
    let listed: Vec<(i32, &str, i64)> = out
        .parts()
        .iter()
        .map(|p| (p.part_number().unwrap(), p.e_tag().unwrap(), p.size().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, c1.e_tag().unwrap(), PART as i64),
            (2, c2.e_tag().unwrap(), PART as i64)
        ]
    );
    let uploads = c.list_multipart_uploads().bucket(B).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);

    let c3 = upload(&c, key, &id, 3, &p3).await;
    let out = complete(&c, key, &id, &[c1, c2, c3])
        .await
        .expect("complete after restart");
    assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1, &p2, &p3]).as_str()));
    let got = get(&c, B, key).await;
    assert!(got == [p1.as_slice(), &p2, &p3].concat(), "resumed object bytes differ");

    // And it survives another crash.
    srv.restart();
    let got = get(&srv.client(), B, key).await;
    assert_eq!(got.len(), 2 * PART + 12_345);
}

#[tokio::test]
async fn lifecycle_abort_incomplete_multipart_upload() {
    let (_srv, c) = setup().await;
    assert_code(
        c.get_bucket_lifecycle_configuration().bucket(B).send().await,
        "NoSuchLifecycleConfiguration",
    );
    let rule = LifecycleRule::builder()
        .id("abort-stale-uploads")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("uploads/").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(3)
                .build(),
        )
        .build()
        .unwrap();
    c.put_bucket_lifecycle_configuration()
        .bucket(B)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .expect("put lifecycle");

    let out = c
        .get_bucket_lifecycle_configuration()
        .bucket(B)
        .send()
        .await
        .expect("get lifecycle");
    assert_eq!(out.rules().len(), 1);
    let r = &out.rules()[0];
    assert_eq!(r.id(), Some("abort-stale-uploads"));
    assert_eq!(r.status(), &ExpirationStatus::Enabled);
    assert_eq!(
        r.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(3)
    );
    assert_eq!(r.filter().and_then(|f| f.prefix()), Some("uploads/"));

    c.delete_bucket_lifecycle()
        .bucket(B)
        .send()
        .await
        .expect("delete lifecycle");
    assert_code(
        c.get_bucket_lifecycle_configuration().bucket(B).send().await,
        "NoSuchLifecycleConfiguration",
    );
}
