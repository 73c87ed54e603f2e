//! Who signed a request: users and their secrets for SigV4 (and SigV2) verification by
//! s3s, and the user id each access key signs for.
//!
//! Three kinds of user: the root user (from the environment or the config), the users of
//! the config file, and the users of the metadata store (`fastgate admin user add`),
//! which every gateway over one database shares. A config user's id is its access key;
//! a stored user's id is its name, whichever of its keys signed. Stored secrets are
//! sealed under a key derived from the root secret ([`SecretSeal`]), so that the
//! metadata (a data directory, a database backup) holds no usable secret.

use std::collections::HashMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use fastgate_model::Store;
use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

use crate::config::UserConfig;
use crate::s3::ApiError;

/// The user id a verified request's access key signs for, set on the request by
/// [`Identities`] before any handler runs.
#[derive(Clone, Debug)]
pub struct UserId(pub String);

/// Every user's secret, by access key: the config's from memory, the store's looked up
/// (a point read) and unsealed on each request, so that a key removed on any gateway
/// stops working on all of them at once.
pub struct Users {
    secrets: HashMap<String, SecretKey>,
    store: Arc<Store>,
    seal: SecretSeal,
}

impl Users {
    pub fn new(root: &UserConfig, others: &[UserConfig], store: Arc<Store>) -> Self {
        let secrets = std::iter::once(root)
            .chain(others)
            .map(|u| (u.access_key.clone(), SecretKey::from(u.secret_key.clone())))
            .collect();
        Self {
            secrets,
            store,
            seal: SecretSeal::new(root),
        }
    }
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(s) = self.secrets.get(access_key) {
            return Ok(s.clone());
        }
        let ak = access_key.to_owned();
        let rec = self
            .store
            .point(move |s| s.access_key(&ak))
            .await
            .map_err(crate::s3::to_s3)?
            .ok_or(ApiError::InvalidAccessKeyId)?;
        match self.seal.open(access_key, &rec.sealed_secret) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => {
                // Sealed under another root secret: see `SecretSeal`.
                tracing::error!(
                    access_key,
                    "a stored access key cannot be unsealed with this root secret"
                );
                Err(ApiError::InvalidAccessKeyId.into())
            }
        }
    }
}

/// Sets [`UserId`] on every signed request, and decides nothing else. s3s's default
/// access hook refuses every unsigned request before a handler runs; fastgate lets every
/// request through to its handler, which decides with `Gateway::authorize` (an
/// anonymous request may be allowed by a policy or an ACL).
pub struct Identities {
    config_keys: std::collections::HashSet<String>,
    store: Arc<Store>,
}

impl Identities {
    pub fn new(root: &UserConfig, others: &[UserConfig], store: Arc<Store>) -> Self {
        Self {
            config_keys: std::iter::once(root)
                .chain(others)
                .map(|u| u.access_key.clone())
                .collect(),
            store,
        }
    }
}

#[async_trait::async_trait]
impl s3s::access::S3Access for Identities {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(access_key) = cx.credentials().map(|c| c.access_key.clone()) else {
            return Ok(());
        };
        let id = if self.config_keys.contains(&access_key) {
            access_key
        } else {
            // s3s verified the signature with this key's secret a moment ago; the key
            // may have been removed since, which refuses the request as if it had been
            // removed a moment earlier.
            self.store
                .point(move |s| s.access_key(&access_key))
                .await
                .map_err(crate::s3::to_s3)?
                .ok_or(ApiError::InvalidAccessKeyId)?
                .user
        };
        cx.extensions_mut().insert(UserId(id));
        Ok(())
    }
}

/// Seals stored secrets with AES-256-GCM under a key derived (HKDF-SHA256) from the
/// root credentials, with the access key as associated data (a sealed secret moved to
/// another key does not open). The root secret is the one secret every gateway already
/// shares and that is kept out of the data directory; the cost is that changing it
/// makes the stored secrets unreadable, which startup detects ([`SecretSeal::probe`])
/// and refuses, rather than failing every stored user's requests.
pub struct SecretSeal {
    cipher: Aes256Gcm,
}

const NONCE_LEN: usize = 12;
/// What [`SecretSeal::probe`] seals, under this associated data.
const PROBE: &[u8] = b"fastgate user secrets";

impl SecretSeal {
    pub fn new(root: &UserConfig) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"fastgate user secrets v1"), root.secret_key.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        hk.expand(root.access_key.as_bytes(), &mut key)
            .unwrap_or_else(|_| unreachable!("HKDF output of 32 bytes"));
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    fn seal_with(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption into a Vec cannot fail for inputs of this size.
        out.extend(
            self.cipher
                .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
                .unwrap_or_default(),
        );
        out
    }

    fn open_with(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ct) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher.decrypt(&Nonce::from(nonce), Payload { msg: ct, aad }).ok()
    }

    pub fn seal(&self, access_key: &str, secret: &str) -> Vec<u8> {
        self.seal_with(access_key.as_bytes(), secret.as_bytes())
    }

    pub fn open(&self, access_key: &str, sealed: &[u8]) -> Option<String> {
        String::from_utf8(self.open_with(access_key.as_bytes(), sealed)?).ok()
    }

    /// A sealed constant, stored with the first stored user, that tells at startup
    /// whether this root secret is the one the stored secrets were sealed under.
    pub fn probe(&self) -> Vec<u8> {
        self.seal_with(PROBE, PROBE)
    }

    pub fn opens_probe(&self, sealed: &[u8]) -> bool {
        self.open_with(PROBE, sealed).is_some_and(|p| p == PROBE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(secret: &str) -> UserConfig {
        UserConfig {
            access_key: "ROOT".into(),
            secret_key: secret.into(),
            email: None,
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_under_its_root_secret_and_access_key() {
        let seal = SecretSeal::new(&root("one"));
        let sealed = seal.seal("AK1", "s3cret");
        assert_eq!(seal.open("AK1", &sealed).as_deref(), Some("s3cret"));
        assert_eq!(seal.open("AK2", &sealed), None);
        assert_eq!(SecretSeal::new(&root("two")).open("AK1", &sealed), None);
        assert!(!String::from_utf8_lossy(&sealed).contains("s3cret"));
        assert!(seal.opens_probe(&seal.probe()));
        assert!(!SecretSeal::new(&root("two")).opens_probe(&seal.probe()));
    }
}
