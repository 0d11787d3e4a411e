//! Redshift's system tables, built from the catalog when a query names them.
//!
//! They resolve in the `public` schema (Redshift resolves them through the search
//! path), are not listed by `\dt`, and read the state at the time of the query.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use blueshift_storage::catalog::access::Principal;
use blueshift_storage::catalog::{Catalog, DistStyle};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result;

use crate::cluster::ClusterClient;
use crate::error::LeaderError;
use crate::query_log::{QueryLog, QueryStatus};
use crate::session::DATABASE;

pub mod constraints;
mod exec_state;
pub(crate) mod grants;
mod information_schema;
mod svv_catalog;

/// The name `information_schema.table_privileges` resolves to (DataFusion's own
/// information_schema has no such table; the SQL rewrite points the name here).
pub const INFORMATION_SCHEMA_TABLE_PRIVILEGES: &str = "information_schema.table_privileges";
/// The name `information_schema.views` resolves to (DataFusion's has other columns).
pub const INFORMATION_SCHEMA_VIEWS: &str = "information_schema.views";
/// The name `information_schema.columns` resolves to (DataFusion's gives Arrow types).
pub const INFORMATION_SCHEMA_COLUMNS: &str = "information_schema.columns";
/// The information_schema tables Blueshift answers itself (with the constraint
/// views of [`constraints::TABLES`]).
pub const INFORMATION_SCHEMA_TABLES: &[&str] = &[
    INFORMATION_SCHEMA_TABLE_PRIVILEGES,
    INFORMATION_SCHEMA_VIEWS,
    INFORMATION_SCHEMA_COLUMNS,
];
mod load;
pub mod pg_types;
mod summary;
mod users;
mod wlm;

/// The system tables [`lookup`] answers itself (keep the two in step); the catalog
/// views of `svv_catalog` and `constraints` are theirs.
pub const SYSTEM_TABLES: &[&str] = &[
    "stl_query",
    "stl_scan",
    "stl_load_errors",
    "stl_load_commits",
    "stv_load_state",
    "sys_query_history",
    "svl_query_summary",
    "sys_query_detail",
    "stv_exec_state",
    "pg_user",
    "pg_shadow",
    "pg_group",
    "svv_user_info",
    "svv_relation_privileges",
    "svv_schema_privileges",
    "svv_database_privileges",
    "svv_default_privileges",
    "svv_roles",
    "svv_user_grants",
    "svv_role_grants",
    "stv_slices",
    "pg_table_def",
    "svv_table_info",
    "stv_tbl_perm",
    "stv_blocklist",
    "svv_mv_info",
    "svv_external_schemas",
    "svv_external_tables",
    "svv_external_columns",
];

/// Whether `name` is a system table or one of pg_catalog's.
pub fn is_system_table(name: &str) -> bool {
    SYSTEM_TABLES.contains(&name)
        || wlm::TABLES.contains(&name)
        || svv_catalog::TABLES.contains(&name)
        || constraints::TABLES.contains(&name)
        || datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES.contains(&name)
        || name == "pg_tables"
        || name == "pg_views"
        || name == "pg_roles"
        || name == "pg_settings"
        || name == "pg_proc_info"
}

/// The system table `name`, or `None` when there is no such table.
/// `viewer` reads it: the query and load logs show a user who is not a superuser
/// only its own rows, and PG_SHADOW is for superusers.
pub async fn lookup(
    name: &str,
    catalog: &Catalog,
    cluster: &ClusterClient,
    query_log: &QueryLog,
    viewer: &Principal,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let log = match name {
        "stl_query" => Some(stl_query(query_log)?),
        "stl_scan" => Some(stl_scan(query_log)?),
        "stl_load_errors" => Some(load::stl_load_errors(query_log)?),
        "stl_load_commits" => Some(load::stl_load_commits(query_log)?),
        "stv_load_state" => Some(load::stv_load_state(query_log)?),
        "sys_query_history" => Some(sys_query_history(query_log)?),
        "svl_query_summary" => Some(summary::svl_query_summary(query_log)?),
        "sys_query_detail" => Some(summary::sys_query_detail(query_log)?),
        "stv_exec_state" => Some(exec_state::stv_exec_state(cluster, query_log).await?),
        name if wlm::TABLES.contains(&name) => match query_log.wlm.get() {
            Some(gate) => Some(wlm::build(name, gate)?),
            None => None,
        },
        _ => None,
    };
    let batch = match (log, name) {
        (Some(log), _) => users::visible_to(log, viewer)?,
        (None, "pg_user") => users::pg_user(catalog)?,
        (None, "pg_shadow") => users::pg_shadow(catalog, viewer)?,
        (None, "pg_group") => users::pg_group(catalog)?,
        (None, "svv_user_info") => users::svv_user_info(catalog)?,
        (None, "svv_relation_privileges") => grants::svv_relation_privileges(catalog, viewer)?,
        (None, "svv_schema_privileges") => grants::svv_schema_privileges(catalog, viewer)?,
        (None, INFORMATION_SCHEMA_TABLE_PRIVILEGES) => {
            grants::information_schema_table_privileges(catalog, viewer)?
        }
        (None, INFORMATION_SCHEMA_VIEWS) => information_schema::views(catalog, viewer)?,
        (None, INFORMATION_SCHEMA_COLUMNS) => information_schema::columns(catalog, viewer)?,
        (None, "svv_database_privileges") => grants::svv_database_privileges(catalog, viewer)?,
        (None, "svv_default_privileges") => grants::svv_default_privileges(catalog, viewer)?,
        (None, "svv_roles") => grants::svv_roles(catalog)?,
        (None, "svv_mv_info") => information_schema::svv_mv_info(catalog)?,
        (None, "svv_user_grants") => grants::svv_user_grants(catalog, viewer)?,
        (None, "svv_role_grants") => grants::svv_role_grants(catalog)?,
        (None, "stv_slices") => stv_slices(cluster)?,
        (None, "pg_table_def") => pg_table_def(catalog)?,
        (None, "svv_table_info") => svv_table_info(catalog, cluster)?,
        (None, "stv_tbl_perm") => stv_tbl_perm(catalog)?,
        (None, "stv_blocklist") => stv_blocklist(catalog, cluster).await?,
        (None, name) if constraints::TABLES.contains(&name) => {
            constraints::build(name, catalog, viewer)?
        }
        (None, name) if svv_catalog::TABLES.contains(&name) => {
            svv_catalog::build(name, catalog, viewer)?
        }
        (None, name) => match information_schema::svv_external(name) {
            Some(rows) => rows?,
            None => return Ok(None),
        },
    };
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    Ok(Some(Arc::new(table)))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Redshift's numeric(precision, 2) columns, from floating-point values.
fn numeric(values: Vec<Option<f64>>, precision: u8) -> Result<ArrayRef> {
    let array = Decimal128Array::from(
        values
            .into_iter()
            .map(|v| v.map(|v| (v * 100.0).round() as i128))
            .collect::<Vec<_>>(),
    )
    .with_precision_and_scale(precision, 2)?;
    Ok(Arc::new(array))
}

fn micros(t: &chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_micros()
}

fn timestamp_field(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, None),
        nullable,
    )
}

/// The columns STL_QUERY and SYS_QUERY_HISTORY both have, from the query log.
struct QueryColumns {
    user_id: ArrayRef,
    query_id: ArrayRef,
    label: ArrayRef,
    text: ArrayRef,
    start: ArrayRef,
    end: ArrayRef,
}

impl QueryColumns {
    fn new(records: &[crate::query_log::QueryRecord]) -> Self {
        QueryColumns {
            user_id: Arc::new(Int32Array::from_iter_values(
                records.iter().map(|r| r.user_id),
            )),
            query_id: Arc::new(Int64Array::from_iter_values(
                records.iter().map(|r| r.query_id as i64),
            )),
            label: Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| &r.label),
            )),
            text: Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| &r.text),
            )),
            start: Arc::new(TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| micros(&r.start)),
            )),
            end: Arc::new(TimestampMicrosecondArray::from_iter(
                records.iter().map(|r| r.end.as_ref().map(micros)),
            )),
        }
    }
}

/// STL_QUERY: userid, query, label, xid, pid, database, querytxt, starttime, endtime,
/// aborted. A statement still running has no endtime.
fn stl_query(log: &QueryLog) -> Result<RecordBatch> {
    let records = log.records();
    let common = QueryColumns::new(&records);
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("label", DataType::Utf8, false),
            Field::new("xid", DataType::Int64, false),
            Field::new("pid", DataType::Int32, false),
            Field::new("database", DataType::Utf8, false),
            Field::new("querytxt", DataType::Utf8, false),
            timestamp_field("starttime", false),
            timestamp_field("endtime", true),
            Field::new("aborted", DataType::Int32, false),
        ],
        vec![
            Arc::clone(&common.user_id),
            Arc::clone(&common.query_id),
            common.label,
            // Every statement is its own transaction; its id is the query id.
            common.query_id,
            Arc::new(Int32Array::from_iter_values(records.iter().map(|r| r.pid))),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|_| DATABASE),
            )),
            common.text,
            common.start,
            common.end,
            Arc::new(Int32Array::from_iter_values(records.iter().map(|r| {
                i32::from(matches!(
                    r.status,
                    QueryStatus::Failed | QueryStatus::Canceled
                ))
            }))),
        ],
    )
}

/// STL_SCAN: one row per query, slice and table scanned: userid, query, slice,
/// segment, step, starttime, endtime, type (2: a permanent table), tbl,
/// perm_table_name, rows, rows_pre_filter, bytes, is_rrscan (zone maps skipped some
/// row groups), and Blueshift's
/// blocks_read and blocks_total (a block is one column of one row group).
fn stl_scan(log: &QueryLog) -> Result<RecordBatch> {
    let scans = log.scans();
    let int64 = |f: &dyn Fn(&blueshift_proto::ScanStats) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            scans.iter().map(|s| f(&s.stats) as i64),
        ))
    };
    batch(
        vec![
            Field::new("userid", DataType::Int32, false),
            Field::new("query", DataType::Int64, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("segment", DataType::Int32, false),
            Field::new("step", DataType::Int32, false),
            timestamp_field("starttime", false),
            timestamp_field("endtime", false),
            Field::new("type", DataType::Int32, false),
            Field::new("tbl", DataType::Int64, false),
            Field::new("perm_table_name", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("rows_pre_filter", DataType::Int64, false),
            Field::new("bytes", DataType::Int64, false),
            Field::new("is_rrscan", DataType::Boolean, false),
            Field::new("blocks_read", DataType::Int64, false),
            Field::new("blocks_total", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                scans.iter().map(|s| s.user_id),
            )),
            Arc::new(Int64Array::from_iter_values(
                scans.iter().map(|s| s.query_id as i64),
            )),
            Arc::new(Int32Array::from_iter_values(
                scans.iter().map(|s| s.stats.slice as i32),
            )),
            Arc::new(Int32Array::from(vec![0; scans.len()])),
            Arc::new(Int32Array::from(vec![0; scans.len()])),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                scans.iter().map(|s| s.stats.start_micros),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                scans.iter().map(|s| s.stats.end_micros),
            )),
            Arc::new(Int32Array::from(vec![2; scans.len()])),
            int64(&|s| pg_types::relation_oid(s.table_id) as u64),
            Arc::new(StringArray::from_iter_values(
                scans.iter().map(|s| &s.stats.table_name),
            )),
            int64(&|s| s.rows),
            int64(&|s| s.rows_pre_filter),
            int64(&|s| s.bytes),
            Arc::new(BooleanArray::from_iter(
                scans.iter().map(|s| Some(s.stats.is_rrscan)),
            )),
            int64(&|s| s.blocks_read),
            int64(&|s| s.blocks_total),
        ],
    )
}

/// SYS_QUERY_HISTORY: user_id, query_id, query_label, status, start_time, end_time,
/// elapsed_time, queue_time, execution_time (microseconds), error_message,
/// returned_rows, query_text.
fn sys_query_history(log: &QueryLog) -> Result<RecordBatch> {
    let records = log.records();
    let common = QueryColumns::new(&records);
    let elapsed: Vec<Option<i64>> = records
        .iter()
        .map(|r| r.end.as_ref().map(|e| micros(e) - micros(&r.start)))
        .collect();
    batch(
        vec![
            Field::new("user_id", DataType::Int32, false),
            Field::new("query_id", DataType::Int64, false),
            Field::new("query_label", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            timestamp_field("start_time", false),
            timestamp_field("end_time", true),
            Field::new("elapsed_time", DataType::Int64, true),
            Field::new("queue_time", DataType::Int64, true),
            Field::new("execution_time", DataType::Int64, true),
            Field::new("error_message", DataType::Utf8, true),
            Field::new("returned_rows", DataType::Int64, false),
            Field::new("query_text", DataType::Utf8, false),
        ],
        vec![
            common.user_id,
            common.query_id,
            common.label,
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.status.name()),
            )),
            common.start,
            common.end,
            Arc::new(Int64Array::from(elapsed.clone())),
            // Queue time is not measured separately yet: execution is the whole time.
            Arc::new(Int64Array::from(vec![None; records.len()])),
            Arc::new(Int64Array::from(elapsed)),
            Arc::new(StringArray::from_iter(
                records.iter().map(|r| r.error.clone()),
            )),
            Arc::new(Int64Array::from_iter_values(
                records.iter().map(|r| r.returned_rows as i64),
            )),
            common.text,
        ],
    )
}

/// STV_SLICES: node, slice, localslice, type.
fn stv_slices(cluster: &ClusterClient) -> Result<RecordBatch> {
    let layout = cluster.layout();
    let slices: Vec<u32> = (0..layout.slice_count()).collect();
    batch(
        vec![
            Field::new("node", DataType::Int32, false),
            Field::new("slice", DataType::Int32, false),
            Field::new("localslice", DataType::Int32, false),
            Field::new("type", DataType::Utf8, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                slices.iter().map(|&s| layout.node_of(s) as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                slices.iter().map(|&s| s as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                slices.iter().map(|&s| (s % layout.slices_per_node) as i32),
            )),
            Arc::new(StringArray::from_iter_values(slices.iter().map(|_| "D"))),
        ],
    )
}

/// PG_TABLE_DEF: schemaname, tablename, column, type, encoding, distkey, sortkey, notnull.
fn pg_table_def(catalog: &Catalog) -> Result<RecordBatch> {
    let tables = catalog.all_tables().map_err(LeaderError::from)?;
    let (mut schema, mut table, mut column, mut ty, mut enc) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut distkey, mut sortkey, mut notnull) = (vec![], vec![], vec![]);
    for t in &tables {
        for (i, c) in t.columns.iter().enumerate() {
            schema.push(t.schema.clone());
            table.push(t.name.clone());
            column.push(c.name.clone());
            ty.push(pg_types::pg_type(&c.declared_type, &c.data_type).name);
            enc.push(c.encoding.clone().unwrap_or_else(|| "none".into()));
            distkey.push(t.dist_key == Some(i));
            sortkey.push(
                t.sort_key
                    .iter()
                    .position(|&k| k == i)
                    .map_or(0, |p| p as i32 + 1),
            );
            notnull.push(!c.nullable);
        }
    }
    batch(
        vec![
            Field::new("schemaname", DataType::Utf8, false),
            Field::new("tablename", DataType::Utf8, false),
            Field::new("column", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("encoding", DataType::Utf8, false),
            Field::new("distkey", DataType::Boolean, false),
            Field::new("sortkey", DataType::Int32, false),
            Field::new("notnull", DataType::Boolean, false),
        ],
        vec![
            Arc::new(StringArray::from(schema)),
            Arc::new(StringArray::from(table)),
            Arc::new(StringArray::from(column)),
            Arc::new(StringArray::from(ty)),
            Arc::new(StringArray::from(enc)),
            Arc::new(BooleanArray::from(distkey)),
            Arc::new(Int32Array::from(sortkey)),
            Arc::new(BooleanArray::from(notnull)),
        ],
    )
}

/// STV_TBL_PERM: one row per table and slice holding rows: slice, id, name, rows
/// (deleted rows not yet vacuumed included, as on Redshift), sorted_rows, temp,
/// db_id, backup.
fn stv_tbl_perm(catalog: &Catalog) -> Result<RecordBatch> {
    let tables = catalog.all_tables().map_err(LeaderError::from)?;
    let (mut slice, mut id, mut name, mut rows, mut sorted, mut backup) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for t in &tables {
        let version = catalog.version(t.id).map_err(LeaderError::from)?;
        for (s, segments) in &version.slices {
            slice.push(*s as i32);
            id.push(i64::from(pg_types::relation_oid(t.id)));
            name.push(t.name.clone());
            rows.push(segments.iter().map(|g| g.rows as i64).sum::<i64>());
            sorted.push(
                segments
                    .iter()
                    .filter(|g| g.sorted)
                    .map(|g| g.rows as i64)
                    .sum::<i64>(),
            );
            backup.push(i32::from(t.backup));
        }
    }
    let n = slice.len();
    batch(
        vec![
            Field::new("slice", DataType::Int32, false),
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("sorted_rows", DataType::Int64, false),
            Field::new("temp", DataType::Int32, false),
            Field::new("db_id", DataType::Int32, false),
            Field::new("backup", DataType::Int32, false),
        ],
        vec![
            Arc::new(Int32Array::from(slice)),
            Arc::new(Int64Array::from(id)),
            Arc::new(StringArray::from(name)),
            Arc::new(Int64Array::from(rows)),
            Arc::new(Int64Array::from(sorted)),
            Arc::new(Int32Array::from(vec![0; n])),
            Arc::new(Int32Array::from(vec![1; n])),
            Arc::new(Int32Array::from(backup)),
        ],
    )
}

/// STV_BLOCKLIST: one row per block (one column of one 64 Ki-row row group of a
/// segment): slice, col (the column's position in the table), tbl, blocknum (per slice
/// and column, in segment order), num_values, minvalue and maxvalue (the zone map, as
/// text), unsorted (1 in the unsorted region), tombstone (0), and Blueshift's segment
/// and bytes (compressed). Columns dropped by ALTER TABLE are not listed.
async fn stv_blocklist(catalog: &Catalog, cluster: &ClusterClient) -> Result<RecordBatch> {
    let layout = cluster.layout();
    let tables = catalog.all_tables().map_err(LeaderError::from)?;
    let mut per_node: std::collections::BTreeMap<u32, Vec<blueshift_proto::SegmentOfTable>> =
        Default::default();
    let mut unsorted = std::collections::HashSet::new();
    for t in &tables {
        let version = catalog.version(t.id).map_err(LeaderError::from)?;
        for (&slice, segments) in &version.slices {
            for segment in segments {
                if !segment.sorted {
                    unsorted.insert((t.id, slice, segment.name.clone()));
                }
                per_node.entry(layout.node_of(slice)).or_default().push(
                    blueshift_proto::SegmentOfTable {
                        table_id: t.id,
                        slice,
                        segment: segment.name.clone(),
                    },
                );
            }
        }
    }
    let mut blocks = Vec::new();
    for (node, segments) in per_node {
        blocks.extend(cluster.block_list(node, segments).await?);
    }
    let column_of = |table_id: u64, column_id: u32| {
        tables
            .iter()
            .find(|t| t.id == table_id)
            .and_then(|t| t.columns.iter().position(|c| c.id == column_id))
    };
    let mut rows = Vec::new();
    let mut next_block: std::collections::HashMap<(u64, u32, usize), i32> = Default::default();
    for b in blocks {
        let Some(col) = column_of(b.table_id, b.column_id) else {
            continue;
        };
        let n = next_block.entry((b.table_id, b.slice, col)).or_default();
        let blocknum = *n;
        *n += 1;
        let sorted = !unsorted.contains(&(b.table_id, b.slice, b.segment.clone()));
        rows.push((b, col, blocknum, sorted));
    }
    batch(
        vec![
            Field::new("slice", DataType::Int32, false),
            Field::new("col", DataType::Int32, false),
            Field::new("tbl", DataType::Int64, false),
            Field::new("blocknum", DataType::Int32, false),
            Field::new("num_values", DataType::Int64, false),
            Field::new("minvalue", DataType::Utf8, true),
            Field::new("maxvalue", DataType::Utf8, true),
            Field::new("unsorted", DataType::Int32, false),
            Field::new("tombstone", DataType::Int32, false),
            Field::new("segment", DataType::Utf8, false),
            Field::new("bytes", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(b, ..)| b.slice as i32),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(_, col, ..)| *col as i32),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter()
                    .map(|(b, ..)| i64::from(pg_types::relation_oid(b.table_id))),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(_, _, n, _)| *n),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|(b, ..)| b.num_values as i64),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|(b, ..)| b.min_value.clone()),
            )),
            Arc::new(StringArray::from_iter(
                rows.iter().map(|(b, ..)| b.max_value.clone()),
            )),
            Arc::new(Int32Array::from_iter_values(
                rows.iter().map(|(.., sorted)| i32::from(!sorted)),
            )),
            Arc::new(Int32Array::from(vec![0; rows.len()])),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|(b, ..)| b.segment.clone()),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|(b, ..)| b.bytes as i64),
            )),
        ],
    )
}

/// SVV_TABLE_INFO: schema, table_id, table, diststyle, sortkey1, size (1 MB blocks),
/// tbl_rows (deleted rows not yet vacuumed included; every copy of a DISTSTYLE ALL
/// table), estimated_visible_rows (one copy),
/// unsorted (percent of rows outside the sorted region; NULL without a sort key),
/// stats_off (0 when ANALYZE's statistics are current, 100 when there are none), and
/// skew_rows (rows on the fullest slice over rows on the emptiest; NULL when empty).
fn svv_table_info(catalog: &Catalog, cluster: &ClusterClient) -> Result<RecordBatch> {
    let tables = catalog.all_tables().map_err(LeaderError::from)?;
    // A materialized view is listed by its name too, with its table's figures (as
    // Redshift does, and dbt reads).
    let mut entries: Vec<(String, &blueshift_storage::catalog::TableDef)> =
        tables.iter().map(|t| (t.name.clone(), t)).collect();
    for v in catalog.all_views().map_err(LeaderError::from)? {
        if let Some(m) = &v.materialized
            && let Some(t) = tables
                .iter()
                .find(|t| t.schema == v.schema && t.name == m.table)
        {
            entries.push((v.name.clone(), t));
        }
    }
    let (mut schema, mut id, mut name, mut dist, mut sort1) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut size, mut rows, mut visible, mut unsorted, mut stats_off, mut skew) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut encoded, mut max_varchar, mut sort1_enc, mut sort_num) =
        (vec![], vec![], vec![], vec![]);
    for (shown, t) in &entries {
        // Redshift's `encoded`: Y when a column has an encoding, with AUTO(ENCODE)
        // when every column's is chosen automatically (no ENCODE).
        let explicit = t
            .columns
            .iter()
            .filter_map(|c| c.encoding.as_deref())
            .any(|e| e != "raw" && e != "auto");
        let auto = t.columns.iter().all(|c| c.encoding.is_none());
        encoded.push(match (explicit, auto) {
            (_, true) => "Y, AUTO(ENCODE)",
            (true, false) => "Y",
            (false, false) => "N",
        });
        max_varchar.push(
            t.columns
                .iter()
                .map(|c| pg_types::pg_type(&c.declared_type, &c.data_type))
                .filter(|ty| matches!(ty.oid, 1042 | 1043) && ty.typmod >= 4)
                .map(|ty| ty.typmod - 4)
                .max()
                .unwrap_or(0),
        );
        sort1_enc.push(t.sort_key.first().map(|&k| {
            t.columns[k]
                .encoding
                .clone()
                .unwrap_or_else(|| "none".to_string())
        }));
        sort_num.push(t.sort_key.len() as i32);
        let version = catalog.version(t.id).map_err(LeaderError::from)?;
        schema.push(t.schema.clone());
        id.push(i64::from(pg_types::relation_oid(t.id)));
        name.push(shown.clone());
        dist.push(match (t.dist_style, t.dist_key) {
            (DistStyle::Key, Some(k)) => format!("KEY({})", t.columns[k].name),
            (style, _) => style.name().to_string(),
        });
        sort1.push(t.sort_key.first().map(|&k| t.columns[k].name.clone()));
        let bytes: u64 = version.slices.values().flatten().map(|s| s.bytes).sum();
        size.push(bytes.div_ceil(1024 * 1024) as i64);
        rows.push(version.stored_rows() as i64);
        // A DISTSTYLE ALL table holds one copy per node: count one.
        let live = match t.dist_style {
            DistStyle::All => version
                .slices
                .get(&cluster.layout().first_slice_of(0))
                .map_or(0, |segs| segs.iter().map(|g| g.live_rows()).sum()),
            _ => version.rows(),
        };
        visible.push(live as i64);
        unsorted.push((!t.sort_key.is_empty()).then(|| {
            if live == 0 {
                0.0
            } else {
                let sorted = version.sorted_rows() * live / version.rows().max(1);
                100.0 * (live - sorted.min(live)) as f64 / live as f64
            }
        }));
        stats_off.push(
            catalog
                .statistics(t.id)
                .map_err(LeaderError::from)?
                .map_or(100.0, |stats| stats.staleness(live)),
        );
        let per_slice: Vec<u64> = match t.dist_style {
            DistStyle::All => vec![],
            _ => (0..cluster.layout().slice_count())
                .map(|s| {
                    version
                        .slices
                        .get(&s)
                        .map_or(0, |segs| segs.iter().map(|g| g.live_rows()).sum())
                })
                .collect(),
        };
        skew.push(match (per_slice.iter().max(), per_slice.iter().min()) {
            (Some(&max), Some(&min)) if max > 0 => Some(max as f64 / min.max(1) as f64),
            _ => None,
        });
    }
    let n = entries.len();
    let nulls = |ty: &DataType| arrow::array::new_null_array(ty, n);
    let decimal = DataType::Decimal128(19, 2);
    // Redshift's columns, in its order; pct_used, skew_sortkey1, risk_event,
    // vacuum_sort_benefit and create_time are not measured here (NULL).
    batch(
        vec![
            Field::new("database", DataType::Utf8, false),
            Field::new("schema", DataType::Utf8, false),
            Field::new("table_id", DataType::Int64, false),
            Field::new("table", DataType::Utf8, false),
            Field::new("encoded", DataType::Utf8, false),
            Field::new("diststyle", DataType::Utf8, false),
            Field::new("sortkey1", DataType::Utf8, true),
            Field::new("max_varchar", DataType::Int32, false),
            Field::new("sortkey1_enc", DataType::Utf8, true),
            Field::new("sortkey_num", DataType::Int32, false),
            Field::new("size", DataType::Int64, false),
            Field::new("pct_used", DataType::Decimal128(10, 4), true),
            Field::new("empty", DataType::Int64, false),
            Field::new("unsorted", DataType::Decimal128(5, 2), true),
            Field::new("stats_off", DataType::Decimal128(5, 2), false),
            Field::new("tbl_rows", DataType::Int64, false),
            Field::new("skew_sortkey1", decimal.clone(), true),
            Field::new("skew_rows", decimal.clone(), true),
            Field::new("estimated_visible_rows", DataType::Int64, false),
            Field::new("risk_event", DataType::Utf8, true),
            Field::new("vacuum_sort_benefit", decimal.clone(), true),
            timestamp_field("create_time", true),
        ],
        vec![
            Arc::new(StringArray::from(vec![DATABASE; n])),
            Arc::new(StringArray::from(schema)),
            Arc::new(Int64Array::from(id)),
            Arc::new(StringArray::from(name)),
            Arc::new(StringArray::from(encoded)),
            Arc::new(StringArray::from(dist)),
            Arc::new(StringArray::from(sort1)),
            Arc::new(Int32Array::from(max_varchar)),
            Arc::new(StringArray::from(sort1_enc)),
            Arc::new(Int32Array::from(sort_num)),
            Arc::new(Int64Array::from(size)),
            nulls(&DataType::Decimal128(10, 4)),
            Arc::new(Int64Array::from(vec![0; n])),
            numeric(unsorted, 5)?,
            numeric(stats_off.into_iter().map(Some).collect(), 5)?,
            Arc::new(Int64Array::from(rows)),
            nulls(&decimal),
            numeric(skew, 19)?,
            Arc::new(Int64Array::from(visible)),
            nulls(&DataType::Utf8),
            nulls(&decimal),
            nulls(&DataType::Timestamp(TimeUnit::Microsecond, None)),
        ],
    )
}
