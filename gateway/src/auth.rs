//! Users and their secrets for SigV4 (and SigV2) verification by s3s.

use std::collections::HashMap;

use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

use crate::config::UserConfig;
use crate::s3::ApiError;

/// Every configured user, by access key. A user's id is its access key: it owns the
/// buckets it creates.
pub struct Users {
    secrets: HashMap<String, SecretKey>,
}

impl Users {
    pub fn new(root: &UserConfig, others: &[UserConfig]) -> Self {
        let secrets = std::iter::once(root)
            .chain(others)
            .map(|u| (u.access_key.clone(), SecretKey::from(u.secret_key.clone())))
            .collect();
        Self { secrets }
    }
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.secrets
            .get(access_key)
            .cloned()
            .ok_or_else(|| ApiError::InvalidAccessKeyId.into())
    }
}
