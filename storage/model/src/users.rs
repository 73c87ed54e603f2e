//! Users and access keys kept in the metadata store, beside the root user (from the
//! environment) and the users of the config file.
//!
//! They live in the metadata so that every gateway over one database sees the same
//! users at once, and so that an operator adds one with `fastgate admin user add` instead
//! of editing the config of every gateway and restarting it. A user is a name; it owns
//! what it creates under that name, whichever of its keys signed the request, so a key
//! can be replaced without changing who owns what. An access key belongs to one user.
//!
//! The model keeps a key's secret as the gateway hands it over: sealed (the gateway
//! encrypts it under a key of its own, so that the metadata store does not hold usable
//! secrets). What sealing means is the gateway's business.

use std::ops::Bound;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};
use crate::ids::now_ms;
use crate::keys;
use crate::meta::TxError;
use crate::records::{decode, encode};
use crate::store::Store;

/// A user of the metadata store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub created_ms: i64,
    /// The address ACL grants by email (`emailAddress=`) resolve to this user by.
    pub email: Option<String>,
}

/// An access key of a user of the metadata store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The user the key signs for.
    pub user: String,
    pub created_ms: i64,
    /// The secret key, sealed by the gateway.
    pub sealed_secret: Vec<u8>,
}

/// A user with the access keys it has, as listings show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub record: UserRecord,
    pub access_keys: Vec<String>,
}

impl Store {
    /// Creates user `name`. A user of that name already stored is `UserExists`. The
    /// first user also stores `seal_probe`, the gateway's proof of the key its secrets
    /// are sealed under ([`Store::user_seal_probe`]).
    pub async fn create_user(self: &Arc<Self>, name: &str, email: Option<String>, seal_probe: Vec<u8>) -> Result<()> {
        let rec = UserRecord {
            created_ms: now_ms(),
            email,
        };
        let name = name.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::user(&name);
            if tx.get(&key)?.is_some() {
                return Err(TxError::Abort(StorageError::UserExists));
            }
            if let Some(email) = &rec.email {
                if tx.get(&keys::user_email(email))?.is_some() {
                    return Err(TxError::Abort(StorageError::EmailInUse));
                }
                tx.put(&keys::user_email(email), name.as_bytes())?;
            }
            tx.put(&key, &encode(&rec))?;
            if tx.get(&keys::user_seal_probe())?.is_none() {
                tx.put(&keys::user_seal_probe(), &seal_probe)?;
            }
            Ok(())
        })
        .await
    }

    /// What the gateway stored with the first user to recognise the key the stored
    /// secrets are sealed under; `None` before any user was stored.
    pub fn user_seal_probe(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(&keys::user_seal_probe())?)
    }

    /// Removes user `name` and every access key it has, in one transaction, so that no
    /// key is left signing for a user that is gone. What the user owns stays (S3 and
    /// IAM keep buckets when a user goes; its owner id still names them).
    pub async fn remove_user(self: &Arc<Self>, name: &str) -> Result<Vec<String>> {
        let name = name.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::user(&name);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchUser));
            };
            let rec: UserRecord = decode(&key, &v)?;
            if let Some(email) = &rec.email {
                tx.delete(&keys::user_email(email))?;
            }
            tx.delete(&key)?;
            let mut removed = Vec::new();
            for k in tx.keys_with_prefix(&keys::user_key_prefix(&name))? {
                let access_key = keys::user_key_access_key(&k).to_owned();
                tx.delete(&keys::access_key(&access_key))?;
                tx.delete(&k)?;
                removed.push(access_key);
            }
            Ok(removed)
        })
        .await
    }

    /// Gives user `user` the access key `access_key` with its sealed secret. A key that
    /// exists already (for anyone) is `AccessKeyExists`.
    pub async fn add_access_key(self: &Arc<Self>, user: &str, access_key: &str, sealed_secret: Vec<u8>) -> Result<()> {
        let rec = KeyRecord {
            user: user.to_owned(),
            created_ms: now_ms(),
            sealed_secret,
        };
        let access_key = access_key.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            if tx.get(&keys::user(&rec.user))?.is_none() {
                return Err(TxError::Abort(StorageError::NoSuchUser));
            }
            let key = keys::access_key(&access_key);
            if tx.get(&key)?.is_some() {
                return Err(TxError::Abort(StorageError::AccessKeyExists));
            }
            tx.put(&key, &encode(&rec))?;
            tx.put(&keys::user_key(&rec.user, &access_key), &[])?;
            Ok(())
        })
        .await
    }

    /// Removes access key `access_key`; `NoSuchAccessKey` when it is not stored.
    pub async fn remove_access_key(self: &Arc<Self>, access_key: &str) -> Result<()> {
        let access_key = access_key.to_owned();
        self.commit_with(Vec::new(), move |tx, _| {
            let key = keys::access_key(&access_key);
            let Some(v) = tx.get(&key)? else {
                return Err(TxError::Abort(StorageError::NoSuchAccessKey));
            };
            let rec: KeyRecord = decode(&key, &v)?;
            tx.delete(&key)?;
            tx.delete(&keys::user_key(&rec.user, &access_key))?;
            Ok(())
        })
        .await
    }

    /// The stored user `name`, if any.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let key = keys::user(name);
        self.meta.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// The stored user whose email is `email` (any case), if any.
    pub fn user_by_email(&self, email: &str) -> Result<Option<String>> {
        Ok(self
            .meta
            .get(&keys::user_email(email))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The stored access key `access_key`, if any: what signature checks look up.
    pub fn access_key(&self, access_key: &str) -> Result<Option<KeyRecord>> {
        let key = keys::access_key(access_key);
        self.meta.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Every stored user with its access keys, by name; read off the async workers.
    pub async fn list_users(self: &Arc<Self>) -> Result<Vec<UserEntry>> {
        self.off_worker(|s| {
            let start = [keys::USER];
            let end = [keys::USER + 1];
            let mut out = Vec::new();
            for kv in s.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
                let (k, v) = kv?;
                let name = String::from_utf8_lossy(&k[1..]).into_owned();
                let prefix = keys::user_key_prefix(&name);
                let end = keys::prefix_end(&prefix);
                let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
                let mut access_keys = Vec::new();
                for kk in s.meta.range(Bound::Included(&prefix), upper) {
                    access_keys.push(keys::user_key_access_key(&kk?.0).to_owned());
                }
                out.push(UserEntry {
                    record: decode(&k, &v)?,
                    name,
                    access_keys,
                });
            }
            Ok(out)
        })
        .await
    }
}
