//! The postgres metadata engine itself, against a real PostgreSQL: the order and the
//! bounds of its scans (paged by keyset) are the embedded engines', and transactions
//! of several writers on one row lose no update.

use crate::common;

use std::ops::Bound;
use std::sync::Arc;

use common::pg::Postgres;
use fastgate_model::meta::{MetaEngine, MetaStore, PgStore, WriteBatch};

fn keys() -> Vec<Vec<u8>> {
    // Enough for several pages (a small first one, then larger ones), with the bytes
    // where orders differ (NUL, 0x7F, 0xFF, prefixes of one another).
    let mut keys: Vec<Vec<u8>> = (0..2500u32).map(|i| format!("o/{i:05}").into_bytes()).collect();
    keys.extend([
        vec![],
        vec![0],
        vec![0, 0],
        vec![0x7F],
        vec![0x80],
        vec![0xFF],
        vec![0xFF, 0xFF],
        b"o".to_vec(),
        b"o/".to_vec(),
        b"o/\xff".to_vec(),
    ]);
    keys
}

fn scans(store: &dyn MetaStore) -> Vec<Vec<Vec<u8>>> {
    let collect = |s: fastgate_model::meta::Scan<'_>| s.map(|kv| kv.unwrap().0).collect::<Vec<_>>();
    let (a, b): (&[u8], &[u8]) = (b"o/00100", b"o/02300");
    // Exactly the first two pages' rows (32 + 1024, o/00500 being deleted).
    let (c, d): (&[u8], &[u8]) = (b"o/00000", b"o/01057");
    vec![
        collect(store.range(Bound::Unbounded, Bound::Unbounded)),
        collect(store.range(Bound::Included(a), Bound::Excluded(b))),
        collect(store.range(Bound::Excluded(a), Bound::Included(b))),
        collect(store.range(Bound::Included(&[0x7F]), Bound::Unbounded)),
        collect(store.range(Bound::Included(c), Bound::Excluded(d))),
        collect(store.range_rev(Bound::Included(c), Bound::Excluded(d))),
        collect(store.range_rev(Bound::Unbounded, Bound::Unbounded)),
        collect(store.range_rev(Bound::Included(a), Bound::Excluded(b))),
        collect(store.range_rev(Bound::Unbounded, Bound::Excluded(a))),
    ]
}

#[test]
fn postgres_scans_in_the_order_and_bounds_of_the_embedded_engines_across_pages() {
    let pg = PgStore::open(&Postgres::get().new_database()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sled = fastgate_model::meta::open(MetaEngine::Sled, dir.path()).unwrap();
    for store in [&pg as &dyn MetaStore, &*sled] {
        let mut b = WriteBatch::default();
        for k in keys() {
            b.put(&k, &k);
        }
        b.delete(b"o/00500");
        store.apply(b).unwrap();
    }
    let want = scans(&*sled);
    assert_eq!(want[0].len(), keys().len() - 1);
    assert_eq!(scans(&pg), want);
    assert_eq!(pg.get(b"o/00500").unwrap(), None);
    assert_eq!(pg.get(&[0xFF]).unwrap(), Some(vec![0xFF]));
}

#[test]
fn concurrent_read_modify_write_transactions_on_one_row_lose_no_update() {
    let pg = Arc::new(PgStore::open(&Postgres::get().new_database()).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let pg = pg.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    pg.transact(&mut |tx| {
                        let n = tx
                            .get(b"counter")?
                            .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                        let mut b = WriteBatch::default();
                        b.put(b"counter", &(n + 1).to_be_bytes());
                        Ok(b)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(pg.get(b"counter").unwrap(), Some(100u64.to_be_bytes().to_vec()));
}
