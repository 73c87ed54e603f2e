//! The admin endpoints for users and access keys of the metadata store
//! (`/_fastgate/users`, `/_fastgate/keys`, root only; `fastgate admin user|key`).
//! New secrets are generated here, shown once in the answer, and stored sealed
//! (see [`crate::auth::SecretSeal`]).

use std::collections::HashSet;
use std::sync::Arc;

use fastgate_model::Store;
use http::{Method, StatusCode};
use s3s::{S3Request, S3Response, S3Result};

use crate::auth::SecretSeal;
use crate::config::{Settings, new_access_key, new_secret_key};
use crate::s3::{ApiError, to_s3};

pub const USERS: &str = "/_fastgate/users";
pub const KEYS: &str = "/_fastgate/keys";

/// What the user endpoints need besides the store.
pub struct UserAdmin {
    pub store: Arc<Store>,
    seal: SecretSeal,
    /// The config's users' ids (access keys): names and keys a stored user cannot take.
    config_ids: HashSet<String>,
    /// Root credentials generated at this start die with the process, and with them the
    /// key the stored secrets would be sealed under.
    generated_root: bool,
}

impl UserAdmin {
    pub fn new(store: Arc<Store>, settings: &Settings) -> Self {
        Self {
            store,
            seal: SecretSeal::new(&settings.root),
            config_ids: std::iter::once(&settings.root)
                .chain(&settings.users)
                .map(|u| u.access_key.clone())
                .collect(),
            generated_root: settings.generated_root,
        }
    }

    /// Refuses to serve over stored users whose secrets this root secret cannot open:
    /// every one of their requests would fail, which is worse than not starting.
    pub fn check_seal(&self) -> anyhow::Result<()> {
        match self.store.user_seal_probe()? {
            Some(probe) if !self.seal.opens_probe(&probe) => anyhow::bail!(
                "the users stored in the metadata were created under other root credentials: start with the root \
                 access key and secret key they were created under (their secrets are sealed with them)"
            ),
            _ => Ok(()),
        }
    }

    pub async fn call(&self, req: &S3Request<s3s::Body>) -> S3Result<S3Response<s3s::Body>> {
        let q: Vec<(String, String)> = req
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        Some((
                            urlencoding::decode(k).ok()?.into_owned(),
                            urlencoding::decode(v).ok()?.into_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let arg = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let need = |name: &'static str| arg(name).ok_or(ApiError::InvalidArgument(name));
        match (req.method.clone(), req.uri.path()) {
            (Method::GET, USERS) => {
                let users = self.store.list_users().await.map_err(to_s3)?;
                let json: Vec<_> = users
                    .iter()
                    .map(|u| {
                        serde_json::json!({
                            "name": u.name,
                            "email": u.record.email,
                            "created_ms": u.record.created_ms,
                            "access_keys": u.access_keys,
                        })
                    })
                    .collect();
                Ok(answer(StatusCode::OK, serde_json::Value::from(json).to_string()))
            }
            (Method::POST, USERS) => {
                let name = need("name")?;
                self.check_new_name(name)?;
                self.check_root()?;
                self.store
                    .create_user(name, arg("email").map(str::to_owned), self.seal.probe())
                    .await
                    .map_err(to_s3)?;
                let (ak, sk) = self.new_key(name).await?;
                tracing::info!(user = name, access_key = %ak, "user created");
                Ok(answer(
                    StatusCode::OK,
                    serde_json::json!({"name": name, "access_key": ak, "secret_key": sk}).to_string(),
                ))
            }
            (Method::DELETE, USERS) => {
                let name = need("name")?;
                let removed = self.store.remove_user(name).await.map_err(to_s3)?;
                tracing::info!(user = name, keys = removed.len(), "user removed");
                Ok(answer(
                    StatusCode::OK,
                    serde_json::json!({"name": name, "access_keys_removed": removed}).to_string(),
                ))
            }
            (Method::POST, KEYS) => {
                let user = need("user")?;
                self.check_root()?;
                let (ak, sk) = self.new_key(user).await?;
                tracing::info!(user, access_key = %ak, "access key created");
                Ok(answer(
                    StatusCode::OK,
                    serde_json::json!({"name": user, "access_key": ak, "secret_key": sk}).to_string(),
                ))
            }
            (Method::DELETE, KEYS) => {
                let ak = need("access_key")?;
                self.store.remove_access_key(ak).await.map_err(to_s3)?;
                tracing::info!(access_key = ak, "access key removed");
                Ok(answer(
                    StatusCode::OK,
                    serde_json::json!({"access_key": ak}).to_string(),
                ))
            }
            _ => Err(ApiError::NoSuchAdminOperation.into()),
        }
    }

    async fn new_key(&self, user: &str) -> S3Result<(String, String)> {
        let (ak, sk) = (new_access_key(), new_secret_key());
        self.store
            .add_access_key(user, &ak, self.seal.seal(&ak, &sk))
            .await
            .map_err(to_s3)?;
        Ok((ak, sk))
    }

    fn check_root(&self) -> S3Result<()> {
        if self.generated_root {
            return Err(ApiError::InvalidRequest(
                "Stored users need fixed root credentials (FASTGATE_ACCESS_KEY and FASTGATE_SECRET_KEY): their \
                 secrets are sealed under the root secret, and generated root credentials change at every start",
            )
            .into());
        }
        Ok(())
    }

    /// IAM's user names (1 to 64 of letters, digits and `+=,.@_-`), and none that is a
    /// config user's id, since ids name owners and policy principals.
    fn check_new_name(&self, name: &str) -> S3Result<()> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !valid {
            return Err(ApiError::InvalidArgument("A user name is 1 to 64 letters, digits and +=,.@_-").into());
        }
        if self.config_ids.contains(name) {
            return Err(ApiError::InvalidArgument("A config user has that id").into());
        }
        Ok(())
    }
}

fn answer(status: StatusCode, json: String) -> S3Response<s3s::Body> {
    let mut resp = S3Response::new(s3s::Body::from(json));
    resp.status = Some(status);
    resp.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers
        .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    resp
}
