//! Segment rewrites for VACUUM: read some segments of one slice without their deleted
//! rows, merge them in sort-key order (each segment is sorted already, so a streaming
//! k-way merge does it), and write the rows back as new segments of a bounded size.
//! Memory holds one new segment's rows plus a batch per input segment.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use blueshift_proto::{RewriteSegments, SegmentWritten};
use blueshift_storage::segment::{
    ENCODING_METADATA_KEY, SORT_OPTIONS, SliceStore, SortKey, file_column_name,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use futures::StreamExt;

use blueshift_operators::codec::FragmentCodec;

/// Runs one rewrite; returns the new segments in order.
pub async fn rewrite_segments(
    store: SliceStore,
    codec: &FragmentCodec,
    request: RewriteSegments,
    ctx: Arc<TaskContext>,
) -> Result<Vec<SegmentWritten>> {
    let node = request
        .scan
        .ok_or_else(|| DataFusionError::Plan("a rewrite names no segments".into()))?;
    let scan = Arc::new(codec.decode_scan(node, &ctx)?);
    // New segments name their columns by id, like every segment.
    let schema = Arc::new(Schema::new(
        scan.table_schema
            .fields()
            .iter()
            .zip(&scan.column_ids)
            .enumerate()
            .map(|(i, (f, &id))| {
                let field = f.as_ref().clone().with_name(file_column_name(id));
                match request.encodings.get(i).filter(|e| !e.is_empty()) {
                    Some(e) => {
                        field.with_metadata([(ENCODING_METADATA_KEY.to_string(), e.clone())].into())
                    }
                    None => field,
                }
            })
            .collect::<Vec<_>>(),
    ));
    let slice = scan.slice_of(0).unwrap_or_default();
    let sort = SortKey {
        columns: request.sort_columns.iter().map(|&c| c as usize).collect(),
        interleaved: request.interleaved,
    };
    // A compound key merges the sorted segments; an interleaved one concatenates them
    // and z-orders each new segment.
    let merge_by: &[usize] = if sort.interleaved { &[] } else { &sort.columns };
    let ordering = LexOrdering::new(merge_by.iter().filter_map(|&c| {
        let field = scan.table_schema.fields().get(c)?;
        Some(PhysicalSortExpr::new(
            Arc::new(Column::new(field.name(), c)),
            SORT_OPTIONS,
        ))
    }));
    // Merged by the sort key, or (no sort key) concatenated in segment order: either
    // way the same input gives the same segments, so the copies of a DISTSTYLE ALL
    // table stay identical.
    let mut stream: SendableRecordBatchStream = match ordering {
        Some(ordering) => execute_stream(
            Arc::new(SortPreservingMergeExec::new(ordering, scan)),
            Arc::clone(&ctx),
        )?,
        None => {
            let partitions = scan.properties().partitioning.partition_count();
            let output = scan.schema();
            let ctx = Arc::clone(&ctx);
            let batches = futures::stream::iter(0..partitions)
                .map(move |p| scan.execute(p, Arc::clone(&ctx)))
                .map(|stream| match stream {
                    Ok(s) => s.boxed(),
                    Err(e) => futures::stream::once(async { Err(e) }).boxed(),
                })
                .flatten();
            Box::pin(RecordBatchStreamAdapter::new(output, batches))
        }
    };
    let segment_rows = request.segment_rows.max(1) as usize;
    let mut written = Vec::new();
    let mut buffer = Vec::new();
    let mut buffered = 0usize;
    loop {
        let next = stream.next().await.transpose()?;
        let done = next.is_none();
        if let Some(batch) = next {
            buffered += batch.num_rows();
            buffer.push(RecordBatch::try_new(
                Arc::clone(&schema),
                batch.columns().to_vec(),
            )?);
        }
        if buffered >= segment_rows || (done && buffered > 0) {
            let batches = std::mem::take(&mut buffer);
            buffered = 0;
            let (store, schema, sort) = (store.clone(), Arc::clone(&schema), sort.clone());
            let segment = tokio::task::spawn_blocking(move || {
                store.write_segment(slice, schema, &batches, &sort)
            })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
            if let Some(s) = segment {
                written.push(SegmentWritten {
                    name: s.name,
                    rows: s.rows,
                    bytes: s.bytes,
                });
            }
        }
        if done {
            return Ok(written);
        }
    }
}
