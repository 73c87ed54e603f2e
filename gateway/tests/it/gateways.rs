//! Several gateways over one PostgreSQL database and one group of storage nodes, as
//! real processes: whatever one gateway writes, every other one serves at once, and
//! concurrent writes through all of them lose no reference count.

use crate::common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use common::pg::Postgres;
use common::*;
use sha2::Digest as _;

/// Two storage nodes (one group) and `n` gateways over one new database.
fn gateways(n: usize) -> (Vec<StorageNode>, Vec<Server>) {
    gateways_with(n, "")
}

/// [`gateways`], with `extra` configuration after the `[cluster]` keys.
fn gateways_with(n: usize, extra: &str) -> (Vec<StorageNode>, Vec<Server>) {
    let nodes = vec![StorageNode::start(), StorageNode::start()];
    let toml = cluster_toml(&[("g1", nodes.iter().map(StorageNode::url).collect())], extra);
    let url = Postgres::get().new_database();
    let gws = (0..n).map(|_| Server::on_database(&toml, &url)).collect();
    (nodes, gws)
}

/// The recount of every chunk's references (`GET /_fastgate/references`): chunk
/// records, references found, and the lines of chunks whose stored count is wrong.
async fn recount(gw: &Server) -> (u64, u64, Vec<String>) {
    let r = gw.signed("GET", "/_fastgate/references", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let mismatches = text
        .lines()
        .filter(|l| l.starts_with("mismatch "))
        .map(str::to_owned)
        .collect();
    (field("chunks "), field("references "), mismatches)
}

/// Metadata transactions the gateways ran again after a conflict, all together.
async fn retries(gws: &[Server]) -> u64 {
    let mut n = 0;
    for gw in gws {
        n += gw.metric("fastgate_meta_transaction_retries").await;
    }
    n
}

/// Garbage collection through `gw`: the chunks it deleted.
async fn collect(gw: &Server) -> u64 {
    let r = gw.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    metric_value(&r.text(), "chunks_deleted")
}

async fn list_keys(c: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn what_one_gateway_writes_every_other_serves() {
    let (_nodes, gws) = gateways(3);
    let (a, b, c) = (gws[0].client(), gws[1].client(), gws[2].client());

    // A bucket made on one gateway takes a PUT on a second and serves it on a third.
    create_bucket(&a, "xgw").await;
    let body = random_data(70_000);
    let etag = put(&b, "xgw", "k1", &body).await;
    assert_eq!(get(&c, "xgw", "k1").await, body);
    assert_eq!(list_keys(&c, "xgw").await, ["k1"]);
    let head = c.head_object().bucket("xgw").key("k1").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    // A multipart upload started on one, its parts sent to the others, completed on
    // the third.
    let up = a
        .create_multipart_upload()
        .bucket("xgw")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let p1 = random_data(5 << 20);
    let p2 = random_data(1000);
    let mut parts = Vec::new();
    for (n, (client, bytes)) in [(&b, &p1), (&c, &p2)].into_iter().enumerate() {
        let n = i32::try_from(n + 1).unwrap();
        let out = client
            .upload_part()
            .bucket("xgw")
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let listed = a
        .list_parts()
        .bucket("xgw")
        .key("mp")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    c.complete_multipart_upload()
        .bucket("xgw")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&a, "xgw", "mp").await, [p1, p2].concat());

    // An instant upload on one gateway of content first uploaded through another: a
    // probe (hash and size, no body) completes the write.
    let size = body.len().to_string();
    let b64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&body));
    let r = gws[1]
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            "/xgw/instant",
            &[
                ("x-amz-checksum-sha256", b64.as_str()),
                ("x-fastgate-probe", size.as_str()),
            ],
            &sha256_hex(&body),
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("hit"));
    assert_eq!(get(&c, "xgw", "instant").await, body);

    let (_, references, mismatches) = recount(&gws[2]).await;
    assert_eq!(references, 4, "k1, instant and the two parts of mp");
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

#[tokio::test]
async fn concurrent_writes_through_every_gateway_keep_reference_counts_exact() {
    let (_nodes, gws) = gateways(3);
    let clients: Vec<_> = gws.iter().map(Server::client).collect();
    create_bucket(&clients[0], "race").await;
    // Few keys and few contents, so that the gateways keep writing the same keys and
    // referencing the same chunks (the empty object among them).
    let bodies: Vec<Vec<u8>> = vec![Vec::new(), data(1000, 1), data(1000, 2), data(70_000, 3)];
    let keys = ["k0", "k1", "k2"];
    let mut tasks = Vec::new();
    for (g, c) in clients.iter().enumerate() {
        let (c, bodies) = (c.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..24usize {
                let key = keys[(i * 7 + g) % keys.len()];
                let other = keys[(i + g + 1) % keys.len()];
                match (i + g) % 4 {
                    0 | 1 => {
                        let body = &bodies[(i + g) % bodies.len()];
                        put(&c, "race", key, body).await;
                    }
                    2 => {
                        // The source may have been deleted by another gateway meanwhile.
                        let r = c
                            .copy_object()
                            .bucket("race")
                            .key(key)
                            .copy_source(format!("race/{other}"))
                            .send()
                            .await;
                        if let Err(e) = r {
                            assert_eq!(sdk_error(&e).0.as_deref(), Some("NoSuchKey"), "{e:?}");
                        }
                    }
                    _ => {
                        c.delete_object().bucket("race").key(key).send().await.unwrap();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let (_, references, mismatches) = recount(&gws[1]).await;
    assert!(mismatches.is_empty(), "lost reference updates: {mismatches:?}");
    let listed = list_keys(&clients[2], "race").await;
    assert_eq!(references, listed.len() as u64, "one chunk per object, no version kept");
    // Every object that is left reads whole on every gateway, as one of the bodies.
    for key in &listed {
        let first = get(&clients[0], "race", key).await;
        assert!(bodies.contains(&first), "{key}: {} bytes", first.len());
        for c in &clients[1..] {
            assert_eq!(get(c, "race", key).await, first);
        }
    }
}

#[tokio::test]
async fn the_same_content_through_three_gateways_at_once_does_not_serialize_them_on_its_chunk() {
    let (_nodes, gws) = gateways_with(3, "[gc]\ngrace_period_secs = 0");
    let clients: Vec<_> = gws.iter().map(Server::client).collect();
    create_bucket(&clients[0], "hot").await;
    // The empty object is a chunk like any other: every empty PUT references it.
    let bodies: Vec<Vec<u8>> = vec![Vec::new(), data(1000, 7)];
    // Both chunks and every key are stored before the race: creating a chunk's record
    // is the one write that gateways storing new content at once must agree on, and
    // a new key is an entry in the index pages that PostgreSQL's serializable checks
    // lock (see `pg_engine`). What is left to conflict on is the chunks' counts.
    const WORKERS: usize = 4;
    const EACH: usize = 16;
    let keys: Vec<String> = (0..gws.len())
        .flat_map(|g| (0..WORKERS).map(move |w| format!("g{g}/w{w}")))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        put(&clients[0], "hot", key, &bodies[i % 2]).await;
    }
    let before = retries(&gws).await;
    let mut tasks = Vec::new();
    for (g, c) in clients.iter().enumerate() {
        for w in 0..WORKERS {
            let (c, bodies) = (c.clone(), bodies.clone());
            tasks.push(tokio::spawn(async move {
                // Each PUT drops a reference to one chunk and takes one to the other.
                for i in 0..EACH {
                    put(&c, "hot", &format!("g{g}/w{w}"), &bodies[(i + w + 1) % 2]).await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let puts = keys.len() * EACH;
    let retried = retries(&gws).await - before;
    eprintln!(
        "{puts} PUTs of two contents through {} gateways: {retried} retried transactions",
        gws.len()
    );
    // Kept in one row per chunk, the count made 20 to 82 of these 192 transactions run
    // again (measured), each time two gateways wrote it at once. A row per gateway
    // leaves the conflicts of PostgreSQL's serializable checks on the pages that so
    // small a table shares (2 to 9 measured).
    assert!(retried < puts as u64 / 12, "{retried} retried transactions");

    let (chunks, references, mismatches) = recount(&gws[2]).await;
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!((chunks, references), (2, keys.len() as u64));
    // Nothing referenced is collected, whichever gateway collects.
    assert_eq!(collect(&gws[1]).await, 0);
    let (chunks, _, mismatches) = recount(&gws[0]).await;
    assert_eq!(chunks, 2);
    assert!(mismatches.is_empty(), "{mismatches:?}");

    // Every object deleted, half through each of two gateways at once: both chunks are
    // then unreferenced, and collected.
    let listed = list_keys(&clients[0], "hot").await;
    assert_eq!(listed.len(), keys.len());
    let mut tasks = Vec::new();
    for (g, c) in clients.iter().enumerate().take(2) {
        let (c, keys) = (c.clone(), listed.clone());
        tasks.push(tokio::spawn(async move {
            for key in keys.iter().skip(g).step_by(2) {
                c.delete_object().bucket("hot").key(key).send().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, references, mismatches) = recount(&gws[1]).await;
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(references, 0);
    assert_eq!(collect(&gws[2]).await, 2);
    let (chunks, _, _) = recount(&gws[0]).await;
    assert_eq!(chunks, 0);
}

#[tokio::test]
async fn the_same_new_content_through_two_gateways_at_once_is_stored_once() {
    let (nodes, gws) = gateways(2);
    let (a, b) = (gws[0].client(), gws[1].client());
    create_bucket(&a, "same").await;
    let body = random_data(300_000);
    let (ea, eb) = tokio::join!(put(&a, "same", "x", &body), put(&b, "same", "y", &body));
    assert_eq!(ea, eb);
    assert_eq!(get(&b, "same", "x").await, body);
    assert_eq!(get(&a, "same", "y").await, body);

    let (chunks, references, mismatches) = recount(&gws[0]).await;
    assert_eq!((chunks, references), (1, 2), "one chunk, referenced by both objects");
    assert!(mismatches.is_empty(), "{mismatches:?}");
    for n in &nodes {
        assert_eq!(n.chunks(), [sha256_hex(&body)]);
    }
}

#[tokio::test]
async fn a_single_nodes_metadata_moves_into_postgres_with_convert_meta() {
    let mut srv = Server::with_meta_engine("sled");
    let c = srv.client();
    create_bucket(&c, "conv").await;
    let body = random_data(50_000);
    put(&c, "conv", "a", &body).await;
    put(&c, "conv", "empty", b"").await;
    srv.kill9();

    let url = Postgres::get().new_database();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["convert-meta", "--to", "postgres", "--meta-url", &url, "--data-dir"])
        .arg(srv.data_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Into an empty database only.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["convert-meta", "--to", "postgres", "--meta-url", &url, "--data-dir"])
        .arg(srv.data_dir())
        .output()
        .unwrap();
    assert!(!again.status.success());

    srv.start_again_on_database(&url);
    let c = srv.client();
    assert_eq!(get(&c, "conv", "a").await, body);
    assert_eq!(get(&c, "conv", "empty").await, b"");
    let (_, references, mismatches) = recount(&srv).await;
    assert_eq!(references, 2);
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

#[tokio::test]
async fn a_gateway_killed_under_load_leaves_no_partial_metadata_and_no_lock_behind() {
    let (_nodes, mut gws) = gateways(2);
    let (a, b) = (gws[0].client(), gws[1].client());
    create_bucket(&b, "kill").await;
    // One writer overwriting 10 keys in turn: each key's last acknowledged body is
    // known, and at most one write (the one the kill cut) is in doubt.
    let writer = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 0..400u64 {
            let r = a
                .put_object()
                .bucket("kill")
                .key(format!("k{}", i % 10))
                .body(data(3000, i).into())
                .send()
                .await;
            if r.is_err() {
                return (acked, Some(i));
            }
            acked.push(i);
        }
        (acked, None)
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    gws[0].kill9();
    let (acked, cut) = writer.await.unwrap();
    assert!(!acked.is_empty(), "some writes went through before the kill");

    for key in 0..10u64 {
        let last = acked.iter().rev().find(|i| *i % 10 == key);
        let in_doubt = cut.filter(|i| i % 10 == key);
        let got = match b.get_object().bucket("kill").key(format!("k{key}")).send().await {
            Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(_) => None,
        };
        let allowed: Vec<Option<Vec<u8>>> = [last.copied(), in_doubt]
            .into_iter()
            .map(|i| i.map(|i| data(3000, i)))
            .collect();
        assert!(
            allowed.contains(&got) || (last.is_none() && in_doubt.is_none() && got.is_none()),
            "k{key}: last acknowledged {last:?}, in doubt {in_doubt:?}"
        );
    }
    let (_, _, mismatches) = recount(&gws[1]).await;
    assert!(mismatches.is_empty(), "{mismatches:?}");
    // The killed gateway's session, and with it any advisory lock it held, is gone:
    // the survivor still writes and collects garbage.
    put(&b, "kill", "after", b"still here").await;
    let r = gws[1].signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
}
