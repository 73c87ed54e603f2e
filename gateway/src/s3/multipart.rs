//! Multipart upload: S3's resume protocol, on durable chunks.

use fastgate_model::checksum::ChecksumAlgorithm as Alg;
use fastgate_model::encryption::ObjectEncryption;
use fastgate_model::ids::now_ms;
use fastgate_model::records::UploadRecord;
use fastgate_model::{Content, ListedPart, PartNumber as Pn, StorageError, UploadId};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::checksums::{self, Declared, Fields, set_checksums};
use super::error::{ApiError, StorageResultExt as _};
use super::headers::{self, timestamp};
use super::{Gateway, acl, body, check_key, copy, instant, lock, sse, unsupported};
use crate::metrics::Metrics;

fn upload_id(s: &str) -> S3Result<UploadId> {
    UploadId::parse(s).ok_or_else(|| ApiError::NoSuchUpload.into())
}

fn part_number(n: i32) -> S3Result<Pn> {
    Pn::new(i64::from(n)).ok_or_else(|| {
        ApiError::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive").into()
    })
}

fn owner_dto(id: &str) -> Owner {
    Owner {
        display_name: Some(id.to_owned()),
        id: Some(id.to_owned()),
    }
}

pub async fn create(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    let bucket = gw
        .authorize(&ctx, Action::PutObject, Resource::object(&i.bucket, &i.key))
        .await?;
    check_key(&i.key)?;
    let mut asked = unsupported::object_write!(i);
    // Encryption is `sse`'s, checked here; the lock headers are lock.rs's to check.
    asked.encryption = false;
    asked.lock = false;
    unsupported::check_object_write(&asked)?;
    let protection = sse::for_write(gw, &sse::asked!(i), &bucket, sse::secure(&req.extensions))?;
    let (owner, acl) = gw.object_write_acl(&ctx, &bucket, &acl::object_acl_request!(i)).await?;
    // Kept with the upload: the completed object carries it.
    let lock = gw
        .object_write_lock(&ctx, &i.bucket, &i.key, &bucket, &lock::lock_headers!(i))
        .await?;
    let alg = match &i.checksum_algorithm {
        Some(a) => {
            Some(Alg::parse(a.as_str()).ok_or_else(|| ApiError::UnsupportedChecksumAlgorithm(a.as_str().to_owned()))?)
        }
        None => None,
    };
    let full_object = i
        .checksum_type
        .as_ref()
        .is_some_and(|t| t.as_str() == ChecksumType::FULL_OBJECT);
    if full_object && !alg.is_some_and(Alg::is_crc) {
        return Err(ApiError::InvalidRequest("The FULL_OBJECT checksum type needs a CRC checksum algorithm").into());
    }
    let rec = UploadRecord {
        owner,
        initiated_ms: now_ms(),
        headers: headers::object_headers!(i),
        user_metadata: headers::metadata_to_vec(i.metadata.clone()),
        tags: headers::parse_tagging(i.tagging.as_deref())?,
        checksum_algorithm: alg,
        checksum_full_object: full_object,
        generation: 0,
        acl,
        lock,
        encryption: protection.encryption.clone(),
    };
    let id = gw.store.create_upload(&i.bucket, &i.key, rec).await.s3()?;
    let mut out = CreateMultipartUploadOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id.to_string()),
        checksum_algorithm: i.checksum_algorithm,
        checksum_type: alg.map(|_| {
            ChecksumType::from_static(if full_object {
                ChecksumType::FULL_OBJECT
            } else {
                ChecksumType::COMPOSITE
            })
        }),
        ..Default::default()
    };
    let a = sse::answer!(out, protection.encryption.as_ref());
    out.ssekms_encryption_context = a.context;
    Ok(S3Response::new(out))
}

pub async fn upload_part(gw: &Gateway, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let ctx = RequestContext::of(&req)?;
    let S3Request {
        input,
        headers: req_headers,
        uri,
        trailing_headers,
        extensions,
        ..
    } = req;
    let res = Resource::object(&input.bucket, &input.key);
    gw.authorize(&ctx, Action::PutObject, res).await?;
    let n = part_number(input.part_number)?;
    let id = upload_id(&input.upload_id)?;
    let up = {
        let (b, k, id) = (input.bucket.clone(), input.key.clone(), id.clone());
        gw.store.point(move |s| s.upload(&b, &k, &id)).await.s3()?
    };
    let protection = sse::for_part(
        gw,
        up.encryption.as_ref(),
        &sse::customer!(input),
        sse::secure(&extensions),
    )?;
    let length = input.content_length.map_or(0, |l| u64::try_from(l).unwrap_or(0));
    let probe_size = instant::probe_size(&req_headers, &uri)?;
    if length.max(probe_size.unwrap_or(0)) > 5 << 30 {
        return Err(ApiError::EntityTooLarge.into());
    }
    let mut declared = Declared::from_headers(&req_headers)?;
    if declared.algorithm.is_none() {
        declared.algorithm = up.checksum_algorithm;
    }
    let mut resp_headers = http::HeaderMap::new();
    let mut part = None;
    let claim = match ctx.claimant() {
        Some(claimant) if protection.allows_instant() => {
            let seal = protection.spec.as_ref();
            instant::probe(gw, &req_headers, &declared, claimant, &input.bucket, probe_size, seal).await?
        }
        _ => None,
    };
    if let Some(content) = claim {
        let size = content.digests().size;
        match gw
            .store
            .store_part(&input.bucket, &input.key, &id, n, content, up.checksum_algorithm)
            .await
        {
            Ok(rec) => {
                instant::record_hit(gw, ctx.owner_id(), &input.bucket, &input.key, size, Some(n.get()));
                instant::hit_headers(&mut resp_headers, probe_size.is_none());
                part = Some(rec);
            }
            // Collected between lookup and commit: the body is still unread.
            Err(StorageError::ChunkGone(_)) => {}
            Err(e) => return Err(super::to_s3(e)),
        }
    }
    let part = match part {
        Some(p) => p,
        // A probe's miss changes nothing; the client sends the body next.
        None if probe_size.is_some() => return Err(super::error::not_stored()),
        None => {
            let incoming = body::Incoming {
                extensions: &extensions,
                body: input.body,
                headers: &req_headers,
                uri: &uri,
                trailing: trailing_headers.as_ref(),
                length,
                seal: protection.spec.clone(),
            };
            let (bucket, key, alg) = (input.bucket.clone(), input.key.clone(), up.checksum_algorithm);
            body::store_body(gw, incoming, declared, move |store, content, _| async move {
                store.store_part(&bucket, &key, &id, n, content, alg).await.s3()
            })
            .await?
        }
    };
    Metrics::add(&gw.metrics.objects_put, 1);
    let mut out = UploadPartOutput {
        e_tag: Some(headers::etag(&part.etag())),
        ..Default::default()
    };
    sse::answer!(out, up.encryption.as_ref());
    if let Some((a, v)) = &part.checksum {
        set_checksums!(out, Fields::of_part(*a, v));
    }
    let mut resp = S3Response::new(out);
    resp.headers = resp_headers;
    Ok(resp)
}

/// Parses `bytes=first-last` of `x-amz-copy-source-range`.
fn copy_range(s: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        ApiError::InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let r = s.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a > b || b >= size {
        return Err(ApiError::InvalidRange.into());
    }
    Ok((a, b + 1))
}

pub async fn upload_part_copy(
    gw: &Gateway,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(&ctx, Action::PutObject, Resource::object(&i.bucket, &i.key))
        .await?;
    let n = part_number(i.part_number)?;
    let id = upload_id(&i.upload_id)?;
    let up = {
        let (b, k, id) = (i.bucket.clone(), i.key.clone(), id.clone());
        gw.store.point(move |s| s.upload(&b, &k, &id)).await.s3()?
    };
    let secure = sse::secure(&req.extensions);
    let protection = sse::for_part(gw, up.encryption.as_ref(), &sse::customer!(i), secure)?;
    let src = copy::source(gw, &ctx, &i.copy_source).await?;
    let src_key = sse::for_read(gw, &src, &sse::copy_source_customer!(i), secure)?;
    copy::check_source_conditions(
        &src,
        i.copy_source_if_match.as_ref(),
        i.copy_source_if_none_match.as_ref(),
        i.copy_source_if_modified_since.as_ref(),
        i.copy_source_if_unmodified_since.as_ref(),
    )?;
    let (start, end) = match &i.copy_source_range {
        Some(r) => copy_range(r, src.size)?,
        None => (0, src.size),
    };
    // A range that is exactly one of the source's chunks becomes a reference to it,
    // where the part's chunks are sealed as the source's are (or both are plaintext).
    let mut offset = 0u64;
    let mut whole = None;
    let shares = ObjectEncryption::shares_chunks_with(src.encryption.as_ref(), up.encryption.as_ref());
    for p in src.parts.iter().filter(|_| shares) {
        if offset == start && offset + p.size == end {
            whole = Some(p.clone());
            break;
        }
        offset += p.size;
    }
    let content = match whole {
        // A reference to the source's chunk: no bytes move.
        Some(p) => {
            let hash = p.hash;
            let chunk = gw
                .store
                .point(move |s| s.chunk(&hash))
                .await
                .s3()?
                .ok_or_else(|| ApiError::Internal("source chunk missing".to_owned()))?;
            Content::Stored { hash: p.hash, chunk }
        }
        None => {
            let extras: Vec<Alg> = up.checksum_algorithm.into_iter().collect();
            let mut reader = gw.store.read(&src, start, end, src_key.as_ref()).await.s3()?;
            let mut writer = gw.store.chunk_writer(end - start, &extras).s3()?;
            if let Some(spec) = protection.spec.clone() {
                writer.seal(spec).map_err(|e| super::to_s3(e.into()))?;
            }
            while let Some(b) = reader.next().await {
                let b = b.map_err(|e| super::to_s3(e.into()))?;
                writer.write(b).await.map_err(|e| super::to_s3(e.into()))?;
            }
            Content::Staged(writer.finish().await.map_err(|e| super::to_s3(e.into()))?)
        }
    };
    let rec = gw
        .store
        .store_part(&i.bucket, &i.key, &id, n, content, up.checksum_algorithm)
        .await
        .s3()?;
    let mut result = CopyPartResult {
        e_tag: Some(headers::etag(&rec.etag())),
        last_modified: Some(timestamp(rec.last_modified_ms)),
        ..Default::default()
    };
    if let Some((a, v)) = &rec.checksum {
        set_checksums!(result, Fields::of_part(*a, v));
    }
    let mut out = UploadPartCopyOutput {
        copy_part_result: Some(result),
        ..Default::default()
    };
    sse::answer!(out, up.encryption.as_ref());
    Ok(S3Response::new(out))
}

pub async fn list_parts(gw: &Gateway, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    let res = Resource::object(&i.bucket, &i.key);
    gw.authorize(&ctx, Action::ListMultipartUploadParts, res).await?;
    let id = upload_id(&i.upload_id)?;
    let up = {
        let (b, k, id) = (i.bucket.clone(), i.key.clone(), id.clone());
        gw.store.point(move |s| s.upload(&b, &k, &id)).await.s3()?
    };
    let max = match i.max_parts {
        None => 1000,
        Some(m) if m < 0 => return Err(ApiError::InvalidArgument("max-parts must be a non-negative integer").into()),
        Some(m) => usize::try_from(m.min(1000)).unwrap_or(1000),
    };
    let marker = match i.part_number_marker {
        Some(m) if m < 0 => return Err(ApiError::InvalidArgument("Invalid part number marker").into()),
        Some(m) => Pn::new(i64::from(m.min(i32::from(Pn::MAX)))),
        None => None,
    };
    let (parts, truncated) = gw.store.list_parts(&id, marker, max).await.s3()?;
    let next = if truncated {
        parts.last().map(|(n, _)| i32::from(n.get()))
    } else {
        None
    };
    let parts: Vec<Part> = parts
        .into_iter()
        .map(|(n, p)| {
            let mut part = Part {
                part_number: Some(i32::from(n.get())),
                e_tag: Some(headers::etag(&p.etag())),
                size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                last_modified: Some(timestamp(p.last_modified_ms)),
                ..Default::default()
            };
            if let Some((a, v)) = &p.checksum {
                set_checksums!(part, Fields::of_part(*a, v));
            }
            part
        })
        .collect();
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(i.bucket),
        key: Some(i.key),
        upload_id: Some(id.to_string()),
        part_number_marker: Some(marker.map_or(0, |m| i32::from(m.get()))),
        next_part_number_marker: next,
        max_parts: Some(i32::try_from(max).unwrap_or(1000)),
        is_truncated: Some(truncated),
        parts: Some(parts),
        initiator: Some(Initiator {
            display_name: Some(up.owner.clone()),
            id: Some(up.owner.clone()),
        }),
        owner: Some(owner_dto(&up.owner)),
        storage_class: Some(StorageClass::from(
            up.headers.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
        )),
        checksum_algorithm: up
            .checksum_algorithm
            .map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
        checksum_type: up.checksum_algorithm.map(|_| {
            ChecksumType::from_static(if up.checksum_full_object {
                ChecksumType::FULL_OBJECT
            } else {
                ChecksumType::COMPOSITE
            })
        }),
        ..Default::default()
    }))
}

pub async fn complete(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(&ctx, Action::PutObject, Resource::object(&i.bucket, &i.key))
        .await?;
    let id = upload_id(&i.upload_id)?;
    let malformed = || S3Error::from(ApiError::MalformedXml);
    let listed = i
        .multipart_upload
        .and_then(|m| m.parts)
        .filter(|p| !p.is_empty())
        .ok_or_else(malformed)?;
    let mut list = Vec::with_capacity(listed.len());
    for p in listed {
        let n = p.part_number.ok_or_else(malformed)?;
        let n = Pn::new(i64::from(n)).ok_or(ApiError::InvalidPart)?;
        let checksums = Alg::ALL
            .into_iter()
            .filter_map(|a| checksums::listed_for_part(&p, a).map(|v| (a, v.to_owned())))
            .collect();
        let etag = p.e_tag.map(|e| e.value().to_owned()).unwrap_or_default();
        list.push(ListedPart {
            number: n,
            etag,
            checksums,
        });
    }
    let cond = super::put::write_condition(i.if_match.as_ref(), i.if_none_match.as_ref())?;
    let rec = gw
        .store
        .complete_upload(&i.bucket, &i.key, &id, list, cond)
        .await
        .s3()?;
    let fields = Fields::of(rec.checksum.as_ref());
    let mut out = CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", i.bucket, i.key)),
        bucket: Some(i.bucket),
        key: Some(i.key),
        e_tag: Some(headers::etag(&rec.etag)),
        checksum_type: fields.checksum_type.clone(),
        version_id: headers::version_id(&rec),
        ..Default::default()
    };
    set_checksums!(out, fields);
    sse::answer_server!(out, rec.encryption.as_ref());
    Ok(S3Response::new(out))
}

pub async fn abort(
    gw: &Gateway,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::AbortMultipartUpload, res).await?;
    let id = upload_id(&req.input.upload_id)?;
    gw.store
        .abort_upload(&req.input.bucket, &req.input.key, &id)
        .await
        .s3()?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(&ctx, Action::ListBucketMultipartUploads, Resource::bucket(&i.bucket))
        .await?;
    let max = match i.max_uploads {
        None => 1000,
        Some(m) if m < 0 => return Err(ApiError::InvalidArgument("max-uploads must be a non-negative integer").into()),
        Some(m) => usize::try_from(m.min(1000)).unwrap_or(1000),
    };
    let prefix = i.prefix.clone().unwrap_or_default();
    let page = gw
        .store
        .list_uploads(
            &i.bucket,
            &prefix,
            i.delimiter.as_deref(),
            i.key_marker.as_deref().filter(|m| !m.is_empty()),
            i.upload_id_marker.as_deref().filter(|m| !m.is_empty()),
            max,
        )
        .await
        .s3()?;
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| MultipartUpload {
            key: Some(u.key),
            upload_id: Some(u.id.to_string()),
            initiated: Some(timestamp(u.record.initiated_ms)),
            initiator: Some(Initiator {
                display_name: Some(u.record.owner.clone()),
                id: Some(u.record.owner.clone()),
            }),
            owner: Some(owner_dto(&u.record.owner)),
            storage_class: Some(StorageClass::from(
                u.record
                    .headers
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".into()),
            )),
            checksum_algorithm: u
                .record
                .checksum_algorithm
                .map(|a| ChecksumAlgorithm::from(a.as_str().to_owned())),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(i.bucket),
        prefix: Some(prefix),
        delimiter: i.delimiter,
        key_marker: Some(i.key_marker.unwrap_or_default()),
        upload_id_marker: Some(i.upload_id_marker.unwrap_or_default()),
        max_uploads: Some(i32::try_from(max).unwrap_or(1000)),
        is_truncated: Some(page.truncated),
        next_key_marker: if page.truncated { page.next_key_marker } else { None },
        next_upload_id_marker: if page.truncated {
            page.next_upload_id_marker
        } else {
            None
        },
        uploads: Some(uploads),
        common_prefixes: (!page.common_prefixes.is_empty()).then(|| {
            page.common_prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect()
        }),
        encoding_type: i.encoding_type,
        ..Default::default()
    }))
}
