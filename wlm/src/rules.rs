//! Query monitoring rules: predicates on a running query's metrics, and the action
//! the most severe matching rule takes.

use crate::priority::Priority;

/// A metric a rule's predicate tests, in Redshift's units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Seconds running (queue time not counted).
    QueryExecutionTime,
    /// Seconds waiting in the queue.
    QueryQueueTime,
    /// Rows the query's scans returned.
    ScanRowCount,
    /// Rows sent to the client.
    ReturnRowCount,
    /// Rows the query's joins produced.
    JoinRowCount,
    /// Megabytes the query's steps held at once, all nodes together (Blueshift's
    /// `query_memory`).
    QueryMemory,
    QueryCpuTime,
    QueryCpuUsagePercent,
    QueryBlocksRead,
    QueryTempBlocksToDisk,
    NestedLoopJoinRowCount,
    SegmentExecutionTime,
    CpuSkew,
    IoSkew,
    QueryPriority,
}

impl Metric {
    /// The metric `name` of a rule's predicate.
    pub fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "query_execution_time" => Metric::QueryExecutionTime,
            "query_queue_time" => Metric::QueryQueueTime,
            "scan_row_count" => Metric::ScanRowCount,
            "return_row_count" => Metric::ReturnRowCount,
            "join_row_count" => Metric::JoinRowCount,
            "query_memory" => Metric::QueryMemory,
            "query_cpu_time" => Metric::QueryCpuTime,
            "query_cpu_usage_percent" => Metric::QueryCpuUsagePercent,
            "query_blocks_read" => Metric::QueryBlocksRead,
            "query_temp_blocks_to_disk" => Metric::QueryTempBlocksToDisk,
            "nested_loop_join_row_count" => Metric::NestedLoopJoinRowCount,
            "segment_execution_time" => Metric::SegmentExecutionTime,
            "cpu_skew" => Metric::CpuSkew,
            "io_skew" => Metric::IoSkew,
            "query_priority" => Metric::QueryPriority,
            _ => return None,
        })
    }

    /// Whether Blueshift measures the metric (a rule on one it does not is refused,
    /// rather than never firing).
    pub fn measured(self) -> bool {
        matches!(
            self,
            Metric::QueryExecutionTime
                | Metric::QueryQueueTime
                | Metric::ScanRowCount
                | Metric::ReturnRowCount
                | Metric::JoinRowCount
                | Metric::QueryMemory
        )
    }
}

/// A predicate's comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleOp {
    Less,
    Equal,
    Greater,
}

/// `metric op value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predicate {
    pub metric: Metric,
    pub op: RuleOp,
    pub value: i64,
}

/// What a rule does to a query whose metrics match all its predicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Log,
    ChangePriority(Priority),
    Hop,
    Abort,
}

impl Action {
    /// Severity: the most severe matching rule acts (abort > hop > priority > log).
    pub fn severity(&self) -> u8 {
        match self {
            Action::Log => 0,
            Action::ChangePriority(_) => 1,
            Action::Hop => 2,
            Action::Abort => 3,
        }
    }

    /// STL_WLM_RULE_ACTION.action.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Log => "log",
            Action::ChangePriority(_) => "change_query_priority",
            Action::Hop => "hop",
            Action::Abort => "abort",
        }
    }
}

/// A query monitoring rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub predicates: Vec<Predicate>,
    pub action: Action,
}

/// A running query's metrics, as the leader measures them; `None` where not known yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryMetrics {
    pub scan_row_count: Option<i64>,
    pub return_row_count: Option<i64>,
    pub join_row_count: Option<i64>,
    /// Bytes the query's steps hold now, all nodes together.
    pub memory_bytes: Option<i64>,
}

/// The value of `metric` for a query that has queued `queue_micros` and run
/// `exec_micros`.
pub(crate) fn value_of(
    metric: Metric,
    metrics: &QueryMetrics,
    queue_micros: i64,
    exec_micros: i64,
) -> Option<i64> {
    match metric {
        Metric::QueryExecutionTime => Some(exec_micros / 1_000_000),
        Metric::QueryQueueTime => Some(queue_micros / 1_000_000),
        Metric::ScanRowCount => metrics.scan_row_count,
        Metric::ReturnRowCount => metrics.return_row_count,
        Metric::JoinRowCount => metrics.join_row_count,
        Metric::QueryMemory => metrics.memory_bytes.map(|b| b >> 20),
        _ => None,
    }
}

impl Rule {
    /// Whether every predicate holds.
    pub(crate) fn matches(
        &self,
        metrics: &QueryMetrics,
        queue_micros: i64,
        exec_micros: i64,
    ) -> bool {
        self.predicates.iter().all(|p| {
            value_of(p.metric, metrics, queue_micros, exec_micros).is_some_and(|v| match p.op {
                RuleOp::Less => v < p.value,
                RuleOp::Equal => v == p.value,
                RuleOp::Greater => v > p.value,
            })
        })
    }
}

/// The rule that acts among `matching`: the most severe, ties broken by name.
pub(crate) fn most_severe<'a>(matching: impl Iterator<Item = &'a Rule>) -> Option<&'a Rule> {
    matching.max_by(|a, b| {
        a.action
            .severity()
            .cmp(&b.action.severity())
            .then_with(|| b.name.cmp(&a.name))
    })
}
