//! All 22 TPC-H queries on a 1-node and a 3-node cluster, checked against PostgreSQL
//! running the same queries over the same generated data.

use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, Result, bail};
use blueshift_tests::postgres::Postgres;
use blueshift_tests::tpch::{self, QUERIES};
use blueshift_tests::{Embedded, connect, rows};

/// Small enough for a debug build, large enough that every query returns rows.
const SCALE_FACTOR: f64 = 0.02;

#[tokio::test(flavor = "multi_thread")]
async fn tpch_answers_match_postgres_on_one_and_three_nodes() -> Result<()> {
    if !Postgres::available() {
        bail!("PostgreSQL 15 server binaries are missing (/usr/lib/postgresql/15/bin)");
    }
    let data = tempfile::tempdir()?;
    // PostgreSQL's server process reads the files itself.
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755))?;
    let tables = tpch::generate(data.path(), SCALE_FACTOR, 2)?;
    let files = |prefix: &std::path::Path| -> Result<Vec<String>> {
        let name = prefix.file_name().map(|n| n.to_string_lossy().into_owned());
        let mut found: Vec<String> = std::fs::read_dir(data.path())?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_stem().map(|s| s.to_string_lossy().into_owned()) == name
                    && p.extension().is_some_and(|x| x != "tbl")
            })
            .map(|p| p.display().to_string())
            .collect();
        found.sort();
        Ok(found)
    };

    let oracle = Postgres::start()?;
    let pg = connect(&oracle.conn_str()).await?;
    pg.batch_execute(&tpch::postgres_schema()).await?;
    for (table, prefix) in &tables {
        for file in files(prefix)? {
            pg.batch_execute(&format!("copy {table} from '{file}' with (delimiter '|')"))
                .await
                .with_context(|| format!("loading {file} into PostgreSQL"))?;
        }
    }
    pg.batch_execute("analyze").await?;
    let mut expected = Vec::new();
    for (i, query) in QUERIES.iter().enumerate() {
        let answer = rows(&pg, query)
            .await
            .with_context(|| format!("Q{} on PostgreSQL", i + 1))?;
        assert!(
            !answer.is_empty(),
            "Q{} returns no rows at this scale",
            i + 1
        );
        expected.push(answer);
    }

    for (nodes, slices) in [(1, 2), (3, 2)] {
        let dir = tempfile::tempdir()?;
        let cluster = Embedded::start(dir.path(), nodes, slices)?;
        let client = connect(&cluster.conn_str()).await?;
        client.batch_execute(tpch::SCHEMA).await?;
        for (table, prefix) in &tables {
            client
                .batch_execute(&format!(
                    "copy {table} from 'file://{}' delimiter '|'",
                    prefix.display()
                ))
                .await?;
        }
        client.batch_execute("analyze").await?;
        let mut failures = Vec::new();
        // On 3 nodes, once more with every join planned as between large inputs
        // (redistributed rather than broadcast).
        let plannings: &[&str] = if nodes == 1 {
            &[""]
        } else {
            &[
                "",
                "set datafusion.optimizer.hash_join_single_partition_threshold to 0;
                 set datafusion.optimizer.hash_join_single_partition_threshold_rows to 0;",
            ]
        };
        for settings in plannings {
            client.batch_execute(settings).await?;
            let how = if settings.is_empty() {
                ""
            } else {
                " (large joins)"
            };
            for (i, query) in QUERIES.iter().enumerate() {
                match rows(&client, query).await {
                    Ok(actual) => {
                        if let Err(e) = tpch::compare_results(&expected[i], &actual) {
                            failures.push(format!("Q{}{how}: {e}", i + 1));
                        }
                    }
                    Err(e) => failures.push(format!("Q{}{how}: error {e:?}", i + 1)),
                }
            }
        }
        if !failures.is_empty() {
            bail!(
                "{nodes}-node cluster, {} of 22 queries wrong:\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
    }
    Ok(())
}
