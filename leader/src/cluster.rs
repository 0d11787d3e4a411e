//! [`ClusterClient`]: the leader's connections to its compute nodes, over Arrow Flight.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::{Action, Ticket};
use blueshift_operators::secret::{ClusterSecret, NodeClient};
use blueshift_proto::{
    ACTION_BLOCK_LIST, ACTION_COLLECT_GARBAGE, ACTION_DOWNLOAD_SEGMENTS, ACTION_EXEC_STATE,
    ACTION_NODE_INFO, ACTION_REWRITE_SEGMENTS, ACTION_UPLOAD_SEGMENTS, Block, BlockList,
    BlockListRequest, CollectGarbage, ExecState, FragmentReport, FragmentTicket, GarbageCollected,
    NodeInfo, RewriteSegments, RunningFragment, SegmentOfTable, SegmentWritten, SegmentsUploaded,
    SegmentsWritten, UploadSegments, WriteSegment,
};
use blueshift_storage::catalog::ClusterLayout;
use datafusion::error::DataFusionError;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use prost::Message;

use crate::error::{ErrorKind, LeaderError};
use crate::query_log::QueryScope;

/// Connections to every compute node, by node number.
#[derive(Clone, Debug)]
pub struct ClusterClient {
    layout: ClusterLayout,
    /// One client per node; each sends the cluster secret with every call.
    nodes: Arc<Vec<NodeClient>>,
    addrs: Arc<Vec<String>>,
}

fn node_error(node: u32, addr: &str, e: impl std::fmt::Display) -> LeaderError {
    LeaderError::ComputeNode {
        node,
        addr: addr.to_string(),
        reason: e.to_string(),
    }
}

/// An error from a running fragment: the kind and message the node put in the
/// status's detail (a division by zero keeps 22012, a corrupt segment XX001, an
/// object store's error its own); a status without one comes from the transport, a
/// node that stopped answering: 58030 naming it.
fn fragment_error(node: u32, addr: &str, e: FlightError) -> DataFusionError {
    match e {
        FlightError::Tonic(status) => match blueshift_operators::error::detail_of(&status) {
            Some((ErrorKind::OutOfMemory, message)) => LeaderError::Failure {
                kind: ErrorKind::OutOfMemory,
                message: format!("compute node {node}: {message}"),
            }
            .into(),
            Some((kind, message)) => LeaderError::Failure { kind, message }.into(),
            None => node_error(node, addr, status.message()).into(),
        },
        other => node_error(node, addr, other).into(),
    }
}

impl ClusterClient {
    /// Lazily connected channels to `addrs` (`host:port`), one per node of `layout`;
    /// every call carries `secret`.
    pub fn new(
        layout: ClusterLayout,
        addrs: Vec<String>,
        secret: ClusterSecret,
    ) -> Result<Self, LeaderError> {
        if addrs.len() != layout.nodes as usize {
            return Err(LeaderError::Config(format!(
                "the cluster has {} compute nodes but {} addresses were given",
                layout.nodes,
                addrs.len()
            )));
        }
        let nodes = addrs
            .iter()
            .map(|a| secret.connect(a).map_err(LeaderError::Config))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClusterClient {
            layout,
            nodes: Arc::new(nodes),
            addrs: Arc::new(addrs),
        })
    }

    /// Each compute node's Flight address (`host:port`), by node number.
    pub fn addrs(&self) -> Vec<String> {
        self.addrs.as_ref().clone()
    }

    /// The cluster's layout.
    pub fn layout(&self) -> ClusterLayout {
        self.layout
    }

    fn client(&self, node: u32) -> Result<(NodeClient, &str), LeaderError> {
        let client = self
            .nodes
            .get(node as usize)
            .ok_or_else(|| LeaderError::Config(format!("no compute node {node}")))?;
        Ok((client.clone(), &self.addrs[node as usize]))
    }

    /// Runs one partition of a fragment on `node` and streams its batches.
    pub async fn run_fragment(
        &self,
        node: u32,
        ticket: FragmentTicket,
        scope: Option<Arc<QueryScope>>,
        stats: Option<Arc<crate::query_log::steps::FragmentStats>>,
    ) -> Result<BoxStream<'static, Result<RecordBatch, DataFusionError>>, LeaderError> {
        let (mut client, addr) = self.client(node)?;
        let response = client
            .do_get(Ticket {
                ticket: ticket.encode_to_vec().into(),
            })
            .await
            .map_err(|s| node_error(node, addr, s.message()))?;
        // The last message carries the fragment's scan report (STL_SCAN).
        let mut wire_bytes = 0u64;
        let messages = response.into_inner().inspect_ok(move |data| {
            wire_bytes += (data.data_header.len() + data.data_body.len()) as u64;
            if !data.app_metadata.is_empty()
                && let Ok(report) = FragmentReport::decode(data.app_metadata.clone())
            {
                if let Some(stats) = &stats {
                    if !report.steps.is_empty() {
                        stats.record(report.steps, wire_bytes);
                    }
                    stats.record_exchanges(report.exchanges);
                }
                if let Some(scope) = &scope {
                    scope.record_scans(report.scans);
                    scope.record_load(report.load_files, report.load_errors);
                }
            }
        });
        let addr = addr.to_string();
        Ok(FlightRecordBatchStream::new_from_flight_data(
            messages.map_err(|s| FlightError::Tonic(Box::new(s))),
        )
        .map_err(move |e| fragment_error(node, &addr, e))
        .boxed())
    }

    /// Writes `batches` as one staged segment of `slice` on the node holding it.
    pub async fn write_segment(
        &self,
        write: WriteSegment,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<SegmentWritten, LeaderError> {
        let node = self.layout.node_of(write.slice);
        let (client, addr) = self.client(node)?;
        blueshift_operators::route::put_segment(client, write, schema, batches)
            .await
            .map_err(|s| node_error(node, addr, s.message()))
    }

    /// Runs a Flight action on `node` and decodes its one answer as `T`.
    async fn action<T: Message + Default>(
        &self,
        node: u32,
        kind: &str,
        body: Vec<u8>,
    ) -> Result<T, LeaderError> {
        let (mut client, addr) = self.client(node)?;
        let mut stream = client
            .do_action(Action::new(kind.to_string(), body))
            .await
            .map_err(|s| node_error(node, addr, s.message()))?
            .into_inner();
        let result = stream
            .message()
            .await
            .map_err(|s| node_error(node, addr, s.message()))?
            .ok_or_else(|| node_error(node, addr, "no answer"))?;
        T::decode(result.body).map_err(|e| node_error(node, addr, e))
    }

    /// Rewrites segments of one slice on the node holding it (VACUUM).
    pub async fn rewrite_segments(
        &self,
        slice: u32,
        request: RewriteSegments,
    ) -> Result<Vec<SegmentWritten>, LeaderError> {
        let node = self.layout.node_of(slice);
        let written: SegmentsWritten = self
            .action(node, ACTION_REWRITE_SEGMENTS, request.encode_to_vec())
            .await?;
        Ok(written.segments)
    }

    /// Has `node` upload segments of its slices to a snapshot store, or download
    /// them from one (`download`).
    pub async fn transfer_segments(
        &self,
        node: u32,
        request: UploadSegments,
        download: bool,
    ) -> Result<SegmentsUploaded, LeaderError> {
        let action = if download {
            ACTION_DOWNLOAD_SEGMENTS
        } else {
            ACTION_UPLOAD_SEGMENTS
        };
        self.action(node, action, request.encode_to_vec()).await
    }

    /// The blocks of `segments` (all on slices of `node`), for STV_BLOCKLIST.
    pub async fn block_list(
        &self,
        node: u32,
        segments: Vec<SegmentOfTable>,
    ) -> Result<Vec<Block>, LeaderError> {
        let list: BlockList = self
            .action(
                node,
                ACTION_BLOCK_LIST,
                BlockListRequest { segments }.encode_to_vec(),
            )
            .await?;
        Ok(list.blocks)
    }

    /// The fragments running on every node (STV_EXEC_STATE), with their node.
    pub async fn exec_state(&self) -> Result<Vec<(u32, RunningFragment)>, LeaderError> {
        let mut running = Vec::new();
        for node in 0..self.layout.nodes {
            let state: ExecState = self.action(node, ACTION_EXEC_STATE, Vec::new()).await?;
            running.extend(state.fragments.into_iter().map(|f| (node, f)));
        }
        Ok(running)
    }

    /// Asks every node who it is; fails naming the first node that does not answer.
    pub async fn check_nodes(&self) -> Result<Vec<NodeInfo>, LeaderError> {
        let mut infos = Vec::new();
        for node in 0..self.layout.nodes {
            let addr = self.client(node)?.1;
            let info: NodeInfo = self.action(node, ACTION_NODE_INFO, Vec::new()).await?;
            if info.node != node {
                return Err(node_error(
                    node,
                    addr,
                    format!("it says it is node {}", info.node),
                ));
            }
            infos.push(info);
        }
        Ok(infos)
    }

    /// Tells every node which segments are live on its slices; the rest are removed.
    pub async fn collect_garbage(
        &self,
        live: &std::collections::BTreeMap<u32, Vec<String>>,
    ) -> Result<u64, LeaderError> {
        let mut removed = 0;
        for node in 0..self.layout.nodes {
            let first = self.layout.first_slice_of(node);
            let slices: Vec<u32> = (first..first + self.layout.slices_per_node).collect();
            let live_segments = slices
                .iter()
                .filter_map(|s| live.get(s))
                .flatten()
                .cloned()
                .collect();
            let body = CollectGarbage {
                slices,
                live_segments,
            };
            let answer: GarbageCollected = self
                .action(node, ACTION_COLLECT_GARBAGE, body.encode_to_vec())
                .await?;
            removed += answer.removed;
        }
        Ok(removed)
    }
}
