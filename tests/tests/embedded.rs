//! The embedded cluster over the wire with tokio-postgres: DDL with Redshift
//! attributes, DML, queries, system tables, sessions, errors, and durability.

use anyhow::{Result, bail};
use blueshift_tests::{Embedded, PASSWORD, conn_str, connect, rows, sqlstate, table};

const SETUP: &str = "
create schema sales;
create table sales.orders (
    id int encode az64 distkey,
    cust varchar(20) encode zstd,
    amount decimal(10,2),
    odate date
) backup yes diststyle key compound sortkey (odate);
create table customers (cust varchar(20) not null, region varchar(10)) diststyle all;
create table events (id bigint, kind varchar(8)) diststyle even;
insert into sales.orders values (1,'a',10.50,'2024-01-01'),(2,'b',20,'2024-01-02'),
    (3,'a',5,'2024-01-03'),(4,'c',7.25,'2024-02-01');
insert into customers values ('a','east'),('b','west'),('c','east');
";

/// A cluster of `nodes` x `slices` with [`SETUP`] loaded, and a connection to it.
async fn start_with_setup(
    nodes: u32,
    slices: u32,
) -> Result<(tempfile::TempDir, Embedded, tokio_postgres::Client)> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), nodes, slices)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(SETUP).await?;
    Ok((dir, cluster, client))
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_over_the_wire() -> Result<()> {
    let (_dir, _cluster, client) = start_with_setup(2, 2).await?;

    // The SQL answers (filters, joins, subqueries, INSERT ... SELECT, CTAS, system
    // tables) are checked in tests/slt; this test keeps what needs a 2x2 cluster's
    // layout: placement per slice, TRUNCATE and DROP with their SQLSTATEs.
    client
        .batch_execute("create table big distkey(id) sortkey(id) as select id * 10 as id, cust from sales.orders where id > 1")
        .await?;

    // Placement by distribution, per slice (STV_TBL_PERM).
    client
        .batch_execute(
            "create table same_key (k int, v int) distkey(k);
             insert into same_key select 7, value from generate_series(1, 100);
             create table spread (v int) diststyle even;
             insert into spread select value from generate_series(1, 100);
             create table copies (v int) diststyle all;
             insert into copies values (1), (2), (3);",
        )
        .await?;
    let per_slice = |name: &str| {
        format!("select slice, rows from stv_tbl_perm where name = '{name}' order by slice")
    };
    let key = rows(&client, &per_slice("same_key")).await?;
    assert_eq!(
        key.len(),
        1,
        "one DISTKEY value lives on one slice: {key:?}"
    );
    assert_eq!(key[0][1], "100");
    assert_eq!(
        rows(&client, &per_slice("spread")).await?,
        table(&[&["0", "25"], &["1", "25"], &["2", "25"], &["3", "25"]])
    );
    assert_eq!(
        rows(&client, &per_slice("copies")).await?,
        table(&[&["0", "3"], &["2", "3"]]),
        "ALL: a copy on the first slice of each node"
    );
    assert_eq!(
        rows(&client, "select count(*) from copies").await?,
        table(&[&["3"]])
    );

    // System tables and session functions.
    assert_eq!(
        rows(&client, "select node, slice from stv_slices order by slice").await?,
        table(&[&["0", "0"], &["0", "1"], &["1", "2"], &["1", "3"]])
    );
    let v = rows(
        &client,
        "select version(), current_user, current_database()",
    )
    .await?;
    assert!(v[0][0].contains("Blueshift"), "{v:?}");
    assert_eq!(v[0][1..], ["admin".to_string(), "dev".to_string()]);
    client.batch_execute("set query_group to 'etl'").await?;
    assert_eq!(rows(&client, "show query_group").await?, table(&[&["etl"]]));
    client.batch_execute("reset query_group").await?;
    assert_eq!(
        rows(&client, "show query_group").await?,
        table(&[&["default"]])
    );

    // TRUNCATE empties a table in one commit.
    client.batch_execute("truncate table big").await?;
    assert_eq!(
        rows(&client, "select count(*) from big").await?,
        table(&[&["0"]])
    );
    client
        .batch_execute("insert into big values (5, 'z')")
        .await?;
    assert_eq!(
        rows(&client, "select id, cust from big").await?,
        table(&[&["5", "z"]])
    );
    let e = client
        .simple_query("truncate big, no_such")
        .await
        .expect_err("missing");
    assert_eq!(sqlstate(&e), "42P01");
    assert_eq!(
        rows(&client, "select count(*) from big").await?,
        table(&[&["1"]])
    );

    // DROP TABLE.
    client.batch_execute("drop table big").await?;
    let e = client
        .simple_query("select * from big")
        .await
        .expect_err("dropped");
    assert_eq!(sqlstate(&e), "42P01");
    client.batch_execute("drop table if exists big").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_protocol_with_parameters() -> Result<()> {
    let (_dir, _cluster, client) = start_with_setup(1, 2).await?;

    // Parse/Bind/Describe/Execute with typed parameters and binary results.
    let stmt = client
        .prepare("select id, cust from sales.orders where id > $1 and cust = $2 order by id")
        .await?;
    let got = client.query(&stmt, &[&1i32, &"a"]).await?;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].get::<_, i32>(0), 3);
    assert_eq!(got[0].get::<_, &str>(1), "a");

    let n = client
        .execute("insert into customers values ($1, $2)", &[&"d", &"north"])
        .await?;
    assert_eq!(n, 1);
    let row = client
        .query_one(
            "select count(*) from customers where region = $1",
            &[&"north"],
        )
        .await?;
    assert_eq!(row.get::<_, i64>(0), 1);

    let row = client
        .query_one("select 1::bigint + 2, 'x' || 'y', true", &[])
        .await?;
    assert_eq!(row.get::<_, i64>(0), 3);
    assert_eq!(row.get::<_, &str>(1), "xy");
    assert!(row.get::<_, bool>(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_sqlstates_and_the_server_keeps_serving() -> Result<()> {
    let (_dir, cluster, client) = start_with_setup(2, 1).await?;

    let cases: &[(&str, &str)] = &[
        ("selec 1", "42601"),
        ("select * from no_such_table", "42P01"),
        ("select no_such_column from customers", "42703"),
        ("select 'abc'::int", "22P02"),
        ("insert into sales.orders (id) values ('abc')", "22P02"),
        ("select 1 + 'a'", "42804"),
        ("create index i on customers (cust)", "0A000"),
        ("create table t (a int encode fancy)", "42P16"),
        ("create table t (a int) distkey(b)", "42703"),
        ("create table t (a int) diststyle all distkey(a)", "42P16"),
        ("create table customers (a int)", "42P07"),
        ("create table nosuchschema.t (a int)", "3F000"),
        ("set no_such_setting to 1", "42704"),
        ("insert into customers values (null, 'x')", "23502"),
    ];
    for (sql, code) in cases {
        let e = client
            .simple_query(sql)
            .await
            .expect_err(&format!("{sql} must fail"));
        assert_eq!(sqlstate(&e), *code, "{sql}: {e:?}");
    }
    // The syntax error carries the position of the offending token.
    let e = client
        .simple_query("select 1 frm x")
        .await
        .expect_err("bad");
    let db = e.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "42601");
    assert!(
        matches!(
            db.position(),
            Some(tokio_postgres::error::ErrorPosition::Original(14))
        ),
        "{db:?}"
    );
    // A type error between a column and a literal of another type.
    let e = client
        .simple_query("select * from customers where cust = date '2020-01-01'")
        .await
        .expect_err("type mismatch");
    assert!(
        ["42804", "22P02", "22007", "42883"].contains(&sqlstate(&e).as_str()),
        "{e:?}"
    );

    // Wrong password and unknown user: 28P01.
    let e = connect(&conn_str(cluster.port, "admin", "wrong"))
        .await
        .expect_err("bad password");
    let e = e.downcast::<tokio_postgres::Error>()?;
    assert_eq!(sqlstate(&e), "28P01");
    let e = connect(&conn_str(cluster.port, "nobody", PASSWORD))
        .await
        .expect_err("no user");
    let e = e.downcast::<tokio_postgres::Error>()?;
    assert_eq!(sqlstate(&e), "28P01");

    // Garbage bytes and a client that disconnects mid-query do not hurt others.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", cluster.port)).await?;
        s.write_all(b"\x00\x00\x00\x08garbage garbage garbage\xff\xfe")
            .await?;
        drop(s);
        let other = connect(&cluster.conn_str()).await?;
        let q = other.simple_query(
            "select count(*) from generate_series(1, 2000000) a, generate_series(1, 3) b",
        );
        drop(tokio::time::timeout(std::time::Duration::from_millis(50), q).await);
        drop(other);
    }
    assert_eq!(
        rows(&client, "select count(*) from customers").await?,
        table(&[&["3"]])
    );
    // The failed statements left nothing behind.
    assert!(
        rows(&client, "select * from pg_table_def where tablename = 't'")
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_rows_survive_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    {
        let client = connect(&cluster.conn_str()).await?;
        client.batch_execute(SETUP).await?;
        client
            .batch_execute(
                "create table nums distkey(n) as select value as n from generate_series(1, 5000)",
            )
            .await?;
    }
    cluster.process.kill9()?;
    // What a crash between a segment write and its commit leaves: a file no table
    // version references. The restart removes it.
    let orphan = dir.path().join("node-1/slices/2/0123abcd.parquet");
    std::fs::create_dir_all(orphan.parent().expect("slice dir"))?;
    std::fs::write(&orphan, b"staged but never committed")?;

    let cluster = Embedded::start(dir.path(), 2, 2)?;
    assert!(
        !orphan.exists(),
        "unreferenced segment files are collected at start"
    );
    let client = connect(&cluster.conn_str()).await?;
    assert_eq!(
        rows(&client, "select count(*), sum(n) from nums").await?,
        table(&[&["5000", "12502500"]])
    );
    assert_eq!(
        rows(&client, "select count(*), sum(amount) from sales.orders").await?,
        table(&[&["4", "42.75"]])
    );
    // A different node count on the same data directory is refused, clearly.
    drop(client);
    cluster.process.terminate()?;
    let e = Embedded::start(dir.path(), 3, 2)
        .err()
        .expect("wrong node count");
    assert!(format!("{e:#}").contains("2 nodes"), "{e:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn default_password_on_loopback_and_md5() -> Result<()> {
    use blueshift_tests::Process;
    let dir = tempfile::tempdir()?;
    let data = dir.path().display().to_string();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["up", "--data-dir", &data, "--nodes", "1", "--port", "0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    // No password anywhere, on loopback: the default one, and startup says so.
    let mut p = Process::start(&args(&["--auth", "md5"]), &[], "ready on")?;
    let port = p.reported_port("ready on")?;
    let said = p.wait_for(
        "admin password is 'blueshift'",
        std::time::Duration::from_secs(5),
    )?;
    assert!(!said.is_empty());
    let client = connect(&conn_str(port, "admin", "blueshift")).await?;
    assert_eq!(rows(&client, "select 1").await?, table(&[&["1"]]));
    let e = connect(&conn_str(port, "admin", "nope"))
        .await
        .expect_err("md5 checks");
    assert_eq!(sqlstate(&e.downcast::<tokio_postgres::Error>()?), "28P01");
    drop(client);
    assert!(p.terminate()?.success(), "SIGTERM shuts down cleanly");

    // Cleartext password, checked against the stored verifier.
    let p = Process::start(&args(&["--auth", "password"]), &[], "ready on")?;
    let port = p.reported_port("ready on")?;
    let client = connect(&conn_str(port, "admin", "blueshift")).await?;
    assert_eq!(rows(&client, "select 2").await?, table(&[&["2"]]));
    let e = connect(&conn_str(port, "admin", "nope"))
        .await
        .expect_err("cleartext checks");
    assert_eq!(sqlstate(&e.downcast::<tokio_postgres::Error>()?), "28P01");
    drop(client);
    assert!(p.terminate()?.success());

    // On a non-loopback address, no password means no start.
    let mut cmd = std::process::Command::new(blueshift_tests::blueshift_bin()?);
    let out = cmd
        .args(args(&["--host", "0.0.0.0"]))
        .env_remove("BLUESHIFT_ADMIN_PASSWORD")
        .output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("BLUESHIFT_ADMIN_PASSWORD"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_timeout_and_cancel_request_stop_queries() -> Result<()> {
    let (_dir, cluster, client) = start_with_setup(2, 2).await?;
    const SLOW: &str = "select count(*) from generate_series(1, 100000) a, generate_series(1, 100000) b, sales.orders o";

    client.batch_execute("set statement_timeout to 300").await?;
    let started = std::time::Instant::now();
    let e = client.simple_query(SLOW).await.expect_err("timed out");
    assert_eq!(sqlstate(&e), "57014", "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    client.batch_execute("set statement_timeout to 0").await?;

    // The protocol's CancelRequest, from another connection.
    let token = client.cancel_token();
    let conn = cluster.conn_str();
    let canceller = tokio::spawn(async move {
        wait_until_running(&conn, "select count(*) from generate_series").await?;
        anyhow::Ok(token.cancel_query(tokio_postgres::NoTls).await?)
    });
    let started = std::time::Instant::now();
    let e = client.query(SLOW, &[]).await.expect_err("cancelled");
    assert_eq!(sqlstate(&e), "57014", "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    canceller.await??;

    // pg_cancel_backend from another session, naming this one's pg_backend_pid().
    let pid: i32 = client
        .query_one("select pg_backend_pid()", &[])
        .await?
        .get(0);
    let other = connect(&cluster.conn_str()).await?;
    let conn = cluster.conn_str();
    let canceller = tokio::spawn(async move {
        wait_until_running(&conn, "select count(*) from generate_series").await?;
        let row = other
            .query_one("select pg_cancel_backend($1::bigint)", &[&i64::from(pid)])
            .await?;
        anyhow::Ok(row.get::<_, bool>(0))
    });
    let e = client
        .simple_query(SLOW)
        .await
        .expect_err("cancelled by pid");
    assert_eq!(sqlstate(&e), "57014", "{e:?}");
    assert!(canceller.await??, "pg_cancel_backend found the session");

    // The session, and its WLM slot, are free again.
    assert_eq!(
        rows(&client, "select count(*) from sales.orders").await?,
        table(&[&["4"]])
    );

    // The query log has the three stopped statements, and the one that succeeded.
    let history = rows(
        &client,
        "select status, returned_rows, error_message from sys_query_history \
         where query_text like '%generate_series(1, 100000)%' \
            or query_text = 'select count(*) from sales.orders' \
         order by query_id",
    )
    .await?;
    assert_eq!(
        history,
        table(&[
            &[
                "canceled",
                "0",
                "canceling statement due to statement timeout"
            ],
            &["canceled", "0", "canceling statement due to user request"],
            &["canceled", "0", "canceling statement due to user request"],
            &["success", "1", "NULL"],
        ])
    );
    let stl = rows(
        &client,
        "select userid, label, database, aborted, endtime >= starttime from stl_query \
         where querytxt = 'select count(*) from sales.orders'",
    )
    .await?;
    assert_eq!(stl, table(&[&["100", "default", "dev", "0", "t"]]));
    Ok(())
}

/// Waits until SYS_QUERY_HISTORY shows a running statement whose text starts with
/// `prefix` (the statement to cancel has started), for up to 30 s.
async fn wait_until_running(conn: &str, prefix: &str) -> Result<()> {
    let client = connect(conn).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let query = format!(
        "select count(*) from sys_query_history where status = 'running' \
         and query_text like '{prefix}%'"
    );
    loop {
        let running: i64 = client.query_one(query.as_str(), &[]).await?.get(0);
        if running > 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("no running statement starts with {prefix:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A query string of more queries than WLM has slots (5 by default) answers every
/// one of them: each runs to its end before the next starts. (They once each held
/// a slot until the client read the string's results, and the sixth waited forever.)
#[tokio::test(flavor = "multi_thread")]
async fn a_query_string_of_many_queries_answers_them_all() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table many (k int); insert into many values (1), (2)")
        .await?;
    let sql: String = (1..=8)
        .map(|n| format!("select count(*) + {n} from many;"))
        .collect();
    let answers: Vec<String> = client
        .simple_query(&sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(answers, (3..=10).map(|n| n.to_string()).collect::<Vec<_>>());
    // And the server still answers afterwards.
    assert_eq!(rows(&client, "select 1").await?, table(&[&["1"]]));
    Ok(())
}
