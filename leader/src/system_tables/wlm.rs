//! The WLM system tables, from the state of the leader's [`QueryGate`]:
//! STV_WLM_QUERY_STATE, STV_WLM_QUERY_QUEUE_STATE, STL_WLM_QUERY, STV_WLM_SERVICE_CLASS_CONFIG,
//! STV_WLM_SERVICE_CLASS_STATE, STV_WLM_CLASSIFICATION_CONFIG and STL_WLM_RULE_ACTION.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field};
use datafusion::error::Result;

use super::{batch, timestamp_field};
use crate::engine::admission::{QueryGate, now_micros};

/// The WLM tables [`build`] answers.
pub(super) const TABLES: &[&str] = &[
    "stv_wlm_query_state",
    "stv_wlm_query_queue_state",
    "stl_wlm_query",
    "stv_wlm_service_class_config",
    "stv_wlm_service_class_state",
    "stv_wlm_classification_config",
    "stl_wlm_rule_action",
];

fn ints<T>(rows: &[T], f: impl Fn(&T) -> i32) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(rows.iter().map(f)))
}

fn bigints<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
}

fn texts<T>(rows: &[T], f: impl Fn(&T) -> String) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
}

fn times<T>(rows: &[T], f: impl Fn(&T) -> Option<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter(rows.iter().map(f)))
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, false)
}

fn bigint(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// The WLM table `name` (one of [`TABLES`]).
pub(super) fn build(name: &str, gate: &QueryGate) -> Result<RecordBatch> {
    let now = now_micros();
    match name {
        "stv_wlm_query_state" => {
            let rows = gate.read(|w| w.query_states(now));
            batch(
                vec![
                    int("userid"),
                    bigint("xid"),
                    int("task"),
                    bigint("query"),
                    int("service_class"),
                    text("service_class_name"),
                    int("slot_count"),
                    timestamp_field("wlm_start_time", false),
                    text("state"),
                    bigint("queue_time"),
                    bigint("exec_time"),
                    text("query_priority"),
                    bigint("query_working_mem"),
                    text("wait_reason"),
                    timestamp_field("estimated_start_time", true),
                    Field::new("sqa_predicted_ms", DataType::Int64, true),
                ],
                vec![
                    ints(&rows, |r| r.user_id),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.task),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.service_class),
                    texts(&rows, |r| r.service_class_name.clone()),
                    ints(&rows, |r| r.slot_count as i32),
                    times(&rows, |r| Some(r.wlm_start_time)),
                    texts(&rows, |r| r.state.into()),
                    bigints(&rows, |r| r.queue_time),
                    bigints(&rows, |r| r.exec_time),
                    texts(&rows, |r| r.priority.name().into()),
                    bigints(&rows, |r| (r.memory_bytes >> 20) as i64),
                    texts(&rows, |r| r.wait_reason.clone()),
                    times(&rows, |r| r.estimated_start),
                    Arc::new(Int64Array::from_iter(
                        rows.iter().map(|r| r.predicted_ms.map(|p| p as i64)),
                    )),
                ],
            )
        }
        "stv_wlm_query_queue_state" => {
            let mut rows: Vec<_> = gate
                .read(|w| w.query_states(now))
                .into_iter()
                .filter(|r| r.position.is_some())
                .collect();
            rows.sort_by_key(|r| (r.service_class, r.position));
            batch(
                vec![
                    int("userid"),
                    int("service_class"),
                    int("position"),
                    int("task"),
                    bigint("query"),
                    int("slot_count"),
                    timestamp_field("start_time", false),
                    bigint("queue_time"),
                    text("wait_reason"),
                ],
                vec![
                    ints(&rows, |r| r.user_id),
                    ints(&rows, |r| r.service_class),
                    ints(&rows, |r| r.position.unwrap_or(0) as i32),
                    ints(&rows, |r| r.task),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.slot_count as i32),
                    times(&rows, |r| Some(r.wlm_start_time)),
                    bigints(&rows, |r| r.queue_time),
                    texts(&rows, |r| r.wait_reason.clone()),
                ],
            )
        }
        "stl_wlm_query" => {
            let rows = gate.read(|w| w.history());
            batch(
                vec![
                    int("userid"),
                    bigint("xid"),
                    int("task"),
                    bigint("query"),
                    int("service_class"),
                    text("service_class_name"),
                    int("slot_count"),
                    timestamp_field("service_class_start_time", false),
                    timestamp_field("queue_start_time", false),
                    timestamp_field("queue_end_time", false),
                    bigint("total_queue_time"),
                    timestamp_field("exec_start_time", true),
                    timestamp_field("exec_end_time", true),
                    bigint("total_exec_time"),
                    timestamp_field("service_class_end_time", false),
                    text("final_state"),
                    bigint("est_peak_mem"),
                    text("query_priority"),
                    Field::new("sqa_predicted_ms", DataType::Int64, true),
                ],
                vec![
                    ints(&rows, |r| r.user_id),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.task),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.service_class),
                    texts(&rows, |r| r.service_class_name.clone()),
                    ints(&rows, |r| r.slot_count as i32),
                    times(&rows, |r| Some(r.queue_start)),
                    times(&rows, |r| Some(r.queue_start)),
                    times(&rows, |r| Some(r.queue_end)),
                    bigints(&rows, |r| r.queue_end - r.queue_start),
                    times(&rows, |r| r.exec_start),
                    times(&rows, |r| r.exec_end),
                    bigints(&rows, |r| match (r.exec_start, r.exec_end) {
                        (Some(s), Some(e)) => e - s,
                        _ => 0,
                    }),
                    times(&rows, |r| Some(r.exec_end.unwrap_or(r.queue_end))),
                    texts(&rows, |r| r.final_state.clone()),
                    bigints(&rows, |r| r.memory_bytes as i64),
                    texts(&rows, |r| r.priority.name().into()),
                    Arc::new(Int64Array::from_iter(
                        rows.iter().map(|r| r.predicted_ms.map(|p| p as i64)),
                    )),
                ],
            )
        }
        "stv_wlm_service_class_config" => {
            let rows = gate.read(|w| w.class_configs());
            let flag = |b: bool| if b { "true" } else { "false" }.to_string();
            batch(
                vec![
                    int("service_class"),
                    text("queueing_strategy"),
                    int("num_query_tasks"),
                    int("target_num_query_tasks"),
                    bigint("query_working_mem"),
                    bigint("target_query_working_mem"),
                    bigint("max_execution_time"),
                    text("user_group_wild_card"),
                    text("query_group_wild_card"),
                    text("concurrency_scaling"),
                    text("query_priority"),
                    text("name"),
                ],
                vec![
                    ints(&rows, |r| r.service_class),
                    texts(&rows, |r| r.queueing_strategy.into()),
                    ints(&rows, |r| r.num_query_tasks),
                    ints(&rows, |r| r.num_query_tasks),
                    bigints(&rows, |r| r.query_working_mem),
                    bigints(&rows, |r| r.query_working_mem),
                    bigints(&rows, |r| r.max_execution_time),
                    texts(&rows, |r| flag(r.user_group_wild_card)),
                    texts(&rows, |r| flag(r.query_group_wild_card)),
                    texts(&rows, |_| "off".into()),
                    texts(&rows, |r| r.priority.name().into()),
                    texts(&rows, |r| r.name.clone()),
                ],
            )
        }
        "stv_wlm_service_class_state" => {
            let rows = gate.read(|w| w.class_states());
            batch(
                vec![
                    int("service_class"),
                    bigint("num_queued_queries"),
                    bigint("num_executing_queries"),
                    bigint("num_serviced_queries"),
                    bigint("num_executed_queries"),
                    bigint("num_evicted_queries"),
                ],
                vec![
                    ints(&rows, |r| r.service_class),
                    bigints(&rows, |r| r.num_queued_queries as i64),
                    bigints(&rows, |r| r.num_executing_queries as i64),
                    bigints(&rows, |r| r.num_serviced_queries as i64),
                    bigints(&rows, |r| r.num_executed_queries as i64),
                    bigints(&rows, |r| r.num_evicted_queries as i64),
                ],
            )
        }
        "stv_wlm_classification_config" => {
            let rows = gate.read(|w| w.classification());
            batch(
                vec![
                    int("id"),
                    text("condition"),
                    int("action_seq"),
                    text("action"),
                    int("action_service_class"),
                ],
                vec![
                    ints(&rows, |r| r.id),
                    texts(&rows, |r| r.condition.clone()),
                    ints(&rows, |r| r.action_seq),
                    texts(&rows, |r| r.action.into()),
                    ints(&rows, |r| r.action_service_class),
                ],
            )
        }
        _ => {
            let rows = gate.read(|w| w.rule_actions());
            batch(
                vec![
                    int("userid"),
                    bigint("query"),
                    int("service_class"),
                    text("rule"),
                    text("action"),
                    timestamp_field("recordtime", false),
                ],
                vec![
                    ints(&rows, |r| r.user_id),
                    bigints(&rows, |r| r.query as i64),
                    ints(&rows, |r| r.service_class),
                    texts(&rows, |r| r.rule.clone()),
                    texts(&rows, |r| r.action.clone()),
                    times(&rows, |r| Some(r.recordtime)),
                ],
            )
        }
    }
}
