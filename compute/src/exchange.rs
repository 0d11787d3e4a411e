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
//! node's [`ExchangeRegistry`] in memory.
//!
//! Rows stream: each reader's share passes through a channel of a few batches, so a
//! producer waits for its slowest reader (back-pressure) and holds little. A reader
//! that goes away (its query ended or was cancelled) closes its channel; a producer
//! whose readers are all gone stops. A reader that never comes leaves its channel to
//! be dropped [`EXPIRY`] after the producer started.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::Ticket;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use blueshift_proto::{
    ExchangeDelivery, ExchangeRead, ExchangeSteps, FragmentReport, FragmentTicket, ScanStats,
    StepStats,
};
use blueshift_storage::catalog::ClusterLayout;
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
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use crate::SliceScanExec;
use crate::leader_rows::{Delivery, Splitter};
use crate::running::Running;
use crate::server::MAX_MESSAGE_BYTES;

/// How long a node keeps the rows of a reader that has not come for them.
pub const EXPIRY: Duration = Duration::from_secs(60);

/// Batches a reader's channel holds before its producer waits.
const CHANNEL_BATCHES: usize = 4;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The query a fragment runs for, as a compute node's task context carries it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExchangeScope {
    pub query_id: u64,
    /// Each partition's memory budget (0: none).
    pub memory_bytes: u64,
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
    /// On a compute node: its number and exchanges.
    local: Option<(u32, Weak<ExchangeRegistry>)>,
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

fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions.max(1)),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
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
            schema: crate::codec::schema_to_bytes(&self.schema())?,
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
        local: Option<(u32, Weak<ExchangeRegistry>)>,
    ) -> Result<Self> {
        let schema = Arc::new(crate::codec::schema_from_bytes(&node.schema)?);
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

/// `delivery` as the wire carries it.
pub fn delivery_to_proto(delivery: &Delivery) -> ExchangeDelivery {
    match delivery {
        Delivery::Broadcast => ExchangeDelivery {
            broadcast: true,
            ..ExchangeDelivery::default()
        },
        Delivery::ByKey {
            column,
            layout,
            slices,
        } => ExchangeDelivery {
            broadcast: false,
            column: *column as u32,
            nodes: layout.nodes,
            slices_per_node: layout.slices_per_node,
            slices: slices.clone(),
        },
    }
}

fn delivery_from_proto(delivery: Option<&ExchangeDelivery>) -> Result<Delivery> {
    let d =
        delivery.ok_or_else(|| DataFusionError::Internal("exchange without delivery".into()))?;
    if d.broadcast {
        return Ok(Delivery::Broadcast);
    }
    if d.nodes == 0 || d.slices_per_node == 0 {
        return Err(DataFusionError::Internal(
            "exchange delivery over no slices".into(),
        ));
    }
    Ok(Delivery::ByKey {
        column: d.column as usize,
        layout: ClusterLayout {
            nodes: d.nodes,
            slices_per_node: d.slices_per_node,
        },
        slices: d.slices.clone(),
    })
}

/// An error carried from another node: its status, with the node named.
fn peer_error(node: u32, addr: &str, status: &tonic::Status) -> DataFusionError {
    DataFusionError::External(Box::new(tonic::Status::new(
        status.code(),
        format!(
            "exchange rows from compute node {node} ({addr}): {}",
            status.message()
        ),
    )))
}

/// A client of the compute node at `addr`.
pub fn peer_client(addr: &str) -> Result<FlightServiceClient<Channel>> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| DataFusionError::Plan(format!("compute address {addr}: {e}")))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        // A node that stops answering mid-stream fails the read within seconds.
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(10))
        .connect_lazy();
    Ok(FlightServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Rows = mpsc::Receiver<Result<RecordBatch>>;

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
        if let Some((here, registry)) = &self.local
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
                let report = report.make();
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
        let response = peer_client(&addr)?
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
        match &self.producer.plan {
            Some(plan) => {
                let mut whole = StatisticsArgs::new();
                whole.set_partition(None);
                let _ = args;
                // What the producer makes in all (a broadcast gives each reader all of it).
                StatisticsContext::new().compute(plan.as_ref(), &whole)
            }
            None => Ok(Arc::new(Statistics::new_unknown(&self.schema()))),
        }
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
            tasks.push(AbortOnDrop(runtime.spawn(async move {
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

/// Decodes a producing fragment for a node: the plan, and the task context of a
/// partition with `memory_bytes` of budget.
pub type ProducerDecoder = Box<
    dyn Fn(&[u8], ExchangeScope) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)>
        + Send
        + Sync,
>;

/// A reader's share of an exchange on a producing node.
pub struct Opened {
    pub rows: Rows,
    pub schema: SchemaRef,
    /// For reader 0: what the node's producer partitions did, to report once its rows
    /// have all been read.
    pub report: Option<ProducerReport>,
}

/// The producer partitions of one exchange on one node, for their report.
pub struct ProducerReport {
    id: u32,
    /// One plan per partition, as a fragment ticket has, so each scan reports its
    /// own slice.
    plans: Vec<Arc<dyn ExecutionPlan>>,
}

impl ProducerReport {
    /// The partitions' scans (STL_SCAN) and steps (SVL_QUERY_SUMMARY, one entry per
    /// partition), and those of the exchanges under them.
    pub fn make(&self) -> FragmentReport {
        let scans = self
            .plans
            .iter()
            .flat_map(|plan| {
                SliceScanExec::find_all(plan)
                    .into_iter()
                    .map(SliceScanExec::report)
                    .chain(
                        ExchangeExec::find_all(plan)
                            .into_iter()
                            .flat_map(ExchangeExec::producer_scans),
                    )
                    .collect::<Vec<_>>()
            })
            .collect();
        let exchanges = self
            .plans
            .iter()
            .map(|plan| ExchangeSteps {
                id: self.id,
                steps: crate::steps::step_stats(plan),
            })
            .chain(self.plans.iter().flat_map(exchange_steps))
            .collect();
        FragmentReport {
            scans,
            exchanges,
            ..FragmentReport::default()
        }
    }
}

/// The readers' channels of one exchange on a producing node, until each reader
/// has taken its own.
struct Entry {
    readers: Vec<Option<Rows>>,
    plans: Vec<Arc<dyn ExecutionPlan>>,
}

type Key = (u64, u32, u64);

/// The exchanges a compute node produces rows for.
pub struct ExchangeRegistry {
    entries: Mutex<HashMap<Key, Entry>>,
    running: Arc<Running>,
    decoder: std::sync::OnceLock<ProducerDecoder>,
    /// How long readers' channels wait to be taken ([`EXPIRY`]).
    expiry: Duration,
}

impl ExchangeRegistry {
    /// A registry listing its producers in `running` (STV_EXEC_STATE).
    pub fn new(running: Arc<Running>) -> Arc<Self> {
        Arc::new(ExchangeRegistry {
            entries: Mutex::default(),
            running,
            decoder: std::sync::OnceLock::new(),
            expiry: EXPIRY,
        })
    }

    /// Sets how producing fragments are decoded (once, as the node starts).
    pub fn set_decoder(&self, decoder: ProducerDecoder) {
        let _ = self.decoder.set(decoder);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reader `read.target`'s rows of the exchange `read` names, produced by this
    /// node's partitions `read.partitions` of `plan` (started by the first reader).
    pub fn open(
        self: &Arc<Self>,
        scope: ExchangeScope,
        plan: &[u8],
        read: &ExchangeRead,
    ) -> Result<Opened> {
        let key = (scope.query_id, read.id, read.nonce);
        let target = read.target as usize;
        let mut entries = self.lock();
        if !entries.contains_key(&key) {
            let entry = self.start(scope, plan, read)?;
            entries.insert(key, entry);
            let registry = Arc::downgrade(self);
            let expiry = self.expiry;
            tokio::spawn(async move {
                tokio::time::sleep(expiry).await;
                if let Some(registry) = registry.upgrade() {
                    registry.lock().remove(&key);
                }
            });
        }
        let Some(entry) = entries.get_mut(&key) else {
            return Err(DataFusionError::Internal("exchange vanished".into()));
        };
        let rows = entry
            .readers
            .get_mut(target)
            .and_then(Option::take)
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "exchange {}: reader {target} of {} asked twice or out of range",
                    read.id,
                    entry.readers.len()
                ))
            })?;
        let schema = entry.plans.first().map_or_else(
            || Arc::new(arrow::datatypes::Schema::empty()),
            |p| p.schema(),
        );
        let report = (target == 0).then(|| ProducerReport {
            id: read.id,
            plans: entry.plans.clone(),
        });
        if entry.readers.iter().all(Option::is_none) {
            entries.remove(&key);
        }
        Ok(Opened {
            rows,
            schema,
            report,
        })
    }

    /// Starts this node's producer partitions of the exchange `read` names.
    fn start(&self, scope: ExchangeScope, plan: &[u8], read: &ExchangeRead) -> Result<Entry> {
        let decoder = self
            .decoder
            .get()
            .ok_or_else(|| DataFusionError::Internal("exchange registry not ready".into()))?;
        let delivery = delivery_from_proto(read.delivery.as_ref())?;
        let targets = read.targets as usize;
        if let Delivery::ByKey { slices, .. } = &delivery
            && slices.len() != targets
        {
            return Err(DataFusionError::Internal(format!(
                "exchange {}: {} readers for {} slices",
                read.id,
                targets,
                slices.len()
            )));
        }
        // One plan per partition, as each slice of a fragment has its own ticket.
        let mut started = Vec::new();
        for &partition in &read.partitions {
            let (decoded, task_ctx) = decoder(plan, scope)?;
            let partitions = decoded.properties().partitioning.partition_count();
            if partition as usize >= partitions {
                return Err(DataFusionError::Internal(format!(
                    "exchange {}: producer has {partitions} partitions, asked for {partition}",
                    read.id
                )));
            }
            started.push((decoded, task_ctx, partition as usize));
        }
        let (senders, readers): (Vec<_>, Vec<_>) =
            (0..targets).map(|_| mpsc::channel(CHANNEL_BATCHES)).unzip();
        let pool = crate::flight::fragment_runtime()?;
        let mut plans = Vec::new();
        for (decoded, task_ctx, partition) in started {
            let registration = self.running.register(scope.query_id, &decoded, partition);
            plans.push(Arc::clone(&decoded));
            let senders = senders.clone();
            let delivery = delivery.clone();
            pool.spawn(async move {
                let _running = registration;
                produce(decoded, partition, task_ctx, &delivery, &senders).await;
            });
        }
        Ok(Entry {
            readers: readers.into_iter().map(Some).collect(),
            plans,
        })
    }
}

/// Runs partition `partition` of `plan` and sends its rows to the readers as
/// `delivery` says, until it ends or every reader is gone.
async fn produce(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    task_ctx: Arc<TaskContext>,
    delivery: &Delivery,
    senders: &[mpsc::Sender<Result<RecordBatch>>],
) {
    let fail = |e: DataFusionError| async move {
        let e = Arc::new(e);
        for s in senders {
            let _ = s.send(Err(DataFusionError::Shared(Arc::clone(&e)))).await;
        }
    };
    let mut stream = match plan.execute(partition, task_ctx) {
        Ok(stream) => stream,
        Err(e) => return fail(e).await,
    };
    let mut splitter = Splitter::new(delivery);
    let broadcast = matches!(delivery, Delivery::Broadcast);
    let mut open = vec![true; senders.len()];
    let all_gone = futures::future::join_all(senders.iter().map(mpsc::Sender::closed));
    tokio::pin!(all_gone);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = &mut all_gone => return,
        };
        let batch = match item {
            None => return,
            Some(Ok(batch)) => batch,
            Some(Err(e)) => return fail(e).await,
        };
        let parts = if broadcast {
            if batch.num_rows() == 0 {
                vec![]
            } else {
                (0..senders.len()).map(|t| (t, batch.clone())).collect()
            }
        } else {
            match splitter.split(&batch) {
                Ok(parts) => parts,
                Err(e) => return fail(e).await,
            }
        };
        for (target, rows) in parts {
            if open[target] && senders[target].send(Ok(rows)).await.is_err() {
                open[target] = false;
            }
        }
        if !open.contains(&true) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A registry whose producer is `batches` in two partitions of int64 keys
    /// (0..n), and readers' channels kept for `expiry`.
    fn registry(batches: usize, expiry: Duration) -> Arc<ExchangeRegistry> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let make = |from: usize| -> Vec<RecordBatch> {
            (0..batches)
                .map(|b| {
                    let start = ((from * batches + b) * 100) as i64;
                    let keys = Int64Array::from_iter_values(start..start + 100);
                    RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(keys)])
                        .expect("test setup")
                })
                .collect()
        };
        let partitions = vec![make(0), make(1)];
        let mut registry = ExchangeRegistry::new(Arc::default());
        Arc::get_mut(&mut registry).expect("test setup").expiry = expiry;
        registry.set_decoder(Box::new(move |_, _| {
            let plan = MemorySourceConfig::try_new_exec(&partitions, Arc::clone(&schema), None)?;
            Ok((
                plan as Arc<dyn ExecutionPlan>,
                SessionContext::new().task_ctx(),
            ))
        }));
        registry
    }

    fn read(target: u32, delivery: &Delivery) -> ExchangeRead {
        ExchangeRead {
            id: 7,
            nonce: 42,
            partitions: vec![0, 1],
            target,
            targets: 3,
            delivery: Some(delivery_to_proto(delivery)),
        }
    }

    fn by_key() -> Delivery {
        Delivery::ByKey {
            column: 0,
            layout: ClusterLayout {
                nodes: 1,
                slices_per_node: 3,
            },
            slices: vec![0, 1, 2],
        }
    }

    async fn keys(mut rows: Rows) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(batch) = rows.recv().await {
            let batch = batch.expect("test setup");
            let keys = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("test setup");
            out.extend(keys.iter().flatten());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn each_reader_gets_the_rows_of_its_slice_once() {
        let registry = registry(10, EXPIRY);
        let scope = ExchangeScope::default();
        let delivery = by_key();
        let mut all = Vec::new();
        let mut readers = Vec::new();
        for target in 0..3 {
            readers.push(
                registry
                    .open(scope, b"", &read(target, &delivery))
                    .expect("test setup"),
            );
        }
        // Every reader took its channel: the node forgets the exchange.
        assert!(registry.lock().is_empty());
        // Readers read at once, as a fragment's partitions do: a producer waits for
        // the slowest.
        let reads: Vec<_> = readers
            .into_iter()
            .map(|opened| {
                let report = opened.report.is_some();
                (report, tokio::spawn(keys(opened.rows)))
            })
            .collect();
        for (target, (report, read)) in reads.into_iter().enumerate() {
            assert_eq!(report, target == 0);
            let got = read.await.expect("test setup");
            assert!(!got.is_empty(), "reader {target} got nothing");
            // Each row is on the slice its key hashes to.
            let batch = RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)])),
                vec![Arc::new(Int64Array::from(got.clone()))],
            )
            .expect("test setup");
            let parts = Splitter::new(&delivery).split(&batch).expect("test setup");
            assert!(parts.iter().all(|(p, _)| *p == target), "reader {target}");
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, (0..2000).collect::<Vec<i64>>());
        // A second ask for a reader's rows is refused rather than served twice.
        let again = registry
            .open(scope, b"", &read(0, &delivery))
            .expect("test setup");
        assert!(registry.open(scope, b"", &read(0, &delivery)).is_err());
        drop(again);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_broadcast_gives_every_reader_every_row() {
        let registry = registry(30, EXPIRY);
        let reads: Vec<_> = (0..3)
            .map(|target| {
                let opened = registry
                    .open(
                        ExchangeScope::default(),
                        b"",
                        &read(target, &Delivery::Broadcast),
                    )
                    .expect("test setup");
                tokio::spawn(keys(opened.rows))
            })
            .collect();
        for read in reads {
            let mut got = read.await.expect("test setup");
            got.sort_unstable();
            assert_eq!(got, (0..6000).collect::<Vec<i64>>());
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn readers_that_leave_or_never_come_do_not_hold_up_the_others() {
        // Far more batches than a channel holds.
        let registry = registry(200, Duration::from_millis(300));
        let scope = ExchangeScope::default();
        let delivery = by_key();
        let first = registry
            .open(scope, b"", &read(0, &delivery))
            .expect("test setup");
        // Reader 1 leaves at once; reader 2 never comes.
        drop(
            registry
                .open(scope, b"", &read(1, &delivery))
                .expect("test setup"),
        );
        let got = tokio::time::timeout(Duration::from_secs(30), keys(first.rows))
            .await
            .expect("reader 0 was held up");
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(
                (0..40_000).collect::<Vec<i64>>(),
            ))],
        )
        .expect("test setup");
        let expected: usize = Splitter::new(&delivery)
            .split(&batch)
            .expect("test setup")
            .iter()
            .filter(|(p, _)| *p == 0)
            .map(|(_, b)| b.num_rows())
            .sum();
        assert_eq!(got.len(), expected);
        assert!(registry.lock().is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn producers_stop_when_every_reader_is_gone() {
        let registry = registry(200, Duration::from_millis(100));
        let delivery = by_key();
        for target in 0..3 {
            drop(
                registry
                    .open(ExchangeScope::default(), b"", &read(target, &delivery))
                    .expect("test setup"),
            );
        }
        // The producer partitions were listed as running; they end without anyone
        // reading their rows.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !registry.running.state().fragments.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "producers still run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
