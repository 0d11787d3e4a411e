//! [`SliceScanExec`]: reads one table's segments, one output partition per slice.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{RecordBatch, RecordBatchOptions, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use blueshift_proto::ScanStats;
use blueshift_storage::catalog::SegmentRef;
use blueshift_storage::segment::{SORT_OPTIONS, ScanOptions, SliceStore};
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use crate::zone_map::ZoneMapFilter;

/// What one output partition reads: a slice and its segments in the pinned version
/// (with their delete vectors).
#[derive(Clone, Debug, PartialEq)]
pub struct SlicePartition {
    pub slice: u32,
    pub segments: Vec<SegmentRef>,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The name of the row-id column a scan adds for DELETE and UPDATE.
pub const ROW_ID_COLUMN: &str = "__blueshift_row_id";

/// Bits of a row id that hold the row's position in its slice.
const ROW_ID_POSITION_BITS: u32 = 40;

/// A row's id: its slice, and its position among the rows of that slice's segments
/// in the scanned version (deleted rows counted).
pub fn row_id(slice: u32, position: u64) -> u64 {
    (u64::from(slice) << ROW_ID_POSITION_BITS) | position
}

/// The slice and position of a [`row_id`].
pub fn split_row_id(id: u64) -> (u32, u64) {
    (
        (id >> ROW_ID_POSITION_BITS) as u32,
        id & ((1 << ROW_ID_POSITION_BITS) - 1),
    )
}

/// Scans a table's segments on the slices of its partitions.
///
/// On the leader it only describes the scan (it is always shipped inside a fragment);
/// on a compute node the codec gives it the node's [`SliceStore`] and it reads.
#[derive(Debug, Clone)]
pub struct SliceScanExec {
    pub table_id: u64,
    pub table_name: String,
    /// The table's full schema.
    pub table_schema: SchemaRef,
    pub projection: Option<Vec<usize>>,
    pub partitions: Vec<SlicePartition>,
    /// The scan's filters over the table's full schema, used to skip row groups by
    /// their zone maps. Rows are not filtered here: a filter above the scan does that.
    pub zone_map_filter: Option<Arc<dyn PhysicalExpr>>,
    /// Whether the scan adds [`ROW_ID_COLUMN`] after the table's columns (projection
    /// indices then count it as column `table_schema.fields().len()`).
    pub row_id: bool,
    store: Option<SliceStore>,
    /// What this scan has read so far (a compute node runs one partition per decoded
    /// plan, so this is one slice's work).
    report: Arc<Mutex<ScanStats>>,
    /// Table column indices every partition's rows are sorted by (a compound sort
    /// key over fully sorted slices); empty when the order is unknown.
    pub sort_order: Vec<usize>,
    /// Statistics over the scan schema (the leader's planner reads them).
    statistics: Option<Arc<Statistics>>,
    projected_schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

/// What a [`SliceScanExec`] reads of its table, apart from the slices.
#[derive(Debug, Clone)]
pub struct ScanSpec {
    pub table_id: u64,
    pub table_name: String,
    /// The table's full schema.
    pub table_schema: SchemaRef,
    pub projection: Option<Vec<usize>>,
    pub zone_map_filter: Option<Arc<dyn PhysicalExpr>>,
    pub row_id: bool,
}

impl SliceScanExec {
    /// A scan of `partitions` (at least one; an empty one reads nothing).
    pub fn try_new(
        spec: ScanSpec,
        mut partitions: Vec<SlicePartition>,
        store: Option<SliceStore>,
    ) -> Result<Self> {
        let ScanSpec {
            table_id,
            table_name,
            table_schema,
            projection,
            zone_map_filter,
            row_id,
        } = spec;
        let full = Self::scan_schema(&table_schema, row_id);
        let projected_schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        if partitions.is_empty() {
            partitions.push(SlicePartition {
                slice: 0,
                segments: vec![],
            });
        }
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected_schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(SliceScanExec {
            table_id,
            table_name,
            table_schema,
            projection,
            partitions,
            zone_map_filter,
            row_id,
            store,
            report: Arc::new(Mutex::new(ScanStats::default())),
            sort_order: vec![],
            statistics: None,
            projected_schema,
            properties: Arc::new(properties),
        })
    }

    /// The schema a scan reads from: the table's columns, then the row id if asked.
    pub fn scan_schema(table_schema: &SchemaRef, row_id: bool) -> SchemaRef {
        if !row_id {
            return Arc::clone(table_schema);
        }
        let mut fields: Vec<_> = table_schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(ROW_ID_COLUMN, DataType::UInt64, false)));
        Arc::new(Schema::new(fields))
    }

    /// Declares that each partition returns its rows sorted by the table columns
    /// `columns` (ascending, NULLs last: how segments are sorted). Only the leading
    /// columns that the projection keeps count.
    pub fn with_sort_order(mut self, columns: Vec<usize>) -> Self {
        let table_columns = self.table_schema.fields().len();
        let position = |c: usize| match &self.projection {
            Some(p) => p.iter().position(|&i| i == c),
            None => (c < table_columns).then_some(c),
        };
        let exprs: Vec<PhysicalSortExpr> = columns
            .iter()
            .map_while(|&c| {
                let at = position(c)?;
                let field = self.projected_schema.fields().get(at)?;
                Some(PhysicalSortExpr::new(
                    Arc::new(Column::new(field.name(), at)),
                    SORT_OPTIONS,
                ))
            })
            .collect();
        let equivalences = match LexOrdering::new(exprs) {
            Some(ordering) => EquivalenceProperties::new_with_orderings(
                Arc::clone(&self.projected_schema),
                [ordering],
            ),
            None => EquivalenceProperties::new(Arc::clone(&self.projected_schema)),
        };
        self.properties = Arc::new(PlanProperties::new(
            equivalences,
            self.properties.partitioning.clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        self.sort_order = columns;
        self
    }

    /// Gives the scan statistics over its full scan schema (table columns, then the
    /// row id if the scan has it).
    pub fn with_statistics(mut self, statistics: Statistics) -> Self {
        self.statistics = Some(Arc::new(statistics));
        self
    }

    /// The first slice scan in `plan` (a fragment holds one).
    pub fn find(plan: &Arc<dyn ExecutionPlan>) -> Option<&SliceScanExec> {
        if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
            return Some(scan);
        }
        plan.children().into_iter().find_map(Self::find)
    }

    /// What the scan has read so far.
    pub fn report(&self) -> ScanStats {
        self.report
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The slice that output partition `partition` reads.
    pub fn slice_of(&self, partition: usize) -> Option<u32> {
        self.partitions.get(partition).map(|p| p.slice)
    }
}

impl DisplayAs for SliceScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let slices: Vec<String> = self
            .partitions
            .iter()
            .map(|p| p.slice.to_string())
            .collect();
        write!(
            f,
            "SliceScanExec: table={}, slices=[{}]",
            self.table_name,
            slices.join(",")
        )?;
        if let Some(filter) = &self.zone_map_filter {
            write!(f, ", zone_map_filter={filter}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for SliceScanExec {
    fn name(&self) -> &str {
        "SliceScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        match (&self.statistics, args.partition()) {
            (Some(stats), None) => Ok(Arc::new(
                stats.as_ref().clone().project(self.projection.as_ref()),
            )),
            _ => Ok(Arc::new(Statistics::new_unknown(&self.projected_schema))),
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let store = self.store.clone().ok_or_else(|| {
            DataFusionError::Internal("a slice scan runs only on a compute node".into())
        })?;
        let part = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("slice scan has no partition {partition}"))
        })?;
        let table_columns = self.table_schema.fields().len();
        // The columns read from the files, and where the row id goes in the output.
        let (file_projection, row_id_at) = match &self.projection {
            Some(p) => (
                Some(
                    p.iter()
                        .copied()
                        .filter(|&i| i < table_columns)
                        .collect::<Vec<_>>(),
                ),
                p.iter().position(|&i| i == table_columns),
            ),
            None => (None, self.row_id.then_some(table_columns)),
        };
        let row_id_at = if self.row_id { row_id_at } else { None };
        let table = self.table_name.clone();
        let zone_maps = self
            .zone_map_filter
            .as_ref()
            .and_then(|f| ZoneMapFilter::try_new(f, &self.table_schema));
        let slice = part.slice;
        let output_schema = Arc::clone(&self.projected_schema);
        let report = Arc::clone(&self.report);
        if let Ok(mut r) = report.lock() {
            *r = ScanStats {
                table_id: self.table_id,
                table_name: self.table_name.clone(),
                slice,
                start_micros: now_micros(),
                end_micros: now_micros(),
                ..ScanStats::default()
            };
        }
        // Where each segment's rows start among the slice's rows (for row ids).
        let bases: Vec<u64> = part
            .segments
            .iter()
            .scan(0u64, |start, seg| {
                let this = *start;
                *start += seg.rows;
                Some(this)
            })
            .collect();
        // One segment at a time, so a scan holds one segment's rows in memory.
        let stream = futures::stream::iter(part.segments.into_iter().zip(bases))
            .then(move |(segment, base)| {
                let store = store.clone();
                let projection = file_projection.clone();
                let table = table.clone();
                let zone_maps = zone_maps.clone();
                let output_schema = Arc::clone(&output_schema);
                let report = Arc::clone(&report);
                async move {
                    tokio::task::spawn_blocking(move || {
                        let options = ScanOptions {
                            projection: projection.as_deref(),
                            deleted: segment.deleted.as_ref(),
                            row_positions: row_id_at.is_some(),
                        };
                        let scan = store
                            .scan_segment(slice, &segment.name, options, |schema, meta| {
                                zone_maps.as_ref().and_then(|z| z.select(schema, meta))
                            })
                            .map_err(|e| {
                                DataFusionError::External(format!("table {table}: {e}").into())
                            })?;
                        if let Ok(mut r) = report.lock() {
                            r.rows += scan.rows_read;
                            r.rows_pre_filter += scan.rows_pre_filter;
                            r.bytes += scan.bytes_read;
                            r.blocks_read += scan.blocks_read;
                            r.blocks_total += scan.blocks_total;
                            r.is_rrscan |= scan.row_groups_read < scan.row_groups_total;
                            r.end_micros = now_micros();
                        }
                        match (row_id_at, scan.positions) {
                            (Some(at), Some(positions)) => scan
                                .batches
                                .into_iter()
                                .zip(positions)
                                .map(|(batch, positions)| {
                                    let ids: UInt64Array = positions
                                        .into_iter()
                                        .map(|p| row_id(slice, base + u64::from(p)))
                                        .collect();
                                    let mut columns = batch.columns().to_vec();
                                    columns.insert(at, Arc::new(ids));
                                    let options = RecordBatchOptions::new()
                                        .with_row_count(Some(batch.num_rows()));
                                    Ok(RecordBatch::try_new_with_options(
                                        Arc::clone(&output_schema),
                                        columns,
                                        &options,
                                    )?)
                                })
                                .collect(),
                            _ => Ok(scan.batches),
                        }
                    })
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                }
            })
            .map(|r: Result<Vec<_>>| match r {
                Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            })
            .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.projected_schema),
            stream,
        )))
    }
}
