//! Transactions over the wire, with more than one connection and real crashes: what
//! another session sees before and after COMMIT, serialization failures (40001),
//! a disconnect and a COPY that roll back, and kill -9 during transactions over
//! three tables (all of a transaction or none of it after restart).

use std::time::Duration;

use anyhow::{Result, bail};
use blueshift_tests::{Embedded, connect, rows, segment_files, sqlstate, table};

/// Waits until the data directory holds at most `most` segment files (the garbage
/// collector runs once no statement does).
async fn wait_for_segment_files(dir: &std::path::Path, most: usize) -> Result<usize> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let files = segment_files(dir)?;
        if files <= most || std::time::Instant::now() > deadline {
            return Ok(files);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn other_sessions_see_a_block_at_commit_and_conflicts_fail_one() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let a = connect(&cluster.conn_str()).await?;
    let b = connect(&cluster.conn_str()).await?;
    a.batch_execute(
        "create table x (k int) diststyle even;
         create table y (k int) diststyle even;
         insert into x values (1), (2);",
    )
    .await?;

    // Nothing of an open block is visible to another session; all of it is at COMMIT.
    a.batch_execute(
        "begin; insert into x values (3); insert into y values (30); create table z (k int);",
    )
    .await?;
    assert_eq!(rows(&b, "select count(*) from x").await?, table(&[&["2"]]));
    assert_eq!(rows(&b, "select count(*) from y").await?, table(&[&["0"]]));
    let missing = b.simple_query("select * from z").await.expect_err("z");
    assert_eq!(sqlstate(&missing), "42P01");
    a.batch_execute("commit").await?;
    assert_eq!(rows(&b, "select count(*) from x").await?, table(&[&["3"]]));
    assert_eq!(rows(&b, "select count(*) from y").await?, table(&[&["1"]]));
    assert_eq!(rows(&b, "select count(*) from z").await?, table(&[&["0"]]));

    // Inserts alone never conflict: both blocks land.
    a.batch_execute("begin; insert into x values (4);").await?;
    b.batch_execute("begin; insert into x values (5);").await?;
    a.batch_execute("commit").await?;
    b.batch_execute("commit").await?;
    assert_eq!(rows(&a, "select count(*) from x").await?, table(&[&["5"]]));

    // Write skew: each block reads one table and writes the other. The first COMMIT
    // wins; the second is a serialization failure that changes nothing, and its
    // block stays failed until ROLLBACK.
    a.batch_execute("begin; select count(*) from x; insert into y values (1);")
        .await?;
    b.batch_execute("begin; select count(*) from y; insert into x values (6);")
        .await?;
    a.batch_execute("commit").await?;
    let e = b.batch_execute("commit").await.expect_err("a conflict");
    assert_eq!(sqlstate(&e), "40001", "{e:?}");
    let message = e.as_db_error().map(|d| d.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("Serializable isolation violation on table public.y")),
        "{message:?}"
    );
    let refused = b.simple_query("select 1").await.expect_err("failed block");
    assert_eq!(sqlstate(&refused), "25P02");
    b.batch_execute("rollback").await?;
    assert_eq!(rows(&b, "select count(*) from x").await?, table(&[&["5"]]));
    assert_eq!(rows(&b, "select count(*) from y").await?, table(&[&["2"]]));

    // Two blocks deleting the same rows: the second COMMIT fails with 40001.
    a.batch_execute("begin; delete from x where k = 1;").await?;
    b.batch_execute("begin; delete from x where k = 1;").await?;
    b.batch_execute("commit").await?;
    let e = a.batch_execute("commit").await.expect_err("a conflict");
    assert_eq!(sqlstate(&e), "40001", "{e:?}");
    a.batch_execute("rollback").await?;
    assert_eq!(rows(&a, "select count(*) from x").await?, table(&[&["4"]]));

    // A block reads one snapshot, taken at its first read: a table it reads only
    // after another session committed to it is as it was then.
    a.batch_execute("begin read only; select count(*) from x;")
        .await?;
    b.batch_execute("insert into y values (7)").await?;
    assert_eq!(rows(&a, "select count(*) from y").await?, table(&[&["2"]]));
    assert_eq!(rows(&a, "select sum(k) from y").await?, table(&[&["31"]]));
    a.batch_execute("commit").await?;
    assert_eq!(rows(&a, "select count(*) from y").await?, table(&[&["3"]]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnect_and_a_rolled_back_copy_leave_no_trace() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table t (k int, name varchar(10)) diststyle even; insert into t values (1, 'a');")
        .await?;
    let baseline = segment_files(dir.path())?;

    // A client that disconnects in the middle of a block: its rows are not there,
    // and the segments they were written to are collected.
    {
        let gone = connect(&cluster.conn_str()).await?;
        gone.batch_execute(
            "begin; insert into t select value, 'x' from generate_series(1, 1000); \
             create table u (k int);",
        )
        .await?;
        assert!(segment_files(dir.path())? > baseline);
    }
    assert_eq!(
        rows(&client, "select count(*) from t").await?,
        table(&[&["1"]])
    );
    let missing = client.simple_query("select * from u").await.expect_err("u");
    assert_eq!(sqlstate(&missing), "42P01");
    let files = wait_for_segment_files(dir.path(), baseline).await?;
    assert_eq!(
        files, baseline,
        "the abandoned block's segments are collected"
    );

    // COPY inside a block rolls back like any other statement.
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "2,b\n3,c\n")?;
    let copy = format!("copy t from 'file://{}' csv", csv.display());
    client.batch_execute("begin").await?;
    assert_eq!(client.execute(copy.as_str(), &[]).await?, 2);
    assert_eq!(
        rows(&client, "select count(*) from t").await?,
        table(&[&["3"]])
    );
    client.batch_execute("rollback").await?;
    assert_eq!(
        rows(&client, "select count(*) from t").await?,
        table(&[&["1"]])
    );
    let files = wait_for_segment_files(dir.path(), baseline).await?;
    assert_eq!(
        files, baseline,
        "the rolled-back COPY's segments are collected"
    );
    client.batch_execute("begin").await?;
    client.execute(copy.as_str(), &[]).await?;
    client.batch_execute("commit").await?;
    assert_eq!(
        rows(&client, "select count(*) from t").await?,
        table(&[&["3"]])
    );

    // A prepared statement planned in one block runs against the next one's view.
    client.batch_execute("begin").await?;
    let count = client.prepare("select count(*) from t").await?;
    let n: i64 = client.query_one(&count, &[]).await?.get(0);
    assert_eq!(n, 3);
    client.batch_execute("commit").await?;
    client
        .batch_execute("begin; insert into t values (4, 'd');")
        .await?;
    let n: i64 = client.query_one(&count, &[]).await?.get(0);
    assert_eq!(n, 4, "the prepared statement sees the new block's insert");
    client.batch_execute("rollback").await?;
    let n: i64 = client.query_one(&count, &[]).await?.get(0);
    assert_eq!(n, 3);
    Ok(())
}

/// One writer runs `BEGIN; INSERT a; INSERT b; INSERT c; COMMIT` with the same key
/// until the cluster is killed at a moment that changes with each trial; after the
/// restart the three tables hold the same keys: every transaction is there whole or
/// not at all.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_transactions_keeps_each_whole_or_not_at_all() -> Result<()> {
    const TRIALS: u64 = 20;
    let dir = tempfile::tempdir()?;
    {
        let cluster = Embedded::start(dir.path(), 2, 2)?;
        let client = connect(&cluster.conn_str()).await?;
        client
            .batch_execute(
                "create table ta (k int) diststyle even;
                 create table tb (k int) diststyle key distkey (k);
                 create table tc (k int) diststyle all;",
            )
            .await?;
        cluster.process.terminate()?;
    }
    // After each restart: the tables agree, every acknowledged COMMIT is there, and
    // at most the one in flight when the kill came is there too.
    let (mut least, mut most) = (0i64, 0i64);
    for trial in 0..=TRIALS {
        let cluster = Embedded::start(dir.path(), 2, 2)?;
        let client = connect(&cluster.conn_str()).await?;
        let counts = rows(
            &client,
            "select (select count(*) from ta), (select count(*) from tb), \
                    (select count(*) from tc)",
        )
        .await?;
        let [a, b, c] = [0, 1, 2].map(|i| counts[0][i].parse::<i64>().unwrap_or(-1));
        if a != b || b != c {
            bail!("trial {trial}: the tables disagree after kill -9: {counts:?}");
        }
        let missing = rows(
            &client,
            "select count(*) from ta where k not in (select k from tb) \
                 or k not in (select k from tc)",
        )
        .await?;
        if missing != table(&[&["0"]]) {
            bail!("trial {trial}: keys in ta missing from tb or tc: {missing:?}");
        }
        if a < least || a > most {
            bail!("trial {trial}: {a} transactions found, {least} to {most} expected");
        }
        if trial == TRIALS {
            assert!(
                a > TRIALS as i64,
                "the writer committed {a} transactions in {TRIALS} trials"
            );
            break;
        }
        let writer = tokio::spawn(async move {
            let mut acknowledged = 0i64;
            for k in 0.. {
                let key = trial as i64 * 1_000_000 + k;
                let block = format!(
                    "begin; insert into ta values ({key}); insert into tb values ({key}); \
                     insert into tc values ({key}); commit;"
                );
                if client.batch_execute(&block).await.is_err() {
                    break;
                }
                acknowledged += 1;
            }
            acknowledged
        });
        // Between 20 and 780 ms, a different moment in each trial.
        let wait = 20 + (trial * 397) % 761;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        cluster.process.kill9()?;
        let acknowledged = writer.await?;
        least = a + acknowledged;
        most = least + 1;
    }
    Ok(())
}
