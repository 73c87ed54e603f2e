//! Users and access keys kept in the metadata (`fastgate admin user|key`): created,
//! used, replaced and removed without a restart, their secrets never stored in the
//! clear, and refused at startup under other root credentials.

use std::process::{Command, Output};

use crate::common;
use common::*;

/// Runs `fastgate admin ARGS` against `s` with the root credentials.
fn admin(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("admin")
        .args(args)
        .args(["--endpoint", &s.endpoint()])
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .output()
        .expect("run fastgate admin")
}

#[track_caller]
fn admin_ok(s: &Server, args: &[&str]) -> String {
    let out = admin(s, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The access key and secret key `admin user add` / `admin key add` printed.
fn new_key(text: &str) -> (String, String) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    (field("access key"), field("secret key"))
}

#[tokio::test]
async fn a_stored_user_signs_owns_and_is_replaced_and_removed_without_a_restart() {
    let mut s = Server::start();
    let (ak1, sk1) = new_key(&admin_ok(&s, &["user", "add", "alice", "--email", "Alice@Example.com"]));
    let alice = s.client_as(&ak1, &sk1);
    create_bucket(&alice, "alice-bkt").await;
    put(&alice, "alice-bkt", "k", b"hello").await;
    // The bucket is alice's, not her key's: her second key reaches it as its owner.
    let (ak2, sk2) = new_key(&admin_ok(&s, &["key", "add", "alice"]));
    let alice2 = s.client_as(&ak2, &sk2);
    assert_eq!(get(&alice2, "alice-bkt", "k").await, b"hello");
    let acl = alice2.get_bucket_acl().bucket("alice-bkt").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("alice"));
    // Root's bucket is not hers.
    create_bucket(&s.client(), "root-bkt").await;
    assert_code(alice.list_objects_v2().bucket("root-bkt").send().await, "AccessDenied");
    // A policy may name her by user name; a name nobody has is refused.
    let policy = |who: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::000000000000:user/{who}"]}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::root-bkt"}}]}}"#
        )
    };
    assert_code(
        s.client()
            .put_bucket_policy()
            .bucket("root-bkt")
            .policy(policy("mallory"))
            .send()
            .await,
        "MalformedPolicy",
    );
    s.client()
        .put_bucket_policy()
        .bucket("root-bkt")
        .policy(policy("alice"))
        .send()
        .await
        .unwrap();
    alice.list_objects_v2().bucket("root-bkt").send().await.unwrap();
    // ... and an ACL grant by her email.
    s.client()
        .put_bucket_ownership_controls()
        .bucket("root-bkt")
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(aws_sdk_s3::types::ObjectOwnership::BucketOwnerPreferred)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s.client()
        .put_bucket_acl()
        .bucket("root-bkt")
        .grant_write("emailAddress=alice@example.com")
        .send()
        .await
        .unwrap();
    put(&alice, "root-bkt", "from-alice", b"x").await;

    let list = admin_ok(&s, &["user", "list"]);
    let line = list
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains(&ak1) && line.contains(&ak2) && line.contains("Alice@Example.com"),
        "{line}"
    );
    assert!(!list.contains(&sk1) && !list.contains(&sk2), "{list}");

    // A removed key stops at once; the other goes on.
    admin_ok(&s, &["key", "remove", &ak1]);
    assert_code(alice.list_buckets().send().await, "InvalidAccessKeyId");
    alice2.list_buckets().send().await.unwrap();

    // The secrets survive a restart, and are nowhere under the data directory in the clear.
    s.restart();
    let alice2 = s.client_as(&ak2, &sk2);
    assert_eq!(get(&alice2, "alice-bkt", "k").await, b"hello");
    for f in files_under(&s.data_dir()) {
        let bytes = read_file(&f);
        assert!(
            !bytes.windows(sk2.len()).any(|w| w == sk2.as_bytes()),
            "{} holds a secret key",
            f.display()
        );
    }

    // A user removed takes its keys with it; what it owned stays, under its name (a
    // user made again under that name owns it again).
    admin_ok(&s, &["user", "remove", "alice"]);
    assert_code(alice2.list_buckets().send().await, "InvalidAccessKeyId");
    let (ak3, sk3) = new_key(&admin_ok(&s, &["user", "add", "alice"]));
    assert_eq!(get(&s.client_as(&ak3, &sk3), "alice-bkt", "k").await, b"hello");
}

#[tokio::test]
async fn names_are_checked_and_a_user_cannot_be_added_twice() {
    let s = Server::start();
    admin_ok(&s, &["user", "add", "bob"]);
    let twice = admin(&s, &["user", "add", "bob"]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("EntityAlreadyExists"));
    for bad in ["", "has space", "slash/y", &"x".repeat(65), ACCESS_KEY] {
        let out = admin(&s, &["user", "add", bad]);
        assert!(!out.status.success(), "{bad:?} accepted");
    }
    let nobody = admin(&s, &["key", "add", "nobody"]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("NoSuchEntity"));
    // Only root manages users.
    let out = Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["admin", "user", "list", "--endpoint", &s.endpoint()])
        .env("FASTGATE_ACCESS_KEY", "nobody")
        .env("FASTGATE_SECRET_KEY", "nothing")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn stored_users_refuse_a_start_under_other_root_credentials() {
    let mut s = Server::start();
    admin_ok(&s, &["user", "add", "carol"]);
    s.kill9();
    let out = Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("serve")
        .env("FASTGATE_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_CONSOLE_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_DATA_DIR", s.data_dir())
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", "another-root-secret-key-0123456789abcdef")
        .env_remove("FASTGATE_CONFIG")
        .env_remove("FASTGATE_META_URL")
        .envs(s.meta_env())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("other root credentials"), "{err}");
}
