//! Objects: commit (PUT, copy, instant upload), look up, delete, list.

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{TxError, Txn};
use crate::records::{ObjectRecord, decode, encode};
use crate::store::{Store, refs};
use fastgate_chunk::StagedChunk;

/// Conditions a write must meet against the object it replaces (S3 conditional writes).
#[derive(Clone, Debug, Default)]
pub struct WriteCondition {
    /// `If-None-Match: *`: only create.
    pub if_none_match_any: bool,
    /// `If-Match: <etag>`: only replace that version.
    pub if_match: Option<String>,
}

impl WriteCondition {
    pub(crate) fn check(&self, existing: Option<&ObjectRecord>) -> Result<(), StorageError> {
        if self.if_none_match_any && existing.is_some() {
            return Err(StorageError::PreconditionFailed);
        }
        if let Some(want) = &self.if_match {
            match existing {
                Some(o) if want == "*" || want.trim_matches('"') == o.etag => {}
                Some(_) => return Err(StorageError::PreconditionFailed),
                None => return Err(StorageError::NoSuchKey),
            }
        }
        Ok(())
    }
}

/// Conditions a delete must meet against the object it deletes (S3 conditional
/// deletes): each one set must hold, and any of them fails on a missing object.
#[derive(Clone, Debug, Default)]
pub struct DeleteCondition {
    /// `If-Match` / `<ETag>`: the object's ETag (quoted or not), or `*`.
    pub if_match: Option<String>,
    /// `x-amz-if-match-last-modified-time` / `<LastModifiedTime>`, to the second.
    pub last_modified_ms: Option<i64>,
    /// `x-amz-if-match-size` / `<Size>`.
    pub size: Option<i64>,
}

impl DeleteCondition {
    fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.last_modified_ms.is_none() && self.size.is_none()
    }

    pub(crate) fn check(&self, existing: Option<&ObjectRecord>) -> Result<(), StorageError> {
        if self.is_empty() {
            return Ok(());
        }
        let Some(o) = existing else {
            return Err(StorageError::NoSuchKey);
        };
        let etag_ok = self
            .if_match
            .as_ref()
            .is_none_or(|want| want == "*" || want.trim_matches('"') == o.etag);
        // HTTP dates carry whole seconds.
        let time_ok = self
            .last_modified_ms
            .is_none_or(|t| t.div_euclid(1000) == o.last_modified_ms.div_euclid(1000));
        let size_ok = self.size.is_none_or(|s| u64::try_from(s).is_ok_and(|s| s == o.size));
        if etag_ok && time_ok && size_ok {
            Ok(())
        } else {
            Err(StorageError::PreconditionFailed)
        }
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectRecord)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned: where the next page starts after.
    pub last: Option<String>,
}

impl Store {
    pub fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
        let k = keys::object(bucket, key);
        match self.meta.get(&k)? {
            Some(v) => decode(&k, &v),
            None => Err(StorageError::NoSuchKey),
        }
    }

    /// Stores `record` under `bucket/key`: publishes `staged` chunks, references every
    /// chunk in `record.parts` and releases those of the object it replaces, in one
    /// durable transaction. Parts not in `staged` must already be stored (instant
    /// upload, copy); if one was collected meanwhile this fails with `ChunkGone`.
    pub async fn put_object(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        staged: Vec<StagedChunk>,
        cond: WriteCondition,
    ) -> Result<()> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let index = self.dedup_index;
        self.commit_with(staged, move |tx, staged| {
            Store::require_bucket(tx, &bucket)?;
            let okey = keys::object(&bucket, &key);
            let old: Option<ObjectRecord> = tx.get(&okey)?.map(|v| decode(&okey, &v)).transpose()?;
            cond.check(old.as_ref())?;
            // Parts point where the chunk really is: a copy already stored elsewhere
            // wins over the staged one, and a trunk slot is known only once published.
            let mut record = record.clone();
            for part in &mut record.parts {
                let chunk = match staged.iter().find(|s| s.hash() == part.hash) {
                    Some(s) => refs::add_staged(tx, s.location, &s.digests, &record.owner, &bucket, index)?,
                    None => refs::add(tx, &part.hash)?,
                };
                part.location = chunk.location;
            }
            if let Some(old) = &old {
                for part in &old.parts {
                    refs::release(tx, &part.hash)?;
                }
            }
            tx.put(&okey, &encode(&record))?;
            Ok(())
        })
        .await
    }

    /// Replaces an object's record without touching its chunks (tagging, metadata).
    pub async fn update_object<F>(self: &Arc<Self>, bucket: &str, key: &str, f: F) -> Result<ObjectRecord>
    where
        F: Fn(&mut ObjectRecord) + Send + 'static,
    {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            let okey = keys::object(&bucket, &key);
            let Some(v) = tx.get(&okey)? else {
                return Err(TxError::Abort(StorageError::NoSuchKey));
            };
            let mut rec: ObjectRecord = decode(&okey, &v)?;
            f(&mut rec);
            tx.put(&okey, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Deletes an object; returns whether there was one.
    pub async fn delete_object(self: &Arc<Self>, bucket: &str, key: &str) -> Result<bool> {
        self.delete_object_if(bucket, key, DeleteCondition::default()).await
    }

    /// Deletes an object if it meets `cond`, checked in the delete's transaction;
    /// returns whether there was one.
    pub async fn delete_object_if(self: &Arc<Self>, bucket: &str, key: &str, cond: DeleteCondition) -> Result<bool> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            Store::require_bucket(tx, &bucket)?;
            delete_in(tx, &bucket, &key, &cond)
        })
        .await
    }

    /// Deletes several objects in one durable transaction; missing keys are fine. Each
    /// key's condition is checked on its own: the answer has one outcome per key, in
    /// order, and a key whose condition fails stays while the others go.
    pub async fn delete_objects(
        self: &Arc<Self>,
        bucket: &str,
        keys: Vec<(String, DeleteCondition)>,
    ) -> Result<Vec<Result<()>>> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            Store::require_bucket(tx, &bucket)?;
            let mut outcomes = Vec::with_capacity(keys.len());
            for (key, cond) in &keys {
                match delete_in(tx, &bucket, key, cond) {
                    Ok(_) => outcomes.push(Ok(())),
                    Err(TxError::Abort(e)) => outcomes.push(Err(e)),
                    Err(e) => return Err(e),
                }
            }
            Ok(outcomes)
        })
        .await
    }

    /// Lists keys of `bucket` under `prefix`, strictly after `after`, rolling keys up
    /// to the first `delimiter` after the prefix into common prefixes. A rolled-up
    /// prefix is skipped with one seek, never walked key by key. Runs off the async
    /// workers (see `off_worker`).
    pub async fn list_objects(
        self: &Arc<Self>,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> Result<ListPage> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        let (delimiter, after) = (delimiter.map(str::to_owned), after.map(str::to_owned));
        self.off_worker(move |s| s.scan_objects(&bucket, &prefix, delimiter.as_deref(), after.as_deref(), max))
            .await
    }

    fn scan_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        max: usize,
    ) -> Result<ListPage> {
        let base = keys::object_prefix(bucket);
        let full = |k: &str| {
            let mut v = base.clone();
            v.extend_from_slice(k.as_bytes());
            v
        };
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let scan_end = keys::prefix_end(&full(prefix));
        let upper = || scan_end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);

        // Where to start: after the marker, and past the whole common prefix when the
        // marker is one.
        let mut start: Vec<u8> = full(prefix);
        let mut start_excl = false;
        if let Some(a) = after.filter(|a| a.as_bytes() >= prefix.as_bytes()) {
            let rolled = delimiter.and_then(|d| common_prefix(prefix, a, d));
            match rolled {
                Some(cp) if cp == a => match keys::prefix_end(&full(cp)) {
                    Some(e) => start = e,
                    None => return Ok(ListPage::default()),
                },
                _ => {
                    start = full(a);
                    start_excl = true;
                }
            }
        }

        let mut page = ListPage::default();
        let mut count = 0usize;
        'scan: loop {
            let lower = if start_excl {
                Bound::Excluded(start.as_slice())
            } else {
                Bound::Included(start.as_slice())
            };
            let mut iter = self.meta.range(lower, upper());
            loop {
                let Some(kv) = iter.next() else { break 'scan };
                let (k, v) = kv?;
                let name = std::str::from_utf8(&k[base.len()..]).map_err(|e| StorageError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: e.to_string(),
                })?;
                if count == max {
                    page.truncated = true;
                    break 'scan;
                }
                if let Some(cp) = delimiter.and_then(|d| common_prefix(prefix, name, d)) {
                    let cp = cp.to_owned();
                    count += 1;
                    page.last = Some(cp.clone());
                    let next = keys::prefix_end(&full(&cp));
                    page.common_prefixes.push(cp);
                    match next {
                        Some(n) => {
                            start = n;
                            start_excl = false;
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                count += 1;
                page.last = Some(name.to_owned());
                page.objects.push((name.to_owned(), decode(&k, &v)?));
            }
        }
        Ok(page)
    }
}

/// Deletes `bucket/key` inside a transaction if it meets `cond`, releasing its chunks;
/// returns whether there was an object. A failed condition aborts with its error and
/// changes nothing.
fn delete_in(tx: &dyn Txn, bucket: &str, key: &str, cond: &DeleteCondition) -> Result<bool, TxError<StorageError>> {
    let okey = keys::object(bucket, key);
    let old: Option<ObjectRecord> = tx.get(&okey)?.map(|v| decode(&okey, &v)).transpose()?;
    cond.check(old.as_ref())?;
    let Some(old) = old else { return Ok(false) };
    for part in &old.parts {
        refs::release(tx, &part.hash)?;
    }
    tx.delete(&okey)?;
    Ok(true)
}

/// The common prefix `key` rolls up into: `prefix` plus everything up to and including
/// the first `delimiter` after it.
pub fn common_prefix<'a>(prefix: &str, key: &'a str, delimiter: &str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    let i = rest.find(delimiter)?;
    Some(&key[..prefix.len() + i + delimiter.len()])
}
