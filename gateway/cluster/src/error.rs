//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The node could not be reached, or did not answer in time.
    #[error("node {node}: {reason}")]
    Unreachable { node: String, reason: String },
    /// The node answered, with an error status.
    #[error("node {node} answered {status}: {body}")]
    Status {
        node: String,
        status: http::StatusCode,
        body: String,
    },
    #[error("invalid cluster configuration: {0}")]
    Config(String),
}
