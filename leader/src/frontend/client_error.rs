//! What a client is told of an error: its SQLSTATE and message, as an ErrorResponse.

use pgwire::error::{ErrorInfo, PgWireError};
use tracing::warn;

use crate::error::{ErrorKind, LeaderError, sqlstate};

/// The longest message a client gets for an I/O error (58030); the log has the rest.
const SHORT_MESSAGE_CHARS: usize = 240;

/// The first line of `message`, cut to [`SHORT_MESSAGE_CHARS`].
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(SHORT_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_string(),
    }
}

/// The ErrorResponse for `e`, raised while the statement with query id `query` ran
/// (`None` outside a statement, or before it started).
///
/// An internal error (XX000) and an I/O error (58030) are logged here, with the
/// query id, where they are handled; the client gets the query id and a short
/// message, never the internals (SYS_QUERY_HISTORY's error_message keeps the full
/// text). An I/O error's short message still names the compute node or object at
/// fault. A corrupt segment (XX001) is logged too.
pub(crate) fn client_error(e: LeaderError, query: Option<u64>) -> PgWireError {
    let (code, mut message) = sqlstate(&e);
    let kind = ErrorKind::from_sqlstate(code);
    let id = query.map_or_else(|| "-".to_string(), |q| q.to_string());
    match kind {
        Some(ErrorKind::InternalError) => {
            warn!(query = %id, "internal error: {e}");
            message = match query {
                Some(q) => format!(
                    "internal error in query {q}: the server log and SYS_QUERY_HISTORY have the detail"
                ),
                None => "internal error: the server log has the detail".to_string(),
            };
        }
        Some(ErrorKind::IoError) => {
            warn!(query = %id, "{code}: {e}");
            message = match query {
                Some(q) => format!("{} (query {q})", short(&message)),
                None => short(&message),
            };
        }
        _ if code.starts_with("XX") => warn!(query = %id, "{code}: {e}"),
        _ => {}
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

impl From<LeaderError> for PgWireError {
    /// An error outside a running statement (parsing, planning, the COPY protocol).
    fn from(e: LeaderError) -> Self {
        client_error(e, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(e: LeaderError, query: Option<u64>) -> (String, String) {
        match client_error(e, query) {
            PgWireError::UserError(info) => (info.code, info.message),
            other => panic!("not an ErrorResponse: {other}"),
        }
    }

    #[test]
    fn internal_errors_give_the_query_id_and_no_internals() {
        let internal = LeaderError::Failure {
            kind: ErrorKind::InternalError,
            message: "thread 'x' at src/flight.rs:12: invariant broken".into(),
        };
        let (code, message) = told(internal, Some(42));
        assert_eq!(code, "XX000");
        assert!(message.contains("query 42"), "{message}");
        assert!(!message.contains("flight.rs"), "{message}");

        let node = LeaderError::ComputeNode {
            node: 1,
            addr: "127.0.0.1:1".into(),
            reason: format!("transport error\n{}", "x".repeat(1000)),
        };
        let (code, message) = told(node, Some(7));
        assert_eq!(code, "58030");
        assert!(message.starts_with("compute node 1 (127.0.0.1:1): transport error"));
        assert!(message.ends_with("(query 7)"), "{message}");
        assert!(message.len() < 300, "{message}");

        let (code, message) = told(LeaderError::Unsupported("GRANT".into()), Some(3));
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("0A000", "GRANT is not supported")
        );
    }
}
