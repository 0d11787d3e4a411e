//! [`LeaderRowsExec`]: rows the leader makes and sends to the slices of a fragment:
//! all of them to every slice (Redshift's DS_BCAST_INNER, for a join's small inner
//! input), or each row to the slice its key hashes to (DS_DIST_INNER and
//! DS_DIST_OUTER: the other input is already distributed on the join key).
//!
//! On the leader it holds the plan that makes the rows; before the fragment's slices
//! start, the leader runs that plan once and puts the rows (Arrow IPC) into each
//! slice's ticket. On a compute node it holds the rows its ticket carried, and its
//! partition returns them.

use std::fmt;
use std::sync::Arc;

use crate::delivery::{Delivery, decode, deliver, properties, whole_statistics};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// What a [`LeaderRowsExec`] made on the leader: one IPC stream per partition (one
/// for all, when broadcast).
type Made = std::result::Result<Vec<Bytes>, String>;

/// Rows the leader sends to the partitions of a fragment.
pub struct LeaderRowsExec {
    /// Names the rows in a fragment ticket.
    pub id: u32,
    pub delivery: Delivery,
    /// On the leader: the plan that makes the rows (it runs on the leader).
    input: Option<Arc<dyn ExecutionPlan>>,
    /// On the leader: the rows, once made.
    collected: Arc<tokio::sync::OnceCell<Made>>,
    /// On a compute node: the rows the ticket carried.
    batches: Vec<RecordBatch>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for LeaderRowsExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaderRowsExec")
            .field("id", &self.id)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl LeaderRowsExec {
    /// On the leader: `input`'s rows, for `partitions` slices, delivered as `delivery`.
    pub fn new(input: Arc<dyn ExecutionPlan>, partitions: usize, delivery: Delivery) -> Self {
        LeaderRowsExec {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            delivery,
            properties: properties(input.schema(), partitions),
            input: Some(input),
            collected: Arc::default(),
            batches: vec![],
        }
    }

    /// On a compute node: `batches`, in a fragment of `partitions` partitions.
    pub fn with_rows(
        id: u32,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        partitions: usize,
    ) -> Self {
        LeaderRowsExec {
            id,
            delivery: Delivery::Broadcast,
            properties: properties(schema, partitions),
            input: None,
            collected: Arc::default(),
            batches,
        }
    }

    /// The rows and their bytes (on a compute node).
    pub fn size(&self) -> (u64, u64) {
        self.batches.iter().fold((0, 0), |(rows, bytes), b| {
            (
                rows + b.num_rows() as u64,
                bytes + b.get_array_memory_size() as u64,
            )
        })
    }

    /// The plan that makes the rows (on the leader).
    pub fn input(&self) -> Option<&Arc<dyn ExecutionPlan>> {
        self.input.as_ref()
    }

    /// The same rows with their input replaced (the leader ships parts of it).
    pub fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        LeaderRowsExec {
            id: self.id,
            delivery: self.delivery.clone(),
            properties: Arc::clone(&self.properties),
            input: Some(input),
            collected: Arc::default(),
            batches: vec![],
        }
    }

    /// Runs the input once (on the leader) and returns partition `partition`'s rows
    /// as an Arrow IPC stream; later calls reuse what the first made.
    pub async fn encoded_rows(&self, partition: usize, context: Arc<TaskContext>) -> Result<Bytes> {
        let input = self
            .input
            .clone()
            .ok_or_else(|| DataFusionError::Internal("leader rows without their input".into()))?;
        let delivery = self.delivery.clone();
        let made = self
            .collected
            .get_or_init(|| async move {
                let schema = input.schema();
                let batches = datafusion::physical_plan::collect(input, context)
                    .await
                    .map_err(|e| e.to_string())?;
                deliver(&schema, &batches, &delivery).map_err(|e| e.to_string())
            })
            .await;
        let made = made
            .as_ref()
            .map_err(|e| DataFusionError::Execution(e.clone()))?;
        let index = if made.len() == 1 { 0 } else { partition };
        made.get(index).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("leader rows have no partition {partition}"))
        })
    }

    /// Every [`LeaderRowsExec`] in `plan`.
    pub fn find_all(plan: &Arc<dyn ExecutionPlan>) -> Vec<&LeaderRowsExec> {
        if let Some(b) = plan.downcast_ref::<LeaderRowsExec>() {
            return vec![b];
        }
        plan.children()
            .into_iter()
            .flat_map(Self::find_all)
            .collect()
    }
}

impl DisplayAs for LeaderRowsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "LeaderRowsExec: id={}", self.id)
    }
}

impl ExecutionPlan for LeaderRowsExec {
    fn name(&self) -> &str {
        "LeaderRowsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: the input runs on the leader, apart from the fragment.
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
        let _ = args;
        whole_statistics(self.input.as_ref(), &self.schema())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if self.input.is_some() {
            // Left on the leader (its join could not ship): each partition gets its
            // rows there.
            let this = LeaderRowsExec {
                id: self.id,
                delivery: self.delivery.clone(),
                input: self.input.clone(),
                collected: Arc::clone(&self.collected),
                batches: vec![],
                properties: Arc::clone(&self.properties),
            };
            let stream = futures::stream::once(async move {
                let bytes = this.encoded_rows(partition, context).await?;
                let (_, batches) = decode(bytes)?;
                Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
            });
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                self.schema(),
                futures::TryStreamExt::try_flatten(stream),
            )));
        }
        let batches = self.batches.clone();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures::stream::iter(batches.into_iter().map(Ok)),
        )))
    }
}

/// How rows moved to a fragment's slices (by the leader, [`LeaderRowsExec`], or
/// between compute nodes, [`crate::exchange::ExchangeExec`]) are delivered, if
/// `plan` is such rows.
pub fn moved_rows(plan: &Arc<dyn ExecutionPlan>) -> Option<&Delivery> {
    plan.downcast_ref::<LeaderRowsExec>()
        .map(|r| &r.delivery)
        .or_else(|| {
            plan.downcast_ref::<crate::exchange::ExchangeExec>()
                .map(|e| &e.delivery)
        })
}
