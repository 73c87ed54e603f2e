//! Bucket configurations fastgate does not keep (tagging, website, replication; object
//! lock is `lock.rs`'s, encryption `sse.rs`'s, the policy and ownership controls are in
//! `access_config.rs`, CORS in `cors.rs`). Reads answer what S3 answers
//! for a bucket without that configuration, so tools that probe them (rclone, SDK
//! helpers, terraform) carry on; writes are refused by s3s as NotImplemented.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::ApiError;

macro_rules! absent {
    ($fn:ident, $action:ident, $input:ty, $output:ty, $err:expr) => {
        pub async fn $fn(gw: &Gateway, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
            let ctx = RequestContext::of(&req)?;
            gw.authorize(&ctx, Action::$action, Resource::bucket(&req.input.bucket))
                .await?;
            let e: S3Error = $err;
            Err(e)
        }
    };
}

absent!(
    get_bucket_tagging,
    GetBucketTagging,
    GetBucketTaggingInput,
    GetBucketTaggingOutput,
    ApiError::NoSuchTagSet.into()
);
absent!(
    get_bucket_website,
    GetBucketWebsite,
    GetBucketWebsiteInput,
    GetBucketWebsiteOutput,
    ApiError::NoSuchWebsiteConfiguration.into()
);
absent!(
    get_bucket_replication,
    GetReplicationConfiguration,
    GetBucketReplicationInput,
    GetBucketReplicationOutput,
    ApiError::NoReplicationConfiguration.into()
);
