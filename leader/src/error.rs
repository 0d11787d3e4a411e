//! The leader's errors, and the one place that maps every error to a SQLSTATE.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::error::{ErrorInfo, PgWireError};
use thiserror::Error;
use tracing::warn;

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
    /// An object store (COPY's source, UNLOAD's target) or the data in it, with the
    /// SQLSTATE a client expects: 58P01 missing, 42501 denied, 58030 unreadable,
    /// 22P04 bad data.
    #[error("{message}")]
    External { code: &'static str, message: String },
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

fn sqlstate_of_datafusion(e: &DataFusionError) -> (&'static str, String) {
    use datafusion::common::SchemaError;
    if let Some(inner) = find_inner(e) {
        return sqlstate(inner);
    }
    let text = e.strip_backtrace().to_string();
    if text.contains("Scalar subquery returned more than one row") {
        return (
            "21000",
            "more than one row returned by a subquery used as an expression".to_string(),
        );
    }
    if text.contains("Correlated scalar subquery must be aggregated") {
        return (
            "0A000",
            "a correlated subquery in the select list that is not an aggregate is not supported"
                .to_string(),
        );
    }
    if text.contains("non-nullable but contains null") {
        return (
            "23502",
            "null value violates not-null constraint".to_string(),
        );
    }
    let code = match e.find_root() {
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::SQL(_, _) => "42601",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            // PostgreSQL: 22007 for a malformed date or time, 22P02 for other text.
            arrow::error::ArrowError::CastError(m) | arrow::error::ArrowError::ParseError(m)
                if ["Date", "Time", "timestamp", "date"]
                    .iter()
                    .any(|t| m.contains(&format!(" {t}")))
                    || m.contains("of Date")
                    || m.contains("of Time") =>
            {
                "22007"
            }
            arrow::error::ArrowError::CastError(_) | arrow::error::ArrowError::ParseError(_) => {
                "22P02"
            }
            arrow::error::ArrowError::DivideByZero => "22012",
            arrow::error::ArrowError::ArithmeticOverflow(_) => "22003",
            _ => "XX000",
        },
        DataFusionError::Plan(msg) => {
            let m = msg.to_ascii_lowercase();
            if m.contains("table") && m.contains("not found") {
                "42P01"
            } else if m.contains("no field named") {
                "42703"
            } else if m.contains("cannot infer common")
                || m.contains("coercion")
                || m.contains("cannot coerce")
                || m.contains("does not support")
                || m.contains("failed to coerce")
                || m.contains("no function matches")
            {
                "42804"
            } else if m.contains("function") && m.contains("not found")
                || m.contains("invalid function")
            {
                "42883"
            } else {
                "42601"
            }
        }
        DataFusionError::Execution(msg) => {
            let m = msg.to_ascii_lowercase();
            if m.contains("cast") || m.contains("cannot parse") || m.contains("invalid") {
                "22P02"
            } else if m.contains("divide by zero") {
                "22012"
            } else {
                "XX000"
            }
        }
        _ => "XX000",
    };
    if let DataFusionError::SchemaError(s, _) = e.find_root()
        && let SchemaError::FieldNotFound { field, .. } = s.as_ref()
    {
        return (code, format!("column \"{}\" does not exist", field.name));
    }
    let text = if code == "42P01" {
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

/// The SQLSTATE and message a client gets for `e`.
pub fn sqlstate(e: &LeaderError) -> (&'static str, String) {
    use blueshift_storage::StorageError as S;
    match e {
        LeaderError::Syntax { .. } => ("42601", e.to_string()),
        LeaderError::Unsupported(_) => ("0A000", e.to_string()),
        LeaderError::InvalidDefinition(_) => ("42P16", e.to_string()),
        LeaderError::UnknownSetting(_) => ("42704", e.to_string()),
        LeaderError::InvalidParameter(_) => ("22023", e.to_string()),
        LeaderError::Config(_) => ("XX000", e.to_string()),
        LeaderError::ComputeNode { .. } => ("58030", e.to_string()),
        LeaderError::Cancelled | LeaderError::StatementTimeout => ("57014", e.to_string()),
        LeaderError::NotNullViolation(_) => ("23502", e.to_string()),
        LeaderError::DuplicateColumn(_) => ("42701", e.to_string()),
        LeaderError::DataCorrupted(_) => ("XX001", e.to_string()),
        LeaderError::External { code, .. } => (code, e.to_string()),
        LeaderError::Io(_) => ("08006", e.to_string()),
        LeaderError::DataFusion(d) => sqlstate_of_datafusion(d),
        LeaderError::Storage(s) => {
            let code = match s {
                S::SchemaExists(_) => "42P06",
                S::SchemaNotFound(_) => "3F000",
                S::SchemaNotEmpty(_) => "2BP01",
                S::TableExists(_) => "42P07",
                S::TableNotFound(_) => "42P01",
                S::UserNotFound(_) => "42704",
                S::SegmentCorrupt { .. } => "XX001",
                S::Conflict { .. } => "40001",
                _ => "XX000",
            };
            (code, s.to_string())
        }
    }
}

impl From<LeaderError> for PgWireError {
    fn from(e: LeaderError) -> Self {
        let (code, message) = sqlstate(&e);
        if code.starts_with("XX") || code == "58030" {
            warn!("internal error: {e}");
        }
        let mut info = ErrorInfo::new("ERROR".to_string(), code.to_string(), message);
        if let LeaderError::Syntax {
            position: Some(p), ..
        } = e
        {
            info.position = Some(p.to_string());
        }
        PgWireError::UserError(Box::new(info))
    }
}
