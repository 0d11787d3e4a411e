//! Workload management over the wire: routing by query group and user group, a
//! queued statement that says why it waits and leaves its queue when cancelled
//! (`CANCEL pid`), a
//! WLM timeout that hops a SELECT, a rule that aborts it, the WLM system tables, and
//! a configuration changed on SIGHUP.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blueshift_tests::{Embedded, conn_str, connect, rows, sqlstate, table};

const CONFIG: &str = r#"[
  {"name": "etl", "query_concurrency": 1, "query_group": ["etl*"], "query_group_wild_card": 1},
  {"name": "dash", "query_concurrency": 2, "user_group": ["analysts"], "max_execution_time": 1000},
  {"query_concurrency": 3,
   "rules": [{"rule_name": "stop_sleepers", "action": "abort",
              "predicate": [{"metric_name": "query_execution_time", "operator": ">", "value": 2}]}]}
]"#;

/// Polls `sql` until its rows are `expected` (WLM's tables change as statements end).
async fn eventually(
    client: &tokio_postgres::Client,
    sql: &str,
    expected: &[Vec<String>],
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = rows(client, sql).await?;
        if got == expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            let state = rows(
                client,
                "select query, service_class, state from stv_wlm_query_state",
            )
            .await?;
            let history = rows(
                client,
                "select query, service_class, final_state from stl_wlm_query",
            )
            .await?;
            bail!(
                "{sql}: got {got:?}, expected {expected:?}; WLM has {state:?}, history {history:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queues_timeouts_rules_and_reload() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config_file = dir.path().join("wlm.json");
    std::fs::write(&config_file, CONFIG)?;
    let file = config_file.display().to_string();
    let cluster = Embedded::start_with_env(
        &dir.path().join("data"),
        1,
        1,
        &[
            ("BLUESHIFT_WLM_CONFIG_FILE", &file),
            ("BLUESHIFT_WLM_CHECK_MS", "100"),
        ],
    )?;
    let admin = connect(&cluster.conn_str()).await?;
    let classes = "select service_class, name, num_query_tasks, max_execution_time \
                   from stv_wlm_service_class_config where service_class < 14 order by 1";
    assert_eq!(
        rows(&admin, classes).await?,
        table(&[
            &["5", "Superuser queue", "1", "0"],
            &["6", "etl", "1", "0"],
            &["7", "dash", "2", "1000"],
            &["8", "Queue 3", "3", "0"],
        ])
    );

    // A statement in etl holds its one slot; the next etl statement waits, says why,
    // and leaves the queue when cancelled.
    let holder = connect(&cluster.conn_str()).await?;
    holder
        .batch_execute("set query_group to 'etl_nightly'")
        .await?;
    let hold = tokio::spawn(async move {
        let r = holder.simple_query("select pg_sleep(60)").await;
        (holder, r)
    });
    let waiter = connect(&cluster.conn_str()).await?;
    // (Before its query group is set: in etl, this too would wait for the slot.)
    let waiter_pid = rows(&waiter, "select pg_backend_pid()").await?[0][0].clone();
    waiter.batch_execute("set query_group to 'etl'").await?;
    let wait = tokio::spawn(async move { waiter.simple_query("select 1").await.err() });
    eventually(
        &admin,
        "select state, wait_reason from stv_wlm_query_state where service_class = 6 order by query",
        &table(&[
            &["Running", ""],
            &[
                "Queued",
                "no free slot in queue \"etl\" (1 of 1 slots in use); 0 queries ahead",
            ],
        ]),
    )
    .await?;
    assert_eq!(
        rows(
            &admin,
            "select service_class, position, task from stv_wlm_query_queue_state"
        )
        .await?,
        table(&[&["6", "0", &waiter_pid]])
    );
    admin.batch_execute(&format!("cancel {waiter_pid}")).await?;
    let error = wait
        .await?
        .context("the queued statement was not cancelled")?;
    assert_eq!(sqlstate(&error), "57014");
    eventually(
        &admin,
        "select count(*) from stv_wlm_query_state where service_class = 6",
        &table(&[&["1"]]),
    )
    .await?;

    // An analyst's SELECT: dash's 1 s timeout hops it to the default queue, whose
    // rule aborts it after 2 s more.
    admin
        .batch_execute(
            "create group analysts; create user ann password 'Ann12345';
             alter group analysts add user ann;",
        )
        .await?;
    let ann = connect(&conn_str(cluster.port, "ann", "Ann12345")).await?;
    let started = Instant::now();
    let error = ann
        .simple_query("select pg_sleep(60)")
        .await
        .err()
        .context("the rule did not abort the query")?;
    assert_eq!(sqlstate(&error), "57014");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        message
            .ends_with("cancelled by WLM abort action of Query Monitoring Rule \"stop_sleepers\"."),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let query = message
        .trim_start_matches("Query (")
        .split(')')
        .next()
        .unwrap_or_default()
        .to_string();
    eventually(
        &admin,
        &format!("select service_class, final_state from stl_wlm_query where query = {query} order by service_class_start_time"),
        &table(&[&["7", "Hopped"], &["8", "Aborted"]]),
    )
    .await?;
    assert_eq!(
        rows(
            &admin,
            &format!("select rule, action from stl_wlm_rule_action where query = {query}")
        )
        .await?,
        table(&[&["stop_sleepers", "abort"]])
    );
    // ann sees her own rows of STL_WLM_QUERY only.
    let theirs = rows(
        &ann,
        "select count(*) from stl_wlm_query where userid <> current_user_id",
    )
    .await;
    assert_eq!(theirs?, table(&[&["0"]]));

    // SIGHUP re-reads the file: etl gets a second slot at once.
    std::fs::write(
        &config_file,
        CONFIG.replace("\"query_concurrency\": 1", "\"query_concurrency\": 2"),
    )?;
    let status = std::process::Command::new("kill")
        .args(["-HUP", &cluster.process.pid().to_string()])
        .status()?;
    assert!(status.success());
    eventually(
        &admin,
        "select num_query_tasks from stv_wlm_service_class_config where service_class = 6",
        &table(&[&["2"]]),
    )
    .await?;

    // The etl statement still holds its slot; cancelling it frees it.
    let holder_pid = rows(
        &admin,
        "select task from stv_wlm_query_state where service_class = 6",
    )
    .await?;
    rows(
        &admin,
        &format!("select pg_cancel_backend({})", holder_pid[0][0]),
    )
    .await?;
    let (_holder, result) = hold.await?;
    assert_eq!(result.err().map(|e| sqlstate(&e)).as_deref(), Some("57014"));
    eventually(
        &admin,
        "select count(*) from stv_wlm_query_state where service_class = 6",
        &table(&[&["0"]]),
    )
    .await?;
    // Both etl statements ended Cancelled: the queued one and the running one.
    assert_eq!(
        rows(
            &admin,
            "select final_state, count(*) from stl_wlm_query where service_class = 6 group by 1"
        )
        .await?,
        table(&[&["Cancelled", "2"]])
    );
    Ok(())
}
