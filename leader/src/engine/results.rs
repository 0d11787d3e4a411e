//! How a statement's rows leave the engine: planned, started on the cluster, and
//! handed over as [`Rows`], which record the statement in the query log (STL_QUERY,
//! and the steps of SVL_QUERY_SUMMARY) when they end.

use super::outcome::{Rows, record_failure};
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
        let plan = match state.create_physical_plan(&logical).await {
            Ok(p) => p,
            Err(e) => return record(entry, Err(e.into())),
        };
        let stream = match datafusion::physical_plan::execute_stream(
            Arc::clone(&plan),
            Arc::new(datafusion::execution::TaskContext::from(&state)),
        ) {
            Ok(s) => interrupt.guard(s),
            Err(e) => return record(entry, Err(e.into())),
        };
        Ok(Outcome::Rows(Rows::new(
            schema,
            stream.boxed(),
            Some(plan),
            entry,
            guard,
        )))
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
