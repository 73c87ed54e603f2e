//! Server-side encryption as requests ask for it and answers echo it: SSE-S3
//! (`x-amz-server-side-encryption: AES256`), SSE-KMS (`aws:kms` with an operator's
//! named key), SSE-C (`x-amz-server-side-encryption-customer-*`), and the bucket default
//! (Put/Get/DeleteBucketEncryption).
//!
//! The headers are checked here, before a body is read, so that a contradictory or
//! malformed request stores nothing. The bytes are sealed by the chunk layer (see
//! `fastgate_chunk::seal` for the format and `fastgate_model::encryption` for the keys);
//! this module decides under what, and refuses what AWS refuses:
//! - SSE-C with SSE-S3 or SSE-KMS, an SSE-C algorithm other than AES256, a key that is
//!   not 256 bits, a key whose MD5 is not `-key-MD5`: 400 as AWS (`InvalidArgument`,
//!   `InvalidEncryptionAlgorithmError`).
//! - SSE-C over plain HTTP: 400 `InvalidRequest`, as AWS, unless the operator allows it
//!   (`[encryption] allow_sse_c_over_http`, for tests and TLS-terminating proxies).
//! - Reading an SSE-C object without its key: 400 `InvalidRequest`; with another key:
//!   403 `AccessDenied`; customer headers on an object that is not SSE-C: 400.
//! - An SSE-KMS key id that is none of the operator's keys: 400 `KMS.NotFoundException`.
//!
//! Encryption and dedup: SSE-S3 and SSE-KMS chunks deduplicate and take instant uploads
//! among objects under the same scope (SSE-S3, or one KMS key), because the server holds
//! the keys: an instant upload derives the sealed chunk's id from the client's SHA-256
//! as the writer does. They never share chunks with plaintext objects or another scope.
//! SSE-C chunks deduplicate only among writes under the same customer key (their ids are
//! keyed with it) and never take an instant upload: a hash must not let a client claim
//! bytes sealed under a key it has not shown. A copy between scopes re-encrypts.

use base64::Engine as _;
use fastgate_model::encryption::{BucketEncryption, CustomerKey, ObjectEncryption};
use fastgate_model::records::{BucketRecord, ObjectRecord};
use fastgate_model::seal::SealSpec;
use s3s::S3Result;
use s3s::dto::*;

use super::Gateway;
use super::error::{ApiError, StorageResultExt as _};

/// The SSE-C headers of a request (or its `x-amz-copy-source-` ones).
#[derive(Clone, Copy, Default)]
pub struct CustomerHeaders<'a> {
    pub algorithm: Option<&'a str>,
    pub key: Option<&'a str>,
    pub key_md5: Option<&'a str>,
}

impl CustomerHeaders<'_> {
    fn any(&self) -> bool {
        self.algorithm.is_some() || self.key.is_some() || self.key_md5.is_some()
    }
}

/// The SSE-C headers of an input (the DTOs name them alike).
macro_rules! customer {
    ($i:expr) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $i.sse_customer_algorithm.as_deref(),
            key: $i.sse_customer_key.as_deref(),
            key_md5: $i.sse_customer_key_md5.as_deref(),
        }
    };
}
pub(crate) use customer;

/// The `x-amz-copy-source-server-side-encryption-customer-*` headers of a copy.
macro_rules! copy_source_customer {
    ($i:expr) => {
        $crate::s3::sse::CustomerHeaders {
            algorithm: $i.copy_source_sse_customer_algorithm.as_deref(),
            key: $i.copy_source_sse_customer_key.as_deref(),
            key_md5: $i.copy_source_sse_customer_key_md5.as_deref(),
        }
    };
}
pub(crate) use copy_source_customer;

/// What an object write (PutObject, CopyObject, CreateMultipartUpload) asks for.
pub struct Asked<'a> {
    pub sse: Option<&'a ServerSideEncryption>,
    pub kms_key_id: Option<&'a str>,
    pub context: Option<&'a str>,
    pub bucket_key: Option<bool>,
    pub customer: CustomerHeaders<'a>,
}

/// The [`Asked`] of a write input.
macro_rules! asked {
    ($i:expr) => {
        $crate::s3::sse::Asked {
            sse: $i.server_side_encryption.as_ref(),
            kms_key_id: $i.ssekms_key_id.as_deref(),
            context: $i.ssekms_encryption_context.as_deref(),
            bucket_key: $i.bucket_key_enabled,
            customer: $crate::s3::sse::customer!($i),
        }
    };
}
pub(crate) use asked;

/// How a write's new chunks are sealed, and what its record says.
#[derive(Clone, Default)]
pub struct Protection {
    pub encryption: Option<ObjectEncryption>,
    pub customer: Option<CustomerKey>,
    /// `None` writes plaintext.
    pub spec: Option<SealSpec>,
}

impl Protection {
    /// Whether an instant upload may claim stored content for this write: never under
    /// a customer key (see the module docs).
    pub fn allows_instant(&self) -> bool {
        self.customer.is_none()
    }
}

/// Whether the request came over TLS.
pub fn secure(extensions: &http::Extensions) -> bool {
    extensions.get::<crate::tls::Transport>().is_some_and(|t| t.secure)
}

/// The customer key of SSE-C headers, checked as AWS checks them; `None` without any.
pub fn customer_key(gw: &Gateway, h: &CustomerHeaders<'_>, secure: bool) -> S3Result<Option<CustomerKey>> {
    if !h.any() {
        return Ok(None);
    }
    if !secure && !gw.sse_c_over_http {
        return Err(ApiError::InvalidRequest(
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
        )
        .into());
    }
    match h.algorithm {
        Some("AES256") => {}
        Some(_) => return Err(ApiError::InvalidEncryptionAlgorithm.into()),
        None => {
            return Err(ApiError::InvalidArgument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            )
            .into());
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let key: [u8; 32] = h
        .key
        .ok_or(ApiError::InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
        ))
        .and_then(|k| {
            b64.decode(k.trim())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(ApiError::InvalidArgument(
                    "The secret key was invalid for the specified algorithm.",
                ))
        })?;
    let key = CustomerKey(key);
    let md5 = h.key_md5.ok_or(ApiError::InvalidArgument(
        "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
    ))?;
    if b64.decode(md5.trim()).ok().as_deref() != Some(&key.md5()[..]) {
        return Err(ApiError::InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
        )
        .into());
    }
    Ok(Some(key))
}

/// Checks an `x-amz-server-side-encryption-context`: base64 of a JSON object.
fn check_context(ctx: &str) -> S3Result<()> {
    let ok = base64::engine::general_purpose::STANDARD
        .decode(ctx.trim())
        .ok()
        .and_then(|v| serde_json::from_slice::<serde_json::Value>(&v).ok())
        .is_some_and(|v| v.is_object());
    if ok {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
        )
        .into())
    }
}

/// What `sse` and a KMS key id name, or the bucket default when they name nothing.
fn server_side(
    gw: &Gateway,
    a: &Asked<'_>,
    bucket_default: Option<&BucketEncryption>,
) -> S3Result<Option<ObjectEncryption>> {
    let kms_headers = a.kms_key_id.is_some() || a.context.is_some();
    let Some(sse) = a.sse else {
        if kms_headers {
            return Err(ApiError::InvalidArgument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
            )
            .into());
        }
        return Ok(bucket_default.map(|d| d.default.clone()));
    };
    match sse.as_str() {
        ServerSideEncryption::AES256 if !kms_headers => Ok(Some(ObjectEncryption::S3)),
        ServerSideEncryption::AES256 => Err(ApiError::InvalidArgument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        )
        .into()),
        ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE => {
            if let Some(c) = a.context {
                check_context(c)?;
            }
            let default_kms = bucket_default.and_then(|d| match &d.default {
                ObjectEncryption::Kms { key_id, .. } => Some(key_id.clone()),
                _ => None,
            });
            let key_id = match a.kms_key_id {
                Some(k) => kms_key_name(k).to_owned(),
                // AWS's `aws/s3` managed key: here the bucket's default KMS key, else
                // the master key.
                None => default_kms
                    .or_else(|| gw.store.keyring().master().map(str::to_owned))
                    .ok_or(ApiError::NotImplemented(
                        "Server-side encryption needs a master key, which this server is not configured with ([encryption] key_file)",
                    ))?,
            };
            if !gw.store.keyring().has(&key_id) {
                return Err(ApiError::KmsKeyNotFound(key_id).into());
            }
            Ok(Some(ObjectEncryption::Kms {
                key_id,
                context: a.context.map(str::to_owned),
                bucket_key: a
                    .bucket_key
                    .unwrap_or_else(|| bucket_default.is_some_and(|d| d.bucket_key_enabled)),
            }))
        }
        _ => Err(ApiError::InvalidArgument("The encryption method specified is not supported").into()),
    }
}

/// A KMS key id as the request names it: a bare name, or an ARN whose last part (after
/// `key/` or `alias/`) is the name.
fn kms_key_name(id: &str) -> &str {
    id.rsplit_once("key/")
        .or_else(|| id.rsplit_once("alias/"))
        .map_or(id, |(_, name)| name)
}

/// What a write asks for, checked, with the bucket default applied; refused before any
/// byte of a body is read.
pub fn for_write(gw: &Gateway, a: &Asked<'_>, bucket: &BucketRecord, secure: bool) -> S3Result<Protection> {
    let customer = customer_key(gw, &a.customer, secure)?;
    if customer.is_some() && (a.sse.is_some() || a.kms_key_id.is_some() || a.context.is_some()) {
        return Err(ApiError::InvalidArgument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
        )
        .into());
    }
    let encryption = match &customer {
        Some(k) => Some(ObjectEncryption::Customer { key_md5: k.md5() }),
        None => server_side(gw, a, bucket.encryption.as_ref())?,
    };
    protection(gw, encryption, customer)
}

/// The [`Protection`] of an encryption already decided (an upload's, for its parts).
pub fn protection(
    gw: &Gateway,
    encryption: Option<ObjectEncryption>,
    customer: Option<CustomerKey>,
) -> S3Result<Protection> {
    let Some(enc) = &encryption else {
        return Ok(Protection::default());
    };
    if gw.cluster {
        return Err(ApiError::NotImplemented(
            "Server-side encryption is not available on a cluster gateway: its storage nodes verify the SHA-256 of the plaintext they store",
        )
        .into());
    }
    let spec = gw.store.seal_spec(enc, customer.as_ref()).s3()?;
    Ok(Protection {
        encryption,
        customer,
        spec: Some(spec),
    })
}

/// The customer key a read (or a copy's source) of `rec` needs, checked against the
/// key the object was written with; `None` for an object that is not SSE-C.
pub fn for_read(
    gw: &Gateway,
    rec: &ObjectRecord,
    h: &CustomerHeaders<'_>,
    secure: bool,
) -> S3Result<Option<CustomerKey>> {
    key_for(gw, rec.encryption.as_ref(), h, secure)
}

/// The [`Protection`] of a part of an upload encrypted as `enc`: an SSE-C upload's
/// parts carry its key, checked against the one it was created with.
pub fn for_part(
    gw: &Gateway,
    enc: Option<&ObjectEncryption>,
    h: &CustomerHeaders<'_>,
    secure: bool,
) -> S3Result<Protection> {
    let customer = key_for(gw, enc, h, secure)?;
    protection(gw, enc.cloned(), customer)
}

/// The customer key that goes with encryption `enc`, from headers `h`.
fn key_for(
    gw: &Gateway,
    enc: Option<&ObjectEncryption>,
    h: &CustomerHeaders<'_>,
    secure: bool,
) -> S3Result<Option<CustomerKey>> {
    match enc {
        Some(ObjectEncryption::Customer { key_md5 }) => {
            let key = customer_key(gw, h, secure)?.ok_or(ApiError::InvalidRequest(
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
            ))?;
            if key.md5() != *key_md5 {
                return Err(ApiError::CustomerKeyMismatch.into());
            }
            Ok(Some(key))
        }
        _ if h.any() => {
            Err(ApiError::InvalidRequest("The encryption parameters are not applicable to this object.").into())
        }
        _ => Ok(None),
    }
}

/// The header values that describe an object's encryption in an answer.
#[derive(Default)]
pub struct Answer {
    pub sse: Option<ServerSideEncryption>,
    pub kms_key_id: Option<String>,
    pub context: Option<String>,
    pub bucket_key: Option<bool>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

impl Answer {
    pub fn of(enc: Option<&ObjectEncryption>) -> Self {
        match enc {
            None => Self::default(),
            Some(ObjectEncryption::S3) => Self {
                sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
                ..Self::default()
            },
            Some(ObjectEncryption::Kms {
                key_id,
                context,
                bucket_key,
            }) => Self {
                sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS)),
                kms_key_id: Some(key_id.clone()),
                context: context.clone(),
                bucket_key: bucket_key.then_some(true),
                ..Self::default()
            },
            Some(ObjectEncryption::Customer { key_md5 }) => Self {
                customer_algorithm: Some("AES256".to_owned()),
                customer_key_md5: Some(base64::engine::general_purpose::STANDARD.encode(key_md5)),
                ..Self::default()
            },
        }
    }
}

/// Fills an output's server-side encryption fields (every output that has the
/// customer fields has these).
macro_rules! answer_server {
    ($out:expr, $enc:expr) => {{
        let a = $crate::s3::sse::Answer::of($enc);
        $out.server_side_encryption = a.sse.clone();
        $out.ssekms_key_id = a.kms_key_id.clone();
        $out.bucket_key_enabled = a.bucket_key;
        a
    }};
}
pub(crate) use answer_server;

/// Fills an output's server-side and customer encryption fields.
macro_rules! answer {
    ($out:expr, $enc:expr) => {{
        let a = $crate::s3::sse::answer_server!($out, $enc);
        $out.sse_customer_algorithm = a.customer_algorithm.clone();
        $out.sse_customer_key_md5 = a.customer_key_md5.clone();
        a
    }};
}
pub(crate) use answer;

/// PutBucketEncryption: the first rule's default (AES256, or aws:kms with one of the
/// operator's keys) and its bucket key flag.
pub async fn put_bucket_encryption(
    gw: &Gateway,
    req: s3s::S3Request<PutBucketEncryptionInput>,
) -> S3Result<s3s::S3Response<PutBucketEncryptionOutput>> {
    use super::access::{Action, RequestContext, Resource};
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(&ctx, Action::PutEncryptionConfiguration, Resource::bucket(&i.bucket))
        .await?;
    let rules = i.server_side_encryption_configuration.rules;
    let [rule] = rules.as_slice() else {
        return Err(ApiError::MalformedXml.into());
    };
    let by_default = rule
        .apply_server_side_encryption_by_default
        .as_ref()
        .ok_or(ApiError::MalformedXml)?;
    let default = match by_default.sse_algorithm.as_str() {
        ServerSideEncryption::AES256 if by_default.kms_master_key_id.is_none() => ObjectEncryption::S3,
        ServerSideEncryption::AES256 => {
            return Err(ApiError::InvalidArgument(
                "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
            )
            .into());
        }
        ServerSideEncryption::AWS_KMS | ServerSideEncryption::AWS_KMS_DSSE => {
            let key_id = match by_default.kms_master_key_id.as_deref() {
                Some(k) => kms_key_name(k).to_owned(),
                None => gw
                    .store
                    .keyring()
                    .master()
                    .map(str::to_owned)
                    .ok_or(ApiError::NotImplemented(
                        "Server-side encryption needs a master key, which this server is not configured with ([encryption] key_file)",
                    ))?,
            };
            if !gw.store.keyring().has(&key_id) {
                return Err(ApiError::KmsKeyNotFound(key_id).into());
            }
            ObjectEncryption::Kms {
                key_id,
                context: None,
                bucket_key: rule.bucket_key_enabled.unwrap_or(false),
            }
        }
        _ => return Err(ApiError::MalformedXml.into()),
    };
    if matches!(default, ObjectEncryption::S3) && gw.store.keyring().master().is_none() {
        return Err(ApiError::NotImplemented(
            "Server-side encryption needs a master key, which this server is not configured with ([encryption] key_file)",
        )
        .into());
    }
    let enc = BucketEncryption {
        default,
        bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
    };
    gw.store.set_bucket_encryption(&i.bucket, Some(enc)).await.s3()?;
    Ok(s3s::S3Response::new(PutBucketEncryptionOutput::default()))
}

/// GetBucketEncryption: the bucket's default, or ServerSideEncryptionConfigurationNotFoundError.
pub async fn get_bucket_encryption(
    gw: &Gateway,
    req: s3s::S3Request<GetBucketEncryptionInput>,
) -> S3Result<s3s::S3Response<GetBucketEncryptionOutput>> {
    use super::access::{Action, RequestContext, Resource};
    let ctx = RequestContext::of(&req)?;
    let bucket = gw
        .authorize(
            &ctx,
            Action::GetEncryptionConfiguration,
            Resource::bucket(&req.input.bucket),
        )
        .await?;
    let enc = bucket.encryption.ok_or(ApiError::NoEncryptionConfiguration)?;
    let a = Answer::of(Some(&enc.default));
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: a.kms_key_id,
            sse_algorithm: a
                .sse
                .unwrap_or_else(|| ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
        }),
        blocked_encryption_types: None,
        bucket_key_enabled: Some(enc.bucket_key_enabled),
    };
    Ok(s3s::S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    }))
}

/// DeleteBucketEncryption: removes the default; objects keep their encryption.
pub async fn delete_bucket_encryption(
    gw: &Gateway,
    req: s3s::S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<s3s::S3Response<DeleteBucketEncryptionOutput>> {
    use super::access::{Action, RequestContext, Resource};
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::PutEncryptionConfiguration,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    gw.store.set_bucket_encryption(&req.input.bucket, None).await.s3()?;
    Ok(s3s::S3Response::new(DeleteBucketEncryptionOutput::default()))
}
