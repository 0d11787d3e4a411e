//! What a client is told of an error: its SQLSTATE and message, as an ErrorResponse.

use pgwire::error::{ErrorInfo, PgWireError};
use tracing::warn;

use crate::error::{ErrorKind, LeaderError, sqlstate};

impl From<LeaderError> for PgWireError {
    /// An internal error (XX000) is logged here, where it is handled; the client gets
    /// a short message pointing at the log, not the internals. The query log
    /// (SYS_QUERY_HISTORY's error_message) keeps the full text. A failed compute node
    /// (58030) is logged too, and its message, which names the node, goes to the client.
    fn from(e: LeaderError) -> Self {
        let (code, mut message) = sqlstate(&e);
        let kind = ErrorKind::from_sqlstate(code);
        if kind == Some(ErrorKind::InternalError) {
            warn!("internal error: {e}");
            message =
                "internal error: the server log and SYS_QUERY_HISTORY have the details".to_string();
        } else if code.starts_with("XX") || kind == Some(ErrorKind::IoError) {
            warn!("{code}: {e}");
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
