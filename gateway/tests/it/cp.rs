//! `fastgate cp` against a real server: round trips small and multipart, an interrupted
//! upload resumed from its state file and `ListParts`, a partial download resumed with
//! `Range` and verified, recursive copies both ways, and credentials from profile files;
//! and against s3s-fs, a server without the instant-upload probe, as a plain resumable
//! multipart uploader.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const B: &str = "cpbucket";
const MIB: usize = 1024 * 1024;

/// A place for one test's local files, with a HOME of its own so that neither the
/// developer's ~/.aws nor ~/.cache is read or written.
struct Local {
    dir: tempfile::TempDir,
}

impl Local {
    fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("fastgate-cp-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    fn state_dir(&self) -> PathBuf {
        self.path("home/.cache/fastgate/cp")
    }

    /// `fastgate cp ARGS` with only the variables given (plus HOME and PATH).
    fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastgate"));
        cmd.arg("cp").args(args).env_clear().env("HOME", self.path("home"));
        if let Some(p) = std::env::var_os("PATH") {
            cmd.env("PATH", p);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run fastgate cp")
    }

    /// `fastgate cp ARGS` as the root user of `srv`, from the environment.
    fn run(&self, srv: &Server, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        self.run_at(&srv.endpoint(), args, extra_env)
    }

    /// `fastgate cp ARGS` against any S3 endpoint, with the root user's keys.
    fn run_at(&self, endpoint: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_ENDPOINT_URL", endpoint),
        ];
        env.extend_from_slice(extra_env);
        self.run_with_env(args, &env)
    }
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "cp failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `--json` summary of a successful run.
fn summary(out: &Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

async fn setup() -> Server {
    let srv = Server::start();
    create_bucket(&srv.client(), B).await;
    srv
}

#[tokio::test]
async fn small_and_multipart_files_round_trip_byte_exact() {
    let srv = setup().await;
    let local = Local::new();
    let small = random_data(100 * 1024);
    let big = random_data(20 * MIB + 12345);
    let small_path = local.write("small.bin", &small);
    let big_path = local.write("big.bin", &big);

    let up = summary(&local.run(&srv, &["--json", s(&small_path), "s3://cpbucket/dir/"], &[]));
    assert_eq!(
        (up["files"].as_u64(), up["bytes_sent"].as_u64()),
        (Some(1), Some(small.len() as u64))
    );
    let up = summary(&local.run(
        &srv,
        &["--json", "--part-size", "5MiB", s(&big_path), "s3://cpbucket/dir/big"],
        &[],
    ));
    assert_eq!(up["bytes_sent"].as_u64(), Some(big.len() as u64));
    assert_eq!(up["parts_resumed"].as_u64(), Some(0));
    // The small one went as one PUT with its SHA-256; the big one as 5 parts.
    let head = srv
        .client()
        .head_object()
        .bucket(B)
        .key("dir/small.bin")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    assert!(head.checksum_sha256().is_some(), "{head:?}");
    let parts = srv
        .client()
        .get_object_attributes()
        .bucket(B)
        .key("dir/big")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectParts)
        .send()
        .await
        .expect("attributes");
    assert_eq!(parts.object_parts().and_then(|p| p.total_parts_count()), Some(5));
    assert_eq!(get(&srv.client(), B, "dir/big").await, big);
    // Nothing is left to resume.
    assert!(files_under(&local.state_dir()).is_empty());

    let down = summary(&local.run(
        &srv,
        &["--json", "s3://cpbucket/dir/small.bin", s(&local.path("out/"))],
        &[],
    ));
    assert_eq!(down["bytes_sent"].as_u64(), Some(small.len() as u64));
    assert_eq!(read_file(&local.path("out/small.bin")), small);
    // Not on a terminal: one plain line per file, no bar redrawn over itself.
    let out = local.run(&srv, &["s3://cpbucket/dir/small.bin", s(&local.path("plain/"))], &[]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("download: s3://cpbucket/dir/small.bin -> ")
            && stderr.contains(&format!("({} bytes transferred)", small.len())),
        "{stderr}"
    );
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "{stderr:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let out = local.run(
        &srv,
        &["--quiet", "s3://cpbucket/dir/big", s(&local.path("big.copy"))],
        &[],
    );
    assert_ok(&out);
    assert!(
        out.stderr.is_empty() && out.stdout.is_empty(),
        "--quiet printed {out:?}"
    );
    assert_eq!(read_file(&local.path("big.copy")), big);
    assert!(!local.path("big.copy.fastgate-part").exists());
}

#[tokio::test]
async fn a_file_uploaded_twice_under_two_keys_sends_its_bytes_once() {
    let srv = setup().await;
    let local = Local::new();
    let small = random_data(100 * 1024);
    let big = random_data(12 * MIB);
    let small_path = local.write("small.bin", &small);
    let big_path = local.write("big.bin", &big);
    let send = |src: &Path, dst: &str| summary(&local.run(&srv, &["--json", "--part-size", "5MiB", s(src), dst], &[]));

    let before = srv.metric("fastgate_request_body_bytes_total").await;
    send(&small_path, "s3://cpbucket/one/small.bin");
    send(&big_path, "s3://cpbucket/one/big.bin");
    let first = srv.metric("fastgate_request_body_bytes_total").await - before;
    let sent = (small.len() + big.len()) as u64;
    assert!((sent..sent + 64 * 1024).contains(&first), "received {first} for {sent}");

    // The same files under other keys: every probe is a hit, only XML goes over the wire.
    let again_small = send(&small_path, "s3://cpbucket/two/small.bin");
    let again_big = send(&big_path, "s3://cpbucket/two/big.bin");
    let second = srv.metric("fastgate_request_body_bytes_total").await - before - first;
    assert!(second < 64 * 1024, "received {second} bytes for content already stored");
    assert_eq!(again_small["bytes_sent"].as_u64(), Some(0), "{again_small}");
    assert_eq!(
        again_small["bytes_skipped"].as_u64(),
        Some(small.len() as u64),
        "{again_small}"
    );
    assert_eq!(again_big["bytes_sent"].as_u64(), Some(0), "{again_big}");
    assert_eq!(get(&srv.client(), B, "two/small.bin").await, small);
    assert_eq!(get(&srv.client(), B, "two/big.bin").await, big);
    assert_eq!(
        srv.metric("fastgate_dedup_hits_total").await,
        4,
        "one small object, three parts"
    );
}

#[tokio::test]
async fn an_interrupted_upload_resumes_sending_only_the_parts_the_server_lacks() {
    let srv = setup().await;
    let local = Local::new();
    let part = 5 * MIB;
    let body = random_data(4 * part - 1000);
    let file = local.write("resume.bin", &body);
    let args = [
        "--json",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        s(&file),
        "s3://cpbucket/resume.bin",
    ];

    // Stopped after two parts, as a killed cp would be: no object, a state file.
    let stopped = local.run(&srv, &args, &[("FASTGATE_CP_STOP_AFTER_PARTS", "2")]);
    assert!(!stopped.status.success(), "{stopped:?}");
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("stopped after 2 parts"));
    assert_eq!(files_under(&local.state_dir()).len(), 1);
    assert_code(
        srv.client().head_object().bucket(B).key("resume.bin").send().await,
        "NotFound",
    );

    let received_before = srv.metric("fastgate_request_body_bytes_total").await;
    let done = summary(&local.run(&srv, &args, &[]));
    let received = srv.metric("fastgate_request_body_bytes_total").await - received_before;
    assert_eq!(done["parts_resumed"].as_u64(), Some(2), "{done}");
    assert_eq!(done["bytes_skipped"].as_u64(), Some(2 * part as u64), "{done}");
    assert_eq!(
        done["bytes_sent"].as_u64(),
        Some((body.len() - 2 * part) as u64),
        "{done}"
    );
    // The server received the two missing parts and a completion, nothing more.
    let missing = (body.len() - 2 * part) as u64;
    assert!(
        (missing..missing + 64 * 1024).contains(&received),
        "received {received} bytes for {missing} missing"
    );
    assert_eq!(get(&srv.client(), B, "resume.bin").await, body);
    assert!(files_under(&local.state_dir()).is_empty());
}

#[tokio::test]
async fn a_partial_download_resumes_with_a_range_and_is_verified() {
    let srv = setup().await;
    let local = Local::new();
    let body = random_data(3 * MIB);
    let etag = put(&srv.client(), B, "obj", &body).await;
    let dest = local.path("obj");
    let partial = local.path("obj.fastgate-part");
    let partial_etag = local.path("obj.fastgate-part.etag");

    // The first MiB is there from an earlier run of the same object version.
    std::fs::write(&partial, &body[..MIB]).expect("partial");
    std::fs::write(&partial_etag, &etag).expect("etag");
    let done = summary(&local.run(&srv, &["--json", "s3://cpbucket/obj", s(&dest)], &[]));
    assert_eq!(done["bytes_skipped"].as_u64(), Some(MIB as u64), "{done}");
    assert_eq!(done["bytes_sent"].as_u64(), Some(2 * MIB as u64), "{done}");
    assert_eq!(read_file(&dest), body);
    assert!(!partial.exists() && !partial_etag.exists());

    // A partial file of another version (another ETag) is not resumed.
    std::fs::write(&partial, &body[..MIB]).expect("partial");
    std::fs::write(&partial_etag, "\"0123\"").expect("etag");
    let done = summary(&local.run(&srv, &["--json", "s3://cpbucket/obj", s(&dest)], &[]));
    assert_eq!(done["bytes_skipped"].as_u64(), Some(0), "{done}");
    assert_eq!(read_file(&dest), body);

    // Bytes that do not match the object fail the check and are thrown away.
    std::fs::write(&partial, vec![0u8; MIB]).expect("partial");
    std::fs::write(&partial_etag, &etag).expect("etag");
    let out = local.run(&srv, &["s3://cpbucket/obj", s(&dest)], &[]);
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mismatch"), "{out:?}");
    assert!(!partial.exists());
    assert_ok(&local.run(&srv, &["s3://cpbucket/obj", s(&dest)], &[]));
    assert_eq!(read_file(&dest), body);
}

#[tokio::test]
async fn recursive_copies_a_tree_to_a_prefix_and_back() {
    let srv = setup().await;
    let local = Local::new();
    let files = [
        ("tree/a.txt", random_data(10)),
        ("tree/sub/b.bin", random_data(300 * 1024)),
        ("tree/sub/deeper/c", random_data(6 * MIB)),
        ("tree/empty", Vec::new()),
    ];
    for (rel, bytes) in &files {
        local.write(rel, bytes);
    }
    let up = summary(&local.run(
        &srv,
        &[
            "--json",
            "--recursive",
            "--part-size",
            "5MiB",
            s(&local.path("tree")),
            "s3://cpbucket/up",
        ],
        &[],
    ));
    assert_eq!(up["files"].as_u64(), Some(4));
    let listed = srv.client().list_objects_v2().bucket(B).send().await.expect("list");
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["up/a.txt", "up/empty", "up/sub/b.bin", "up/sub/deeper/c"]);
    // An object whose key would climb out of the destination is skipped.
    put(&srv.client(), B, "up/../escape", b"x").await;

    let down = summary(&local.run(
        &srv,
        &["--json", "-r", "s3://cpbucket/up/", s(&local.path("back"))],
        &[],
    ));
    assert_eq!(down["files"].as_u64(), Some(4));
    for (rel, bytes) in &files {
        let back = local.path(&rel.replacen("tree/", "back/", 1));
        assert_eq!(&read_file(&back), bytes, "{}", back.display());
    }
    assert!(!local.path("escape").exists());
}

#[tokio::test]
async fn credentials_region_and_endpoint_come_from_a_profile_in_the_shared_files() {
    let srv = setup().await;
    let local = Local::new();
    let creds = local.write(
        "aws/credentials",
        format!(
            "[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n\
             [fg]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        )
        .as_bytes(),
    );
    let config = local.write(
        "aws/config",
        format!("[profile fg]\nregion = {REGION}\nendpoint_url = {}\n", srv.endpoint()).as_bytes(),
    );
    let body = random_data(1000);
    let file = local.write("p.bin", &body);
    let files = [
        ("AWS_SHARED_CREDENTIALS_FILE", s(&creds)),
        ("AWS_CONFIG_FILE", s(&config)),
    ];

    let mut env = files.to_vec();
    env.push(("AWS_PROFILE", "fg"));
    assert_ok(&local.run_with_env(&[s(&file), "s3://cpbucket/p.bin"], &env));
    assert_eq!(get(&srv.client(), B, "p.bin").await, body);

    // --profile picks the same; the default profile's keys are refused by the server.
    assert_ok(&local.run_with_env(
        &["--profile", "fg", "s3://cpbucket/p.bin", s(&local.path("p.back"))],
        &files,
    ));
    assert_eq!(read_file(&local.path("p.back")), body);
    let endpoint = srv.endpoint();
    let refused = local.run_with_env(&["--endpoint-url", &endpoint, s(&file), "s3://cpbucket/p2.bin"], &files);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"), "{refused:?}");

    // With no variable naming them, the files are ~/.aws/credentials and ~/.aws/config.
    local.write(
        "home/.aws/credentials",
        format!("[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n").as_bytes(),
    );
    local.write(
        "home/.aws/config",
        format!("[default]\nregion = {REGION}\nendpoint_url = {endpoint}\n").as_bytes(),
    );
    assert_ok(&local.run_with_env(&[s(&file), "s3://cpbucket/home.bin"], &[]));
    assert_eq!(get(&srv.client(), B, "home.bin").await, body);
}

#[tokio::test]
async fn a_file_changed_since_the_interruption_is_uploaded_anew_and_the_old_upload_aborted() {
    let srv = setup().await;
    let local = Local::new();
    let part = 5 * MIB;
    let file = local.write("changing.bin", &random_data(3 * part));
    let args = [
        "--json",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        s(&file),
        "s3://cpbucket/changing",
    ];
    let stopped = local.run(&srv, &args, &[("FASTGATE_CP_STOP_AFTER_PARTS", "1")]);
    assert!(!stopped.status.success(), "{stopped:?}");

    let changed = random_data(3 * part + 1);
    std::fs::write(&file, &changed).expect("rewrite");
    let done = summary(&local.run(&srv, &args, &[]));
    assert_eq!(done["parts_resumed"].as_u64(), Some(0), "{done}");
    assert_eq!(done["bytes_sent"].as_u64(), Some(changed.len() as u64), "{done}");
    assert_eq!(get(&srv.client(), B, "changing").await, changed);
    let uploads = srv
        .client()
        .list_multipart_uploads()
        .bucket(B)
        .send()
        .await
        .expect("list uploads");
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
}

#[tokio::test]
async fn an_upload_aborted_on_the_server_since_is_started_anew() {
    let srv = setup().await;
    let local = Local::new();
    let body = random_data(10 * MIB + 1);
    let file = local.write("aborted.bin", &body);
    let args = [
        "--json",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        s(&file),
        "s3://cpbucket/aborted",
    ];
    let stopped = local.run(&srv, &args, &[("FASTGATE_CP_STOP_AFTER_PARTS", "1")]);
    assert!(!stopped.status.success(), "{stopped:?}");
    let uploads = srv
        .client()
        .list_multipart_uploads()
        .bucket(B)
        .send()
        .await
        .expect("list uploads");
    let id = uploads.uploads()[0].upload_id().expect("upload id").to_owned();
    srv.client()
        .abort_multipart_upload()
        .bucket(B)
        .key("aborted")
        .upload_id(id)
        .send()
        .await
        .expect("abort");

    let done = summary(&local.run(&srv, &args, &[]));
    assert_eq!(done["parts_resumed"].as_u64(), Some(0), "{done}");
    assert_eq!(get(&srv.client(), B, "aborted").await, body);
}

#[tokio::test]
async fn a_cp_killed_mid_upload_continues_the_same_upload_when_run_again() {
    let srv = setup().await;
    let local = Local::new();
    let body = random_data(60 * MIB);
    let file = local.write("killed.bin", &body);
    let endpoint = srv.endpoint();
    let args = [
        "--json",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        s(&file),
        "s3://cpbucket/killed",
    ];

    let mut child = Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("cp")
        .args(args)
        .env_clear()
        .env("HOME", local.path("home"))
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cp");
    // SIGKILL once the state file records a part the server took.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let acknowledged = files_under(&local.state_dir()).iter().any(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["parts"]["1"]["etag"].is_string())
        });
        if acknowledged {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no part acknowledged in time");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");

    let done = summary(&local.run(&srv, &args, &[]));
    let resumed = done["parts_resumed"].as_u64().expect("parts_resumed");
    assert!(resumed >= 1, "{done}");
    assert_eq!(
        done["bytes_sent"]
            .as_u64()
            .zip(done["bytes_skipped"].as_u64())
            .map(|(a, b)| a + b),
        Some(body.len() as u64),
        "{done}"
    );
    assert_eq!(done["bytes_skipped"].as_u64(), Some(resumed * 5 * MIB as u64), "{done}");
    assert_eq!(get(&srv.client(), B, "killed").await, body);
}

#[tokio::test]
async fn against_a_server_without_the_probe_cp_is_a_plain_uploader_that_resumes_from_list_parts() {
    let other = S3sFs::start();
    let c = other.client();
    create_bucket(&c, B).await;
    let endpoint = other.endpoint();
    let local = Local::new();
    let small = random_data(100 * 1024);
    let small_path = local.write("small.bin", &small);
    let up = summary(&local.run_at(&endpoint, &["--json", s(&small_path), "s3://cpbucket/small.bin"], &[]));
    assert_eq!(up["bytes_sent"].as_u64(), Some(small.len() as u64), "{up}");
    assert_eq!(get(&c, B, "small.bin").await, small);
    // The refused probe is no error and no news: --quiet prints nothing.
    let quiet = local.run_at(&endpoint, &["--quiet", s(&small_path), "s3://cpbucket/again.bin"], &[]);
    assert_ok(&quiet);
    assert!(quiet.stderr.is_empty() && quiet.stdout.is_empty(), "{quiet:?}");
    assert_eq!(get(&c, B, "again.bin").await, small);

    let part = 5 * MIB;
    let body = random_data(4 * part - 1000);
    let file = local.write("resume.bin", &body);
    let args = [
        "--json",
        "--part-size",
        "5MiB",
        "--concurrency",
        "1",
        s(&file),
        "s3://cpbucket/resume.bin",
    ];
    // Interrupted after two parts: no object, the upload's state kept.
    let stopped = local.run_at(&endpoint, &args, &[("FASTGATE_CP_STOP_AFTER_PARTS", "2")]);
    assert!(!stopped.status.success(), "{stopped:?}");
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("stopped after 2 parts"),
        "{stopped:?}"
    );
    assert_eq!(files_under(&local.state_dir()).len(), 1);
    assert!(c.head_object().bucket(B).key("resume.bin").send().await.is_err());

    // Run again: the two parts s3s-fs lists are kept, the other two sent.
    let done = summary(&local.run_at(&endpoint, &args, &[]));
    assert_eq!(done["parts_resumed"].as_u64(), Some(2), "{done}");
    assert_eq!(done["bytes_skipped"].as_u64(), Some(2 * part as u64), "{done}");
    assert_eq!(
        done["bytes_sent"].as_u64(),
        Some((body.len() - 2 * part) as u64),
        "{done}"
    );
    assert_eq!(get(&c, B, "resume.bin").await, body);
    assert!(files_under(&local.state_dir()).is_empty());

    // And back, verified.
    let back = local.path("back.bin");
    assert_ok(&local.run_at(&endpoint, &["s3://cpbucket/resume.bin", s(&back)], &[]));
    assert_eq!(read_file(&back), body);

    // An upload aborted since: s3s-fs lists it as empty (no NoSuchUpload) and would refuse
    // its parts; cp starts a new one.
    let file = local.write("aborted.bin", &body[..2 * part + 1]);
    let args = [&args[..5], &[s(&file), "s3://cpbucket/aborted.bin"]].concat();
    let stopped = local.run_at(&endpoint, &args, &[("FASTGATE_CP_STOP_AFTER_PARTS", "1")]);
    assert!(!stopped.status.success(), "{stopped:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&read_file(&files_under(&local.state_dir())[0])).expect("state");
    c.abort_multipart_upload()
        .bucket(B)
        .key("aborted.bin")
        .upload_id(state["upload_id"].as_str().expect("upload id"))
        .send()
        .await
        .expect("abort");
    let done = summary(&local.run_at(&endpoint, &args, &[]));
    assert_eq!(done["parts_resumed"].as_u64(), Some(0), "{done}");
    assert_eq!(get(&c, B, "aborted.bin").await, &body[..2 * part + 1]);
}

#[tokio::test]
async fn a_multipart_download_is_verified_against_its_composite_checksum() {
    let srv = setup().await;
    let local = Local::new();
    let body = random_data(12 * MIB + 777);
    let file = local.write("mp.bin", &body);
    assert_ok(&local.run(&srv, &["--part-size", "5MiB", s(&file), "s3://cpbucket/mp"], &[]));
    let head = srv
        .client()
        .head_object()
        .bucket(B)
        .key("mp")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("head");
    // A checksum of the three parts' SHA-256s, not of the object's bytes.
    assert!(head.checksum_sha256().is_some_and(|c| c.ends_with("-3")), "{head:?}");
    let etag = head.e_tag().expect("etag").to_owned();
    let dest = local.path("mp.out");
    let partial = local.path("mp.out.fastgate-part");
    let partial_etag = local.path("mp.out.fastgate-part.etag");

    // Resumed across a part boundary and checked part by part.
    std::fs::write(&partial, &body[..6 * MIB]).expect("partial");
    std::fs::write(&partial_etag, &etag).expect("etag");
    let done = summary(&local.run(&srv, &["--json", "s3://cpbucket/mp", s(&dest)], &[]));
    assert_eq!(done["bytes_skipped"].as_u64(), Some(6 * MIB as u64), "{done}");
    assert_eq!(read_file(&dest), body);

    // One wrong byte in the second part of the kept bytes fails the check: the size
    // alone would have let it through.
    let mut bad = body[..6 * MIB].to_vec();
    bad[5 * MIB + 1] ^= 0xff;
    std::fs::write(&partial, &bad).expect("partial");
    std::fs::write(&partial_etag, &etag).expect("etag");
    std::fs::remove_file(&dest).expect("remove the earlier copy");
    let out = local.run(&srv, &["s3://cpbucket/mp", s(&dest)], &[]);
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("mismatch"), "{out:?}");
    assert!(!partial.exists() && !dest.exists());
}
