//! The S3 front end: one `Gateway` implementing `s3s::S3`, with one module per family of
//! operations. Handlers parse typed s3s inputs, call the storage layer, and build typed
//! outputs. Authorization is decided only in `access.rs` (each handler calls
//! `Gateway::authorize` once, first); storage errors become S3 errors only in `error.rs`;
//! the write path is `instant.rs` (claim) and `body::store_body` (receive and verify)
//! around the model's `store_object` / `store_part`.

mod access;
mod access_config;
mod acl;
mod body;
mod bucket;
mod bucket_config;
mod checksums;
mod copy;
pub(crate) mod cors;
mod delete;
mod error;
mod get;
mod headers;
mod instant;
mod lifecycle;
mod list;
mod lock;
mod multipart;
mod policy;
pub(crate) mod post;
mod put;
pub(crate) mod raw_body;
pub(crate) mod sse;
mod tagging;
mod unsupported;

use std::collections::HashMap;
use std::sync::Arc;

use fastgate_model::Store;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};

use crate::config::{InstantUploadConfig, Settings};
use crate::metrics::Metrics;

pub use access::ClientAddr;
pub use error::{ApiError, to_s3, with_request_id};

/// Shared state of every request.
pub struct Gateway {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub instant: InstantUploadConfig,
    pub region: String,
    pub max_object_size: u64,
    /// Every user id, and the ids by lowercased email, for ACL grants that name users.
    pub users: Users,
    policies: access::PolicyCache,
    /// SSE-C over plain HTTP is accepted (`[encryption] allow_sse_c_over_http`).
    pub sse_c_over_http: bool,
    /// Chunks are on a cluster's storage nodes, where encryption is refused.
    pub cluster: bool,
}

/// The users ACL grants and policies may name: by id (a config user's access key, a
/// stored user's name), or by email where one is set.
#[derive(Default)]
pub struct Users {
    pub ids: std::collections::HashSet<String>,
    pub by_email: HashMap<String, String>,
}

impl Gateway {
    /// Whether `id` names a user, of the config or of the store.
    pub(crate) async fn is_user(&self, id: &str) -> S3Result<bool> {
        if self.users.ids.contains(id) {
            return Ok(true);
        }
        let id = id.to_owned();
        let found = self.store.point(move |s| s.user(&id)).await.map_err(to_s3)?;
        Ok(found.is_some())
    }

    /// The id of the user whose email is `email` (any case), of the config or the store.
    pub(crate) async fn user_by_email(&self, email: &str) -> S3Result<Option<String>> {
        if let Some(id) = self.users.by_email.get(&email.to_ascii_lowercase()) {
            return Ok(Some(id.clone()));
        }
        let email = email.to_owned();
        self.store.point(move |s| s.user_by_email(&email)).await.map_err(to_s3)
    }
}

impl Gateway {
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>, settings: &Settings) -> Self {
        Self {
            store,
            metrics,
            instant: settings.instant_upload.clone(),
            region: settings.region.clone(),
            max_object_size: settings.max_object_size,
            users: Users {
                ids: std::iter::once(&settings.root)
                    .chain(&settings.users)
                    .map(|u| u.access_key.clone())
                    .collect(),
                by_email: std::iter::once(&settings.root)
                    .chain(&settings.users)
                    .filter_map(|u| Some((u.email.as_ref()?.to_ascii_lowercase(), u.access_key.clone())))
                    .collect(),
            },
            policies: access::PolicyCache::default(),
            sse_c_over_http: settings.allow_sse_c_over_http,
            cluster: settings.cluster.is_some(),
        }
    }
}

/// S3 limits a key to 1024 bytes of UTF-8.
fn check_key(key: &str) -> S3Result<()> {
    if key.len() > 1024 {
        return Err(ApiError::KeyTooLong.into());
    }
    if key.is_empty() {
        return Err(ApiError::InvalidArgument("The key must not be empty").into());
    }
    // NUL separates names in the metadata keyspace, and XML 1.0 cannot carry it.
    if key.contains('\0') {
        return Err(ApiError::InvalidArgument("Object keys cannot contain the NUL character").into());
    }
    Ok(())
}

type Req<T> = S3Request<T>;
type Resp<T> = S3Result<S3Response<T>>;

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(&self, req: Req<ListBucketsInput>) -> Resp<ListBucketsOutput> {
        bucket::list_buckets(self, req).await
    }
    async fn create_bucket(&self, req: Req<CreateBucketInput>) -> Resp<CreateBucketOutput> {
        bucket::create_bucket(self, req).await
    }
    async fn head_bucket(&self, req: Req<HeadBucketInput>) -> Resp<HeadBucketOutput> {
        bucket::head_bucket(self, req).await
    }
    async fn delete_bucket(&self, req: Req<DeleteBucketInput>) -> Resp<DeleteBucketOutput> {
        bucket::delete_bucket(self, req).await
    }
    async fn get_bucket_location(&self, req: Req<GetBucketLocationInput>) -> Resp<GetBucketLocationOutput> {
        bucket::get_bucket_location(self, req).await
    }
    async fn get_bucket_versioning(&self, req: Req<GetBucketVersioningInput>) -> Resp<GetBucketVersioningOutput> {
        bucket::get_bucket_versioning(self, req).await
    }
    async fn put_bucket_versioning(&self, req: Req<PutBucketVersioningInput>) -> Resp<PutBucketVersioningOutput> {
        bucket::put_bucket_versioning(self, req).await
    }
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: Req<PutBucketLifecycleConfigurationInput>,
    ) -> Resp<PutBucketLifecycleConfigurationOutput> {
        lifecycle::put(self, req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: Req<GetBucketLifecycleConfigurationInput>,
    ) -> Resp<GetBucketLifecycleConfigurationOutput> {
        lifecycle::get(self, req).await
    }
    async fn delete_bucket_lifecycle(&self, req: Req<DeleteBucketLifecycleInput>) -> Resp<DeleteBucketLifecycleOutput> {
        lifecycle::delete(self, req).await
    }
    async fn get_bucket_acl(&self, req: Req<GetBucketAclInput>) -> Resp<GetBucketAclOutput> {
        acl::get_bucket_acl(self, req).await
    }
    async fn put_bucket_acl(&self, req: Req<PutBucketAclInput>) -> Resp<PutBucketAclOutput> {
        acl::put_bucket_acl(self, req).await
    }
    async fn get_object_acl(&self, req: Req<GetObjectAclInput>) -> Resp<GetObjectAclOutput> {
        acl::get_object_acl(self, req).await
    }
    async fn put_object_acl(&self, req: Req<PutObjectAclInput>) -> Resp<PutObjectAclOutput> {
        acl::put_object_acl(self, req).await
    }
    async fn get_bucket_policy(&self, req: Req<GetBucketPolicyInput>) -> Resp<GetBucketPolicyOutput> {
        access_config::get_bucket_policy(self, req).await
    }
    async fn put_bucket_policy(&self, req: Req<PutBucketPolicyInput>) -> Resp<PutBucketPolicyOutput> {
        access_config::put_bucket_policy(self, req).await
    }
    async fn delete_bucket_policy(&self, req: Req<DeleteBucketPolicyInput>) -> Resp<DeleteBucketPolicyOutput> {
        access_config::delete_bucket_policy(self, req).await
    }
    async fn get_bucket_policy_status(
        &self,
        req: Req<GetBucketPolicyStatusInput>,
    ) -> Resp<GetBucketPolicyStatusOutput> {
        access_config::get_bucket_policy_status(self, req).await
    }
    async fn put_public_access_block(&self, req: Req<PutPublicAccessBlockInput>) -> Resp<PutPublicAccessBlockOutput> {
        access_config::put_public_access_block(self, req).await
    }
    async fn get_public_access_block(&self, req: Req<GetPublicAccessBlockInput>) -> Resp<GetPublicAccessBlockOutput> {
        access_config::get_public_access_block(self, req).await
    }
    async fn delete_public_access_block(
        &self,
        req: Req<DeletePublicAccessBlockInput>,
    ) -> Resp<DeletePublicAccessBlockOutput> {
        access_config::delete_public_access_block(self, req).await
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: Req<PutBucketOwnershipControlsInput>,
    ) -> Resp<PutBucketOwnershipControlsOutput> {
        access_config::put_bucket_ownership_controls(self, req).await
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: Req<DeleteBucketOwnershipControlsInput>,
    ) -> Resp<DeleteBucketOwnershipControlsOutput> {
        access_config::delete_bucket_ownership_controls(self, req).await
    }
    async fn get_bucket_cors(&self, req: Req<GetBucketCorsInput>) -> Resp<GetBucketCorsOutput> {
        cors::get(self, req).await
    }
    async fn put_bucket_cors(&self, req: Req<PutBucketCorsInput>) -> Resp<PutBucketCorsOutput> {
        cors::put(self, req).await
    }
    async fn delete_bucket_cors(&self, req: Req<DeleteBucketCorsInput>) -> Resp<DeleteBucketCorsOutput> {
        cors::delete(self, req).await
    }
    async fn get_bucket_encryption(&self, req: Req<GetBucketEncryptionInput>) -> Resp<GetBucketEncryptionOutput> {
        sse::get_bucket_encryption(self, req).await
    }
    async fn put_bucket_encryption(&self, req: Req<PutBucketEncryptionInput>) -> Resp<PutBucketEncryptionOutput> {
        sse::put_bucket_encryption(self, req).await
    }
    async fn delete_bucket_encryption(
        &self,
        req: Req<DeleteBucketEncryptionInput>,
    ) -> Resp<DeleteBucketEncryptionOutput> {
        sse::delete_bucket_encryption(self, req).await
    }
    async fn get_bucket_tagging(&self, req: Req<GetBucketTaggingInput>) -> Resp<GetBucketTaggingOutput> {
        bucket_config::get_bucket_tagging(self, req).await
    }
    async fn get_bucket_website(&self, req: Req<GetBucketWebsiteInput>) -> Resp<GetBucketWebsiteOutput> {
        bucket_config::get_bucket_website(self, req).await
    }
    async fn get_bucket_replication(&self, req: Req<GetBucketReplicationInput>) -> Resp<GetBucketReplicationOutput> {
        bucket_config::get_bucket_replication(self, req).await
    }
    async fn get_object_lock_configuration(
        &self,
        req: Req<GetObjectLockConfigurationInput>,
    ) -> Resp<GetObjectLockConfigurationOutput> {
        lock::get_object_lock_configuration(self, req).await
    }
    async fn put_object_lock_configuration(
        &self,
        req: Req<PutObjectLockConfigurationInput>,
    ) -> Resp<PutObjectLockConfigurationOutput> {
        lock::put_object_lock_configuration(self, req).await
    }
    async fn get_object_retention(&self, req: Req<GetObjectRetentionInput>) -> Resp<GetObjectRetentionOutput> {
        lock::get_object_retention(self, req).await
    }
    async fn put_object_retention(&self, req: Req<PutObjectRetentionInput>) -> Resp<PutObjectRetentionOutput> {
        lock::put_object_retention(self, req).await
    }
    async fn get_object_legal_hold(&self, req: Req<GetObjectLegalHoldInput>) -> Resp<GetObjectLegalHoldOutput> {
        lock::get_object_legal_hold(self, req).await
    }
    async fn put_object_legal_hold(&self, req: Req<PutObjectLegalHoldInput>) -> Resp<PutObjectLegalHoldOutput> {
        lock::put_object_legal_hold(self, req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: Req<GetBucketOwnershipControlsInput>,
    ) -> Resp<GetBucketOwnershipControlsOutput> {
        access_config::get_bucket_ownership_controls(self, req).await
    }
    async fn get_object_attributes(&self, req: Req<GetObjectAttributesInput>) -> Resp<GetObjectAttributesOutput> {
        get::get_object_attributes(self, req).await
    }
    async fn put_object(&self, req: Req<PutObjectInput>) -> Resp<PutObjectOutput> {
        put::put_object(self, req).await
    }
    async fn post_object(&self, req: Req<PostObjectInput>) -> Resp<PostObjectOutput> {
        post::post_object(self, req).await
    }
    async fn get_object(&self, req: Req<GetObjectInput>) -> Resp<GetObjectOutput> {
        get::get_object(self, req).await
    }
    async fn head_object(&self, req: Req<HeadObjectInput>) -> Resp<HeadObjectOutput> {
        get::head_object(self, req).await
    }
    async fn delete_object(&self, req: Req<DeleteObjectInput>) -> Resp<DeleteObjectOutput> {
        delete::delete_object(self, req).await
    }
    async fn delete_objects(&self, req: Req<DeleteObjectsInput>) -> Resp<DeleteObjectsOutput> {
        delete::delete_objects(self, req).await
    }
    async fn copy_object(&self, req: Req<CopyObjectInput>) -> Resp<CopyObjectOutput> {
        copy::copy_object(self, req).await
    }
    async fn list_objects(&self, req: Req<ListObjectsInput>) -> Resp<ListObjectsOutput> {
        list::list_objects(self, req).await
    }
    async fn list_objects_v2(&self, req: Req<ListObjectsV2Input>) -> Resp<ListObjectsV2Output> {
        list::list_objects_v2(self, req).await
    }
    async fn list_object_versions(&self, req: Req<ListObjectVersionsInput>) -> Resp<ListObjectVersionsOutput> {
        list::list_object_versions(self, req).await
    }
    async fn get_object_tagging(&self, req: Req<GetObjectTaggingInput>) -> Resp<GetObjectTaggingOutput> {
        tagging::get(self, req).await
    }
    async fn put_object_tagging(&self, req: Req<PutObjectTaggingInput>) -> Resp<PutObjectTaggingOutput> {
        tagging::put(self, req).await
    }
    async fn delete_object_tagging(&self, req: Req<DeleteObjectTaggingInput>) -> Resp<DeleteObjectTaggingOutput> {
        tagging::delete(self, req).await
    }
    async fn create_multipart_upload(&self, req: Req<CreateMultipartUploadInput>) -> Resp<CreateMultipartUploadOutput> {
        multipart::create(self, req).await
    }
    async fn upload_part(&self, req: Req<UploadPartInput>) -> Resp<UploadPartOutput> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(&self, req: Req<UploadPartCopyInput>) -> Resp<UploadPartCopyOutput> {
        multipart::upload_part_copy(self, req).await
    }
    async fn list_parts(&self, req: Req<ListPartsInput>) -> Resp<ListPartsOutput> {
        multipart::list_parts(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: Req<CompleteMultipartUploadInput>,
    ) -> Resp<CompleteMultipartUploadOutput> {
        multipart::complete(self, req).await
    }
    async fn abort_multipart_upload(&self, req: Req<AbortMultipartUploadInput>) -> Resp<AbortMultipartUploadOutput> {
        multipart::abort(self, req).await
    }
    async fn list_multipart_uploads(&self, req: Req<ListMultipartUploadsInput>) -> Resp<ListMultipartUploadsOutput> {
        multipart::list_uploads(self, req).await
    }
}
