//! The storage node's internal API, in process: a node on a temp dir and loopback port,
//! driven by the gateway's own client.

use std::time::Duration;

use bytes::Bytes;
use fastgate_chunk::{ChunkConfig, ChunkHash, LocalChunks};
use fastgate_cluster::auth;
use fastgate_cluster::node::{self, Node};
use fastgate_cluster::{ClusterError, NodeClient};
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};

const SECRET: &str = "a-test-cluster-secret-0123456789";

async fn start(dir: &std::path::Path) -> NodeClient {
    let chunks = LocalChunks::open(&ChunkConfig::single(dir)).unwrap();
    let node = Node::new(chunks, SECRET.into()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(node::serve(node, listener, std::future::pending()));
    NodeClient::new(&url, SECRET, Duration::from_secs(5))
}

/// Uploads `body` in pieces, its trailer announcing `sha256`.
async fn upload(client: &NodeClient, body: &[u8], sha256: [u8; 32]) -> Result<(), ClusterError> {
    let up = client.upload(body.len() as u64)?;
    for piece in body.chunks(100_000) {
        up.tx.send(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    up.tx
        .send(Bytes::copy_from_slice(&auth::trailer(SECRET, &up.auth, &sha256)))
        .await
        .unwrap();
    drop(up.tx);
    up.answer.await.unwrap()
}

async fn read(client: &NodeClient, hash: &ChunkHash, start: u64, end: u64) -> Option<Vec<u8>> {
    let body = client.read(hash, start, end).await.unwrap()?;
    Some(body.collect().await.unwrap().to_bytes().to_vec())
}

fn files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn a_chunk_is_stored_once_verified_and_read_listed_and_deleted_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let client = start(dir.path()).await;
    let body: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
    let sha: [u8; 32] = Sha256::digest(&body).into();
    let hash = ChunkHash(sha);

    upload(&client, &body, sha).await.unwrap();
    // Idempotent: the same chunk again is accepted and not stored twice.
    upload(&client, &body, sha).await.unwrap();
    assert_eq!(files(&dir.path().join("M00/data")), 1);
    assert_eq!(client.status().await.unwrap().chunks, 1);

    assert_eq!(read(&client, &hash, 0, body.len() as u64).await.unwrap(), body);
    assert_eq!(read(&client, &hash, 100, 200_000).await.unwrap(), &body[100..200_000]);
    assert_eq!(
        client.head(&hash).await.unwrap().map(|(size, _)| size),
        Some(body.len() as u64)
    );
    assert_eq!(client.list_page(None, 10).await.unwrap(), vec![hash]);

    assert!(client.delete(&hash).await.unwrap());
    assert!(!client.delete(&hash).await.unwrap());
    assert_eq!(client.head(&hash).await.unwrap(), None);
    assert_eq!(read(&client, &hash, 0, 1).await, None);
    assert_eq!(client.status().await.unwrap().chunks, 0);
}

#[tokio::test]
async fn bytes_that_do_not_match_their_sha256_or_trailer_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = start(dir.path()).await;
    for size in [1000, 600_000] {
        let body = vec![7u8; size];
        let wrong = [1u8; 32];
        let e = upload(&client, &body, wrong).await.unwrap_err();
        assert!(matches!(e, ClusterError::Status { status, .. } if status == 400), "{e}");

        // A trailer made with another secret.
        let sha: [u8; 32] = Sha256::digest(&body).into();
        let up = client.upload(0).unwrap();
        up.tx.send(Bytes::from(body.clone())).await.unwrap();
        let forged = auth::trailer("another-secret-0123456789abcdef", &up.auth, &sha);
        up.tx.send(Bytes::copy_from_slice(&forged)).await.unwrap();
        drop(up.tx);
        let e = up.answer.await.unwrap().unwrap_err();
        assert!(matches!(e, ClusterError::Status { status, .. } if status == 400), "{e}");

        // A body cut short (no trailer at all).
        let up = client.upload(0).unwrap();
        up.tx.send(Bytes::from(body.clone())).await.unwrap();
        drop(up.tx);
        assert!(up.answer.await.unwrap().is_err());
    }
    assert_eq!(files(&dir.path().join("M00/data")), 0);
    // A writer dropped mid-body removes its temp file from its own thread, soon after.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while files(&dir.path().join("M00/tmp")) != 0 {
        assert!(std::time::Instant::now() < deadline, "temp files left behind");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A client with another secret is refused everything.
    let url = format!("http://{}", client.url().trim_start_matches("http://"));
    let stranger = NodeClient::new(&url, "not-the-secret-0123456789", Duration::from_secs(5));
    let e = stranger.status().await.unwrap_err();
    assert!(matches!(e, ClusterError::Status { status, .. } if status == 403), "{e}");
}

#[tokio::test]
async fn a_node_lists_its_chunks_in_ascending_pages_after_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let client = start(dir.path()).await;
    let mut all = Vec::new();
    for i in 0..7u8 {
        let body = vec![i; 1000 + usize::from(i)];
        let sha: [u8; 32] = Sha256::digest(&body).into();
        upload(&client, &body, sha).await.unwrap();
        all.push(ChunkHash(sha));
    }
    all.sort();

    // Pages of 3: each sorted, each after the last one's end, the last one short.
    let mut listed: Vec<ChunkHash> = Vec::new();
    let mut after = None;
    loop {
        let page = client.list_page(after.as_ref(), 3).await.unwrap();
        assert!(page.len() <= 3, "{page:?}");
        assert!(page.windows(2).all(|w| w[0] < w[1]), "{page:?}");
        listed.extend(&page);
        if page.len() < 3 {
            break;
        }
        after = page.last().copied();
    }
    assert_eq!(listed, all);
    assert_eq!(client.list_page(Some(&all[4]), 100).await.unwrap(), &all[5..]);
    assert_eq!(
        client.list_page(Some(&all[6]), 100).await.unwrap(),
        Vec::<ChunkHash>::new()
    );

    // The cursor a gateway merges lists with walks the same pages.
    let mut pages = client.chunks().pages_of(2);
    let mut walked = Vec::new();
    while let Some(h) = pages.next().await.unwrap() {
        walked.push(h);
    }
    assert_eq!(walked, all);

    // A limit past the node's page size is capped.
    let capped = client.list_page(None, usize::MAX).await.unwrap();
    assert_eq!(capped, all);
}
