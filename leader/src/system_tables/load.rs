//! COPY's system tables: STL_LOAD_ERRORS, STL_LOAD_COMMITS and STV_LOAD_STATE, from
//! the query log's load records.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field};
use datafusion::error::Result;

use super::{batch, micros, timestamp_field};
use crate::query_log::QueryLog;

/// The pid and start time of each logged query, by id.
fn query_sessions(log: &QueryLog) -> std::collections::HashMap<u64, (i32, i64)> {
    log.records()
        .iter()
        .map(|r| (r.query_id, (r.pid, micros(&r.start))))
        .collect()
}

/// STL_LOAD_ERRORS: one row per row a COPY rejected.
pub(super) fn stl_load_errors(log: &QueryLog) -> Result<RecordBatch> {
    let errors = log.loads.errors();
    let sessions = query_sessions(log);
    let session = |q: u64| sessions.get(&q).copied().unwrap_or((0, 0));
    let text = |f: &dyn Fn(&blueshift_proto::LoadErrorRecord) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            errors.iter().map(|e| f(&e.error)),
        ))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("tbl", DataType::Int64, false),
            timestamp_field("starttime", false),
            Field::new("session", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("filename", DataType::Utf8, false),
            Field::new("line_number", DataType::Int64, false),
            Field::new("colname", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("col_length", DataType::Utf8, false),
            Field::new("position", DataType::Int32, false),
            Field::new("raw_line", DataType::Utf8, false),
            Field::new("raw_field_value", DataType::Utf8, false),
            Field::new("err_code", DataType::Int32, false),
            Field::new("err_reason", DataType::Utf8, false),
            Field::new("is_partial", DataType::Int32, false),
            Field::new("start_offset", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| e.user_id),
            )),
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| e.error.slice as i32),
            )),
            Arc::new(Int64Array::from_iter_values(errors.iter().map(|e| {
                i64::from(super::pg_types::relation_oid(e.error.table_id))
            }))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                errors.iter().map(|e| session(e.query_id).1),
            )),
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| session(e.query_id).0),
            )),
            Arc::new(Int64Array::from_iter_values(
                errors.iter().map(|e| e.query_id as i64),
            )),
            text(&|e| e.url.clone()),
            Arc::new(Int64Array::from_iter_values(
                errors.iter().map(|e| e.error.line_number as i64),
            )),
            text(&|e| e.colname.clone()),
            text(&|e| e.column_type.clone()),
            text(&|e| {
                if e.col_length < 0 {
                    String::new()
                } else {
                    e.col_length.to_string()
                }
            }),
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| e.error.position as i32),
            )),
            text(&|e| e.raw_line.clone()),
            text(&|e| e.raw_field_value.clone()),
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| e.error.err_code),
            )),
            text(&|e| e.err_reason.clone()),
            Arc::new(Int32Array::from_iter_values(
                errors.iter().map(|e| i32::from(e.error.partial)),
            )),
            Arc::new(Int64Array::from_iter_values(
                errors.iter().map(|e| e.error.start_offset as i64),
            )),
        ],
    )
}

/// STL_LOAD_COMMITS: one row per file of each finished COPY; status 1 when the COPY
/// committed.
pub(super) fn stl_load_commits(log: &QueryLog) -> Result<RecordBatch> {
    let commits = log.loads.commits();
    let int64 = |f: &dyn Fn(&crate::query_log::loads::LoadCommitRow) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(commits.iter().map(f)))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("filename", DataType::Utf8, false),
            Field::new("byte_offset", DataType::Int64, false),
            Field::new("lines_scanned", DataType::Int64, false),
            Field::new("errors", DataType::Int64, false),
            timestamp_field("curtime", false),
            Field::new("status", DataType::Int32, false),
            Field::new("file_format", DataType::Utf8, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                commits.iter().map(|c| c.user_id),
            )),
            int64(&|c| c.query_id as i64),
            Arc::new(Int32Array::from_iter_values(
                commits.iter().map(|c| c.file.slice as i32),
            )),
            Arc::new(StringArray::from_iter_values(
                commits.iter().map(|c| format!("slice-{}", c.file.slice)),
            )),
            Arc::new(StringArray::from_iter_values(
                commits.iter().map(|c| c.file.url.clone()),
            )),
            int64(&|c| c.file.offset as i64),
            int64(&|c| c.file.lines_scanned as i64),
            int64(&|c| c.file.errors as i64),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                commits.iter().map(|c| c.file.end_micros),
            )),
            Arc::new(Int32Array::from_iter_values(
                commits.iter().map(|c| c.status),
            )),
            Arc::new(StringArray::from_iter_values(
                commits.iter().map(|c| c.file_format.clone()),
            )),
        ],
    )
}

/// STV_LOAD_STATE: each running COPY's progress, one row per slice.
pub(super) fn stv_load_state(log: &QueryLog) -> Result<RecordBatch> {
    use std::collections::BTreeMap;
    let sessions = query_sessions(log);
    #[derive(Default)]
    struct Slice {
        user_id: i32,
        bytes: u64,
        read: u64,
        lines: u64,
        files: u64,
        complete: u64,
        current: String,
        at: i64,
    }
    let mut slices: BTreeMap<(u64, u32), Slice> = BTreeMap::new();
    for load in log.loads.running() {
        let s = slices.entry((load.query_id, load.file.slice)).or_default();
        s.user_id = load.user_id;
        s.bytes += load.file.size;
        s.read += load.file.bytes_read.min(load.file.size);
        s.lines += load.file.lines_scanned;
        s.files += 1;
        if load.file.complete {
            s.complete += 1;
        } else if s.current.is_empty() {
            s.current = load.file.url.clone();
        }
        s.at = s.at.max(load.file.end_micros);
    }
    let rows: Vec<((u64, u32), Slice)> = slices.into_iter().collect();
    let int64 = |f: &dyn Fn(&Slice) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(_, s)| f(s) as i64),
        ))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("session", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("pid", DataType::Int32, false),
            timestamp_field("recordtime", false),
            Field::new("bytes_to_load", DataType::Int64, false),
            Field::new("bytes_loaded", DataType::Int64, false),
            Field::new("bytes_to_load_compressed", DataType::Int64, false),
            Field::new("bytes_loaded_compressed", DataType::Int64, false),
            Field::new("lines", DataType::Int64, false),
            Field::new("num_files", DataType::Int64, false),
            Field::new("num_files_complete", DataType::Int64, false),
            Field::new("current_file", DataType::Utf8, false),
            Field::new("pct_complete", DataType::Int32, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(_, s)| s.user_id),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter()
                    .map(|((q, _), _)| sessions.get(q).map_or(0, |s| s.0)),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|((q, _), _)| *q as i64),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|((_, s), _)| *s as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter()
                    .map(|((q, _), _)| sessions.get(q).map_or(0, |s| s.0)),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|(_, s)| s.at),
            )),
            // Compressed sizes are what the leader knows; uncompressed are the same
            // figures (Blueshift does not measure decompressed bytes).
            int64(&|s| s.bytes),
            int64(&|s| s.read),
            int64(&|s| s.bytes),
            int64(&|s| s.read),
            int64(&|s| s.lines),
            int64(&|s| s.files),
            int64(&|s| s.complete),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(_, s)| s.current.clone()),
            )),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|(_, s)| {
                (s.read * 100).checked_div(s.bytes).unwrap_or(100) as i32
            }))),
        ],
    )
}
