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
    pub legal_hold: bool,
}
