//! [`LoadWriteExec`]: a COPY's rows routed and written on the compute nodes.
//!
//! Each partition takes the rows its [`super::LoadExec`] partition parses, routes
//! them to their slices by the table's distribution and writes them as staged
//! segments ([`RoutedWriter`]): straight into the local store for this node's
//! slices, by a Flight DoPut to the node holding any other slice. Only the segments'
//! names go to the leader, which commits them all in one table version, or none.
//!
//! Output: one row per input batch routed (`segment` NULL, `rows` = rows routed),
//! which carries the load's progress to the leader, then one row per segment written.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use blueshift_proto::WriteSegment;
use blueshift_storage::catalog::{ClusterLayout, DistStyle, SegmentRef};
use blueshift_storage::distribution::{DistHash, SliceRouter};
use blueshift_storage::segment::{SliceStore, SortKey};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};

use crate::route::{RoutedWriter, WriteFn, conform, put_segment, segment_rows};
use crate::secret::ClusterSecret;

/// The table a COPY writes, and where its slices are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WriteTarget {
    pub table_id: u64,
    pub dist_style: DistStyle,
    /// The DISTKEY column's position, for KEY.
    pub dist_key: Option<usize>,
    /// The hash that places the table's KEY rows (its recorded `dist_hash`).
    pub dist_hash: DistHash,
    /// Sort key column positions.
    pub sort_columns: Vec<u32>,
    pub interleaved: bool,
    pub layout: ClusterLayout,
    /// Each compute node's Flight address (`host:port`), by node number.
    pub nodes: Vec<String>,
    /// The table's file schema (columns named by id), as datafusion-proto bytes.
    pub file_schema: Vec<u8>,
}

/// Routes and writes a load's rows on the compute nodes (see the module docs).
#[derive(Debug)]
pub struct LoadWriteExec {
    input: Arc<dyn ExecutionPlan>,
    target: Arc<WriteTarget>,
    file_schema: SchemaRef,
    /// Where it runs: the node's number and store. `None` on the leader, which
    /// only plans it.
    local: Option<(u32, SliceStore, ClusterSecret)>,
    properties: Arc<PlanProperties>,
}

/// The output: segments written, and rows routed.
pub fn written_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slice", DataType::UInt32, true),
        Field::new("segment", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ]))
}

impl LoadWriteExec {
    /// Writes `input`'s rows (the table's columns, in order) to `target`.
    pub fn try_new(input: Arc<dyn ExecutionPlan>, target: WriteTarget) -> Result<Self> {
        let file_schema = crate::schema_bytes::schema_from_bytes(&target.file_schema)?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(written_schema()),
            Partitioning::UnknownPartitioning(input.properties().partitioning.partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(LoadWriteExec {
            input,
            target: Arc::new(target),
            file_schema: Arc::new(file_schema),
            local: None,
            properties,
        })
    }

    /// The same node, run by compute node `node` over `store`; its writes to other
    /// nodes carry `secret`.
    pub fn on_node(mut self, node: u32, store: SliceStore, secret: ClusterSecret) -> Self {
        self.local = Some((node, store, secret));
        self
    }

    pub fn target(&self) -> &WriteTarget {
        &self.target
    }

    /// Writes one slice's rows: into `store` when `node` holds the slice, else by a
    /// DoPut to the node that does.
    fn write_fn(&self, node: u32, store: SliceStore, secret: ClusterSecret) -> Result<WriteFn> {
        let target = Arc::clone(&self.target);
        let schema = Arc::clone(&self.file_schema);
        let peers = target
            .nodes
            .iter()
            .map(|addr| secret.connect(addr).map_err(DataFusionError::Plan))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(move |slice, batches| {
            let target = Arc::clone(&target);
            let schema = Arc::clone(&schema);
            let holder = target.layout.node_of(slice);
            if holder == node {
                let store = store.clone();
                let sort = SortKey {
                    columns: target.sort_columns.iter().map(|&c| c as usize).collect(),
                    interleaved: target.interleaved,
                };
                async move {
                    tokio::task::spawn_blocking(move || {
                        store.write_segment(slice, schema, &batches, &sort)
                    })
                    .await
                    .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?
                    .map_err(|e| DataFusionError::External(Box::new(e)))
                }
                .boxed()
            } else {
                let client = peers.get(holder as usize).cloned();
                let addr = target
                    .nodes
                    .get(holder as usize)
                    .cloned()
                    .unwrap_or_default();
                let write = WriteSegment {
                    slice,
                    sort_columns: target.sort_columns.clone(),
                    table_id: target.table_id,
                    interleaved: target.interleaved,
                };
                async move {
                    let client = client.ok_or_else(|| {
                        DataFusionError::Plan(format!("no compute node {holder} for slice {slice}"))
                    })?;
                    let written =
                        put_segment(client, write, schema, batches)
                            .await
                            .map_err(|s| {
                                DataFusionError::Execution(format!(
                                    "writing slice {slice} on compute node {holder} ({addr}): {}",
                                    s.message()
                                ))
                            })?;
                    Ok((written.rows > 0)
                        .then(|| SegmentRef::new(written.name, written.rows, written.bytes)))
                }
                .boxed()
            }
        }))
    }
}

/// One progress row: `rows` routed.
fn routed_batch(rows: usize) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(vec![None::<u32>])),
        Arc::new(StringArray::from(vec![None::<&str>])),
        Arc::new(UInt64Array::from(vec![rows as u64])),
        Arc::new(UInt64Array::from(vec![0u64])),
    ];
    Ok(RecordBatch::try_new(written_schema(), columns)?)
}

/// One row per segment written.
fn segments_batch(
    written: &std::collections::BTreeMap<u32, Vec<SegmentRef>>,
) -> Result<RecordBatch> {
    let segments = written
        .iter()
        .flat_map(|(slice, segs)| segs.iter().map(move |s| (*slice, s)));
    let (mut slices, mut names, mut rows, mut bytes) = (vec![], vec![], vec![], vec![]);
    for (slice, segment) in segments {
        slices.push(Some(slice));
        names.push(Some(segment.name.clone()));
        rows.push(segment.rows);
        bytes.push(segment.bytes);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(slices)),
        Arc::new(StringArray::from(names)),
        Arc::new(UInt64Array::from(rows)),
        Arc::new(UInt64Array::from(bytes)),
    ];
    Ok(RecordBatch::try_new(written_schema(), columns)?)
}

impl DisplayAs for LoadWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "LoadWriteExec: table={}, diststyle={}",
            self.target.table_id,
            self.target.dist_style.name()
        )
    }
}

impl ExecutionPlan for LoadWriteExec {
    fn name(&self) -> &str {
        "LoadWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("LoadWriteExec needs an input".into()))?;
        Ok(Arc::new(LoadWriteExec {
            input,
            target: Arc::clone(&self.target),
            file_schema: Arc::clone(&self.file_schema),
            local: self.local.clone(),
            properties: Arc::clone(&self.properties),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some((node, store, secret)) = self.local.clone() else {
            return Err(DataFusionError::Internal(
                "a COPY's rows are written on the compute nodes".into(),
            ));
        };
        let mut input = self.input.execute(partition, context)?;
        let layout = self.target.layout;
        let router = SliceRouter::new(
            layout,
            self.target.dist_style,
            self.target.dist_key,
            self.target.dist_hash,
            partition as u32,
        );
        let mut writer = RoutedWriter::new(
            router,
            segment_rows(layout.slice_count()),
            self.write_fn(node, store, secret)?,
        );
        let schema = Arc::clone(&self.file_schema);
        let mut builder = RecordBatchReceiverStream::builder(written_schema(), 2);
        let tx = builder.tx();
        builder.spawn(async move {
            while let Some(batch) = input.next().await {
                let batch = conform(&batch?, &schema)?;
                writer.push(&batch).await?;
                if tx.send(routed_batch(batch.num_rows())).await.is_err() {
                    return Ok(());
                }
            }
            let written = writer.finish().await?;
            let _ = tx.send(segments_batch(&written)).await;
            Ok(())
        });
        Ok(builder.build())
    }
}
