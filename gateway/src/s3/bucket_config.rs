//! Bucket configurations fastgate does not keep (policy, CORS, encryption, tagging,
//! website, replication, object lock, ownership controls). Reads answer what S3 answers
//! for a bucket without that configuration, so tools that probe them (rclone, SDK
//! helpers, terraform) carry on; writes are refused by s3s as NotImplemented.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};

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
    get_bucket_policy,
    GetBucketPolicy,
    GetBucketPolicyInput,
    GetBucketPolicyOutput,
    s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")
);
absent!(
    get_bucket_cors,
    GetBucketCors,
    GetBucketCorsInput,
    GetBucketCorsOutput,
    s3_error!(NoSuchCORSConfiguration, "The CORS configuration does not exist")
);
absent!(
    get_bucket_encryption,
    GetEncryptionConfiguration,
    GetBucketEncryptionInput,
    GetBucketEncryptionOutput,
    s3_error!(
        ServerSideEncryptionConfigurationNotFoundError,
        "The server side encryption configuration was not found"
    )
);
absent!(
    get_bucket_tagging,
    GetBucketTagging,
    GetBucketTaggingInput,
    GetBucketTaggingOutput,
    s3_error!(NoSuchTagSet, "The TagSet does not exist")
);
absent!(
    get_bucket_website,
    GetBucketWebsite,
    GetBucketWebsiteInput,
    GetBucketWebsiteOutput,
    s3_error!(
        NoSuchWebsiteConfiguration,
        "The specified bucket does not have a website configuration"
    )
);
absent!(
    get_bucket_replication,
    GetReplicationConfiguration,
    GetBucketReplicationInput,
    GetBucketReplicationOutput,
    s3_error!(
        ReplicationConfigurationNotFoundError,
        "The replication configuration was not found"
    )
);
absent!(
    get_object_lock_configuration,
    GetBucketObjectLockConfiguration,
    GetObjectLockConfigurationInput,
    GetObjectLockConfigurationOutput,
    s3_error!(
        ObjectLockConfigurationNotFoundError,
        "Object Lock configuration does not exist for this bucket"
    )
);
absent!(
    get_bucket_ownership_controls,
    GetBucketOwnershipControls,
    GetBucketOwnershipControlsInput,
    GetBucketOwnershipControlsOutput,
    s3_error!(
        OwnershipControlsNotFoundError,
        "The bucket ownership controls were not found"
    )
);
