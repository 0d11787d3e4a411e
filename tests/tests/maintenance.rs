//! Storage maintenance and failures over the wire: VACUUM and ANALYZE, ALTER TABLE
//! without rewriting segments, crashes at every commit step, and corrupt or missing
//! segment files.

use anyhow::Result;
use blueshift_tests::{Embedded, connect, rows, segment_files, segment_paths, sqlstate, table};

/// VACUUM purges deleted rows, sorts the unsorted region (after which ORDER BY on the
/// sort key needs no sort), honours TO n PERCENT and removes the replaced files;
/// ANALYZE makes stats_off 0. The rows are the same throughout.
#[tokio::test(flavor = "multi_thread")]
async fn vacuum_and_analyze() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table ev (k int, tag varchar(4)) diststyle even compound sortkey(k);
             create table dim (k int, name varchar(8)) diststyle all;
             insert into ev select x * 2, 'a' from (select unnest(range(0, 100)) as x) s;
             insert into ev select x * 2 + 1, 'b' from (select unnest(range(0, 100)) as x) s;
             insert into ev values (null, 'n');
             insert into dim values (1, 'one'), (2, 'two');
             insert into dim values (3, 'three');",
        )
        .await?;
    async fn info(client: &tokio_postgres::Client) -> Result<Vec<String>> {
        let r = rows(
            client,
            "select tbl_rows, estimated_visible_rows, unsorted, stats_off \
             from svv_table_info where \"table\" = 'ev'",
        )
        .await?;
        Ok(r[0].clone())
    }
    let all_rows = "select k, tag from ev order by k";
    let expected: Vec<Vec<String>> = (0..200)
        .map(|k| {
            vec![
                k.to_string(),
                if k % 2 == 0 { "a" } else { "b" }.to_string(),
            ]
        })
        .chain(std::iter::once(vec!["NULL".to_string(), "n".to_string()]))
        .collect();
    assert_eq!(rows(&client, all_rows).await?, expected);
    let before = info(&client).await?;
    assert_eq!(before[0], "201");
    assert_ne!(before[2], "0.00", "later inserts are unsorted: {before:?}");
    assert_eq!(before[3], "100.00", "never analyzed: {before:?}");

    // One deleted row of 201: the default threshold (95%) leaves it for later.
    assert_eq!(client.execute("delete from ev where k = 7", &[]).await?, 1);
    client.batch_execute("vacuum delete only ev").await?;
    assert_eq!(
        info(&client).await?[0],
        "201",
        "DELETE ONLY below the threshold"
    );
    client
        .batch_execute("vacuum delete only ev to 100 percent")
        .await?;
    assert_eq!(info(&client).await?[..2], ["200", "200"]);

    // The sort phase: one sorted run per slice, and ORDER BY k needs no SortExec.
    let explain = rows(&client, &format!("explain {all_rows}")).await?;
    assert!(
        format!("{explain:?}").contains("XN Sort "),
        "an unsorted table needs a sort: {explain:?}"
    );
    client.batch_execute("vacuum ev").await?;
    let after = info(&client).await?;
    assert_eq!(after[..3], ["200", "200", "0.00"], "{after:?}");
    let expected: Vec<Vec<String>> = expected.into_iter().filter(|r| r[0] != "7").collect();
    assert_eq!(rows(&client, all_rows).await?, expected);
    let explain = rows(&client, &format!("explain {all_rows}")).await?;
    assert!(
        !format!("{explain:?}").contains("XN Sort "),
        "a sorted table merges without sorting: {explain:?}"
    );

    // The replaced files are removed once no statement runs.
    let mut files = segment_files(dir.path())?;
    for _ in 0..50 {
        if files <= 4 + 2 * 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        files = segment_files(dir.path())?;
    }
    assert!(files <= 4 + 2 * 2, "{files} segment files after VACUUM");

    // A DISTSTYLE ALL table: vacuum, then delete; every node's copy agrees.
    client.batch_execute("vacuum dim to 100 percent").await?;
    assert_eq!(client.execute("delete from dim where k = 2", &[]).await?, 1);
    assert_eq!(
        rows(
            &client,
            "select e.k, d.name from ev e join dim d on e.k = d.k order by 1"
        )
        .await?,
        table(&[&["1", "one"], &["3", "three"]])
    );

    // A DISTSTYLE ALL table: tbl_rows counts both nodes' copies, the rest one copy.
    client.batch_execute("analyze dim").await?;
    assert_eq!(
        rows(
            &client,
            "select tbl_rows, estimated_visible_rows, stats_off from svv_table_info \
             where \"table\" = 'dim'"
        )
        .await?,
        table(&[&["6", "2", "0.00"]])
    );

    // ANALYZE: statistics are current, until rows change.
    client.batch_execute("analyze ev").await?;
    assert_eq!(info(&client).await?[3], "0.00");
    client.batch_execute("delete from ev where k < 50").await?;
    let stale: f64 = info(&client).await?[3].parse()?;
    assert!(stale > 20.0, "stats_off after deleting a quarter: {stale}");

    for (sql, code) in [
        ("vacuum nosuch", "42P01"),
        ("vacuum ev to 150 percent", "22023"),
        ("analyze nosuch", "42P01"),
    ] {
        let e = client.batch_execute(sql).await.expect_err("must fail");
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
    }
    cluster.process.terminate()?;
    Ok(())
}

/// ALTER TABLE changes only the catalog: old segments read an added column as its
/// default, ignore a dropped one, and follow renames; VACUUM and UPDATE work after.
#[tokio::test(flavor = "multi_thread")]
async fn alter_table_without_rewriting_segments() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 1)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table a (id int, name varchar(10), qty int) distkey(id) sortkey(id);
             insert into a values (1,'x',5),(2,'y',6);
             alter table a add column price decimal(8,2) default 9.99;
             alter table a add column note varchar(20) encode zstd;
             insert into a values (3,'z',7,1.50,'new');",
        )
        .await?;
    let files_before = segment_files(dir.path())?;
    assert_eq!(
        rows(
            &client,
            "select id, name, qty, price, note from a order by id"
        )
        .await?,
        table(&[
            &["1", "x", "5", "9.99", "NULL"],
            &["2", "y", "6", "9.99", "NULL"],
            &["3", "z", "7", "1.50", "new"],
        ])
    );
    client
        .batch_execute(
            "alter table a drop column qty;
             alter table a rename column name to label;
             alter table a rename to b;
             alter table b add column qty int;",
        )
        .await?;
    assert_eq!(
        segment_files(dir.path())?,
        files_before,
        "no segment rewritten"
    );
    // The re-added qty is a new column: NULL in old rows, not the dropped values;
    // filters on it (zone maps included) see those NULLs.
    assert_eq!(
        rows(
            &client,
            "select id, label, price, qty from b where qty is null order by id"
        )
        .await?,
        table(&[
            &["1", "x", "9.99", "NULL"],
            &["2", "y", "9.99", "NULL"],
            &["3", "z", "1.50", "NULL"],
        ])
    );
    assert_eq!(
        rows(
            &client,
            "select \"column\", type, encoding from pg_table_def where tablename = 'b'"
        )
        .await?,
        table(&[
            &["id", "integer", "none"],
            &["label", "character varying(10)", "none"],
            &["price", "numeric(8,2)", "none"],
            &["note", "character varying(20)", "zstd"],
            &["qty", "integer", "none"],
        ])
    );
    client
        .batch_execute(
            "update b set qty = id * 10 where id >= 2;
             vacuum b to 100 percent;",
        )
        .await?;
    assert_eq!(
        rows(
            &client,
            "select id, label, price, note, qty from b order by id"
        )
        .await?,
        table(&[
            &["1", "x", "9.99", "NULL", "NULL"],
            &["2", "y", "9.99", "NULL", "20"],
            &["3", "z", "1.50", "new", "30"],
        ])
    );
    for (sql, code) in [
        ("alter table b drop column id", "42P16"),
        ("alter table b add column label int", "42701"),
        ("alter table b rename column nosuch to x", "42703"),
        ("alter table nosuch add column x int", "42P01"),
        ("alter table b add column z int not null", "23502"),
        ("alter table b add column z int encode fancy", "42P16"),
        (
            "alter table b add column d date default 'not a date'",
            "22007",
        ),
    ] {
        let e = client.batch_execute(sql).await.expect_err("must fail");
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
    }
    assert!(
        client
            .batch_execute("select * from a")
            .await
            .is_err_and(|e| sqlstate(&e) == "42P01"),
        "the old name is gone"
    );
    cluster.process.terminate()?;
    Ok(())
}

/// Crash points (the process aborts as under `kill -9`): after a segment file is
/// written, before the catalog commit, and after it. A restart shows the old version
/// in the first two cases and the new one in the last, with no unreferenced segment
/// file left behind; a VACUUM that crashes before its commit changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_any_point_leaves_the_old_or_the_new_version() -> Result<()> {
    for (point, statement, committed) in [
        (
            "segment_written",
            "insert into t select value, 1 from generate_series(1, 5000)",
            false,
        ),
        (
            "before_commit",
            "insert into t select value, 1 from generate_series(1, 5000)",
            false,
        ),
        (
            "after_commit",
            "insert into t select value, 1 from generate_series(1, 5000)",
            true,
        ),
        ("before_commit", "delete from t where k <= 500", false),
        ("before_commit", "vacuum t to 100 percent", false),
        ("after_commit", "vacuum t to 100 percent", true),
    ] {
        let dir = tempfile::tempdir()?;
        let trigger = dir.path().join("crash-at");
        let trigger_text = trigger.display().to_string();
        let env = [("BLUESHIFT_CRASH_FILE", trigger_text.as_str())];
        let cluster = Embedded::start_with_env(dir.path(), 1, 2, &env)?;
        let client = connect(&cluster.conn_str()).await?;
        client
            .batch_execute(
                "create table t (k int, n int) diststyle even sortkey(k);
                 insert into t select value, 0 from generate_series(1, 1000);
                 insert into t select value, 0 from generate_series(1001, 2000);
                 delete from t where k % 10 = 0;",
            )
            .await?;
        let before = rows(&client, "select count(*), sum(k) from t").await?;
        let files_before = segment_files(dir.path())?;
        std::fs::write(&trigger, point)?;
        let e = client
            .batch_execute(statement)
            .await
            .expect_err("the server crashes");
        assert!(e.is_closed() || e.as_db_error().is_none(), "{point}: {e}");
        cluster
            .process
            .wait_exit(std::time::Duration::from_secs(20))?;
        std::fs::remove_file(&trigger)?;

        let cluster = Embedded::start_with_env(dir.path(), 1, 2, &env)?;
        let client = connect(&cluster.conn_str()).await?;
        let after = rows(&client, "select count(*), sum(k) from t").await?;
        if committed {
            if statement.starts_with("insert") {
                assert_eq!(after[0][0], "6800", "{point} {statement}");
            } else {
                assert_eq!(after, before, "{point} {statement}: VACUUM keeps the rows");
                assert!(
                    segment_files(dir.path())? <= 2,
                    "{point}: replaced files removed"
                );
            }
        } else {
            assert_eq!(after, before, "{point} {statement}: the old version");
            assert_eq!(
                segment_files(dir.path())?,
                files_before,
                "{point} {statement}: staged files removed at restart"
            );
        }
        // The table still takes writes.
        client
            .batch_execute("insert into t values (-1, -1)")
            .await?;
        cluster.process.terminate()?;
    }
    Ok(())
}

/// A corrupt or missing segment file is an error naming the table, slice and
/// segment (XX001), never a wrong answer; with the file back, the query answers.
#[tokio::test(flavor = "multi_thread")]
async fn corrupt_or_missing_segments_are_named_errors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 1)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table c (k int) diststyle even;
             insert into c select value from generate_series(1, 1000);",
        )
        .await?;
    let paths = segment_paths(dir.path())?;
    assert_eq!(paths.len(), 1);
    let path = &paths[0];
    let segment = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let good = std::fs::read(path)?;
    // A first read checks the hash; a file changed after that is checked again.
    assert_eq!(
        rows(&client, "select sum(k) from c").await?,
        table(&[&["500500"]])
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(path, &bad)?;
    let e = client
        .batch_execute("select sum(k) from c")
        .await
        .expect_err("corrupt");
    assert_eq!(sqlstate(&e), "XX001", "{e:?}");
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    for part in ["public.c", "slice 0", segment.as_str(), "corrupt"] {
        assert!(message.contains(part), "{message} names {part}");
    }
    std::fs::remove_file(path)?;
    let e = client
        .batch_execute("select sum(k) from c")
        .await
        .expect_err("missing");
    assert_eq!(sqlstate(&e), "XX001", "{e:?}");
    assert!(format!("{e:?}").contains(segment.as_str()), "{e:?}");
    std::fs::write(path, &good)?;
    assert_eq!(
        rows(&client, "select sum(k) from c").await?,
        table(&[&["500500"]])
    );
    cluster.process.terminate()?;
    Ok(())
}
