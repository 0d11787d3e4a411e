//! [`ComputeService`]: the compute node's Arrow Flight service.
//!
//! - `DoGet` with a [`FragmentTicket`]: decode the fragment, run one partition, stream
//!   the batches back.
//! - `DoPut` whose descriptor command is a [`WriteSegment`]: write the batches as one
//!   staged segment of that slice; the single `PutResult` carries a [`SegmentWritten`].
//! - `DoAction`: [`ACTION_NODE_INFO`], [`ACTION_COLLECT_GARBAGE`],
//!   [`ACTION_REWRITE_SEGMENTS`], [`ACTION_BLOCK_LIST`], [`ACTION_EXEC_STATE`].

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use blueshift_proto::{
    ACTION_BLOCK_LIST, ACTION_COLLECT_GARBAGE, ACTION_DOWNLOAD_SEGMENTS, ACTION_EXEC_STATE,
    ACTION_NODE_INFO, ACTION_REWRITE_SEGMENTS, ACTION_UPLOAD_SEGMENTS, Block, BlockList,
    BlockListRequest, CollectGarbage, ExchangeRead, FragmentReport, FragmentTicket,
    GarbageCollected, NodeInfo, RewriteSegments, SegmentWritten, SegmentsWritten, UploadSegments,
    WriteSegment,
};
use blueshift_storage::segment::{SliceStore, SortKey};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tokio_util::task::AbortOnDropHandle;
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use crate::exchange_registry::ExchangeRegistry;
use crate::runtime::fragment_runtime;
use blueshift_operators::codec::FragmentCodec;
use blueshift_operators::error::OperatorError;
use blueshift_operators::exchange::ExchangeScope;
use blueshift_operators::load::LoadExec;
use blueshift_operators::scan::SliceScanExec;
use blueshift_operators::secret::ClusterSecret;

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The Flight service of one compute node.
pub struct ComputeService {
    node: u32,
    store: SliceStore,
    codec: FragmentCodec,
    ctx: SessionContext,
    running: Arc<crate::running::Running>,
    exchanges: Arc<ExchangeRegistry>,
}

impl ComputeService {
    /// A service for node `node` over `store`.
    /// Its queries run in `runtime` (where they spill).
    pub fn new(
        node: u32,
        store: SliceStore,
        secret: ClusterSecret,
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Self {
        let running: Arc<crate::running::Running> = Arc::default();
        let exchanges = ExchangeRegistry::new(Arc::clone(&running));
        let codec = FragmentCodec::with_store(node, store.clone(), secret).with_exchanges(
            node,
            Arc::downgrade(&exchanges)
                as std::sync::Weak<dyn blueshift_operators::exchange::LocalExchanges>,
        );
        let ctx = SessionContext::new_with_config_rt(Default::default(), runtime);
        blueshift_operators::functions::register(&ctx);
        let producer_codec = codec.clone();
        let producer_ctx = ctx.clone();
        exchanges.set_decoder(Box::new(move |bytes, scope| {
            let task_ctx = task_context(&producer_ctx, scope)?;
            let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
                bytes,
                &task_ctx,
                &producer_codec,
            )?;
            let task_ctx = blueshift_operators::spill::share_sort_memory(
                task_ctx,
                &plan,
                scope.memory_bytes,
                false,
            );
            Ok((plan, task_ctx))
        }));
        ComputeService {
            node,
            codec,
            store,
            ctx,
            running,
            exchanges,
        }
    }
}

/// The context a fragment of `scope`'s query runs in: with a memory pool of its
/// `memory_bytes` (spilling to this node's temporary files past it), or unbounded
/// for 0; the scope rides along for the fragment's exchanges.
fn task_context(
    ctx: &SessionContext,
    scope: ExchangeScope,
) -> datafusion::error::Result<Arc<datafusion::execution::TaskContext>> {
    let mut config = ctx.state().config().clone().with_extension(Arc::new(scope));
    let memory_bytes = scope.memory_bytes;
    let mut state = datafusion::execution::SessionStateBuilder::new_from_existing(ctx.state());
    if memory_bytes > 0 {
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::from_runtime_env(
            ctx.task_ctx().runtime_env().as_ref(),
        )
        .with_memory_pool(Arc::new(
            datafusion::execution::memory_pool::FairSpillPool::new(memory_bytes as usize),
        ))
        .build_arc()?;
        // A sort keeps this much back to merge its spill files: a share of the budget.
        let options = config.options_mut();
        options.execution.sort_spill_reservation_bytes = options
            .execution
            .sort_spill_reservation_bytes
            .min(memory_bytes as usize / 4);
        state = state.with_runtime_env(runtime);
    }
    Ok(state.with_config(config).build().task_ctx())
}

/// The blocks of the segments in `request` (STV_BLOCKLIST).
fn block_list(
    store: &SliceStore,
    request: BlockListRequest,
) -> Result<BlockList, blueshift_storage::StorageError> {
    let mut blocks = Vec::new();
    for seg in request.segments {
        for block in store.blocks(seg.slice, &seg.segment)? {
            let Some(column_id) = block
                .column
                .strip_prefix('c')
                .and_then(|id| id.parse::<u32>().ok())
            else {
                continue;
            };
            blocks.push(Block {
                table_id: seg.table_id,
                slice: seg.slice,
                segment: seg.segment.clone(),
                column_id,
                row_group: block.row_group as u32,
                num_values: block.num_values,
                min_value: block.min,
                max_value: block.max,
                bytes: block.bytes,
            });
        }
    }
    Ok(BlockList { blocks })
}

/// The status of a failed fragment: its kind and message in the detail, for the
/// leader (a segment that could not be read is logged here too).
fn fragment_status(e: &datafusion::error::DataFusionError) -> Status {
    if let datafusion::error::DataFusionError::External(inner) = e.find_root()
        && let Some(read @ OperatorError::SegmentRead { .. }) =
            inner.downcast_ref::<OperatorError>()
    {
        warn!("{read}");
    }
    blueshift_operators::error::status_of(e)
}

fn internal(what: &str, e: impl std::fmt::Display) -> Status {
    warn!("{what}: {e}");
    Status::internal(format!("{what}: {e}"))
}

fn unsupported<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not served by a Blueshift compute node"
    )))
}

#[tonic::async_trait]
impl FlightService for ComputeService {
    type HandshakeStream = BoxedStream<HandshakeResponse>;
    type ListFlightsStream = BoxedStream<FlightInfo>;
    type DoGetStream = BoxedStream<FlightData>;
    type DoPutStream = BoxedStream<PutResult>;
    type DoExchangeStream = BoxedStream<FlightData>;
    type DoActionStream = BoxedStream<arrow_flight::Result>;
    type ListActionsStream = BoxedStream<ActionType>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket = FragmentTicket::decode(request.into_inner().ticket)
            .map_err(|e| Status::invalid_argument(format!("bad fragment ticket: {e}")))?;
        let scope = ExchangeScope {
            query_id: ticket.query_id,
            memory_bytes: ticket.memory_bytes,
        };
        if let Some(read) = &ticket.exchange {
            return self.exchange_rows(scope, &ticket.plan, read);
        }
        let task_ctx =
            task_context(&self.ctx, scope).map_err(|e| internal("fragment memory pool", e))?;
        let mut broadcasts = blueshift_operators::codec::LeaderRowsData::new();
        for rows in &ticket.leader_rows {
            let decoded = blueshift_operators::delivery::decode(rows.ipc.clone())
                .map_err(|e| Status::invalid_argument(format!("bad broadcast rows: {e}")))?;
            broadcasts.insert(rows.id, decoded);
        }
        let plan = datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(
            &ticket.plan,
            &task_ctx,
            &self.codec.with_leader_rows(broadcasts),
        )
        .map_err(|e| Status::invalid_argument(format!("bad fragment: {e}")))?;
        let task_ctx = blueshift_operators::spill::share_sort_memory(
            task_ctx,
            &plan,
            scope.memory_bytes,
            false,
        );
        let partition = ticket.partition as usize;
        let partitions = plan.properties().partitioning.partition_count();
        if partition >= partitions {
            return Err(Status::invalid_argument(format!(
                "fragment has {partitions} partitions, asked for {partition}"
            )));
        }
        let registration = self.running.register(ticket.query_id, &plan, partition);
        let schema = plan.schema();
        let batches = run_on_cpu_pool(Arc::clone(&plan), partition, task_ctx, registration)?
            .map_err(|e| FlightError::Tonic(Box::new(fragment_status(&e))));
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(|e| match e {
                FlightError::Tonic(status) => *status,
                other => Status::internal(other.to_string()),
            });
        Ok(Response::new(Box::pin(with_report(encoded, plan))))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let mut input = request.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty DoPut"))?;
        let descriptor = first
            .flight_descriptor
            .clone()
            .ok_or_else(|| Status::invalid_argument("DoPut without a descriptor"))?;
        let write = WriteSegment::decode(descriptor.cmd)
            .map_err(|e| Status::invalid_argument(format!("bad WriteSegment: {e}")))?;
        let rest: BoxStream<'static, Result<FlightData, FlightError>> =
            futures::stream::once(async { Ok(first) })
                .chain(input.map_err(|s| FlightError::Tonic(Box::new(s))))
                .boxed();
        let mut decoder = FlightRecordBatchStream::new_from_flight_data(rest);
        let mut batches = Vec::new();
        while let Some(batch) = decoder.next().await {
            batches.push(batch.map_err(|e| Status::invalid_argument(e.to_string()))?);
        }
        let schema = match (decoder.schema(), batches.first()) {
            (Some(s), _) => Arc::clone(s),
            (None, Some(b)) => b.schema(),
            (None, None) => return Err(Status::invalid_argument("DoPut without a schema")),
        };
        let store = self.store.clone();
        let sort = SortKey {
            columns: write.sort_columns.iter().map(|&c| c as usize).collect(),
            interleaved: write.interleaved,
        };
        let slice = write.slice;
        let written = tokio::task::spawn_blocking(move || {
            store.write_segment(slice, schema, &batches, &sort)
        })
        .await
        .map_err(|e| internal("segment writer", e))?
        .map_err(|e| internal("segment writer", e))?;
        let answer = match written {
            Some(s) => SegmentWritten {
                name: s.name,
                rows: s.rows,
                bytes: s.bytes,
            },
            None => SegmentWritten::default(),
        };
        let result = PutResult {
            app_metadata: answer.encode_to_vec().into(),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(result)
        }))))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            ACTION_NODE_INFO => NodeInfo {
                node: self.node,
                version: env!("CARGO_PKG_VERSION").to_string(),
            }
            .encode_to_vec(),
            ACTION_COLLECT_GARBAGE => {
                let gc = CollectGarbage::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let store = self.store.clone();
                let removed = tokio::task::spawn_blocking(move || {
                    store.collect_garbage(&gc.slices, &gc.live_segments)
                })
                .await
                .map_err(|e| internal("garbage collection", e))?
                .map_err(|e| internal("garbage collection", e))?;
                GarbageCollected {
                    removed: removed as u64,
                }
                .encode_to_vec()
            }
            ACTION_REWRITE_SEGMENTS => {
                let request = RewriteSegments::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let segments = crate::rewrite::rewrite_segments(
                    self.store.clone(),
                    &self.codec,
                    request,
                    self.ctx.task_ctx(),
                )
                .await
                .map_err(|e| internal("segment rewrite", e))?;
                SegmentsWritten { segments }.encode_to_vec()
            }
            ACTION_BLOCK_LIST => {
                let request = BlockListRequest::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let store = self.store.clone();
                tokio::task::spawn_blocking(move || block_list(&store, request))
                    .await
                    .map_err(|e| internal("block list", e))?
                    .map_err(|e| internal("block list", e))?
                    .encode_to_vec()
            }
            ACTION_EXEC_STATE => self.running.state().encode_to_vec(),
            ACTION_UPLOAD_SEGMENTS | ACTION_DOWNLOAD_SEGMENTS => {
                let request = UploadSegments::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                let download = action.r#type == ACTION_DOWNLOAD_SEGMENTS;
                crate::snapshot::transfer(&self.store, request, download)
                    .await
                    .map_err(|e| internal("snapshot transfer", e))?
                    .encode_to_vec()
            }
            other => return unsupported(&format!("action {other}")),
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(result)
        }))))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }
}

impl ComputeService {
    /// One reader's share of an exchange this node produces rows for; the scans'
    /// reports go with reader 0's.
    fn exchange_rows(
        &self,
        scope: ExchangeScope,
        plan: &[u8],
        read: &ExchangeRead,
    ) -> Result<Response<BoxedStream<FlightData>>, Status> {
        blueshift_operators::exchange::check_read(read)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let opened = self
            .exchanges
            .open(scope, plan, read)
            .map_err(|e| fragment_status(&e))?;
        let batches = tokio_stream::wrappers::ReceiverStream::new(opened.rows)
            .map_err(|e| FlightError::Tonic(Box::new(fragment_status(&e))));
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(opened.schema)
            .build(batches)
            .map_err(|e| match e {
                FlightError::Tonic(status) => *status,
                other => Status::internal(other.to_string()),
            });
        Ok(Response::new(match opened.report {
            Some(report) => Box::pin(with_metadata(encoded, || None, report)),
            None => Box::pin(encoded),
        }))
    }
}

/// Partition `partition` of `plan`, executed on the fragment runtime; its batches come back
/// through a channel of two. Dropping the stream (the leader dropped the call)
/// stops the execution. The fragment is listed as running (`registration`) until
/// its execution ends.
fn run_on_cpu_pool(
    plan: Arc<dyn ExecutionPlan>,
    partition: usize,
    task_ctx: Arc<datafusion::execution::TaskContext>,
    registration: crate::running::Registration,
) -> Result<
    impl Stream<Item = datafusion::error::Result<arrow::array::RecordBatch>> + Send + 'static,
    Status,
> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let task = fragment_runtime()
        .map_err(|e| internal("starting the fragment threads", e))?
        .spawn(async move {
            let _running = registration;
            let mut stream = match plan.execute(partition, task_ctx) {
                Ok(stream) => stream,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
    let abort = AbortOnDropHandle::new(task);
    Ok(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(move |item| {
            let _task = &abort;
            item
        }),
    )
}

/// `messages`, with the fragment's [`FragmentReport`] as the `app_metadata` of the
/// last one: each message is held back until the next arrives, and the last is sent
/// once the scan has finished.
fn with_report(
    messages: impl Stream<Item = Result<FlightData, Status>> + Send + 'static,
    plan: Arc<dyn ExecutionPlan>,
) -> impl Stream<Item = Result<FlightData, Status>> + Send + 'static {
    let progress_plan = Arc::clone(&plan);
    with_metadata(
        messages,
        // A load's progress rides on every message (STV_LOAD_STATE).
        move || {
            LoadExec::find(&progress_plan).map(|load| FragmentReport {
                load_files: load.files(),
                ..FragmentReport::default()
            })
        },
        move || {
            // The scans of the fragments whose rows came through its exchanges
            // too: the leader sees only this fragment.
            let scans = SliceScanExec::find_all(&plan)
                .into_iter()
                .map(SliceScanExec::report)
                .chain(
                    blueshift_operators::exchange::ExchangeExec::find_all(&plan)
                        .into_iter()
                        .flat_map(blueshift_operators::exchange::ExchangeExec::producer_scans),
                )
                .collect();
            let load = LoadExec::find(&plan);
            FragmentReport {
                scans,
                load_files: load.map(LoadExec::files).unwrap_or_default(),
                load_errors: load.map(LoadExec::errors).unwrap_or_default(),
                steps: blueshift_operators::steps::step_stats(&plan),
                exchanges: blueshift_operators::exchange::exchange_steps(&plan),
            }
        },
    )
}

/// `messages`, each with `progress()`'s report (if any) as its `app_metadata`, but
/// the last, which carries `last()`'s: each message is held back until the next
/// arrives, and the last is sent once the stream has ended.
fn with_metadata(
    messages: impl Stream<Item = Result<FlightData, Status>> + Send + 'static,
    progress: impl Fn() -> Option<FragmentReport> + Send + 'static,
    last: impl FnOnce() -> FragmentReport + Send + 'static,
) -> impl Stream<Item = Result<FlightData, Status>> + Send + 'static {
    let messages = messages
        .map(Some)
        .chain(futures::stream::once(async { None }));
    let mut last = Some(last);
    messages
        .scan(None::<FlightData>, move |held, next| {
            let out = match next {
                Some(Ok(data)) => held.replace(data).map(|mut data| {
                    if let Some(report) = progress() {
                        data.app_metadata = report.encode_to_vec().into();
                    }
                    Ok(data)
                }),
                Some(Err(e)) => {
                    // An error ends the stream; what was held goes first.
                    return futures::future::ready(Some(vec![held.take().map(Ok), Some(Err(e))]));
                }
                None => held.take().map(|mut data| {
                    if let Some(last) = last.take() {
                        data.app_metadata = last().encode_to_vec().into();
                    }
                    Ok(data)
                }),
            };
            futures::future::ready(Some(vec![out]))
        })
        .flat_map(|items| futures::stream::iter(items.into_iter().flatten()))
}

#[cfg(test)]
mod tests {
    use blueshift_proto::ErrorKind;
    use blueshift_storage::StorageError;
    use datafusion::error::DataFusionError;
    use tonic::Code;

    use super::*;

    #[test]
    fn fragment_errors_keep_their_kind() {
        let kind = |e: Box<dyn std::error::Error + Send + Sync>| {
            blueshift_operators::error::detail_of(&fragment_status(&DataFusionError::External(e)))
                .map(|(k, _)| k)
        };
        let denied = || StorageError::AccessDenied {
            url: "s3://b/k".into(),
            reason: "bad key".into(),
        };
        assert_eq!(
            kind(Box::new(denied())),
            Some(ErrorKind::InsufficientPrivilege)
        );
        // UNLOAD's errors, as UnloadExec raises them on a compute node.
        assert_eq!(
            kind(Box::new(OperatorError::Store(denied()))),
            Some(ErrorKind::InsufficientPrivilege)
        );
        assert_eq!(
            kind(Box::new(OperatorError::Store(
                StorageError::ObjectNotFound {
                    url: "s3://missing/".into()
                }
            ))),
            Some(ErrorKind::UndefinedFile)
        );
        assert_eq!(
            kind(Box::new(OperatorError::Encode("disk full".into()))),
            Some(ErrorKind::IoError)
        );
        let boom = fragment_status(&DataFusionError::Execution("boom".into()));
        assert_eq!(boom.code(), Code::Internal);
        assert_eq!(
            blueshift_operators::error::detail_of(&boom),
            Some((
                ErrorKind::InternalError,
                "Execution error: boom".to_string()
            ))
        );
        let lost = fragment_status(&DataFusionError::ArrowError(
            Box::new(arrow::error::ArrowError::DivideByZero),
            None,
        ));
        assert_eq!(
            blueshift_operators::error::detail_of(&lost).map(|(k, _)| k),
            Some(ErrorKind::DivisionByZero)
        );
    }
}
