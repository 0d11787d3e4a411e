//! [`RoutedWriter`]: routes rows to their slices by the table's distribution and
//! writes each slice's rows as staged segments, a few writes at a time, while the
//! next rows are routed. The leader's INSERT and COPY FROM STDIN use it, and so does
//! a compute node loading its part of a COPY ([`crate::load::LoadWriteExec`]).
//!
//! What it writes is staged: the caller commits the segments it returns, or nobody
//! does and they are collected as garbage.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow_flight::FlightDescriptor;
use arrow_flight::encode::FlightDataEncoderBuilder;
use blueshift_proto::{SegmentWritten, WriteSegment};
use blueshift_storage::catalog::SegmentRef;
use blueshift_storage::distribution::SliceRouter;
use datafusion::error::{DataFusionError, Result};
use futures::StreamExt;
use futures::future::BoxFuture;
use prost::Message;

use crate::secret::NodeClient;

/// Rows buffered per slice before they are written as a segment (the most: see
/// [`segment_rows`]).
pub const SEGMENT_ROWS: usize = 256 * 1024;

/// At most this many segment writes of one writer run at once.
const MAX_WRITES_IN_FLIGHT: usize = 8;

/// Rows per segment for a writer that routes to `slices` slices: [`SEGMENT_ROWS`],
/// less when there are many slices, so that one writer buffers about two
/// segments' rows in all (at least 16 Ki rows per segment).
pub fn segment_rows(slices: u32) -> usize {
    (2 * SEGMENT_ROWS / slices.max(1) as usize).clamp(16 * 1024, SEGMENT_ROWS)
}

/// Writes one slice's rows as a staged segment: `None` when there were no rows.
pub type WriteFn =
    Box<dyn Fn(u32, Vec<RecordBatch>) -> BoxFuture<'static, Result<Option<SegmentRef>>> + Send>;

/// A finished write: the slice, and its segment (`None` when it had no rows).
type Written = (u32, Option<SegmentRef>);

/// Routes rows to slices and writes them as segments (see the module docs).
pub struct RoutedWriter {
    router: SliceRouter,
    write: WriteFn,
    /// Rows per segment.
    rows_per_segment: usize,
    /// Writes allowed to run at once.
    in_flight: usize,
    buffers: BTreeMap<u32, (Vec<RecordBatch>, usize)>,
    /// Running writes, oldest first.
    running: VecDeque<tokio::task::JoinHandle<Result<Written>>>,
    /// The segments written so far, per slice, in the order their rows came.
    written: BTreeMap<u32, Vec<SegmentRef>>,
}

impl RoutedWriter {
    /// A writer routing with `router` and writing with `write`, `rows_per_segment`
    /// rows per segment.
    pub fn new(router: SliceRouter, rows_per_segment: usize, write: WriteFn) -> Self {
        let slices = router.layout().slice_count() as usize;
        RoutedWriter {
            router,
            write,
            rows_per_segment,
            in_flight: slices.clamp(2, MAX_WRITES_IN_FLIGHT),
            buffers: BTreeMap::new(),
            running: VecDeque::new(),
            written: BTreeMap::new(),
        }
    }

    /// Routes `batch` (in the table's file schema); starts the writes of slices whose
    /// buffers are full, waiting for older writes first when too many run.
    pub async fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let routed = self
            .router
            .route_batch(batch)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        for (slice, part) in routed {
            let entry = self.buffers.entry(slice).or_default();
            entry.1 += part.num_rows();
            entry.0.push(part);
            if entry.1 >= self.rows_per_segment {
                let (batches, _) = self.buffers.remove(&slice).unwrap_or_default();
                self.start(slice, batches).await?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered and waits for every write; returns the segments
    /// written, per slice.
    pub async fn finish(mut self) -> Result<BTreeMap<u32, Vec<SegmentRef>>> {
        for (slice, (batches, _)) in std::mem::take(&mut self.buffers) {
            self.start(slice, batches).await?;
        }
        self.wait_until(0).await?;
        Ok(std::mem::take(&mut self.written))
    }

    async fn start(&mut self, slice: u32, batches: Vec<RecordBatch>) -> Result<()> {
        self.wait_until(self.in_flight - 1).await?;
        let write = (self.write)(slice, batches);
        self.running.push_back(tokio::spawn(async move {
            write.await.map(|segment| (slice, segment))
        }));
        Ok(())
    }

    /// Waits for the oldest writes until at most `running` are left.
    async fn wait_until(&mut self, running: usize) -> Result<()> {
        while self.running.len() > running {
            let Some(handle) = self.running.pop_front() else {
                break;
            };
            let (slice, segment) = handle
                .await
                .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))??;
            if let Some(segment) = segment {
                self.written.entry(slice).or_default().push(segment);
            }
        }
        Ok(())
    }
}

impl Drop for RoutedWriter {
    /// A writer dropped before it finished (an error, a cancel) stops its writes:
    /// nothing commits what they staged.
    fn drop(&mut self) {
        for handle in &self.running {
            handle.abort();
        }
    }
}

/// Writes `batches` (in `schema`) as one staged segment on the node `client`
/// reaches, with a Flight DoPut whose descriptor is `write`.
pub async fn put_segment(
    mut client: NodeClient,
    write: WriteSegment,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> std::result::Result<SegmentWritten, tonic::Status> {
    let descriptor = FlightDescriptor::new_cmd(write.encode_to_vec());
    let data = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_flight_descriptor(Some(descriptor))
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
        .filter_map(|r| async move { r.ok() });
    let mut response = client.do_put(data).await?.into_inner();
    let result = response
        .message()
        .await?
        .ok_or_else(|| tonic::Status::internal("no answer to a segment write"))?;
    SegmentWritten::decode(result.app_metadata)
        .map_err(|e| tonic::Status::internal(format!("bad segment write answer: {e}")))
}

/// `batch`'s columns under `schema` (a table's file schema: columns named by id),
/// cast where the types differ.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return Err(DataFusionError::Plan(format!(
            "{} columns for a table of {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        cast_columns(batch, schema)?,
    )?)
}

/// `batch`'s columns cast, where they differ, to the types of `schema`'s fields (as
/// many as there are of both).
pub fn cast_columns(batch: &RecordBatch, schema: &SchemaRef) -> Result<Vec<ArrayRef>> {
    Ok(batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(col, field)| {
            if col.data_type() == field.data_type() {
                Ok(Arc::clone(col))
            } else {
                arrow::compute::cast(col, field.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?)
}
