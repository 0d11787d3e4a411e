//! SQL behaviour as sqllogictest files: every `tests/slt/*.slt` file runs on an
//! embedded 1-node cluster and a 3-node cluster (label `blueshift`), and on the
//! PostgreSQL 15 oracle (label `postgres`) for the records that are portable
//! (`onlyif blueshift` marks the rest).
//!
//! Values are compared as the server's text format: NULL is `NULL`, an empty string
//! `(empty)`. `statement error (42P01)` checks a SQLSTATE. Each file runs on a new
//! connection; files run one after another in one database, so each names its tables
//! after itself and drops them at its end.
//!
//! `BLUESHIFT_SLT_FILE=joins` runs only the files whose name contains `joins`.
//! `BLUESHIFT_SLT_BLESS=1` rewrites the files' expected results from the 1-node
//! cluster's answers instead of checking them (review the diff before committing).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use blueshift_tests::postgres::Postgres;
use blueshift_tests::{Embedded, connect};
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, MakeConnection, Runner, default_column_validator,
    default_normalizer, default_validator,
};
use tokio_postgres::SimpleQueryMessage;

/// An error as the server sent it: its message, and its SQLSTATE.
#[derive(Debug)]
struct ServerError {
    message: String,
    sqlstate: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}

/// One connection, running each record with the simple query protocol.
struct Connection {
    client: tokio_postgres::Client,
}

#[async_trait::async_trait]
impl AsyncDB for Connection {
    type Error = ServerError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, ServerError> {
        let messages = self.client.simple_query(sql).await.map_err(|e| {
            let db = e.as_db_error();
            ServerError {
                message: db.map_or_else(|| e.to_string(), |d| d.message().to_string()),
                sqlstate: e.code().map(|c| c.code().to_string()),
            }
        })?;
        let mut columns = None;
        let mut rows = Vec::new();
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(c) => columns = Some(c.len()),
                SimpleQueryMessage::Row(row) => rows.push(
                    (0..row.len())
                        .map(|i| match row.get(i) {
                            None => "NULL".to_string(),
                            Some("") => "(empty)".to_string(),
                            Some(v) => v.to_string(),
                        })
                        .collect(),
                ),
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tokio-postgres"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &ServerError) -> Option<String> {
        err.sqlstate.clone()
    }
}

/// The `.slt` files, by name, filtered by `BLUESHIFT_SLT_FILE`.
fn slt_files() -> Result<Vec<PathBuf>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let filter = std::env::var("BLUESHIFT_SLT_FILE").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&filter))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .slt files in {} match {filter:?}", dir.display());
    }
    Ok(files)
}

/// A runner for one file: a new connection to `conn`, the records of `label`.
fn runner(conn: &str, label: &str) -> Runner<Connection, impl MakeConnection<Conn = Connection>> {
    let conn = conn.to_string();
    let owned_label = label.to_string();
    let mut runner = Runner::new(move || {
        let conn = conn.clone();
        let label = owned_label.clone();
        async move {
            let client = connect(&conn).await.map_err(|e| ServerError {
                message: format!("connecting: {e:#}"),
                sqlstate: None,
            })?;
            if label == "postgres" {
                // Redshift's float output (15 significant digits), which Blueshift's
                // sessions start with.
                client
                    .batch_execute("set extra_float_digits = 0")
                    .await
                    .map_err(|e| ServerError {
                        message: format!("setting extra_float_digits: {e}"),
                        sqlstate: None,
                    })?;
            }
            Ok(Connection { client })
        }
    });
    runner.add_label(label);
    runner
}

/// Runs every file on the server `conn` reaches, as `label`; returns the failures.
async fn run_files(files: &[PathBuf], conn: &str, label: &str, name: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for file in files {
        let mut runner = runner(conn, label);
        let records = match sqllogictest::parse_file(file) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: {}: {e}", file.display()));
                continue;
            }
        };
        // Every record runs, so one run reports all of a file's failures.
        for record in records {
            if let Err(e) = runner.run_async(record).await {
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    failures
}

/// Rewrites the files' expected output from the server `conn` reaches.
async fn bless(files: &[PathBuf], conn: &str) -> Result<()> {
    for file in files {
        let mut runner = runner(conn, "blueshift");
        runner
            .update_test_file(
                file,
                " ",
                default_validator,
                default_normalizer,
                default_column_validator,
            )
            .await
            .map_err(|e| anyhow::anyhow!("blessing {}: {e}", file.display()))?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_behaviour_on_one_and_three_nodes_and_postgres() -> Result<()> {
    let files = slt_files()?;
    let one_dir = tempfile::tempdir()?;
    let one = Embedded::start(one_dir.path(), 1, 2)?;
    if std::env::var_os("BLUESHIFT_SLT_BLESS").is_some() {
        return bless(&files, &one.conn_str()).await;
    }
    let mut failures = run_files(&files, &one.conn_str(), "blueshift", "1 node").await;
    drop(one);
    let three_dir = tempfile::tempdir()?;
    let three = Embedded::start(three_dir.path(), 3, 2)?;
    failures.extend(run_files(&files, &three.conn_str(), "blueshift", "3 nodes").await);
    drop(three);
    let oracle = Postgres::start()?;
    failures.extend(run_files(&files, &oracle.conn_str(), "postgres", "postgres").await);
    if !failures.is_empty() {
        bail!(
            "{} of {} file runs failed:\n\n{}",
            failures.len(),
            files.len() * 3,
            failures.join("\n\n")
        );
    }
    Ok(())
}
