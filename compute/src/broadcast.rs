//! [`BroadcastExec`]: rows the leader sends whole to every slice of a fragment, as
//! Redshift's DS_BCAST_INNER does with the small inner input of a join.
//!
//! On the leader it holds the plan that makes the rows; before the fragment's slices
//! start, the leader runs that plan once and puts the rows (Arrow IPC) into every
//! slice's ticket. On a compute node it holds those rows, and each partition
//! returns all of them.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};

static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Rows sent whole to every partition of a fragment.
pub struct BroadcastExec {
    /// Names the rows in a fragment ticket.
    pub id: u32,
    /// On the leader: the plan that makes the rows (it runs on the leader).
    input: Option<Arc<dyn ExecutionPlan>>,
    /// On the leader: the rows, IPC-encoded, once made (every slice's ticket).
    collected: Arc<tokio::sync::OnceCell<std::result::Result<Bytes, String>>>,
    /// On a compute node: the rows the ticket carried.
    batches: Vec<RecordBatch>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for BroadcastExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastExec")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions.max(1)),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

impl BroadcastExec {
    /// On the leader: `input`'s rows, for each of `partitions` slices.
    pub fn new(input: Arc<dyn ExecutionPlan>, partitions: usize) -> Self {
        BroadcastExec {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            properties: properties(input.schema(), partitions),
            input: Some(input),
            collected: Arc::default(),
            batches: vec![],
        }
    }

    /// On a compute node: `batches`, for each of `partitions` partitions.
    pub fn with_rows(
        id: u32,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        partitions: usize,
    ) -> Self {
        BroadcastExec {
            id,
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

    /// The same broadcast with its input replaced (the leader ships parts of it).
    pub fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        BroadcastExec {
            id: self.id,
            properties: Arc::clone(&self.properties),
            input: Some(input),
            collected: Arc::default(),
            batches: vec![],
        }
    }

    /// Runs the input once (on the leader) and returns its rows as an Arrow IPC
    /// stream; later calls return the same bytes.
    pub async fn encoded_rows(&self, context: Arc<TaskContext>) -> Result<Bytes> {
        let input = self
            .input
            .clone()
            .ok_or_else(|| DataFusionError::Internal("a broadcast without its input".into()))?;
        let result = self
            .collected
            .get_or_init(|| async move {
                let schema = input.schema();
                let batches = datafusion::physical_plan::collect(input, context)
                    .await
                    .map_err(|e| e.to_string())?;
                encode(&schema, &batches).map_err(|e| e.to_string())
            })
            .await;
        result.clone().map_err(DataFusionError::Execution)
    }

    /// Every broadcast in `plan`.
    pub fn find_all(plan: &Arc<dyn ExecutionPlan>) -> Vec<&BroadcastExec> {
        if let Some(b) = plan.downcast_ref::<BroadcastExec>() {
            return vec![b];
        }
        plan.children()
            .into_iter()
            .flat_map(Self::find_all)
            .collect()
    }
}

/// `batches` as an Arrow IPC stream.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let mut out = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(Bytes::from(out))
}

/// The schema and batches of an Arrow IPC stream.
pub fn decode(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

impl DisplayAs for BroadcastExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "BroadcastExec: id={}", self.id)
    }
}

impl ExecutionPlan for BroadcastExec {
    fn name(&self) -> &str {
        "BroadcastExec"
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
        // Every partition holds what the input makes.
        match &self.input {
            Some(input) => {
                let mut whole = StatisticsArgs::new();
                whole.set_partition(None);
                let _ = args;
                StatisticsContext::new().compute(input.as_ref(), &whole)
            }
            None => Ok(Arc::new(Statistics::new_unknown(&self.schema()))),
        }
    }

    fn execute(
        &self,
        _partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if self.input.is_some() {
            // Left on the leader (its join could not ship): every partition gets the
            // input's rows there.
            let this = BroadcastExec {
                id: self.id,
                input: self.input.clone(),
                collected: Arc::clone(&self.collected),
                batches: vec![],
                properties: Arc::clone(&self.properties),
            };
            let stream = futures::stream::once(async move {
                let bytes = this.encoded_rows(context).await?;
                let (_, batches) = decode(&bytes)?;
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
