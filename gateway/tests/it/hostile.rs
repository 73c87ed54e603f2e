//! Hostile and unlucky clients: retried requests, protection asked for and not given,
//! full disks, slow or idle connections, metrics scraped by strangers, and proofs of
//! possession that outlive what they prove.

use crate::common;

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

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (with the reason printed) where this process may not mount.
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::Builder::new().prefix("fastgate-small-disk-").tempdir().ok()?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Sends a signed PUT over a plain socket: `first` bytes of the body, then `between`,
/// then the rest. Returns the status and body of the answer.
async fn put_in_two_halves(
    srv: &Server,
    path: &str,
    body: &[u8],
    first: usize,
    between: impl FnOnce(),
) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let url = format!("{}{path}", srv.endpoint());
    let len = body.len().to_string();
    let headers = vec![
        ("host".to_owned(), srv.addr.to_string()),
        ("content-length".to_owned(), len),
    ];
    let signed = sign_headers(
        ACCESS_KEY,
        SECRET_KEY,
        "PUT",
        &url,
        &headers,
        "UNSIGNED-PAYLOAD",
        std::time::SystemTime::now(),
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\nconnection: close\r\n");
    for (k, v) in headers.iter().chain(&signed) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    sock.write_all(head.as_bytes()).await.expect("send head");
    sock.write_all(&body[..first]).await.expect("send first half");
    sock.flush().await.expect("flush");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    between();
    // The server may answer and close before it has read everything.
    let _ = sock.write_all(&body[first..]).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), sock.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, text)
}

#[tokio::test]
async fn a_disk_that_fills_during_a_write_is_a_clear_error_and_leaves_nothing() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let srv = Server::with_config(&format!(
        "[[groups]]\nname = \"group1\"\nstore_paths = [\"{}\"]\n\n[placement]\nreserved_space = 0\n",
        disk.path().display()
    ));
    let c = srv.client();
    create_bucket(&c, "full").await;
    let body = random_data(4 << 20);
    let filler = disk.path().join("filler");
    let (status, answer) = put_in_two_halves(&srv, "/full/big", &body, 1 << 20, || {
        // Someone else fills the disk while the upload is under way.
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).expect("create filler");
        let block = vec![7u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    })
    .await;
    assert_eq!(status, 507, "{answer}");
    assert!(answer.contains("XFastgateNoSpace"), "{answer}");
    let left: Vec<_> = files_under(&disk.path().join("tmp"));
    assert!(left.is_empty(), "temp files left behind: {left:?}");
    assert!(!exists(&c, "full", "big").await);

    // With room again, the same upload goes through.
    std::fs::remove_file(&filler).expect("remove filler");
    put(&c, "full", "big", &body).await;
    assert_eq!(get(&c, "full", "big").await, body);
}

const SHORT_TIMEOUTS: &str = "[connections]\nheader_read_timeout_secs = 1\nidle_timeout_secs = 1\n";

/// Whether the server closes `sock` within `within` (reads until EOF or a reset).
async fn closed_within(sock: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    let read_to_end = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_end).await.is_ok()
}

#[tokio::test]
async fn connections_that_never_finish_a_request_are_closed() {
    use tokio::io::AsyncWriteExt as _;
    let srv = Server::with_config(SHORT_TIMEOUTS);
    let wait = std::time::Duration::from_secs(5);
    let mut silent = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    let mut slow = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("send some headers");
    assert!(
        closed_within(&mut silent, wait).await,
        "a silent connection stayed open"
    );
    assert!(
        closed_within(&mut slow, wait).await,
        "unfinished headers kept a connection open"
    );

    // An idle keep-alive connection is closed too, after its answer.
    let mut idle = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("send a request");
    assert!(
        closed_within(&mut idle, wait).await,
        "an idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn a_slow_upload_in_progress_is_not_cut() {
    let srv = Server::with_config(SHORT_TIMEOUTS);
    let c = srv.client();
    create_bucket(&c, "slow").await;
    let body = random_data(1 << 20);
    // Longer than both timeouts without a byte, in the middle of the body.
    let (status, answer) = put_in_two_halves(&srv, "/slow/k", &body, 512 << 10, || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
    })
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(get(&c, "slow", "k").await, body);
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_slot() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let srv = Server::with_config("[connections]\nmax_connections = 2\nidle_timeout_secs = 30\n");
    let first = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    let _second = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    let mut third = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect (backlog)");
    third
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("send a request");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(std::time::Duration::from_millis(700), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served past the limit of 2: {early:?}"
    );
    drop(first);
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a slot was free")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn metrics_are_for_the_root_user_or_the_metrics_listener_and_kept_as_writes_happen() {
    let srv = Server::with_config("[gc]\ngrace_period_secs = 0\n");
    let anonymous = srv.unsigned("GET", "/_fastgate/metrics", &[], b"").await;
    assert_eq!(anonymous.status, 403, "{}", anonymous.text());
    let root = srv.signed("GET", "/_fastgate/metrics", &[], b"").await;
    assert_eq!(root.status, 200, "{}", root.text());
    assert!(root.text().contains("fastgate_chunks "), "{}", root.text());

    assert!(srv.metrics_addr().ip().is_loopback());
    let c = srv.client();
    create_bucket(&c, "gauges").await;
    put(&c, "gauges", "small", b"twelve bytes").await;
    put(&c, "gauges", "large", &random_data(1 << 20)).await;
    assert_eq!(srv.metric("fastgate_chunks").await, 2);
    assert_eq!(srv.metric("fastgate_chunk_bytes").await, 12 + (1 << 20));
    c.delete_object()
        .bucket("gauges")
        .key("large")
        .send()
        .await
        .expect("delete");
    assert_eq!(srv.metric("fastgate_unreferenced_chunks").await, 1);
    assert_eq!(srv.metric("fastgate_unreferenced_bytes").await, 1 << 20);
    let gc = srv.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(gc.status, 200, "{}", gc.text());
    assert_eq!(srv.metric("fastgate_chunks").await, 1);
    assert_eq!(srv.metric("fastgate_unreferenced_chunks").await, 0);

    // After a restart the totals are counted once, then kept again.
    let mut srv = srv;
    srv.restart();
    assert_eq!(srv.metric("fastgate_chunks").await, 1);
    assert_eq!(srv.metric("fastgate_chunk_bytes").await, 12);
}

/// Sends a signed PUT of `len` bytes declaring `sha256` with `Expect: 100-continue`, and
/// no body. Returns the first answer's status and whether it was an instant-upload hit.
async fn probe_by_hash(
    srv: &Server,
    access_key: &str,
    secret_key: &str,
    path: &str,
    sha256: &str,
    len: usize,
) -> (u16, bool) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let url = format!("{}{path}", srv.endpoint());
    let mut headers = vec![("host".to_owned(), srv.addr.to_string())];
    let signed = sign_headers(
        access_key,
        secret_key,
        "PUT",
        &url,
        &headers,
        sha256,
        std::time::SystemTime::now(),
    );
    headers.extend(signed);
    headers.push(("content-length".into(), len.to_string()));
    headers.push(("expect".into(), "100-continue".into()));
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.expect("connect");
    sock.write_all(head.as_bytes()).await.expect("send head");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut buf))
            .await
            .expect("an answer")
            .expect("read");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.contains("x-fastgate-dedup: hit"))
}

#[tokio::test]
async fn a_recreated_bucket_does_not_inherit_the_old_buckets_content_by_hash() {
    let srv = Server::with_second_user("[instant_upload]\nscope = \"bucket\"\n");
    let (root, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    let secret = random_data(100_000);
    let sha = sha256_hex(&secret);
    create_bucket(&root, "reused-name").await;
    put(&root, "reused-name", "payroll", &secret).await;
    assert_eq!(
        probe_by_hash(&srv, ACCESS_KEY, SECRET_KEY, "/reused-name/again", &sha, secret.len()).await,
        (200, true),
        "the bucket's own content is an instant upload"
    );
    for key in ["payroll", "again"] {
        root.delete_object()
            .bucket("reused-name")
            .key(key)
            .send()
            .await
            .expect("delete");
    }
    root.delete_bucket()
        .bucket("reused-name")
        .send()
        .await
        .expect("delete bucket");

    // Another user takes the name while the chunk waits for garbage collection, and
    // knows only the hash: the server must ask for the bytes.
    create_bucket(&other, "reused-name").await;
    let (status, hit) = probe_by_hash(
        &srv,
        USER2_ACCESS_KEY,
        USER2_SECRET_KEY,
        "/reused-name/stolen",
        &sha,
        secret.len(),
    )
    .await;
    assert!(!hit, "the hash alone handed out the previous owner's content");
    assert_eq!(status, 100);
}
