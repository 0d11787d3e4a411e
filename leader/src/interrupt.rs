//! [`Interrupt`]: what stops a running statement: the client's CancelRequest or the
//! session's `statement_timeout`. Stopping drops the statement's streams, which drops
//! its Flight calls, so the compute nodes stop its fragments too.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use datafusion::error::DataFusionError;
use std::sync::Arc;

use crate::session::Session;
use futures::{Stream, StreamExt};

use crate::error::LeaderError;

type Reason = Pin<Box<dyn Future<Output = LeaderError> + Send>>;

/// A future that resolves when the statement must stop, with the reason.
pub struct Interrupt {
    reason: Reason,
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt").finish_non_exhaustive()
    }
}

impl Interrupt {
    /// Stops when `session` is cancelled (a CancelRequest, or WLM with its own
    /// message) or after `timeout_ms` (0: no timeout).
    pub fn new(session: Option<Arc<Session>>, timeout_ms: u64) -> Self {
        let token = session.as_ref().map(|s| {
            // A reason WLM left for an earlier statement is not this one's.
            s.take_stop_reason();
            s.cancel_token()
        });
        let reason = async move {
            let cancelled = async {
                match token {
                    Some(token) => {
                        token.cancelled().await;
                        match session.as_ref().and_then(|s| s.take_stop_reason()) {
                            Some(message) => LeaderError::Failure {
                                kind: crate::error::ErrorKind::QueryCanceled,
                                message,
                            },
                            None => LeaderError::Cancelled,
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            let timed_out = async {
                if timeout_ms == 0 {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
                LeaderError::StatementTimeout
            };
            tokio::select! {
                e = cancelled => e,
                e = timed_out => e,
            }
        };
        Interrupt {
            reason: Box::pin(reason),
        }
    }

    /// Never stops.
    pub fn never() -> Self {
        Interrupt::new(None, 0)
    }

    /// Runs `work` unless interrupted first.
    pub async fn run<T>(
        self,
        work: impl Future<Output = Result<T, LeaderError>>,
    ) -> Result<T, LeaderError> {
        tokio::select! {
            r = work => r,
            e = self.reason => Err(e),
        }
    }

    /// Ends `stream` with the interrupt's error when it comes first. The stream is
    /// dropped then, before the error is passed on: its Flight calls end at once,
    /// whenever the caller drops what is left.
    pub fn guard<T: Send + 'static>(
        self,
        stream: impl Stream<Item = Result<T, DataFusionError>> + Send + 'static,
    ) -> impl Stream<Item = Result<T, DataFusionError>> + Send + 'static {
        let state = Some((Box::pin(stream), self.reason));
        futures::stream::unfold(state, |state| async move {
            let (mut stream, mut reason) = state?;
            tokio::select! {
                e = &mut reason => {
                    drop(stream);
                    Some((Err(DataFusionError::from(e)), None))
                }
                item = stream.next() => item.map(|i| (i, Some((stream, reason)))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timeout_and_cancel_stop_work() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, LeaderError>(())
        };
        let r = Interrupt::new(None, 20).run(slow).await;
        assert!(matches!(r, Err(LeaderError::StatementTimeout)));

        let session = Arc::new(Session::new("u", 1));
        session.cancel(); // an earlier statement's cancel does not stop this one
        let interrupt = Interrupt::new(Some(Arc::clone(&session)), 0);
        let slow = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, LeaderError>(())
        };
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            session.cancel();
        });
        let r = interrupt.run(slow).await;
        canceller.await.expect("canceller ran");
        assert!(matches!(r, Err(LeaderError::Cancelled)));

        let r = Interrupt::never()
            .run(async { Ok::<_, LeaderError>(7) })
            .await;
        assert!(matches!(r, Ok(7)));
    }
}
