//! A cluster of three processes on 127.0.0.1: one leader and two compute nodes,
//! started with `blueshift leader` and `blueshift compute`, works like the embedded
//! one; a compute node that goes away fails queries clearly, and is used again once
//! it is back.

use anyhow::Result;
use blueshift_tests::{PASSWORD, Process, conn_str, connect, sqlstate};

/// The cluster secret file every process of the test cluster is given.
fn secret_file(dir: &std::path::Path) -> String {
    dir.join("cluster.secret").display().to_string()
}

/// Starts compute node `node` on `port` (0: any free one; its ready line says which),
/// with the cluster secret in `dir`.
fn compute(node: u32, dir: &std::path::Path, port: u16) -> Result<Process> {
    let args: Vec<String> = [
        "compute",
        "--node",
        &node.to_string(),
        "--data-dir",
        &dir.join(format!("node-{node}")).display().to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let secret = secret_file(dir);
    Process::start(
        &args,
        &[("BLUESHIFT_CLUSTER_SECRET_FILE", secret.as_str())],
        "serving on",
    )
}

/// The Flight code of a call to the compute node on `port` that carries `secret`
/// (or none).
async fn flight_call(port: u16, secret: Option<&str>) -> Result<tonic::Code> {
    use arrow_flight::flight_service_client::FlightServiceClient;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
        .connect()
        .await?;
    let mut client = FlightServiceClient::new(channel);
    let mut request = tonic::Request::new(arrow_flight::Ticket {
        ticket: b"not a fragment".to_vec().into(),
    });
    if let Some(secret) = secret {
        request
            .metadata_mut()
            .insert("x-blueshift-cluster-secret", secret.parse()?);
    }
    Ok(match client.do_get(request).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_and_two_compute_processes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A compute node without the cluster secret does not start.
    let refused = Process::start(
        &[
            "compute".to_string(),
            "--node".to_string(),
            "0".to_string(),
            "--data-dir".to_string(),
            dir.path().join("lonely").display().to_string(),
        ],
        &[],
        "serving on",
    );
    assert!(refused.is_err(), "a compute node needs the cluster secret");
    let made = std::process::Command::new(blueshift_tests::blueshift_bin()?)
        .args(["cluster-secret", &secret_file(dir.path())])
        .output()?;
    assert!(made.status.success(), "{made:?}");
    let _n0 = compute(0, dir.path(), 0)?;
    let p0 = _n0.reported_port("serving on")?;
    let n1 = compute(1, dir.path(), 0)?;
    // A node that comes back comes back on its own port: the leader knows it by it.
    let p1 = n1.reported_port("serving on")?;
    let leader_args: Vec<String> = [
        "leader",
        "--data-dir",
        &dir.path().join("leader").display().to_string(),
        "--compute",
        &format!("127.0.0.1:{p0},127.0.0.1:{p1}"),
        "--slices-per-node",
        "2",
        "--port",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let secret = secret_file(dir.path());
    let leader = Process::start(
        &leader_args,
        &[
            ("BLUESHIFT_ADMIN_PASSWORD", PASSWORD),
            ("BLUESHIFT_CLUSTER_SECRET_FILE", secret.as_str()),
        ],
        "ready on",
    )?;
    let pg = leader.reported_port("ready on")?;

    // A Flight client that reaches a compute node's port runs nothing without the
    // cluster's secret; with it, the call gets as far as the ticket (a bad one here).
    assert_eq!(flight_call(p0, None).await?, tonic::Code::Unauthenticated);
    let wrong = "0".repeat(64);
    assert_eq!(
        flight_call(p0, Some(&wrong)).await?,
        tonic::Code::Unauthenticated
    );
    let right = std::fs::read_to_string(&secret)?;
    let code = flight_call(p0, Some(right.trim())).await?;
    assert_ne!(code, tonic::Code::Unauthenticated);

    let client = connect(&conn_str(pg, "admin", PASSWORD)).await?;
    client
        .batch_execute(
            "create table t (k int distkey, v varchar(8)) sortkey(k);
             insert into t select value, 'v' || value from generate_series(1, 1000);",
        )
        .await?;
    let row = client
        .query_one("select count(*), sum(k) from t", &[])
        .await?;
    assert_eq!(row.get::<_, i64>(0), 1000);
    assert_eq!(row.get::<_, i64>(1), 500500);
    let slices = client
        .query("select node, slice from stv_slices order by slice", &[])
        .await?;
    assert_eq!(slices.len(), 4);

    // Node 1 dies while a query streams rows from it: the query fails within seconds
    // with a clear error, rather than hanging; another session is not affected.
    client
        .batch_execute(
            "create table wide (k int distkey, v varchar(40));
             insert into wide select value, 'value ' || value \
                 from generate_series(1, 1000000);",
        )
        .await?;
    // Hashing every value keeps the compute nodes busy for seconds.
    let busy =
        "select count(*) from wide where md5(md5(md5(md5(md5(md5(md5(md5(v)))))))) like '%zzzz%'";
    fails_when_killed(pg, busy, n1).await?;
    let other = connect(&conn_str(pg, "admin", PASSWORD)).await?;
    let row = other
        .query_one("select count(*) from stv_slices", &[])
        .await?;
    assert_eq!(row.get::<_, i64>(0), 4);

    // With node 1 down, a query that reads its slices fails at once, naming it.
    // (count(*) alone would be answered from the catalog's row counts.)
    let started = std::time::Instant::now();
    let e = client
        .query_one("select sum(k) from t", &[])
        .await
        .expect_err("node 1 is down");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(sqlstate(&e), "58030", "{e:?}");
    assert!(
        e.to_string().contains("compute node 1") || format!("{e:?}").contains("compute node 1"),
        "{e:?}"
    );

    // Back on the same port and data: the data is there again.
    let n1 = compute(1, dir.path(), p1)?;
    let client = other;
    assert_eq!(sum_once_back(&client).await, Some(500500));

    // A join on a column that is not the DISTKEY sends both tables' rows between the
    // compute nodes (DS_DIST_BOTH). Node 1 dies while node 0 reads its share: the
    // query fails within seconds, naming a node, and the cluster answers again
    // once it is back.
    let join = "select count(*) from wide a join wide b on a.v = b.v \
                where md5(md5(md5(md5(a.v || b.v)))) like '%zzzz%'";
    let plan: Vec<String> = client
        .simple_query(&format!("explain {join}"))
        .await?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert!(plan.iter().any(|l| l.contains("DS_DIST_BOTH")), "{plan:#?}");
    fails_when_killed(pg, join, n1).await?;
    let _n1 = compute(1, dir.path(), p1)?;
    assert_eq!(sum_once_back(&client).await, Some(500500));
    Ok(())
}

/// Runs `query` in a session of its own, kills `node` 700 ms in, and checks that the
/// query fails with 58030 within seconds of the kill, not before it.
async fn fails_when_killed(pg: u16, query: &str, node: Process) -> Result<()> {
    let running = {
        let conn = conn_str(pg, "admin", PASSWORD);
        let query = query.to_string();
        tokio::spawn(async move {
            let client = connect(&conn).await?;
            let started = std::time::Instant::now();
            let result = client.simple_query(&query).await;
            anyhow::Ok((result.map(|_| ()), started.elapsed()))
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    node.kill9()?;
    let killed = std::time::Instant::now();
    let (result, ran) = running.await??;
    let e = result.expect_err("the query reading the killed node should fail");
    assert!(
        ran > std::time::Duration::from_millis(700),
        "the query ended before the kill"
    );
    assert!(
        killed.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        killed.elapsed()
    );
    assert_eq!(sqlstate(&e), "58030", "{e:?}");
    Ok(())
}

/// `sum(k)` of `t`, asked until the restarted node answers (10 s at most).
async fn sum_once_back(client: &tokio_postgres::Client) -> Option<i64> {
    for _ in 0..50 {
        match client.query_one("select sum(k) from t", &[]).await {
            Ok(row) => return Some(row.get::<_, i64>(0)),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    None
}

/// The same three processes with `--node-tls-*` from `blueshift node-tls`: queries,
/// including one that moves rows between the compute nodes, run over mutual TLS; a
/// compute node refuses a clear-text client, and a TLS client without a certificate
/// from the cluster's CA, even when it holds the secret.
#[tokio::test(flavor = "multi_thread")]
async fn leader_and_compute_processes_over_mutual_tls() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    let bin = blueshift_tests::blueshift_bin()?;
    for args in [
        vec!["cluster-secret".to_string(), secret_file(dir.path())],
        vec!["node-tls".to_string(), certs.display().to_string()],
    ] {
        let made = std::process::Command::new(&bin).args(&args).output()?;
        assert!(made.status.success(), "{made:?}");
    }
    let file = |f: &str| certs.join(f).display().to_string();
    let (ca, cert, key) = (file("ca.pem"), file("node.pem"), file("node.key"));
    let secret = secret_file(dir.path());
    let env = [
        ("BLUESHIFT_CLUSTER_SECRET_FILE", secret.as_str()),
        ("BLUESHIFT_NODE_TLS_CA", ca.as_str()),
        ("BLUESHIFT_NODE_TLS_CERT", cert.as_str()),
        ("BLUESHIFT_NODE_TLS_KEY", key.as_str()),
        ("BLUESHIFT_ADMIN_PASSWORD", PASSWORD),
    ];
    let node = |n: u32| -> Result<Process> {
        let args: Vec<String> = [
            "compute",
            "--node",
            &n.to_string(),
            "--data-dir",
            &dir.path().join(format!("node-{n}")).display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Process::start(&args, &env[..4], "serving on")
    };
    let (n0, n1) = (node(0)?, node(1)?);
    let (p0, p1) = (
        n0.reported_port("serving on")?,
        n1.reported_port("serving on")?,
    );
    let leader_args: Vec<String> = [
        "leader",
        "--data-dir",
        &dir.path().join("leader").display().to_string(),
        "--compute",
        &format!("127.0.0.1:{p0},127.0.0.1:{p1}"),
        "--port",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let leader = Process::start(&leader_args, &env, "ready on")?;
    let pg = leader.reported_port("ready on")?;
    let client = connect(&conn_str(pg, "admin", PASSWORD)).await?;
    client
        .batch_execute(
            "create table tls_t (k int distkey, v varchar(8));
             insert into tls_t select value, 'v' || (value % 7) from generate_series(1, 1000);",
        )
        .await?;
    // A join on a column that is not the DISTKEY: rows go between the nodes.
    let row = client
        .query_one(
            "select count(*) from tls_t a join tls_t b on a.v = b.v where a.k <= 10",
            &[],
        )
        .await?;
    assert!(row.get::<_, i64>(0) > 0);

    // Clear text: no answer a Flight client can use, secret or not.
    let right = std::fs::read_to_string(&secret)?;
    let clear = flight_call(p0, Some(right.trim())).await;
    // The node's own answers would be InvalidArgument (the ticket) or
    // Unauthenticated (the secret); a transport failure is anything else.
    assert!(
        !matches!(
            clear,
            Ok(tonic::Code::Ok | tonic::Code::InvalidArgument | tonic::Code::Unauthenticated)
        ),
        "a clear-text client got an answer: {clear:?}"
    );
    // TLS that trusts the CA but has no client certificate: refused in the handshake.
    let no_identity = tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{p0}"))?
        .tls_config(tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(std::fs::read_to_string(&ca)?),
        ))?
        .connect()
        .await;
    let refused = match no_identity {
        Err(_) => true,
        Ok(channel) => {
            let mut client = arrow_flight::flight_service_client::FlightServiceClient::new(channel);
            let mut request = tonic::Request::new(arrow_flight::Ticket {
                ticket: b"not a fragment".to_vec().into(),
            });
            request
                .metadata_mut()
                .insert("x-blueshift-cluster-secret", right.trim().parse()?);
            client.do_get(request).await.is_err_and(|s| {
                !matches!(
                    s.code(),
                    tonic::Code::InvalidArgument | tonic::Code::Unauthenticated
                )
            })
        }
    };
    assert!(
        refused,
        "a client without the cluster's certificate got through"
    );
    // Partial flags are refused at start.
    let partial = Process::start(
        &[
            "compute",
            "--node",
            "0",
            "--data-dir",
            &dir.path().join("x").display().to_string(),
        ]
        .map(String::from),
        &env[..2],
        "serving on",
    );
    assert!(
        partial.is_err(),
        "--node-tls-ca alone must not start a node"
    );
    Ok(())
}
