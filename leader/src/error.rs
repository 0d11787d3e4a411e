//! The leader's errors, and the one place that maps every error to a SQLSTATE
//! (through [`ErrorKind`]'s table).

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use thiserror::Error;

/// The kinds of failure and their SQLSTATEs: one table, in `blueshift-proto`, because
/// compute nodes name the kind of their errors too (see [`blueshift_proto::ErrorDetail`]).
pub use blueshift_proto::error_kind::ErrorKind;

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
    /// A failure of its `kind` with its own message: a compute node's answer, a
    /// COPY's rows.
    #[error("{message}")]
    Failure { kind: ErrorKind, message: String },
    /// The query was cancelled.
    #[error("canceling statement due to user request")]
    Cancelled,
    /// A statement in the transaction block failed earlier.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// A statement that changes something, in a READ ONLY transaction block.
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnlyTransaction(String),
    /// A privilege the user lacks (the message names the object and the privilege).
    #[error("{0}")]
    PermissionDenied(String),
    /// A statement that cannot run inside a transaction block.
    #[error("{0} cannot run inside a transaction block")]
    InTransactionBlock(String),
    /// Storage, the catalog, or an object store (COPY's source, UNLOAD's target).
    #[error(transparent)]
    Storage(#[from] blueshift_storage::StorageError),
    /// One of Blueshift's operators, run on the leader (UNLOAD's writer).
    #[error(transparent)]
    Operator(#[from] blueshift_operators::error::OperatorError),
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

/// The kind and client message of a DataFusion error: a leader error inside it keeps
/// its own; the rest (compute nodes' statuses, the operators' errors, DataFusion's and
/// Arrow's) are classified where the operators are.
fn kind_of_datafusion(e: &DataFusionError) -> (ErrorKind, String) {
    if let Some(inner) = find_inner(e) {
        return (inner.kind(), sqlstate(inner).1);
    }
    blueshift_operators::error::kind_of(e)
}

impl LeaderError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
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
            LeaderError::InFailedTransaction => ErrorKind::InFailedSqlTransaction,
            LeaderError::InTransactionBlock(_) => ErrorKind::ActiveSqlTransaction,
            LeaderError::PermissionDenied(_) => ErrorKind::InsufficientPrivilege,
            LeaderError::ReadOnlyTransaction(_) => ErrorKind::ReadOnlySqlTransaction,
            LeaderError::DuplicateColumn(_) => ErrorKind::DuplicateColumn,
            LeaderError::DataCorrupted(_) => ErrorKind::DataCorrupted,
            LeaderError::Failure { kind, .. } => *kind,
            LeaderError::Io(_) => ErrorKind::ConnectionFailure,
            LeaderError::DataFusion(d) => kind_of_datafusion(d).0,
            LeaderError::Storage(s) => s.kind(),
            LeaderError::Operator(o) => o.kind(),
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
