//! The kinds of failure, and the one table from kinds to SQLSTATEs.
//!
//! Both servers name kinds: a compute node sends the kind of a failed fragment to the
//! leader in an [`ErrorDetail`] (the details of the Flight status), and the leader
//! gives the client the kind's SQLSTATE. The message crosses as the node wrote it; no
//! side parses the other's text.

use prost::Message;

/// What kind of failure an error is. [`ErrorKind::sqlstate`] is the one table from
/// kinds to the SQLSTATEs clients get; docs/sql.md lists the same table (a test in the
/// leader checks that it does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 42601: the SQL does not parse (with the position of the offending token).
    SyntaxError,
    /// 0A000: a statement, option or feature Blueshift does not support, named.
    FeatureNotSupported,
    /// 42P16: a wrong table attribute or option.
    InvalidTableDefinition,
    /// 42704: an unknown setting or user.
    UndefinedObject,
    /// 22023: a bad setting value or option value.
    InvalidParameterValue,
    /// 22025: an escape string that is neither empty nor one character.
    InvalidEscapeSequence,
    /// 42P01: a missing table.
    UndefinedTable,
    /// 42703: a missing column.
    UndefinedColumn,
    /// 42702: a column name that matches more than one column.
    AmbiguousColumn,
    /// 42701: a duplicate column.
    DuplicateColumn,
    /// 42P07: the table exists.
    DuplicateTable,
    /// 42P06: the schema exists.
    DuplicateSchema,
    /// 42710: a user or group of this name exists.
    DuplicateObject,
    /// 42809: a statement for one kind of object names another (DROP TABLE of a view).
    WrongObjectType,
    /// 42P17: a definition that refers to itself (a view reading itself).
    InvalidObjectDefinition,
    /// 3F000: a missing schema.
    InvalidSchemaName,
    /// 2BP01: a schema that still holds tables.
    DependentObjectsStillExist,
    /// 42830: a foreign key that references no primary key or unique constraint.
    InvalidForeignKey,
    /// 428C9: a value given to a column that takes only generated ones (IDENTITY).
    GeneratedAlways,
    /// 42804: a type mismatch.
    DatatypeMismatch,
    /// 42883: an unknown function.
    UndefinedFunction,
    /// 22P02: a bad input value.
    InvalidTextRepresentation,
    /// 22007: a malformed date or time.
    InvalidDatetimeFormat,
    /// 22008: a date or time out of range.
    DatetimeFieldOverflow,
    /// 22001: a string longer than its column's declared length.
    StringDataRightTruncation,
    /// 22012: division by zero.
    DivisionByZero,
    /// 22003: a number out of its type's range.
    NumericValueOutOfRange,
    /// 21000: a scalar subquery that returned more than one row.
    CardinalityViolation,
    /// 23502: NULL into a NOT NULL column.
    NotNullViolation,
    /// 40001: a concurrent statement or transaction changed what this one read or
    /// the rows it changes.
    SerializationFailure,
    /// 25P02: a statement in the transaction block failed; the block refuses
    /// statements until it ends.
    InFailedSqlTransaction,
    /// 25001: a statement that cannot run inside a transaction block.
    ActiveSqlTransaction,
    /// 25006: a statement that changes something, in a READ ONLY transaction.
    ReadOnlySqlTransaction,
    /// 57014: a cancel request or statement_timeout stopped the statement.
    QueryCanceled,
    /// 53200: the statement needed more memory than its share.
    OutOfMemory,
    /// 53100: the statement's temporary files reached the spill limit.
    DiskFull,
    /// 42501: a privilege the user lacks (naming the object and the privilege), S3
    /// refused the credentials, or an IAM role is not mapped.
    InsufficientPrivilege,
    /// 28P01: a wrong password or unknown user.
    InvalidPassword,
    /// 28000: the connection is not allowed (require_ssl and a clear-text client).
    InvalidAuthorizationSpecification,
    /// 53300: the user's CONNECTION LIMIT is reached.
    TooManyConnections,
    /// 58P01: a COPY source (prefix, bucket, manifest entry) that does not exist.
    UndefinedFile,
    /// 58P02: an UNLOAD target that is not empty.
    DuplicateFile,
    /// 58030: a compute node failed or cannot be reached (named), or an object store could not be read.
    IoError,
    /// 22P04: a COPY with more bad rows than MAXERROR, or an unreadable file.
    BadCopyFileFormat,
    /// 08006: the connection failed.
    ConnectionFailure,
    /// XX001: a corrupt or missing segment file (naming the table, slice and segment).
    DataCorrupted,
    /// XX000: an internal error: the client gets a short message, the server log and SYS_QUERY_HISTORY the detail.
    InternalError,
}

impl ErrorKind {
    /// Every kind, in the order docs/sql.md lists them.
    pub const ALL: &[ErrorKind] = &[
        ErrorKind::SyntaxError,
        ErrorKind::FeatureNotSupported,
        ErrorKind::InvalidTableDefinition,
        ErrorKind::UndefinedObject,
        ErrorKind::InvalidParameterValue,
        ErrorKind::InvalidEscapeSequence,
        ErrorKind::UndefinedTable,
        ErrorKind::UndefinedColumn,
        ErrorKind::AmbiguousColumn,
        ErrorKind::DuplicateColumn,
        ErrorKind::DuplicateTable,
        ErrorKind::DuplicateSchema,
        ErrorKind::DuplicateObject,
        ErrorKind::WrongObjectType,
        ErrorKind::InvalidObjectDefinition,
        ErrorKind::InvalidSchemaName,
        ErrorKind::DependentObjectsStillExist,
        ErrorKind::InvalidForeignKey,
        ErrorKind::GeneratedAlways,
        ErrorKind::DatatypeMismatch,
        ErrorKind::UndefinedFunction,
        ErrorKind::InvalidTextRepresentation,
        ErrorKind::InvalidDatetimeFormat,
        ErrorKind::DatetimeFieldOverflow,
        ErrorKind::StringDataRightTruncation,
        ErrorKind::DivisionByZero,
        ErrorKind::NumericValueOutOfRange,
        ErrorKind::CardinalityViolation,
        ErrorKind::NotNullViolation,
        ErrorKind::SerializationFailure,
        ErrorKind::InFailedSqlTransaction,
        ErrorKind::ActiveSqlTransaction,
        ErrorKind::ReadOnlySqlTransaction,
        ErrorKind::QueryCanceled,
        ErrorKind::OutOfMemory,
        ErrorKind::DiskFull,
        ErrorKind::InsufficientPrivilege,
        ErrorKind::InvalidPassword,
        ErrorKind::InvalidAuthorizationSpecification,
        ErrorKind::TooManyConnections,
        ErrorKind::UndefinedFile,
        ErrorKind::DuplicateFile,
        ErrorKind::IoError,
        ErrorKind::BadCopyFileFormat,
        ErrorKind::ConnectionFailure,
        ErrorKind::DataCorrupted,
        ErrorKind::InternalError,
    ];

    /// The SQLSTATE of this kind of failure.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::SyntaxError => "42601",
            ErrorKind::FeatureNotSupported => "0A000",
            ErrorKind::InvalidTableDefinition => "42P16",
            ErrorKind::UndefinedObject => "42704",
            ErrorKind::InvalidParameterValue => "22023",
            ErrorKind::InvalidEscapeSequence => "22025",
            ErrorKind::UndefinedTable => "42P01",
            ErrorKind::UndefinedColumn => "42703",
            ErrorKind::AmbiguousColumn => "42702",
            ErrorKind::DuplicateColumn => "42701",
            ErrorKind::DuplicateTable => "42P07",
            ErrorKind::DuplicateSchema => "42P06",
            ErrorKind::DuplicateObject => "42710",
            ErrorKind::WrongObjectType => "42809",
            ErrorKind::InvalidObjectDefinition => "42P17",
            ErrorKind::InvalidSchemaName => "3F000",
            ErrorKind::DependentObjectsStillExist => "2BP01",
            ErrorKind::InvalidForeignKey => "42830",
            ErrorKind::GeneratedAlways => "428C9",
            ErrorKind::DatatypeMismatch => "42804",
            ErrorKind::UndefinedFunction => "42883",
            ErrorKind::InvalidTextRepresentation => "22P02",
            ErrorKind::InvalidDatetimeFormat => "22007",
            ErrorKind::DatetimeFieldOverflow => "22008",
            ErrorKind::StringDataRightTruncation => "22001",
            ErrorKind::DivisionByZero => "22012",
            ErrorKind::NumericValueOutOfRange => "22003",
            ErrorKind::CardinalityViolation => "21000",
            ErrorKind::NotNullViolation => "23502",
            ErrorKind::SerializationFailure => "40001",
            ErrorKind::InFailedSqlTransaction => "25P02",
            ErrorKind::ActiveSqlTransaction => "25001",
            ErrorKind::ReadOnlySqlTransaction => "25006",
            ErrorKind::QueryCanceled => "57014",
            ErrorKind::OutOfMemory => "53200",
            ErrorKind::DiskFull => "53100",
            ErrorKind::InsufficientPrivilege => "42501",
            ErrorKind::InvalidPassword => "28P01",
            ErrorKind::InvalidAuthorizationSpecification => "28000",
            ErrorKind::TooManyConnections => "53300",
            ErrorKind::UndefinedFile => "58P01",
            ErrorKind::DuplicateFile => "58P02",
            ErrorKind::IoError => "58030",
            ErrorKind::BadCopyFileFormat => "22P04",
            ErrorKind::ConnectionFailure => "08006",
            ErrorKind::DataCorrupted => "XX001",
            ErrorKind::InternalError => "XX000",
        }
    }

    /// The kind whose SQLSTATE is `code`, if there is one.
    pub fn from_sqlstate(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL
            .iter()
            .copied()
            .find(|k| k.sqlstate() == code)
    }
}

/// A failure as it crosses Flight: the bytes of a `tonic::Status`'s details.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorDetail {
    /// The kind's SQLSTATE (the table above), which names the kind on the wire.
    #[prost(string, tag = "1")]
    pub sqlstate: String,
    /// What the client is told.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl ErrorDetail {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorDetail {
            sqlstate: kind.sqlstate().to_string(),
            message: message.into(),
        }
    }

    /// The kind, if the detail names one this release knows (an unknown one, from a
    /// newer node, is internal).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_sqlstate(&self.sqlstate).unwrap_or(ErrorKind::InternalError)
    }

    /// The detail in `bytes` (a status's details), if they hold one.
    pub fn decode_from(bytes: &[u8]) -> Option<ErrorDetail> {
        if bytes.is_empty() {
            return None;
        }
        ErrorDetail::decode(bytes)
            .ok()
            .filter(|d| !d.sqlstate.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_crosses_as_bytes_with_its_kind() {
        let detail = ErrorDetail::new(ErrorKind::DivisionByZero, "division by zero");
        let back = ErrorDetail::decode_from(&detail.encode_to_vec()).expect("decodes");
        assert_eq!(back.kind(), ErrorKind::DivisionByZero);
        assert_eq!(back.message, "division by zero");
        assert!(ErrorDetail::decode_from(b"").is_none());
        assert!(ErrorDetail::decode_from(b"\xff\xff").is_none());
        let future = ErrorDetail {
            sqlstate: "ZZ999".into(),
            message: "m".into(),
        };
        assert_eq!(future.kind(), ErrorKind::InternalError);
    }
}
