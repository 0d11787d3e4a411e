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
