//! The fragments a compute node is running, for STV_EXEC_STATE.
//!
//! A fragment partition is registered when its `DoGet` starts and leaves when its
//! stream is dropped: when it ends, fails, or the leader drops the call (a cancelled
//! or failed query). So what is listed is what still holds the node's resources.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blueshift_proto::{ExecState, RunningFragment};
use datafusion::physical_plan::ExecutionPlan;

use blueshift_operators::SliceScanExec;

/// The node's running fragment partitions.
#[derive(Default)]
pub struct Running {
    next: AtomicU64,
    fragments: Mutex<HashMap<u64, Entry>>,
}

struct Entry {
    query_id: u64,
    slice: u32,
    start_micros: i64,
    plan: Arc<dyn ExecutionPlan>,
}

/// A registered fragment partition; dropping it removes it from the list.
pub struct Registration {
    running: Arc<Running>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.lock().remove(&self.id);
    }
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.fragments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists partition `partition` of `plan`, run for query `query_id`, until the
    /// returned registration is dropped.
    pub fn register(
        self: &Arc<Self>,
        query_id: u64,
        plan: &Arc<dyn ExecutionPlan>,
        partition: usize,
    ) -> Registration {
        // The slice it reads: the scans' partition `partition`, else the partition.
        let slice = SliceScanExec::find_all(plan)
            .first()
            .and_then(|scan| scan.partitions.get(partition))
            .map_or(partition as u32, |p| p.slice);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Entry {
                query_id,
                slice,
                start_micros: chrono::Utc::now().timestamp_micros(),
                plan: Arc::clone(plan),
            },
        );
        Registration {
            running: Arc::clone(self),
            id,
        }
    }

    /// What runs now, with each step's rows and bytes so far.
    pub fn state(&self) -> ExecState {
        let fragments = self.lock();
        let mut listed: Vec<RunningFragment> = fragments
            .values()
            .map(|e| RunningFragment {
                query_id: e.query_id,
                slice: e.slice,
                start_micros: e.start_micros,
                steps: blueshift_operators::steps::step_stats(&e.plan),
            })
            .collect();
        listed.sort_by_key(|f| (f.query_id, f.slice, f.start_micros));
        ExecState { fragments: listed }
    }
}
