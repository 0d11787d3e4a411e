//! [`ExchangeRegistry`]: the exchanges a compute node produces rows for, and the
//! producer partitions that cut their rows per reader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;

use blueshift_proto::{ExchangeRead, ExchangeSteps, FragmentReport};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::running::Running;
use blueshift_operators::SliceScanExec;
use blueshift_operators::delivery::{Delivery, Splitter, delivery_from_proto};
use blueshift_operators::exchange::{
    CHANNEL_BATCHES, EXPIRY, ExchangeExec, ExchangeScope, LocalExchanges, Opened, Rows, check_read,
    exchange_steps,
};

/// Decodes a producing fragment for a node: the plan, and the task context of a
/// partition with `memory_bytes` of budget.
pub type ProducerDecoder = Box<
    dyn Fn(&[u8], ExchangeScope) -> Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)>
        + Send
        + Sync,
>;

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
                steps: blueshift_operators::steps::step_stats(plan),
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
pub(crate) struct Entry {
    readers: Vec<Option<Rows>>,
    plans: Vec<Arc<dyn ExecutionPlan>>,
}

pub(crate) type Key = (u64, u32, u64);

/// The exchanges a compute node produces rows for.
pub struct ExchangeRegistry {
    entries: Mutex<HashMap<Key, Entry>>,
    pub(crate) running: Arc<Running>,
    decoder: std::sync::OnceLock<ProducerDecoder>,
    /// How long readers' channels wait to be taken ([`EXPIRY`]).
    expiry: Duration,
    /// This registry, for the tasks that expire its readers.
    this: Weak<ExchangeRegistry>,
}

impl ExchangeRegistry {
    /// A registry listing its producers in `running` (STV_EXEC_STATE).
    pub fn new(running: Arc<Running>) -> Arc<Self> {
        Self::with_expiry(running, EXPIRY)
    }

    /// A registry whose readers' channels wait `expiry` to be taken.
    pub(crate) fn with_expiry(running: Arc<Running>, expiry: Duration) -> Arc<Self> {
        Arc::new_cyclic(|this| ExchangeRegistry {
            entries: Mutex::default(),
            running,
            decoder: std::sync::OnceLock::new(),
            expiry,
            this: this.clone(),
        })
    }

    /// Sets how producing fragments are decoded (once, as the node starts).
    pub fn set_decoder(&self, decoder: ProducerDecoder) {
        let _ = self.decoder.set(decoder);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reader `read.target`'s rows of the exchange `read` names, produced by this
    /// node's partitions `read.partitions` of `plan` (started by the first reader).
    pub fn open(&self, scope: ExchangeScope, plan: &[u8], read: &ExchangeRead) -> Result<Opened> {
        check_read(read)?;
        let key = (scope.query_id, read.id, read.nonce);
        let target = read.target as usize;
        let mut entries = self.lock();
        if !entries.contains_key(&key) {
            let entry = self.start(scope, plan, read)?;
            entries.insert(key, entry);
            let registry = self.this.clone();
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
        let report = (target == 0).then(|| {
            let report = ProducerReport {
                id: read.id,
                plans: entry.plans.clone(),
            };
            Box::new(move || report.make()) as Box<dyn FnOnce() -> FragmentReport + Send>
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
        let pool = crate::runtime::fragment_runtime().map_err(DataFusionError::Execution)?;
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

impl LocalExchanges for ExchangeRegistry {
    fn open(&self, scope: ExchangeScope, producer: &[u8], read: &ExchangeRead) -> Result<Opened> {
        ExchangeRegistry::open(self, scope, producer, read)
    }
}

#[cfg(test)]
mod tests;
