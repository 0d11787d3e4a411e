//! What the WLM system tables show: rows built from [`Wlm`]'s state, in Redshift's
//! terms (times in microseconds of wall-clock time).

use crate::config::Priority;
pub use crate::history::{HistoryRow, RuleActionRow};
use crate::manager::{AUTO_MIN_SHARE, Wlm};

/// A query waiting or running (STV_WLM_QUERY_STATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryStateRow {
    pub query: u64,
    pub task: i32,
    pub user_id: i32,
    pub service_class: i32,
    pub service_class_name: String,
    pub slot_count: u32,
    /// When it entered WLM.
    pub wlm_start_time: i64,
    /// Queued or Running.
    pub state: &'static str,
    pub queue_time: i64,
    pub exec_time: i64,
    pub priority: Priority,
    pub memory_bytes: u64,
    /// Why a queued query waits (empty for a running one).
    pub wait_reason: String,
    /// When a queued query is expected to start, from recent run times in its class.
    pub estimated_start: Option<i64>,
    /// The short-query prediction, in milliseconds.
    pub predicted_ms: Option<u64>,
    /// A queued query's place in its class's queue (0: next).
    pub position: Option<usize>,
}

/// A service class's configuration (STV_WLM_SERVICE_CLASS_CONFIG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassConfigRow {
    pub service_class: i32,
    pub name: String,
    pub queueing_strategy: &'static str,
    /// Slots (-1: decided by automatic WLM).
    pub num_query_tasks: i32,
    /// Memory per slot in MB (-1: automatic).
    pub query_working_mem: i64,
    pub max_execution_time: i64,
    pub user_group_wild_card: bool,
    pub query_group_wild_card: bool,
    pub priority: Priority,
}

/// A service class's counters (STV_WLM_SERVICE_CLASS_STATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassStateRow {
    pub service_class: i32,
    pub num_queued_queries: u64,
    pub num_executing_queries: u64,
    pub num_serviced_queries: u64,
    pub num_executed_queries: u64,
    pub num_evicted_queries: u64,
}

/// A routing rule (STV_WLM_CLASSIFICATION_CONFIG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassificationRow {
    pub id: i32,
    /// `(user group: etl)`, `(query group: rep*)` or `(default)`.
    pub condition: String,
    pub action_seq: i32,
    pub action: &'static str,
    pub action_service_class: i32,
}

impl Wlm {
    /// STV_WLM_QUERY_STATE.
    pub fn query_states(&self, now: i64) -> Vec<QueryStateRow> {
        self.entries
            .values()
            .map(|e| {
                let class = &self.classes[e.class];
                let waiting_at = class.waiting.iter().position(|q| *q == e.sub.query);
                let (reason, estimated) = match waiting_at {
                    Some(ahead) => self.why_waiting(e.class, ahead, now),
                    None => (String::new(), None),
                };
                QueryStateRow {
                    query: e.sub.query,
                    task: e.sub.task,
                    user_id: e.sub.who.user_id,
                    service_class: class.service_class,
                    service_class_name: class.name.clone(),
                    slot_count: e.sub.slots,
                    wlm_start_time: e.queued_at,
                    state: if e.started_at.is_some() {
                        "Running"
                    } else {
                        "Queued"
                    },
                    queue_time: e.started_at.unwrap_or(now) - e.queued_at,
                    exec_time: e.started_at.map_or(0, |_| now - e.class_started_at),
                    priority: e.priority,
                    memory_bytes: e.grant.as_ref().map_or(0, |g| g.memory_bytes),
                    wait_reason: reason,
                    estimated_start: estimated,
                    predicted_ms: e.predicted_ms,
                    position: waiting_at,
                }
            })
            .collect()
    }

    fn why_waiting(&self, class: usize, ahead: usize, now: i64) -> (String, Option<i64>) {
        let c = &self.classes[class];
        let auto = self.config.auto && c.queue.is_some();
        let reason = if auto {
            let pool = self.user_memory();
            let free = pool.saturating_sub(self.auto_used);
            format!(
                "memory: a query starts with at least {} MB and {} MB of {} MB are free; {ahead} queries ahead in \"{}\"",
                (pool / AUTO_MIN_SHARE) >> 20,
                free >> 20,
                pool >> 20,
                c.name
            )
        } else {
            format!(
                "no free slot in queue \"{}\" ({} of {} slots in use); {ahead} queries ahead",
                c.name, c.used_slots, c.slots
            )
        };
        let estimated = (!c.recent_micros.is_empty()).then(|| {
            let mean = c.recent_micros.iter().sum::<i64>() / c.recent_micros.len() as i64;
            let oldest = self
                .entries
                .values()
                .filter(|e| e.class == class)
                .filter_map(|e| e.started_at)
                .min()
                .map_or(0, |s| now - s);
            let width = if auto { 1 } else { i64::from(c.slots.max(1)) };
            now + (mean - oldest).max(0) + mean * (ahead as i64 / width)
        });
        (reason, estimated)
    }

    /// STL_WLM_QUERY: the most recent attempts, oldest first.
    pub fn history(&self) -> Vec<HistoryRow> {
        self.history.iter().cloned().collect()
    }

    /// STL_WLM_RULE_ACTION.
    pub fn rule_actions(&self) -> Vec<RuleActionRow> {
        self.rule_actions.iter().cloned().collect()
    }

    /// STV_WLM_SERVICE_CLASS_CONFIG.
    pub fn class_configs(&self) -> Vec<ClassConfigRow> {
        self.classes
            .iter()
            .map(|c| {
                let queue = c.queue.map(|q| &self.config.queues[q]);
                let auto = self.config.auto && queue.is_some();
                ClassConfigRow {
                    service_class: c.service_class,
                    name: c.name.clone(),
                    queueing_strategy: if auto { "auto" } else { "FIFO" },
                    num_query_tasks: if auto { -1 } else { c.slots as i32 },
                    query_working_mem: if auto {
                        -1
                    } else {
                        ((c.memory_bytes / u64::from(c.slots.max(1))) >> 20) as i64
                    },
                    max_execution_time: queue.map_or(0, |q| q.max_execution_time_ms as i64),
                    user_group_wild_card: queue.is_some_and(|q| q.user_group_wild_card),
                    query_group_wild_card: queue.is_some_and(|q| q.query_group_wild_card),
                    priority: queue.map_or(
                        if c.service_class == crate::manager::SUPERUSER_CLASS {
                            Priority::Critical
                        } else {
                            Priority::Normal
                        },
                        |q| q.priority,
                    ),
                }
            })
            .collect()
    }

    /// STV_WLM_SERVICE_CLASS_STATE.
    pub fn class_states(&self) -> Vec<ClassStateRow> {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, c)| ClassStateRow {
                service_class: c.service_class,
                num_queued_queries: c.waiting.len() as u64,
                num_executing_queries: self
                    .entries
                    .values()
                    .filter(|e| e.class == i && e.started_at.is_some())
                    .count() as u64,
                num_serviced_queries: c.serviced,
                num_executed_queries: c.executed,
                num_evicted_queries: c.evicted,
            })
            .collect()
    }

    /// STV_WLM_CLASSIFICATION_CONFIG: the routing rules in the order WLM tries them.
    pub fn classification(&self) -> Vec<ClassificationRow> {
        let mut rows = vec![ClassificationRow {
            id: 1,
            condition: "(super user) and (query group: superuser)".into(),
            action_seq: 0,
            action: "superuser",
            action_service_class: crate::manager::SUPERUSER_CLASS,
        }];
        for (i, q) in self.config.queues.iter().enumerate() {
            let class = self.config.service_class(i);
            let mut conditions: Vec<String> = q
                .user_groups
                .iter()
                .map(|g| format!("(user group: {g})"))
                .collect();
            conditions.extend(q.query_groups.iter().map(|g| format!("(query group: {g})")));
            if i + 1 == self.config.queues.len() {
                conditions.push("(default)".into());
            }
            for condition in conditions {
                rows.push(ClassificationRow {
                    id: rows.len() as i32 + 1,
                    condition,
                    action_seq: 0,
                    action: "assign",
                    action_service_class: class,
                });
            }
        }
        rows
    }
}
