//! [`Delivery`]: which slices of a fragment get which moved rows, whether the leader
//! sends them ([`crate::leader_rows::LeaderRowsExec`]) or another compute node does
//! ([`crate::exchange::ExchangeExec`]); [`Splitter`] cuts batches that way, and
//! [`encode`]/[`decode`] carry them as Arrow IPC streams.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use blueshift_proto::ExchangeDelivery;
use blueshift_storage::catalog::{ClusterLayout, DistStyle};
use blueshift_storage::distribution::{DistHash, SliceRouter};
use bytes::Bytes;
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, Partitioning, PlanProperties};

/// The most slices (and readers) an exchange serves: far above any cluster, low enough
/// that a malformed request cannot make a node allocate without bound.
pub const MAX_SLICES: u32 = 1 << 16;

/// Which slices get which rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    /// Every slice gets every row.
    Broadcast,
    /// A row goes to the slice `hash(column) mod slices` names, as a DISTKEY of the
    /// column's type placed by `hash` places it (the hash of the table whose rows
    /// they meet); partition *i* is `slices[i]`.
    ByKey {
        column: usize,
        layout: ClusterLayout,
        slices: Vec<u32>,
        hash: DistHash,
    },
}

/// The properties of rows moved into `partitions` partitions of a fragment.
pub(crate) fn properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions.max(1)),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}

/// `batches` cut as `delivery` says, one IPC stream per partition.
pub(crate) fn deliver(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    delivery: &Delivery,
) -> Result<Vec<Bytes>> {
    if let Delivery::Broadcast = delivery {
        return encode(schema, batches).map(|b| vec![b]);
    }
    let mut splitter = Splitter::new(delivery);
    let mut per_partition: Vec<Vec<RecordBatch>> = vec![Vec::new(); splitter.partitions()];
    for batch in batches {
        for (partition, rows) in splitter.split(batch)? {
            per_partition[partition].push(rows);
        }
    }
    per_partition.iter().map(|b| encode(schema, b)).collect()
}

/// Cuts batches as a [`Delivery`] says: for each batch, the rows each partition gets.
pub struct Splitter {
    /// For [`Delivery::ByKey`]: the router, and the partition of each slice.
    by_key: Option<(SliceRouter, Vec<Option<usize>>)>,
    partitions: usize,
}

impl Splitter {
    /// A splitter for `delivery`; a broadcast has one partition, which gets every row.
    pub fn new(delivery: &Delivery) -> Self {
        match delivery {
            Delivery::Broadcast => Splitter {
                by_key: None,
                partitions: 1,
            },
            Delivery::ByKey {
                column,
                layout,
                slices,
                hash,
            } => {
                let mut partition_of = vec![None; layout.slice_count() as usize];
                for (partition, &slice) in slices.iter().enumerate() {
                    if let Some(p) = partition_of.get_mut(slice as usize) {
                        *p = Some(partition);
                    }
                }
                Splitter {
                    by_key: Some((
                        SliceRouter::new(*layout, DistStyle::Key, Some(*column), *hash, 0),
                        partition_of,
                    )),
                    partitions: slices.len(),
                }
            }
        }
    }

    /// How many partitions rows go to.
    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// `batch`'s rows for each partition that gets some. A key hashing to a slice
    /// outside the delivery's slices is an error: its rows would be lost.
    pub fn split(&mut self, batch: &RecordBatch) -> Result<Vec<(usize, RecordBatch)>> {
        let Some((router, partition_of)) = &mut self.by_key else {
            return Ok(if batch.num_rows() == 0 {
                vec![]
            } else {
                vec![(0, batch.clone())]
            });
        };
        router
            .route_batch(batch)
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .into_iter()
            .map(|(slice, rows)| {
                let partition = partition_of
                    .get(slice as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!(
                            "rows routed to slice {slice}, which the exchange does not reach"
                        ))
                    })?;
                Ok((partition, rows))
            })
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

/// The schema and batches of an Arrow IPC stream. The batches' buffers point into
/// `bytes` (where they are aligned) rather than being copied.
pub fn decode(bytes: Bytes) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut decoder = arrow::ipc::reader::StreamDecoder::new();
    let mut buffer = arrow::buffer::Buffer::from(bytes);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer)? {
            batches.push(batch);
        }
    }
    decoder.finish()?;
    let schema = decoder
        .schema()
        .ok_or_else(|| DataFusionError::Internal("leader rows without a schema".into()))?;
    Ok((schema, batches))
}

/// The statistics of moved rows: what `input` (the plan that makes them, where
/// known) makes in all; a broadcast gives each partition all of it.
pub(crate) fn whole_statistics(
    input: Option<&Arc<dyn ExecutionPlan>>,
    schema: &SchemaRef,
) -> Result<Arc<Statistics>> {
    match input {
        Some(input) => {
            let mut whole = StatisticsArgs::new();
            whole.set_partition(None);
            StatisticsContext::new().compute(input.as_ref(), &whole)
        }
        None => Ok(Arc::new(Statistics::new_unknown(schema))),
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
            hash,
        } => ExchangeDelivery {
            broadcast: false,
            column: *column as u32,
            nodes: layout.nodes,
            slices_per_node: layout.slices_per_node,
            slices: slices.clone(),
            dist_hash: hash.to_wire(),
        },
    }
}

pub fn delivery_from_proto(delivery: Option<&ExchangeDelivery>) -> Result<Delivery> {
    let d =
        delivery.ok_or_else(|| DataFusionError::Internal("exchange without delivery".into()))?;
    if d.broadcast {
        return Ok(Delivery::Broadcast);
    }
    let slice_count = d
        .nodes
        .checked_mul(d.slices_per_node)
        .filter(|&n| n > 0 && n <= MAX_SLICES)
        .ok_or_else(|| {
            DataFusionError::Plan(format!(
                "exchange delivery over {} nodes of {} slices",
                d.nodes, d.slices_per_node
            ))
        })?;
    if let Some(bad) = d.slices.iter().find(|&&s| s >= slice_count) {
        return Err(DataFusionError::Plan(format!(
            "exchange delivery to slice {bad} of {slice_count}"
        )));
    }
    let hash = DistHash::from_wire(d.dist_hash).ok_or_else(|| {
        DataFusionError::Plan(format!("exchange delivery by DISTKEY hash {}", d.dist_hash))
    })?;
    Ok(Delivery::ByKey {
        hash,
        column: d.column as usize,
        layout: ClusterLayout {
            nodes: d.nodes,
            slices_per_node: d.slices_per_node,
        },
        slices: d.slices.clone(),
    })
}
