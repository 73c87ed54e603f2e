//! Versions of a key: what a write or a delete does to them as the bucket's versioning
//! state says, reading one version, removing one for good, and listing them all.
//!
//! The current version of a key (a delete marker included) is its record in the
//! object table; the others are in the version table, newest first (see
//! [`keys::VERSION`]). So reading the current version is the point read it was before
//! versioning, and the invariant every function here keeps is: a key with noncurrent
//! versions has a current one, and it is the newest. An old version keeps the chunk
//! references it had as the current one, so keeping it costs no data I/O; removing it
//! drops them.

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::ids::{VersionId, now_ms};
use crate::keys;
use crate::lock::{self, ObjectLock, Retention};
use crate::meta::{TxError, Txn};
use crate::objects::{DeleteCondition, common_prefix};
use crate::records::{BucketRecord, ObjectRecord, VersionStamp, Versioning, decode, encode};
use crate::store::{Store, refs};

type TxResult<T> = Result<T, TxError<StorageError>>;

/// What a delete did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Whether there was a live object (or the named version) to delete.
    pub existed: bool,
    /// The version written (a delete marker) or removed; `None` where the bucket was
    /// never versioned and nothing was versioned.
    pub version_id: Option<VersionId>,
    /// Whether that version is a delete marker.
    pub delete_marker: bool,
}

/// A change to one version's object lock ([`Store::change_object_lock`]).
#[derive(Clone, Copy, Debug)]
pub enum LockChange {
    /// PutObjectRetention: the new retention (`None` lifts it).
    Retention {
        retention: Option<Retention>,
        /// The request may weaken a GOVERNANCE retention.
        bypass_governance: bool,
    },
    /// PutObjectLegalHold: on or off.
    LegalHold(bool),
}

/// One page of [`Store::list_versions`].
#[derive(Debug, Default)]
pub struct VersionPage {
    /// Key, version and whether it is the key's current one, in S3's order: keys
    /// ascending, each key's versions newest first.
    pub versions: Vec<(String, ObjectRecord, bool)>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts after: a key and the version of it listed last, or a
    /// common prefix and `None`.
    pub next: Option<(String, Option<VersionId>)>,
}

/// The bucket's record, read inside the transaction (so that its versioning state and
/// object lock are those the change commits against).
fn bucket_record(tx: &dyn Txn, bucket: &str) -> TxResult<BucketRecord> {
    let key = keys::bucket(bucket);
    match tx.get(&key)? {
        Some(v) => Ok(decode::<BucketRecord>(&key, &v)?),
        None => Err(TxError::Abort(StorageError::NoSuchBucket)),
    }
}

/// The bucket's versioning state, checking the bucket exists inside the transaction.
pub(crate) fn versioning(tx: &dyn Txn, bucket: &str) -> TxResult<Option<Versioning>> {
    Ok(bucket_record(tx, bucket)?.versioning)
}

/// Refuses to drop `rec` where object lock keeps it. A bucket with object lock is always
/// versioned (its versioning cannot be suspended), so the paths that replace a version
/// in place never meet a locked one; this keeps it so should that ever change.
fn check_removable(rec: &ObjectRecord) -> TxResult<()> {
    lock::may_remove(rec.lock.as_ref(), now_ms(), false).map_err(|r| TxError::Abort(r.into()))
}

fn get_record(tx: &dyn Txn, key: &[u8]) -> TxResult<Option<ObjectRecord>> {
    Ok(tx.get(key)?.map(|v| decode(key, &v)).transpose()?)
}

fn release_all(tx: &dyn Txn, rec: &ObjectRecord) -> TxResult<()> {
    for part in &rec.parts {
        refs::release(tx, &part.hash)?;
    }
    Ok(())
}

/// The order of a version newer than `newest`: now, or just below `newest` when the
/// clock says otherwise.
fn next_order(newest: Option<&ObjectRecord>) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let order = u64::MAX - now;
    newest.map_or(order, |n| order.min(n.order().saturating_sub(1)))
}

/// Removes the noncurrent `null` version of `bucket/key`, if there is one, dropping its
/// chunk references.
fn drop_noncurrent_null(tx: &dyn Txn, bucket: &str, key: &str) -> TxResult<()> {
    for k in tx.keys_with_prefix(&keys::versions_of(bucket, key))? {
        if k.ends_with(&[0; 8]) {
            if let Some(rec) = get_record(tx, &k)? {
                check_removable(&rec)?;
                release_all(tx, &rec)?;
            }
            tx.delete(&k)?;
        }
    }
    Ok(())
}

/// Makes `record` (with its chunk references already taken) the current version of
/// `bucket/key`, stamped as the bucket's versioning state says, once `check` accepts the
/// live object it succeeds (`None` when there is none or the current version is a
/// delete marker). The version it succeeds is kept as a noncurrent version, or removed
/// with its references where both are the `null` version (a write to a bucket never
/// versioned, or suspended, replaces the `null` version as S3 does). A new version
/// (not a delete marker) in a bucket with object lock gets the bucket's default
/// retention unless it names its own; a lock on a version of a bucket without object
/// lock is refused. Returns the record as written.
pub(crate) fn install(
    tx: &dyn Txn,
    bucket: &str,
    key: &str,
    mut record: ObjectRecord,
    delete_marker: bool,
    check: impl FnOnce(Option<&ObjectRecord>) -> Result<(), StorageError>,
) -> TxResult<ObjectRecord> {
    let b = bucket_record(tx, bucket)?;
    let state = b.versioning;
    let okey = keys::object(bucket, key);
    let old = get_record(tx, &okey)?;
    check(old.as_ref().filter(|o| !o.is_delete_marker()))?;
    match b.object_lock {
        None if record.lock.is_some_and(|l| l != ObjectLock::default()) => {
            return Err(TxError::Abort(StorageError::ObjectLockNotEnabled));
        }
        Some(cfg) if !delete_marker => {
            if let Some(default) = cfg.default_retention {
                let lock = record.lock.get_or_insert_with(ObjectLock::default);
                if lock.retention.is_none() {
                    lock.retention = Some(default.retention_from(now_ms()));
                }
            }
        }
        _ => {}
    }
    match state {
        None => record.version = None,
        Some(state) => {
            let nonce = match state {
                // Never zero: that is the `null` version's.
                Versioning::Enabled => rand::random::<u64>().max(1),
                Versioning::Suspended => 0,
            };
            record.version = Some(VersionStamp {
                order: next_order(old.as_ref()),
                nonce,
                delete_marker,
            });
            if state == Versioning::Suspended {
                drop_noncurrent_null(tx, bucket, key)?;
            }
        }
    }
    if let Some(old) = old {
        if state.is_none() || (record.nonce() == 0 && old.nonce() == 0) {
            check_removable(&old)?;
            release_all(tx, &old)?;
        } else {
            tx.put(&keys::version(bucket, key, old.order(), old.nonce()), &encode(&old))?;
        }
    }
    tx.put(&okey, &encode(&record))?;
    Ok(record)
}

/// A delete marker written by `owner`.
fn marker(owner: &str) -> ObjectRecord {
    ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        owner: owner.to_owned(),
        headers: Default::default(),
        user_metadata: Vec::new(),
        tags: Vec::new(),
        checksum: None,
        parts: Vec::new(),
        multipart: false,
        acl: None,
        version: None,
        lock: None,
        encryption: None,
    }
}

/// A delete without a version id on a bucket that has (had) versioning: a delete marker
/// becomes the current version.
pub(crate) fn delete_current(
    tx: &dyn Txn,
    bucket: &str,
    key: &str,
    owner: &str,
    check: impl FnOnce(Option<&ObjectRecord>) -> Result<(), StorageError>,
) -> TxResult<Deleted> {
    let rec = install(tx, bucket, key, marker(owner), true, check)?;
    Ok(Deleted {
        existed: false,
        version_id: Some(rec.version_id()),
        delete_marker: true,
    })
}

/// Where version `id` of `bucket/key` is stored, and its record: the object table's key
/// when it is the current version, else its version table key.
fn locate(tx: &dyn Txn, bucket: &str, key: &str, id: VersionId) -> TxResult<Option<(Vec<u8>, ObjectRecord)>> {
    let okey = keys::object(bucket, key);
    if let Some(cur) = get_record(tx, &okey)?
        && cur.version_id() == id
    {
        return Ok(Some((okey, cur)));
    }
    let vkey = match id {
        VersionId::Id { order, nonce } => keys::version(bucket, key, order, nonce),
        VersionId::Null => match tx
            .keys_with_prefix(&keys::versions_of(bucket, key))?
            .into_iter()
            .find(|k| k.ends_with(&[0; 8]))
        {
            Some(k) => k,
            None => return Ok(None),
        },
    };
    Ok(get_record(tx, &vkey)?.map(|r| (vkey, r)))
}

/// Removes version `id` of `bucket/key` for good, dropping its chunk references; when it
/// was the current version, the newest noncurrent one becomes current. Returns the
/// removed version (`None` when there was no such version). A version that fails
/// `cond` (conditional deletes compare the named version) fails the delete, and one
/// object lock keeps (see [`lock::may_remove`]) is refused with `ObjectLocked`; either
/// stays.
pub(crate) fn delete_version(
    tx: &dyn Txn,
    bucket: &str,
    key: &str,
    id: VersionId,
    cond: &DeleteCondition,
    bypass_governance: bool,
) -> TxResult<Option<ObjectRecord>> {
    versioning(tx, bucket)?;
    let found = locate(tx, bucket, key, id)?;
    cond.check(found.as_ref().map(|(_, r)| r))?;
    let Some((at, rec)) = found else {
        return Ok(None);
    };
    lock::may_remove(rec.lock.as_ref(), now_ms(), bypass_governance).map_err(|r| TxError::Abort(r.into()))?;
    release_all(tx, &rec)?;
    tx.delete(&at)?;
    let okey = keys::object(bucket, key);
    if at == okey
        && let Some(next) = tx.keys_with_prefix(&keys::versions_of(bucket, key))?.into_iter().next()
    {
        if let Some(v) = tx.get(&next)? {
            tx.put(&okey, &v)?;
        }
        tx.delete(&next)?;
    }
    Ok(Some(rec))
}

impl Store {
    /// Version `id` of `bucket/key` (a delete marker included: the caller tells its
    /// client), or `NoSuchVersion`.
    pub async fn object_version(self: &Arc<Self>, bucket: &str, key: &str, id: VersionId) -> Result<ObjectRecord> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let current = self
            .point(move |s| {
                let okey = keys::object(&b, &k);
                s.meta
                    .get(&okey)?
                    .map(|v| decode::<ObjectRecord>(&okey, &v))
                    .transpose()
            })
            .await?;
        if let Some(cur) = current
            && cur.version_id() == id
        {
            return Ok(cur);
        }
        match id {
            VersionId::Id { order, nonce } => {
                let vkey = keys::version(bucket, key, order, nonce);
                self.point(move |s| match s.meta.get(&vkey)? {
                    Some(v) => decode(&vkey, &v),
                    None => Err(StorageError::NoSuchVersion),
                })
                .await
            }
            // The `null` version among the noncurrent ones: a scan of the key's versions.
            VersionId::Null => {
                let (bucket, key) = (bucket.to_owned(), key.to_owned());
                self.off_worker(move |s| {
                    let prefix = keys::versions_of(&bucket, &key);
                    let end = keys::prefix_end(&prefix);
                    let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                    for kv in s.meta.range(Bound::Included(&prefix), upper) {
                        let (k, v) = kv?;
                        if k.ends_with(&[0; 8]) {
                            return decode(&k, &v);
                        }
                    }
                    Err(StorageError::NoSuchVersion)
                })
                .await
            }
        }
    }

    /// Removes version `id` of `bucket/key` for good (DeleteObject with a version id), if
    /// it meets `cond`. Removing a version that does not exist is not an error, as in
    /// S3 (unless a condition names it); removing one
    /// object lock keeps is `ObjectLocked` (`bypass_governance`: the request may lift a
    /// GOVERNANCE retention).
    pub async fn delete_object_version(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: VersionId,
        cond: DeleteCondition,
        bypass_governance: bool,
    ) -> Result<Deleted> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            let gone = delete_version(tx, &bucket, &key, id, &cond, bypass_governance)?;
            Ok(Deleted {
                existed: gone.is_some(),
                version_id: Some(id),
                delete_marker: gone.is_some_and(|r| r.is_delete_marker()),
            })
        })
        .await
    }

    /// Replaces version `id` of `bucket/key`'s record without touching its chunks
    /// (tagging, ACL of a named version), in one transaction. `NoSuchVersion` where
    /// there is no such version or it is a delete marker.
    pub async fn update_object_version<F>(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: VersionId,
        f: F,
    ) -> Result<ObjectRecord>
    where
        F: Fn(&mut ObjectRecord) + Send + 'static,
    {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            versioning(tx, &bucket)?;
            let (at, mut rec) = locate(tx, &bucket, &key, id)?.ok_or(StorageError::NoSuchVersion)?;
            if rec.is_delete_marker() {
                return Err(TxError::Abort(StorageError::NoSuchVersion));
            }
            f(&mut rec);
            tx.put(&at, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Changes the retention or legal hold of version `id` of `bucket/key` (the current
    /// version when `None`), as [`LockChange`] says, in one transaction: the bucket must
    /// have object lock, the version must exist and not be a delete marker, and a
    /// retention may be weakened only as [`lock::may_change_retention`] allows. Returns
    /// the version's lock as written.
    pub async fn change_object_lock(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: Option<VersionId>,
        change: LockChange,
    ) -> Result<ObjectLock> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.commit_with(Vec::new(), move |tx, _| {
            if bucket_record(tx, &bucket)?.object_lock.is_none() {
                return Err(TxError::Abort(StorageError::ObjectLockNotEnabled));
            }
            let found = match id {
                Some(id) => locate(tx, &bucket, &key, id)?.ok_or(StorageError::NoSuchVersion)?,
                None => {
                    let okey = keys::object(&bucket, &key);
                    let rec = get_record(tx, &okey)?.ok_or(StorageError::NoSuchKey)?;
                    (okey, rec)
                }
            };
            let (at, mut rec) = found;
            if rec.is_delete_marker() {
                return Err(TxError::Abort(match id {
                    Some(_) => StorageError::NoSuchVersion,
                    None => StorageError::NoSuchKey,
                }));
            }
            let mut lock = rec.lock.unwrap_or_default();
            match change {
                LockChange::Retention {
                    retention,
                    bypass_governance,
                } => {
                    lock::may_change_retention(lock.retention, retention, now_ms(), bypass_governance)
                        .map_err(|r| TxError::Abort(r.into()))?;
                    lock.retention = retention;
                }
                LockChange::LegalHold(on) => lock.legal_hold = on.into(),
            }
            rec.lock = Some(lock);
            tx.put(&at, &encode(&rec))?;
            Ok(lock)
        })
        .await
    }

    /// Lists every version of the keys of `bucket` under `prefix` (ListObjectVersions),
    /// from after `key_marker` (and after its version `version_marker`, when given),
    /// rolling keys up into common prefixes at `delimiter` as object listings do. Runs
    /// off the async workers.
    pub async fn list_versions(
        self: &Arc<Self>,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<VersionId>,
        max: usize,
    ) -> Result<VersionPage> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        let (delimiter, key_marker) = (delimiter.map(str::to_owned), key_marker.map(str::to_owned));
        self.off_worker(move |s| {
            s.scan_versions(
                &bucket,
                &prefix,
                delimiter.as_deref(),
                key_marker.as_deref(),
                version_marker,
                max,
            )
        })
        .await
    }

    fn scan_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<VersionId>,
        max: usize,
    ) -> Result<VersionPage> {
        let obase = keys::object_prefix(bucket);
        let vbase = keys::version_prefix(bucket);
        let with = |base: &[u8], k: &str| {
            let mut v = base.to_vec();
            v.extend_from_slice(k.as_bytes());
            v
        };
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let o_end = keys::prefix_end(&with(&obase, prefix));
        let v_end = keys::prefix_end(&with(&vbase, prefix));

        // Where each table's scan starts.
        let mut o_start = Bound::Included(with(&obase, prefix));
        let mut v_start = Bound::Included(with(&vbase, prefix));
        if let Some(km) = key_marker.filter(|k| k.as_bytes() >= prefix.as_bytes()) {
            match delimiter.and_then(|d| common_prefix(prefix, km, d)) {
                Some(cp) if cp == km => {
                    match (keys::prefix_end(&with(&obase, cp)), keys::prefix_end(&with(&vbase, cp))) {
                        (Some(o), Some(v)) => {
                            o_start = Bound::Included(o);
                            v_start = Bound::Included(v);
                        }
                        _ => return Ok(VersionPage::default()),
                    }
                }
                _ => {
                    let mine = keys::versions_of(bucket, km);
                    o_start = Bound::Excluded(with(&obase, km));
                    // After every version of the marker's key, unless the version marker
                    // is one of them.
                    v_start = match keys::prefix_end(&mine) {
                        Some(e) => Bound::Included(e),
                        None => return Ok(VersionPage::default()),
                    };
                    if let Some(vm) = version_marker {
                        let cur = self.current_version(bucket, km).ok();
                        if cur.is_some_and(|c| c.version_id() == vm) {
                            v_start = Bound::Included(mine);
                        } else if let Some(k) = self.noncurrent_key(bucket, km, vm)? {
                            v_start = Bound::Excluded(k);
                        }
                    }
                }
            }
        }

        let upper = |e: &Option<Vec<u8>>| e.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let (o_upper, v_upper) = (upper(&o_end), upper(&v_end));
        let corrupt = |k: &[u8], reason: String| StorageError::Corrupt {
            key: String::from_utf8_lossy(k).into_owned(),
            reason,
        };
        let mut page = VersionPage::default();
        let mut count = 0usize;
        'scan: loop {
            let mut oi = self.meta.range(as_ref(&o_start), as_ref(&o_upper));
            let mut vi = self.meta.range(as_ref(&v_start), as_ref(&v_upper));
            let mut o_head = oi.next().transpose()?;
            let mut v_head = vi.next().transpose()?;
            loop {
                // The current version of a key comes before its noncurrent ones.
                let current = {
                    let o_name = o_head.as_ref().map(|(k, _)| &k[obase.len()..]);
                    let v_name = v_head.as_ref().map(|(k, _)| version_name(k, vbase.len()));
                    match (o_name, v_name) {
                        (None, None) => break 'scan,
                        (Some(_), None) => true,
                        (None, Some(_)) => false,
                        (Some(o), Some(v)) => o <= v,
                    }
                };
                let (k, v) = if current { o_head.take() } else { v_head.take() }.unwrap_or_default();
                let raw = if current {
                    &k[obase.len()..]
                } else {
                    version_name(&k, vbase.len())
                };
                let name = std::str::from_utf8(raw)
                    .map_err(|e| corrupt(&k, e.to_string()))?
                    .to_owned();
                if count == max {
                    page.truncated = true;
                    break 'scan;
                }
                count += 1;
                if let Some(cp) = delimiter.and_then(|d| common_prefix(prefix, &name, d)) {
                    let cp = cp.to_owned();
                    let next = (
                        keys::prefix_end(&with(&obase, &cp)),
                        keys::prefix_end(&with(&vbase, &cp)),
                    );
                    page.next = Some((cp.clone(), None));
                    page.common_prefixes.push(cp);
                    match next {
                        (Some(o), Some(v)) => {
                            o_start = Bound::Included(o);
                            v_start = Bound::Included(v);
                            continue 'scan;
                        }
                        _ => break 'scan,
                    }
                }
                let rec: ObjectRecord = decode(&k, &v)?;
                page.next = Some((name.clone(), Some(rec.version_id())));
                page.versions.push((name, rec, current));
                if current {
                    o_head = oi.next().transpose()?;
                } else {
                    v_head = vi.next().transpose()?;
                }
            }
        }
        Ok(page)
    }

    /// The version table key of noncurrent version `id` of `bucket/key`, if it exists.
    fn noncurrent_key(&self, bucket: &str, key: &str, id: VersionId) -> Result<Option<Vec<u8>>> {
        match id {
            VersionId::Id { order, nonce } => {
                let k = keys::version(bucket, key, order, nonce);
                Ok(self.meta.get(&k)?.map(|_| k))
            }
            VersionId::Null => {
                let prefix = keys::versions_of(bucket, key);
                let end = keys::prefix_end(&prefix);
                let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                for kv in self.meta.range(Bound::Included(&prefix), upper) {
                    let (k, _) = kv?;
                    if k.ends_with(&[0; 8]) {
                        return Ok(Some(k));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// The object key in a version table key, after the bucket's prefix of `base` bytes.
fn version_name(k: &[u8], base: usize) -> &[u8] {
    k.get(base..k.len().saturating_sub(keys::VERSION_SUFFIX)).unwrap_or(&[])
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
