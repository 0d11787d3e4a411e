//! Storage over the wire: DELETE and UPDATE by delete vectors, checked against the
//! rows PostgreSQL gives for the same statements (written out here), conflicts between
//! concurrent writers (40001), and readers that keep their snapshot while writers
//! commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;
use blueshift_tests::{Embedded, connect, rows, sqlstate, table};

#[tokio::test(flavor = "multi_thread")]
async fn delete_and_update_match_postgres() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table items (id int, name varchar(10), qty int) distkey(id) sortkey(id);
             create table prices (id int, price decimal(8,2)) diststyle all;
             create table logs (n int) diststyle even;
             insert into items values (1,'bolt',10),(2,'nut',20),(3,'gear',30),
                 (4,'cog',40),(5,'pin',50),(6,'rod',NULL);
             insert into prices values (1,0.10),(3,2.50),(5,0.05);
             insert into logs select * from (values (1),(2),(3),(4),(5),(6),(7),(8)) v(n);",
        )
        .await?;

    // The command tags carry the row counts, as PostgreSQL's do.
    assert_eq!(
        client
            .execute("delete from items where qty >= 40", &[])
            .await?,
        2
    );
    assert_eq!(
        client
            .execute(
                "update items set qty = qty + 1, name = upper(name) where id <= 2",
                &[]
            )
            .await?,
        2
    );
    // A parameter in the filter, through the extended protocol.
    assert_eq!(
        client
            .execute("delete from items where id = $1", &[&6i32])
            .await?,
        1
    );
    assert_eq!(
        rows(&client, "select id, name, qty from items order by id").await?,
        table(&[
            &["1", "BOLT", "11"],
            &["2", "NUT", "21"],
            &["3", "gear", "30"]
        ])
    );

    // Redshift's DELETE ... USING and UPDATE ... FROM, with a DISTSTYLE ALL table.
    assert_eq!(
        client
            .execute(
                "update items set qty = qty * 2 from prices p where items.id = p.id",
                &[]
            )
            .await?,
        2
    );
    assert_eq!(
        client
            .execute(
                "delete from items using prices where items.id = prices.id and prices.price > 1",
                &[]
            )
            .await?,
        1
    );
    assert_eq!(
        rows(&client, "select id, name, qty from items order by id").await?,
        table(&[&["1", "BOLT", "22"], &["2", "NUT", "21"]])
    );
    // Deleting from an ALL table removes the rows from every node's copy: a join
    // that reads the copy of either node sees the same rows.
    assert_eq!(
        client
            .execute("delete from prices where id = 1", &[])
            .await?,
        1
    );
    assert_eq!(
        rows(&client, "select id, price from prices order by id").await?,
        table(&[&["3", "2.50"], &["5", "0.05"]])
    );

    // A subquery in the filter; UPDATE that changes nothing; DELETE of everything.
    assert_eq!(
        client
            .execute("delete from logs where n in (select n * 2 from logs)", &[])
            .await?,
        4
    );
    assert_eq!(
        client
            .execute("update logs set n = 0 where false", &[])
            .await?,
        0
    );
    assert_eq!(
        rows(&client, "select count(*), sum(n) from logs").await?,
        table(&[&["4", "16"]])
    );
    assert_eq!(client.execute("delete from logs", &[]).await?, 4);
    assert_eq!(
        rows(&client, "select count(*) from logs").await?,
        table(&[&["0"]])
    );
    assert_eq!(client.execute("insert into logs values (9)", &[]).await?, 1);
    assert_eq!(rows(&client, "select n from logs").await?, table(&[&["9"]]));

    // Bad input: clear SQLSTATEs and nothing changed.
    for (sql, code) in [
        ("delete from nosuch where 1 = 1", "42P01"),
        ("update items set nosuch = 1", "42703"),
        (
            "update items set qty = 1 from prices where nosuch = 1",
            "42703",
        ),
        ("delete from stl_query", "0A000"),
        ("update items set qty = 'many'", "22P02"),
    ] {
        let e = client
            .execute(sql, &[])
            .await
            .expect_err("the statement must fail");
        assert_eq!(sqlstate(&e), code, "{sql}: {e}");
    }
    assert_eq!(
        rows(&client, "select id, name, qty from items order by id").await?,
        table(&[&["1", "BOLT", "22"], &["2", "NUT", "21"]])
    );

    // Deleted rows stay deleted across a restart.
    drop(client);
    cluster.process.terminate()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    assert_eq!(
        rows(&client, "select id, qty from items order by id").await?,
        table(&[&["1", "22"], &["2", "21"]])
    );
    cluster.process.terminate()?;
    Ok(())
}

/// Concurrent UPDATEs of one row: each either commits or fails with 40001, and the
/// row is never duplicated or lost.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_updates_serialize_or_fail_with_40001() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let setup = connect(&cluster.conn_str()).await?;
    setup
        .batch_execute(
            "create table counter (id int, n int) distkey(id);
             insert into counter values (1, 0), (2, 100);",
        )
        .await?;
    let committed = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = connect(&cluster.conn_str()).await?;
        let committed = Arc::clone(&committed);
        let conflicts = Arc::clone(&conflicts);
        tasks.push(tokio::spawn(async move {
            for _ in 0..8 {
                match client
                    .execute("update counter set n = n + 1 where id = 1", &[])
                    .await
                {
                    Ok(1) => {
                        committed.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(n) => return Err(anyhow::anyhow!("UPDATE touched {n} rows")),
                    Err(e) if sqlstate(&e) == "40001" => {
                        conflicts.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let committed = committed.load(Ordering::SeqCst);
    assert_eq!(committed + conflicts.load(Ordering::SeqCst), 32);
    assert_eq!(
        rows(&setup, "select id, n from counter order by id").await?,
        table(&[&["1", &committed.to_string()], &["2", "100"]]),
        "every committed UPDATE counted once, no row duplicated"
    );
    cluster.process.terminate()?;
    Ok(())
}

/// A reader sees whole statements only: while writers insert and delete batches of
/// 100 rows, every count it reads is a multiple of 100. The writer waits for a read
/// after each commit, so reads and commits interleave (the test checks that the
/// reader saw the table change).
#[tokio::test(flavor = "multi_thread")]
async fn readers_see_whole_statements_while_writers_commit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let writer = connect(&cluster.conn_str()).await?;
    writer
        .batch_execute("create table batches (b int, x int) diststyle even;")
        .await?;
    let reader = connect(&cluster.conn_str()).await?;
    let started_reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads = {
        let (started_reads, done) = (started_reads.clone(), done.clone());
        tokio::spawn(async move {
            use std::sync::atomic::Ordering;
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                started_reads.fetch_add(1, Ordering::SeqCst);
                let r = rows(&reader, "select count(*) from batches").await?;
                let count: u64 = r[0][0].parse()?;
                seen.push(count);
            }
            anyhow::Ok(seen)
        })
    };
    // After each commit, wait until a read has started after it (two started reads:
    // the one in flight may have begun before the commit).
    let read_after_commit = || async {
        use std::sync::atomic::Ordering;
        let before = started_reads.load(Ordering::SeqCst);
        while started_reads.load(Ordering::SeqCst) < before + 2 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    for b in 0..20 {
        writer
            .execute(
                "insert into batches select $1::int, x from (select unnest(range(0, 100)) as x) s",
                &[&b],
            )
            .await?;
        read_after_commit().await;
        if b % 3 == 2 {
            writer
                .execute("delete from batches where b = $1::int", &[&(b - 1)])
                .await?;
            read_after_commit().await;
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reads.await??;
    assert!(
        seen.iter().all(|c| c % 100 == 0),
        "a reader saw part of a statement: {seen:?}"
    );
    let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
    assert!(
        distinct.len() >= 10,
        "the reads did not interleave with the commits: {seen:?}"
    );
    cluster.process.terminate()?;
    Ok(())
}

/// Zone maps over the wire: a range on the sort key reads a fraction of the blocks,
/// and STL_SCAN says so per slice; a scan without a filter reads them all.
#[tokio::test(flavor = "multi_thread")]
async fn zone_maps_skip_blocks_and_stl_scan_reports_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table facts (k bigint, v bigint) diststyle even sortkey(k);
             insert into facts select x, x % 7 from (select unnest(range(0, 400000)) as x) s;",
        )
        .await?;
    let scan_of = |query: &'static str| {
        let client = &client;
        async move {
            let r = rows(client, query).await?;
            let last = rows(
                client,
                "select max(query) from stl_query where querytxt like 'select count(*)%'",
            )
            .await?;
            let q = &last[0][0];
            let totals = rows(
                client,
                &format!(
                    "select count(*), sum(blocks_read), sum(blocks_total), \
                     bool_and(is_rrscan), sum(rows) from stl_scan where query = {q}"
                ),
            )
            .await?;
            anyhow::Ok((r, totals[0].clone()))
        }
    };
    let (result, scan) =
        scan_of("select count(*) from facts where k between 1000 and 2000").await?;
    assert_eq!(result, table(&[&["1001"]]));
    let (slices, read, total): (u64, u64, u64) =
        (scan[0].parse()?, scan[1].parse()?, scan[2].parse()?);
    assert_eq!(slices, 2, "one STL_SCAN row per slice: {scan:?}");
    assert!(read * 4 <= total, "zone maps skipped too little: {scan:?}");
    assert_eq!(scan[3], "t", "a range-restricted scan");

    let (result, scan) = scan_of("select count(*) from facts where v >= 0").await?;
    assert_eq!(result, table(&[&["400000"]]));
    assert_eq!(scan[1], scan[2], "a full scan reads every block: {scan:?}");
    assert_eq!(scan[3], "f");
    assert_eq!(scan[4], "400000");

    // STV_BLOCKLIST: the zone maps themselves, per slice, column and block.
    let blocks = rows(
        &client,
        "select count(*), sum(num_values), min(cast(minvalue as bigint)), \
         max(cast(maxvalue as bigint)), count(distinct slice) from stv_blocklist b \
         join svv_table_info i on b.tbl = i.table_id where i.\"table\" = 'facts' and b.col = 0",
    )
    .await?;
    assert_eq!(blocks[0][1..], ["400000", "0", "399999", "2"], "{blocks:?}");
    assert_eq!(
        blocks[0][0], scan[2],
        "one k block per row group, as many as the v blocks the last scan counted"
    );
    cluster.process.terminate()?;
    Ok(())
}

/// A query streaming its rows keeps its snapshot while another session deletes rows,
/// vacuums the table (rewriting every segment) and inserts: it returns exactly the
/// rows committed when it started, and the replaced files outlive it.
#[tokio::test(flavor = "multi_thread")]
async fn a_streaming_reader_keeps_its_snapshot_through_delete_and_vacuum() -> Result<()> {
    use futures::TryStreamExt;
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let writer = connect(&cluster.conn_str()).await?;
    writer
        .batch_execute(
            "create table snap (k bigint) diststyle even sortkey(k);
             insert into snap select value from generate_series(1, 300000);
             insert into snap select value from generate_series(300001, 600000);",
        )
        .await?;
    let reader = connect(&cluster.conn_str()).await?;
    let stream = reader
        .query_raw("select k from snap", std::iter::empty::<i64>())
        .await?;
    futures::pin_mut!(stream);
    let mut sum: i64 = 0;
    let mut count: i64 = 0;
    for _ in 0..10 {
        if let Some(row) = stream.try_next().await? {
            sum += row.get::<_, i64>(0);
            count += 1;
        }
    }
    writer
        .batch_execute(
            "delete from snap where k % 2 = 0;
             vacuum snap to 100 percent;
             insert into snap values (-5);",
        )
        .await?;
    while let Some(row) = stream.try_next().await? {
        sum += row.get::<_, i64>(0);
        count += 1;
    }
    assert_eq!(
        (count, sum),
        (600_000, 600_000 * 600_001 / 2),
        "the snapshot"
    );
    assert_eq!(
        rows(&writer, "select count(*), sum(k) from snap").await?,
        table(&[&["300001", &(300_000i64 * 300_000 - 5).to_string()]]),
        "the new version"
    );
    cluster.process.terminate()?;
    Ok(())
}

/// An INTERLEAVED sort key: a range on either key column skips row groups.
#[tokio::test(flavor = "multi_thread")]
async fn interleaved_sort_keys_skip_on_every_key_column() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 1)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table grid (a int, b int, v int) diststyle even interleaved sortkey(a, b);
             insert into grid select value % 512, value / 512, 1 from generate_series(0, 262143);",
        )
        .await?;
    for (filter, expected) in [("a < 32", "16384"), ("b < 32", "16384")] {
        let sql = format!("select count(v) from grid where {filter}");
        assert_eq!(rows(&client, &sql).await?, table(&[&[expected]]), "{sql}");
        let scan = rows(
            &client,
            &format!(
                "select sum(blocks_read), sum(blocks_total) from stl_scan where query = \
                 (select max(query) from stl_query where querytxt = '{sql}')"
            ),
        )
        .await?;
        let (read, total): (u64, u64) = (scan[0][0].parse()?, scan[0][1].parse()?);
        assert!(read * 2 <= total, "{filter}: {read} of {total} blocks read");
    }
    cluster.process.terminate()?;
    Ok(())
}
