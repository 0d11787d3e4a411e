//! The storage crate's errors.

use thiserror::Error;

/// Result alias of the storage crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// What can go wrong in storage.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The catalog database failed (I/O or corruption).
    #[error("catalog error: {0}")]
    Catalog(String),
    /// The catalog was written in a format newer than this release reads.
    #[error("catalog format version {found} is newer than this release reads ({supported})")]
    CatalogVersion { found: u32, supported: u32 },
    /// A catalog record could not be decoded.
    #[error("catalog record {key} is corrupt: {reason}")]
    CorruptRecord { key: String, reason: String },
    /// A schema with this name already exists.
    #[error("schema \"{0}\" already exists")]
    SchemaExists(String),
    /// No schema with this name.
    #[error("schema \"{0}\" does not exist")]
    SchemaNotFound(String),
    /// The schema still holds tables.
    #[error("cannot drop schema \"{0}\" because other objects depend on it")]
    SchemaNotEmpty(String),
    /// A table with this name already exists.
    #[error("relation \"{0}\" already exists")]
    TableExists(String),
    /// No table with this name.
    #[error("relation \"{0}\" does not exist")]
    TableNotFound(String),
    /// A user with this name already exists, or none does.
    #[error("role \"{0}\" does not exist")]
    UserNotFound(String),
    /// Reading or writing a segment file failed.
    #[error("segment {segment} on slice {slice}: {reason}")]
    Segment {
        slice: u32,
        segment: String,
        reason: String,
    },
    /// A segment's bytes do not match its name.
    #[error("segment {segment} on slice {slice} is corrupt: its content hash does not match")]
    SegmentCorrupt { slice: u32, segment: String },
    /// Rows could not be routed to slices.
    #[error("distribution error: {0}")]
    Distribution(String),
    /// A concurrent statement changed the rows this one read (SQLSTATE 40001).
    #[error("serializable isolation violation on table {table}: {reason}")]
    Conflict { table: String, reason: String },
    /// Other I/O.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Catalog(e.to_string())
    }
}
