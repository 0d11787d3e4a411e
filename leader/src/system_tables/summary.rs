//! SVL_QUERY_SUMMARY, from the steps the query log recorded.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use datafusion::error::Result;

use super::batch;
use crate::query_log::QueryLog;
use crate::query_log::steps::SummaryRow;

/// One row per step of each recent query: Redshift's columns, times in microseconds.
pub(super) fn svl_query_summary(log: &QueryLog) -> Result<RecordBatch> {
    let rows = log.summaries();
    let int32 = |f: fn(&SummaryRow) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(rows.iter().map(f)))
    };
    let int64 = |f: fn(&SummaryRow) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| f(r) as i64),
        ))
    };
    // Rows and bytes per second of the slowest slice's time.
    let rate = |f: fn(&SummaryRow) -> u64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| {
            (r.max_micros > 0).then(|| f(r) as f64 / (r.max_micros as f64 / 1e6))
        })))
    };
    let flag = |f: fn(&SummaryRow) -> bool| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| if f(r) { "t" } else { "f" }),
        ))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("stm", DataType::Int32, false),
            Field::new("seg", DataType::Int32, false),
            Field::new("step", DataType::Int32, false),
            Field::new("maxtime", DataType::Int64, false),
            Field::new("avgtime", DataType::Int64, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("rate_row", DataType::Float64, true),
            Field::new("rate_byte", DataType::Float64, true),
            Field::new("label", DataType::Utf8, false),
            Field::new("is_diskbased", DataType::Utf8, false),
            Field::new("workmem", DataType::Int64, false),
            Field::new("is_rrscan", DataType::Utf8, false),
            Field::new("is_delayed_scan", DataType::Utf8, false),
            Field::new("rows_pre_filter", DataType::Int64, false),
        ],
        vec![
            int32(|r| r.user_id),
            int64(|r| r.query_id),
            int32(|_| 0),
            int32(|r| r.segment as i32),
            int32(|r| r.step as i32),
            int64(|r| r.max_micros),
            int64(|r| r.avg_micros),
            int64(|r| r.rows),
            int64(|r| r.bytes),
            rate(|r| r.rows),
            rate(|r| r.bytes),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.label))),
            flag(|r| r.spilled),
            int64(|r| r.workmem),
            flag(|r| r.is_rrscan),
            flag(|_| false),
            int64(|r| r.rows_pre_filter),
        ],
    )
}

/// SYS_QUERY_DETAIL: one row per step of each recent query, at the `step` metrics
/// level, from the same records as SVL_QUERY_SUMMARY (Redshift's columns). A
/// segment is its own stream. Blueshift does not record steps' wall-clock times,
/// blocks, I/O, skew or alerts: those columns are NULL.
pub(super) fn sys_query_detail(log: &QueryLog) -> Result<RecordBatch> {
    use arrow::array::{TimestampMicrosecondArray, new_null_array};
    let rows = log.summaries();
    let n = rows.len();
    let int32 = |f: &dyn Fn(&SummaryRow) -> Option<i32>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int32Array>())
    };
    let int64 = |f: &dyn Fn(&SummaryRow) -> Option<u64>| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|r| f(r).map(|v| v as i64))
                .collect::<Int64Array>(),
        )
    };
    let text = |f: &dyn Fn(&SummaryRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    // A scan's label names its table: `scan   tbl=<id> name=<table>`; table_id is
    // the table's pg_class oid.
    let part = |r: &SummaryRow, key: &str| {
        r.label
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key).map(str::to_string))
    };
    let is_scan = |r: &SummaryRow| r.label.starts_with("scan");
    let null = |ty: &DataType| new_null_array(ty, n);
    let timestamp = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None);
    let columns: Vec<(&str, DataType, ArrayRef)> = vec![
        ("user_id", DataType::Int32, int32(&|r| Some(r.user_id))),
        ("query_id", DataType::Int64, int64(&|r| Some(r.query_id))),
        ("child_query_sequence", DataType::Int32, int32(&|_| Some(1))),
        (
            "stream_id",
            DataType::Int32,
            int32(&|r| Some(r.segment as i32)),
        ),
        (
            "segment_id",
            DataType::Int32,
            int32(&|r| Some(r.segment as i32)),
        ),
        ("step_id", DataType::Int32, int32(&|r| Some(r.step as i32))),
        (
            "step_name",
            DataType::Utf8,
            text(&|r| r.label.split_whitespace().next().map(str::to_string)),
        ),
        (
            "table_id",
            DataType::Int32,
            int32(&|r| {
                let id = part(r, "tbl=")?.parse::<u64>().ok()?;
                Some(super::pg_types::relation_oid(id))
            }),
        ),
        ("table_name", DataType::Utf8, text(&|r| part(r, "name="))),
        (
            "is_rrscan",
            DataType::Utf8,
            text(&|r| Some(if r.is_rrscan { "t" } else { "f" }.to_string())),
        ),
        (
            "start_time",
            timestamp.clone(),
            Arc::new(TimestampMicrosecondArray::new_null(n)),
        ),
        (
            "end_time",
            timestamp,
            Arc::new(TimestampMicrosecondArray::new_null(n)),
        ),
        ("duration", DataType::Int64, int64(&|r| Some(r.max_micros))),
        ("alert", DataType::Utf8, null(&DataType::Utf8)),
        ("input_bytes", DataType::Int64, null(&DataType::Int64)),
        (
            "input_rows",
            DataType::Int64,
            int64(&|r| is_scan(r).then_some(r.rows_pre_filter)),
        ),
        ("output_bytes", DataType::Int64, int64(&|r| Some(r.bytes))),
        ("output_rows", DataType::Int64, int64(&|r| Some(r.rows))),
        ("blocks_read", DataType::Int64, null(&DataType::Int64)),
        ("blocks_write", DataType::Int64, null(&DataType::Int64)),
        ("local_read_io", DataType::Int64, null(&DataType::Int64)),
        ("remote_read_io", DataType::Int64, null(&DataType::Int64)),
        ("source", DataType::Utf8, null(&DataType::Utf8)),
        ("data_skewness", DataType::Int32, null(&DataType::Int32)),
        ("time_skewness", DataType::Int32, null(&DataType::Int32)),
        (
            "is_active",
            DataType::Utf8,
            text(&|_| Some("f".to_string())),
        ),
        (
            "spilled_block_local_disk",
            DataType::Int64,
            null(&DataType::Int64),
        ),
        (
            "spilled_block_remote_disk",
            DataType::Int64,
            null(&DataType::Int64),
        ),
        ("step_attribute", DataType::Utf8, null(&DataType::Utf8)),
        (
            "metrics_level",
            DataType::Utf8,
            text(&|_| Some("step".to_string())),
        ),
        ("plan_parent_id", DataType::Int32, null(&DataType::Int32)),
        ("plan_node_id", DataType::Int32, null(&DataType::Int32)),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, ty, array)| (Field::new(name, ty, true), array))
        .unzip();
    batch(fields, arrays)
}
