//! The metadata engines from a user's side: a data dir keeps the engine it was created
//! with, and `fastgate convert-meta` moves a stopped server's catalog to the other one.

use crate::common;

use std::process::Command;

use common::*;

const B: &str = "engines";

fn fastgate(args: &[&str], srv: &Server) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(args)
        .env("FASTGATE_DATA_DIR", srv.data_dir())
        .env("FASTGATE_LISTEN", "127.0.0.1:0")
        .env("RUST_BACKTRACE", "0")
        .env_remove("FASTGATE_CONFIG")
        .env_remove("FASTGATE_META_ENGINE")
        .output()
        .expect("run fastgate")
}

#[tokio::test]
async fn a_stopped_servers_catalog_converts_to_the_other_engine_and_back() {
    for (from, to) in [("sled", "fjall"), ("fjall", "sled")] {
        let mut srv = Server::with_meta_engine(from);
        let c = srv.client();
        create_bucket(&c, B).await;
        let (small, large, part) = (data(3000, 1), data(1 << 20, 2), data(5 << 20, 3));
        put(&c, B, "dir/small", &small).await;
        put(&c, B, "dir/large", &large).await;
        // An upload left open: its part must come through too.
        let up = c.create_multipart_upload().bucket(B).key("mp").send().await.unwrap();
        let id = up.upload_id().unwrap().to_owned();
        c.upload_part()
            .bucket(B)
            .key("mp")
            .upload_id(&id)
            .part_number(1)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        srv.kill9();

        // The other engine refuses the directory, and says what to do...
        let refused = fastgate(&["serve", "--meta-engine", to], &srv);
        assert!(!refused.status.success());
        let why = String::from_utf8_lossy(&refused.stderr);
        assert!(why.contains(&format!("written by the {from} engine")), "{why}");
        assert!(why.contains(&format!("fastgate convert-meta --to {to}")), "{why}");

        // ...which works.
        let converted = fastgate(&["convert-meta", "--to", to], &srv);
        let said = String::from_utf8_lossy(&converted.stdout);
        assert!(
            converted.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&converted.stderr)
        );
        assert!(said.contains(&format!("from {from} to {to}")), "{said}");
        assert!(srv.data_dir().join(format!("meta.{from}-backup")).is_dir());

        srv.start_again_on(to);
        let c = srv.client();
        assert!(srv.log().contains(&format!("metadata:   {to}")));
        assert_eq!(get(&c, B, "dir/small").await, small);
        assert_eq!(get(&c, B, "dir/large").await, large);
        let listed = c.list_objects_v2().bucket(B).prefix("dir/").send().await.unwrap();
        assert_eq!(listed.key_count(), Some(2));
        let parts = c.list_parts().bucket(B).key("mp").upload_id(&id).send().await.unwrap();
        assert_eq!(parts.parts().len(), 1);
        let etag = parts.parts()[0].e_tag().unwrap().to_owned();
        c.complete_multipart_upload()
            .bucket(B)
            .key("mp")
            .upload_id(&id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .parts(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(1)
                            .e_tag(etag)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(get(&c, B, "mp").await, part);
    }
}
