//! The postgres metadata engine itself, against a real PostgreSQL: the order and the
//! bounds of its scans (paged by keyset) are the embedded engines', and transactions
//! of several writers on one row lose no update.

use crate::common;

use std::ops::Bound;
use std::sync::Arc;

use common::pg::Postgres;
use fastgate_model::meta::{MetaEngine, MetaStore, PgStore, WriteBatch, counter};

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

/// Runs, for each of three stores over one database (three gateways), `n` transactions
/// that each add 1 to the counter at `key(writer)` and write a row of their own (as an
/// object record), and returns the counter's total and how many runs conflicted.
/// `read` makes each one read the counter and write the sum; otherwise it adds
/// ([`WriteBatch::add`]).
fn conflicts_of(key: fn(u64) -> Vec<u8>, read: bool, n: u64) -> (i64, u64) {
    let url = Postgres::get().new_database();
    let stores: Vec<Arc<PgStore>> = (0..3).map(|_| Arc::new(PgStore::open(&url).unwrap())).collect();
    let threads: Vec<_> = stores
        .iter()
        .map(|pg| {
            let pg = pg.clone();
            std::thread::spawn(move || {
                let writer = pg.writer().unwrap();
                for i in 0..n {
                    pg.transact(&mut |tx| {
                        let k = key(writer);
                        let mut b = WriteBatch::default();
                        if read {
                            let now = counter(tx.get(&k)?.as_deref());
                            b.put(&k, &(now + 1).to_be_bytes());
                        } else {
                            b.add(&k, 1);
                        }
                        b.put(format!("o/{writer}/{i}").as_bytes(), b"x");
                        Ok(b)
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = stores[0]
        .range(Bound::Included(b"r/"), Bound::Excluded(b"r0"))
        .map(|kv| counter(Some(&kv.unwrap().1)))
        .sum();
    (total, stores.iter().map(|s| s.conflicts()).sum())
}

#[test]
fn writers_that_add_to_counters_of_their_own_do_not_conflict_where_one_counter_would() {
    let one = |_| b"r/hot".to_vec();
    let own = |w: u64| [&b"r/hot/"[..], &w.to_be_bytes()].concat();
    let n = 100;
    let mut last = 0;
    // The first three are what a chunk's reference count would cost kept otherwise: one
    // row conflicts on the row, and a row each that is read conflicts on the index page
    // the rows share (PostgreSQL's predicate locks of a B-tree are its pages).
    for (name, key, read) in [
        ("one row, read and written", one as fn(u64) -> Vec<u8>, true),
        ("a row each, read and written", own, true),
        ("one row, added to", one, false),
        ("a row each, added to", own, false),
    ] {
        let (total, conflicts) = conflicts_of(key, read, n);
        assert_eq!(total, 3 * n as i64, "{name}: no addition is lost");
        eprintln!("{} additions by 3 writers, {name}: {conflicts} conflicts", 3 * n);
        last = conflicts;
    }
    // A transaction that reads nothing and writes only rows of its own has nothing to
    // conflict on.
    assert_eq!(last, 0);
}
