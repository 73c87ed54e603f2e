//! Object lock (WORM): a bucket's lock configuration and a version's retention and
//! legal hold, as records keep them. S3 never turns a bucket's lock off once it is on,
//! so the bucket record's configuration being present is what "lock enabled" means.

use serde::{Deserialize, Serialize};

/// How strictly a retention holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// The bucket owner may shorten or lift it with `x-amz-bypass-governance-retention`.
    Governance,
    /// Nobody may shorten or lift it before its date; it can only be extended.
    Compliance,
}

/// A version's retention: protected until the date, in milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub retain_until_ms: i64,
}

/// The length of a default retention, as S3 configures it (one of the two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

/// The retention a bucket gives every new version that does not name its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    pub period: RetentionPeriod,
}

/// A bucket's object lock configuration; present only on a bucket created with lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketObjectLock {
    pub default_retention: Option<DefaultRetention>,
}

/// What protects one version (or what an upload's completed object will carry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    pub retention: Option<Retention>,
    pub legal_hold: LegalHold,
}

/// A version's legal hold. A hold never placed and one placed and lifted both let the
/// version go; S3 tells them apart in GetObjectLegalHold only (NoSuchObjectLockConfiguration
/// for the first, `OFF` for the second).
///
/// The variant order is the record format: postcard writes a variant as its index, one
/// byte, so `Off` and `On` are the bytes of the `false` and `true` that records before
/// this type held, and those records read as before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegalHold {
    Off,
    On,
    #[default]
    NeverSet,
}

impl LegalHold {
    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

impl From<bool> for LegalHold {
    fn from(on: bool) -> Self {
        if on { Self::On } else { Self::Off }
    }
}

const DAY_MS: i64 = 86_400_000;

impl RetentionPeriod {
    /// The retain-until date of a version written at `from_ms`. A year is 365 days, as
    /// AWS counts a default retention's years.
    pub fn until_ms(self, from_ms: i64) -> i64 {
        let days = match self {
            Self::Days(d) => i64::from(d),
            Self::Years(y) => i64::from(y) * 365,
        };
        from_ms.saturating_add(days.saturating_mul(DAY_MS))
    }
}

impl DefaultRetention {
    /// The retention the default gives a version written at `now_ms`.
    pub fn retention_from(self, now_ms: i64) -> Retention {
        Retention {
            mode: self.mode,
            retain_until_ms: self.period.until_ms(now_ms),
        }
    }
}

impl Retention {
    /// Whether the retention still holds at `now_ms` (it ends at its date).
    pub fn holds_at(self, now_ms: i64) -> bool {
        self.retain_until_ms > now_ms
    }
}

impl ObjectLock {
    /// The retention that still holds at `now_ms`, if any.
    pub fn active_retention(&self, now_ms: i64) -> Option<Retention> {
        self.retention.filter(|r| r.holds_at(now_ms))
    }
}

/// Why object lock refuses a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockRefusal {
    /// The version is under a legal hold.
    #[error("the version is under a legal hold")]
    LegalHold,
    /// A retention that still holds: COMPLIANCE, or GOVERNANCE without a bypass.
    #[error("the version is under a retention that still holds")]
    Retained,
}

/// Whether a version protected by `lock` may be removed for good at `now_ms`. A legal
/// hold keeps it whatever else holds; a COMPLIANCE retention until its date; a
/// GOVERNANCE retention until its date unless `bypass_governance` (the request carried
/// `x-amz-bypass-governance-retention: true` and its principal may bypass). Nothing else
/// keeps it: this is the one decision every path that removes a version asks.
pub fn may_remove(lock: Option<&ObjectLock>, now_ms: i64, bypass_governance: bool) -> Result<(), LockRefusal> {
    let Some(lock) = lock else { return Ok(()) };
    if lock.legal_hold.is_on() {
        return Err(LockRefusal::LegalHold);
    }
    match lock.active_retention(now_ms) {
        None => Ok(()),
        Some(r) if r.mode == RetentionMode::Governance && bypass_governance => Ok(()),
        Some(_) => Err(LockRefusal::Retained),
    }
}

/// Whether a version's retention may go from `old` to `new` at `now_ms`. A retention that
/// no longer holds may be replaced by anything. One that holds may be kept or
/// strengthened: the same date or a later one, in the same mode or from GOVERNANCE to
/// COMPLIANCE. Anything else (a shorter date, COMPLIANCE to GOVERNANCE, removing it) is a
/// weakening, which a COMPLIANCE retention never allows and a GOVERNANCE one allows only
/// with `bypass_governance`.
pub fn may_change_retention(
    old: Option<Retention>,
    new: Option<Retention>,
    now_ms: i64,
    bypass_governance: bool,
) -> Result<(), LockRefusal> {
    let Some(old) = old.filter(|r| r.holds_at(now_ms)) else {
        return Ok(());
    };
    let strengthens = new.is_some_and(|n| {
        n.retain_until_ms >= old.retain_until_ms && (n.mode == old.mode || n.mode == RetentionMode::Compliance)
    });
    if strengthens || (old.mode == RetentionMode::Governance && bypass_governance) {
        Ok(())
    } else {
        Err(LockRefusal::Retained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn retention(mode: RetentionMode, until: i64) -> Retention {
        Retention {
            mode,
            retain_until_ms: until,
        }
    }

    fn locked(mode: RetentionMode, until: i64) -> ObjectLock {
        ObjectLock {
            retention: Some(retention(mode, until)),
            legal_hold: LegalHold::NeverSet,
        }
    }

    #[test]
    fn an_unprotected_version_may_be_removed() {
        assert_eq!(may_remove(None, NOW, false), Ok(()));
        assert_eq!(may_remove(Some(&ObjectLock::default()), NOW, false), Ok(()));
    }

    #[test]
    fn a_compliance_retention_keeps_a_version_until_its_date_even_with_a_bypass() {
        let l = locked(RetentionMode::Compliance, NOW + 1);
        assert_eq!(may_remove(Some(&l), NOW, true), Err(LockRefusal::Retained));
        assert_eq!(may_remove(Some(&l), NOW + 1, false), Ok(()));
    }

    #[test]
    fn a_governance_retention_yields_to_a_bypass_only() {
        let l = locked(RetentionMode::Governance, NOW + 1000);
        assert_eq!(may_remove(Some(&l), NOW, false), Err(LockRefusal::Retained));
        assert_eq!(may_remove(Some(&l), NOW, true), Ok(()));
    }

    #[test]
    fn a_legal_hold_keeps_a_version_whatever_its_retention() {
        let l = ObjectLock {
            retention: Some(retention(RetentionMode::Governance, NOW - 1)),
            legal_hold: LegalHold::On,
        };
        assert_eq!(may_remove(Some(&l), NOW, true), Err(LockRefusal::LegalHold));
    }

    /// Records written when the legal hold was a `bool` read as `Off` and `On`.
    #[test]
    fn a_legal_hold_reads_from_the_bool_records_held_before() {
        for (old, new) in [(false, LegalHold::Off), (true, LegalHold::On)] {
            let bytes = postcard::to_stdvec(&old).unwrap();
            assert_eq!(postcard::from_bytes::<LegalHold>(&bytes).unwrap(), new);
        }
    }

    #[test]
    fn a_compliance_date_can_only_be_extended() {
        let old = Some(retention(RetentionMode::Compliance, NOW + 1000));
        let later = Some(retention(RetentionMode::Compliance, NOW + 2000));
        let sooner = Some(retention(RetentionMode::Compliance, NOW + 500));
        let governance = Some(retention(RetentionMode::Governance, NOW + 2000));
        assert_eq!(may_change_retention(old, later, NOW, false), Ok(()));
        assert_eq!(may_change_retention(old, sooner, NOW, true), Err(LockRefusal::Retained));
        assert_eq!(
            may_change_retention(old, governance, NOW, true),
            Err(LockRefusal::Retained)
        );
        assert_eq!(may_change_retention(old, None, NOW, true), Err(LockRefusal::Retained));
    }

    #[test]
    fn a_governance_retention_is_shortened_or_lifted_only_with_a_bypass() {
        let old = Some(retention(RetentionMode::Governance, NOW + 1000));
        let sooner = Some(retention(RetentionMode::Governance, NOW + 500));
        let compliance = Some(retention(RetentionMode::Compliance, NOW + 1000));
        assert_eq!(
            may_change_retention(old, sooner, NOW, false),
            Err(LockRefusal::Retained)
        );
        assert_eq!(may_change_retention(old, None, NOW, false), Err(LockRefusal::Retained));
        assert_eq!(may_change_retention(old, sooner, NOW, true), Ok(()));
        assert_eq!(may_change_retention(old, None, NOW, true), Ok(()));
        assert_eq!(may_change_retention(old, compliance, NOW, false), Ok(()));
    }

    #[test]
    fn a_retention_past_its_date_may_be_replaced_by_anything() {
        let old = Some(retention(RetentionMode::Compliance, NOW - 1));
        assert_eq!(may_change_retention(old, None, NOW, false), Ok(()));
    }

    #[test]
    fn a_default_retention_counts_days_and_years_of_365_days() {
        assert_eq!(RetentionPeriod::Days(2).until_ms(NOW), NOW + 2 * DAY_MS);
        assert_eq!(RetentionPeriod::Years(1).until_ms(NOW), NOW + 365 * DAY_MS);
    }
}
