//! What WLM keeps of queries that ended and of rules that acted (STL_WLM_QUERY and
//! STL_WLM_RULE_ACTION), times in microseconds of wall-clock time.

use crate::priority::Priority;

/// One attempt of a query in one service class (STL_WLM_QUERY).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    pub user_id: i32,
    pub query: u64,
    pub task: i32,
    pub service_class: i32,
    pub service_class_name: String,
    pub slot_count: u32,
    pub queue_start: i64,
    pub queue_end: i64,
    pub exec_start: Option<i64>,
    pub exec_end: Option<i64>,
    /// Completed, Cancelled, Aborted, Evicted (a short query that ran too long) or
    /// Hopped.
    pub final_state: String,
    pub priority: Priority,
    pub memory_bytes: u64,
    pub predicted_ms: Option<u64>,
}

/// A rule that acted (STL_WLM_RULE_ACTION).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleActionRow {
    pub user_id: i32,
    pub query: u64,
    pub service_class: i32,
    pub rule: String,
    pub action: String,
    pub recordtime: i64,
}
