//! Object lock (WORM) through a real client: lock-enabled buckets, default retention,
//! retention and legal hold on versions, and their enforcement wherever a version could
//! disappear; bad lock input refused with AWS's codes.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete, ObjectIdentifier,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use common::*;

type Client = aws_sdk_s3::Client;

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A date `secs` seconds from now, whole seconds (as the header carries it).
fn in_secs(secs: i64) -> DateTime {
    DateTime::from_secs(now_secs() + secs)
}

async fn create_locked_bucket(c: &Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create locked bucket {name}: {e:?}"));
}

async fn set_default(c: &Client, bucket: &str, mode: ObjectLockRetentionMode, days: Option<i32>, years: Option<i32>) {
    let cfg = lock_config(mode, days, years);
    c.put_object_lock_configuration()
        .bucket(bucket)
        .object_lock_configuration(cfg)
        .send()
        .await
        .expect("put object lock configuration");
}

fn lock_config(mode: ObjectLockRetentionMode, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(mode)
                        .set_days(days)
                        .set_years(years)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// Writes `body` and returns the version id the write answered.
async fn put_version(c: &Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        .expect("a version id")
        .to_owned()
}

/// Writes `body` with a retention of `mode` until `until`; returns its version id.
async fn put_retained(c: &Client, bucket: &str, key: &str, mode: ObjectLockMode, until: DateTime) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"protected"))
        .object_lock_mode(mode)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .expect("put with retention")
        .version_id()
        .expect("a version id")
        .to_owned()
}

async fn version_exists(c: &Client, bucket: &str, key: &str, version: &str) -> bool {
    c.head_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .is_ok()
}

fn retention(mode: ObjectLockRetentionMode, until: DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(until)
        .build()
}

async fn put_retention(
    c: &Client,
    bucket: &str,
    key: &str,
    version: &str,
    r: ObjectLockRetention,
    bypass: bool,
) -> Result<(), String> {
    let mut req = c
        .put_object_retention()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .retention(r);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(|_| ()).map_err(|e| {
        let (code, _) = sdk_error(&e);
        code.unwrap_or_else(|| format!("{e:?}"))
    })
}

#[tokio::test]
async fn a_bucket_created_with_object_lock_is_versioned_and_cannot_be_suspended() {
    let srv = Server::start();
    let c = srv.client();
    create_locked_bucket(&c, "worm").await;
    let v = c
        .get_bucket_versioning()
        .bucket("worm")
        .send()
        .await
        .expect("versioning");
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let cfg = c
        .get_object_lock_configuration()
        .bucket("worm")
        .send()
        .await
        .expect("lock configuration");
    let cfg = cfg.object_lock_configuration().expect("a configuration");
    assert_eq!(cfg.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(cfg.rule().is_none(), "no default retention until one is configured");

    let res = c
        .put_bucket_versioning()
        .bucket("worm")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_eq!(assert_code(res, "InvalidBucketState"), 409);
    let v = c
        .get_bucket_versioning()
        .bucket("worm")
        .send()
        .await
        .expect("versioning");
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
}

#[tokio::test]
async fn object_lock_configuration_round_trips_and_is_absent_where_none_was_set() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "plain").await;
    let res = c.get_object_lock_configuration().bucket("plain").send().await;
    assert_eq!(assert_code(res, "ObjectLockConfigurationNotFoundError"), 404);
    // Turning lock on needs versioning first, as S3 has it.
    let res = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(lock_config(ObjectLockRetentionMode::Governance, Some(1), None))
        .send()
        .await;
    assert_eq!(assert_code(res, "InvalidBucketState"), 409);
    c.put_bucket_versioning()
        .bucket("plain")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
    set_default(&c, "plain", ObjectLockRetentionMode::Governance, Some(1), None).await;
    let got = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .expect("get");
    let d = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .expect("the default retention");
    assert_eq!(
        (d.mode(), d.days(), d.years()),
        (Some(&ObjectLockRetentionMode::Governance), Some(1), None)
    );

    set_default(&c, "plain", ObjectLockRetentionMode::Compliance, None, Some(2)).await;
    let got = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .expect("get");
    let d = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .expect("the default retention");
    assert_eq!(
        (d.mode(), d.days(), d.years()),
        (Some(&ObjectLockRetentionMode::Compliance), None, Some(2))
    );

    // Days and Years together, or a period that is not positive, change nothing.
    let res = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(lock_config(ObjectLockRetentionMode::Governance, Some(1), Some(1)))
        .send()
        .await;
    assert_eq!(assert_code(res, "MalformedXML"), 400);
    let res = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(lock_config(ObjectLockRetentionMode::Governance, Some(0), None))
        .send()
        .await;
    assert_eq!(assert_code(res, "InvalidArgument"), 400);
    let got = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .expect("get");
    let years = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .and_then(|d| d.years());
    assert_eq!(years, Some(2));
}

#[tokio::test]
async fn the_default_retention_protects_every_new_version() {
    let srv = Server::start();
    let c = srv.client();
    create_locked_bucket(&c, "dflt").await;
    set_default(&c, "dflt", ObjectLockRetentionMode::Compliance, Some(1), None).await;
    let v = put_version(&c, "dflt", "k", b"data").await;

    let head = c.head_object().bucket("dflt").key("k").send().await.expect("head");
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let until = head
        .object_lock_retain_until_date()
        .expect("a retain-until date")
        .secs();
    assert!((until - (now_secs() + 86_400)).abs() < 60, "one day ahead: {until}");
    let got = c
        .get_object_retention()
        .bucket("dflt")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("retention");
    let r = got.retention().expect("retention");
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Compliance));

    let res = c.delete_object().bucket("dflt").key("k").version_id(&v).send().await;
    assert_eq!(assert_code(res, "AccessDenied"), 403);
    // A delete without a version id writes a delete marker, which nothing forbids.
    let out = c.delete_object().bucket("dflt").key("k").send().await.expect("delete");
    assert_eq!(out.delete_marker(), Some(true));
    assert!(version_exists(&c, "dflt", "k", &v).await);
}

#[tokio::test]
async fn a_locked_version_survives_delete_object_delete_objects_and_gc_then_goes_once_its_retention_passes() {
    let srv = Server::with_config("[gc]\ngrace_period_secs = 0\n");
    let c = srv.client();
    create_locked_bucket(&c, "keep").await;
    let until = now_secs() + 4;
    let v = put_retained(&c, "keep", "k", ObjectLockMode::Compliance, DateTime::from_secs(until)).await;

    let res = c.delete_object().bucket("keep").key("k").version_id(&v).send().await;
    let (code, status) = match &res {
        Err(e) => sdk_error(e),
        Ok(_) => panic!("a locked version was deleted"),
    };
    assert_eq!((code.as_deref(), status), (Some("AccessDenied"), Some(403)));
    // Nor with a bypass: COMPLIANCE yields to nobody.
    let res = c
        .delete_object()
        .bucket("keep")
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(res, "AccessDenied");

    let out = c
        .delete_objects()
        .bucket("keep")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("k").version_id(&v).build().expect("id"))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default()))
        .collect();
    assert_eq!(errors, [("k", "AccessDenied")]);
    assert!(out.deleted().is_empty());

    // The key's current version becomes a delete marker; the locked version stays, and
    // garbage collection leaves its data alone.
    c.delete_object().bucket("keep").key("k").send().await.expect("marker");
    let r = srv.signed("POST", "/_fastgate/gc", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = c
        .get_object()
        .bucket("keep")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("the locked version reads")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes();
    assert_eq!(&body[..], b"protected");
    let res = c.delete_bucket().bucket("keep").send().await;
    assert_code(res, "BucketNotEmpty");

    // Once the date has passed, the version goes as any other.
    let wait = until + 1 - now_secs();
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(wait).unwrap_or(0))).await;
    }
    c.delete_object()
        .bucket("keep")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("delete after the retention");
    assert!(!version_exists(&c, "keep", "k", &v).await);
}

#[tokio::test]
async fn a_compliance_date_cannot_be_shortened() {
    let srv = Server::start();
    let c = srv.client();
    create_locked_bucket(&c, "comp").await;
    let until = now_secs() + 3600;
    let v = put_retained(&c, "comp", "k", ObjectLockMode::Compliance, DateTime::from_secs(until)).await;

    let sooner = retention(ObjectLockRetentionMode::Compliance, DateTime::from_secs(until - 1800));
    assert_eq!(
        put_retention(&c, "comp", "k", &v, sooner.clone(), false).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        put_retention(&c, "comp", "k", &v, sooner, true).await,
        Err("AccessDenied".into()),
        "a bypass does not apply to COMPLIANCE"
    );
    let weaker = retention(ObjectLockRetentionMode::Governance, DateTime::from_secs(until + 60));
    assert_eq!(
        put_retention(&c, "comp", "k", &v, weaker, true).await,
        Err("AccessDenied".into())
    );
    let later = retention(ObjectLockRetentionMode::Compliance, DateTime::from_secs(until + 3600));
    assert_eq!(put_retention(&c, "comp", "k", &v, later, false).await, Ok(()));
    let got = c
        .get_object_retention()
        .bucket("comp")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("retention");
    let date = got.retention().and_then(|r| r.retain_until_date()).expect("date");
    assert_eq!(date.secs(), until + 3600);
}

#[tokio::test]
async fn a_governance_retention_yields_only_to_a_principal_allowed_to_bypass_it() {
    let srv = Server::with_second_user("");
    let (c, other) = (srv.client(), srv.client_as(USER2_ACCESS_KEY, USER2_SECRET_KEY));
    create_locked_bucket(&c, "gov").await;
    // The second user may delete versions and set retention, but not bypass governance.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"{USER2_ACCESS_KEY}"}},
          "Action":["s3:DeleteObject","s3:DeleteObjectVersion","s3:PutObjectRetention","s3:GetObject"],
          "Resource":"arn:aws:s3:::gov/*"}}]}}"#
    );
    c.put_bucket_policy()
        .bucket("gov")
        .policy(policy)
        .send()
        .await
        .expect("policy");
    let until = now_secs() + 3600;
    let v = put_retained(&c, "gov", "k", ObjectLockMode::Governance, DateTime::from_secs(until)).await;

    // The lock headers are for who may read the retention: the owner, not the other user.
    let seen = |h: &aws_sdk_s3::operation::head_object::HeadObjectOutput| h.object_lock_mode().cloned();
    let own = c.head_object().bucket("gov").key("k").send().await.expect("head");
    assert_eq!(seen(&own), Some(ObjectLockMode::Governance));
    let theirs = other.head_object().bucket("gov").key("k").send().await.expect("head");
    assert_eq!(seen(&theirs), None);

    let res = c.delete_object().bucket("gov").key("k").version_id(&v).send().await;
    assert_code(res, "AccessDenied");
    let res = other
        .delete_object()
        .bucket("gov")
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(res, "AccessDenied");
    let sooner = retention(ObjectLockRetentionMode::Governance, DateTime::from_secs(until - 60));
    assert_eq!(
        put_retention(&other, "gov", "k", &v, sooner.clone(), true).await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        put_retention(&c, "gov", "k", &v, sooner.clone(), false).await,
        Err("AccessDenied".into())
    );
    // The owner may, saying so: in a DeleteObjects batch too.
    let v2 = put_retained(&c, "gov", "k2", ObjectLockMode::Governance, DateTime::from_secs(until)).await;
    let batch = || {
        Delete::builder()
            .objects(
                ObjectIdentifier::builder()
                    .key("k2")
                    .version_id(&v2)
                    .build()
                    .expect("id"),
            )
            .build()
            .expect("delete")
    };
    let out = c
        .delete_objects()
        .bucket("gov")
        .delete(batch())
        .send()
        .await
        .expect("delete objects");
    assert_eq!(out.errors().len(), 1, "no bypass asked: refused");
    let out = c
        .delete_objects()
        .bucket("gov")
        .delete(batch())
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("delete objects");
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert!(!version_exists(&c, "gov", "k2", &v2).await);
    assert_eq!(put_retention(&c, "gov", "k", &v, sooner, true).await, Ok(()));
    c.delete_object()
        .bucket("gov")
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .expect("the owner's bypass");
    assert!(!version_exists(&c, "gov", "k", &v).await);
}

#[tokio::test]
async fn a_legal_hold_keeps_a_version_until_it_is_lifted() {
    let srv = Server::start();
    let c = srv.client();
    create_locked_bucket(&c, "hold").await;
    let v = c
        .put_object()
        .bucket("hold")
        .key("k")
        .body(ByteStream::from_static(b"held"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("put with a legal hold")
        .version_id()
        .expect("version")
        .to_owned();
    let head = c.head_object().bucket("hold").key("k").send().await.expect("head");
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert!(head.object_lock_mode().is_none());
    let res = c.get_object_retention().bucket("hold").key("k").send().await;
    assert_eq!(assert_code(res, "NoSuchObjectLockConfiguration"), 404);
    // A version no hold was ever placed on has no legal hold to show (one lifted is OFF,
    // below), and its reads carry no legal hold header.
    c.put_object()
        .bucket("hold")
        .key("never")
        .body(ByteStream::from_static(b"free"))
        .send()
        .await
        .expect("put without a hold");
    let res = c.get_object_legal_hold().bucket("hold").key("never").send().await;
    assert_eq!(assert_code(res, "NoSuchObjectLockConfiguration"), 404);
    let head = c.head_object().bucket("hold").key("never").send().await.expect("head");
    assert!(head.object_lock_legal_hold_status().is_none());

    let res = c
        .delete_object()
        .bucket("hold")
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_code(res, "AccessDenied");
    c.put_object_legal_hold()
        .bucket("hold")
        .key("k")
        .version_id(&v)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .expect("lift the hold");
    let got = c
        .get_object_legal_hold()
        .bucket("hold")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("legal hold");
    assert_eq!(
        got.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    c.delete_object()
        .bucket("hold")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .expect("delete once lifted");
}

#[tokio::test]
async fn copies_and_multipart_uploads_carry_the_lock_they_ask_for() {
    let srv = Server::start();
    let c = srv.client();
    create_locked_bucket(&c, "mpl").await;
    let until = in_secs(3600);
    let up = c
        .create_multipart_upload()
        .bucket("mpl")
        .key("big")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("upload id");
    let part = c
        .upload_part()
        .bucket("mpl")
        .key("big")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .expect("part");
    let done = c
        .complete_multipart_upload()
        .bucket("mpl")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let v = done.version_id().expect("version").to_owned();
    let head = c
        .head_object()
        .bucket("mpl")
        .key("big")
        .version_id(&v)
        .send()
        .await
        .expect("head");
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        head.object_lock_retain_until_date().map(DateTime::secs),
        Some(until.secs())
    );

    let copy = c
        .copy_object()
        .bucket("mpl")
        .key("copy")
        .copy_source("mpl/big")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .expect("copy");
    let head = c.head_object().bucket("mpl").key("copy").send().await.expect("head");
    assert_eq!(
        head.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert!(
        head.object_lock_mode().is_none(),
        "a copy does not inherit its source's retention"
    );
    let res = c
        .delete_object()
        .bucket("mpl")
        .key("copy")
        .version_id(copy.version_id().expect("version"))
        .send()
        .await;
    assert_code(res, "AccessDenied");
}

#[tokio::test]
async fn bad_lock_input_is_refused_with_aws_codes_and_stores_nothing() {
    let srv = Server::start();
    let c = srv.client();
    create_bucket(&c, "nolock").await;
    let res = c
        .put_object()
        .bucket("nolock")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_secs(3600))
        .send()
        .await;
    assert_eq!(assert_code(res, "InvalidRequest"), 400);
    let res = c
        .put_object()
        .bucket("nolock")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await;
    assert_code(res, "InvalidRequest");
    let res = c.head_object().bucket("nolock").key("k").send().await;
    assert!(res.is_err(), "a refused write stored the object");
    put(&c, "nolock", "k", b"x").await;
    let res = c
        .put_object_retention()
        .bucket("nolock")
        .key("k")
        .retention(retention(ObjectLockRetentionMode::Governance, in_secs(3600)))
        .send()
        .await;
    assert_code(res, "InvalidRequest");

    create_locked_bucket(&c, "lockd").await;
    let past = c
        .put_object()
        .bucket("lockd")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_secs(-60))
        .send()
        .await;
    assert_eq!(assert_code(past, "InvalidArgument"), 400);
    let half = c
        .put_object()
        .bucket("lockd")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .send()
        .await;
    assert_code(half, "InvalidArgument");
    let half = c
        .put_object()
        .bucket("lockd")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_retain_until_date(in_secs(3600))
        .send()
        .await;
    assert_code(half, "InvalidArgument");
    let listed = c
        .list_object_versions()
        .bucket("lockd")
        .send()
        .await
        .expect("list versions");
    assert!(listed.versions().is_empty(), "a refused write stored a version");

    let v = put_version(&c, "lockd", "k", b"x").await;
    let res = c
        .put_object_retention()
        .bucket("lockd")
        .key("k")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Governance, in_secs(-60)))
        .send()
        .await;
    assert_code(res, "InvalidArgument");
    let r = srv
        .signed(
            "PUT",
            &format!("/lockd/k?retention&versionId={v}"),
            &[],
            b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("MalformedXML")),
        "{}",
        r.text()
    );
    let r = srv
        .signed(
            "PUT",
            &format!("/lockd/k?legal-hold&versionId={v}"),
            &[],
            b"<LegalHold><Status>MAYBE</Status></LegalHold>",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("MalformedXML")),
        "{}",
        r.text()
    );
    let res = c
        .get_object_retention()
        .bucket("lockd")
        .key("k")
        .version_id(&v)
        .send()
        .await;
    assert_code(res, "NoSuchObjectLockConfiguration");
}
