//! Hostile and unlucky clients: retried requests, protection asked for and not given,
//! full disks, slow or idle connections, metrics scraped by strangers, and proofs of
//! possession that outlive what they prove.

mod common;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
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
