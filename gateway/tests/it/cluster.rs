//! Storage groups across machines: `fastgate storage` nodes and a gateway with a
//! `[cluster]`, as real processes on 127.0.0.1.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

/// Polls `admin`'s cluster report until `f` holds (the heartbeat is 200 ms).
async fn until_report(s: &Server, what: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.signed("GET", "/_fastgate/cluster", &[], b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        if f(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn states(report: &serde_json::Value) -> Vec<String> {
    report[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn writes_land_on_both_nodes_and_reads_fail_over_when_one_is_killed() {
    let mut a = StorageNode::start();
    let b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let small = data(4096, 1);
    let large = data(3 << 20, 2);
    put(&c, "clu", "small", &small).await;
    put(&c, "clu", "large", &large).await;

    // Both chunks on both nodes, named by their SHA-256, and nothing on the gateway.
    let mut want = vec![sha256_hex(&small), sha256_hex(&large)];
    want.sort();
    assert_eq!(a.chunks(), want);
    assert_eq!(b.chunks(), want);
    assert!(files_under(&gw.data_dir().join("M00").join("data")).is_empty());
    let report = until_report(&gw, "both nodes active with 2 chunks", |v| {
        states(v) == ["active", "active"] && v[0]["nodes"].as_array().unwrap().iter().all(|n| n["chunks"] == 2)
    })
    .await;
    assert_eq!(report[0]["min_copies"], 2);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["admin", "cluster", "--endpoint", &gw.endpoint()])
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table} {}", String::from_utf8_lossy(&out.stderr));
    for node in [&a, &b] {
        let line = table
            .lines()
            .find(|l| l.contains(&node.url()))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(line.starts_with("g1 ") && line.contains(" active "), "{line}");
        assert!(line.split_whitespace().nth(5) == Some("2"), "2 chunks: {line}");
    }

    a.kill9();
    // Reads rotate over the group's nodes: several of these start on the dead one.
    for _ in 0..4 {
        assert_eq!(get(&c, "clu", "small").await, small);
        assert_eq!(get(&c, "clu", "large").await, large);
    }
    let part = c
        .get_object()
        .bucket("clu")
        .key("large")
        .range("bytes=1000000-2000000")
        .send()
        .await
        .unwrap();
    let body = part.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &large[1_000_000..=2_000_000]);
    until_report(&gw, "the killed node down", |v| states(v) == ["down", "active"]).await;
    let metrics = gw.metrics().await;
    for (node, state) in [(&a, 0), (&b, 2)] {
        let line = format!(
            "fastgate_cluster_node_state{{group=\"g1\",node=\"{}\"}} {state}\n",
            node.url()
        );
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }

    // One live node is fewer than min_copies: no group can take a write.
    let started = Instant::now();
    let err = c
        .put_object()
        .bucket("clu")
        .key("refused")
        .body(data(1000, 3).into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&err), (Some("SlowDown".to_owned()), Some(503)));
    let retry_after = err.raw_response().and_then(|r| r.headers().get("retry-after"));
    assert_eq!(retry_after, Some("1"));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_get_no_node_of_the_group_can_serve_is_slow_down_before_any_byte() {
    let mut a = StorageNode::start();
    let mut b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let lost = data(100_000, 60);
    let kept = data(100_000, 61);
    put(&c, "clu", "lost", &lost).await;
    put(&c, "clu", "kept", &kept).await;

    // Every node answers, and each lacks the chunk: 503, not a 200 cut off at once.
    let name = sha256_hex(&lost);
    for node in [&a, &b] {
        for f in files_under(&node.data_dir().join("M00").join("data")) {
            if f.file_name().and_then(|n| n.to_str()) == Some(name.as_str()) {
                std::fs::remove_file(f).unwrap();
            }
        }
    }
    let err = c.get_object().bucket("clu").key("lost").send().await.unwrap_err();
    assert_eq!(sdk_error(&err), (Some("SlowDown".to_owned()), Some(503)), "{err:?}");

    // Every node down, before and after the heartbeat notices.
    a.kill9();
    b.kill9();
    for _ in 0..2 {
        let started = Instant::now();
        let err = c.get_object().bucket("clu").key("kept").send().await.unwrap_err();
        assert_eq!(sdk_error(&err), (Some("SlowDown".to_owned()), Some(503)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_get_whose_nodes_all_fail_mid_body_ends_in_an_error_not_a_short_body() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

    let mut a = StorageNode::start();
    let mut b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    // Two chunks; the first larger than the socket buffers between node, gateway and
    // client can hold, so that the read is still on it (or not yet on the second)
    // when the nodes die.
    let (p1, p2) = (data(24 << 20, 62), data(1000, 63));
    let id = c
        .create_multipart_upload()
        .bucket("clu")
        .key("mp")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket("clu")
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("clu")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();

    // The head is sent (its first piece was read); then every node of the group dies.
    let answer = c.get_object().bucket("clu").key("mp").send().await.unwrap();
    assert_eq!(answer.content_length(), Some((p1.len() + p2.len()) as i64));
    a.kill9();
    b.kill9();
    let body = answer.body.collect().await;
    assert!(
        body.is_err(),
        "a body of {} bytes ended cleanly",
        body.map(|b| b.into_bytes().len()).unwrap_or(0)
    );
}

#[tokio::test]
async fn with_every_node_down_a_put_gets_slow_down_quickly() {
    let mut a = StorageNode::start();
    let mut b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    a.kill9();
    b.kill9();
    // Before and after the heartbeat notices: a hang never.
    for _ in 0..2 {
        let started = Instant::now();
        let err = c
            .put_object()
            .bucket("clu")
            .key("k")
            .body(data(100_000, 4).into())
            .send()
            .await
            .unwrap_err();
        assert_eq!(sdk_error(&err), (Some("SlowDown".to_owned()), Some(503)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_put_is_answered_at_min_copies_while_a_slow_node_still_gets_its_copy() {
    let a = StorageNode::start();
    let b = StorageNode::start();
    // A timeout far above the answers expected: a write that waited for the slow node
    // would take all of it.
    let toml = cluster_toml(&[("g1", vec![a.url(), b.url()])], "min_copies = 1")
        .replace("timeout_ms = 2000", "timeout_ms = 10000");
    let gw = Server::with_config(&toml);
    let c = gw.client();
    create_bucket(&c, "clu").await;
    until_report(&gw, "both nodes active", |v| states(v) == ["active", "active"]).await;

    b.pause();
    let bodies: Vec<Vec<u8>> = (0..4u64).map(|i| data(4096, 70 + i)).collect();
    for (i, body) in bodies.iter().enumerate() {
        let started = Instant::now();
        put(&c, "clu", &format!("k{i}"), body).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "put {i} waited for the slow node: {:?}",
            started.elapsed()
        );
    }
    let mut want: Vec<String> = bodies.iter().map(|b| sha256_hex(b)).collect();
    want.sort();
    assert_eq!(a.chunks(), want);

    // The slow node's copies were still streaming: it has them once it moves again.
    b.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    while b.chunks() != want {
        assert!(Instant::now() < deadline, "the slow node's copies: {:?}", b.chunks());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(&get(&c, "clu", &format!("k{i}")).await, body);
    }
}

#[tokio::test]
async fn a_group_short_of_live_nodes_leaves_writes_to_the_other_group() {
    let mut a = StorageNode::start();
    let b = StorageNode::start();
    let x = StorageNode::start();
    let y = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(
        &[("g1", vec![a.url(), b.url()]), ("g2", vec![x.url(), y.url()])],
        "",
    ));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    a.kill9();
    until_report(&gw, "the killed node down", |v| states(v)[0] == "down").await;
    let mut bodies = Vec::new();
    for i in 0..6u64 {
        let body = data(5000, 10 + i);
        put(&c, "clu", &format!("k{i}"), &body).await;
        bodies.push(sha256_hex(&body));
    }
    bodies.sort();
    assert_eq!(x.chunks(), bodies);
    assert_eq!(y.chunks(), bodies);
    assert!(b.chunks().is_empty());
}

#[tokio::test]
async fn a_storage_node_refuses_requests_without_the_cluster_secret() {
    let node = StorageNode::start();
    let body = data(1000, 5);
    for (method, path) in [("PUT", "/v1/chunks"), ("GET", "/v1/status"), ("GET", "/v1/chunks")] {
        let url = format!("{}{path}", node.url());
        let r = raw_request(method, &url, &[], body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        // Signed with another secret.
        let headers: Vec<(String, String)> = fastgate_cluster::auth::sign(
            "not-the-cluster-secret-at-all",
            method,
            path,
            "",
            fastgate_cluster::auth::STREAMING_CHUNK,
        )
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let r = raw_request(method, &url, &headers, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path} with another secret: {}", r.text());
    }
    assert!(node.chunks().is_empty());
    assert!(files_under(&node.data_dir().join("M00").join("tmp")).is_empty());
}

#[tokio::test]
async fn a_node_that_comes_back_or_joins_is_repaired_and_then_serves_alone() {
    let mut a = StorageNode::start();
    let mut b = StorageNode::start();
    let groups = |nodes: Vec<String>| cluster_toml(&[("g1", nodes)], "min_copies = 1");
    let mut gw = Server::with_config(&groups(vec![a.url(), b.url()]));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let bodies: Vec<Vec<u8>> = (0..4u64).map(|i| data(2000 + 300_000 * i as usize, 20 + i)).collect();
    put(&c, "clu", "k0", &bodies[0]).await;

    // Written while `a` is down: with min_copies = 1, on `b` alone.
    a.kill9();
    until_report(&gw, "a down", |v| states(v) == ["down", "active"]).await;
    put(&c, "clu", "k1", &bodies[1]).await;
    put(&c, "clu", "k2", &bodies[2]).await;
    assert_eq!(a.chunks().len(), 1);
    // Recorded with each write: two copies owed to `a`, none to `b`.
    let r = gw.signed("GET", "/_fastgate/cluster", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (&v[0]["nodes"][0]["owed_chunks"], &v[0]["nodes"][1]["owed_chunks"]),
        (&2.into(), &0.into()),
        "{v}"
    );

    a.restart();
    let report = until_report(&gw, "a repaired and its debts settled", |v| {
        states(v) == ["active", "active"] && v[0]["nodes"][0]["owed_chunks"] == 0
    })
    .await;
    assert_eq!(report[0]["nodes"][0]["lacking_chunks"], 0, "{report}");
    assert_eq!(a.chunks(), b.chunks());
    assert_eq!(a.chunks().len(), 3);

    // `a` alone serves everything.
    b.kill9();
    for (i, body) in bodies.iter().enumerate().take(3) {
        assert_eq!(&get(&c, "clu", &format!("k{i}")).await, body);
    }

    // A new, empty node added to the group is filled from the others at the next start.
    b.restart();
    let mut fresh = StorageNode::start();
    std::fs::write(
        gw.root.path().join("fastgate.toml"),
        groups(vec![a.url(), b.url(), fresh.url()]),
    )
    .unwrap();
    gw.restart();
    let c = gw.client();
    until_report(&gw, "the new node repaired", |v| {
        states(v) == ["active", "active", "active"]
    })
    .await;
    assert_eq!(fresh.chunks(), a.chunks());
    put(&c, "clu", "k3", &bodies[3]).await;
    // The PUT was answered at min_copies (2 of 3): the third copy may land a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fresh.chunks().len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fresh.chunks().len(), 4);
    a.kill9();
    b.kill9();
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(&get(&c, "clu", &format!("k{i}")).await, body);
    }
    fresh.kill9();
}

#[tokio::test]
async fn a_node_killed_mid_put_fails_the_put_and_every_acknowledged_object_outlives_either_node() {
    let mut a = StorageNode::start();
    let mut b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let acked: Vec<Vec<u8>> = (0..3u64).map(|i| data(1000 + 400_000 * i as usize, 50 + i)).collect();
    for (i, body) in acked.iter().enumerate() {
        put(&c, "clu", &format!("acked{i}"), body).await;
    }
    let body = data(48 << 20, 7);
    let client = c.clone();
    let put = tokio::spawn(async move {
        client
            .put_object()
            .bucket("clu")
            .key("big")
            .body(body.into())
            .send()
            .await
    });
    // Killed once its copy is under way.
    let tmp = a.data_dir().join("M00").join("tmp");
    let deadline = Instant::now() + Duration::from_secs(20);
    while files_under(&tmp).is_empty() {
        assert!(Instant::now() < deadline, "the upload never reached the node");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    a.kill9();
    let answer = put.await.unwrap();
    assert!(answer.is_err(), "acknowledged with one copy of two: {answer:?}");
    let head = c.head_object().bucket("clu").key("big").send().await;
    assert_eq!(head.unwrap_err().raw_response().map(|r| r.status().as_u16()), Some(404));
    assert_eq!(b.chunks().len(), 3, "nothing stored for a failed put: {:?}", b.chunks());

    // Reads go to `b`; `a` comes back and is repaired; then `b` goes, and `a` alone
    // still has every acknowledged object.
    for (i, body) in acked.iter().enumerate() {
        assert_eq!(&get(&c, "clu", &format!("acked{i}")).await, body);
    }
    a.restart();
    until_report(&gw, "a back and repaired", |v| states(v) == ["active", "active"]).await;
    b.kill9();
    for (i, body) in acked.iter().enumerate() {
        assert_eq!(&get(&c, "clu", &format!("acked{i}")).await, body);
    }
}

#[tokio::test]
async fn garbage_collection_deletes_on_every_node_and_a_node_down_then_does_not_bring_it_back() {
    let a = StorageNode::start();
    let mut b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(
        &[("g1", vec![a.url(), b.url()])],
        "min_copies = 1\n[gc]\ngrace_period_secs = 0",
    ));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let (gone, kept) = (data(10_000, 30), data(10_000, 31));
    put(&c, "clu", "gone", &gone).await;
    put(&c, "clu", "kept", &kept).await;
    until_report(&gw, "both nodes active", |v| states(v) == ["active", "active"]).await;
    c.delete_object().bucket("clu").key("gone").send().await.unwrap();

    // `b` is down while the chunk is collected: only `a` deletes it. A chunk written
    // meanwhile, and deleted too, is owed to `b` until it is collected.
    b.kill9();
    until_report(&gw, "b down", |v| states(v) == ["active", "down"]).await;
    put(&c, "clu", "brief", &data(3000, 32)).await;
    c.delete_object().bucket("clu").key("brief").send().await.unwrap();
    let r = gw.signed("GET", "/_fastgate/cluster", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v[0]["nodes"][1]["owed_chunks"], 1, "{v}");
    let r = gw.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("chunks_deleted 2"), "{}", r.text());
    assert_eq!(a.chunks(), vec![sha256_hex(&kept)]);
    assert_eq!(b.chunks().len(), 2);
    let r = gw.signed("GET", "/_fastgate/cluster", &[], b"").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v[0]["nodes"][1]["owed_chunks"], 0,
        "nothing owed of a collected chunk: {v}"
    );

    // Back, `b` is repaired from `a`, which does not have the chunk: it is not copied
    // back to `a`, and the next pass removes `b`'s stale copy.
    b.restart();
    until_report(&gw, "b repaired", |v| states(v) == ["active", "active"]).await;
    assert_eq!(a.chunks(), vec![sha256_hex(&kept)]);
    let r = gw.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert!(r.text().contains("orphans_deleted 1"), "{}", r.text());
    assert_eq!(a.chunks(), vec![sha256_hex(&kept)]);
    assert_eq!(b.chunks(), vec![sha256_hex(&kept)]);
    assert_eq!(get(&c, "clu", "kept").await, kept);
}

#[tokio::test]
async fn multipart_copy_ranges_instant_upload_and_conditions_work_through_a_gateway() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    use base64::Engine as _;
    use sha2::Digest as _;

    let a = StorageNode::start();
    let b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(
        &[("g1", vec![a.url(), b.url()])],
        "[gc]\ngrace_period_secs = 0",
    ));
    let c = gw.client();
    create_bucket(&c, "clu").await;

    let (p1, p2) = (data(5 << 20, 40), data(100_000, 41));
    let up = c
        .create_multipart_upload()
        .bucket("clu")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, &p1), (2, &p2)] {
        let r = c
            .upload_part()
            .bucket("clu")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("clu")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let whole = [p1.clone(), p2.clone()].concat();
    assert_eq!(get(&c, "clu", "mp").await, whole);
    let edge = 5u64 << 20;
    let r = c
        .get_object()
        .bucket("clu")
        .key("mp")
        .range(format!("bytes={}-{}", edge - 10, edge + 9))
        .send()
        .await
        .unwrap();
    let body = r.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &whole[(edge - 10) as usize..(edge + 10) as usize]);

    c.copy_object()
        .bucket("clu")
        .key("copy")
        .copy_source("clu/mp")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "clu", "copy").await, whole);

    // An instant upload (probe) of stored content: answered without its body.
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&p2));
    let size = p2.len().to_string();
    let r = gw
        .signed_with_hash(
            ACCESS_KEY,
            SECRET_KEY,
            "PUT",
            "/clu/instant",
            &[
                ("x-amz-checksum-sha256", sha.as_str()),
                ("x-fastgate-probe", size.as_str()),
            ],
            &sha256_hex(&p2),
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-fastgate-dedup"), Some("hit"));
    assert_eq!(get(&c, "clu", "instant").await, p2);

    let err = c
        .put_object()
        .bucket("clu")
        .key("mp")
        .if_none_match("*")
        .body(data(10, 42).into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(sdk_error(&err).1, Some(412));
    // The refused body reached the nodes (copies are made while it streams, before
    // the condition is checked at commit): it has no record, and the orphan sweep
    // takes it from every node.
    assert_eq!(a.chunks().len(), 3);
    let r = gw.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert!(r.text().contains("orphans_deleted 1"), "{}", r.text());

    // Two chunks (one per part), each on both nodes, whatever referenced them since.
    let mut want = vec![sha256_hex(&p1), sha256_hex(&p2)];
    want.sort();
    assert_eq!(a.chunks(), want);
    assert_eq!(b.chunks(), want);
}

#[tokio::test]
async fn concurrent_puts_and_gets_through_a_gateway_are_byte_exact_on_every_node() {
    let a = StorageNode::start();
    let b = StorageNode::start();
    let gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url(), b.url()])], ""));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let bodies: Vec<Vec<u8>> = (0..24u64).map(|i| data(1000 + 37_000 * i as usize, 60 + i)).collect();
    let puts = bodies.iter().enumerate().map(|(i, body)| {
        let c = c.clone();
        async move { put(&c, "clu", &format!("k{i}"), body).await }
    });
    futures::future::join_all(puts).await;
    let gets = bodies.iter().enumerate().map(|(i, body)| {
        let c = c.clone();
        async move { assert_eq!(&get(&c, "clu", &format!("k{i}")).await, body) }
    });
    futures::future::join_all(gets).await;
    let mut want: Vec<String> = bodies.iter().map(|b| sha256_hex(b)).collect();
    want.sort();
    assert_eq!(a.chunks(), want);
    assert_eq!(b.chunks(), want);
}

#[tokio::test]
async fn a_node_that_joins_at_run_time_is_filled_by_repair_takes_writes_and_is_remembered() {
    let a = StorageNode::start();
    let mut gw = Server::with_config(&cluster_toml(&[("g1", vec![a.url()])], "min_copies = 1\n"));
    let c = gw.client();
    create_bucket(&c, "join").await;
    let before = data(5000, 31);
    put(&c, "join", "before", &before).await;

    // A node with the wrong secret is refused, and nothing joins.
    let stranger = StorageNode::start_with_env(&[
        ("FASTGATE_JOIN", &gw.endpoint()),
        ("FASTGATE_GROUP", "g1"),
        ("FASTGATE_CLUSTER_SECRET", "another-cluster-secret-0123456789"),
    ]);
    // A node naming a group the gateway does not have is refused too.
    let lost = StorageNode::start_with_env(&[("FASTGATE_JOIN", &gw.endpoint()), ("FASTGATE_GROUP", "g9")]);

    let b = StorageNode::start_with_env(&[("FASTGATE_JOIN", &gw.endpoint()), ("FASTGATE_GROUP", "g1")]);
    until_report(&gw, "the joined node repaired", |v| states(v) == ["active", "active"]).await;
    assert_eq!(b.chunks(), a.chunks(), "repair gave the new node what its group holds");
    let after = data(6000, 32);
    put(&c, "join", "after", &after).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.chunks().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.chunks().len(), 2, "the joined node takes new chunks");
    let report = until_report(&gw, "two nodes", |v| states(v).len() == 2).await;
    let joined = &report[0]["nodes"][1];
    assert_eq!(joined["url"], b.url());
    assert_eq!(joined["joined"], true);
    assert!(joined["lease_secs_left"].as_u64().unwrap() > 0, "{joined}");
    assert_eq!(report[0]["nodes"][0]["joined"], false);
    assert!(!stranger.log().contains("joined the cluster"));
    assert!(lost.log().contains("registration refused"), "{}", lost.log());

    // The registration is in the metadata: after a restart the gateway has the node
    // before it renews, and reads what only it holds once the first node is gone.
    drop(a);
    gw.restart();
    let c = gw.client();
    let report = until_report(&gw, "the joined node remembered", |v| {
        v[0]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["url"] == b.url().as_str() && n["state"] == "active")
    })
    .await;
    assert_eq!(report[0]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(get(&c, "join", "before").await, before);
    assert_eq!(get(&c, "join", "after").await, after);

    // `admin forget-node` takes it out of the metadata (gateways drop it at their next start).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .args(["admin", "forget-node", "g1", &b.url(), "--endpoint", &gw.endpoint()])
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_cluster_gateway_refuses_encrypted_writes_and_stores_nothing() {
    let a = StorageNode::start();
    let b = StorageNode::start();
    // Keys given: the refusal is the cluster's, not a missing master key's.
    let keys = tempfile::tempdir().expect("tempdir");
    std::fs::write(keys.path().join("keys"), format!("m:{}\n", "A".repeat(43) + "=")).expect("keys");
    let enc = format!(
        "[encryption]\nkey_file = \"{}\"\nallow_sse_c_over_http = true\n",
        keys.path().join("keys").display()
    );
    let gw = Server::with_config(&format!(
        "{enc}\n{}",
        cluster_toml(&[("g1", vec![a.url(), b.url()])], "")
    ));
    let c = gw.client();
    create_bucket(&c, "clu").await;
    let sealed = c
        .put_object()
        .bucket("clu")
        .key("k")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
        .body(b"secret".to_vec().into())
        .send()
        .await;
    assert_eq!(assert_code(sealed, "NotImplemented"), 501);
    assert!(c.head_object().bucket("clu").key("k").send().await.is_err());
    put(&c, "clu", "plain", b"plain").await;
    assert_eq!(get(&c, "clu", "plain").await, b"plain");
}
