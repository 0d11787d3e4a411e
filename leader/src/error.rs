//! The leader's errors, and the one place that maps every error to a SQLSTATE.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use thiserror::Error;

/// What kind of failure an error is. [`ErrorKind::sqlstate`] is the one table from
/// kinds to the SQLSTATEs clients get; docs/sql.md lists the same table (a test checks
/// that it does).
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
    /// 3F000: a missing schema.
    InvalidSchemaName,
    /// 2BP01: a schema that still holds tables.
    DependentObjectsStillExist,
    /// 42804: a type mismatch.
    DatatypeMismatch,
    /// 42883: an unknown function.
    UndefinedFunction,
    /// 22P02: a bad input value.
    InvalidTextRepresentation,
    /// 22007: a malformed date or time.
    InvalidDatetimeFormat,
    /// 22012: division by zero.
    DivisionByZero,
    /// 22003: a number out of its type's range.
    NumericValueOutOfRange,
    /// 21000: a scalar subquery that returned more than one row.
    CardinalityViolation,
    /// 23502: NULL into a NOT NULL column.
    NotNullViolation,
    /// 40001: a concurrent DELETE or UPDATE changed the same rows.
    SerializationFailure,
    /// 57014: a cancel request or statement_timeout stopped the statement.
    QueryCanceled,
    /// 53200: the statement needed more memory than its share.
    OutOfMemory,
    /// 42501: S3 refused the credentials, or an IAM role is not mapped.
    InsufficientPrivilege,
    /// 28P01: a wrong password or unknown user.
    InvalidPassword,
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
        ErrorKind::UndefinedTable,
        ErrorKind::UndefinedColumn,
        ErrorKind::AmbiguousColumn,
        ErrorKind::DuplicateColumn,
        ErrorKind::DuplicateTable,
        ErrorKind::DuplicateSchema,
        ErrorKind::InvalidSchemaName,
        ErrorKind::DependentObjectsStillExist,
        ErrorKind::DatatypeMismatch,
        ErrorKind::UndefinedFunction,
        ErrorKind::InvalidTextRepresentation,
        ErrorKind::InvalidDatetimeFormat,
        ErrorKind::DivisionByZero,
        ErrorKind::NumericValueOutOfRange,
        ErrorKind::CardinalityViolation,
        ErrorKind::NotNullViolation,
        ErrorKind::SerializationFailure,
        ErrorKind::QueryCanceled,
        ErrorKind::OutOfMemory,
        ErrorKind::InsufficientPrivilege,
        ErrorKind::InvalidPassword,
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
            ErrorKind::UndefinedTable => "42P01",
            ErrorKind::UndefinedColumn => "42703",
            ErrorKind::AmbiguousColumn => "42702",
            ErrorKind::DuplicateColumn => "42701",
            ErrorKind::DuplicateTable => "42P07",
            ErrorKind::DuplicateSchema => "42P06",
            ErrorKind::InvalidSchemaName => "3F000",
            ErrorKind::DependentObjectsStillExist => "2BP01",
            ErrorKind::DatatypeMismatch => "42804",
            ErrorKind::UndefinedFunction => "42883",
            ErrorKind::InvalidTextRepresentation => "22P02",
            ErrorKind::InvalidDatetimeFormat => "22007",
            ErrorKind::DivisionByZero => "22012",
            ErrorKind::NumericValueOutOfRange => "22003",
            ErrorKind::CardinalityViolation => "21000",
            ErrorKind::NotNullViolation => "23502",
            ErrorKind::SerializationFailure => "40001",
            ErrorKind::QueryCanceled => "57014",
            ErrorKind::OutOfMemory => "53200",
            ErrorKind::InsufficientPrivilege => "42501",
            ErrorKind::InvalidPassword => "28P01",
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

/// What can go wrong on the leader.
#[derive(Debug, Error)]
pub enum LeaderError {
    /// The SQL text does not parse; `position` is 1-based, in characters.
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    /// A statement or feature Blueshift does not support.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A table attribute or option is wrong.
    #[error("{0}")]
    InvalidDefinition(String),
    /// A configuration parameter is unknown.
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownSetting(String),
    /// A parameter value is invalid.
    #[error("{0}")]
    InvalidParameter(String),
    /// Bad configuration of the leader itself.
    #[error("configuration: {0}")]
    Config(String),
    /// A compute node failed or could not be reached.
    #[error("compute node {node} ({addr}): {reason}")]
    ComputeNode {
        node: u32,
        addr: String,
        reason: String,
    },
    /// The statement ran longer than `statement_timeout`.
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// A segment a query read is corrupt or missing.
    #[error("{0}")]
    DataCorrupted(String),
    /// A column with this name already exists.
    #[error("column \"{0}\" of relation already exists")]
    DuplicateColumn(String),
    /// A NULL went into a NOT NULL column.
    #[error("null value in column \"{0}\" violates not-null constraint")]
    NotNullViolation(String),
    /// A failure of its `kind` with its own message: an object store (COPY's source,
    /// UNLOAD's target) or the data in it, a compute node's answer, a COPY's rows.
    #[error("{message}")]
    Failure { kind: ErrorKind, message: String },
    /// The query was cancelled.
    #[error("canceling statement due to user request")]
    Cancelled,
    /// Storage or catalog.
    #[error(transparent)]
    Storage(#[from] blueshift_storage::StorageError),
    /// The query engine.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// The wire protocol.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<ParserError> for LeaderError {
    fn from(e: ParserError) -> Self {
        LeaderError::Syntax {
            message: e.to_string(),
            position: None,
        }
    }
}

impl From<LeaderError> for DataFusionError {
    fn from(e: LeaderError) -> Self {
        match e {
            LeaderError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// Finds a `LeaderError` or `StorageError` inside a DataFusion error chain.
fn find_inner(e: &DataFusionError) -> Option<&LeaderError> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<LeaderError>(),
        DataFusionError::Context(_, inner) => find_inner(inner),
        DataFusionError::Shared(inner) => find_inner(inner),
        _ => None,
    }
}

fn kind_of_datafusion(e: &DataFusionError) -> (ErrorKind, String) {
    use datafusion::common::SchemaError;
    if let Some(inner) = find_inner(e) {
        return (inner.kind(), sqlstate(inner).1);
    }
    let text = e.strip_backtrace().to_string();
    if text.contains("Scalar subquery returned more than one row") {
        return (
            ErrorKind::CardinalityViolation,
            "more than one row returned by a subquery used as an expression".to_string(),
        );
    }
    if text.contains("Correlated scalar subquery must be aggregated") {
        return (
            ErrorKind::FeatureNotSupported,
            "a correlated subquery in the select list that is not an aggregate is not supported"
                .to_string(),
        );
    }
    if text.contains("non-nullable but contains null") {
        return (
            ErrorKind::NotNullViolation,
            "null value violates not-null constraint".to_string(),
        );
    }
    let code = match e.find_root() {
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { .. } => ErrorKind::UndefinedColumn,
            SchemaError::AmbiguousReference { .. } => ErrorKind::AmbiguousColumn,
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => ErrorKind::DuplicateColumn,
        },
        DataFusionError::SQL(_, _) => ErrorKind::SyntaxError,
        DataFusionError::ResourcesExhausted(_) => ErrorKind::OutOfMemory,
        DataFusionError::NotImplemented(_) => ErrorKind::FeatureNotSupported,
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            // PostgreSQL: 22007 for a malformed date or time, 22P02 for other text.
            arrow::error::ArrowError::CastError(m) | arrow::error::ArrowError::ParseError(m)
                if ["Date", "Time", "timestamp", "date"]
                    .iter()
                    .any(|t| m.contains(&format!(" {t}")))
                    || m.contains("of Date")
                    || m.contains("of Time") =>
            {
                ErrorKind::InvalidDatetimeFormat
            }
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                ErrorKind::InvalidTextRepresentation
            }
            arrow::error::ArrowError::DivideByZero => ErrorKind::DivisionByZero,
            arrow::error::ArrowError::ArithmeticOverflow(_) => ErrorKind::NumericValueOutOfRange,
            _ => ErrorKind::InternalError,
        },
        DataFusionError::Plan(msg) => {
            let m = msg.to_ascii_lowercase();
            if m.contains("table") && m.contains("not found") {
                ErrorKind::UndefinedTable
            } else if m.contains("no field named") {
                ErrorKind::UndefinedColumn
            } else if m.contains("cannot infer common")
                || m.contains("coercion")
                || m.contains("cannot coerce")
                || m.contains("does not support")
                || m.contains("failed to coerce")
                || m.contains("no function matches")
            {
                ErrorKind::DatatypeMismatch
            } else if m.contains("function") && m.contains("not found")
                || m.contains("invalid function")
            {
                ErrorKind::UndefinedFunction
            } else {
                ErrorKind::SyntaxError
            }
        }
        DataFusionError::Execution(msg) => {
            let m = msg.to_ascii_lowercase();
            if m.contains("cast") || m.contains("cannot parse") || m.contains("invalid") {
                ErrorKind::InvalidTextRepresentation
            } else if m.contains("divide by zero") {
                ErrorKind::DivisionByZero
            } else {
                ErrorKind::InternalError
            }
        }
        _ => ErrorKind::InternalError,
    };
    if let DataFusionError::SchemaError(s, _) = e.find_root()
        && let SchemaError::FieldNotFound { field, .. } = s.as_ref()
    {
        return (code, format!("column \"{}\" does not exist", field.name));
    }
    let text = if code == ErrorKind::UndefinedTable {
        // DataFusion says "table 'dev.public.x' not found"; PostgreSQL says
        // relation "x" does not exist.
        relation_missing_message(&text).unwrap_or(text)
    } else {
        text
    };
    (code, text)
}

fn relation_missing_message(text: &str) -> Option<String> {
    let start = text.find("table '")? + "table '".len();
    let end = start + text[start..].find('\'')?;
    let name = &text[start..end];
    let short = name
        .strip_prefix("dev.public.")
        .or_else(|| name.strip_prefix("dev."))
        .unwrap_or(name);
    Some(format!("relation \"{short}\" does not exist"))
}

impl LeaderError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use blueshift_storage::StorageError as S;
        match self {
            LeaderError::Syntax { .. } => ErrorKind::SyntaxError,
            LeaderError::Unsupported(_) => ErrorKind::FeatureNotSupported,
            LeaderError::InvalidDefinition(_) => ErrorKind::InvalidTableDefinition,
            LeaderError::UnknownSetting(_) => ErrorKind::UndefinedObject,
            LeaderError::InvalidParameter(_) => ErrorKind::InvalidParameterValue,
            LeaderError::Config(_) => ErrorKind::InternalError,
            LeaderError::ComputeNode { .. } => ErrorKind::IoError,
            LeaderError::Cancelled | LeaderError::StatementTimeout => ErrorKind::QueryCanceled,
            LeaderError::NotNullViolation(_) => ErrorKind::NotNullViolation,
            LeaderError::DuplicateColumn(_) => ErrorKind::DuplicateColumn,
            LeaderError::DataCorrupted(_) => ErrorKind::DataCorrupted,
            LeaderError::Failure { kind, .. } => *kind,
            LeaderError::Io(_) => ErrorKind::ConnectionFailure,
            LeaderError::DataFusion(d) => kind_of_datafusion(d).0,
            LeaderError::Storage(s) => match s {
                S::SchemaExists(_) => ErrorKind::DuplicateSchema,
                S::SchemaNotFound(_) => ErrorKind::InvalidSchemaName,
                S::SchemaNotEmpty(_) => ErrorKind::DependentObjectsStillExist,
                S::TableExists(_) => ErrorKind::DuplicateTable,
                S::TableNotFound(_) => ErrorKind::UndefinedTable,
                S::UserNotFound(_) => ErrorKind::UndefinedObject,
                S::SegmentCorrupt { .. } => ErrorKind::DataCorrupted,
                S::Conflict { .. } => ErrorKind::SerializationFailure,
                _ => ErrorKind::InternalError,
            },
        }
    }
}

/// The SQLSTATE and message a client gets for `e`.
pub fn sqlstate(e: &LeaderError) -> (&'static str, String) {
    match e {
        LeaderError::DataFusion(d) => {
            let (kind, message) = kind_of_datafusion(d);
            (kind.sqlstate(), message)
        }
        other => (other.kind().sqlstate(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/sql.md's table of SQLSTATEs is this module's: every kind with its code,
    /// and no code the table does not have.
    #[test]
    fn the_sqlstate_table_in_the_docs_is_the_kinds_table() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sql.md"))
            .expect("docs/sql.md");
        let section = docs
            .split("\n## ")
            .find(|s| s.starts_with("Errors"))
            .expect("an Errors section");
        let rows: Vec<(String, String)> = section
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                match cells.as_slice() {
                    ["", code, kind, _, ""] if code.starts_with('`') => {
                        Some((code.trim_matches('`').to_string(), kind.to_string()))
                    }
                    _ => None,
                }
            })
            .collect();
        let expected: Vec<(String, String)> = ErrorKind::ALL
            .iter()
            .map(|k| (k.sqlstate().to_string(), format!("{k:?}")))
            .collect();
        assert_eq!(
            rows, expected,
            "docs/sql.md's Errors table and ErrorKind differ"
        );
        let mut codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.sqlstate()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes.len(),
            ErrorKind::ALL.len(),
            "two kinds share a SQLSTATE"
        );
    }

    #[test]
    fn errors_know_their_kind() {
        assert_eq!(LeaderError::Cancelled.kind(), ErrorKind::QueryCanceled);
        assert_eq!(
            sqlstate(&LeaderError::Unsupported("INTERSECT ALL".into())),
            ("0A000", "INTERSECT ALL is not supported".to_string())
        );
        let storage =
            LeaderError::Storage(blueshift_storage::StorageError::TableNotFound("t".into()));
        assert_eq!(storage.kind().sqlstate(), "42P01");
    }
}
