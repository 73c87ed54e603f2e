//! Writes that are applied from the caller's point of view but not yet in the engine:
//! batches waiting for the journal, then for their plain writes into the engine. Readers
//! look here first, so a batch is visible whole from the moment it is applied.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::RwLock;

use super::{Entry, MetaError, Scan, WriteBatch, owned_bound};

/// A key's newest unapplied write: the sequence number of its batch and its value
/// (`None`: deleted).
type Slot = (u64, Option<Vec<u8>>);

/// A key and its unapplied write.
type Write = (Vec<u8>, Option<Vec<u8>>);

#[derive(Default)]
pub(super) struct Unapplied {
    map: RwLock<BTreeMap<Vec<u8>, Slot>>,
}

impl Unapplied {
    /// Records the writes of batch number `seq`, all at once for readers.
    pub fn insert(&self, seq: u64, batch: &WriteBatch) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in &batch.0 {
            map.insert(k.clone(), (seq, v.clone()));
        }
    }

    /// `Some(None)` for a key deleted by an unapplied batch, `None` for a key no
    /// unapplied batch touches.
    pub fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|(_, v)| v.clone())
    }

    /// Forgets the writes of `batches`, now in the engine, unless a later batch than
    /// `through` wrote the same key since.
    pub fn remove(&self, through: u64, batches: &[WriteBatch]) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for k in batches.iter().flat_map(|b| b.0.keys()) {
            if map.get(k).is_some_and(|(seq, _)| *seq <= through) {
                map.remove(k);
            }
        }
    }

    /// The unapplied writes in a range, ascending.
    fn snapshot(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Vec<Write> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() || is_empty_range(from, to) {
            return Vec::new();
        }
        map.range::<Vec<u8>, _>((owned_bound(from), owned_bound(to)))
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect()
    }

    /// `engine`'s scan over the range with the unapplied writes laid over it.
    pub fn merge<'a>(&self, from: Bound<&[u8]>, to: Bound<&[u8]>, reverse: bool, engine: Scan<'a>) -> Scan<'a> {
        let mut over = self.snapshot(from, to);
        if over.is_empty() {
            return engine;
        }
        if reverse {
            over.reverse();
        }
        Box::new(Merged {
            over: over.into_iter().peekable(),
            engine: engine.peekable(),
            reverse,
        })
    }
}

/// Ranges that `BTreeMap::range` refuses (it panics on them) and that hold nothing.
fn is_empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    use Bound::{Excluded, Included};
    match (from, to) {
        (Excluded(a), Excluded(b)) => a >= b,
        (Included(a) | Excluded(a), Included(b) | Excluded(b)) => a > b,
        _ => false,
    }
}

/// Two ordered scans as one; on the same key the unapplied write wins, and a deletion
/// hides the key.
struct Merged<'a> {
    over: Peekable<std::vec::IntoIter<Write>>,
    engine: Peekable<Scan<'a>>,
    reverse: bool,
}

impl Iterator for Merged<'_> {
    type Item = Result<Entry, MetaError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.over.peek(), self.engine.peek()) {
                (None, _) | (Some(_), Some(Err(_))) => return self.engine.next(),
                (Some(_), None) => Ordering::Less,
                (Some((o, _)), Some(Ok((e, _)))) => {
                    let c = o.cmp(e);
                    if self.reverse { c.reverse() } else { c }
                }
            };
            if order == Ordering::Greater {
                return self.engine.next();
            }
            if order == Ordering::Equal {
                self.engine.next();
            }
            if let Some((k, Some(v))) = self.over.next() {
                return Some(Ok((k, v)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(entries: &[(&str, &str)]) -> Scan<'static> {
        let v: Vec<_> = entries
            .iter()
            .map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect();
        Box::new(v.into_iter())
    }

    fn keys(s: Scan<'_>) -> Vec<String> {
        s.map(|e| {
            let (k, v) = e.unwrap();
            format!("{}={}", String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
        })
        .collect()
    }

    #[test]
    fn unapplied_writes_lie_over_the_engine_in_both_directions() {
        let u = Unapplied::default();
        let mut b = WriteBatch::default();
        b.put(b"b", b"new");
        b.delete(b"c");
        b.put(b"e", b"5");
        u.insert(1, &b);
        let engine = [("a", "1"), ("b", "old"), ("c", "3"), ("d", "4")];
        let all = (Bound::Unbounded, Bound::Unbounded);
        assert_eq!(
            keys(u.merge(all.0, all.1, false, scan(&engine))),
            ["a=1", "b=new", "d=4", "e=5"]
        );
        let mut rev = engine;
        rev.reverse();
        assert_eq!(
            keys(u.merge(all.0, all.1, true, scan(&rev))),
            ["e=5", "d=4", "b=new", "a=1"]
        );

        assert_eq!(u.get(b"c"), Some(None));
        assert_eq!(u.get(b"a"), None);
        // A later batch's write to a key survives the removal of an earlier batch.
        let mut later = WriteBatch::default();
        later.put(b"e", b"6");
        u.insert(2, &later);
        u.remove(1, &[b]);
        assert_eq!(u.get(b"b"), None);
        assert_eq!(u.get(b"e"), Some(Some(b"6".to_vec())));
    }
}
