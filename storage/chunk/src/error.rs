//! The chunk layer's one error type. The model folds it into its own (`StorageError`),
//! keeping `NoSpace` a variant of its own there so that the gateway maps it in one place.

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("no store path has room for a new chunk")]
    NoSpace,
    #[error("i/o: {0}")]
    Io(std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Not enough copies can be made or reached now (a cluster's storage nodes are
    /// down): a condition to retry later, unlike a full disk.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl ChunkError {
    /// The [`ChunkError::Unavailable`] inside an I/O error, as a chunk writer's calls
    /// (which return `io::Result`) carry it.
    pub fn unavailable_in(e: &std::io::Error) -> Option<&str> {
        match e.get_ref()?.downcast_ref::<ChunkError>()? {
            ChunkError::Unavailable(m) => Some(m),
            _ => None,
        }
    }
}

/// A file system that fills up during a write (or a quota that runs out) is the same
/// condition as a store path without room before the write.
impl From<std::io::Error> for ChunkError {
    fn from(e: std::io::Error) -> Self {
        if is_no_space(&e) {
            ChunkError::NoSpace
        } else {
            ChunkError::Io(e)
        }
    }
}

/// ENOSPC or EDQUOT, however the standard library names them.
pub fn is_no_space(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

pub type Result<T, E = ChunkError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_or_quota_during_a_write_is_no_space() {
        for errno in [libc::ENOSPC, libc::EDQUOT] {
            let e = ChunkError::from(std::io::Error::from_raw_os_error(errno));
            assert!(matches!(e, ChunkError::NoSpace), "{errno}: {e:?}");
        }
        let other = ChunkError::from(std::io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(other, ChunkError::Io(_)));
    }
}
