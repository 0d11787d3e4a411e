//! Snapshots end to end, as an operator uses them: `blueshift snapshot create` on a
//! running cluster whose store is a real S3 endpoint (s3s-fs with SigV4, in the test
//! process), incremental uploads, listing, a restore into another node count that
//! `blueshift up` then serves, verification that finds damage, a restore that fails
//! cleanly, and deletion with garbage collection.

use anyhow::{Result, ensure};
use blueshift_tests::{Embedded, S3Server, blueshift_bin, conn_str, connect, rows, table};

/// Runs `blueshift args...` with `env`; returns whether it succeeded, and its stdout
/// and stderr.
async fn cli(args: &[&str], env: &[(String, String)]) -> Result<(bool, String, String)> {
    let out = tokio::process::Command::new(blueshift_bin()?)
        .args(args)
        .envs(env.iter().cloned())
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

async fn created(args: &[&str], env: &[(String, String)]) -> Result<serde_json::Value> {
    let (ok, out, err) = cli(args, env).await?;
    ensure!(ok, "snapshot create failed: {err}");
    Ok(serde_json::from_str(&out)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_are_incremental_and_restore_into_another_node_count() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["snaps", "disaster"]).await?;
    let mut env = s3.cluster_env(&dir.path().join("roles.json"))?;
    env.push(("BLUESHIFT_SNAPSHOT_STORE".into(), "s3://snaps/prod".into()));
    // Only the snapshots this test takes: no automated ones, however slow the run.
    env.push((
        "BLUESHIFT_AUTOMATED_SNAPSHOT_RETENTION_DAYS".into(),
        "0".into(),
    ));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let data = dir.path().join("data");
    let cluster = Embedded::start_with_env(&data, 2, 2, &env_refs)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table facts (id int, name varchar(10)) distkey(id) sortkey(id);
             insert into facts select x, 'n' || x from (select unnest(range(0, 1000)) as x) g;
             create table dims (id int, label varchar(5)) diststyle all;
             insert into dims values (1, 'one'), (2, 'two');
             create table scratch (a int) backup no;
             insert into scratch values (1);
             create view recent as select id from facts where id >= 990;
             create user analyst password 'Analyst-pw1';
             grant select on facts to analyst;",
        )
        .await?;
    let data_arg = data.display().to_string();
    let create = |id: &'static str| {
        let data_arg = data_arg.clone();
        let env = env.clone();
        async move {
            created(
                &[
                    "snapshot",
                    "create",
                    "--data-dir",
                    &data_arg,
                    "--id",
                    id,
                    "--output",
                    "json",
                ],
                &env,
            )
            .await
        }
    };
    let first = create("first").await?;
    assert_eq!(first["uploaded"]["segments"], first["segments"], "{first}");
    assert_eq!(first["skipped"]["segments"], 0);
    assert_eq!(first["tables"], 3);

    // Changes after the first snapshot are not in it; the second uploads only the
    // segments they made.
    client
        .batch_execute(
            "delete from facts where id < 100;
             insert into facts values (5000, 'late');
             insert into scratch values (2);",
        )
        .await?;
    let second = create("second").await?;
    let skipped = second["skipped"]["segments"].as_u64().unwrap_or(0);
    let uploaded = second["uploaded"]["segments"].as_u64().unwrap_or(0);
    assert!(skipped > 0 && uploaded > 0, "{second}");
    let (ok, _, err) = cli(
        &[
            "snapshot",
            "create",
            "--data-dir",
            &data_arg,
            "--id",
            "first",
        ],
        &env,
    )
    .await?;
    assert!(!ok && err.contains("'first' already exists"), "{err}");
    let (ok, out, err) = cli(&["snapshot", "list"], &env).await?;
    assert!(ok, "{err}");
    assert!(out.contains("first") && out.contains("second"), "{out}");

    // Cross-region copy: once enabled, every new snapshot also goes to the second
    // store (here another bucket: the test endpoint serves one region); a copy on
    // demand sends only what it lacks.
    let (ok, out, err) = cli(
        &[
            "snapshot",
            "enable-copy",
            "--data-dir",
            &data_arg,
            "--dest-store",
            "s3://disaster/copies",
            "--dest-region",
            "us-east-1",
        ],
        &env,
    )
    .await?;
    assert!(ok && out.contains("kept 7 days"), "{out}{err}");
    client
        .batch_execute("insert into facts values (6000, 'dr')")
        .await?;
    let third = create("third").await?;
    assert_eq!(third["copied_to"], "s3://disaster/copies", "{third}");
    let (ok, out, err) = cli(
        &[
            "snapshot",
            "verify",
            "--store",
            "s3://disaster/copies",
            "--snapshot",
            "third",
            "--level",
            "full",
        ],
        &env,
    )
    .await?;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(
        &[
            "snapshot",
            "copy",
            "--snapshot",
            "first",
            "--dest-store",
            "s3://disaster/copies",
        ],
        &env,
    )
    .await?;
    assert!(ok && out.contains("Copied snapshot first"), "{out}{err}");

    // One table of the first snapshot back into the running cluster, beside its
    // current self; a name in use is refused and changes nothing.
    let restore_table = |source: &'static str, name: &'static str| {
        let env = env.clone();
        let data_arg = data_arg.clone();
        async move {
            cli(
                &[
                    "snapshot",
                    "restore-table",
                    "--data-dir",
                    &data_arg,
                    "--snapshot",
                    "first",
                    "--source-table",
                    source,
                    "--new-table-name",
                    name,
                ],
                &env,
            )
            .await
        }
    };
    let (ok, out, err) = restore_table("facts", "facts_before").await?;
    assert!(
        ok && out.contains("public.facts_before") && out.contains("1000 rows"),
        "{out}{err}"
    );
    let (ok, out, err) = restore_table("public.dims", "dims_before").await?;
    assert!(ok && out.contains("2 rows"), "{out}{err}");
    let (ok, _, err) = restore_table("facts", "facts").await?;
    assert!(!ok && err.contains("42P07"), "{err}");
    let (ok, _, err) = restore_table("nowhere", "x").await?;
    assert!(
        !ok && err.contains("public.nowhere in snapshot first"),
        "{err}"
    );
    assert_eq!(
        rows(
            &client,
            "select (select count(*) from facts_before), (select count(*) from facts), \
             (select count(*) from facts_before f join dims_before d using (id))"
        )
        .await?,
        table(&[&["1000", "902", "2"]])
    );
    drop(client);
    cluster.process.terminate()?;

    // Restore the first snapshot into one node of four slices and serve it.
    let restored = dir.path().join("restored");
    let restored_arg = restored.display().to_string();
    let restore = |id: &'static str, nodes: &'static str| {
        let env = env.clone();
        let target = restored_arg.clone();
        async move {
            cli(
                &[
                    "snapshot",
                    "restore",
                    "--snapshot",
                    id,
                    "--data-dir",
                    &target,
                    "--nodes",
                    nodes,
                ],
                &env,
            )
            .await
        }
    };
    let (ok, _, err) = restore("first", "3").await?;
    assert!(!ok && err.contains("restore into 1, 2, 4 nodes"), "{err}");
    let (ok, out, err) = restore("first", "1").await?;
    assert!(ok, "{err}");
    assert!(out.contains("1 nodes x 4 slices"), "{out}");
    let copy = Embedded::start_with_env(&restored, 1, 4, &env_refs)?;
    let client = connect(&copy.conn_str()).await?;
    assert_eq!(
        rows(&client, "select count(*), min(id), max(id) from facts").await?,
        table(&[&["1000", "0", "999"]])
    );
    assert_eq!(
        rows(&client, "select count(*) from dims join facts using (id)").await?,
        table(&[&["2"]])
    );
    assert_eq!(
        rows(&client, "select count(*) from scratch").await?,
        table(&[&["0"]]),
        "a BACKUP NO table comes back empty"
    );
    assert_eq!(
        rows(&client, "select count(*) from recent").await?,
        table(&[&["10"]])
    );
    client
        .batch_execute("create table extra as select id from facts where id < 5")
        .await?;
    assert_eq!(
        rows(&client, "select count(*) from extra").await?,
        table(&[&["5"]])
    );
    let analyst = connect(&conn_str(copy.port, "analyst", "Analyst-pw1")).await?;
    assert_eq!(
        rows(&analyst, "select count(*) from facts").await?,
        table(&[&["1000"]])
    );
    drop((client, analyst));
    copy.process.terminate()?;

    // Samples of half the segments cover them all in two runs.
    let sample = || {
        let env = env.clone();
        async move {
            cli(
                &[
                    "snapshot",
                    "verify",
                    "--snapshot",
                    "second",
                    "--level",
                    "sample",
                    "--percent",
                    "50",
                ],
                &env,
            )
            .await
        }
    };
    let (ok, out, err) = sample().await?;
    assert!(ok && out.contains("still to be checked"), "{out}{err}");
    let (ok, out, err) = sample().await?;
    assert!(
        ok && out.contains("Every segment has now been checked"),
        "{out}{err}"
    );

    // Damage every stored segment (same size): quick verification cannot see it,
    // full verification names the objects, and a restore fails leaving nothing.
    let segments: Vec<String> = s3
        .keys("snaps", "prod/segments/")?
        .into_iter()
        .filter(|k| k.rsplit('/').next().is_some_and(|n| n.len() == 64))
        .collect();
    assert!(!segments.is_empty());
    for key in &segments {
        let mut bytes = s3.get("snaps", key)?;
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        s3.put("snaps", key, &bytes)?;
    }
    let verify = |level: &'static str| {
        let env = env.clone();
        async move {
            cli(
                &[
                    "snapshot",
                    "verify",
                    "--snapshot",
                    "second",
                    "--level",
                    level,
                ],
                &env,
            )
            .await
        }
    };
    let (ok, out, err) = verify("quick").await?;
    assert!(ok, "{out}{err}");
    let (ok, out, _) = verify("full").await?;
    assert!(!ok, "{out}");
    assert!(out.contains("corrupt: s3://snaps/prod/segments/"), "{out}");
    let failed = dir.path().join("failed");
    let (ok, _, err) = cli(
        &[
            "snapshot",
            "restore",
            "--snapshot",
            "second",
            "--data-dir",
            &failed.display().to_string(),
        ],
        &env,
    )
    .await?;
    assert!(!ok && err.contains("s3://snaps/prod/segments/"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("failed"))
        .collect();
    assert!(left.is_empty(), "a failed restore left {left:?}");

    // Deleting a snapshot removes the segments only it referenced: none for the
    // second (the third holds them all), some for the third then.
    let (ok, out, err) = cli(
        &["snapshot", "delete", "--snapshot", "second", "--dry-run"],
        &env,
    )
    .await?;
    assert!(
        ok && out.starts_with("Would delete snapshot second"),
        "{out}{err}"
    );
    let (ok, out, err) = cli(&["snapshot", "delete", "--snapshot", "second"], &env).await?;
    assert!(ok && out.contains(", and 0 segments"), "{out}{err}");
    let (ok, out, err) = cli(&["snapshot", "delete", "--snapshot", "third"], &env).await?;
    assert!(ok, "{err}");
    assert!(!out.contains(", and 0 segments"), "{out}");
    let (_, out, _) = cli(&["snapshot", "list"], &env).await?;
    assert!(out.contains("first") && !out.contains("second"), "{out}");
    let (ok, _, err) = cli(&["snapshot", "describe", "--snapshot", "second"], &env).await?;
    assert!(!ok && err.contains("'second' does not exist"), "{err}");
    Ok(())
}

/// With a snapshot store, the leader takes an automated snapshot once there is data
/// (then not again within 15 minutes); manual retention outside 1-3653 days is refused.
#[tokio::test(flavor = "multi_thread")]
async fn automated_snapshots_follow_the_schedule() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store)?;
    let url = format!("file://{}", store.display());
    let env = vec![
        ("BLUESHIFT_SNAPSHOT_STORE".to_string(), url.clone()),
        (
            "BLUESHIFT_SNAPSHOT_CHECK_SECONDS".to_string(),
            "1".to_string(),
        ),
    ];
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let data = dir.path().join("data");
    let cluster = Embedded::start_with_env(&data, 1, 2, &env_refs)?;
    let client = connect(&cluster.conn_str()).await?;
    let list = || {
        let env = env.clone();
        async move {
            let (ok, out, err) = cli(&["snapshot", "list", "--output", "json"], &env).await?;
            ensure!(ok, "{err}");
            Ok::<_, anyhow::Error>(serde_json::from_str::<Vec<serde_json::Value>>(&out)?)
        }
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(list().await?.is_empty(), "no data, no snapshot");
    client
        .batch_execute("create table t (a int); insert into t values (1), (2)")
        .await?;
    let mut taken = vec![];
    for _ in 0..40 {
        taken = list().await?;
        if !taken.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["kind"], "automated");
    assert_eq!(taken[0]["retention_days"], 1);
    assert!(
        taken[0]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("auto-")),
        "{taken:?}"
    );
    client.batch_execute("insert into t values (3)").await?;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(list().await?.len(), 1, "not again within 15 minutes");

    let data_arg = data.display().to_string();
    let (ok, _, err) = cli(
        &[
            "snapshot",
            "create",
            "--data-dir",
            &data_arg,
            "--retention-days",
            "4000",
        ],
        &env,
    )
    .await?;
    assert!(
        !ok && err.contains("22023") && err.contains("1 to 3653 days"),
        "{err}"
    );
    let (ok, out, err) = cli(
        &[
            "snapshot",
            "create",
            "--data-dir",
            &data_arg,
            "--retention-days",
            "7",
        ],
        &env,
    )
    .await?;
    assert!(ok && out.contains("created in"), "{err}");
    assert_eq!(list().await?.len(), 2);
    drop(client);
    cluster.process.terminate()?;
    Ok(())
}
