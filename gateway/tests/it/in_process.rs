//! The server of the `fastgate` library started inside the test process, driven with
//! aws-sdk-s3: the pattern for protocol behaviour where no process boundary is under test
//! (kill, restart and real clients keep their process tests).

use crate::common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use common::{ACCESS_KEY, REGION, SECRET_KEY, assert_code, create_bucket, get, put};
use fastgate::config::{Overrides, Settings};
use fastgate::server::Running;

/// A server on 127.0.0.1 with a free port over a temporary data dir, and a client for it.
struct InProcess {
    server: Running,
    client: aws_sdk_s3::Client,
    /// Dropped after the server (fields drop in order).
    _dir: tempfile::TempDir,
}

async fn start() -> InProcess {
    let dir = tempfile::Builder::new()
        .prefix("fastgate-in-process-")
        .tempdir()
        .expect("tempdir");
    let settings = Settings::resolve(Overrides {
        listen: None,
        data_dir: Some(dir.path().join("data")),
        access_key: Some(ACCESS_KEY.into()),
        secret_key: Some(SECRET_KEY.into()),
        config: None,
        domains: Vec::new(),
        region: None,
        // No metrics listener: the test reads nothing from it.
        metrics_listen: Some("off".into()),
        console_listen: Some("off".into()),
        // As for the process tests: FASTGATE_META_ENGINE picks the engine.
        meta_engine: std::env::var("FASTGATE_META_ENGINE")
            .ok()
            .map(|e| e.parse().expect("FASTGATE_META_ENGINE")),
        // On postgres, a database of its own in the test process's server.
        meta_url: (std::env::var("FASTGATE_META_ENGINE").as_deref() == Ok("postgres"))
            .then(|| common::pg::Postgres::get().new_database()),
        tls_cert: None,
        tls_key: None,
        cluster_secret: None,
    })
    .expect("settings");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = fastgate::server::start(settings, listener).await.expect("start");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(format!("http://{}", server.addr))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "fastgate-tests"))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    InProcess {
        server,
        client: aws_sdk_s3::Client::from_conf(config),
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_in_process_stores_lists_and_serves_objects() {
    let s = start().await;
    let c = &s.client;
    create_bucket(c, "inproc").await;
    let etag = put(c, "inproc", "dir/a.txt", b"hello from the test process").await;
    assert_eq!(etag, format!("\"{}\"", common::md5_hex(b"hello from the test process")));
    put(c, "inproc", "dir/b.txt", b"second").await;
    put(c, "inproc", "top.txt", b"third").await;

    assert_eq!(get(c, "inproc", "dir/a.txt").await, b"hello from the test process");
    let listed = c
        .list_objects_v2()
        .bucket("inproc")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let dirs: Vec<&str> = listed.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(keys, ["top.txt"]);
    assert_eq!(dirs, ["dir/"]);

    assert_code(c.get_object().bucket("inproc").key("missing").send().await, "NoSuchKey");
    // Re-creating a bucket one owns is a 200 in us-east-1, as on S3.
    c.create_bucket()
        .bucket("inproc")
        .send()
        .await
        .expect("re-create own bucket");
    assert_code(c.delete_bucket().bucket("inproc").send().await, "BucketNotEmpty");
    s.server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_server_refuses_connections_once_shut_down() {
    let s = start().await;
    let addr = s.server.addr;
    create_bucket(&s.client, "stopping").await;
    s.server.shutdown().await.expect("clean shutdown");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
