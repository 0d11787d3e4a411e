//! How a statement's rows leave the engine: planned, started on the cluster, and
//! handed over as [`Rows`], which record the statement in the query log (STL_QUERY,
//! and the steps of SVL_QUERY_SUMMARY) when they end.

use super::outcome::{Rows, RunningPlan, record_failure};
use super::*;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::stream::BoxStream;

pub(super) fn one_column(name: &str, values: Vec<String>) -> Result<RecordBatch, LeaderError> {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values))])
        .map_err(|e| LeaderError::DataFusion(e.into()))
}

/// A plan returning `lines` as one text column named `column`.
pub(super) fn text_result(column: &str, lines: Vec<String>) -> Result<LogicalPlan, LeaderError> {
    use datafusion::logical_expr::{LogicalPlanBuilder, lit};
    let values: Vec<Vec<datafusion::logical_expr::Expr>> =
        lines.into_iter().map(|l| vec![lit(l)]).collect();
    Ok(LogicalPlanBuilder::values(values)?
        .project(vec![datafusion::prelude::col("column1").alias(column)])?
        .build()?)
}

impl Engine {
    /// Starts `df` and hands over its rows; `guard` (the WLM slot) is held until the
    /// rows are dropped.
    pub(super) async fn rows(
        &self,
        df: DataFrame,
        guard: Option<SlotGuard>,
        interrupt: Interrupt,
        entry: Option<QueryEntry>,
    ) -> Result<Outcome, LeaderError> {
        let schema = Arc::new(client_schema(df.schema().as_arrow()));
        let (state, logical) = df.into_parts();
        let query = entry.as_ref().map_or(0, QueryEntry::query_id);
        let (running, stream) = match start_spilling(state, logical, query).await {
            Ok(started) => started,
            Err(e) => return record(entry, Err(e)),
        };
        Ok(Outcome::Rows(Rows::new(
            schema,
            interrupt.guard(stream).boxed(),
            Some(running),
            entry,
            guard,
        )))
    }

    /// INSERT ... VALUES / SELECT: its rows written, and how many.
    pub(super) async fn insert(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        params: Option<&ParamValues>,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let plan = bound(plan, params)?;
        let (state, _guard) = self.admit(session, StatementKind::Insert).await?;
        let query = session.current_query().unwrap_or(0);
        let batches = interrupt
            .run(async {
                let (_, stream) = start_spilling(state, plan, query).await?;
                Ok(futures::TryStreamExt::try_collect::<Vec<_>>(stream).await?)
            })
            .await?;
        let rows = batches
            .first()
            .and_then(|b| b.column_by_name("count"))
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::UInt64Array>())
            .map_or(0, |a| a.value(0));
        Ok(Outcome::inserted(rows))
    }

    /// One batch the engine made itself (SHOW), as rows.
    pub(super) async fn batch_rows(&self, batch: RecordBatch) -> Result<Outcome, LeaderError> {
        let df = self.ctx.read_batch(batch)?;
        self.rows(df, None, Interrupt::never(), None).await
    }
}

/// Records a finished statement's outcome in its query log entry, if it has one.
pub(super) fn record<T>(
    entry: Option<QueryEntry>,
    result: Result<T, LeaderError>,
) -> Result<T, LeaderError> {
    if let Some(entry) = entry {
        match &result {
            Ok(_) => entry.succeed(),
            Err(e) => record_failure(entry, e),
        }
    }
    result
}

/// `plan` with the values of its parameters `$1, $2, ...`, if it has any.
pub(super) fn bound(
    plan: &LogicalPlan,
    params: Option<&ParamValues>,
) -> Result<LogicalPlan, LeaderError> {
    Ok(match params {
        Some(p) => plan.clone().replace_params_with_values(p)?,
        None => plan.clone(),
    })
}

/// `logical` planned and started in `state`, with its plan. A hash join that
/// outgrows the statement's memory before its first batch comes out (a query's first
/// row, or the end of an INSERT or CREATE TABLE AS, which commit nothing until then)
/// makes the statement run again, planned with merge joins, which spill.
pub(super) async fn start_spilling(
    state: SessionState,
    logical: LogicalPlan,
    query: u64,
) -> Result<(RunningPlan, SendableRecordBatchStream), LeaderError> {
    let (plan, stream) = start(&state, &logical).await?;
    let schema = stream.schema();
    let running = RunningPlan::new(plan);
    let again = {
        let running = running.clone();
        move |attempt: u32| {
            let (state, logical, running) = (state.clone(), logical.clone(), running.clone());
            async move {
                tracing::info!(
                    query,
                    attempt,
                    "a hash join ran out of the query's memory: planned again with merge joins"
                );
                let (plan, stream) = start(&with_merge_joins(&state, attempt), &logical).await?;
                running.replace(plan);
                Ok(stream)
            }
        }
    };
    let stream = retry_on_join_memory(stream, again);
    Ok((
        running,
        Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, stream)),
    ))
}

/// `logical` planned and started in `state`.
async fn start(
    state: &SessionState,
    logical: &LogicalPlan,
) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream), LeaderError> {
    let plan = state.create_physical_plan(logical).await?;
    let budget = state
        .config()
        .get_extension::<QueryScope>()
        .map_or(0, |s| s.memory_bytes);
    let context = blueshift_operators::spill::share_sort_memory(
        Arc::new(datafusion::execution::TaskContext::from(state)),
        &plan,
        budget,
        true,
    );
    let stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), context)?;
    Ok((plan, stream))
}

/// `state` planning joins as sort-merge joins: at the first `attempt`, those whose
/// build side is not estimated at under an eighth of a slice's share of the memory;
/// at the next, all of them.
fn with_merge_joins(state: &SessionState, attempt: u32) -> SessionState {
    let mut config = state.config().clone();
    let budget = config
        .get_extension::<QueryScope>()
        .map_or(0, |s| s.memory_bytes);
    let slices = config.options().execution.target_partitions.max(1) as u64;
    let keep_hash_below_bytes = if attempt <= 1 { budget / slices / 8 } else { 0 };
    config
        .options_mut()
        .extensions
        .insert(crate::planner::merge_join::JoinOptions {
            merge_joins: true,
            keep_hash_below_bytes,
        });
    SessionStateBuilder::new_from_existing(state.clone())
        .with_config(config)
        .build()
}

/// Whether `err` is a reason to plan the statement again after `attempts` attempts:
/// a hash join's build side outgrowing the query's memory (on the leader or, as the
/// node's message, on a compute node); after an attempt that kept some hash joins,
/// any step running out of memory (the hash joins it kept leave the sorts too little).
fn plan_again_for(err: &DataFusionError, attempts: u32) -> bool {
    let text = err.to_string();
    text.contains("HashJoinInput")
        || (attempts > 0
            && (text.contains("Failed to allocate") || text.contains("out of memory in")))
}

/// How many times a statement is planned again for its hash joins' memory.
const MERGE_JOIN_ATTEMPTS: u32 = 2;

/// The rows of `first`; or, while its first item is a memory error
/// ([`plan_again_for`]), the rows of the stream `again(attempt)` starts (attempts 1
/// and 2). Once a batch has gone out, errors pass.
fn retry_on_join_memory<F, Fut>(
    first: SendableRecordBatchStream,
    again: F,
) -> BoxStream<'static, Result<RecordBatch, DataFusionError>>
where
    F: Fn(u32) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<SendableRecordBatchStream, LeaderError>> + Send,
{
    enum State<F> {
        First(SendableRecordBatchStream, F, u32),
        Then(SendableRecordBatchStream),
        Done,
    }
    futures::stream::unfold(State::First(first, again, 0), |state| async move {
        let (mut stream, again, mut attempt) = match state {
            State::First(stream, again, attempt) => (stream, again, attempt),
            State::Then(mut stream) => {
                let item = stream.next().await?;
                return Some((item, State::Then(stream)));
            }
            State::Done => return None,
        };
        loop {
            match stream.next().await {
                Some(Err(e)) if plan_again_for(&e, attempt) && attempt < MERGE_JOIN_ATTEMPTS => {
                    // The attempt's memory goes back before the next starts.
                    drop(stream);
                    attempt += 1;
                    match again(attempt).await {
                        Ok(next) => stream = next,
                        Err(e) => return Some((Err(e.into()), State::Done)),
                    }
                }
                Some(item) => return Some((item, State::Then(stream))),
                None => return None,
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn stream_of(items: Vec<Result<RecordBatch, DataFusionError>>) -> SendableRecordBatchStream {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, false)]));
        Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(items),
            ),
        )
    }

    fn out_of_memory(consumer: &str) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "Failed to allocate additional 1.0 MB for {consumer}[0] with 0.0 B already \
             allocated for this reservation - 0.0 B remain available for the total memory \
             pool: fair(pool_size: 1.0 MB)"
        ))
    }

    #[tokio::test]
    async fn memory_errors_before_the_first_batch_plan_again() -> Result<(), LeaderError> {
        let batch = one_column("a", vec!["x".into()])?;
        let calls = Arc::new(AtomicU32::new(0));
        let again = {
            let (calls, batch) = (Arc::clone(&calls), batch.clone());
            move |attempt: u32| {
                calls.fetch_add(1, Ordering::SeqCst);
                let batch = batch.clone();
                async move {
                    Ok(match attempt {
                        // Keeping some hash joins left a sort too little.
                        1 => stream_of(vec![Err(out_of_memory("ExternalSorterMerge"))]),
                        _ => stream_of(vec![Ok(batch)]),
                    })
                }
            }
        };
        let first = stream_of(vec![Err(out_of_memory("HashJoinInput"))]);
        let rows: Vec<_> = retry_on_join_memory(first, again).collect().await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is_ok());

        // A sort's error before any attempt is not a hash join's: it passes.
        let first = stream_of(vec![Err(out_of_memory("ExternalSorterMerge"))]);
        let never = |_: u32| async { Err::<SendableRecordBatchStream, _>(LeaderError::Cancelled) };
        let rows: Vec<_> = retry_on_join_memory(first, never).collect().await;
        assert!(matches!(rows.as_slice(), [Err(_)]));

        // After a batch went out, a hash join's error passes too.
        let first = stream_of(vec![Ok(batch), Err(out_of_memory("HashJoinInput"))]);
        let rows: Vec<_> = retry_on_join_memory(first, never).collect().await;
        assert!(matches!(rows.as_slice(), [Ok(_), Err(_)]));
        Ok(())
    }
}
