//! The storage crate's errors: the catalog's, the segments', and the object stores'
//! (COPY's sources, UNLOAD's targets, snapshots), each knowing its [`ErrorKind`].

use blueshift_proto::ErrorKind;
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
    /// A definition the catalog refuses (a replacing view that drops a column).
    #[error("{0}")]
    InvalidDefinition(String),
    /// No user with this name.
    #[error("user \"{0}\" does not exist")]
    UserNotFound(String),
    /// A user with this name already exists.
    #[error("user \"{0}\" already exists")]
    UserExists(String),
    /// No group with this name.
    #[error("group \"{0}\" does not exist")]
    GroupNotFound(String),
    /// A group with this name already exists.
    #[error("group \"{0}\" already exists")]
    GroupExists(String),
    /// A grant the catalog refuses (a role granted to itself).
    #[error("{0}")]
    InvalidGrant(String),
    /// No role with this name.
    #[error("role \"{0}\" does not exist")]
    RoleNotFound(String),
    /// A role with this name already exists.
    #[error("role \"{0}\" already exists")]
    RoleExists(String),
    /// A user or group that objects or privileges still depend on (DROP USER, DROP
    /// GROUP): `what` is `user "bob"`, `objects` names each dependency.
    #[error("{what} cannot be dropped because some objects depend on it: {}", objects.join("; "))]
    Dependents { what: String, objects: Vec<String> },
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
    #[error("Serializable isolation violation on table {table}: {reason}")]
    Conflict { table: String, reason: String },
    /// Other I/O.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An object store location that is not a URL Blueshift reads.
    #[error("invalid location '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    /// No object at this URL (or no bucket).
    #[error("'{url}' does not exist")]
    ObjectNotFound { url: String },
    /// The object store refused the credentials.
    #[error("access to '{url}' was denied: {reason}")]
    AccessDenied { url: String, reason: String },
    /// An object store request failed (network, server, a read cut short).
    #[error("error reading '{url}': {reason}")]
    ObjectIo { url: String, reason: String },
    /// No complete snapshot of that id in the store.
    #[error("snapshot '{id}' does not exist in {store}")]
    SnapshotNotFound { store: String, id: String },
    /// A snapshot of that id exists (or is being taken) already.
    #[error("snapshot '{id}' already exists in {store}")]
    SnapshotExists { store: String, id: String },
    /// An object of a snapshot store is missing, damaged or of another format.
    #[error("snapshot object '{object}' is corrupt: {reason}")]
    SnapshotCorrupt { object: String, reason: String },
    /// A snapshot request that cannot be done as asked (a bad id, a node count the
    /// slices cannot be spread over, a target directory that exists).
    #[error("{0}")]
    SnapshotRequest(String),
    /// The object is there but is not what the COPY says it is.
    #[error("'{url}': {reason}")]
    BadData { url: String, reason: String },
}

impl StorageError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StorageError::SchemaExists(_) => ErrorKind::DuplicateSchema,
            StorageError::SchemaNotFound(_) => ErrorKind::InvalidSchemaName,
            StorageError::SchemaNotEmpty(_) => ErrorKind::DependentObjectsStillExist,
            StorageError::TableExists(_) => ErrorKind::DuplicateTable,
            StorageError::TableNotFound(_) => ErrorKind::UndefinedTable,
            StorageError::UserNotFound(_)
            | StorageError::GroupNotFound(_)
            | StorageError::RoleNotFound(_) => ErrorKind::UndefinedObject,
            StorageError::UserExists(_)
            | StorageError::GroupExists(_)
            | StorageError::RoleExists(_) => ErrorKind::DuplicateObject,
            StorageError::Dependents { .. } => ErrorKind::DependentObjectsStillExist,
            StorageError::InvalidDefinition(_) => ErrorKind::InvalidTableDefinition,
            StorageError::InvalidGrant(_) => ErrorKind::InvalidParameterValue,
            StorageError::SegmentCorrupt { .. } | StorageError::SnapshotCorrupt { .. } => {
                ErrorKind::DataCorrupted
            }
            StorageError::SnapshotNotFound { .. } => ErrorKind::UndefinedObject,
            StorageError::SnapshotExists { .. } => ErrorKind::DuplicateObject,
            StorageError::SnapshotRequest(_) => ErrorKind::InvalidParameterValue,
            StorageError::Conflict { .. } => ErrorKind::SerializationFailure,
            StorageError::ObjectNotFound { .. } => ErrorKind::UndefinedFile,
            StorageError::AccessDenied { .. } => ErrorKind::InsufficientPrivilege,
            StorageError::BadUrl { .. } => ErrorKind::InvalidParameterValue,
            StorageError::ObjectIo { .. } => ErrorKind::IoError,
            StorageError::BadData { .. } => ErrorKind::BadCopyFileFormat,
            StorageError::Catalog(_)
            | StorageError::CatalogVersion { .. }
            | StorageError::CorruptRecord { .. }
            | StorageError::Segment { .. }
            | StorageError::Distribution(_)
            | StorageError::Io(_) => ErrorKind::InternalError,
        }
    }

    /// The error of an object store call on `url`.
    pub fn from_object_store(url: &str, e: object_store::Error) -> StorageError {
        let url = url.to_string();
        match e {
            object_store::Error::NotFound { .. } => StorageError::ObjectNotFound { url },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => StorageError::AccessDenied {
                url,
                reason: source.to_string(),
            },
            other => {
                let reason = other.to_string();
                // S3 reports a wrong key or signature as a 403 the client does
                // not always classify.
                if reason.contains("403")
                    || reason.contains("SignatureDoesNotMatch")
                    || reason.contains("InvalidAccessKeyId")
                    || reason.contains("AccessDenied")
                {
                    StorageError::AccessDenied { url, reason }
                } else if reason.contains("NoSuchBucket") || reason.contains("404") {
                    StorageError::ObjectNotFound { url }
                } else {
                    StorageError::ObjectIo { url, reason }
                }
            }
        }
    }
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Catalog(e.to_string())
    }
}
