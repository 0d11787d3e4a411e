//! STV_EXEC_STATE: the steps running now on the compute nodes' slices.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::TimestampMicrosecondArray;
use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use datafusion::error::Result;

use super::{batch, timestamp_field};
use crate::cluster::ClusterClient;
use crate::query_log::QueryLog;

/// One row per step of each fragment partition a compute node runs now: userid,
/// query, slice, step (numbered from the fragment's bottom step), starttime (when
/// the slice started the fragment), currenttime, rows and bytes so far, label (as
/// SVL_QUERY_SUMMARY's), is_diskbased, workmem (the most memory the step has held
/// at once, in bytes), is_rrscan. Redshift's segment, tasknum, num_parts and
/// is_delayed_scan are not kept.
pub(super) async fn stv_exec_state(cluster: &ClusterClient, log: &QueryLog) -> Result<RecordBatch> {
    let running = cluster.exec_state().await?;
    let users: HashMap<u64, i32> = log
        .records()
        .into_iter()
        .map(|r| (r.query_id, r.user_id))
        .collect();
    let now = chrono::Utc::now().timestamp_micros();
    let rows: Vec<_> = running
        .iter()
        .flat_map(|(_, f)| f.steps.iter().map(move |s| (f, s)))
        .collect();
    let int32 = |f: &dyn Fn(
        &blueshift_proto::RunningFragment,
        &blueshift_proto::StepStats,
    ) -> i32|
     -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(r, s)| f(r, s)),
        ))
    };
    let int64 = |f: &dyn Fn(
        &blueshift_proto::RunningFragment,
        &blueshift_proto::StepStats,
    ) -> i64|
     -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(r, s)| f(r, s)),
        ))
    };
    let flag = |f: fn(&blueshift_proto::StepStats) -> bool| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(_, s)| if f(s) { "t" } else { "f" }),
        ))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("step", DataType::Int32, false),
            timestamp_field("starttime", false),
            timestamp_field("currenttime", false),
            Field::new("rows", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("label", DataType::Utf8, false),
            Field::new("is_diskbased", DataType::Utf8, false),
            Field::new("workmem", DataType::Int64, false),
            Field::new("is_rrscan", DataType::Utf8, false),
        ],
        vec![
            int32(&|r, _| users.get(&r.query_id).copied().unwrap_or(0)),
            int64(&|r, _| r.query_id as i64),
            int32(&|r, _| r.slice as i32),
            int32(&|_, s| s.step as i32),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|(r, _)| r.start_micros),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|_| now),
            )),
            int64(&|_, s| s.rows as i64),
            int64(&|_, s| s.bytes as i64),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|(_, s)| blueshift_operators::steps::step_label(s, None)),
            )),
            flag(|s| s.spilled),
            int64(&|_, s| s.peak_memory_bytes as i64),
            flag(|s| s.is_rrscan),
        ],
    )
}
