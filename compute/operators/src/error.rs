//! The operators' errors, as they travel inside DataFusion errors, and the kind of
//! any DataFusion error.

use blueshift_proto::error_kind::{ErrorDetail, ErrorKind};
use blueshift_storage::StorageError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use prost::Message;

/// What can go wrong in the operators Blueshift adds to DataFusion's. They travel
/// inside DataFusion errors (`External`), and [`kind_of`] finds them there.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A segment of a table could not be read (corrupt, missing or unreadable): the
    /// compute node answers with `DataLoss`, and the client gets XX001 naming the
    /// table, slice and segment.
    #[error("table {table}: {error}")]
    SegmentRead { table: String, error: StorageError },
    /// An object store failed (COPY's source, UNLOAD's target), or its data is not
    /// what the statement says it is.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// UNLOAD could not encode its rows into a file.
    #[error("UNLOAD: {0}")]
    Encode(String),
    /// A function's argument or result is not valid (a datepart it does not
    /// take, text that does not match a format, a result out of range).
    #[error("{message}")]
    Value { kind: ErrorKind, message: String },
}

impl OperatorError {
    /// What kind of failure this is: XX001 for a segment, the store's own kind, or
    /// 58030 for a file that could not be written.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OperatorError::SegmentRead { .. } => ErrorKind::DataCorrupted,
            OperatorError::Store(s) => s.kind(),
            OperatorError::Encode(_) => ErrorKind::IoError,
            OperatorError::Value { kind, .. } => *kind,
        }
    }
}

/// The Flight status of a failure of `kind`: the detail names the kind, and the code
/// says what a Flight client without the detail needs to know (`DataLoss` for a
/// segment that could not be read, `ResourceExhausted` for memory).
pub fn status(kind: ErrorKind, message: impl Into<String>) -> tonic::Status {
    let message = message.into();
    let code = match kind {
        ErrorKind::DataCorrupted => tonic::Code::DataLoss,
        ErrorKind::OutOfMemory | ErrorKind::DiskFull => tonic::Code::ResourceExhausted,
        ErrorKind::QueryCanceled => tonic::Code::Cancelled,
        ErrorKind::UndefinedFile => tonic::Code::NotFound,
        ErrorKind::InsufficientPrivilege => tonic::Code::PermissionDenied,
        ErrorKind::FeatureNotSupported => tonic::Code::Unimplemented,
        ErrorKind::InternalError | ErrorKind::IoError => tonic::Code::Internal,
        _ => tonic::Code::InvalidArgument,
    };
    let detail = ErrorDetail::new(kind, message.clone()).encode_to_vec();
    tonic::Status::with_details(code, message, detail.into())
}

/// The kind and message a status carries in its detail, if it carries one (a status
/// made by [`status`]; transport failures have none).
pub fn detail_of(status: &tonic::Status) -> Option<(ErrorKind, String)> {
    ErrorDetail::decode_from(status.details()).map(|d| (d.kind(), d.message))
}

/// The kind of a DataFusion error, and the message a client gets for it.
///
/// Errors that Blueshift's operators raise are typed and keep their kind: another
/// node's (a status with its detail), a segment that could not be read, an object
/// store's, UNLOAD's. So are Arrow's (division by zero, overflow, casts) and
/// DataFusion's schema, resource and feature errors. DataFusion reports the rest of
/// its planning and execution errors as text alone; they are classified here, the one
/// place that reads an error's words, and only on the errors DataFusion raised itself.
pub fn kind_of(e: &DataFusionError) -> (ErrorKind, String) {
    let root = e.find_root();
    if let DataFusionError::External(inner) = root {
        if let Some(status) = inner.downcast_ref::<tonic::Status>() {
            return detail_of(status).unwrap_or((ErrorKind::IoError, status.message().to_string()));
        }
        if let Some(op) = inner.downcast_ref::<OperatorError>() {
            return (op.kind(), op.to_string());
        }
        if let Some(store) = inner.downcast_ref::<StorageError>() {
            return (store.kind(), store.to_string());
        }
    }
    let text = e.strip_backtrace().to_string();
    if text.contains("spilling process has exceeded the allowable limit") {
        return (ErrorKind::DiskFull, crate::spill::limit_message(&text));
    }
    if text.contains("Scalar subquery returned more than one row") {
        return (
            ErrorKind::CardinalityViolation,
            "more than one row returned by a subquery used as an expression".to_string(),
        );
    }
    if text.contains("Correlated scalar subquery must be aggregated") {
        return (
            ErrorKind::FeatureNotSupported,
            "this correlated scalar subquery is not supported".to_string(),
        );
    }
    if text.contains("does not support logical expression ScalarSubquery") {
        return (
            ErrorKind::FeatureNotSupported,
            "a correlated scalar subquery with ORDER BY or LIMIT is not supported".to_string(),
        );
    }
    if text.contains("non-nullable but contains null") {
        return (
            ErrorKind::NotNullViolation,
            "null value violates not-null constraint".to_string(),
        );
    }
    let kind = match root {
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { field, .. } => {
                return (
                    ErrorKind::UndefinedColumn,
                    format!("column \"{}\" does not exist", field.name),
                );
            }
            SchemaError::AmbiguousReference { .. } => ErrorKind::AmbiguousColumn,
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => ErrorKind::DuplicateColumn,
        },
        DataFusionError::SQL(_, _) => ErrorKind::SyntaxError,
        DataFusionError::ResourcesExhausted(m) => {
            return (ErrorKind::OutOfMemory, memory_message(m));
        }
        DataFusionError::NotImplemented(_) => ErrorKind::FeatureNotSupported,
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            arrow::error::ArrowError::CastError(m)
            | arrow::error::ArrowError::ParseError(m)
            | arrow::error::ArrowError::InvalidArgumentError(m)
                if out_of_range_message(m).is_some() =>
            {
                let message = out_of_range_message(m).unwrap_or_default();
                return (ErrorKind::NumericValueOutOfRange, message);
            }
            // PostgreSQL: 22007 for a malformed date or time, 22P02 for other text.
            arrow::error::ArrowError::CastError(m) | arrow::error::ArrowError::ParseError(m)
                if input_syntax_message(m).is_some() =>
            {
                let message = input_syntax_message(m).unwrap_or_default();
                let kind = if ["date", "time", "timestamp"]
                    .iter()
                    .any(|t| message.contains(&format!("type {t}:")))
                {
                    ErrorKind::InvalidDatetimeFormat
                } else {
                    ErrorKind::InvalidTextRepresentation
                };
                return (kind, message);
            }
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
            arrow::error::ArrowError::DivideByZero => {
                return (ErrorKind::DivisionByZero, "division by zero".to_string());
            }
            arrow::error::ArrowError::ArithmeticOverflow(_) => ErrorKind::NumericValueOutOfRange,
            _ => ErrorKind::InternalError,
        },
        DataFusionError::Plan(msg) => {
            let m = msg.to_ascii_lowercase();
            if m.contains("table") && m.contains("not found") {
                return (
                    ErrorKind::UndefinedTable,
                    relation_missing_message(&text).unwrap_or(text),
                );
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
    (kind, text)
}

/// Arrow's words for text a cast could not read ("Cannot cast string 'x' to value
/// of Int32 type", "Error parsing timestamp from 'x': ...") as PostgreSQL's:
/// `invalid input syntax for type integer: "x"`.
/// PostgreSQL's words for a value that does not fit its type (22003), from Arrow's:
/// "Can't cast value 3000000000 to type Int32" is `integer out of range`, text that
/// is a number too large `value "3000000000" is out of range for type integer`, and a
/// DECIMAL's too many digits `numeric field overflow`.
fn out_of_range_message(m: &str) -> Option<String> {
    let integer = |arrow_type: &str| {
        [
            ("Int16", "smallint"),
            ("Int32", "integer"),
            ("Int64", "bigint"),
        ]
        .iter()
        .find(|(a, _)| arrow_type.trim().starts_with(a))
        .map(|(_, p)| *p)
    };
    if let Some((_, rest)) = m.split_once("Can't cast value ") {
        let (_, to) = rest.split_once(" to type ")?;
        return Some(format!("{} out of range", integer(to)?));
    }
    if let Some((_, rest)) = m.split_once(" is out of range ") {
        return Some(format!("{} out of range", integer(rest)?));
    }
    if m.contains("too large to store in a Decimal") || m.contains("Overflowing on") {
        return Some("numeric field overflow".to_string());
    }
    let rest = m.split_once("Cannot cast string '")?.1;
    let (value, to) = rest.rsplit_once("' to value of ")?;
    let digits = value.trim().trim_start_matches(['-', '+']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "value \"{value}\" is out of range for type {}",
        integer(to)?
    ))
}

fn input_syntax_message(m: &str) -> Option<String> {
    let (value, arrow_type) = if let Some(rest) = m
        .split_once("Cannot cast string '")
        .or_else(|| m.split_once("Cannot cast value '"))
        .map(|(_, r)| r)
    {
        let (value, rest) = rest.rsplit_once("' to value of ")?;
        (value, rest)
    } else {
        let rest = m.split_once("Error parsing timestamp from '")?.1;
        let (value, _) = rest.split_once('\'')?;
        (value, "Timestamp")
    };
    let pg = [
        ("Int16", "smallint"),
        ("Int32", "integer"),
        ("Int64", "bigint"),
        ("Float32", "real"),
        ("Float64", "double precision"),
        ("Decimal", "numeric"),
        ("Boolean", "boolean"),
        ("Date", "date"),
        ("Timestamp", "timestamp"),
        ("Time", "time"),
    ]
    .iter()
    .find(|(a, _)| arrow_type.starts_with(a))
    .map(|(_, p)| *p)?;
    Some(format!("invalid input syntax for type {pg}: \"{value}\""))
}

/// DataFusion says "table 'dev.public.x' not found"; PostgreSQL says relation "x"
/// does not exist.
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

/// The status a compute node answers a failed fragment with: the error's kind and
/// message in the detail.
pub fn status_of(e: &DataFusionError) -> tonic::Status {
    let (kind, message) = kind_of(e);
    status(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_kind_across_a_status() {
        let e = DataFusionError::ArrowError(Box::new(arrow::error::ArrowError::DivideByZero), None);
        let status = status_of(&e);
        assert_eq!(
            detail_of(&status).map(|(k, _)| k),
            Some(ErrorKind::DivisionByZero)
        );
        // Met again on another node, reading an exchange: the kind stays.
        let again = DataFusionError::External(Box::new(status));
        assert_eq!(kind_of(&again).0, ErrorKind::DivisionByZero);
        // A status without a detail is a node that failed.
        let bare = DataFusionError::External(Box::new(tonic::Status::unavailable("gone")));
        assert_eq!(kind_of(&bare).0, ErrorKind::IoError);
        let store = DataFusionError::External(Box::new(OperatorError::Store(
            StorageError::ObjectNotFound {
                url: "s3://b/k".into(),
            },
        )));
        assert_eq!(
            kind_of(&store),
            (ErrorKind::UndefinedFile, "'s3://b/k' does not exist".into())
        );
    }
}

/// A memory error in words a user can act on: the step that needed more, what it
/// asked for, the query's budget where it ran, and how to give it more. DataFusion's
/// words: `Failed to allocate additional 409.6 KB for ExternalSorterMerge[2] with 0.0
/// B already allocated for this reservation - 233.9 KB remain available for the total
/// memory pool: fair(pool_size: 1638.4 KB)`.
pub fn memory_message(datafusion: &str) -> String {
    let between = |after: &str, before: &str| {
        let start = datafusion.find(after)? + after.len();
        let len = datafusion[start..].find(before)?;
        Some(datafusion[start..start + len].trim().to_string())
    };
    let (Some(asked), Some(consumer)) = (
        between("allocate additional ", " for "),
        between(" for ", " with "),
    ) else {
        return format!("out of memory: {datafusion}");
    };
    let operator = consumer.split('[').next().unwrap_or_default();
    let step = match operator {
        o if o.starts_with("ExternalSorter") || o.starts_with("Sort") => "sort",
        o if o.starts_with("HashJoin") => "hash join",
        o if o.starts_with("SMJ") => "merge join",
        o if o.starts_with("GroupedHashAggregate") || o.contains("Aggregate") => "aggregate",
        o if o.starts_with("Repartition") => "repartition",
        o if o.contains("Window") => "window",
        _ => "step",
    };
    let budget = between("pool_size: ", ")")
        .map(|b| format!(" of the query's {b} budget here"))
        .unwrap_or_default();
    let article = if step.starts_with('a') { "an" } else { "a" };
    format!(
        "out of memory in {article} {step} ({operator}): it needed {asked} more{budget}; \
         give the query more memory with SET wlm_query_slot_count (more of its WLM queue's \
         slots) or a larger --query-memory-mb"
    )
}

#[cfg(test)]
mod memory_tests {
    use super::memory_message;

    #[test]
    fn memory_errors_name_the_step_the_budget_and_the_settings() {
        let m = memory_message(
            "Failed to allocate additional 409.6 KB for ExternalSorterMerge[2] with 0.0 B \
             already allocated for this reservation - 233.9 KB remain available for the total \
             memory pool: fair(pool_size: 1638.4 KB)",
        );
        assert_eq!(
            m,
            "out of memory in a sort (ExternalSorterMerge): it needed 409.6 KB more of the \
             query's 1638.4 KB budget here; give the query more memory with SET \
             wlm_query_slot_count (more of its WLM queue's slots) or a larger --query-memory-mb"
        );
        let m = memory_message(
            "Failed to allocate additional 265.1 MB for HashJoinInput[3] with 73.6 MB already \
             allocated for this reservation - 131.2 MB remain available for the total memory \
             pool: fair(pool_size: 800.0 MB)",
        );
        assert!(
            m.starts_with("out of memory in a hash join (HashJoinInput)"),
            "{m}"
        );
        assert_eq!(memory_message("odd"), "out of memory: odd");
    }
}
