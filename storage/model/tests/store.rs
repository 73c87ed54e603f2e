//! Behaviour of the storage layer through its public interface.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fastgate_model::ids::now_ms;
use fastgate_model::records::{ObjectHeaders, ObjectPart, ObjectRecord, PartRecord, UploadRecord};
use fastgate_model::{
    DedupIndex, DedupScope, ListedPart, PartNumber, StagedChunk, StorageConfig, StorageError, Store, WriteCondition,
};

/// The store's config for these tests; `FASTGATE_META_ENGINE` picks the metadata
/// engine (test.sh runs them once per engine).
fn config(dir: &std::path::Path, grace: Duration) -> StorageConfig {
    let mut cfg = StorageConfig::single(dir);
    cfg.gc_grace = grace;
    if let Ok(name) = std::env::var("FASTGATE_META_ENGINE") {
        cfg.meta_engine = name.parse().expect("FASTGATE_META_ENGINE names an engine");
    }
    cfg
}

fn open(dir: &std::path::Path, grace: Duration) -> Arc<Store> {
    Store::open(&config(dir, grace)).expect("open store")
}

async fn stage(store: &Store, data: &[u8]) -> StagedChunk {
    let mut w = store.chunk_writer(data.len() as u64, &[]).unwrap();
    // Feed in pieces so that large bodies take the streaming path.
    for piece in data.chunks(100_000) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    w.finish().await.unwrap()
}

fn record(owner: &str, staged: &StagedChunk) -> ObjectRecord {
    let d = &staged.digests;
    ObjectRecord {
        size: d.size,
        etag: hex::encode(d.md5),
        last_modified_ms: now_ms(),
        owner: owner.into(),
        headers: ObjectHeaders::default(),
        user_metadata: vec![],
        tags: vec![],
        checksum: None,
        parts: vec![ObjectPart {
            hash: staged.hash(),
            location: staged.location,
            size: d.size,
            md5: d.md5,
            checksum: None,
        }],
        multipart: false,
        acl: None,
        version: None,
        lock: None,
        encryption: None,
    }
}

async fn put(store: &Arc<Store>, bucket: &str, key: &str, data: &[u8]) -> ObjectRecord {
    let s = stage(store, data).await;
    let rec = record("alice", &s);
    store
        .put_object(bucket, key, rec, vec![s], WriteCondition::default())
        .await
        .unwrap();
    // The stored record says where the chunk landed (its own file or a trunk slot).
    store.object(bucket, key).unwrap()
}

async fn read_all(store: &Arc<Store>, rec: &ObjectRecord, start: u64, end: u64) -> Vec<u8> {
    let mut r = store.read(rec, start, end, None).await.unwrap();
    let mut out = Vec::new();
    while let Some(b) = r.next().await {
        out.extend_from_slice(&b.unwrap());
    }
    out
}

fn files_under(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            n += files_under(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

/// Polls `done` for up to five seconds; the caller asserts the final state.
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..250 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn identical_content_is_stored_once_and_collected_after_the_last_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let data = vec![7u8; 1_000_000];
    let a = put(&store, "bkt", "a", &data).await;
    put(&store, "bkt", "b", &data).await;
    let data_dir = dir.path().join("M00/data");
    assert_eq!(files_under(&data_dir), 1, "one chunk file for two objects");
    assert_eq!(store.chunk(&a.parts[0].hash).unwrap().unwrap().refs, 2);
    assert_eq!(read_all(&store, &a, 0, a.size).await, data);

    assert!(store.delete_object("bkt", "a").await.unwrap());
    assert_eq!(
        store.collect_garbage().unwrap().chunks_deleted,
        0,
        "still referenced by b"
    );
    assert!(store.delete_object("bkt", "b").await.unwrap());
    let report = store.collect_garbage().unwrap();
    assert_eq!(report.chunks_deleted, 1);
    assert_eq!(report.bytes_freed, data.len() as u64);
    assert_eq!(files_under(&data_dir), 0, "disk usage back to where it started");
    assert!(store.chunk(&a.parts[0].hash).unwrap().is_none());
}

#[tokio::test]
async fn unreferenced_chunks_wait_out_the_grace_period_and_stay_claimable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::from_secs(3600));
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let rec = put(&store, "bkt", "a", b"hello grace").await;
    store.delete_object("bkt", "a").await.unwrap();
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 0);
    let hash = rec.parts[0].hash;
    let hit = store.instant_lookup(&hash, DedupScope::Owner, "alice", "bkt").unwrap();
    assert!(hit.is_some(), "a chunk in its grace period can still be claimed");
    // Claiming it again revives it.
    store
        .put_object("bkt", "again", rec.clone(), vec![], WriteCondition::default())
        .await
        .unwrap();
    assert_eq!(store.chunk(&hash).unwrap().unwrap().refs, 1);
}

#[tokio::test]
async fn instant_lookup_respects_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    store.create_bucket("other", "bob", "us-east-1").await.unwrap();
    let rec = put(&store, "bkt", "a", b"secret bytes").await;
    let h = rec.parts[0].hash;
    assert!(
        store
            .instant_lookup(&h, DedupScope::Owner, "alice", "bkt")
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .instant_lookup(&h, DedupScope::Owner, "bob", "other")
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .instant_lookup(&h, DedupScope::Bucket, "bob", "other")
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .instant_lookup(&h, DedupScope::Bucket, "bob", "bkt")
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .instant_lookup(&h, DedupScope::Global, "bob", "other")
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn commits_record_only_the_proofs_the_lookups_use() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), Duration::ZERO);
    cfg.dedup_index = DedupIndex::for_lookups(true, DedupScope::Owner, false);
    let store = Store::open(&cfg).unwrap();
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let rec = put(&store, "bkt", "a", b"owner scope only").await;
    let h = rec.parts[0].hash;
    let lookup = |scope, owner, bucket| store.instant_lookup(&h, scope, owner, bucket).unwrap().is_some();
    assert!(lookup(DedupScope::Owner, "alice", "bkt"));
    assert!(!lookup(DedupScope::Owner, "bob", "bkt"));
    // No bucket proof and no MD5 entry were written: such lookups miss (the client
    // would send the body), they never hit wrongly.
    assert!(!lookup(DedupScope::Bucket, "alice", "bkt"));
    assert_eq!(store.sha256_for_md5(&rec.parts[0].md5).unwrap(), None);
    assert!(lookup(DedupScope::Global, "bob", "other"));

    let none = DedupIndex::for_lookups(false, DedupScope::Owner, true);
    assert_eq!((none.owner, none.bucket, none.md5), (false, false, false));
    let md5 = DedupIndex::for_lookups(true, DedupScope::Bucket, true);
    assert_eq!((md5.owner, md5.bucket, md5.md5), (false, true, true));
}

#[tokio::test]
async fn a_claim_of_a_collected_chunk_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let rec = put(&store, "bkt", "a", b"short lived").await;
    store.delete_object("bkt", "a").await.unwrap();
    store.collect_garbage().unwrap();
    let err = store
        .put_object("bkt", "b", rec, vec![], WriteCondition::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::ChunkGone(_)), "{err:?}");
    assert!(matches!(store.object("bkt", "b"), Err(StorageError::NoSuchKey)));
}

#[tokio::test]
async fn dropped_writers_and_staged_chunks_leave_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    let mut w = store.chunk_writer(0, &[]).unwrap();
    w.write(Bytes::from(vec![1u8; 600_000])).await.unwrap();
    // The writer thread creates its temp file and notices the dropped channel
    // asynchronously: wait for the file to exist before dropping, then for it to go.
    let tmp = dir.path().join("M00/tmp");
    wait_for(|| files_under(&tmp) == 1).await;
    drop(w);
    let s = stage(&store, &[2u8; 10]).await;
    drop(s);
    wait_for(|| files_under(&tmp) == 0).await;
    assert_eq!(files_under(&tmp), 0);
    assert_eq!(files_under(&dir.path().join("M00/data")), 0);
}

#[tokio::test]
async fn delimiter_listing_rolls_up_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    for k in ["a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d"] {
        put(&store, "bkt", k, k.as_bytes()).await;
    }
    let p = store.list_objects("bkt", "", Some("/"), None, 1000).await.unwrap();
    let keys: Vec<&str> = p.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(p.common_prefixes, ["a/", "c/"]);
    assert!(!p.truncated);

    // Page through with max 1: a/, b, c/, d.
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let p = store
            .list_objects("bkt", "", Some("/"), after.as_deref(), 1)
            .await
            .unwrap();
        seen.extend(p.common_prefixes.clone());
        seen.extend(p.objects.iter().map(|(k, _)| k.clone()));
        if !p.truncated {
            break;
        }
        after = p.last;
    }
    assert_eq!(seen, ["a/", "b", "c/", "d"]);

    let p = store.list_objects("bkt", "c/", Some("/"), None, 1000).await.unwrap();
    assert_eq!(p.common_prefixes, ["c/x/"]);
    assert_eq!(p.objects.len(), 1);
}

async fn part(store: &Arc<Store>, id: &fastgate_model::UploadId, n: i64, data: &[u8]) -> PartRecord {
    let s = stage(store, data).await;
    let rec = PartRecord {
        hash: s.hash(),
        location: s.location,
        size: s.digests.size,
        md5: s.digests.md5,
        last_modified_ms: now_ms(),
        checksum: None,
    };
    store
        .put_part("bkt", "mp", id, PartNumber::new(n).unwrap(), rec.clone(), Some(s))
        .await
        .unwrap();
    rec
}

#[tokio::test]
async fn multipart_completion_assembles_nothing_and_releases_unlisted_parts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let up = UploadRecord {
        owner: "alice".into(),
        initiated_ms: now_ms(),
        headers: ObjectHeaders::default(),
        user_metadata: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_full_object: false,
        generation: 0,
        acl: None,
        lock: None,
        encryption: None,
    };
    let id = store.create_upload("bkt", "mp", up).await.unwrap();
    let five = 5 * 1024 * 1024;
    let p1 = part(&store, &id, 1, &vec![1u8; five]).await;
    let p2 = part(&store, &id, 2, &vec![2u8; five]).await;
    let p3 = part(&store, &id, 3, b"tail").await;
    let (parts, truncated) = store.list_parts(&id, None, 2).await.unwrap();
    assert_eq!(parts.len(), 2);
    assert!(truncated);

    // Part 2 is left out: parts 1 (exactly the 5 MiB minimum) and 3 make the object.
    let list = vec![
        ListedPart::new(PartNumber::new(1).unwrap(), p1.etag()),
        ListedPart::new(PartNumber::new(3).unwrap(), p3.etag()),
    ];
    let obj = store
        .complete_upload("bkt", "mp", &id, list, WriteCondition::default())
        .await
        .unwrap();
    assert_eq!(obj.size, five as u64 + 4);
    assert!(obj.etag.ends_with("-2"));
    let mut md5s = Vec::new();
    md5s.extend_from_slice(&p1.md5);
    md5s.extend_from_slice(&p3.md5);
    use md5::Digest as _;
    assert_eq!(obj.etag, format!("{}-2", hex::encode(md5::Md5::digest(&md5s))));
    let tail = read_all(&store, &obj, five as u64 - 2, five as u64 + 4).await;
    assert_eq!(tail, [1, 1, b't', b'a', b'i', b'l']);
    assert_eq!(
        store.chunk(&p2.hash).unwrap().unwrap().refs,
        0,
        "the unlisted part was released"
    );
    assert!(matches!(
        store.upload("bkt", "mp", &id),
        Err(StorageError::NoSuchUpload)
    ));
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 1);
}

#[tokio::test]
async fn completion_checks_order_size_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let up = UploadRecord {
        owner: "alice".into(),
        initiated_ms: now_ms(),
        headers: ObjectHeaders::default(),
        user_metadata: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_full_object: false,
        generation: 0,
        acl: None,
        lock: None,
        encryption: None,
    };
    let id = store.create_upload("bkt", "mp", up).await.unwrap();
    let p1 = part(&store, &id, 1, b"small").await;
    let p2 = part(&store, &id, 2, b"also small").await;
    let n = |x| PartNumber::new(x).unwrap();
    let err = store
        .complete_upload(
            "bkt",
            "mp",
            &id,
            vec![ListedPart::new(n(2), p2.etag()), ListedPart::new(n(1), p1.etag())],
            WriteCondition::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidPartOrder));
    let err = store
        .complete_upload(
            "bkt",
            "mp",
            &id,
            vec![ListedPart::new(n(1), p1.etag()), ListedPart::new(n(2), p2.etag())],
            WriteCondition::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::EntityTooSmall { part: 1, .. }));
    let err = store
        .complete_upload(
            "bkt",
            "mp",
            &id,
            vec![ListedPart::new(n(1), "0".repeat(32))],
            WriteCondition::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidPart(1)));
    store.abort_upload("bkt", "mp", &id).await.unwrap();
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 2);
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let rec = {
        let store = open(dir.path(), Duration::ZERO);
        store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
        put(&store, "bkt", "k", b"durable").await
    };
    // sled releases its lock from a background thread after the last handle drops.
    let cfg = config(dir.path(), Duration::ZERO);
    let store = (0..100)
        .find_map(|_| {
            Store::open(&cfg).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(20));
                None
            })
        })
        .expect("reopen store");
    assert_eq!(store.object("bkt", "k").unwrap(), rec);
    assert_eq!(read_all(&store, &rec, 0, rec.size).await, b"durable");
}

#[tokio::test]
async fn conditional_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let first = put(&store, "bkt", "k", b"one").await;
    let s = stage(&store, b"two").await;
    let rec = record("alice", &s);
    let create_only = WriteCondition {
        if_none_match_any: true,
        if_match: None,
    };
    let err = store
        .put_object("bkt", "k", rec.clone(), vec![s], create_only)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::PreconditionFailed));
    let s = stage(&store, b"two").await;
    let cond = WriteCondition {
        if_none_match_any: false,
        if_match: Some(first.etag.clone()),
    };
    store.put_object("bkt", "k", rec, vec![s], cond).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_racing_rewrites_of_the_same_content_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    // Small (trunk) and large (own file) bodies, each dropping to zero references and
    // coming back while collection runs without pause on another thread.
    let bodies = |i: u8| [vec![i; 1000], vec![i; 600_000]];
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.collect_garbage().unwrap();
            }
        })
    };
    for i in 0..40 {
        for body in &bodies(i) {
            let first = put(&store, "bkt", "gone", body).await;
            store.delete_object("bkt", "gone").await.unwrap();
            let key = format!("kept-{i}-{}", body.len());
            let rec = put(&store, "bkt", &key, body).await;
            assert_eq!(rec.etag, first.etag);
            assert_eq!(&read_all(&store, &rec, 0, rec.size).await, body);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    gc.await.unwrap();
    store.collect_garbage().unwrap();
    for i in 0..40 {
        for body in &bodies(i) {
            let rec = store.object("bkt", &format!("kept-{i}-{}", body.len())).unwrap();
            assert_eq!(&read_all(&store, &rec, 0, rec.size).await, body);
        }
    }
}

#[tokio::test]
async fn a_chunk_file_no_record_knows_is_swept_and_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let body = vec![5u8; 600_000];
    let rec = put(&store, "bkt", "live", &body).await;
    // What a crash between the rename into place and the metadata commit leaves.
    let hex = "ab".repeat(32);
    let orphan = dir.path().join("M00/data").join(&hex[0..2]).join(&hex[2..4]).join(&hex);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"never committed").unwrap();

    let report = store.collect_garbage().unwrap();
    assert_eq!(report.orphans_deleted, 1);
    assert!(!orphan.exists());
    assert_eq!(files_under(&dir.path().join("M00/data")), 1);
    assert_eq!(read_all(&store, &rec, 0, rec.size).await, body);
}

/// The write path's use cases take the body as content (staged, or stored and
/// claimed) and build the record themselves: size, ETag, the chunk and where it is.
#[tokio::test]
async fn store_object_and_store_part_build_their_records_from_the_content() {
    use fastgate_model::Content;
    use fastgate_model::checksum::ChecksumAlgorithm;

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::from_secs(3600));
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    let data = b"one body, written once".to_vec();
    let staged = stage(&store, &data).await;
    let template = ObjectRecord {
        parts: vec![],
        size: 0,
        etag: String::new(),
        ..record("alice", &staged)
    };
    let written = store
        .store_object("bkt", "a", template, Content::Staged(staged), WriteCondition::default())
        .await
        .unwrap();
    let stored = store.object("bkt", "a").unwrap();
    assert_eq!(written.size, data.len() as u64);
    assert_eq!(written.etag, md5_hex(&data));
    assert_eq!(stored.etag, written.etag);
    assert_eq!(stored.parts.len(), 1);
    assert_eq!(read_all(&store, &stored, 0, stored.size).await, data);

    // A part claiming the stored chunk: a reference, with the upload's checksum read
    // back from the chunk, which was not written with SHA-1.
    let hash = stored.parts[0].hash;
    let chunk = store.chunk(&hash).unwrap().unwrap();
    let up = UploadRecord {
        owner: "alice".into(),
        initiated_ms: now_ms(),
        headers: ObjectHeaders::default(),
        user_metadata: vec![],
        tags: vec![],
        checksum_algorithm: Some(ChecksumAlgorithm::Sha1),
        checksum_full_object: false,
        generation: 0,
        acl: None,
        lock: None,
        encryption: None,
    };
    let mut w = store
        .chunk_writer(data.len() as u64, &[ChecksumAlgorithm::Sha1])
        .unwrap();
    w.write(Bytes::from(data.clone())).await.unwrap();
    let want = w
        .finish()
        .await
        .unwrap()
        .digests
        .checksum(ChecksumAlgorithm::Sha1)
        .unwrap()
        .to_vec();
    let id = store.create_upload("bkt", "mp", up).await.unwrap();
    let part = store
        .store_part(
            "bkt",
            "mp",
            &id,
            PartNumber::new(1).unwrap(),
            Content::Stored { hash, chunk },
            Some(ChecksumAlgorithm::Sha1),
        )
        .await
        .unwrap();
    assert_eq!(part.hash, hash);
    assert_eq!(part.etag(), md5_hex(&data));
    assert_eq!(part.checksum, Some((ChecksumAlgorithm::Sha1, want)),);
    assert_eq!(store.chunk(&hash).unwrap().unwrap().refs, 2);
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest as _, Md5};
    hex::encode(Md5::digest(data))
}

#[tokio::test]
async fn the_kept_totals_match_a_full_scan_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    let same = |store: &Store| {
        let (kept, scanned) = (store.gauges(), store.stats().unwrap());
        assert_eq!(
            (
                kept.chunks,
                kept.chunk_bytes,
                kept.unreferenced_chunks,
                kept.unreferenced_bytes
            ),
            (
                scanned.chunks,
                scanned.chunk_bytes,
                scanned.unreferenced_chunks,
                scanned.unreferenced_bytes
            )
        );
    };
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    same(&store);
    put(&store, "bkt", "small", b"small").await;
    put(&store, "bkt", "large", &vec![9u8; 600_000]).await;
    // The same content again (dedup at rest), then a replacement.
    put(&store, "bkt", "copy", &vec![9u8; 600_000]).await;
    put(&store, "bkt", "small", b"replaced").await;
    same(&store);
    assert_eq!(store.gauges().chunks, 3);
    assert_eq!(store.gauges().unreferenced_chunks, 1);
    store.delete_object("bkt", "large").await.unwrap();
    store.delete_object("bkt", "copy").await.unwrap();
    same(&store);
    store.collect_garbage().unwrap();
    same(&store);
    assert_eq!(store.gauges().chunks, 1);
    assert_eq!(store.gauges().chunk_bytes, 8);
}

/// An object stored as `owner`, who need not own the bucket here.
async fn put_as(store: &Arc<Store>, owner: &str, bucket: &str, key: &str, data: &[u8]) {
    let s = stage(store, data).await;
    let rec = record(owner, &s);
    store
        .put_object(bucket, key, rec, vec![s], WriteCondition::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn proofs_of_possession_go_with_their_chunk_and_their_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    let data = vec![5u8; 300_000];
    let hash = fastgate_model::ChunkHash(stage(&store, &data).await.digests.sha256);
    let may = |store: &Store, scope, owner: &str, bucket: &str| {
        store.instant_lookup(&hash, scope, owner, bucket).unwrap().is_some()
    };

    // Alice's proofs are collected with the chunk: when Bob stores the same bytes again
    // later, Alice (and Alice's bucket) must prove them anew.
    store.create_bucket("alices", "alice", "us-east-1").await.unwrap();
    put_as(&store, "alice", "alices", "k", &data).await;
    assert!(may(&store, DedupScope::Owner, "alice", "alices"));
    assert!(may(&store, DedupScope::Bucket, "alice", "alices"));
    store.delete_object("alices", "k").await.unwrap();
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 1);
    store.create_bucket("bobs", "bob", "us-east-1").await.unwrap();
    put_as(&store, "bob", "bobs", "k", &data).await;
    assert!(!may(&store, DedupScope::Owner, "alice", "bobs"));
    assert!(!may(&store, DedupScope::Bucket, "bob", "alices"));

    // A deleted bucket's proofs go with it, even while its chunk stays stored: a new
    // bucket of the same name does not inherit them.
    store.delete_object("bobs", "k").await.unwrap();
    store.delete_bucket("bobs").await.unwrap();
    store.create_bucket("bobs", "carol", "us-east-1").await.unwrap();
    assert!(store.chunk(&hash).unwrap().is_some(), "still stored, waiting for GC");
    assert!(!may(&store, DedupScope::Bucket, "carol", "bobs"));
    assert!(
        may(&store, DedupScope::Owner, "bob", "bobs"),
        "Bob's own proof lives with the chunk"
    );
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 1);
    assert!(!may(&store, DedupScope::Owner, "bob", "bobs"));
}

#[tokio::test]
async fn an_old_version_keeps_its_chunk_until_that_version_is_deleted() {
    use fastgate_model::records::Versioning;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("bkt", "alice", "us-east-1").await.unwrap();
    store.set_versioning("bkt", Versioning::Enabled).await.unwrap();
    let old = put(&store, "bkt", "k", &vec![1u8; 300_000]).await;
    let new = put(&store, "bkt", "k", &vec![2u8; 300_000]).await;
    assert_ne!(old.version_id(), new.version_id());
    assert_eq!(
        store.chunk(&old.parts[0].hash).unwrap().unwrap().refs,
        1,
        "the old version holds its chunk"
    );
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 0);

    // A delete marker takes no reference and drops none.
    assert!(store.delete_object("bkt", "k").await.unwrap());
    assert!(matches!(store.object("bkt", "k"), Err(StorageError::NoSuchKey)));
    assert_eq!(store.chunk(&new.parts[0].hash).unwrap().unwrap().refs, 1);

    let gone = store
        .delete_object_version("bkt", "k", old.version_id(), Default::default(), false)
        .await
        .unwrap();
    assert!(gone.existed);
    assert_eq!(store.chunk(&old.parts[0].hash).unwrap().unwrap().refs, 0);
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 1);
    assert_eq!(
        read_all(
            &store,
            &store.object_version("bkt", "k", new.version_id()).await.unwrap(),
            0,
            3
        )
        .await,
        [2, 2, 2]
    );
}

#[tokio::test]
async fn lifecycle_expiration_and_gc_never_remove_a_locked_version() {
    use fastgate_model::lock::{ObjectLock, Retention, RetentionMode};
    use fastgate_model::records::LifecycleRule;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store
        .create_bucket_full("worm", "alice", "us-east-1", None, true)
        .await
        .unwrap();
    let rule = LifecycleRule {
        id: None,
        prefix: String::new(),
        enabled: true,
        abort_incomplete_after_days: None,
        expiration_days: Some(1),
        ..LifecycleRule::default()
    };
    store.set_lifecycle("worm", Some(vec![rule])).await.unwrap();
    let s = stage(&store, &vec![7u8; 1000]).await;
    let mut rec = record("alice", &s);
    let until = now_ms() + 86_400_000 * 30;
    rec.lock = Some(ObjectLock {
        retention: Some(Retention {
            mode: RetentionMode::Compliance,
            retain_until_ms: until,
        }),
        legal_hold: fastgate_model::lock::LegalHold::NeverSet,
    });
    let locked = store
        .put_object("worm", "k", rec, vec![s], WriteCondition::default())
        .await
        .unwrap();

    // Two days on, the rule expires the object: a delete marker, the version kept.
    let expired = store.apply_lifecycle(now_ms() + 2 * 86_400_000).await.unwrap();
    assert_eq!(expired, 1);
    assert!(store.current_version("worm", "k").unwrap().is_delete_marker());
    assert_eq!(store.collect_garbage().unwrap().chunks_deleted, 0);
    let kept = store.object_version("worm", "k", locked.version_id()).await.unwrap();
    assert_eq!(read_all(&store, &kept, 0, 3).await, [7, 7, 7]);
    let refused = store
        .delete_object_version("worm", "k", locked.version_id(), Default::default(), true)
        .await;
    assert!(matches!(refused, Err(StorageError::ObjectLocked(_))), "{refused:?}");
    assert!(matches!(
        store.delete_bucket("worm").await,
        Err(StorageError::BucketNotEmpty)
    ));
}

#[tokio::test]
async fn lifecycle_expires_noncurrent_versions_and_lone_markers_but_not_locked_ones() {
    use fastgate_model::lock::{ObjectLock, Retention, RetentionMode};
    use fastgate_model::records::{LifecycleRule, Versioning};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Duration::ZERO);
    store.create_bucket("vb1", "alice", "us-east-1").await.unwrap();
    store.set_versioning("vb1", Versioning::Enabled).await.unwrap();
    let rule = LifecycleRule {
        enabled: true,
        noncurrent_days: Some(1),
        expired_object_delete_marker: true,
        ..LifecycleRule::default()
    };
    store.set_lifecycle("vb1", Some(vec![rule])).await.unwrap();
    let old = put(&store, "vb1", "k", &[1u8; 10]).await;
    let cur = put(&store, "vb1", "k", &[2u8; 10]).await;
    let gone = put(&store, "vb1", "m", &[3u8; 10]).await;
    store.delete_object("vb1", "m").await.unwrap();

    // Nothing is a day noncurrent yet.
    assert_eq!(store.apply_lifecycle(now_ms()).await.unwrap(), 0);
    let later = now_ms() + 2 * 86_400_000;
    // `k`'s old version and `m`'s version go; `m`'s marker is then alone and goes on the
    // next pass, as on S3.
    assert_eq!(store.apply_lifecycle(later).await.unwrap(), 2);
    assert!(matches!(
        store.object_version("vb1", "k", old.version_id()).await,
        Err(StorageError::NoSuchVersion)
    ));
    assert!(matches!(
        store.object_version("vb1", "m", gone.version_id()).await,
        Err(StorageError::NoSuchVersion)
    ));
    assert_eq!(store.object("vb1", "k").unwrap().version_id(), cur.version_id());
    assert_eq!(store.apply_lifecycle(later).await.unwrap(), 1);
    assert!(matches!(
        store.current_version("vb1", "m"),
        Err(StorageError::NoSuchKey)
    ));

    // A locked noncurrent version stays.
    store.set_object_lock("vb1", Default::default()).await.unwrap();
    let s = stage(&store, &[4u8; 10]).await;
    let mut rec = record("alice", &s);
    rec.lock = Some(ObjectLock {
        retention: Some(Retention {
            mode: RetentionMode::Governance,
            retain_until_ms: now_ms() + 30 * 86_400_000,
        }),
        legal_hold: fastgate_model::lock::LegalHold::NeverSet,
    });
    let locked = store
        .put_object("vb1", "l", rec, vec![s], WriteCondition::default())
        .await
        .unwrap();
    put(&store, "vb1", "l", &[5u8; 10]).await;
    assert_eq!(store.apply_lifecycle(later).await.unwrap(), 0);
    assert!(store.object_version("vb1", "l", locked.version_id()).await.is_ok());
}
