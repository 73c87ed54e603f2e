//! Lifecycle rules applied: which versions a rule expires, as pure decisions over a
//! key's versions (tested here without waiting days), and the store's pass over every
//! bucket that the background task runs. Every removal goes through the same calls as a
//! client's delete, so object lock keeps what it keeps from lifecycle too.

use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::ids::VersionId;
use crate::records::{LifecycleRule, ObjectRecord};
use crate::store::Store;

const DAY_MS: i64 = 86_400_000;

impl LifecycleRule {
    /// Whether the rule's filter takes version `rec` of `key`: the prefix, every tag,
    /// and the size bounds (strict, as S3 has them). A delete marker has no tags or
    /// size: only a prefix-only filter takes it.
    pub fn takes(&self, key: &str, rec: &ObjectRecord) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| rec.tags.contains(t))
            && self.size_greater_than.is_none_or(|s| rec.size > s)
            && self.size_less_than.is_none_or(|s| rec.size < s)
    }
}

/// The noncurrent versions of one key that `rule`'s `NoncurrentVersionExpiration`
/// expires at `now_ms`. `versions` are the key's versions newest first, the current one
/// first: a version became noncurrent when the one before it was written. The newest
/// `newer_noncurrent_versions` noncurrent versions stay whatever their age.
pub fn noncurrent_expired(rule: &LifecycleRule, key: &str, versions: &[ObjectRecord], now_ms: i64) -> Vec<VersionId> {
    let Some(days) = rule.noncurrent_days else {
        return Vec::new();
    };
    let keep = rule.newer_noncurrent_versions.map_or(0, |n| n as usize);
    versions
        .windows(2)
        .enumerate()
        .filter(|(i, w)| {
            *i >= keep && now_ms - w[0].last_modified_ms >= i64::from(days) * DAY_MS && rule.takes(key, &w[1])
        })
        .map(|(_, w)| w[1].version_id())
        .collect()
}

/// Whether `rule`'s `ExpiredObjectDeleteMarker` removes the key's current version: a
/// delete marker that is the key's only version.
pub fn expired_marker(rule: &LifecycleRule, key: &str, versions: &[ObjectRecord]) -> Option<VersionId> {
    match versions {
        [only] if rule.expired_object_delete_marker && only.is_delete_marker() && key.starts_with(&rule.prefix) => {
            Some(only.version_id())
        }
        _ => None,
    }
}

impl Store {
    /// Applies every bucket's lifecycle rules as of `now_ms` (the background task passes
    /// the clock; the time is a parameter so that the decisions can be tested without
    /// waiting days): `Expiration` deletes a current object older than its days as
    /// DeleteObject without a version id does (a delete marker on a versioned bucket);
    /// `NoncurrentVersionExpiration` and `ExpiredObjectDeleteMarker` remove versions as
    /// DeleteObject with a version id does, so a version object lock keeps stays (and
    /// is tried again next time). Returns how many objects and versions went.
    pub async fn apply_lifecycle(self: &Arc<Self>, now_ms: i64) -> Result<usize> {
        let mut n = 0;
        for (bucket, b) in self.list_buckets().await? {
            let Some(rules) = self.lifecycle(&bucket)? else {
                continue;
            };
            for rule in rules.iter().filter(|r| r.enabled) {
                if let Some(days) = rule.expiration_days {
                    n += self
                        .expire_current(&bucket, rule, now_ms - i64::from(days) * DAY_MS)
                        .await?;
                }
                if b.versioning.is_some() && (rule.noncurrent_days.is_some() || rule.expired_object_delete_marker) {
                    n += self.expire_versions(&bucket, rule, now_ms).await?;
                }
            }
        }
        Ok(n)
    }

    async fn expire_current(self: &Arc<Self>, bucket: &str, rule: &LifecycleRule, cutoff: i64) -> Result<usize> {
        let mut n = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .list_objects(bucket, &rule.prefix, None, after.as_deref(), 1000)
                .await?;
            for (key, rec) in &page.objects {
                if rec.last_modified_ms <= cutoff && rule.takes(key, rec) {
                    self.delete_object(bucket, key).await?;
                    n += 1;
                }
            }
            if !page.truncated {
                break;
            }
            after = page.last;
        }
        Ok(n)
    }

    /// The version actions of `rule` on `bucket`: decided over a full listing first,
    /// then applied, so that removals do not move the listing under its own feet.
    async fn expire_versions(self: &Arc<Self>, bucket: &str, rule: &LifecycleRule, now_ms: i64) -> Result<usize> {
        let mut doomed: Vec<(String, VersionId)> = Vec::new();
        let mut group: (String, Vec<ObjectRecord>) = (String::new(), Vec::new());
        let decide = |group: &(String, Vec<ObjectRecord>), doomed: &mut Vec<(String, VersionId)>| {
            let (key, versions) = group;
            for id in noncurrent_expired(rule, key, versions, now_ms) {
                doomed.push((key.clone(), id));
            }
            if let Some(id) = expired_marker(rule, key, versions) {
                doomed.push((key.clone(), id));
            }
        };
        let mut marker: Option<(String, Option<VersionId>)> = None;
        loop {
            let (km, vm) = match &marker {
                Some((k, v)) => (Some(k.as_str()), *v),
                None => (None, None),
            };
            let page = self.list_versions(bucket, &rule.prefix, None, km, vm, 1000).await?;
            for (key, rec, _) in page.versions {
                if key != group.0 {
                    decide(&group, &mut doomed);
                    group = (key, Vec::new());
                }
                group.1.push(rec);
            }
            if !page.truncated {
                break;
            }
            marker = page.next;
        }
        decide(&group, &mut doomed);
        let mut n = 0;
        for (key, id) in doomed {
            match self
                .delete_object_version(bucket, &key, id, Default::default(), false)
                .await
            {
                Ok(_) => n += 1,
                Err(StorageError::ObjectLocked(why)) => {
                    tracing::debug!(bucket, key, %why, "lifecycle leaves a locked version");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::VersionStamp;

    const NOW: i64 = 1_700_000_000_000;

    fn version(written_days_ago: i64, size: u64, marker: bool, nonce: u64) -> ObjectRecord {
        ObjectRecord {
            size,
            etag: String::new(),
            last_modified_ms: NOW - written_days_ago * DAY_MS,
            owner: "o".into(),
            headers: Default::default(),
            user_metadata: Vec::new(),
            tags: Vec::new(),
            checksum: None,
            parts: Vec::new(),
            multipart: false,
            acl: None,
            version: Some(VersionStamp {
                order: u64::MAX - u64::try_from(NOW - written_days_ago * DAY_MS).unwrap_or(0),
                nonce,
                delete_marker: marker,
            }),
            lock: None,
            encryption: None,
        }
    }

    fn rule() -> LifecycleRule {
        LifecycleRule {
            enabled: true,
            noncurrent_days: Some(7),
            ..LifecycleRule::default()
        }
    }

    #[test]
    fn a_version_goes_its_days_after_it_became_noncurrent_not_after_it_was_written() {
        // Written 30 days ago, made noncurrent 3 days ago: kept; the one before it went
        // noncurrent 30 days ago: expired.
        let vs = [
            version(3, 1, false, 3),
            version(30, 1, false, 2),
            version(40, 1, false, 1),
        ];
        assert_eq!(noncurrent_expired(&rule(), "k", &vs, NOW), [vs[2].version_id()]);
    }

    #[test]
    fn newer_noncurrent_versions_are_kept_whatever_their_age() {
        let vs = [
            version(10, 1, false, 4),
            version(20, 1, false, 3),
            version(30, 1, false, 2),
            version(40, 1, false, 1),
        ];
        let r = LifecycleRule {
            newer_noncurrent_versions: Some(2),
            ..rule()
        };
        assert_eq!(noncurrent_expired(&r, "k", &vs, NOW), [vs[3].version_id()]);
    }

    #[test]
    fn filters_by_prefix_tags_and_size_choose_the_versions() {
        let mut tagged = version(30, 500, false, 1);
        tagged.tags = vec![("tier".into(), "scratch".into())];
        let vs = [version(10, 1, false, 2), tagged];
        let r = LifecycleRule {
            tags: vec![("tier".into(), "scratch".into())],
            size_greater_than: Some(100),
            size_less_than: Some(1000),
            prefix: "tmp/".into(),
            ..rule()
        };
        assert_eq!(noncurrent_expired(&r, "tmp/k", &vs, NOW), [vs[1].version_id()]);
        assert!(noncurrent_expired(&r, "keep/k", &vs, NOW).is_empty());
        let small = LifecycleRule {
            size_less_than: Some(500),
            ..r
        };
        assert!(noncurrent_expired(&small, "tmp/k", &vs, NOW).is_empty());
    }

    #[tokio::test]
    async fn rules_stored_before_versioned_lifecycle_read_as_they_were() {
        use crate::records::{LegacyLifecycleRule, encode};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::StorageConfig::single(dir.path())).unwrap();
        store.create_bucket("old", "o", "us-east-1").await.unwrap();
        let legacy = vec![LegacyLifecycleRule {
            id: Some("r".into()),
            prefix: "tmp/".into(),
            enabled: true,
            abort_incomplete_after_days: Some(2),
            expiration_days: Some(9),
        }];
        let key = crate::keys::lifecycle("old");
        store
            .commit_with(Vec::new(), move |tx, _| {
                tx.put(&key, &encode(&legacy))?;
                Ok(())
            })
            .await
            .unwrap();
        let rules = store.lifecycle("old").unwrap().unwrap();
        assert_eq!(
            rules,
            [LifecycleRule {
                id: Some("r".into()),
                prefix: "tmp/".into(),
                enabled: true,
                abort_incomplete_after_days: Some(2),
                expiration_days: Some(9),
                ..LifecycleRule::default()
            }]
        );
        // Writing the rules again moves them to their new key.
        store.set_lifecycle("old", Some(rules.clone())).await.unwrap();
        assert!(store.meta.get(&crate::keys::lifecycle("old")).unwrap().is_none());
        assert_eq!(store.lifecycle("old").unwrap().unwrap(), rules);
    }

    #[test]
    fn only_a_delete_marker_alone_is_an_expired_marker() {
        let r = LifecycleRule {
            expired_object_delete_marker: true,
            ..rule()
        };
        let alone = [version(1, 0, true, 2)];
        assert_eq!(expired_marker(&r, "k", &alone), Some(alone[0].version_id()));
        let with_history = [version(1, 0, true, 2), version(5, 1, false, 1)];
        assert_eq!(expired_marker(&r, "k", &with_history), None);
    }
}
