//! Multipart upload sessions: S3's resume protocol. Parts are ordinary chunks with a
//! reference each, so they survive restarts, and completing an upload assembles nothing:
//! the object becomes the ordered list of its parts' chunks.

use std::ops::Bound;
use std::sync::Arc;

use md5::{Digest as _, Md5};

use crate::checksum::ChecksumAlgorithm;
use crate::error::{Result, StorageError};
use crate::ids::{PartNumber, UploadId, now_ms};
use crate::keys;
use crate::meta::TxError;
use crate::objects::{WriteCondition, common_prefix};
use crate::records::{
    CompletedUpload, ObjectChecksum, ObjectPart, ObjectRecord, PartRecord, UploadRecord, VersionStamp, decode, encode,
};
use crate::store::{Store, refs};
use crate::versions;
use fastgate_chunk::StagedChunk;

/// S3's minimum size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// How long a completed upload still answers a retried completion. A client retries
/// within seconds or minutes of losing an answer; a day covers any retry policy and
/// keeps the records few.
const COMPLETED_KEPT_MS: i64 = 86_400_000;

/// One part as a CompleteMultipartUpload lists it: its number, its ETag, and the
/// checksums the client listed with it (any algorithms; the upload's own is checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    pub number: PartNumber,
    pub etag: String,
    /// Base64 values, as listed.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

impl ListedPart {
    /// A listed part with no checksums.
    pub fn new(number: PartNumber, etag: impl Into<String>) -> Self {
        Self {
            number,
            etag: etag.into(),
            checksums: Vec::new(),
        }
    }

    fn checksum(&self, alg: ChecksumAlgorithm) -> Option<&str> {
        self.checksums.iter().find(|(a, _)| *a == alg).map(|(_, v)| v.trim())
    }
}

/// A completion list in the form a retry is compared in: part numbers and ETags
/// unquoted and lowercase, as `assemble` compares them.
fn normalized(list: &[ListedPart]) -> Vec<(u16, String)> {
    list.iter()
        .map(|p| (p.number.get(), p.etag.trim_matches('"').to_ascii_lowercase()))
        .collect()
}

/// One open upload in a listing.
#[derive(Debug, Clone)]
pub struct UploadEntry {
    pub key: String,
    pub id: UploadId,
    pub record: UploadRecord,
}

#[derive(Debug, Default)]
pub struct UploadPage {
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

fn split_upload_key(base: &[u8], k: &[u8]) -> Option<(String, UploadId)> {
    let rest = k.get(base.len()..)?;
    let sep = rest.iter().rposition(|&b| b == 0)?;
    let key = std::str::from_utf8(&rest[..sep]).ok()?.to_owned();
    let id = UploadId::parse(std::str::from_utf8(&rest[sep + 1..]).ok()?)?;
    Some((key, id))
}

impl Store {
    pub async fn create_upload(self: &Arc<Self>, bucket: &str, key: &str, record: UploadRecord) -> Result<UploadId> {
        let id = UploadId::generate();
        let (bucket, key, uid) = (bucket.to_owned(), key.to_owned(), id.clone());
        self.commit_with(Vec::new(), move |tx, _| {
            Store::require_bucket(tx, &bucket)?;
            tx.put(&keys::upload(&bucket, &key, &uid), &encode(&record))?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    pub fn upload(&self, bucket: &str, key: &str, id: &UploadId) -> Result<UploadRecord> {
        let k = keys::upload(bucket, key, id);
        match self.meta.get(&k)? {
            Some(v) => decode(&k, &v),
            None => Err(StorageError::NoSuchUpload),
        }
    }

    /// Records a part (replacing one with the same number). `staged` holds the part's
    /// new bytes, or is `None` when the chunk is already stored (instant upload, copy).
    pub async fn put_part(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: &UploadId,
        number: PartNumber,
        part: PartRecord,
        staged: Option<StagedChunk>,
    ) -> Result<()> {
        let (bucket, key, id) = (bucket.to_owned(), key.to_owned(), id.clone());
        let index = self.dedup_index;
        self.commit_with(staged.into_iter().collect(), move |tx, staged| {
            let ukey = keys::upload(&bucket, &key, &id);
            let Some(v) = tx.get(&ukey)? else {
                return Err(TxError::Abort(StorageError::NoSuchUpload));
            };
            let mut up: UploadRecord = decode(&ukey, &v)?;
            let chunk = match staged.first() {
                Some(s) => refs::add_staged(tx, s, &up.owner, &bucket, index)?,
                None => refs::add(tx, &part.hash)?,
            };
            let mut part = part.clone();
            part.location = chunk.location;
            let pkey = keys::part(&id, number);
            if let Some(v) = tx.get(&pkey)? {
                let old: PartRecord = decode(&pkey, &v)?;
                refs::release(tx, &old.hash)?;
            }
            tx.put(&pkey, &encode(&part))?;
            up.generation += 1;
            tx.put(&ukey, &encode(&up))?;
            Ok(())
        })
        .await
    }

    /// Parts of an upload in ascending order, strictly after `after`, read off the async
    /// workers.
    pub async fn list_parts(
        self: &Arc<Self>,
        id: &UploadId,
        after: Option<PartNumber>,
        max: usize,
    ) -> Result<(Vec<(PartNumber, PartRecord)>, bool)> {
        let id = id.clone();
        self.off_worker(move |s| s.scan_parts(&id, after, max)).await
    }

    fn scan_parts(
        &self,
        id: &UploadId,
        after: Option<PartNumber>,
        max: usize,
    ) -> Result<(Vec<(PartNumber, PartRecord)>, bool)> {
        let prefix = keys::part_prefix(id);
        let start = match after {
            Some(n) => Bound::Excluded(keys::part(id, n)),
            None => Bound::Included(prefix.clone()),
        };
        let end = keys::prefix_end(&prefix).unwrap_or_default();
        let mut out = Vec::new();
        let mut truncated = false;
        for kv in self
            .meta
            .range(start.as_ref().map(Vec::as_slice), Bound::Excluded(&end))
        {
            let (k, v) = kv?;
            if out.len() == max {
                truncated = true;
                break;
            }
            let n = k
                .get(prefix.len()..)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .and_then(|b| PartNumber::new(i64::from(u16::from_be_bytes(b))))
                .ok_or_else(|| StorageError::Corrupt {
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "bad part number".into(),
                })?;
            out.push((n, decode(&k, &v)?));
        }
        Ok((out, truncated))
    }

    /// Completes an upload with the listed parts (number, ETag), in ascending order.
    /// Parts left out are released. The object is the list of the parts' chunks.
    ///
    /// A retry of a completion that already succeeded (same upload, same list) gets
    /// the first answer for a day, as S3 gives it: the record returned then carries
    /// the size, ETag and checksum of that answer and no parts (the object may have
    /// changed since).
    pub async fn complete_upload(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: &UploadId,
        list: Vec<ListedPart>,
        cond: WriteCondition,
    ) -> Result<ObjectRecord> {
        if list.is_empty() {
            return Err(StorageError::MalformedPartList);
        }
        if list.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(StorageError::InvalidPartOrder);
        }
        loop {
            let up = match self.upload(bucket, key, id) {
                Err(StorageError::NoSuchUpload) => return self.completed_before(bucket, key, id, &list).await,
                r => r?,
            };
            let (all, _) = self.list_parts(id, None, usize::MAX).await?;
            let record = assemble(&up, &all, &list)?;
            let (b, k, uid, seen_gen) = (bucket.to_owned(), key.to_owned(), id.clone(), up.generation);
            let (rec, cond, listed) = (record.clone(), cond.clone(), list.clone());
            let done = CompletedUpload {
                completed_ms: record.last_modified_ms,
                list: normalized(&list),
                size: record.size,
                etag: record.etag.clone(),
                checksum: record.checksum.clone(),
            };
            let res = self
                .commit_with(Vec::new(), move |tx, _| {
                    Store::require_bucket(tx, &b)?;
                    let ukey = keys::upload(&b, &k, &uid);
                    let Some(v) = tx.get(&ukey)? else {
                        return Err(TxError::Abort(StorageError::NoSuchUpload));
                    };
                    let now: UploadRecord = decode(&ukey, &v)?;
                    if now.generation != seen_gen {
                        // A part landed after the scan: scan again.
                        return Ok(None);
                    }
                    // Listed parts hand their reference over to the object; the rest
                    // release theirs.
                    for (n, p) in &all {
                        tx.delete(&keys::part(&uid, *n))?;
                        if !listed.iter().any(|l| l.number == *n) {
                            refs::release(tx, &p.hash)?;
                        }
                    }
                    tx.delete(&ukey)?;
                    tx.put(&keys::completed(&b, &k, &uid), &encode(&done))?;
                    // The bucket's versioning says what becomes of the version this replaces.
                    let written = versions::install(tx, &b, &k, rec.clone(), false, |old| cond.check(old))?;
                    Ok(Some(written))
                })
                .await;
            match res {
                Ok(Some(written)) => return Ok(written),
                Ok(None) => {}
                // Completed by a request that raced with this one.
                Err(StorageError::NoSuchUpload) => return self.completed_before(bucket, key, id, &list).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// The answer of an earlier completion of this upload with the same list, or
    /// `NoSuchUpload` when there was none (or it was with another list, or long ago).
    /// Runs off the async workers: finding the version it wrote scans the key's versions.
    async fn completed_before(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: &UploadId,
        list: &[ListedPart],
    ) -> Result<ObjectRecord> {
        let (bucket, key, id, list) = (bucket.to_owned(), key.to_owned(), id.clone(), list.to_vec());
        self.off_worker(move |s| s.completed_before_blocking(&bucket, &key, &id, &list))
            .await
    }

    fn completed_before_blocking(
        &self,
        bucket: &str,
        key: &str,
        id: &UploadId,
        list: &[ListedPart],
    ) -> Result<ObjectRecord> {
        let ck = keys::completed(bucket, key, id);
        let Some(v) = self.meta.get(&ck)? else {
            return Err(StorageError::NoSuchUpload);
        };
        let done: CompletedUpload = decode(&ck, &v)?;
        if done.list != normalized(list) || now_ms() - done.completed_ms >= COMPLETED_KEPT_MS {
            return Err(StorageError::NoSuchUpload);
        }
        let version = self.completed_version(bucket, key, &done)?;
        Ok(ObjectRecord {
            size: done.size,
            etag: done.etag,
            last_modified_ms: done.completed_ms,
            owner: String::new(),
            headers: Default::default(),
            user_metadata: Vec::new(),
            tags: Vec::new(),
            checksum: done.checksum,
            parts: Vec::new(),
            multipart: true,
            acl: None,
            version,
            lock: None,
            encryption: None,
        })
    }

    /// The version a completion wrote, so that a retry answers the same version id: the
    /// version of the key made at the completion's time with its ETag (a completion's
    /// record keeps no version of its own, and the record format stays as it is). `None`
    /// where it is gone since, or the bucket is not versioned.
    fn completed_version(&self, bucket: &str, key: &str, done: &CompletedUpload) -> Result<Option<VersionStamp>> {
        let same = |r: &ObjectRecord| r.last_modified_ms == done.completed_ms && r.etag == done.etag;
        let okey = keys::object(bucket, key);
        if let Some(v) = self.meta.get(&okey)? {
            let cur: ObjectRecord = decode(&okey, &v)?;
            if same(&cur) {
                return Ok(cur.version);
            }
        }
        let prefix = keys::versions_of(bucket, key);
        let end = keys::prefix_end(&prefix);
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        for kv in self.meta.range(Bound::Included(&prefix), upper) {
            let (k, v) = kv?;
            let rec: ObjectRecord = decode(&k, &v)?;
            if same(&rec) {
                return Ok(rec.version);
            }
        }
        Ok(None)
    }

    /// Forgets completions older than a retry can be. Returns how many.
    async fn expire_completions(self: &Arc<Self>) -> Result<usize> {
        let start = [keys::COMPLETED];
        let end = [keys::COMPLETED + 1];
        let cutoff = now_ms() - COMPLETED_KEPT_MS;
        // A range scan: on the blocking pool, as every listing.
        let old = self
            .off_worker(move |store| {
                let mut old = Vec::new();
                for kv in store.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
                    let (k, v) = kv?;
                    let done: CompletedUpload = decode(&k, &v)?;
                    if done.completed_ms <= cutoff {
                        old.push(k);
                    }
                }
                Ok(old)
            })
            .await?;
        let n = old.len();
        for some in old.chunks(1000) {
            let some = some.to_vec();
            self.commit_with(Vec::new(), move |tx, _| {
                for k in &some {
                    tx.delete(k)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(n)
    }

    pub async fn abort_upload(self: &Arc<Self>, bucket: &str, key: &str, id: &UploadId) -> Result<()> {
        let (parts, _) = self.list_parts(id, None, usize::MAX).await?;
        let (b, k, uid) = (bucket.to_owned(), key.to_owned(), id.clone());
        self.commit_with(Vec::new(), move |tx, _| {
            let ukey = keys::upload(&b, &k, &uid);
            if tx.get(&ukey)?.is_none() {
                return Err(TxError::Abort(StorageError::NoSuchUpload));
            }
            for (n, _) in &parts {
                let pkey = keys::part(&uid, *n);
                if let Some(v) = tx.get(&pkey)? {
                    let p: PartRecord = decode(&pkey, &v)?;
                    refs::release(tx, &p.hash)?;
                    tx.delete(&pkey)?;
                }
            }
            tx.delete(&ukey)?;
            Ok(())
        })
        .await
    }

    /// Open uploads of a bucket, ordered by key then upload id, as S3 lists them; read
    /// off the async workers.
    pub async fn list_uploads(
        self: &Arc<Self>,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadPage> {
        let (bucket, prefix) = (bucket.to_owned(), prefix.to_owned());
        let delimiter = delimiter.map(str::to_owned);
        let (key_marker, upload_id_marker) = (key_marker.map(str::to_owned), upload_id_marker.map(str::to_owned));
        self.off_worker(move |s| {
            s.scan_uploads(
                &bucket,
                &prefix,
                delimiter.as_deref(),
                key_marker.as_deref(),
                upload_id_marker.as_deref(),
                max,
            )
        })
        .await
    }

    fn scan_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max: usize,
    ) -> Result<UploadPage> {
        let base = keys::upload_prefix(bucket);
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut page = UploadPage::default();
        let end = keys::prefix_end(&base).unwrap_or_default();
        let mut count = 0;
        for kv in self.meta.range(Bound::Included(&base), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let Some((key, id)) = split_upload_key(&base, &k) else {
                continue;
            };
            if !key.starts_with(prefix) {
                continue;
            }
            if let Some(m) = key_marker {
                let after = match upload_id_marker {
                    Some(um) => key.as_str() > m || (key == m && id.as_str() > um),
                    None => key.as_str() > m,
                };
                if !after {
                    continue;
                }
            }
            if let Some(cp) = delimiter.and_then(|d| common_prefix(prefix, &key, d)) {
                if page.common_prefixes.last().map(String::as_str) == Some(cp) {
                    continue;
                }
                if count == max {
                    page.truncated = true;
                    break;
                }
                page.common_prefixes.push(cp.to_owned());
                page.next_key_marker = Some(cp.to_owned());
                page.next_upload_id_marker = None;
                count += 1;
                continue;
            }
            if count == max {
                page.truncated = true;
                break;
            }
            page.next_key_marker = Some(key.clone());
            page.next_upload_id_marker = Some(id.to_string());
            page.uploads.push(UploadEntry {
                key,
                id,
                record: decode(&k, &v)?,
            });
            count += 1;
        }
        Ok(page)
    }

    /// Every open upload of every bucket: (bucket, key, id, record), read off the async
    /// workers. For expiry.
    pub async fn all_uploads(self: &Arc<Self>) -> Result<Vec<(String, String, UploadId, UploadRecord)>> {
        self.off_worker(|s| s.scan_all_uploads()).await
    }

    fn scan_all_uploads(&self) -> Result<Vec<(String, String, UploadId, UploadRecord)>> {
        let start = [keys::UPLOAD];
        let end = [keys::UPLOAD + 1];
        let mut out = Vec::new();
        for kv in self.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let rest = &k[1..];
            let Some(sep) = rest.iter().position(|&b| b == 0) else {
                continue;
            };
            let bucket = String::from_utf8_lossy(&rest[..sep]).into_owned();
            let base = &k[..1 + sep + 1];
            if let Some((key, id)) = split_upload_key(base, &k) {
                out.push((bucket, key, id, decode(&k, &v)?));
            }
        }
        Ok(out)
    }

    /// Aborts uploads older than `max_age_ms` (global) or than their bucket's
    /// `AbortIncompleteMultipartUpload` rule, and forgets completions too old to be
    /// retried. Returns how many uploads were aborted.
    pub async fn expire_uploads(self: &Arc<Self>, max_age_ms: Option<i64>) -> Result<usize> {
        self.expire_completions().await?;
        let now = now_ms();
        let mut n = 0;
        for (bucket, key, id, rec) in self.all_uploads().await? {
            let age = now - rec.initiated_ms;
            let by_rule = self.lifecycle(&bucket)?.is_some_and(|rules| {
                rules.iter().any(|r| {
                    r.enabled
                        && key.starts_with(&r.prefix)
                        && r.abort_incomplete_after_days
                            .is_some_and(|d| age >= i64::from(d) * 86_400_000)
                })
            });
            if by_rule || max_age_ms.is_some_and(|m| age >= m) {
                match self.abort_upload(&bucket, &key, &id).await {
                    Ok(()) | Err(StorageError::NoSuchUpload) => n += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }
}

/// Validates the completion list against the stored parts and builds the object.
fn assemble(up: &UploadRecord, all: &[(PartNumber, PartRecord)], list: &[ListedPart]) -> Result<ObjectRecord> {
    let mut parts = Vec::with_capacity(list.len());
    let mut md5s = Md5::new();
    let mut size = 0u64;
    for (i, listed) in list.iter().enumerate() {
        let n = &listed.number;
        let p = all
            .iter()
            .find(|(pn, _)| pn == n)
            .map(|(_, p)| p)
            .filter(|p| p.etag() == listed.etag.trim_matches('"').to_ascii_lowercase())
            .ok_or(StorageError::InvalidPart(n.get()))?;
        // An upload created with a checksum algorithm checks the part checksums listed
        // with it, as S3 does: a wrong one is a wrong part, and a COMPOSITE upload needs
        // one for every part.
        if let Some(alg) = up.checksum_algorithm {
            match listed.checksum(alg) {
                None if !up.checksum_full_object => {
                    return Err(StorageError::MissingPartChecksum {
                        algorithm: alg,
                        part: n.get(),
                    });
                }
                Some(v)
                    if p.checksum
                        .as_ref()
                        .is_some_and(|(_, want)| crate::checksum::b64(want) != v) =>
                {
                    return Err(StorageError::InvalidPart(n.get()));
                }
                None | Some(_) => {}
            }
        }
        if i + 1 < list.len() && p.size < MIN_PART_SIZE {
            return Err(StorageError::EntityTooSmall {
                part: n.get(),
                size: p.size,
            });
        }
        md5s.update(p.md5);
        size += p.size;
        parts.push(ObjectPart {
            hash: p.hash,
            location: p.location,
            size: p.size,
            md5: p.md5,
            checksum: p.checksum.as_ref().map(|(_, v)| v.clone()),
        });
    }
    let checksum = match up.checksum_algorithm {
        Some(alg) => {
            let sums: Option<Vec<&Vec<u8>>> = parts.iter().map(|p| p.checksum.as_ref()).collect();
            let sums = sums.ok_or(StorageError::InvalidPart(list[0].number.get()))?;
            if up.checksum_full_object && alg.is_crc() {
                let mut acc = sums[0].clone();
                for (s, p) in sums.iter().zip(&parts).skip(1) {
                    acc = alg.combine(&acc, s, p.size).unwrap_or_default();
                }
                Some(ObjectChecksum {
                    algorithm: alg,
                    value: acc,
                    parts: None,
                })
            } else {
                let cat: Vec<u8> = sums.iter().flat_map(|s| s.iter().copied()).collect();
                Some(ObjectChecksum {
                    algorithm: alg,
                    value: alg.digest(&cat),
                    parts: Some(u32::try_from(parts.len()).unwrap_or(u32::MAX)),
                })
            }
        }
        None => None,
    };
    Ok(ObjectRecord {
        size,
        etag: format!("{}-{}", hex::encode(md5s.finalize()), list.len()),
        last_modified_ms: now_ms(),
        owner: up.owner.clone(),
        headers: up.headers.clone(),
        user_metadata: up.user_metadata.clone(),
        tags: up.tags.clone(),
        checksum,
        parts,
        multipart: true,
        acl: up.acl.clone(),
        version: None,
        lock: up.lock,
        encryption: up.encryption.clone(),
    })
}
