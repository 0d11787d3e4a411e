//! Queries under a small memory budget: sorts and aggregates spill and answer; a
//! hash join that cannot fit runs again as a merge join, which spills; a query that
//! cannot run even so fails with 53200 naming the step and budget; the cluster keeps
//! serving.

use anyhow::Result;
use blueshift_tests::{Embedded, connect, rows, sqlstate};

const ROWS: u64 = 400_000;

#[tokio::test(flavor = "multi_thread")]
async fn small_budgets_spill_or_fail_with_53200() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // 32 MiB, under manual WLM with one queue of 5 slots: the superuser slot keeps
    // 2 MiB, the rest gives 6 MiB per query, 1.5 MiB per slice.
    let cluster = Embedded::start_with_env(
        dir.path(),
        2,
        2,
        &[
            ("BLUESHIFT_QUERY_MEMORY_MB", "32"),
            (
                "BLUESHIFT_WLM_JSON_CONFIGURATION",
                r#"[{"query_concurrency": 5}]"#,
            ),
        ],
    )?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(&format!(
            "create table big (a bigint, b varchar(40)) distkey(a);
             create table big2 (a bigint, c bigint) distkey(a);
             insert into big select value, 'row ' || (value * 7919 % {ROWS}) \
                 from generate_series(1, {ROWS});
             insert into big2 select value, value * 2 from generate_series(1, {ROWS});"
        ))
        .await?;

    // A sort of every row spills and still returns them in order.
    let sorted = rows(
        &client,
        "select count(*), min(r), max(r) from (select row_number() over (order by b) as r from big) t",
    )
    .await?;
    assert_eq!(sorted, [[ROWS.to_string(), "1".into(), ROWS.to_string()]]);
    // It did spill: SVL_QUERY_SUMMARY marks a step of it disk-based.
    let spilled = rows(
        &client,
        "select count(*) from svl_query_summary where is_diskbased = 't' and query = \
         (select max(query) from stl_query where querytxt like 'select count(*), min(r)%')",
    )
    .await?;
    assert_ne!(spilled, [["0"]], "the sort did not spill");

    // So does an aggregate with a group per row.
    let groups = rows(
        &client,
        "select count(*) from (select b, count(*) from big group by b) t",
    )
    .await?;
    assert_eq!(groups, [[ROWS.to_string()]]);

    // A hash join's table cannot spill: a join that outgrows the budget runs again
    // as a merge join, whose sorts spill. On the compute nodes (collocated)...
    let joined = rows(
        &client,
        "select count(*) from big x join big2 y on x.a = y.a",
    )
    .await?;
    assert_eq!(joined, [[ROWS.to_string()]]);
    let steps = rows(
        &client,
        "select count(*), sum(case when is_diskbased = 't' then 1 else 0 end) \
         from svl_query_summary where label like 'mjoin%' and query = \
         (select max(query) from stl_query where querytxt like 'select count(*) from big x%')",
    )
    .await?;
    assert_ne!(steps[0][0], "0", "no merge join ran: {steps:?}");
    // So does the join of a CREATE TABLE AS and of an INSERT ... SELECT, which commit
    // nothing before they end.
    client
        .batch_execute("create table joined as select x.a, y.c from big x join big2 y on x.a = y.a")
        .await?;
    client
        .batch_execute("insert into joined select x.a, y.c from big x join big2 y on x.a = y.a")
        .await?;
    assert_eq!(
        rows(&client, "select count(*), sum(a) from joined").await?,
        [[(2 * ROWS).to_string(), (ROWS * (ROWS + 1)).to_string()]]
    );

    // A join that cannot run even so (every slice sorts the whole broadcast input,
    // in 1.5 MiB) fails with 53200 naming the step, the budget and what to change.
    let err = client
        .simple_query(
            "select count(*) from big x join big2 y on x.b = 'row ' || cast(y.c / 2 as varchar)",
        )
        .await
        .expect_err("the join should not fit");
    assert_eq!(sqlstate(&err), "53200", "{err:?}");
    let message = format!("{err:?}");
    for words in [
        "compute node",
        "out of memory in a sort",
        "budget here",
        "wlm_query_slot_count",
        "--query-memory-mb",
    ] {
        assert!(message.contains(words), "{words}: {message}");
    }

    // The cluster is still up, and small queries run.
    assert_eq!(
        rows(&client, "select count(*) from big2 where a <= 10").await?,
        [["10"]]
    );
    let other = connect(&cluster.conn_str()).await?;
    assert_eq!(rows(&other, "select 1").await?, [["1"]]);
    Ok(())
}

/// Spill files go to `spill/` under each process's data directory, and a query that
/// would spill past `--spill-limit-gb` fails with 53100 naming the flag.
#[tokio::test(flavor = "multi_thread")]
async fn spills_past_the_limit_fail_with_53100() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start_with_env(
        dir.path(),
        1,
        2,
        &[
            ("BLUESHIFT_QUERY_MEMORY_MB", "32"),
            ("BLUESHIFT_SPILL_LIMIT_GB", "0"),
        ],
    )?;
    for process in ["leader", "node-0"] {
        assert!(
            dir.path().join(process).join("spill").is_dir(),
            "no spill directory for {process}"
        );
    }
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(&format!(
            "create table big (a bigint, b varchar(40));
             insert into big select value, 'row ' || (value * 7919 % {ROWS}) \
                 from generate_series(1, {ROWS});"
        ))
        .await?;
    let err = client
        .simple_query("select max(r) from (select row_number() over (order by b) as r from big) t")
        .await
        .expect_err("the sort must spill, and may not");
    assert_eq!(sqlstate(&err), "53100", "{err:?}");
    assert!(format!("{err:?}").contains("--spill-limit-gb"), "{err:?}");
    assert_eq!(
        rows(&client, "select count(*) from big").await?,
        [[ROWS.to_string()]]
    );
    Ok(())
}
