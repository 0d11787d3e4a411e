//! The compute crate's errors.

use thiserror::Error;

/// What can go wrong on a compute node.
#[derive(Debug, Error)]
pub enum ComputeError {
    /// Storage failed (segment missing or corrupt, disk error).
    #[error(transparent)]
    Storage(#[from] blueshift_storage::StorageError),
    /// The server could not bind or serve.
    #[error("compute server: {0}")]
    Server(String),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
