//! The chunk layer's one error type. The model folds it into its own (`StorageError`),
//! keeping `NoSpace` a variant of its own there so that the gateway maps it in one place.

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("no store path has room for a new chunk")]
    NoSpace,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = ChunkError> = std::result::Result<T, E>;
