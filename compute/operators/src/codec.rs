//! [`FragmentCodec`]: serializes plan fragments that contain a [`SliceScanExec`], a
//! [`LoadExec`] and its [`LoadWriteExec`] (COPY), or an [`UnloadExec`].

use std::sync::{Arc, Weak};

use blueshift_proto::{SliceScanNode, SliceSegments};
use blueshift_storage::catalog::SegmentRef;
use blueshift_storage::deletes::DeleteVector;
use blueshift_storage::segment::SliceStore;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use crate::exchange::{ExchangeExec, LocalExchanges};
use crate::leader_rows::LeaderRowsExec;
use crate::load::{LoadExec, LoadSpec, LoadWriteExec, WriteTarget};
use crate::scan::{ScanSpec, SlicePartition, SliceScanExec};
use crate::schema_bytes::{proto_err, schema_from_bytes, schema_to_bytes};
use crate::secret::ClusterSecret;
use crate::unload_exec::{UnloadExec, UnloadTarget};

/// The first byte of an encoded extension node: which node follows.
const SCAN_TAG: u8 = 0;
const LOAD_TAG: u8 = 1;
const BROADCAST_TAG: u8 = 2;
const LOAD_WRITE_TAG: u8 = 3;
const UNLOAD_TAG: u8 = 4;
const EXCHANGE_TAG: u8 = 5;

/// The rows of a fragment's broadcasts, by id: schema and batches.
pub type LeaderRowsData = std::collections::HashMap<
    u32,
    (
        datafusion::arrow::datatypes::SchemaRef,
        Vec<datafusion::arrow::array::RecordBatch>,
    ),
>;

/// The extension codec of Blueshift fragments. The leader encodes with no store; a
/// compute node decodes with its own [`SliceStore`], so the scan reads local files.
#[derive(Debug, Clone, Default)]
pub struct FragmentCodec {
    /// The decoding node's number and store.
    store: Option<(u32, SliceStore)>,
    /// The rows a ticket carried for the fragment's broadcasts; `None` when only
    /// checking that a fragment decodes (broadcasts then decode without rows).
    broadcasts: Option<Arc<LeaderRowsData>>,
    /// The decoding node's exchanges (for exchanges it reads from itself).
    exchanges: Option<(u32, Weak<dyn LocalExchanges>)>,
    /// The cluster secret the decoding node's calls to other nodes carry.
    secret: Option<ClusterSecret>,
}

impl FragmentCodec {
    /// The codec of compute node `node`: decoded scans read from `store`, loads
    /// write to it, and calls to other nodes carry `secret`.
    pub fn with_store(node: u32, store: SliceStore, secret: ClusterSecret) -> Self {
        FragmentCodec {
            store: Some((node, store)),
            broadcasts: Some(Arc::default()),
            exchanges: None,
            secret: Some(secret),
        }
    }

    /// The same codec, with the node's exchanges.
    pub fn with_exchanges(mut self, node: u32, exchanges: Weak<dyn LocalExchanges>) -> Self {
        self.exchanges = Some((node, exchanges));
        self
    }

    /// The same codec, decoding broadcasts with `rows`.
    pub fn with_leader_rows(&self, rows: LeaderRowsData) -> Self {
        FragmentCodec {
            store: self.store.clone(),
            broadcasts: Some(Arc::new(rows)),
            exchanges: self.exchanges.clone(),
            secret: self.secret.clone(),
        }
    }
}

impl FragmentCodec {
    /// A slice scan from its message; it reads from this codec's store.
    pub fn decode_scan(&self, node: SliceScanNode, ctx: &TaskContext) -> Result<SliceScanExec> {
        let schema = schema_from_bytes(&node.schema)?;
        let zone_map_filter = if node.zone_map_filter.is_empty() {
            None
        } else {
            let expr = datafusion_proto::protobuf::PhysicalExprNode::decode(
                node.zone_map_filter.as_slice(),
            )
            .map_err(proto_err)?;
            Some(
                datafusion_proto::physical_plan::from_proto::parse_physical_expr(
                    &expr, ctx, &schema, self,
                )?,
            )
        };
        let projection =
            (!node.project_all).then(|| node.projection.iter().map(|&i| i as usize).collect());
        let partitions = node
            .partitions
            .into_iter()
            .map(|p| {
                let segments = p
                    .segments
                    .into_iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let deleted = match p.deleted.get(i) {
                            Some(bytes) if !bytes.is_empty() => {
                                Some(DeleteVector::from_bytes(bytes, &name).map_err(proto_err)?)
                            }
                            _ => None,
                        };
                        let rows = p.rows.get(i).copied().unwrap_or_default();
                        Ok(SegmentRef {
                            deleted,
                            ..SegmentRef::new(name, rows, 0)
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(SlicePartition {
                    slice: p.slice,
                    segments,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let spec = ScanSpec {
            table_id: node.table_id,
            table_name: node.table_name,
            table_schema: Arc::new(schema),
            projection,
            zone_map_filter,
            row_id: node.row_id,
            column_ids: node.column_ids.clone(),
            missing_values: node
                .missing_values
                .iter()
                .zip(&node.has_missing_value)
                .map(|(v, &has)| has.then(|| v.clone()))
                .collect(),
        };
        Ok(SliceScanExec::try_new(
            spec,
            partitions,
            self.store.as_ref().map(|(_, store)| store.clone()),
        )?
        .with_sort_order(node.sort_order.iter().map(|&c| c as usize).collect()))
    }

    /// The message of a slice scan.
    pub fn encode_scan(&self, scan: &SliceScanExec) -> Result<SliceScanNode> {
        let msg = SliceScanNode {
            table_id: scan.table_id,
            table_name: scan.table_name.clone(),
            schema: schema_to_bytes(&scan.table_schema)?,
            projection: scan
                .projection
                .iter()
                .flatten()
                .map(|&i| i as u32)
                .collect(),
            project_all: scan.projection.is_none(),
            zone_map_filter: match &scan.zone_map_filter {
                Some(f) => {
                    datafusion_proto::physical_plan::to_proto::serialize_physical_expr(f, self)?
                        .encode_to_vec()
                }
                None => vec![],
            },
            partitions: scan
                .partitions
                .iter()
                .map(|p| SliceSegments {
                    slice: p.slice,
                    segments: p.segments.iter().map(|s| s.name.clone()).collect(),
                    rows: p.segments.iter().map(|s| s.rows).collect(),
                    deleted: p
                        .segments
                        .iter()
                        .map(|s| s.deleted.as_ref().map(|d| d.to_bytes()).unwrap_or_default())
                        .collect(),
                })
                .collect(),
            row_id: scan.row_id,
            sort_order: scan.sort_order.iter().map(|&c| c as u32).collect(),
            column_ids: scan.column_ids.clone(),
            missing_values: scan
                .missing_values
                .iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect(),
            has_missing_value: scan.missing_values.iter().map(Option::is_some).collect(),
        };
        Ok(msg)
    }
}

impl PhysicalExtensionCodec for FragmentCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match buf.split_first() {
            Some((&SCAN_TAG, rest)) => {
                let node = SliceScanNode::decode(rest).map_err(proto_err)?;
                Ok(Arc::new(self.decode_scan(node, ctx)?))
            }
            Some((&LOAD_TAG, rest)) => {
                let spec: LoadSpec = serde_json::from_slice(rest).map_err(proto_err)?;
                Ok(Arc::new(LoadExec::new(spec)))
            }
            Some((&LOAD_WRITE_TAG, rest)) => {
                let target: WriteTarget = serde_json::from_slice(rest).map_err(proto_err)?;
                let input = inputs
                    .first()
                    .cloned()
                    .ok_or_else(|| proto_err("a load's write without its load"))?;
                let exec = LoadWriteExec::try_new(input, target)?;
                Ok(Arc::new(match (&self.store, &self.secret) {
                    (Some((node, store)), Some(secret)) => {
                        exec.on_node(*node, store.clone(), secret.clone())
                    }
                    _ => exec,
                }))
            }
            Some((&UNLOAD_TAG, rest)) => {
                let target: UnloadTarget = serde_json::from_slice(rest).map_err(proto_err)?;
                let input = inputs
                    .first()
                    .cloned()
                    .ok_or_else(|| proto_err("an UNLOAD without its query"))?;
                Ok(Arc::new(UnloadExec::try_new(input, target)?))
            }
            Some((&BROADCAST_TAG, rest)) => {
                let node = blueshift_proto::LeaderRowsNode::decode(rest).map_err(proto_err)?;
                let schema = schema_from_bytes(&node.schema)?;
                let batches = match &self.broadcasts {
                    Some(rows) => match rows.get(&node.id) {
                        Some((_, batches)) => batches.clone(),
                        None => {
                            return Err(proto_err(format!(
                                "the ticket has no rows for broadcast {}",
                                node.id
                            )));
                        }
                    },
                    None => vec![],
                };
                Ok(Arc::new(LeaderRowsExec::with_rows(
                    node.id,
                    Arc::new(schema),
                    batches,
                    node.partitions as usize,
                )))
            }
            Some((&EXCHANGE_TAG, rest)) => {
                let node = blueshift_proto::ExchangeNode::decode(rest).map_err(proto_err)?;
                let local = match (&self.exchanges, &self.secret) {
                    (Some((here, exchanges)), Some(secret)) => {
                        Some((*here, exchanges.clone(), secret.clone()))
                    }
                    _ => None,
                };
                Ok(Arc::new(ExchangeExec::from_proto(node, local)?))
            }
            _ => Err(proto_err("unknown extension node")),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(scan) = node.downcast_ref::<SliceScanExec>() {
            buf.push(SCAN_TAG);
            return self.encode_scan(scan)?.encode(buf).map_err(proto_err);
        }
        if let Some(load) = node.downcast_ref::<LoadExec>() {
            buf.push(LOAD_TAG);
            return serde_json::to_writer(buf, load.spec()).map_err(proto_err);
        }
        if let Some(write) = node.downcast_ref::<LoadWriteExec>() {
            buf.push(LOAD_WRITE_TAG);
            return serde_json::to_writer(buf, write.target()).map_err(proto_err);
        }
        if let Some(unload) = node.downcast_ref::<UnloadExec>() {
            buf.push(UNLOAD_TAG);
            return serde_json::to_writer(buf, unload.target()).map_err(proto_err);
        }
        if let Some(broadcast) = node.downcast_ref::<LeaderRowsExec>() {
            let schema = schema_to_bytes(&broadcast.schema())?;
            buf.push(BROADCAST_TAG);
            return blueshift_proto::LeaderRowsNode {
                id: broadcast.id,
                partitions: broadcast.properties().partitioning.partition_count() as u32,
                schema,
            }
            .encode(buf)
            .map_err(proto_err);
        }
        if let Some(exchange) = node.downcast_ref::<ExchangeExec>() {
            buf.push(EXCHANGE_TAG);
            return exchange.to_proto()?.encode(buf).map_err(proto_err);
        }
        Err(DataFusionError::NotImplemented(format!(
            "{} cannot run on a compute node",
            node.name()
        )))
    }
}
