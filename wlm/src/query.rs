//! What the leader and WLM exchange about one query: its [`Submission`], the
//! [`Grant`] that lets it run, how it [`Ending`]s, and the [`Stop`]s WLM orders.

use crate::classify::Requester;
use crate::priority::Priority;

/// What a statement is, as far as WLM cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    Select,
    /// CREATE TABLE AS and SELECT INTO (and REFRESH MATERIALIZED VIEW).
    CreateTableAs,
    /// INSERT, UPDATE, DELETE.
    Write,
    Unload,
    Copy,
    /// VACUUM, ANALYZE.
    Maintenance,
}

impl QueryKind {
    /// Read-only statements: short query acceleration takes them, a WLM timeout hops them.
    pub fn hops(self) -> bool {
        matches!(self, QueryKind::Select | QueryKind::CreateTableAs)
    }

    /// Statements that rules and timeouts never stop (COPY, VACUUM, ANALYZE).
    pub fn exempt(self) -> bool {
        matches!(self, QueryKind::Copy | QueryKind::Maintenance)
    }
}

/// A query asking to run.
#[derive(Clone, Debug)]
pub struct Submission {
    pub query: u64,
    /// The session's process id (STV_WLM_QUERY_STATE.task).
    pub task: i32,
    pub who: Requester,
    /// Slots asked for (`wlm_query_slot_count`).
    pub slots: u32,
    pub kind: QueryKind,
    /// Identifies the statement's text: earlier runs of it predict this one's time.
    pub fingerprint: u64,
    /// The leader's guess of the run time in milliseconds, where it has one.
    pub estimated_ms: Option<u64>,
    /// A priority set for the session (`change_session_priority`).
    pub priority: Option<Priority>,
}

/// Permission to run: the service class, slots and memory budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub query: u64,
    pub service_class: i32,
    pub slots: u32,
    pub memory_bytes: u64,
}

/// How a query left WLM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Completed,
    /// Cancelled by its client, or it failed.
    Cancelled,
    /// Stopped by a rule or a WLM timeout.
    Aborted,
}

impl Ending {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ending::Completed => "Completed",
            Ending::Cancelled => "Cancelled",
            Ending::Aborted => "Aborted",
        }
    }
}

/// A running query WLM stops: the leader cancels it with `message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub query: u64,
    pub task: i32,
    pub message: String,
}

/// What [`Wlm::check`] decided.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub stops: Vec<Stop>,
    /// Queries admitted because others moved out of their classes.
    pub granted: Vec<Grant>,
}
