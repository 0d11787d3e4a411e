//! VACUUM and ANALYZE of the [`Engine`], and the removal of segment files nothing references.
//!
//! VACUUM works slice by slice on the compute nodes ([`ClusterClient::rewrite_segments`]):
//! - the **sort** phase merges all of a slice's segments (each is sorted by the sort key
//!   already) into one sorted run of new segments, dropping deleted rows; for a table
//!   without a sort key it merges small segments;
//! - the **delete** phase rewrites each segment that has deleted rows, in place.
//!
//! `FULL` (the default) runs both, `SORT ONLY` the first, `DELETE ONLY` the second.
//! `TO n PERCENT` (default 95) skips the sort phase when at least n% of the rows are in
//! the sorted region, and the delete phase when at least n% of the stored rows are not
//! deleted, as Redshift does. All of a table's rewrites are committed in one catalog
//! transaction; a DELETE or UPDATE that committed meanwhile on the same segments makes
//! the VACUUM fail with 40001, changing nothing.
//!
//! Replaced files are removed once no statement is running, so a query still reading
//! the version before the VACUUM never loses a file.

use super::outcome::Outcome;
use super::quoted;
use blueshift_operators::FragmentCodec;
use blueshift_operators::scan::{ScanSpec, SlicePartition, SliceScanExec};
use blueshift_proto::RewriteSegments;
use blueshift_storage::catalog::{
    ColumnStatistics, Rewrite, SegmentRef, TableChange, TableDef, TableStatistics,
};
use datafusion::sql::sqlparser::ast::{VacuumStatement, Value};
use tracing::{info, warn};

use super::Engine;
use crate::engine::admission::StatementKind;
use crate::error::LeaderError;
use crate::interrupt::Interrupt;
use crate::session::Session;

/// Rows per segment that VACUUM writes.
pub const VACUUM_SEGMENT_ROWS: u64 = 1024 * 1024;

/// Redshift's default `TO n PERCENT`.
const DEFAULT_THRESHOLD: f64 = 95.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phases {
    Full,
    SortOnly,
    DeleteOnly,
}

impl Engine {
    pub(super) async fn vacuum(
        &self,
        session: &Session,
        stmt: &VacuumStatement,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let phases = match (stmt.sort_only, stmt.delete_only) {
            (true, false) => Phases::SortOnly,
            (false, true) => Phases::DeleteOnly,
            (false, false) => Phases::Full,
            (true, true) => {
                return Err(LeaderError::Syntax {
                    message: "VACUUM takes one of FULL, SORT ONLY, DELETE ONLY and REINDEX".into(),
                    position: None,
                });
            }
        };
        let threshold = match &stmt.threshold {
            None => DEFAULT_THRESHOLD,
            Some(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=100.0).contains(p))
                    .ok_or_else(|| {
                        LeaderError::InvalidParameter(format!(
                            "VACUUM TO {n} PERCENT: the threshold must be between 0 and 100"
                        ))
                    })?,
                other => {
                    return Err(LeaderError::InvalidParameter(format!(
                        "VACUUM TO {other} PERCENT: the threshold must be a number"
                    )));
                }
            },
        };
        let tables = self.named_or_all_tables(session, stmt.table_name.as_ref(), "VACUUM")?;
        let (_state, guard) = self.admit(session, StatementKind::Vacuum).await?;
        let rewrote = interrupt
            .run(async {
                let mut rewrote = false;
                for def in &tables {
                    rewrote |= self.vacuum_table(def, phases, threshold).await?;
                }
                Ok(rewrote)
            })
            .await?;
        drop(guard);
        if rewrote {
            self.collect_garbage_when_idle();
        }
        Ok(Outcome::done("VACUUM"))
    }

    /// The table `name`, or every table when there is none, that `session` may
    /// `what` (VACUUM, ANALYZE): its owner's.
    fn named_or_all_tables(
        &self,
        session: &Session,
        name: Option<&datafusion::sql::sqlparser::ast::ObjectName>,
        what: &str,
    ) -> Result<Vec<TableDef>, LeaderError> {
        let Some(name) = name else {
            let all = self.catalog_of(session).all_tables()?;
            return self.maintainable(session, all, false, what);
        };
        let (schema, table) = self.relation_name(session, name)?;
        let def = self
            .catalog_of(session)
            .table(&schema, &table)?
            .ok_or(blueshift_storage::StorageError::TableNotFound(table))?;
        self.maintainable(session, vec![def], true, what)
    }

    /// Vacuums one table; returns whether it rewrote anything.
    async fn vacuum_table(
        &self,
        def: &TableDef,
        phases: Phases,
        threshold: f64,
    ) -> Result<bool, LeaderError> {
        let version = self.catalog.version(def.id)?;
        let stored = version.stored_rows();
        if stored == 0 {
            return Ok(false);
        }
        let live = version.rows();
        let has_sort_key = !def.sort_key.is_empty();
        let percent = |part: u64, whole: u64| {
            if whole == 0 {
                100.0
            } else {
                part as f64 * 100.0 / whole as f64
            }
        };
        let sort = phases != Phases::DeleteOnly
            && if has_sort_key {
                percent(version.sorted_rows(), live) < threshold
            } else {
                version.slices.values().any(|segments| segments.len() > 1)
            };
        let delete = phases != Phases::SortOnly && percent(live, stored) < threshold;
        if !sort && !delete {
            return Ok(false);
        }
        // What to rewrite: whole slices (sort), or single segments (delete).
        let mut jobs: Vec<(u32, Vec<usize>)> = Vec::new();
        for (&slice, segments) in &version.slices {
            let needs_sort = if has_sort_key {
                segments.iter().any(|s| !s.sorted)
            } else {
                segments.len() > 1
            };
            let has_deletes = segments.iter().any(|s| s.deleted.is_some());
            if sort && (needs_sort || has_deletes) {
                jobs.push((slice, (0..segments.len()).collect()));
            } else if delete {
                jobs.extend(
                    segments
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.deleted.is_some())
                        .map(|(i, _)| (slice, vec![i])),
                );
            }
        }
        let rewrites = jobs.into_iter().map(|(slice, indices)| {
            let version = &version;
            async move {
                let segments: Vec<SegmentRef> = indices
                    .iter()
                    .filter_map(|&i| version.slices.get(&slice).and_then(|s| s.get(i)))
                    .cloned()
                    .collect();
                let written = self.rewrite(def, slice, &segments).await?;
                // Rewriting a whole slice with a sort key makes it one sorted run; a
                // single segment keeps its place (and whether it was sorted).
                let sorted = indices.len() > 1 || segments.iter().all(|s| s.sorted);
                let replacement: Vec<SegmentRef> = written
                    .into_iter()
                    .map(|w| SegmentRef {
                        sorted: sorted || !has_sort_key,
                        ..SegmentRef::new(w.name, w.rows, w.bytes)
                    })
                    .collect();
                Ok::<_, LeaderError>((slice, indices, segments, replacement))
            }
        });
        let mut change = TableChange::default();
        for (slice, indices, segments, replacement) in
            futures::future::try_join_all(rewrites).await?
        {
            let mut replacement = Some(replacement);
            for (index, segment) in indices.into_iter().zip(segments) {
                change.rewritten.insert(
                    (slice, index),
                    Rewrite {
                        name: segment.name,
                        deleted: segment.deleted,
                        replacement: replacement.take().unwrap_or_default(),
                    },
                );
            }
        }
        if change.is_empty() {
            return Ok(false);
        }
        let committed = crate::commit::CommitPoint::new(self.catalog.clone()).apply(
            def.id,
            &def.qualified_name(),
            &change,
        )?;
        info!(
            table = %def.qualified_name(),
            version = committed.version,
            sort,
            delete,
            "vacuumed"
        );
        Ok(true)
    }

    /// Rewrites `segments` of `slice` on the node holding it.
    async fn rewrite(
        &self,
        def: &TableDef,
        slice: u32,
        segments: &[SegmentRef],
    ) -> Result<Vec<blueshift_proto::SegmentWritten>, LeaderError> {
        let spec = ScanSpec {
            table_id: def.id,
            table_name: def.qualified_name(),
            table_schema: std::sync::Arc::new(def.arrow_schema()),
            projection: None,
            zone_map_filter: None,
            row_id: false,
            column_ids: def.columns.iter().map(|c| c.id).collect(),
            missing_values: def
                .columns
                .iter()
                .map(|c| c.missing_value.clone())
                .collect(),
        };
        let partitions = segments
            .iter()
            .map(|s| SlicePartition {
                slice,
                segments: vec![s.clone()],
            })
            .collect();
        let scan = SliceScanExec::try_new(spec, partitions, None)?;
        let request = RewriteSegments {
            scan: Some(FragmentCodec::default().encode_scan(&scan)?),
            sort_columns: def.sort_key.iter().map(|&c| c as u32).collect(),
            segment_rows: VACUUM_SEGMENT_ROWS,
            interleaved: def.sort_style == blueshift_storage::catalog::SortStyle::Interleaved,
            encodings: def
                .columns
                .iter()
                .map(|c| c.encoding.clone().unwrap_or_default())
                .collect(),
        };
        self.cluster.rewrite_segments(slice, request).await
    }

    /// Removes segment files no table version references, once no statement runs
    /// (in the background; a leader start does it too).
    pub(super) fn collect_garbage_when_idle(&self) {
        (self.garbage_collector())();
    }

    /// Starts a collection of unreferenced segment files each time it is called;
    /// each waits until no statement runs. Called outside a Tokio runtime it does
    /// nothing (the next collection, at the latest at start-up, removes them).
    pub fn garbage_collector(&self) -> impl Fn() + Send + Sync + 'static {
        let gate = std::sync::Arc::clone(&self.gate);
        let catalog = self.catalog.clone();
        let cluster = self.cluster.clone();
        let pins = self.snapshot_pins.clone();
        move || {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let (gate, catalog, cluster) = (gate.clone(), catalog.clone(), cluster.clone());
            let pins = pins.clone();
            runtime.spawn(async move {
                let _all = gate.acquire_all().await;
                // Segments of snapshots being taken stay until their upload is done.
                let result = match pins.live_with_pins(|| catalog.live_segments()) {
                    Ok(live) => cluster.collect_garbage(&live).await,
                    Err(e) => Err(e.into()),
                };
                match result {
                    Ok(removed) => info!(removed, "removed unreferenced segment files"),
                    Err(e) => warn!("removing unreferenced segment files: {e}"),
                }
            });
        }
    }
}

impl Engine {
    /// ANALYZE [table]: records rows, and per column NULLs, min, max and an estimate
    /// of distinct values (HyperLogLog; exact for floating-point columns), in the
    /// catalog. The planner reads them, and SVV_TABLE_INFO's `stats_off` compares
    /// them with the table now.
    pub(super) async fn analyze(
        &self,
        session: &Session,
        stmt: &datafusion::sql::sqlparser::ast::Analyze,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let tables = self.named_or_all_tables(session, stmt.table_name.as_ref(), "ANALYZE")?;
        let (state, _guard) = self.admit(session, StatementKind::Analyze).await?;
        interrupt
            .run(async {
                for def in &tables {
                    let stats = self.table_statistics(session, &state, def).await?;
                    self.commits_of(session).put_statistics(def.id, &stats)?;
                }
                Ok(())
            })
            .await?;
        Ok(Outcome::done("ANALYZE"))
    }

    /// The ANALYZE a COPY runs on the table it loaded (STATUPDATE ON, or a COPY into
    /// an empty table without STATUPDATE), in the COPY's transaction and slot. A
    /// failure is logged, not raised: the rows are loaded either way.
    pub(super) async fn analyze_loaded(
        &self,
        session: &Session,
        state: &datafusion::execution::context::SessionState,
        def: &TableDef,
    ) {
        let analyzed = async {
            let stats = self.table_statistics(session, state, def).await?;
            self.commits_of(session).put_statistics(def.id, &stats)?;
            Ok::<(), LeaderError>(())
        };
        match analyzed.await {
            Ok(()) => info!(table = %def.name, "COPY analyzed the table it loaded"),
            Err(e) => warn!(table = %def.name, "COPY's ANALYZE of the table it loaded: {e}"),
        }
    }

    /// [`Engine::analyze_loaded`] after a COPY FROM STDIN, which gave its slot back.
    pub async fn analyze_after_copy_in(&self, session: &Session, def: &TableDef) {
        match self.admit(session, StatementKind::Analyze).await {
            Ok((state, _guard)) => self.analyze_loaded(session, &state, def).await,
            Err(e) => warn!(table = %def.name, "COPY's ANALYZE of the table it loaded: {e}"),
        }
    }

    async fn table_statistics(
        &self,
        session: &Session,
        state: &datafusion::execution::context::SessionState,
        def: &TableDef,
    ) -> Result<TableStatistics, LeaderError> {
        use arrow::array::Array;
        use arrow::datatypes::DataType;
        let version = self.catalog_of(session).version(def.id)?;
        let mut exprs = vec!["count(*)".to_string()];
        for column in &def.columns {
            let c = quoted(&column.name);
            let distinct = match column.data_type {
                DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                    format!("count(DISTINCT {c})")
                }
                _ => format!("approx_distinct({c})"),
            };
            exprs.push(format!(
                "count({c}), CAST(min({c}) AS VARCHAR), CAST(max({c}) AS VARCHAR), \
                 CAST({distinct} AS BIGINT)"
            ));
        }
        let sql = format!(
            "SELECT {} FROM {}.{}",
            exprs.join(", "),
            quoted(&def.schema),
            quoted(&def.name)
        );
        let plan = state.create_logical_plan(&sql).await?;
        let batches = datafusion::dataframe::DataFrame::new(state.clone(), plan)
            .collect()
            .await?;
        let batch = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .ok_or_else(|| LeaderError::Unsupported(format!("ANALYZE of {}", def.name)))?;
        let int = |i: usize| -> u64 {
            let column = batch.column(i);
            arrow::compute::cast(column, &DataType::Int64)
                .ok()
                .and_then(|a| {
                    a.as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .filter(|a| !a.is_null(0))
                        .map(|a| a.value(0).max(0) as u64)
                })
                .unwrap_or(0)
        };
        let text = |i: usize| -> Option<String> {
            let column = batch.column(i);
            let strings = column
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()?;
            (!strings.is_null(0)).then(|| strings.value(0).to_string())
        };
        let rows = int(0);
        let columns = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let at = 1 + i * 4;
                ColumnStatistics {
                    name: column.name.clone(),
                    nulls: rows.saturating_sub(int(at)),
                    min: text(at + 1),
                    max: text(at + 2),
                    distinct: int(at + 3),
                }
            })
            .collect();
        Ok(TableStatistics {
            rows,
            version: version.version,
            analyzed_at: chrono::Utc::now().to_rfc3339(),
            columns,
        })
    }
}
