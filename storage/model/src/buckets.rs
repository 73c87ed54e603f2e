//! Buckets: create, look up, list, delete, and their lifecycle and CORS rules.

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::ids::now_ms;
use crate::keys;
use crate::lock::BucketObjectLock;
use crate::meta::{self, TxError};
use crate::records::{
    BucketAccess, BucketRecord, CorsRule, LegacyLifecycleRule, LifecycleRule, Versioning, decode, encode,
};
use crate::store::Store;

impl Store {
    pub async fn create_bucket(self: &Arc<Self>, name: &str, owner: &str, region: &str) -> Result<BucketRecord> {
        self.create_bucket_with(name, owner, region, None).await
    }

    /// Creates a bucket with an access configuration (a canned ACL or an object
    /// ownership given at creation); `None` is the default one.
    pub async fn create_bucket_with(
        self: &Arc<Self>,
        name: &str,
        owner: &str,
        region: &str,
        access: Option<BucketAccess>,
    ) -> Result<BucketRecord> {
        self.create_bucket_full(name, owner, region, access, false).await
    }

    /// Creates a bucket, with object lock where `object_lock` (CreateBucket with
    /// `x-amz-bucket-object-lock-enabled: true`): such a bucket is versioned from the
    /// start, as S3 makes it, and has no default retention until one is configured.
    pub async fn create_bucket_full(
        self: &Arc<Self>,
        name: &str,
        owner: &str,
        region: &str,
        access: Option<BucketAccess>,
        object_lock: bool,
    ) -> Result<BucketRecord> {
        let rec = BucketRecord {
            owner: owner.to_owned(),
            created_ms: now_ms(),
            region: region.to_owned(),
            access,
            versioning: object_lock.then_some(Versioning::Enabled),
            object_lock: object_lock.then(BucketObjectLock::default),
            encryption: None,
        };
        let (name, out) = (name.to_owned(), rec.clone());
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::bucket(&name);
            if let Some(v) = tx.get(&key)? {
                let existing: BucketRecord = decode(&key, &v)?;
                return Err(TxError::Abort(if existing.owner == out.owner {
                    StorageError::BucketAlreadyOwnedByYou
                } else {
                    StorageError::BucketAlreadyExists
                }));
            }
            tx.put(&key, &encode(&out))?;
            Ok(())
        })
        .await?;
        Ok(rec)
    }

    pub fn bucket(&self, name: &str) -> Result<BucketRecord> {
        let key = keys::bucket(name);
        match self.meta.get(&key)? {
            Some(v) => decode(&key, &v),
            None => Err(StorageError::NoSuchBucket),
        }
    }

    /// Every bucket, read off the async workers.
    pub async fn list_buckets(self: &Arc<Self>) -> Result<Vec<(String, BucketRecord)>> {
        self.off_worker(|s| s.scan_buckets()).await
    }

    fn scan_buckets(&self) -> Result<Vec<(String, BucketRecord)>> {
        let start = [keys::BUCKET];
        let end = [keys::BUCKET + 1];
        let mut out = Vec::new();
        for kv in self.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let name = String::from_utf8_lossy(&k[1..]).into_owned();
            out.push((name, decode(&k, &v)?));
        }
        Ok(out)
    }

    fn has_any(&self, prefix: &[u8]) -> Result<bool> {
        let end = keys::prefix_end(prefix);
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .meta
            .range(Bound::Included(prefix), upper)
            .next()
            .transpose()?
            .is_some())
    }

    /// Deletes a bucket without objects, versions or delete markers. Incomplete multipart uploads do not keep it
    /// alive (tools that empty a bucket only delete objects): they are aborted.
    pub async fn delete_bucket(self: &Arc<Self>, name: &str) -> Result<()> {
        let bucket = name.to_owned();
        let empty = self
            .point(move |s| {
                s.bucket(&bucket)?;
                Ok(!s.has_any(&keys::object_prefix(&bucket))? && !s.has_any(&keys::version_prefix(&bucket))?)
            })
            .await?;
        if !empty {
            return Err(StorageError::BucketNotEmpty);
        }
        loop {
            let page = self.list_uploads(name, "", None, None, None, 1000).await?;
            for u in &page.uploads {
                match self.abort_upload(name, &u.key, &u.id).await {
                    Ok(()) | Err(StorageError::NoSuchUpload) => {}
                    Err(e) => return Err(e),
                }
            }
            if !page.truncated {
                break;
            }
        }
        let name = name.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            if tx.get(&keys::bucket(&name))?.is_none() {
                return Err(TxError::Abort(StorageError::NoSuchBucket));
            }
            tx.delete(&keys::bucket(&name))?;
            tx.delete(&keys::lifecycle(&name))?;
            tx.delete(&keys::lifecycle_rules(&name))?;
            tx.delete(&keys::cors(&name))?;
            // The bucket's proofs of possession go with it: whoever creates a bucket of
            // the same name later must not claim what this one held by its hash.
            crate::dedup::forget_bucket_proofs(tx, &name)?;
            Ok(())
        })
        .await
    }

    /// Changes a bucket's access configuration (ACL, ownership, policy, Block Public
    /// Access) in one transaction, from what it is at that moment.
    pub async fn update_bucket_access<F>(self: &Arc<Self>, bucket: &str, f: F) -> Result<BucketRecord>
    where
        F: Fn(&mut BucketAccess) + Send + 'static,
    {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::bucket(&bucket);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchBucket));
            };
            let mut rec: BucketRecord = decode(&key, &v)?;
            let mut access = rec.access();
            f(&mut access);
            rec.access = Some(access);
            tx.put(&key, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Sets a bucket's versioning state. Versions already written stay whatever the
    /// state becomes; only later writes follow it. A bucket with object lock stays
    /// `Enabled`: suspending would let a write replace its `null` version in place.
    pub async fn set_versioning(self: &Arc<Self>, bucket: &str, state: Versioning) -> Result<BucketRecord> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::bucket(&bucket);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchBucket));
            };
            let mut rec: BucketRecord = decode(&key, &v)?;
            if rec.object_lock.is_some() && state != Versioning::Enabled {
                return Err(TxError::Abort(StorageError::InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                )));
            }
            rec.versioning = Some(state);
            tx.put(&key, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Sets (or with `None`, removes) a bucket's default encryption. Objects already
    /// written keep theirs; only later writes that ask for none take the default.
    pub async fn set_bucket_encryption(
        self: &Arc<Self>,
        bucket: &str,
        encryption: Option<crate::encryption::BucketEncryption>,
    ) -> Result<BucketRecord> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::bucket(&bucket);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchBucket));
            };
            let mut rec: BucketRecord = decode(&key, &v)?;
            rec.encryption.clone_from(&encryption);
            tx.put(&key, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// Sets a bucket's object lock configuration (PutObjectLockConfiguration): its
    /// default retention, or none. This is also how object lock is turned on for an
    /// existing bucket, which S3 allows once its versioning is `Enabled`; it is never
    /// turned off. The default applies to versions written from then on.
    pub async fn set_object_lock(self: &Arc<Self>, bucket: &str, cfg: BucketObjectLock) -> Result<BucketRecord> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::bucket(&bucket);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchBucket));
            };
            let mut rec: BucketRecord = decode(&key, &v)?;
            if rec.versioning != Some(Versioning::Enabled) {
                return Err(TxError::Abort(StorageError::InvalidBucketState(
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                )));
            }
            rec.object_lock = Some(cfg);
            tx.put(&key, &encode(&rec))?;
            Ok(rec)
        })
        .await
    }

    /// A bucket's lifecycle rules; those stored before versioned lifecycle read with
    /// its actions and filters absent.
    pub fn lifecycle(&self, bucket: &str) -> Result<Option<Vec<LifecycleRule>>> {
        let key = keys::lifecycle_rules(bucket);
        if let Some(v) = self.meta.get(&key)? {
            return decode(&key, &v).map(Some);
        }
        let key = keys::lifecycle(bucket);
        let legacy: Option<Vec<LegacyLifecycleRule>> = self.meta.get(&key)?.map(|v| decode(&key, &v)).transpose()?;
        Ok(legacy.map(|rules| rules.into_iter().map(LifecycleRule::from).collect()))
    }

    /// Replaces (or with `None`, removes) a bucket's lifecycle rules.
    pub async fn set_lifecycle(self: &Arc<Self>, bucket: &str, rules: Option<Vec<LifecycleRule>>) -> Result<()> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            Self::require_bucket(tx, &bucket)?;
            tx.delete(&keys::lifecycle(&bucket))?;
            match &rules {
                Some(r) => tx.put(&keys::lifecycle_rules(&bucket), &encode(r))?,
                None => tx.delete(&keys::lifecycle_rules(&bucket))?,
            }
            Ok(())
        })
        .await
    }

    /// A bucket's CORS rules (`None` without a configuration). A point read: preflights
    /// and requests with an `Origin` make one each.
    pub fn cors(&self, bucket: &str) -> Result<Option<Vec<CorsRule>>> {
        let key = keys::cors(bucket);
        self.meta.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Replaces (or with `None`, removes) a bucket's CORS rules.
    pub async fn set_cors(self: &Arc<Self>, bucket: &str, rules: Option<Vec<CorsRule>>) -> Result<()> {
        let bucket = bucket.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            Self::require_bucket(tx, &bucket)?;
            match &rules {
                Some(r) => tx.put(&keys::cors(&bucket), &encode(r))?,
                None => tx.delete(&keys::cors(&bucket))?,
            }
            Ok(())
        })
        .await
    }

    /// Checks the bucket exists inside a transaction, so a write cannot land in a
    /// bucket deleted concurrently.
    pub(crate) fn require_bucket(tx: &dyn meta::Txn, bucket: &str) -> Result<(), TxError<StorageError>> {
        match tx.get(&keys::bucket(bucket))? {
            Some(_) => Ok(()),
            None => Err(TxError::Abort(StorageError::NoSuchBucket)),
        }
    }
}
