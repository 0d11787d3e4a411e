//! [`FragmentCodec`]: serializes plan fragments that contain a [`SliceScanExec`].

use std::sync::Arc;

use blueshift_proto::{SliceScanNode, SliceSegments};
use blueshift_storage::segment::SliceStore;
use datafusion::arrow::datatypes::Schema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use crate::scan::{SlicePartition, SliceScanExec};

/// The extension codec of Blueshift fragments. The leader encodes with no store; a
/// compute node decodes with its own [`SliceStore`], so the scan reads local files.
#[derive(Debug, Clone, Default)]
pub struct FragmentCodec {
    store: Option<SliceStore>,
}

impl FragmentCodec {
    /// A codec whose decoded scans read from `store`.
    pub fn with_store(store: SliceStore) -> Self {
        FragmentCodec { store: Some(store) }
    }
}

fn proto_err(e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("fragment codec: {e}"))
}

impl PhysicalExtensionCodec for FragmentCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = SliceScanNode::decode(buf).map_err(proto_err)?;
        let schema_proto = datafusion_proto::protobuf::Schema::decode(node.schema.as_slice())
            .map_err(proto_err)?;
        let schema: Schema = (&schema_proto).try_into().map_err(proto_err)?;
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
            .map(|p| SlicePartition {
                slice: p.slice,
                segments: p.segments,
            })
            .collect();
        Ok(Arc::new(SliceScanExec::try_new(
            node.table_id,
            node.table_name,
            Arc::new(schema),
            projection,
            partitions,
            zone_map_filter,
            self.store.clone(),
        )?))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(scan) = node.downcast_ref::<SliceScanExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "{} cannot run on a compute node",
                node.name()
            )));
        };
        let schema = datafusion_proto::protobuf::Schema::try_from(scan.table_schema.as_ref())
            .map_err(proto_err)?;
        let msg = SliceScanNode {
            table_id: scan.table_id,
            table_name: scan.table_name.clone(),
            schema: schema.encode_to_vec(),
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
                    segments: p.segments.clone(),
                })
                .collect(),
        };
        msg.encode(buf).map_err(proto_err)
    }
}
