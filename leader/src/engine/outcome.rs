//! What a statement answers, in the engine's own terms: nothing, a command tag, rows
//! as a stream of Arrow batches, or a request for COPY data. The front end turns an
//! [`Outcome`] into protocol messages; the engine knows nothing of the wire.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::admission::SlotGuard;
use crate::error::{ErrorKind, LeaderError};
use crate::query_log::QueryEntry;

/// How a statement ended.
#[derive(Debug)]
pub enum Outcome {
    /// An empty statement (only whitespace or comments).
    Empty,
    /// A command without rows, answered by its tag (`CREATE TABLE`, `DELETE 3`).
    Done(Completion),
    /// A transaction block began (`BEGIN`).
    Began(Completion),
    /// A transaction block ended (`COMMIT`, `ROLLBACK`).
    Ended(Completion),
    /// Rows, streamed.
    Rows(Rows),
    /// COPY FROM STDIN waits for the client's data, in text format, for `columns`
    /// columns; the statement ends when the data does.
    CopyIn { columns: usize },
}

/// A command's tag: its name, and the rows it touched where the command reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub name: &'static str,
    /// The oid field of `INSERT oid rows` (always 0, as in PostgreSQL 12 and later).
    pub oid: Option<u32>,
    pub rows: Option<u64>,
}

impl Outcome {
    /// A command that reports no row count.
    pub(crate) fn done(name: &'static str) -> Self {
        Outcome::Done(Completion {
            name,
            oid: None,
            rows: None,
        })
    }

    /// A command that reports how many rows it touched.
    pub(crate) fn done_rows(name: &'static str, rows: u64) -> Self {
        Outcome::Done(Completion {
            name,
            oid: None,
            rows: Some(rows),
        })
    }

    /// `INSERT 0 rows`.
    pub(crate) fn inserted(rows: u64) -> Self {
        Outcome::Done(Completion {
            name: "INSERT",
            oid: Some(0),
            rows: Some(rows),
        })
    }

    pub(crate) fn began(name: &'static str) -> Self {
        Outcome::Began(Completion {
            name,
            oid: None,
            rows: None,
        })
    }

    pub(crate) fn ended(name: &'static str) -> Self {
        Outcome::Ended(Completion {
            name,
            oid: None,
            rows: None,
        })
    }
}

/// Records a failed statement in its query log entry.
pub(super) fn record_failure(entry: QueryEntry, err: &LeaderError) {
    let (code, message) = crate::error::sqlstate(err);
    entry.fail(&message, code == ErrorKind::QueryCanceled.sqlstate());
}

/// A statement's rows: their columns, and a stream started on the cluster. The
/// statement's query log entry and WLM slot go with the stream: the entry records
/// how the statement ended when the stream does (or when it is dropped unread).
pub struct Rows {
    schema: SchemaRef,
    stream: BoxStream<'static, Result<RecordBatch, DataFusionError>>,
    plan: Option<RunningPlan>,
    entry: Option<QueryEntry>,
    guard: Option<SlotGuard>,
}

/// The plan a statement's rows come from: the one it started with, or the one it
/// was planned again with.
#[derive(Clone, Debug)]
pub struct RunningPlan(Arc<std::sync::Mutex<Arc<dyn ExecutionPlan>>>);

impl RunningPlan {
    pub fn new(plan: Arc<dyn ExecutionPlan>) -> Self {
        RunningPlan(Arc::new(std::sync::Mutex::new(plan)))
    }

    /// The plan now.
    pub fn get(&self) -> Arc<dyn ExecutionPlan> {
        Arc::clone(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `plan` from now on.
    pub fn replace(&self, plan: Arc<dyn ExecutionPlan>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("schema", &self.schema)
            .finish()
    }
}

impl Rows {
    pub(super) fn new(
        schema: SchemaRef,
        stream: BoxStream<'static, Result<RecordBatch, DataFusionError>>,
        plan: Option<RunningPlan>,
        entry: Option<QueryEntry>,
        guard: Option<SlotGuard>,
    ) -> Self {
        Rows {
            schema,
            stream,
            plan,
            entry,
            guard,
        }
    }

    /// The columns, with the names the client sees.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Gives up on the rows before reading any (the front end cannot send a column
    /// of this type): the statement fails with `err`, recorded in the query log.
    pub fn refuse(self, err: LeaderError) -> LeaderError {
        if let Some(entry) = self.entry {
            record_failure(entry, &err);
        }
        err
    }

    /// The rows read to their end and held in memory: the statement ends (in the
    /// query log too) and releases its WLM slot now. The front end does this for
    /// each statement of a query string but the last, so the string's statements
    /// run one after another: with every earlier statement's rows still to read
    /// (and its slot held), a string of more queries than there are slots would
    /// wait for a slot forever.
    pub async fn buffered(self) -> Result<Rows, LeaderError> {
        let schema = Arc::clone(&self.schema);
        let batches: Vec<RecordBatch> = self.into_stream().try_collect().await?;
        Ok(Rows::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
            None,
            None,
            None,
        ))
    }

    /// The rows, batch by batch. Each batch counts in the query log; the end of the
    /// stream (or its first error) records how the statement ended and what its
    /// steps did; the WLM slot is released when the stream is dropped.
    pub fn into_stream(self) -> BoxStream<'static, Result<RecordBatch, LeaderError>> {
        let Rows {
            stream,
            plan,
            entry,
            guard,
            ..
        } = self;
        let steps = move |entry: &QueryEntry| {
            if let Some(plan) = &plan {
                entry.record_steps(crate::planner::summary::summarize(&plan.get()));
            }
        };
        futures::stream::unfold(
            (stream, entry, guard, steps),
            |(mut stream, mut entry, guard, steps)| async move {
                match stream.next().await {
                    Some(Ok(batch)) => {
                        if let Some(e) = entry.as_mut() {
                            e.add_rows(batch.num_rows() as u64);
                        }
                        Some((Ok(batch), (stream, entry, guard, steps)))
                    }
                    Some(Err(err)) => {
                        let err = LeaderError::from(err);
                        if let Some(e) = entry.take() {
                            steps(&e);
                            record_failure(e, &err);
                        }
                        Some((Err(err), (stream, None, guard, steps)))
                    }
                    None => {
                        if let Some(e) = entry.take() {
                            steps(&e);
                            e.succeed();
                        }
                        None
                    }
                }
            },
        )
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterClient;
    use crate::engine::Engine;
    use crate::interrupt::Interrupt;
    use crate::query_log::QueryStatus;
    use crate::session::Session;
    use arrow::array::{Int32Array, StringArray};
    use blueshift_storage::catalog::Catalog;
    use blueshift_storage::distribution::ClusterLayout;

    async fn run(engine: &Engine, session: &Session, sql: &str) -> Result<Outcome, LeaderError> {
        let mut statements = engine.parse(session, sql)?;
        assert_eq!(statements.len(), 1, "{sql}");
        let planned = engine.plan(session, statements.remove(0)).await?;
        engine
            .execute(session, &planned, None, Interrupt::never(), sql)
            .await
    }

    fn completion(outcome: Outcome) -> (&'static str, Completion) {
        match outcome {
            Outcome::Done(c) => ("done", c),
            Outcome::Began(c) => ("began", c),
            Outcome::Ended(c) => ("ended", c),
            other => panic!("expected a command tag, got {other:?}"),
        }
    }

    /// Statements run through the engine alone, with no wire protocol: the engine's
    /// answers are its own, and the query log records how they ended.
    #[tokio::test]
    async fn statements_run_without_the_wire_protocol() {
        let dir = std::env::temp_dir().join(format!("blueshift-outcome-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layout = ClusterLayout {
            nodes: 1,
            slices_per_node: 2,
        };
        let catalog = Catalog::open(&dir, layout).expect("catalog");
        // Nothing below reaches a compute node; the channel connects lazily.
        let cluster = ClusterClient::new(
            layout,
            vec!["127.0.0.1:9".into()],
            blueshift_operators::secret::ClusterSecret::generate(),
        )
        .expect("cluster");
        let engine =
            Engine::try_new(catalog, cluster, 64 << 20, Default::default()).expect("engine");
        let session = Session::new("admin", 7);

        let (edge, c) = completion(
            run(&engine, &session, "create schema s")
                .await
                .expect("should succeed"),
        );
        assert_eq!((edge, c.name, c.rows), ("done", "CREATE SCHEMA", None));
        let (edge, c) = completion(
            run(&engine, &session, "create table s.t (a int) diststyle even")
                .await
                .expect("should succeed"),
        );
        assert_eq!((edge, c.name), ("done", "CREATE TABLE"));
        let (edge, c) = completion(
            run(&engine, &session, "begin")
                .await
                .expect("should succeed"),
        );
        assert_eq!((edge, c.name), ("began", "BEGIN"));
        let (edge, c) = completion(
            run(&engine, &session, "commit")
                .await
                .expect("should succeed"),
        );
        assert_eq!((edge, c.name), ("ended", "COMMIT"));

        let Outcome::Rows(rows) = run(&engine, &session, "select 40 + 2 as answer, 'x' as tag")
            .await
            .expect("should succeed")
        else {
            panic!("a query answers rows");
        };
        let names: Vec<_> = rows
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["answer", "tag"]);
        let batches: Vec<RecordBatch> = rows
            .into_stream()
            .try_collect()
            .await
            .expect("should succeed");
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        // `40 + 2` is INTEGER arithmetic, as in PostgreSQL.
        let answer = batches[0].column(0).as_any().downcast_ref::<Int32Array>();
        assert_eq!(answer.map(|a| a.value(0)), Some(42));
        let tag = batches[0].column(1).as_any().downcast_ref::<StringArray>();
        assert_eq!(tag.map(|a| a.value(0)), Some("x"));
        let record = engine
            .query_log
            .records()
            .pop()
            .expect("the query is logged");
        assert_eq!(
            (record.status, record.returned_rows),
            (QueryStatus::Success, 1)
        );

        // A front end that cannot send the rows refuses them; the log says it failed.
        let Outcome::Rows(rows) = run(&engine, &session, "select 1 as one")
            .await
            .expect("should succeed")
        else {
            panic!("a query answers rows");
        };
        let err = rows.refuse(LeaderError::Unsupported("a result column type".into()));
        assert!(matches!(err, LeaderError::Unsupported(_)));
        let record = engine
            .query_log
            .records()
            .pop()
            .expect("the query is logged");
        assert_eq!(record.status, QueryStatus::Failed);

        let Outcome::Rows(rows) = run(&engine, &session, "show search_path")
            .await
            .expect("should succeed")
        else {
            panic!("SHOW answers rows");
        };
        let batches: Vec<RecordBatch> = rows
            .into_stream()
            .try_collect()
            .await
            .expect("should succeed");
        let value = batches[0].column(0).as_any().downcast_ref::<StringArray>();
        assert_eq!(value.map(|a| a.value(0)), Some("$user, public"));
        drop(engine);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
