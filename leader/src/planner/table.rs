//! [`SliceTable`]: a Blueshift table as DataFusion sees it on the leader.
//!
//! A scan pins the table's committed version and describes, per slice, the segments
//! to read ([`SliceScanExec`]); the fragment rule ([`crate::planner::fragment`]) ships it to the
//! compute nodes. An insert routes rows to slices by the table's distribution, writes
//! staged segments on the compute nodes ([`SliceSink`]) and commits one new version.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use blueshift_operators::SliceScanExec;
use blueshift_operators::route::{RoutedWriter, SEGMENT_ROWS, WriteFn, cast_columns};
use blueshift_operators::scan::{Placement, ScanSpec, SlicePartition};
use blueshift_proto::WriteSegment;
use blueshift_storage::catalog::{
    Catalog, DistStyle, SegmentRef, SortStyle, TableDef, TableVersion,
};
use blueshift_storage::distribution::SliceRouter;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::{FutureExt, StreamExt};

use crate::cluster::ClusterClient;
use crate::commit::CommitPoint;
use crate::error::LeaderError;

static NEXT_EVEN_START: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A table's column defaults, planned: column name → expression.
pub type ColumnDefaults = std::collections::HashMap<String, Expr>;

/// A Blueshift table.
#[derive(Debug, Clone)]
pub struct SliceTable {
    def: TableDef,
    schema: SchemaRef,
    catalog: Catalog,
    cluster: ClusterClient,
    /// For DELETE and UPDATE: the version every scan reads, and the row-id column.
    dml_version: Option<TableVersion>,
    /// The columns' DEFAULT expressions, planned (for INSERT).
    defaults: ColumnDefaults,
}

impl SliceTable {
    /// The table's definition as it was planned.
    pub fn def(&self) -> &TableDef {
        &self.def
    }

    /// The table `def`, read and written through `catalog` and `cluster`.
    pub fn new(def: TableDef, catalog: Catalog, cluster: ClusterClient) -> Self {
        SliceTable {
            schema: Arc::new(def.arrow_schema()),
            def,
            catalog,
            cluster,
            dml_version: None,
            defaults: Default::default(),
        }
    }

    /// The table with its columns' DEFAULTs planned, which an INSERT that leaves
    /// a column out gives it.
    pub fn with_defaults(mut self, defaults: ColumnDefaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// The table as DELETE and UPDATE read it: always at `version`, with the
    /// [`ROW_ID_COLUMN`](blueshift_operators::scan::ROW_ID_COLUMN) after its columns.
    pub fn for_dml(
        def: TableDef,
        version: TableVersion,
        catalog: Catalog,
        cluster: ClusterClient,
    ) -> Self {
        let schema = SliceScanExec::scan_schema(&Arc::new(def.arrow_schema()), true);
        SliceTable {
            schema,
            def,
            catalog,
            cluster,
            dml_version: Some(version),
            defaults: Default::default(),
        }
    }
}

#[async_trait]
impl TableProvider for SliceTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The filters, over the full table schema, let the compute nodes skip row
        // groups by their zone maps; the FilterExec above still filters the rows. A
        // filter that does not convert only means no skipping.
        let table_schema = Arc::new(self.def.arrow_schema());
        let zone_map_filter = match datafusion::logical_expr::utils::conjunction(filters.to_vec()) {
            Some(expr) => {
                let df_schema =
                    datafusion::common::DFSchema::try_from(table_schema.as_ref().clone())?;
                state.create_physical_expr(expr, &df_schema).ok()
            }
            None => None,
        };
        let version = self.version()?;
        let layout = self.cluster.layout();
        let partitions = slices_read(&self.def, layout)
            .into_iter()
            .map(|slice| SlicePartition {
                slice,
                segments: version.slices.get(&slice).cloned().unwrap_or_default(),
            })
            .collect();
        let spec = ScanSpec {
            table_id: self.def.id,
            table_name: self.def.qualified_name(),
            table_schema,
            projection: projection.cloned(),
            zone_map_filter,
            row_id: self.dml_version.is_some(),
            column_ids: self.def.columns.iter().map(|c| c.id).collect(),
            missing_values: self
                .def
                .columns
                .iter()
                .map(|c| c.missing_value.clone())
                .collect(),
        };
        let placement = match (self.def.dist_style, self.def.dist_key) {
            (DistStyle::Key, Some(column)) => Placement::Key(column, self.def.dist_hash),
            (DistStyle::All, _) => Placement::All(
                (0..layout.nodes)
                    .map(|node| {
                        let slice = layout.first_slice_of(node);
                        SlicePartition {
                            slice,
                            segments: version.slices.get(&slice).cloned().unwrap_or_default(),
                        }
                    })
                    .collect(),
            ),
            _ => Placement::Spread,
        };
        let mut scan = SliceScanExec::try_new(spec, partitions, None)?
            .with_statistics(self.scan_statistics(&version, &slices_read(&self.def, layout)))
            .with_placement(placement);
        // A compound sort key over slices that are each one sorted run: every
        // partition streams its rows in sort-key order, so ORDER BY and merges on the
        // key need no sort.
        if self.def.sort_style == SortStyle::Compound
            && !self.def.sort_key.is_empty()
            && version.fully_sorted()
        {
            scan = scan.with_sort_order(self.def.sort_key.clone());
        }
        Ok(Arc::new(scan))
    }

    /// The rows of the table's current version (and ANALYZE's column statistics),
    /// for logical rules that order joins.
    fn statistics(&self) -> Option<Statistics> {
        let version = self.version().ok()?;
        Some(self.scan_statistics(&version, &slices_read(&self.def, self.cluster.layout())))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters stay in the plan (and run on the compute nodes inside the
        // fragment); the scan gets those its zone maps can use to skip row groups.
        Ok(filters
            .iter()
            .map(|f| {
                if zone_map_usable(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append || self.dml_version.is_some() {
            return Err(LeaderError::Unsupported(format!("INSERT {insert_op}")).into());
        }
        let sink = SliceSink {
            def: self.def.clone(),
            schema: Arc::clone(&self.schema),
            commits: CommitPoint::new(self.catalog.clone()),
            cluster: self.cluster.clone(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// The slices a scan of `def` reads: all, or for DISTSTYLE ALL the copy on node 0.
fn slices_read(def: &TableDef, layout: blueshift_storage::catalog::ClusterLayout) -> Vec<u32> {
    match def.dist_style {
        DistStyle::All => vec![layout.first_slice_of(0)],
        _ => (0..layout.slice_count()).collect(),
    }
}

impl SliceTable {
    /// The version a scan reads: DML's pinned one, or the table's committed one.
    fn version(&self) -> Result<TableVersion> {
        match &self.dml_version {
            Some(v) => Ok(v.clone()),
            None => Ok(self
                .catalog
                .version(self.def.id)
                .map_err(LeaderError::from)?),
        }
    }

    /// The planner's statistics of a scan of `slices` at `version`: exact row and
    /// byte counts from the version, and ANALYZE's column statistics when recorded.
    fn scan_statistics(&self, version: &TableVersion, slices: &[u32]) -> Statistics {
        let segments = || {
            slices
                .iter()
                .filter_map(|s| version.slices.get(s))
                .flatten()
        };
        let rows: u64 = segments().map(SegmentRef::live_rows).sum();
        let bytes: u64 = segments().map(|s| s.bytes).sum();
        let analyzed = self.catalog.statistics(self.def.id).ok().flatten();
        let mut columns: Vec<ColumnStatistics> = self
            .def
            .columns
            .iter()
            .map(|column| {
                let Some(stats) = analyzed
                    .as_ref()
                    .and_then(|a| a.columns.iter().find(|c| c.name == column.name))
                else {
                    return ColumnStatistics::new_unknown();
                };
                let value = |text: &Option<String>| {
                    text.as_ref()
                        .and_then(|t| {
                            ScalarValue::try_from_string(t.clone(), &column.data_type).ok()
                        })
                        .map_or(Precision::Absent, Precision::Inexact)
                };
                ColumnStatistics {
                    null_count: Precision::Inexact(stats.nulls as usize),
                    min_value: value(&stats.min),
                    max_value: value(&stats.max),
                    distinct_count: Precision::Inexact(stats.distinct as usize),
                    ..ColumnStatistics::new_unknown()
                }
            })
            .collect();
        if self.dml_version.is_some() {
            columns.push(ColumnStatistics::new_unknown());
        }
        Statistics {
            num_rows: Precision::Exact(rows as usize),
            total_byte_size: Precision::Inexact(bytes as usize),
            column_statistics: columns,
        }
    }
}

/// Whether a filter is made only of columns, constants, comparisons and boolean
/// logic: what zone maps can test, and what every compute node can decode.
fn zone_map_usable(filter: &Expr) -> bool {
    !filter
        .exists(|e| {
            Ok(!matches!(
                e,
                Expr::Column(_)
                    | Expr::Literal(..)
                    | Expr::BinaryExpr(_)
                    | Expr::Not(_)
                    | Expr::IsNull(_)
                    | Expr::IsNotNull(_)
                    | Expr::Between(_)
                    | Expr::InList(_)
                    | Expr::Cast(_)
                    | Expr::Negative(_)
            ))
        })
        .unwrap_or(true)
}

/// Writes an insert's rows to the slices of one table and commits them at the end.
#[derive(Debug)]
pub struct SliceSink {
    def: TableDef,
    schema: SchemaRef,
    commits: CommitPoint,
    cluster: ClusterClient,
}

impl SliceSink {
    /// A sink for `def`, committing through `commits`.
    pub fn new(def: TableDef, commits: CommitPoint, cluster: ClusterClient) -> Self {
        SliceSink {
            schema: Arc::new(def.arrow_schema()),
            def,
            commits,
            cluster,
        }
    }

    /// Writes one slice's rows as a staged segment on the node holding it.
    fn write_fn(&self) -> WriteFn {
        let def = self.def.clone();
        // Segment files name columns by id.
        let file_schema = Arc::new(self.def.file_schema());
        let cluster = self.cluster.clone();
        Box::new(move |slice, batches| {
            let write = WriteSegment {
                slice,
                sort_columns: def.sort_key.iter().map(|&c| c as u32).collect(),
                table_id: def.id,
                interleaved: def.sort_style == SortStyle::Interleaved,
            };
            let file_schema = Arc::clone(&file_schema);
            let cluster = cluster.clone();
            async move {
                let batches = batches
                    .into_iter()
                    .map(|b| RecordBatch::try_new(Arc::clone(&file_schema), b.columns().to_vec()))
                    .collect::<Result<Vec<_>, _>>()?;
                let seg = cluster.write_segment(write, file_schema, batches).await?;
                Ok((seg.rows > 0).then(|| SegmentRef::new(seg.name, seg.rows, seg.bytes)))
            }
            .boxed()
        })
    }

    /// Routes, writes and commits every row of `data`; returns the rows inserted.
    pub async fn write_stream(&self, data: SendableRecordBatchStream) -> Result<u64, LeaderError> {
        let (rows, written) = self.stage(data).await?;
        if !written.is_empty() {
            self.commits.append(self.def.id, &written)?;
        }
        Ok(rows)
    }

    /// Routes and writes every row of `data` as staged segments, without committing.
    /// Returns the rows written (counted once for DISTSTYLE ALL) and the segments.
    pub async fn stage(
        &self,
        mut data: SendableRecordBatchStream,
    ) -> Result<(u64, BTreeMap<u32, Vec<SegmentRef>>), LeaderError> {
        let layout = self.cluster.layout();
        // Each statement starts its round robin one slice further, so a stream of
        // single-row inserts into an EVEN table still spreads over every slice.
        let start = NEXT_EVEN_START.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let router = SliceRouter::new(
            layout,
            self.def.dist_style,
            self.def.dist_key,
            self.def.dist_hash,
            start,
        );
        let mut writer = RoutedWriter::new(router, SEGMENT_ROWS, self.write_fn());
        let mut rows = 0u64;
        while let Some(batch) = data.next().await {
            let batch = conform(&batch?, &self.schema, &self.def)?;
            rows += batch.num_rows() as u64;
            writer.push(&batch).await?;
        }
        let written = writer.finish().await?;
        Ok((rows, written))
    }
}

/// Gives `batch` the table's exact schema (field names and nullability), so segment
/// files of a table all share one schema, and checks its values fit their columns:
/// NOT NULL, and a CHAR/VARCHAR's bytes (a value longer only by trailing spaces
/// loses them, as in PostgreSQL; else 22001).
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    def: &TableDef,
) -> Result<RecordBatch, LeaderError> {
    if batch.schema().fields().len() != schema.fields().len() {
        return Err(LeaderError::InvalidDefinition(format!(
            "INSERT has {} columns but the table has {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let mut columns = cast_columns(batch, schema)?;
    for (col, field) in columns.iter().zip(schema.fields()) {
        if !field.is_nullable() && col.null_count() > 0 {
            return Err(LeaderError::NotNullViolation(field.name().clone()));
        }
    }
    for (col, column) in columns.iter_mut().zip(&def.columns) {
        if let Some(max) = column.max_bytes()
            && let Some(fitted) = fit_strings(col, max, &column.declared_type)?
        {
            *col = fitted;
        }
    }
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| LeaderError::DataFusion(e.into()))
}

/// `array`'s strings cut to `max` bytes where only trailing spaces are past it
/// (None when every value fits); an error naming the type when more is.
fn fit_strings(
    array: &datafusion::arrow::array::ArrayRef,
    max: usize,
    declared: &str,
) -> Result<Option<datafusion::arrow::array::ArrayRef>, LeaderError> {
    use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
    let Some(strings) = array.as_string_opt::<i32>() else {
        return Ok(None);
    };
    if strings.iter().flatten().all(|s| s.len() <= max) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(strings.len());
    for value in strings.iter() {
        out.push(match value {
            Some(s) if s.len() > max => {
                if s.trim_end_matches(' ').len() > max {
                    return Err(LeaderError::Failure {
                        kind: crate::error::ErrorKind::StringDataRightTruncation,
                        message: format!(
                            "value too long for type {}({max})",
                            if declared.trim().to_ascii_lowercase().contains("char")
                                && !declared.to_ascii_lowercase().contains("var")
                            {
                                "character"
                            } else {
                                "character varying"
                            }
                        ),
                    });
                }
                Some(&s[..max])
            }
            other => other,
        });
    }
    let fitted: StringArray = out.into_iter().collect();
    Ok(Some(Arc::new(fitted) as ArrayRef).filter(|a| a.len() == array.len()))
}

impl DisplayAs for SliceSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SliceSink: table={}", self.def.qualified_name())
    }
}

#[async_trait]
impl DataSink for SliceSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        Ok(self.write_stream(data).await?)
    }
}
