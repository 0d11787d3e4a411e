//! [`ExchangeExec`]: rows that move between compute nodes without the leader.
//!
//! An exchange has a producing fragment (a plan that runs slice by slice, as the
//! leader ships fragments) and readers: the partitions of the fragment the exchange is
//! in. Each reader asks every node that runs part of the producer for its share of
//! the rows (a Flight `DoGet` whose [`FragmentTicket`] carries an [`ExchangeRead`]);
//! the first request on a node starts that node's producer partitions, once for all
//! readers, and the node cuts each batch as the [`Delivery`] says: whole to every
//! reader (a broadcast), or each row to the reader of the slice its key hashes to (a
//! redistribution). A reader on the producing node itself takes its rows from the
//! node's own exchanges in memory ([`LocalExchanges`], which the compute node
//! implements).
//!
//! Rows stream: each reader's share passes through a channel of a few batches, so a
//! producer waits for its slowest reader (back-pressure) and holds little. A reader
//! that goes away (its query ended or was cancelled) closes its channel; a producer
//! whose readers are all gone stops. A reader that never comes leaves its channel to
//! be dropped [`EXPIRY`] after the producer started.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::Ticket;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use blueshift_proto::{
    ExchangeRead, ExchangeSteps, FragmentReport, FragmentTicket, ScanStats, StepStats,
};
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
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use crate::delivery::{
    Delivery, MAX_SLICES, delivery_from_proto, delivery_to_proto, properties, whole_statistics,
};
use crate::secret::{ClusterSecret, NodeClient};

/// How long a node keeps the rows of a reader that has not come for them.
pub const EXPIRY: Duration = Duration::from_secs(60);

/// Checks a request for an exchange's rows before anything is started for it.
pub fn check_read(read: &ExchangeRead) -> Result<()> {
    let bad = |what: String| Err(DataFusionError::Plan(format!("bad exchange read: {what}")));
    if read.targets == 0 || read.targets > MAX_SLICES {
        return bad(format!("{} readers", read.targets));
    }
    if read.target >= read.targets {
        return bad(format!("reader {} of {}", read.target, read.targets));
    }
    let mut partitions = read.partitions.clone();
    partitions.sort_unstable();
    partitions.dedup();
    if partitions.len() != read.partitions.len() {
        return bad("a producer partition asked for twice".into());
    }
    if let Delivery::ByKey { slices, .. } = delivery_from_proto(read.delivery.as_ref())?
        && slices.len() != read.targets as usize
    {
        return bad(format!(
            "{} readers for {} slices",
            read.targets,
            slices.len()
        ));
    }
    Ok(())
}

/// Batches a reader's channel holds before its producer waits.
pub const CHANNEL_BATCHES: usize = 4;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The query a fragment runs for, as a compute node's task context carries it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExchangeScope {
    pub query_id: u64,
    /// Each partition's memory budget (0: none).
    pub memory_bytes: u64,
}

/// A reader's rows, batch by batch.
pub type Rows = mpsc::Receiver<Result<RecordBatch>>;

/// A reader's share of an exchange on a producing node.
pub struct Opened {
    pub rows: Rows,
    pub schema: SchemaRef,
    /// For reader 0: what the node's producer partitions did, made once its rows have
    /// all been read.
    pub report: Option<Box<dyn FnOnce() -> FragmentReport + Send>>,
}

/// The exchanges a compute node produces rows for. A reader on the producing node
/// takes its share from here in memory, rather than over Flight.
pub trait LocalExchanges: Send + Sync {
    /// Reader `read.target`'s rows of the exchange `read` names, produced by this
    /// node's partitions `read.partitions` of `producer` (an encoded fragment; the
    /// first reader starts them).
    fn open(&self, scope: ExchangeScope, producer: &[u8], read: &ExchangeRead) -> Result<Opened>;
}

/// The fragment that makes an exchange's rows, and where its partitions run.
#[derive(Clone, Debug)]
pub struct Producer {
    /// The plan (on the leader only: a compute node passes on its bytes).
    pub plan: Option<Arc<dyn ExecutionPlan>>,
    /// The plan, encoded with the fragment codec.
    pub encoded: Bytes,
    /// The node that runs each of its partitions.
    pub nodes: Vec<u32>,
    /// Each node's Flight address, by node number.
    pub addrs: Vec<String>,
}

/// What a reader received, for its step's statistics and the scans' reports.
#[derive(Default, Debug)]
struct Received {
    rows: AtomicU64,
    bytes: AtomicU64,
    /// The producer's scans (STL_SCAN), from the node that reported them to this reader.
    scans: Mutex<Vec<ScanStats>>,
    /// The producer's steps (SVL_QUERY_SUMMARY), per producing node, with those of
    /// the exchanges below it.
    steps: Mutex<Vec<ExchangeSteps>>,
}

impl Received {
    /// Keeps what a producing node reported: its scans, `steps` for exchange `id`,
    /// and the steps of the exchanges under it.
    fn report(
        &self,
        id: u32,
        scans: Vec<ScanStats>,
        steps: Vec<StepStats>,
        below: Vec<ExchangeSteps>,
    ) {
        self.scans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(scans);
        let mut kept = self.steps.lock().unwrap_or_else(|e| e.into_inner());
        if !steps.is_empty() {
            kept.push(ExchangeSteps { id, steps });
        }
        kept.extend(below);
    }
}

/// The steps the producers of `plan`'s exchanges reported to it (and those of the
/// exchanges below them).
pub fn exchange_steps(plan: &Arc<dyn ExecutionPlan>) -> Vec<ExchangeSteps> {
    ExchangeExec::find_all(plan)
        .into_iter()
        .flat_map(|e| {
            e.received
                .steps
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
        .collect()
}

/// Rows another fragment makes on the compute nodes, delivered to this fragment's
/// partitions as [`Delivery`] says.
pub struct ExchangeExec {
    pub id: u32,
    nonce: u64,
    pub delivery: Delivery,
    producer: Producer,
    /// On a compute node: its number, its exchanges, and the secret its calls to
    /// other nodes carry.
    local: Option<(u32, Weak<dyn LocalExchanges>, ClusterSecret)>,
    received: Arc<Received>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for ExchangeExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeExec")
            .field("id", &self.id)
            .field("delivery", &self.delivery)
            .field("producer_nodes", &self.producer.nodes)
            .finish_non_exhaustive()
    }
}

impl ExchangeExec {
    /// On the leader: `producer`'s rows for `partitions` readers, delivered as
    /// `delivery`.
    pub fn new(
        producer: Producer,
        schema: SchemaRef,
        partitions: usize,
        delivery: Delivery,
    ) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        ExchangeExec {
            id: id as u32,
            nonce: rand::random(),
            delivery,
            producer,
            local: None,
            received: Arc::default(),
            properties: properties(schema, partitions),
        }
    }

    /// The producing fragment (on the leader).
    pub fn producer(&self) -> Option<&Arc<dyn ExecutionPlan>> {
        self.producer.plan.as_ref()
    }

    /// Rows and bytes this reader received so far.
    pub fn size(&self) -> (u64, u64) {
        (
            self.received.rows.load(Ordering::Relaxed),
            self.received.bytes.load(Ordering::Relaxed),
        )
    }

    /// The producer's scan reports this reader was given.
    pub fn producer_scans(&self) -> Vec<ScanStats> {
        self.received
            .scans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every exchange in `plan`.
    pub fn find_all(plan: &Arc<dyn ExecutionPlan>) -> Vec<&ExchangeExec> {
        if let Some(e) = plan.downcast_ref::<ExchangeExec>() {
            return vec![e];
        }
        plan.children()
            .into_iter()
            .flat_map(Self::find_all)
            .collect()
    }

    /// The message the fragment codec writes.
    pub fn to_proto(&self) -> Result<blueshift_proto::ExchangeNode> {
        Ok(blueshift_proto::ExchangeNode {
            id: self.id,
            nonce: self.nonce,
            partitions: self.properties.partitioning.partition_count() as u32,
            schema: crate::schema_bytes::schema_to_bytes(&self.schema())?,
            producer: self.producer.encoded.clone(),
            producer_nodes: self.producer.nodes.clone(),
            addrs: self.producer.addrs.clone(),
            delivery: Some(delivery_to_proto(&self.delivery)),
        })
    }

    /// The exchange a codec read, on node `local` with its `registry` (or on the
    /// leader, checking that a fragment decodes, with neither).
    pub fn from_proto(
        node: blueshift_proto::ExchangeNode,
        local: Option<(u32, Weak<dyn LocalExchanges>, ClusterSecret)>,
    ) -> Result<Self> {
        let schema = Arc::new(crate::schema_bytes::schema_from_bytes(&node.schema)?);
        let delivery = delivery_from_proto(node.delivery.as_ref())?;
        Ok(ExchangeExec {
            id: node.id,
            nonce: node.nonce,
            delivery,
            producer: Producer {
                plan: None,
                encoded: node.producer,
                nodes: node.producer_nodes,
                addrs: node.addrs,
            },
            local,
            received: Arc::default(),
            properties: properties(schema, node.partitions as usize),
        })
    }
}

/// An error carried from another node: its status, with the node named.
fn peer_error(node: u32, addr: &str, status: &tonic::Status) -> DataFusionError {
    let carried = match crate::error::detail_of(status) {
        // The other node's failure keeps its kind and its message.
        Some((kind, message)) => crate::error::status(kind, message),
        None => tonic::Status::new(
            status.code(),
            format!(
                "exchange rows from compute node {node} ({addr}): {}",
                status.message()
            ),
        ),
    };
    DataFusionError::External(Box::new(carried))
}

/// A client of the compute node at `addr`, sending `secret`.
pub fn peer_client(addr: &str, secret: &ClusterSecret) -> Result<NodeClient> {
    secret.connect(addr).map_err(DataFusionError::Plan)
}

impl ExchangeExec {
    /// Reads reader `target`'s rows from `node`'s producer partitions `partitions`,
    /// into `tx`.
    async fn read_from(
        &self,
        node: u32,
        read: ExchangeRead,
        scope: ExchangeScope,
        tx: mpsc::Sender<Result<RecordBatch>>,
    ) -> Result<()> {
        let received = Arc::clone(&self.received);
        let count = |batch: &RecordBatch| {
            received
                .rows
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            received
                .bytes
                .fetch_add(batch.get_array_memory_size() as u64, Ordering::Relaxed);
        };
        if let Some((here, registry, _)) = &self.local
            && *here == node
        {
            let registry = registry.upgrade().ok_or_else(|| {
                DataFusionError::Execution("the compute node is shutting down".into())
            })?;
            let opened = registry.open(scope, &self.producer.encoded, &read)?;
            let mut rows = opened.rows;
            while let Some(item) = rows.recv().await {
                if let Ok(batch) = &item {
                    count(batch);
                }
                if tx.send(item).await.is_err() {
                    return Ok(());
                }
            }
            if let Some(report) = opened.report {
                let report = report();
                self.received
                    .report(self.id, report.scans, report.steps, report.exchanges);
            }
            return Ok(());
        }
        let addr = self
            .producer
            .addrs
            .get(node as usize)
            .cloned()
            .ok_or_else(|| DataFusionError::Internal(format!("no address for node {node}")))?;
        let ticket = FragmentTicket {
            plan: self.producer.encoded.clone(),
            partition: 0,
            query_id: scope.query_id,
            memory_bytes: scope.memory_bytes,
            leader_rows: vec![],
            exchange: Some(read),
        };
        let secret = match &self.local {
            Some((_, _, secret)) => secret,
            None => {
                return Err(DataFusionError::Internal(
                    "an exchange reads from other nodes only on a compute node".into(),
                ));
            }
        };
        let response = peer_client(&addr, secret)?
            .do_get(Ticket {
                ticket: ticket.encode_to_vec().into(),
            })
            .await
            .map_err(|s| peer_error(node, &addr, &s))?;
        let reports = Arc::clone(&self.received);
        let id = self.id;
        let messages = response.into_inner().inspect_ok(move |data| {
            if !data.app_metadata.is_empty()
                && let Ok(report) = FragmentReport::decode(data.app_metadata.clone())
            {
                reports.report(id, report.scans, report.steps, report.exchanges);
            }
        });
        let mut batches = FlightRecordBatchStream::new_from_flight_data(
            messages.map_err(|s| FlightError::Tonic(Box::new(s))),
        );
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| match e {
                FlightError::Tonic(status) => peer_error(node, &addr, &status),
                other => peer_error(node, &addr, &tonic::Status::unavailable(other.to_string())),
            })?;
            count(&batch);
            if tx.send(Ok(batch)).await.is_err() {
                break;
            }
        }
        Ok(())
    }
}

impl DisplayAs for ExchangeExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let how = match &self.delivery {
            Delivery::Broadcast => "broadcast".to_string(),
            Delivery::ByKey { column, .. } => format!("by {}", self.schema().field(*column).name()),
        };
        write!(f, "ExchangeExec: id={} {how}", self.id)
    }
}

impl ExecutionPlan for ExchangeExec {
    fn name(&self) -> &str {
        "ExchangeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    /// None: the producer is a fragment of its own.
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
        whole_statistics(self.producer.plan.as_ref(), &self.schema())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if self.local.is_none() {
            return Err(DataFusionError::Internal(
                "an exchange runs on the compute nodes, inside a fragment".into(),
            ));
        }
        let scope = context
            .session_config()
            .get_extension::<ExchangeScope>()
            .map(|s| *s)
            .unwrap_or_default();
        let targets = self.properties.partitioning.partition_count();
        let mut by_node: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (p, &node) in self.producer.nodes.iter().enumerate() {
            by_node.entry(node).or_default().push(p as u32);
        }
        let delivery = delivery_to_proto(&self.delivery);
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            DataFusionError::Internal("an exchange runs inside the node's runtime".into())
        })?;
        // Every producing node is asked at once, before the first poll: a reader
        // whose plan never reads this input still takes (and so releases) its share.
        let mut tasks = Vec::new();
        for (node, partitions) in by_node {
            let read = ExchangeRead {
                id: self.id,
                nonce: self.nonce,
                partitions,
                target: partition as u32,
                targets: targets as u32,
                delivery: Some(delivery.clone()),
            };
            let this = self.reader();
            let tx = tx.clone();
            tasks.push(AbortOnDropHandle::new(runtime.spawn(async move {
                if let Err(e) = this.read_from(node, read, scope, tx.clone()).await {
                    let _ = tx.send(Err(e)).await;
                }
            })));
        }
        drop(tx);
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |item| {
            let _tasks = &tasks;
            item
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}

impl ExchangeExec {
    /// A copy sharing this one's counters, for a reading task.
    fn reader(&self) -> ExchangeExec {
        ExchangeExec {
            id: self.id,
            nonce: self.nonce,
            delivery: self.delivery.clone(),
            producer: self.producer.clone(),
            local: self.local.clone(),
            received: Arc::clone(&self.received),
            properties: Arc::clone(&self.properties),
        }
    }
}
