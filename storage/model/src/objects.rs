//! Objects: commit (PUT, copy, instant upload), look up, delete, list.

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::ids::VersionId;
use crate::keys;
use crate::meta::{TxError, Txn};
use crate::records::{BucketRecord, ObjectRecord, decode, encode};
use crate::store::{Store, refs};
use crate::versions::{self, Deleted};
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
    /// The current version of `bucket/key`; `NoSuchKey` when it is a delete marker (see
    /// [`Store::current_version`] for one that tells).
    pub fn object(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
        match self.current_version(bucket, key)? {
            o if o.is_delete_marker() => Err(StorageError::NoSuchKey),
            o => Ok(o),
        }
    }

    /// The current version of `bucket/key`, a delete marker included.
    pub fn current_version(&self, bucket: &str, key: &str) -> Result<ObjectRecord> {
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
    /// Returns the record as written, with its version.
    pub async fn put_object(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        record: ObjectRecord,
        staged: Vec<StagedChunk>,
        cond: WriteCondition,
    ) -> Result<ObjectRecord> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let index = self.dedup_index;
        self.commit_with(staged, move |tx, staged| {
            // Parts point where the chunk really is: a copy already stored elsewhere
            // wins over the staged one, and a trunk slot is known only once published.
            let mut record = record.clone();
            for part in &mut record.parts {
                let chunk = match staged.iter().find(|s| s.hash() == part.hash) {
                    Some(s) => refs::add_staged(tx, s, &record.owner, &bucket, index)?,
                    None => refs::add(tx, &part.hash)?,
                };
                part.location = chunk.location;
            }
            // The bucket's versioning says what becomes of the version this replaces.
            versions::install(tx, &bucket, &key, record, false, |old| cond.check(old))
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
            if rec.is_delete_marker() {
                return Err(TxError::Abort(StorageError::NoSuchKey));
            }
            f(&mut rec);
            tx.put(&okey, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Deletes an object (as DeleteObject without a version id: on a versioned bucket,
    /// a delete marker written as the bucket's owner); returns whether there was one.
    pub async fn delete_object(self: &Arc<Self>, bucket: &str, key: &str) -> Result<bool> {
        Ok(self
            .delete_object_if(bucket, key, DeleteCondition::default(), None)
            .await?
            .existed)
    }

    /// Deletes an object if it meets `cond`, checked in the delete's transaction. On a
    /// bucket that has versioning, writes a delete marker owned by `owner` (the bucket's
    /// owner when `None`) instead.
    pub async fn delete_object_if(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        cond: DeleteCondition,
        owner: Option<String>,
    ) -> Result<Deleted> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            delete_in(tx, &bucket, &key, &cond, owner.as_deref())
        })
        .await
    }

    /// Deletes several objects in one durable transaction; missing keys are fine. A key
    /// with a version id removes that version for good; one without deletes as
    /// [`Store::delete_object_if`]. Each key's condition is checked on its own: the
    /// answer has one outcome per key, in order, and a key whose condition fails (or a
    /// version object lock keeps) stays while the others go.
    pub async fn delete_objects(
        self: &Arc<Self>,
        bucket: &str,
        keys: Vec<(String, Option<VersionId>, DeleteCondition)>,
        owner: Option<String>,
        bypass_governance: bool,
    ) -> Result<Vec<Result<Deleted>>> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            Store::require_bucket(tx, &bucket)?;
            let mut outcomes = Vec::with_capacity(keys.len());
            for (key, version, cond) in &keys {
                let done = match version {
                    Some(id) => {
                        versions::delete_version(tx, &bucket, key, *id, cond, bypass_governance).map(|gone| Deleted {
                            existed: gone.is_some(),
                            version_id: Some(*id),
                            delete_marker: gone.is_some_and(|r| r.is_delete_marker()),
                        })
                    }
                    None => delete_in(tx, &bucket, key, cond, owner.as_deref()),
                };
                match done {
                    Ok(d) => outcomes.push(Ok(d)),
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
        // Only a bucket that has had versioning can hold delete markers, which a listing
        // of objects skips: any other bucket's listing decodes what it returns only.
        let versioned = match self.bucket(bucket) {
            Ok(b) => b.versioning.is_some(),
            Err(StorageError::NoSuchBucket) => false,
            Err(e) => return Err(e),
        };
        let is_marker =
            |k: &[u8], v: &[u8]| -> Result<bool> { Ok(versioned && decode::<ObjectRecord>(k, v)?.is_delete_marker()) };
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
                // A key whose current version is a delete marker is not listed, nor
                // rolled up: a common prefix holding only such keys is not listed either.
                if is_marker(&k, &v)? {
                    continue;
                }
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

/// Deletes `bucket/key` inside a transaction if it meets `cond`, releasing its chunks,
/// or on a bucket that has versioning writes a delete marker owned by `owner` (the
/// bucket's owner when `None`). A failed condition aborts with its error and changes
/// nothing.
fn delete_in(
    tx: &dyn Txn,
    bucket: &str,
    key: &str,
    cond: &DeleteCondition,
    owner: Option<&str>,
) -> Result<Deleted, TxError<StorageError>> {
    let bkey = keys::bucket(bucket);
    let Some(b) = tx.get(&bkey)? else {
        return Err(TxError::Abort(StorageError::NoSuchBucket));
    };
    let b: BucketRecord = decode(&bkey, &b)?;
    let okey = keys::object(bucket, key);
    let old: Option<ObjectRecord> = tx.get(&okey)?.map(|v| decode(&okey, &v)).transpose()?;
    if b.versioning.is_some() {
        let existed = old.as_ref().is_some_and(|o| !o.is_delete_marker());
        let owner = owner.unwrap_or(&b.owner);
        let mut done = versions::delete_current(tx, bucket, key, owner, |live| cond.check(live))?;
        done.existed = existed;
        return Ok(done);
    }
    cond.check(old.as_ref())?;
    let Some(old) = old else {
        return Ok(Deleted::default());
    };
    for part in &old.parts {
        refs::release(tx, &part.hash)?;
    }
    tx.delete(&okey)?;
    Ok(Deleted {
        existed: true,
        ..Deleted::default()
    })
}

/// The common prefix `key` rolls up into: `prefix` plus everything up to and including
/// the first `delimiter` after it.
pub fn common_prefix<'a>(prefix: &str, key: &'a str, delimiter: &str) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    let i = rest.find(delimiter)?;
    Some(&key[..prefix.len() + i + delimiter.len()])
}
