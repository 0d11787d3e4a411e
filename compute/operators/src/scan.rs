//! [`SliceScanExec`]: reads one table's segments, one output partition per slice.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use blueshift_proto::ScanStats;
use blueshift_storage::catalog::SegmentRef;
use blueshift_storage::distribution::DistHash;
use blueshift_storage::segment::{SORT_OPTIONS, ScanOptions, SliceStore, file_column_name};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ScalarValue, Statistics};
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

use crate::error::OperatorError;
use crate::zone_map::ZoneMapFilter;

/// What one output partition reads: a slice and its segments in the pinned version
/// (with their delete vectors).
#[derive(Clone, Debug, PartialEq)]
pub struct SlicePartition {
    pub slice: u32,
    pub segments: Vec<SegmentRef>,
}

/// `filter` with its columns named as in segment files (`file_schema`, by index).
fn rename_columns(
    filter: &Arc<dyn PhysicalExpr>,
    file_schema: &SchemaRef,
) -> Option<Arc<dyn PhysicalExpr>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    Arc::clone(filter)
        .transform(|e| {
            if let Some(column) = e.downcast_ref::<Column>() {
                let field = file_schema.fields().get(column.index()).ok_or_else(|| {
                    DataFusionError::Internal(format!("no column {}", column.index()))
                })?;
                return Ok(Transformed::yes(
                    Arc::new(Column::new(field.name(), column.index())) as Arc<dyn PhysicalExpr>,
                ));
            }
            Ok(Transformed::no(e))
        })
        .ok()
        .map(|t| t.data)
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

/// How a scanned table's rows are placed on slices: what the leader's planner needs
/// to keep a join on the compute nodes. Leader-side only: fragments do not carry it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Placement {
    /// Unknown, or round robin (EVEN, AUTO): no column tells a row's slice.
    #[default]
    Spread,
    /// DISTSTYLE KEY: a row is on slice `hash(value) mod slices` of this table column,
    /// with the table's DISTKEY hash.
    Key(usize, DistHash),
    /// DISTSTYLE ALL: each node holds a whole copy on its first slice; these are the
    /// copies, in node order (the scan reads the first).
    All(Vec<SlicePartition>),
}

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
    /// See [`ScanSpec::column_ids`] and [`ScanSpec::missing_values`].
    pub column_ids: Vec<u32>,
    pub missing_values: Vec<Option<String>>,
    store: Option<SliceStore>,
    /// What this scan has read so far (a compute node runs one partition per decoded
    /// plan, so this is one slice's work).
    report: Arc<Mutex<ScanStats>>,
    /// Table column indices every partition's rows are sorted by (a compound sort
    /// key over fully sorted slices); empty when the order is unknown.
    pub sort_order: Vec<usize>,
    /// Statistics over the scan schema (the leader's planner reads them).
    statistics: Option<Arc<Statistics>>,
    /// How the table's rows are placed (leader-side only).
    pub placement: Placement,
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
    /// Each table column's id (its name in segment files); by position when empty.
    pub column_ids: Vec<u32>,
    /// Each table column's value in segments written before it was added (NULL when
    /// `None`), as text; parallel to the table's columns, or empty.
    pub missing_values: Vec<Option<String>>,
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
            column_ids,
            missing_values,
        } = spec;
        let column_ids = if column_ids.len() == table_schema.fields().len() {
            column_ids
        } else {
            (0..table_schema.fields().len() as u32).collect()
        };
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
            column_ids,
            missing_values,
            store,
            report: Arc::new(Mutex::new(ScanStats::default())),
            sort_order: vec![],
            statistics: None,
            placement: Placement::Spread,
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

    /// Records how the table's rows are placed on slices.
    pub fn with_placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// The same scan reading `partitions` instead (for a DISTSTYLE ALL table: the
    /// copies local to other slices). Order and statistics are kept.
    pub fn with_partitions(&self, partitions: Vec<SlicePartition>) -> Result<Self> {
        let spec = ScanSpec {
            table_id: self.table_id,
            table_name: self.table_name.clone(),
            table_schema: Arc::clone(&self.table_schema),
            projection: self.projection.clone(),
            zone_map_filter: self.zone_map_filter.clone(),
            row_id: self.row_id,
            column_ids: self.column_ids.clone(),
            missing_values: self.missing_values.clone(),
        };
        let mut scan = SliceScanExec::try_new(spec, partitions, self.store.clone())?
            .with_sort_order(self.sort_order.clone())
            .with_placement(self.placement.clone());
        scan.statistics = self.statistics.clone();
        Ok(scan)
    }

    /// Each table column's value in segments written before the column existed.
    fn fill_values(&self) -> Result<Vec<ScalarValue>> {
        self.table_schema
            .fields()
            .iter()
            .enumerate()
            .map(
                |(i, field)| match self.missing_values.get(i).cloned().flatten() {
                    Some(text) => ScalarValue::try_from_string(text, field.data_type()),
                    None => ScalarValue::try_from(field.data_type()),
                },
            )
            .collect()
    }

    /// The first slice scan in `plan` (a fragment holds one).
    pub fn find(plan: &Arc<dyn ExecutionPlan>) -> Option<&SliceScanExec> {
        if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
            return Some(scan);
        }
        plan.children().into_iter().find_map(Self::find)
    }

    /// Every slice scan in `plan` (a fragment with a join holds several).
    pub fn find_all(plan: &Arc<dyn ExecutionPlan>) -> Vec<&SliceScanExec> {
        if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
            return vec![scan];
        }
        plan.children()
            .into_iter()
            .flat_map(Self::find_all)
            .collect()
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
        // Each output column: a table column (read from the files by its id's name,
        // or filled in for files from before it was added), or the row id.
        let outputs: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..table_columns + usize::from(self.row_id)).collect(),
        };
        let file_names: Vec<String> = self
            .column_ids
            .iter()
            .map(|&id| file_column_name(id))
            .collect();
        let file_columns: Vec<String> = outputs
            .iter()
            .filter_map(|&c| file_names.get(c).cloned())
            .collect();
        let row_id_at = if self.row_id {
            outputs.iter().position(|&c| c == table_columns)
        } else {
            None
        };
        let fill = Arc::new(self.fill_values()?);
        let file_schema = Arc::new(Schema::new(
            self.table_schema
                .fields()
                .iter()
                .zip(&file_names)
                .map(|(f, name)| f.as_ref().clone().with_name(name))
                .collect::<Vec<_>>(),
        ));
        let table = self.table_name.clone();
        let zone_maps = self
            .zone_map_filter
            .as_ref()
            .and_then(|f| rename_columns(f, &file_schema))
            .and_then(|f| ZoneMapFilter::try_new(&f, &file_schema));
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
                let file_columns = file_columns.clone();
                let file_names = file_names.clone();
                let outputs = outputs.clone();
                let fill = Arc::clone(&fill);
                let table = table.clone();
                let zone_maps = zone_maps.clone();
                let output_schema = Arc::clone(&output_schema);
                let report = Arc::clone(&report);
                async move {
                    tokio::task::spawn_blocking(move || {
                        let options = ScanOptions {
                            columns: Some(&file_columns),
                            deleted: segment.deleted.as_ref(),
                            row_positions: row_id_at.is_some(),
                            page_index: zone_maps.is_some(),
                        };
                        let scan = store
                            .scan_segment(slice, &segment.name, options, |schema, meta| {
                                zone_maps.as_ref().and_then(|z| z.select(schema, meta))
                            })
                            .map_err(|error| {
                                DataFusionError::External(Box::new(OperatorError::SegmentRead {
                                    table: table.clone(),
                                    error,
                                }))
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
                        let positions = scan.positions.unwrap_or_default();
                        scan.batches
                            .into_iter()
                            .enumerate()
                            .map(|(i, batch)| {
                                let rows = batch.num_rows();
                                let columns = outputs
                                    .iter()
                                    .map(|&c| -> Result<ArrayRef> {
                                        if Some(c) == row_id_at.map(|at| outputs[at]) {
                                            let ids: UInt64Array = positions
                                                .get(i)
                                                .map(Vec::as_slice)
                                                .unwrap_or_default()
                                                .iter()
                                                .map(|&p| row_id(slice, base + u64::from(p)))
                                                .collect();
                                            return Ok(Arc::new(ids));
                                        }
                                        let name = file_names.get(c).ok_or_else(|| {
                                            DataFusionError::Internal(format!(
                                                "scan of {table} has no column {c}"
                                            ))
                                        })?;
                                        match batch.column_by_name(name) {
                                            Some(array) => Ok(Arc::clone(array)),
                                            None => fill
                                                .get(c)
                                                .ok_or_else(|| {
                                                    DataFusionError::Internal(format!(
                                                        "scan of {table} has no column {c}"
                                                    ))
                                                })?
                                                .to_array_of_size(rows),
                                        }
                                    })
                                    .collect::<Result<Vec<_>>>()?;
                                let options = RecordBatchOptions::new().with_row_count(Some(rows));
                                Ok(RecordBatch::try_new_with_options(
                                    Arc::clone(&output_schema),
                                    columns,
                                    &options,
                                )?)
                            })
                            .collect()
                    })
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?
                }
            })
            .map(|r: Result<Vec<_>>| match r {
                Ok(batches) => futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            })
            .flatten()
            // A segment's batches are all in memory: without a pause, a step that
            // consumes them without output (a filter that keeps nothing, an
            // aggregate) would run through the whole segment in one poll, and a
            // cancelled fragment would stop only then.
            .then(|batch| async {
                tokio::task::yield_now().await;
                batch
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.projected_schema),
            stream,
        )))
    }
}
