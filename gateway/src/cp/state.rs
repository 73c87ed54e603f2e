//! The resume state of one multipart upload, a small JSON file per (endpoint, bucket, key,
//! local file): the upload id and what is known of each part, written after every part so
//! that a `cp` killed at any point (`kill -9`, lost network) continues where it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a re-run needs to continue an upload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadState {
    pub upload_id: String,
    pub part_size: u64,
    /// The file's identity when the upload began: a file changed since is sent anew.
    pub file_size: u64,
    pub file_mtime_ns: i128,
    /// Part number -> what is known of it.
    pub parts: BTreeMap<u32, PartState>,
}

/// One part: its SHA-256 once read, its ETag once the server took it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartState {
    pub sha256: String,
    #[serde(default)]
    pub etag: Option<String>,
}

/// The state file for one transfer: its name hashes the endpoint, bucket, key and the
/// local file's absolute path, so that two transfers never share one.
pub fn path_for(dir: &Path, endpoint: &str, bucket: &str, key: &str, file: &Path) -> PathBuf {
    let mut h = Sha256::new();
    for part in [
        endpoint.as_bytes(),
        bucket.as_bytes(),
        key.as_bytes(),
        file.as_os_str().as_encoded_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    dir.join(format!("{}.json", hex::encode(&h.finalize()[..16])))
}

/// The default state directory: `$XDG_CACHE_HOME/fastgate/cp`, else `~/.cache/fastgate/cp`.
pub fn default_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("fastgate").join("cp")
}

/// Reads a state file; a missing or unreadable one is no state (the upload starts anew).
pub async fn load(path: &Path) -> Option<UploadState> {
    let text = tokio::fs::read(path).await.ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes a state file atomically (a temp file renamed over it), so a kill mid-write
/// leaves the previous state rather than half a file.
pub async fn save(path: &Path, state: &UploadState) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(state)?;
    tokio::fs::write(&tmp, text)
        .await
        .with_context(|| format!("writing {}", tmp.display()))?;
    tokio::fs::rename(&tmp, path)
        .await
        .with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

/// Removes a state file once its upload is complete.
pub async fn remove(path: &Path) {
    let _ = tokio::fs::remove_file(path).await;
}
