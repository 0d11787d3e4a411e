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

/// A held grant; dropping it frees the slots.
#[derive(Debug)]
pub struct SlotGuard {
    gate: Arc<QueryGate>,
    grant: Option<QueueGrant>,
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

    /// Waits until `slots` slots of the query's queue are free, and takes them.
    pub async fn acquire(self: &Arc<Self>, slots: u32) -> Result<SlotGuard, LeaderError> {
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
