//! [`QueryGate`]: the one admission point. Every statement that reads or writes table
//! data is described to WLM ([`blueshift_wlm::Wlm`]), waits for its grant without
//! holding a thread, and gives the grant back when its guard is dropped (after its
//! last row is sent). The gate also runs WLM's checks: it stops the queries a rule or
//! a WLM timeout stops, through the stopper each statement brought.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blueshift_wlm::{
    Ending, Grant, Priority, QueryKind, QueryMetrics, Requester, Submission, Wlm, WlmConfig,
    WlmError,
};
use tokio::sync::oneshot;

use crate::error::LeaderError;
use crate::session::Stopper;

/// The default working memory shared by the queries running at once (4 GiB).
pub const QUERY_MEMORY_BYTES: u64 = 4 << 30;

/// Ids of statements that have no query-log entry (a snapshot restore's transfer)
/// start here, far above the log's.
const INTERNAL_IDS: u64 = 1 << 62;

/// What a statement is, as WLM is told when it admits it: the one description every
/// admission carries.
#[derive(Clone, Debug)]
pub struct StatementDescription {
    pub kind: StatementKind,
    /// The query-log id (None: an internal statement, given an id here).
    pub query: Option<u64>,
    /// The session's process id.
    pub task: i32,
    pub user: String,
    pub user_id: i32,
    /// The user's groups, by name.
    pub groups: Vec<String>,
    pub superuser: bool,
    /// The session's `query_group` (empty: none).
    pub query_group: String,
    /// The slots it asks for (`wlm_query_slot_count`).
    pub slots: u32,
    /// Identifies the statement's text, so runs of it predict the next.
    pub fingerprint: u64,
    /// A priority `change_session_priority` set.
    pub priority: Option<Priority>,
    /// Stops the statement (a rule's abort, a WLM timeout).
    pub stopper: Option<Stopper>,
}

impl StatementDescription {
    /// An internal statement of the superuser, with no session.
    pub fn internal(kind: StatementKind, user: &str) -> Self {
        StatementDescription {
            kind,
            query: None,
            task: 0,
            user: user.into(),
            user_id: 1,
            groups: vec![],
            superuser: true,
            query_group: String::new(),
            slots: 1,
            fingerprint: 0,
            priority: None,
            stopper: None,
        }
    }
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

impl StatementKind {
    fn wlm_kind(self) -> QueryKind {
        match self {
            StatementKind::Query => QueryKind::Select,
            StatementKind::CreateTableAs => QueryKind::CreateTableAs,
            StatementKind::Insert | StatementKind::DeleteOrUpdate => QueryKind::Write,
            StatementKind::Unload => QueryKind::Unload,
            StatementKind::Copy => QueryKind::Copy,
            StatementKind::Vacuum | StatementKind::Analyze => QueryKind::Maintenance,
        }
    }
}

#[derive(Debug, Default)]
struct Waiting {
    /// Grants go to the statements waiting for them.
    senders: HashMap<u64, oneshot::Sender<Grant>>,
    stoppers: HashMap<u64, Stopper>,
    /// Queries WLM stopped: they end as Aborted.
    stopped: std::collections::HashSet<u64>,
}

/// The leader's admission control.
#[derive(Debug)]
pub struct QueryGate {
    state: Mutex<(Wlm, Waiting)>,
    next_internal: AtomicU64,
    /// Held shared by every admitted statement; maintenance that must run while no
    /// statement reads takes it exclusively.
    running: Arc<tokio::sync::RwLock<()>>,
}

/// A held grant; dropping it ends the query in WLM and frees its slots and memory.
#[derive(Debug)]
pub struct SlotGuard {
    gate: Arc<QueryGate>,
    query: u64,
    grant: Grant,
    /// The statement it was granted to.
    pub statement: StatementKind,
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
}

impl SlotGuard {
    /// The query's memory budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.grant.memory_bytes
    }

    /// The service class it runs in.
    pub fn service_class(&self) -> i32 {
        self.grant.service_class
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.gate.end(self.query, Ending::Completed);
    }
}

/// Takes a query out of WLM if its admission is dropped before the grant came (the
/// client cancelled or went away while it waited).
struct Withdraw<'a> {
    gate: &'a QueryGate,
    query: u64,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.gate.end(self.query, Ending::Cancelled);
        }
    }
}

/// Wall-clock microseconds: WLM's clock in the leader.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl QueryGate {
    /// A gate over `config`, sharing `memory_bytes` of query memory.
    pub fn new(config: WlmConfig, memory_bytes: u64) -> Arc<Self> {
        Arc::new(QueryGate {
            state: Mutex::new((Wlm::new(config, memory_bytes), Waiting::default())),
            next_internal: AtomicU64::new(INTERNAL_IDS),
            running: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Wlm, Waiting)> {
        // WLM's state stays consistent between calls; a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads WLM's state (for the system tables).
    pub fn read<T>(&self, f: impl FnOnce(&Wlm) -> T) -> T {
        f(&self.lock().0)
    }

    /// Hands `grants` to the statements waiting for them; a grant whose statement
    /// went away is given back at once (which may grant others).
    fn deliver(wlm: &mut Wlm, waiting: &mut Waiting, grants: Vec<Grant>) {
        let mut grants = grants;
        while let Some(grant) = grants.pop() {
            let query = grant.query;
            let delivered = match waiting.senders.remove(&query) {
                Some(sender) => sender.send(grant).is_ok(),
                None => false,
            };
            if !delivered {
                waiting.stoppers.remove(&query);
                grants.extend(wlm.finish(query, Ending::Cancelled, now_micros()));
            }
        }
    }

    fn end(&self, query: u64, ending: Ending) {
        let mut state = self.lock();
        let (wlm, waiting) = &mut *state;
        waiting.senders.remove(&query);
        // A statement whose session cancelled it ends Cancelled, one WLM stopped
        // Aborted.
        let cancelled = waiting
            .stoppers
            .remove(&query)
            .is_some_and(|s| s.cancelled());
        let ending = if waiting.stopped.remove(&query) {
            Ending::Aborted
        } else if cancelled {
            Ending::Cancelled
        } else {
            ending
        };
        let grants = wlm.finish(query, ending, now_micros());
        Self::deliver(wlm, waiting, grants);
    }

    /// Admits `statement`: routes it to its service class, waits (without holding a
    /// thread) until WLM grants it slots and memory, and takes them. Dropping the
    /// returned future while it waits takes the statement out of its queue.
    pub async fn admit(
        self: &Arc<Self>,
        statement: StatementDescription,
    ) -> Result<SlotGuard, LeaderError> {
        let query = statement
            .query
            .unwrap_or_else(|| self.next_internal.fetch_add(1, Ordering::Relaxed));
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = self.lock();
            let (wlm, waiting) = &mut *state;
            waiting.senders.insert(query, sender);
            if let Some(stopper) = statement.stopper.clone() {
                waiting.stoppers.insert(query, stopper);
            }
            let submission = Submission {
                query,
                task: statement.task,
                who: Requester {
                    user: statement.user.clone(),
                    user_id: statement.user_id,
                    groups: statement.groups.clone(),
                    superuser: statement.superuser,
                    query_group: statement.query_group.clone(),
                },
                slots: statement.slots,
                kind: statement.kind.wlm_kind(),
                fingerprint: statement.fingerprint,
                estimated_ms: None,
                priority: statement.priority,
            };
            match wlm.submit(submission, now_micros()) {
                Ok(grants) => Self::deliver(wlm, waiting, grants),
                Err(e) => {
                    waiting.senders.remove(&query);
                    waiting.stoppers.remove(&query);
                    return Err(wlm_error(e));
                }
            }
        }
        let mut withdraw = Withdraw {
            gate: self,
            query,
            armed: true,
        };
        let grant = receiver.await.map_err(|_| LeaderError::Failure {
            kind: crate::error::ErrorKind::InternalError,
            message: "WLM dropped a waiting query".into(),
        })?;
        withdraw.armed = false;
        tracing::debug!(?statement.kind, query, service_class = grant.service_class, "admitted");
        // The guard first: if this future is dropped while it waits for maintenance,
        // the grant goes back.
        let mut guard = SlotGuard {
            gate: Arc::clone(self),
            query,
            grant,
            statement: statement.kind,
            _shared: None,
        };
        guard._shared = Some(Arc::clone(&self.running).read_owned().await);
        Ok(guard)
    }

    /// Waits until no admitted statement runs, and keeps new ones from starting
    /// until the returned guard goes: maintenance (removing unreferenced segment
    /// files) runs while nothing can read.
    pub async fn acquire_all(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.running).write_owned().await
    }

    /// Runs WLM's checks (rules, timeouts, short-query evictions) with each running
    /// query's metrics, and stops the queries they stop. Returns how many it stopped.
    pub fn check(&self, metrics: &dyn Fn(u64) -> QueryMetrics) -> usize {
        let mut state = self.lock();
        let (wlm, waiting) = &mut *state;
        let checked = wlm.check(now_micros(), metrics);
        for stop in &checked.stops {
            tracing::info!(query = stop.query, task = stop.task, "{}", stop.message);
            if let Some(stopper) = waiting.stoppers.get(&stop.query) {
                // Under the lock: the statement cannot end and its session start
                // another in between.
                stopper.stop(&stop.message);
                waiting.stopped.insert(stop.query);
            }
        }
        Self::deliver(wlm, waiting, checked.granted);
        checked.stops.len()
    }

    /// Running queries (their ids), for collecting metrics.
    pub fn running(&self) -> Vec<u64> {
        self.read(|wlm| wlm.running())
    }

    /// Puts `config` in force: running queries keep their grants.
    pub fn reconfigure(&self, config: WlmConfig) {
        let mut state = self.lock();
        let (wlm, waiting) = &mut *state;
        let grants = wlm.reconfigure(config, now_micros());
        Self::deliver(wlm, waiting, grants);
    }

    /// `change_query_priority(query, priority)`.
    pub fn change_query_priority(
        &self,
        query: u64,
        priority: Priority,
        by_superuser: bool,
    ) -> Result<(), LeaderError> {
        let mut state = self.lock();
        let (wlm, waiting) = &mut *state;
        wlm.change_query_priority(query, priority, by_superuser)
            .map_err(wlm_error)?;
        let grants = wlm.schedule(now_micros());
        Self::deliver(wlm, waiting, grants);
        Ok(())
    }

    /// `change_user_priority(user, priority)` (None: back to the queues' priorities).
    pub fn change_user_priority(&self, user: &str, priority: Option<Priority>) {
        self.lock().0.change_user_priority(user, priority);
    }
}

/// WLM's errors as the leader reports them.
pub fn wlm_error(e: WlmError) -> LeaderError {
    match e {
        WlmError::Unsupported(what) => LeaderError::Unsupported(format!("WLM: {what}")),
        WlmError::NotPermitted(message) => LeaderError::PermissionDenied(message),
        e => LeaderError::InvalidParameter(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(kind: StatementKind, slots: u32) -> StatementDescription {
        StatementDescription {
            slots,
            superuser: false,
            ..StatementDescription::internal(kind, "admin")
        }
    }

    /// An admitted statement holds its slots until its guard goes; the queue's last
    /// slot then admits the next one. One that gives up waiting leaves the queue.
    #[tokio::test]
    async fn statements_wait_for_slots_and_leave_the_queue_when_dropped() -> Result<(), LeaderError>
    {
        let config = WlmConfig::parse_json(r#"[{"query_concurrency": 5}]"#).map_err(wlm_error)?;
        let gate = QueryGate::new(config, 1 << 30);
        let guard = gate.admit(describe(StatementKind::Copy, 4)).await?;
        assert_eq!(guard.statement, StatementKind::Copy);
        // 2 more slots than the default queue's 5 less the 4 held: it waits.
        let blocked = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            gate.admit(describe(StatementKind::Query, 2)),
        )
        .await;
        assert!(blocked.is_err(), "admitted past a full queue");
        assert_eq!(
            gate.read(|w| w.query_states(0).len()),
            1,
            "the dropped wait left"
        );
        drop(guard);
        let second = gate.admit(describe(StatementKind::Query, 2)).await?;
        assert!(second.memory_bytes() > 0);
        Ok(())
    }
}
