//! GetObject and HeadObject: conditional requests, ranges, `partNumber`, checksums.

use fastgate_model::records::ObjectRecord;
use fastgate_model::{ObjectReader, StorageError};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::checksums::{Fields, set_checksums};
use super::error::{ApiError, StorageResultExt as _};
use super::headers::{self, fill_object_headers, timestamp};
use super::{Gateway, sse};

/// The conditional request headers, as GET and HEAD share them.
struct Conditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

/// The conditional headers of a GET or HEAD input (the two DTOs name them alike).
macro_rules! conditions {
    ($i:expr) => {
        Conditions {
            if_match: $i.if_match.as_ref(),
            if_none_match: $i.if_none_match.as_ref(),
            if_modified_since: $i.if_modified_since.as_ref(),
            if_unmodified_since: $i.if_unmodified_since.as_ref(),
        }
    };
}

fn etag_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

/// RFC 9110 precedence as S3 applies it: If-Match beats If-Unmodified-Since, and
/// If-None-Match beats If-Modified-Since.
fn check_conditions(c: &Conditions<'_>, rec: &ObjectRecord) -> S3Result<()> {
    // HTTP dates have second resolution.
    let modified_s = rec.last_modified_ms / 1000;
    let secs = |t: &Timestamp| headers::timestamp_ms(t) / 1000;
    if let Some(m) = c.if_match {
        if !etag_matches(m, &rec.etag) {
            return Err(ApiError::PreconditionFailed.into());
        }
    } else if let Some(t) = c.if_unmodified_since
        && modified_s > secs(t)
    {
        return Err(ApiError::PreconditionFailed.into());
    }
    if let Some(m) = c.if_none_match {
        if etag_matches(m, &rec.etag) {
            return Err(not_modified());
        }
    } else if let Some(t) = c.if_modified_since
        && modified_s <= secs(t)
    {
        return Err(not_modified());
    }
    Ok(())
}

fn not_modified() -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    e
}

/// The byte range to serve, whether it is partial, and the parts count header.
struct Selection {
    start: u64,
    end: u64,
    partial: bool,
}

fn select(rec: &ObjectRecord, range: Option<&Range>, part_number: Option<i32>) -> S3Result<Selection> {
    if let Some(n) = part_number {
        if range.is_some() {
            return Err(
                ApiError::InvalidRequest("Cannot specify both Range header and partNumber query parameter").into(),
            );
        }
        let idx = usize::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(ApiError::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive",
            ))?;
        if !rec.multipart {
            if idx == 1 {
                return Ok(Selection {
                    start: 0,
                    end: rec.size,
                    partial: false,
                });
            }
            return Err(invalid_part_number());
        }
        let part = rec.parts.get(idx - 1).ok_or_else(invalid_part_number)?;
        let start: u64 = rec.parts[..idx - 1].iter().map(|p| p.size).sum();
        return Ok(Selection {
            start,
            end: start + part.size,
            partial: true,
        });
    }
    match range {
        Some(r) => {
            let rg = r.check(rec.size)?;
            Ok(Selection {
                start: rg.start,
                end: rg.end,
                partial: true,
            })
        }
        None => Ok(Selection {
            start: 0,
            end: rec.size,
            partial: false,
        }),
    }
}

/// A part number past the object's parts (any but 1 on a single-part object). S3's
/// error table lists 416 for this code, but S3 answers a GET or HEAD with 400 (as
/// ceph's s3-tests `test_multipart_get_part` and `test_non_multipart_get_part` pin it).
fn invalid_part_number() -> S3Error {
    ApiError::InvalidPartNumber.into()
}

/// The body: `first` (already read), then the rest of `reader`. A read error after the
/// head was sent ends the stream with that error, so hyper aborts the connection and
/// the client sees a broken body, never a clean short one.
fn body_of(first: Option<bytes::Bytes>, reader: ObjectReader) -> StreamingBlob {
    use futures::StreamExt as _;
    let rest = futures::stream::unfold(reader, |mut r| async move { r.next().await.map(|item| (item, r)) });
    StreamingBlob::wrap(futures::stream::iter(first.map(Ok)).chain(rest))
}

/// Reads the first piece of a non-empty selection before the answer's head is sent: a
/// chunk that no storage node (or no local file) can serve is then a status the client
/// can retry on (503 SlowDown for unreachable nodes) rather than a 200 cut off at once.
/// Storage nodes fail over within this read, so it fails only when all of them did.
async fn first_piece(reader: &mut ObjectReader, len: u64) -> S3Result<Option<bytes::Bytes>> {
    if len == 0 {
        return Ok(None);
    }
    match reader.next().await {
        Some(Ok(b)) => Ok(Some(b)),
        Some(Err(e)) => Err(StorageError::from(e)).s3(),
        None => Ok(None),
    }
}

fn parts_count(rec: &ObjectRecord) -> Option<i32> {
    rec.multipart
        .then(|| i32::try_from(rec.parts.len()).unwrap_or(i32::MAX))
}

/// `x-amz-tagging-count`, on GET and HEAD alike, only for a tagged object.
fn tag_count(rec: &ObjectRecord) -> Option<i32> {
    (!rec.tags.is_empty()).then(|| i32::try_from(rec.tags.len()).unwrap_or(i32::MAX))
}

/// The version a read names by `versionId`, or the current one. A delete marker is
/// answered as S3 answers it (see `error::delete_marker`).
pub(super) async fn read_version(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> S3Result<ObjectRecord> {
    let named = headers::parse_version_id(version_id)?;
    let rec = match named {
        None => {
            let (b, k) = (bucket.to_owned(), key.to_owned());
            gw.store.point(move |s| s.current_version(&b, &k)).await.s3()?
        }
        Some(id) => gw.store.object_version(bucket, key, id).await.s3()?,
    };
    if rec.is_delete_marker() {
        return Err(super::error::delete_marker(
            &rec.version_id().to_string(),
            named.is_some(),
        ));
    }
    Ok(rec)
}

pub async fn get_object(gw: &Gateway, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let ctx = RequestContext::of(&req)?;
    let input = &req.input;
    let action = Action::GetObject.for_version(input.version_id.is_some());
    gw.authorize(&ctx, action, Resource::object(&input.bucket, &input.key))
        .await?;
    let rec = read_version(gw, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    check_conditions(&conditions!(input), &rec)?;
    let customer = sse::for_read(gw, &rec, &sse::customer!(input), sse::secure(&req.extensions))?;
    let sel = select(&rec, input.range.as_ref(), input.part_number)?;
    let mut reader = gw.store.read(&rec, sel.start, sel.end, customer.as_ref()).await.s3()?;
    let first = first_piece(&mut reader, sel.end - sel.start).await?;
    let checksum_enabled = input
        .checksum_mode
        .as_ref()
        .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let mut out = GetObjectOutput {
        body: Some(body_of(first, reader)),
        content_length: Some(i64::try_from(sel.end - sel.start).unwrap_or(i64::MAX)),
        tag_count: tag_count(&rec),
        ..Default::default()
    };
    fill_object_headers!(out, &rec);
    sse::answer!(out, rec.encryption.as_ref());
    if gw
        .may_see_lock(&ctx, &rec, Resource::object(&input.bucket, &input.key))
        .await
    {
        super::lock::fill_lock_headers!(out, &rec);
    }
    // A read that names the `null` version is answered with it, as S3 does.
    if out.version_id.is_none() {
        out.version_id.clone_from(&input.version_id);
    }
    out.content_range = content_range(&rec, &sel, input.range.is_some());
    if checksum_enabled {
        let fields = checksum_fields(&rec, input.part_number, input.range.is_some());
        out.checksum_type = fields.checksum_type.clone();
        set_checksums!(out, fields);
    }
    Ok(S3Response::new(out))
}

/// `Content-Range` for a ranged read or one part of a multipart object.
fn content_range(rec: &ObjectRecord, sel: &Selection, ranged: bool) -> Option<String> {
    (sel.partial && (ranged || rec.multipart))
        .then(|| format!("bytes {}-{}/{}", sel.start, sel.end.saturating_sub(1), rec.size))
}

/// Checksums are returned for the whole object, or for one part; never for a range.
fn checksum_fields(rec: &ObjectRecord, part_number: Option<i32>, ranged: bool) -> Fields {
    if ranged {
        return Fields::default();
    }
    match (part_number, &rec.checksum) {
        (Some(n), Some(c)) if rec.multipart => usize::try_from(n)
            .ok()
            .and_then(|n| rec.parts.get(n.wrapping_sub(1)))
            .and_then(|p| p.checksum.as_ref())
            .map(|v| Fields::of_part(c.algorithm, v))
            .unwrap_or_default(),
        _ => Fields::of(rec.checksum.as_ref()),
    }
}

pub async fn head_object(gw: &Gateway, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let ctx = RequestContext::of(&req)?;
    let input = &req.input;
    let action = Action::GetObject.for_version(input.version_id.is_some());
    gw.authorize(&ctx, action, Resource::object(&input.bucket, &input.key))
        .await?;
    let rec = read_version(gw, &input.bucket, &input.key, input.version_id.as_deref()).await?;
    check_conditions(&conditions!(input), &rec)?;
    sse::for_read(gw, &rec, &sse::customer!(input), sse::secure(&req.extensions))?;
    let sel = select(&rec, input.range.as_ref(), input.part_number)?;
    let checksum_enabled = input
        .checksum_mode
        .as_ref()
        .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
    let mut out = HeadObjectOutput {
        content_length: Some(i64::try_from(sel.end - sel.start).unwrap_or(i64::MAX)),
        tag_count: tag_count(&rec),
        ..Default::default()
    };
    fill_object_headers!(out, &rec);
    sse::answer!(out, rec.encryption.as_ref());
    if gw
        .may_see_lock(&ctx, &rec, Resource::object(&input.bucket, &input.key))
        .await
    {
        super::lock::fill_lock_headers!(out, &rec);
    }
    // A read that names the `null` version is answered with it, as S3 does.
    if out.version_id.is_none() {
        out.version_id.clone_from(&input.version_id);
    }
    out.content_range = content_range(&rec, &sel, input.range.is_some());
    if checksum_enabled {
        let fields = checksum_fields(&rec, input.part_number, input.range.is_some());
        out.checksum_type = fields.checksum_type.clone();
        set_checksums!(out, fields);
    }
    Ok(S3Response::new(out))
}

pub async fn get_object_attributes(
    gw: &Gateway,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let action = Action::GetObjectAttributes.for_version(i.version_id.is_some());
    gw.authorize(&ctx, action, Resource::object(&i.bucket, &i.key)).await?;
    let rec = read_version(gw, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    // An SSE-C object's attributes are its key holder's, as its HEAD is.
    sse::for_read(gw, &rec, &sse::customer!(i), sse::secure(&req.extensions))?;
    // `x-amz-object-attributes` is one comma-separated header (`ETag,ObjectSize`, as
    // the SDKs send it) or several; s3s hands each header value over whole.
    let wants = |a: &str| {
        i.object_attributes
            .iter()
            .flat_map(|x| x.as_str().split(','))
            .any(|x| x.trim().eq_ignore_ascii_case(a))
    };
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(timestamp(rec.last_modified_ms)),
        version_id: headers::version_id(&rec),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(headers::etag(&rec.etag));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = Some(i64::try_from(rec.size).unwrap_or(i64::MAX));
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from(
            rec.headers.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
        ));
    }
    if wants(ObjectAttributes::CHECKSUM) && rec.checksum.is_some() {
        let f = Fields::of(rec.checksum.as_ref());
        let mut c = Checksum {
            checksum_type: f.checksum_type.clone(),
            ..Default::default()
        };
        set_checksums!(c, f);
        out.checksum = Some(c);
    }
    // A general purpose bucket lists the parts only of an object with an additional
    // checksum; of any other multipart object it gives the parts count alone.
    if wants(ObjectAttributes::OBJECT_PARTS) && rec.multipart && rec.checksum.is_none() {
        out.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: parts_count(&rec),
            ..Default::default()
        });
    }
    if wants(ObjectAttributes::OBJECT_PARTS)
        && rec.multipart
        && let Some(alg) = rec.checksum.as_ref().map(|c| c.algorithm)
    {
        let max = usize::try_from(i.max_parts.unwrap_or(1000).clamp(0, 1000)).unwrap_or(1000);
        let after = usize::try_from(i.part_number_marker.unwrap_or(0).max(0)).unwrap_or(0);
        let parts: Vec<ObjectPart> = rec
            .parts
            .iter()
            .enumerate()
            .skip(after)
            .take(max)
            .map(|(n, p)| {
                let mut part = ObjectPart {
                    part_number: i32::try_from(n + 1).ok(),
                    size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                    ..Default::default()
                };
                if let Some(v) = &p.checksum {
                    set_checksums!(part, Fields::of_part(alg, v));
                }
                part
            })
            .collect();
        let last = after + parts.len();
        let truncated = last < rec.parts.len();
        out.object_parts = Some(GetObjectAttributesParts {
            is_truncated: Some(truncated),
            max_parts: i32::try_from(max).ok(),
            next_part_number_marker: if truncated { i32::try_from(last).ok() } else { None },
            part_number_marker: i32::try_from(after).ok(),
            parts: Some(parts),
            total_parts_count: parts_count(&rec),
        });
    }
    Ok(S3Response::new(out))
}
