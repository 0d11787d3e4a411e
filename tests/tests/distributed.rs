//! Distributed plans on a 3-node cluster: which joins run slice by slice on the compute
//! nodes (EXPLAIN shows them inside a fragment), and that every join type gives
//! PostgreSQL's answer whichever way it is planned.

use anyhow::{Result, bail};
use blueshift_tests::postgres::Postgres;
use blueshift_tests::tpch::compare_results;
use blueshift_tests::{Embedded, connect, rows, sqlstate};

/// Tables with every distribution style; keys collide across slices on purpose
/// (NULLs, duplicates, keys present on one side only).
const TABLES: &str = "
create table fact (k int, v int, g varchar(4)) distkey(k);
create table fact2 (k int, w int) distkey(k);
create table fact_big (k bigint, w int) distkey(k);
create table dim_all (k int, name varchar(8)) diststyle all;
create table ev (k int, x int) diststyle even;
";

const POSTGRES_TABLES: &str = "
create table fact (k int, v int, g varchar(4));
create table fact2 (k int, w int);
create table fact_big (k bigint, w int);
create table dim_all (k int, name varchar(8));
create table ev (k int, x int);
";

const ROWS: &str = "
insert into fact values (1,10,'a'),(2,20,'b'),(3,30,'a'),(4,40,'c'),(5,50,'b'),(6,60,'a'),
    (7,70,'c'),(8,80,'a'),(2,21,'b'),(null,99,'z'),(11,110,'a'),(12,120,'b');
insert into fact2 values (2,200),(3,300),(3,301),(5,500),(9,900),(null,0),(12,1200),(13,1300);
insert into fact_big values (2,2),(3,3),(7,7),(12,12),(14,14);
insert into dim_all values (1,'one'),(2,'two'),(3,'three'),(5,'five'),(8,'eight'),(20,'twenty');
insert into ev values (1,1),(3,3),(5,5),(7,7),(9,9),(11,11),(null,0);
";

/// PostgreSQL and a cluster of `nodes` x 2 slices, each with the tables and rows.
async fn both_loaded(
    nodes: u32,
) -> Result<(
    Postgres,
    tokio_postgres::Client,
    tempfile::TempDir,
    Embedded,
    tokio_postgres::Client,
)> {
    let oracle = Postgres::start()?;
    let pg = connect(&oracle.conn_str()).await?;
    pg.batch_execute(POSTGRES_TABLES).await?;
    pg.batch_execute(ROWS).await?;
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), nodes, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(TABLES).await?;
    client.batch_execute(ROWS).await?;
    Ok((oracle, pg, dir, cluster, client))
}

/// Sets DataFusion's thresholds for collecting a join input to 0, so that small tables
/// plan as large ones (partitioned joins the collocation rule places).
async fn plan_small_tables_as_large(client: &tokio_postgres::Client) -> Result<()> {
    client
        .batch_execute(
            "set datafusion.optimizer.hash_join_single_partition_threshold to 0;
             set datafusion.optimizer.hash_join_single_partition_threshold_rows to 0;",
        )
        .await?;
    Ok(())
}

/// Why `query` gives another answer than PostgreSQL's, if it does.
async fn differs_from_postgres(
    pg: &tokio_postgres::Client,
    client: &tokio_postgres::Client,
    query: &str,
) -> Result<Option<String>> {
    let expected = rows(pg, query).await?;
    Ok(match rows(client, query).await {
        Ok(actual) => compare_results(&expected, &actual)
            .err()
            .map(|e| format!("{query}: {e}")),
        Err(e) => Some(format!("{query}: {e:?}")),
    })
}

/// EXPLAIN's lines for `query`.
async fn explain(client: &tokio_postgres::Client, query: &str) -> Result<Vec<String>> {
    Ok(rows(client, &format!("explain {query}"))
        .await?
        .into_iter()
        .map(|r| r.join(""))
        .collect())
}

/// Checks each `(query, expected)`: the answer is PostgreSQL's, and `shows(plan)`, a
/// property of its EXPLAIN named `what`, is `expected`. Fails listing every miss.
async fn check_plans(
    pg: &tokio_postgres::Client,
    client: &tokio_postgres::Client,
    queries: &[(&str, bool)],
    what: &str,
    shows: impl Fn(&[String]) -> bool,
) -> Result<()> {
    let mut failures = Vec::new();
    for (query, expected) in queries {
        failures.extend(differs_from_postgres(pg, client, query).await?);
        let plan = explain(client, query).await?;
        let found = shows(&plan);
        if found != *expected {
            failures.push(format!(
                "{query}: {what} is {found}, expected {expected}:\n{}",
                plan.join("\n")
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} queries wrong:\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
    Ok(())
}

/// (query, the label of the join that runs on the compute nodes, if one does)
const QUERIES: &[(&str, Option<&str>)] = &[
    // DS_DIST_NONE: both on their DISTKEY, same type.
    (
        "select f.k, f.v, f2.w from fact f join fact2 f2 on f.k = f2.k order by 1, 2, 3",
        Some("DS_DIST_NONE"),
    ),
    (
        "select f.k, f.v, f2.w from fact f left join fact2 f2 on f.k = f2.k order by 1, 2, 3",
        Some("DS_DIST_NONE"),
    ),
    (
        "select f.k, f.v, f2.w from fact f right join fact2 f2 on f.k = f2.k order by 1, 2, 3",
        Some("DS_DIST_NONE"),
    ),
    (
        "select f.k, f2.k, f.v, f2.w from fact f full join fact2 f2 on f.k = f2.k order by 1, 2, 3, 4",
        Some("DS_DIST_NONE"),
    ),
    (
        "select k, v from fact f where exists (select 1 from fact2 f2 where f2.k = f.k) order by 1, 2",
        Some("DS_DIST_NONE"),
    ),
    (
        "select k, v from fact f where not exists (select 1 from fact2 f2 where f2.k = f.k) order by 1, 2",
        Some("DS_DIST_NONE"),
    ),
    (
        "select f.g, count(*), sum(f2.w) from fact f join fact2 f2 on f.k = f2.k and f.v < f2.w group by f.g order by 1",
        Some("DS_DIST_NONE"),
    ),
    // DS_DIST_ALL_NONE: an ALL table that keeps no unmatched rows.
    (
        "select f.k, d.name from fact f join dim_all d on f.k = d.k order by 1, 2",
        Some("DS_DIST_ALL_NONE"),
    ),
    (
        "select f.k, d.name from fact f left join dim_all d on f.k = d.k order by 1, 2",
        Some("DS_DIST_ALL_NONE"),
    ),
    (
        "select e.x, d.name from ev e join dim_all d on e.k = d.k order by 1",
        Some("DS_DIST_ALL_NONE"),
    ),
    // Two ALL tables joined first: joined where each node's copies are, then with the
    // sliced table on the slices.
    (
        "select f.k, x.name from fact f join (select d.k, d2.name from dim_all d \
         join dim_all d2 on d.k = d2.k) x on f.k = x.k order by 1, 2",
        Some("DS_DIST_ALL_NONE"),
    ),
    (
        "select f.k, x.name from fact f left join (select d.k, d2.name from dim_all d \
         join dim_all d2 on d.k = d2.k) x on f.k = x.k order by 1, 2",
        Some("DS_DIST_ALL_NONE"),
    ),
    // Semi joins: rows of the sliced table that have a match in the ALL table run on
    // the slices; rows of the ALL table that have a match anywhere cannot.
    (
        "select k, v from fact f where k in (select k from dim_all) order by 1, 2",
        Some("DS_DIST_ALL_NONE"),
    ),
    (
        "select k, name from dim_all d where exists (select 1 from fact f where f.k = d.k) order by 1",
        None,
    ),
    // Not collocated: an ALL table whose unmatched rows are kept, a non-key join,
    // different key types, an EVEN table with a KEY one, NOT IN.
    (
        "select d.k, d.name, f.v from fact f right join dim_all d on f.k = d.k order by 1, 3",
        None,
    ),
    (
        "select d.k, f.v from dim_all d left join fact f on f.k = d.k order by 1, 2",
        None,
    ),
    (
        "select f.k, f2.k from fact f join fact2 f2 on f.v = f2.w / 10 order by 1, 2",
        None,
    ),
    (
        "select f.k, b.w from fact f join fact_big b on f.k = b.k order by 1, 2",
        None,
    ),
    (
        "select f.k, e.x from fact f join ev e on f.k = e.k order by 1, 2",
        None,
    ),
    (
        "select k from fact where k not in (select k from fact2 where k is not null) order by 1",
        None,
    ),
    // Joins over joins: collocated below, then with the ALL table, on the slices
    // too (the first label is the upper join's).
    (
        "select f.k, f2.w, d.name from fact f join fact2 f2 on f.k = f2.k join dim_all d on d.k = f.k order by 1, 2, 3",
        Some("DS_DIST_ALL_NONE"),
    ),
    (
        "select f2.k, count(*) from fact f join fact2 f2 on f.k = f2.k join fact_big b on b.w = f2.k group by f2.k order by 1",
        Some("DS_DIST_NONE"),
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn joins_run_where_the_rows_are_and_match_postgres() -> Result<()> {
    let (_oracle, pg, _dir, _cluster, client) = both_loaded(3).await?;

    let mut failures = Vec::new();
    for (query, on_compute) in QUERIES {
        failures.extend(differs_from_postgres(&pg, &client, query).await?);
        let plan = explain(&client, query).await?;
        let local = plan.iter().find_map(|l| {
            ["DS_DIST_NONE", "DS_DIST_ALL_NONE"]
                .into_iter()
                .find(|d| l.contains(&format!("Join {d} ")))
        });
        if local != *on_compute {
            failures.push(format!(
                "{query}: expected a join labelled {on_compute:?}, found {local:?}:\n{}",
                plan.join("\n")
            ));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} queries wrong:\n{}",
            failures.len(),
            QUERIES.len(),
            failures.join("\n\n")
        );
    }
    Ok(())
}

/// SVL_QUERY_SUMMARY has each step of a query, per segment, and the rows the slices
/// sent to the leader: a collocated join sends its partial groups, a join on the
/// leader every row it reads.
#[tokio::test(flavor = "multi_thread")]
async fn query_summary_shows_steps_and_rows_moved() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(TABLES).await?;
    client.batch_execute(ROWS).await?;
    let summary = "select seg, step, label, rows, bytes, workmem from svl_query_summary \
                   where query = pg_last_query_id() order by seg, step";

    rows(
        &client,
        "select f.g, count(*) from fact f join fact2 f2 on f.k = f2.k group by f.g",
    )
    .await?;
    let steps = rows(&client, summary).await?;
    let labels: Vec<&str> = steps.iter().map(|r| r[2].as_str()).collect();
    let number = |r: &Vec<String>, i: usize| r[i].parse::<u64>().unwrap_or(u64::MAX);
    assert!(
        labels[0].starts_with("scan   tbl=") && labels[1].starts_with("scan   tbl="),
        "{steps:?}"
    );
    assert_eq!(&labels[2..5], ["hjoin", "aggr", "return"], "{steps:?}");
    assert!(steps[..5].iter().all(|r| r[0] == "0"), "{steps:?}");
    assert!(labels[5..].contains(&"aggr"), "{steps:?}");
    let scanned: u64 = steps[..2].iter().map(|r| number(r, 3)).sum();
    assert_eq!(scanned, 12 + 8, "{steps:?}");
    let returned = number(&steps[4], 3);
    assert!(
        (2..=4).contains(&returned),
        "partial groups sent: {steps:?}"
    );
    assert!(number(&steps[4], 4) > 0, "bytes sent: {steps:?}");
    // The join's hash table held memory; the scans none.
    assert!(number(&steps[2], 5) > 0, "{steps:?}");
    assert_eq!(number(&steps[0], 5), 0, "{steps:?}");
    // SYS_QUERY_DETAIL has the same steps (of the same query run again), the scans
    // naming their tables by oid.
    rows(
        &client,
        "select f.g, count(*) from fact f join fact2 f2 on f.k = f2.k group by f.g",
    )
    .await?;
    let detail = rows(
        &client,
        "select d.segment_id, d.step_id, d.step_name, d.output_rows, c.relname \
         from sys_query_detail d left join pg_class c on c.oid = d.table_id \
         where d.query_id = pg_last_query_id() order by 1, 2",
    )
    .await?;
    assert_eq!(detail.len(), steps.len(), "{detail:?}");
    for (d, s) in detail.iter().zip(&steps) {
        assert_eq!((&d[0], &d[1]), (&s[0], &s[1]), "{detail:?}");
        assert!(s[2].starts_with(d[2].as_str()), "{detail:?}");
    }
    let mut scanned: Vec<&str> = detail[..2].iter().map(|r| r[4].as_str()).collect();
    scanned.sort();
    assert_eq!(scanned, ["fact", "fact2"], "{detail:?}");
    assert_eq!(
        number(&detail[0], 3) + number(&detail[1], 3),
        12 + 8,
        "{detail:?}"
    );

    // A small inner table is broadcast: every slice gets all of its rows.
    rows(
        &client,
        "select f.g, count(*) from fact f join ev e on f.k = e.k group by f.g",
    )
    .await?;
    let steps = rows(&client, summary).await?;
    let broadcast: Vec<u64> = steps
        .iter()
        .filter(|r| r[2] == "bcast")
        .map(|r| number(r, 3))
        .collect();
    assert!(
        broadcast.len() == 1 && broadcast[0] > 0 && broadcast[0].is_multiple_of(4),
        "{steps:?}"
    );
    // The broadcast rows went between the compute nodes: the fragment that made them
    // has a segment of its own (its scan of ev, once per producing node), and sends
    // nothing to the leader.
    let ev_scan: Vec<&Vec<String>> = steps.iter().filter(|r| r[2].ends_with("name=ev")).collect();
    assert!(
        ev_scan.len() == 1 && number(ev_scan[0], 3) == 7,
        "{steps:?}"
    );
    let ev_segment = &ev_scan[0][0];
    assert!(
        !steps
            .iter()
            .any(|r| &r[0] == ev_segment && r[2] == "return"),
        "{steps:?}"
    );

    // A full join runs on the leader: both tables come whole.
    rows(
        &client,
        "select f.g, count(*) from fact f full join ev e on f.k = e.k group by f.g",
    )
    .await?;
    let steps = rows(&client, summary).await?;
    let sent: u64 = steps
        .iter()
        .filter(|r| r[2] == "return")
        .map(|r| number(r, 3))
        .sum();
    assert_eq!(sent, 12 + 7, "{steps:?}");
    Ok(())
}

/// Joins of two large inputs where one is distributed on the join key: the leader
/// sends the other input's rows each to the slice of its key (DS_DIST_INNER or
/// DS_DIST_OUTER), and the join runs on the slices. DataFusion's thresholds are set to
/// 0 so that these small tables plan as large ones.
#[tokio::test(flavor = "multi_thread")]
async fn redistributed_joins_match_postgres() -> Result<()> {
    let (_oracle, pg, _dir, _cluster, client) = both_loaded(3).await?;
    plan_small_tables_as_large(&client).await?;
    let queries: &[(&str, bool)] = &[
        (
            "select f.k, e.x from fact f join ev e on f.k = e.k order by 1, 2",
            true,
        ),
        (
            "select f.k, e.x from fact f left join ev e on f.k = e.k order by 1, 2",
            true,
        ),
        (
            "select e.k, e.x, f.v from fact f right join ev e on f.k = e.k order by 1, 2, 3",
            true,
        ),
        (
            "select f.k, e.k, f.v, e.x from fact f full join ev e on f.k = e.k order by 1, 2, 3, 4",
            true,
        ),
        (
            "select k, x from ev e where exists (select 1 from fact f where f.k = e.k) order by 1",
            true,
        ),
        (
            "select k, x from ev e where not exists (select 1 from fact f where f.k = e.k) order by 1",
            true,
        ),
        // `f.v / 10` is an INTEGER, as fact2.k is: fact's rows go to fact2's slices.
        (
            "select f2.k, count(*) from fact f join fact2 f2 on f.v / 10 = f2.k group by f2.k order by 1",
            true,
        ),
    ];
    check_plans(
        &pg,
        &client,
        queries,
        "redistributed to the slices",
        |plan| {
            plan.iter().any(|l| {
                (l.contains("Join DS_DIST_INNER ") || l.contains("Join DS_DIST_OUTER "))
                    && !l.trim_start().starts_with("->  XN Network")
            }) && plan.iter().any(|l| l.contains("Distribute to slices by"))
        },
    )
    .await
}

/// Joins of two large inputs where neither is distributed on the join key: the compute
/// nodes send each row of both to the slice of its key, between themselves
/// (DS_DIST_BOTH), and the join runs on the slices; the same on one node, where the
/// rows stay in memory. DataFusion's thresholds are 0 so that small tables plan as
/// large ones.
#[tokio::test(flavor = "multi_thread")]
async fn joins_on_other_keys_redistribute_both_inputs() -> Result<()> {
    for nodes in [3, 1] {
        let (_oracle, pg, _dir, _cluster, client) = both_loaded(nodes).await?;
        plan_small_tables_as_large(&client).await?;
        let queries: &[(&str, bool)] = &[
            (
                "select f.k, f.v, e.x from fact f join ev e on f.v / 10 = e.x order by 1, 2, 3",
                true,
            ),
            (
                "select f.k, f.v, e.x from fact f left join ev e on f.v / 10 = e.x order by 1, 2, 3",
                true,
            ),
            (
                "select e.k, e.x, f.v from fact f right join ev e on f.v / 10 = e.x \
                 order by 1, 2, 3",
                true,
            ),
            (
                "select f.g, f.v, e.x from fact f full join ev e on f.v / 10 = e.x \
                 order by 1, 2, 3",
                true,
            ),
            (
                "select f.g, f2.w from fact f join fact2 f2 on f.v = f2.w / 100 order by 1, 2",
                true,
            ),
            // Aggregated rather than ordered: with an ORDER BY, DataFusion sorts the
            // probe side under the semi join (its keys are of one type), a shape the
            // placement does not move to the slices yet, and the join runs on the
            // leader.
            (
                "select count(*), sum(x) from ev e \
                 where exists (select 1 from fact f where f.v / 10 = e.x)",
                true,
            ),
            (
                "select count(*), sum(x) from ev e where not exists \
                 (select 1 from fact f where f.v / 10 = e.x)",
                true,
            ),
            // Then grouped and joined again on the slices' new key.
            (
                "select e.x, count(*), sum(f.v) from fact f join ev e on f.v / 10 = e.x \
                 join fact2 f2 on f2.k = e.x group by e.x order by 1",
                true,
            ),
        ];
        check_plans(
            &pg,
            &client,
            queries,
            "both inputs redistributed on the slices",
            |plan| {
                plan.iter().any(|l| {
                    l.contains("Join DS_DIST_BOTH ")
                        && !l.trim_start().starts_with("->  XN Network")
                }) && plan.iter().any(|l| l.contains("Distribute to slices by"))
            },
        )
        .await
        .map_err(|e| e.context(format!("on {nodes} nodes")))?;
    }
    Ok(())
}

/// Aggregations grouped by a column that holds the rows' distribution key finish on
/// the slices (each group is whole on one slice): no partial states go to the leader.
/// Grouped by anything else, or by a key an outer join fills with NULLs on every
/// slice, the slices aggregate partially and the leader finishes.
#[tokio::test(flavor = "multi_thread")]
async fn aggregates_on_the_distribution_key_finish_on_the_slices() -> Result<()> {
    let (_oracle, pg, _dir, _cluster, client) = both_loaded(3).await?;
    let queries: &[(&str, bool)] = &[
        (
            "select k, count(*), sum(v), min(g) from fact group by k order by 1",
            true,
        ),
        (
            "select g, k, count(*) from fact group by g, k having count(*) > 0 order by 1, 2",
            true,
        ),
        (
            "select f.k, count(f2.w), sum(f.v) from fact f left join fact2 f2 on f.k = f2.k group by f.k order by 1",
            true,
        ),
        (
            "select f2.k, count(*), sum(f.v) from fact f right join fact2 f2 on f.k = f2.k group by f2.k order by 1",
            true,
        ),
        (
            "select k, sum(v) from (select k, v from fact f where exists (select 1 from fact2 f2 where f2.k = f.k)) s group by k order by 1",
            true,
        ),
        // The NULLs of fact's unmatched rows are on every slice: one group needs them all.
        (
            "select f2.k, count(*) from fact f left join fact2 f2 on f.k = f2.k group by f2.k order by 1",
            false,
        ),
        (
            "select f.k as fk, f2.k as f2k, count(*) from fact f full join fact2 f2 on f.k = f2.k group by f.k, f2.k order by 1, 2",
            false,
        ),
        ("select g, count(*) from fact group by g order by 1", false),
        ("select x, count(*) from ev group by x order by 1", false),
    ];
    check_plans(&pg, &client, queries, "finished on the slices", |plan| {
        // Below the network step that sends to the leader, an aggregation that is not
        // partial.
        let sent = plan.iter().position(|l| l.contains("Send to leader"));
        sent.is_some_and(|at| {
            plan[at..].iter().any(|l| l.contains("Aggregate"))
                && !plan.iter().any(|l| l.contains("Partial: each slice"))
        })
    })
    .await
}

/// Aggregations grouped by other columns than the distribution key, over many rows:
/// each slice aggregates its rows partially, the partial groups go to the slices of
/// their first group column (between the compute nodes), and the slices finish them;
/// the leader only gathers finished groups.
#[tokio::test(flavor = "multi_thread")]
async fn aggregates_on_other_keys_finish_on_the_slices_after_a_redistribution() -> Result<()> {
    for nodes in [3, 1] {
        let (_oracle, pg, _dir, _cluster, client) = both_loaded(nodes).await?;
        pg.batch_execute(
            "create table wide (k int, v int, s varchar(8));
             insert into wide select value, value % 14999, 's' || (value % 7)
             from generate_series(1, 30000) as value;
             insert into wide values (null, null, null), (30001, null, 's1');",
        )
        .await?;
        client
            .batch_execute(
                "create table wide (k int, v int, s varchar(8)) distkey(k);
                 insert into wide select value, value % 14999, 's' || (value % 7)
                 from generate_series(1, 30000);
                 insert into wide values (null, null, null), (30001, null, 's1');
                 analyze wide;",
            )
            .await?;
        let queries: &[(&str, bool)] = &[
            (
                "select v, count(*), sum(k), min(s) from wide group by v order by 1 limit 50",
                true,
            ),
            (
                "select s, v % 3 as m, count(*), sum(k) from wide group by s, v % 3 order by 1, 2",
                true,
            ),
            (
                "select count(*) from (select v from wide group by v having count(*) > 6) t",
                true,
            ),
            (
                "select v, count(distinct s) from wide group by v order by 2 desc, 1 limit 5",
                true,
            ),
        ];
        check_plans(
            &pg,
            &client,
            queries,
            "redistributed and finished on the slices",
            |plan| {
                let sent = plan.iter().position(|l| l.contains("Send to leader"));
                sent.is_some_and(|at| {
                    plan[at..]
                        .iter()
                        .any(|l| l.contains("Distribute to slices by"))
                        && plan[at..].iter().any(|l| l.contains("Aggregate"))
                })
            },
        )
        .await
        .map_err(|e| e.context(format!("on {nodes} nodes")))?;
    }
    Ok(())
}

/// Two inputs, neither on the join key, one small: copying the small one to every
/// slice moves fewer rows than sending both to the leader, so the join runs on the
/// slices (DS_BCAST_INNER), except where the small input's rows must be answered for
/// once (a semi join that returns them, an outer join that keeps them).
#[tokio::test(flavor = "multi_thread")]
async fn small_inputs_are_broadcast_to_large_ones() -> Result<()> {
    let (_oracle, pg, _dir, _cluster, client) = both_loaded(3).await?;
    let values: Vec<String> = (0..400)
        .map(|i| format!("({i}, {}, {})", i % 23, i % 7))
        .collect();
    let tables = format!(
        "insert into many values {};
         insert into few values (0, 'zero'), (1, 'one'), (2, 'two'), (5, 'five'), (30, 'thirty'), (null, 'null');",
        values.join(", ")
    );
    client
        .batch_execute("create table many (id int, v int, w int) distkey(id); create table few (k int, name varchar(8)) diststyle even;")
        .await?;
    pg.batch_execute(
        "create table many (id int, v int, w int); create table few (k int, name varchar(8));",
    )
    .await?;
    client.batch_execute(&tables).await?;
    pg.batch_execute(&tables).await?;
    client.batch_execute("analyze").await?;
    plan_small_tables_as_large(&client).await?;
    let queries: &[(&str, bool)] = &[
        (
            "select m.id, f.name from many m join few f on m.v = f.k order by 1, 2",
            true,
        ),
        (
            "select f.name, count(*), sum(m.w) from many m join few f on m.v = f.k group by f.name order by 1",
            true,
        ),
        (
            "select m.id, f.name from many m left join few f on m.v = f.k order by 1, 2",
            true,
        ),
        (
            "select count(*), sum(id) from many m where exists (select 1 from few f where f.k = m.v)",
            true,
        ),
        (
            "select f.k, f.name from few f where exists (select 1 from many m where m.v = f.k) order by 1",
            false,
        ),
        (
            "select f.k, count(m.id) from few f left join many m on m.v = f.k group by f.k order by 1",
            false,
        ),
    ];
    check_plans(&pg, &client, queries, "broadcast", |plan| {
        plan.iter().any(|l| {
            l.contains("Join DS_BCAST_INNER ") && !l.trim_start().starts_with("->  XN Network")
        })
    })
    .await
}

/// The steps a query runs on the slices are listed in STV_EXEC_STATE while they run;
/// cancelling the query (the protocol's CancelRequest) stops them on every node.
#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_query_stops_its_fragments_on_every_node() -> Result<()> {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table wide (k int distkey, v varchar(40));
             insert into wide select value, 'value ' || value from generate_series(1, 1000000);",
        )
        .await?;
    let watcher = connect(&cluster.conn_str()).await?;
    // (query, slice) of the steps running on the compute nodes.
    let running = || async {
        let listed = rows(
            &watcher,
            "select query, slice, label, rows from stv_exec_state",
        )
        .await?;
        anyhow::Ok(listed)
    };
    assert_eq!(
        running().await?,
        Vec::<Vec<String>>::new(),
        "nothing runs yet"
    );

    // Hashing every value, made long, twice keeps the slices busy for seconds, a
    // fraction of a second for each batch of rows (a step stops between batches).
    let busy = "select count(*) from wide \
        where md5(repeat(md5(repeat(v, 500)), 200)) like '%zzzz%'";
    let token = client.cancel_token();
    let query = tokio::spawn(async move { client.simple_query(busy).await.map(|_| ()) });

    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = running().await?;
        let slices: BTreeSet<&str> = listed.iter().map(|r| r[1].as_str()).collect();
        if slices.len() == 4 {
            break listed;
        }
        if query.is_finished() || Instant::now() > deadline {
            bail!(
                "the query's fragments never all ran: {listed:?}, the query: {:?}",
                query.await?
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let queries: BTreeSet<&str> = listed.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(queries.len(), 1, "{listed:?}");
    assert!(
        listed.iter().any(|r| r[2].starts_with("scan   tbl=")),
        "{listed:?}"
    );

    token.cancel_query(tokio_postgres::NoTls).await?;
    let e = query.await?.expect_err("cancelled");
    assert_eq!(sqlstate(&e), "57014", "{e:?}");
    let cancelled = Instant::now();
    loop {
        let listed = running().await?;
        if listed.is_empty() {
            break;
        }
        if cancelled.elapsed() > Duration::from_secs(5) {
            bail!("fragments still run 5 s after the cancel: {listed:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
