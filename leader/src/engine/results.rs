//! How a statement's rows reach the client: planned, executed, encoded into DataRow
//! messages as they stream, and recorded in the query log (STL_QUERY, and the steps
//! of SVL_QUERY_SUMMARY) when the stream ends.

use super::*;

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
    /// Streams `df` as rows; `guard` (the WLM slot) is held until the last row.
    pub(super) async fn rows(
        &self,
        df: DataFrame,
        format: &Format,
        guard: Option<SlotGuard>,
        interrupt: Interrupt,
        entry: Option<QueryEntry>,
    ) -> Result<Response, LeaderError> {
        let schema = client_schema(df.schema().as_arrow());
        let fields = arrow_schema_to_pg_fields(&schema, format, None)
            .map_err(|e| LeaderError::Unsupported(format!("a result column type: {e}")));
        let fields = match fields {
            Ok(f) => Arc::new(f),
            Err(e) => return record(entry, Err(e)),
        };
        let (state, logical) = df.into_parts();
        let plan = match state.create_physical_plan(&logical).await {
            Ok(p) => p,
            Err(e) => return record(entry, Err(e.into())),
        };
        let stream = match datafusion::physical_plan::execute_stream(
            Arc::clone(&plan),
            Arc::new(datafusion::execution::TaskContext::from(&state)),
        ) {
            Ok(s) => Box::pin(interrupt.guard(s)),
            Err(e) => return record(entry, Err(e.into())),
        };
        // Count the rows sent, and record how the statement ended and what its
        // steps did.
        let stream = futures::stream::unfold((stream, entry), move |(mut stream, mut entry)| {
            let plan = Arc::clone(&plan);
            async move {
                match stream.next().await {
                    Some(Ok(batch)) => {
                        if let Some(e) = entry.as_mut() {
                            e.add_rows(batch.num_rows() as u64);
                        }
                        Some((Ok(batch), (stream, entry)))
                    }
                    Some(Err(err)) => {
                        let err = LeaderError::from(err);
                        if let Some(e) = entry.take() {
                            e.record_steps(crate::planner::summary::summarize(&plan));
                            let (code, message) = crate::error::sqlstate(&err);
                            e.fail(&message, code == ErrorKind::QueryCanceled.sqlstate());
                        }
                        Some((Err(DataFusionError::from(err)), (stream, None)))
                    }
                    None => {
                        if let Some(e) = &entry {
                            e.record_steps(crate::planner::summary::summarize(&plan));
                        }
                        let _ = record(entry.take(), Ok(()));
                        None
                    }
                }
            }
        });
        let row_fields = Arc::clone(&fields);
        let rows = stream
            .map(move |batch| {
                let _held = &guard;
                let rows: Box<dyn Iterator<Item = Result<_, PgWireError>> + Send + Sync> =
                    match batch {
                        Ok(batch) => encode_recordbatch(Arc::clone(&row_fields), batch),
                        Err(e) => Box::new(std::iter::once(Err(PgWireError::from(
                            LeaderError::from(e),
                        )))),
                    };
                futures::stream::iter(rows)
            })
            .flatten();
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    pub(super) async fn batch_response(
        &self,
        batch: RecordBatch,
        format: &Format,
    ) -> Result<Response, LeaderError> {
        let df = self.ctx.read_batch(batch)?;
        self.rows(df, format, None, Interrupt::never(), None).await
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
            Err(e) => {
                let (code, message) = crate::error::sqlstate(e);
                entry.fail(&message, code == ErrorKind::QueryCanceled.sqlstate());
            }
        }
    }
    result
}
