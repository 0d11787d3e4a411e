//! [`SliceScanExec`]: reads one table's segments, one output partition per slice.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use blueshift_storage::segment::SliceStore;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use crate::zone_map::ZoneMapFilter;

/// What one output partition reads: a slice and its segments in the pinned version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePartition {
    pub slice: u32,
    pub segments: Vec<String>,
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
    store: Option<SliceStore>,
    projected_schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl SliceScanExec {
    /// A scan of `partitions` (at least one; an empty one reads nothing).
    pub fn try_new(
        table_id: u64,
        table_name: String,
        table_schema: SchemaRef,
        projection: Option<Vec<usize>>,
        mut partitions: Vec<SlicePartition>,
        zone_map_filter: Option<Arc<dyn PhysicalExpr>>,
        store: Option<SliceStore>,
    ) -> Result<Self> {
        let projected_schema = match &projection {
            Some(p) => Arc::new(table_schema.project(p)?),
            None => Arc::clone(&table_schema),
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
            store,
            projected_schema,
            properties: Arc::new(properties),
        })
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
        let projection = self.projection.clone();
        let table = self.table_name.clone();
        let zone_maps = self
            .zone_map_filter
            .as_ref()
            .and_then(|f| ZoneMapFilter::try_new(f, &self.table_schema));
        let slice = part.slice;
        // One segment at a time, so a scan holds one segment's rows in memory.
        let stream = futures::stream::iter(part.segments)
            .then(move |segment| {
                let store = store.clone();
                let projection = projection.clone();
                let table = table.clone();
                let zone_maps = zone_maps.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        store
                            .scan_segment(slice, &segment, projection.as_deref(), |schema, meta| {
                                zone_maps.as_ref().and_then(|z| z.select(schema, meta))
                            })
                            .map(|scan| scan.batches)
                            .map_err(|e| {
                                DataFusionError::External(format!("table {table}: {e}").into())
                            })
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
