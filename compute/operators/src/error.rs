//! The operators' errors, as they travel inside DataFusion errors.

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
