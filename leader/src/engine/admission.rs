//! [`QueryGate`]: waits for a WLM slot before a statement runs, and gives it back
//! when the statement's guard is dropped (after its last row is sent).

use std::sync::{Arc, Mutex};

use blueshift_wlm::{Admission, QueueConfig, QueueGrant};
use tokio::sync::Notify;

use crate::error::LeaderError;

/// The default working memory shared by the queries running at once (4 GiB).
pub const QUERY_MEMORY_BYTES: u64 = 4 << 30;

/// The leader's admission control.
#[derive(Debug)]
pub struct QueryGate {
    admission: Mutex<Admission>,
    freed: Notify,
}

/// What a statement is, as WLM is told when it admits it: the one description every
/// admission carries (routing by user group and query group, and short-query
/// acceleration, will read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementDescription {
    pub kind: StatementKind,
    pub user: String,
    /// The session's `query_group` (empty: none).
    pub query_group: String,
    /// The slots it asks for (`wlm_query_slot_count`).
    pub slots: u32,
}

/// The kinds of statement that take a WLM slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Query,
    Insert,
    DeleteOrUpdate,
    CreateTableAs,
    Copy,
    Unload,
    Vacuum,
    Analyze,
}

/// A held grant; dropping it frees the slots.
#[derive(Debug)]
pub struct SlotGuard {
    gate: Arc<QueryGate>,
    grant: Option<QueueGrant>,
    /// The statement it was granted to.
    pub statement: Option<StatementDescription>,
}

impl SlotGuard {
    /// The query's memory budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.grant.as_ref().map_or(0, |g| g.memory_bytes)
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            self.gate.lock().release(grant);
            self.gate.freed.notify_waiters();
        }
    }
}

impl QueryGate {
    /// A gate with Redshift's default queue, sharing `memory_bytes` among its slots.
    pub fn new(memory_bytes: u64) -> Arc<Self> {
        Arc::new(QueryGate {
            admission: Mutex::new(Admission::new(
                vec![QueueConfig::default_queue()],
                memory_bytes,
            )),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Admission> {
        // The admission state is counters only; a panic elsewhere leaves it usable.
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no statement runs, and takes every slot of the default queue:
    /// maintenance (removing unreferenced segment files) runs while nothing can read.
    pub async fn acquire_all(self: &Arc<Self>) -> Result<SlotGuard, LeaderError> {
        let slots = {
            let admission = self.lock();
            let queue = admission.route();
            admission
                .queues()
                .get(queue)
                .map_or(1, |q| q.query_concurrency)
        };
        self.acquire(slots).await
    }

    /// Admits `statement`: waits until the slots it asks for in its queue are free,
    /// and takes them. Every statement that runs in a slot comes through here.
    pub async fn admit(
        self: &Arc<Self>,
        statement: StatementDescription,
    ) -> Result<SlotGuard, LeaderError> {
        let mut guard = self.acquire(statement.slots).await?;
        tracing::debug!(?statement, "admitted");
        guard.statement = Some(statement);
        Ok(guard)
    }

    /// Waits until `slots` slots of the query's queue are free, and takes them.
    async fn acquire(self: &Arc<Self>, slots: u32) -> Result<SlotGuard, LeaderError> {
        loop {
            let freed = self.freed.notified();
            {
                let mut admission = self.lock();
                let queue = admission.route();
                match admission.try_admit(queue, slots) {
                    Ok(Some(grant)) => {
                        return Ok(SlotGuard {
                            gate: Arc::clone(self),
                            grant: Some(grant),
                            statement: None,
                        });
                    }
                    Ok(None) => {}
                    Err(e) => return Err(LeaderError::InvalidParameter(e.to_string())),
                }
            }
            freed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An admitted statement holds its description and its slots until its guard
    /// goes; the queue's last slot then admits the next one.
    #[tokio::test]
    async fn statements_are_admitted_with_their_description() -> Result<(), LeaderError> {
        let gate = QueryGate::new(1 << 30);
        let describe = |kind, slots| StatementDescription {
            kind,
            user: "admin".into(),
            query_group: String::new(),
            slots,
        };
        let guard = gate.admit(describe(StatementKind::Copy, 4)).await?;
        assert_eq!(
            guard.statement.as_ref().map(|s| s.kind),
            Some(StatementKind::Copy)
        );
        // 2 more slots than the default queue's 5 less the 4 held: it waits.
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            gate.admit(describe(StatementKind::Query, 2)),
        )
        .await;
        assert!(blocked.is_err(), "admitted past a full queue");
        drop(guard);
        let second = gate.admit(describe(StatementKind::Query, 2)).await?;
        assert!(second.memory_bytes() > 0);
        Ok(())
    }
}
