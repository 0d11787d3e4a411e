//! [`Stopper`]: how WLM stops one statement of a session with its own message (a
//! query monitoring rule's abort, a WLM timeout).

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Stops one statement of a session with a message (see [`Session::stopper`]).
#[derive(Clone)]
pub struct Stopper {
    token: CancellationToken,
    cell: Arc<Mutex<CancellationToken>>,
    reason: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper").finish_non_exhaustive()
    }
}

impl Stopper {
    /// Stops the statement of `token`; `cell` holds the session's current token,
    /// `reason` the message its interrupt reports.
    pub fn new(
        token: CancellationToken,
        cell: Arc<Mutex<CancellationToken>>,
        reason: Arc<Mutex<Option<String>>>,
    ) -> Self {
        Stopper {
            token,
            cell,
            reason,
        }
    }

    /// Whether the statement was cancelled (by its client, another session or WLM).
    pub fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Cancels the statement, which fails with `message` (57014). A statement that
    /// was already cancelled is left as it is.
    pub fn stop(&self, message: &str) {
        let mut current = self.cell.lock().unwrap_or_else(|e| e.into_inner());
        if self.token.is_cancelled() {
            return;
        }
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.to_string());
        // The statement's token is the session's until cancelled: put a fresh one in
        // its place for the statements after it.
        *current = CancellationToken::new();
        self.token.cancel();
    }
}
