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

/// A segment of a table could not be read (corrupt, missing or unreadable): the
/// compute node answers with `DataLoss`, and the client gets XX001 naming the table,
/// slice and segment.
#[derive(Debug)]
pub struct SegmentReadError {
    pub table: String,
    pub error: blueshift_storage::StorageError,
}

impl std::fmt::Display for SegmentReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table {}: {}", self.table, self.error)
    }
}

impl std::error::Error for SegmentReadError {}
