//! Real client programs against the embedded cluster: psql (simple protocol and its
//! `\d` catalog queries), psycopg 3 and psycopg2 (Python), Amazon's redshift_connector,
//! asyncpg, node-postgres, the PostgreSQL JDBC driver.
//! `.ci/run` (scripts/test.sh) installs the Python packages, node-postgres and the JDBC driver.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use blueshift_tests::{Embedded, PASSWORD};

fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/clients"))
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        bail!("{cmd:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    }
    Ok(stdout + &stderr)
}

/// psql connected as admin with `password`, running `script`.
fn psql_command(cluster: &Embedded, password: &str, script: &str) -> Command {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-h",
        "127.0.0.1",
        "-p",
        &cluster.port.to_string(),
        "-U",
        "admin",
        "dev",
    ])
    .args(["-v", "ON_ERROR_STOP=1", "-c", script])
    .env("PGPASSWORD", password);
    cmd
}

fn psql(cluster: &Embedded, script: &str) -> Result<String> {
    run(&mut psql_command(cluster, PASSWORD, script))
}

#[test]
fn psql_walkthrough() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let out = psql(
        &cluster,
        "create schema sales;
         create table sales.orders (id int encode az64 distkey, amount decimal(10,2)) sortkey(id);
         insert into sales.orders values (1, 9.5), (2, 10.5);
         select sum(amount) as total from sales.orders;",
    )?;
    assert!(out.contains("20.00"), "{out}");
    let out = psql(&cluster, r"\dn")?;
    assert!(out.contains("sales"), "{out}");
    let out = psql(&cluster, r"\dt sales.*")?;
    assert!(out.contains("orders"), "{out}");
    let out = psql(&cluster, r"\d sales.orders")?;
    assert!(out.contains("amount") && out.contains("id"), "{out}");
    // Keys and foreign keys in `\d`, privileges in `\dp`.
    psql(
        &cluster,
        "create table sales.customers (id int primary key, email varchar(40) unique);
         alter table sales.orders add foreign key (id) references sales.customers;
         create user clerk password 'Clerk123';
         grant select on sales.orders to clerk;",
    )?;
    let out = psql(&cluster, r"\d sales.customers")?;
    assert!(
        out.contains("\"customers_pkey\" PRIMARY KEY, btree (id)")
            && out.contains("\"customers_email_key\" UNIQUE CONSTRAINT, btree (email)")
            && out.contains("TABLE \"sales.orders\" CONSTRAINT \"orders_id_fkey\""),
        "{out}"
    );
    let out = psql(&cluster, r"\dp sales.orders")?;
    assert!(out.contains("clerk=r/admin"), "{out}");
    // A bad statement fails with psql's exit code and the server's message.
    let e = psql(&cluster, "select * from nope").expect_err("missing table");
    assert!(
        format!("{e:#}").contains("relation \"nope\" does not exist"),
        "{e:#}"
    );
    // Wrong password.
    let out = psql_command(&cluster, "wrong", "select 1").output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password authentication failed"));
    Ok(())
}

/// Runs Python client `script` against a new cluster of `nodes` nodes; it prints
/// `ok` when every check passed.
fn python_client(script: &str, nodes: u32, ok: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), nodes, 2)?;
    let out = run(Command::new("python3")
        .arg(clients_dir().join(script))
        .arg(cluster.port.to_string())
        .arg(PASSWORD))?;
    assert!(out.contains(ok), "{out}");
    Ok(())
}

#[test]
fn psycopg_2_and_3() -> Result<()> {
    python_client("psycopg_clients.py", 2, "psycopg clients ok")
}

/// Amazon's Redshift Python driver logs in to a cluster started with no auth flags
/// (SCRAM for other clients; MD5 for it, as Redshift offers), and lists the catalog
/// through its metadata calls.
#[test]
fn redshift_connector_logs_in_with_the_defaults() -> Result<()> {
    python_client("redshift_connector_client.py", 1, "redshift_connector ok")
}

/// SQLAlchemy's reflection through sqlalchemy-redshift's dialect (tables, views,
/// columns, keys, comments) and pandas reading and writing tables.
#[test]
fn sqlalchemy_redshift_and_pandas() -> Result<()> {
    python_client("sqlalchemy_client.py", 1, "sqlalchemy ok")
}

/// asyncpg and node-postgres: a user logs in with its password, reads what it was
/// granted and nothing else, a rolled-back transaction leaves nothing, and a wrong
/// password gets 28P01.
#[test]
fn asyncpg_and_node_postgres() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let out = run(Command::new("python3")
        .arg(clients_dir().join("asyncpg_client.py"))
        .arg(cluster.port.to_string())
        .arg(PASSWORD))?;
    assert!(out.contains("asyncpg ok"), "{out}");
    let node = clients_dir().join("node");
    if !node.join("node_modules/pg").exists() {
        bail!(
            "node-postgres is missing: npm ci in {} (scripts/test.sh does)",
            node.display()
        );
    }
    let out = run(Command::new("node")
        .arg(node.join("client.js"))
        .arg(cluster.port.to_string())
        .arg(PASSWORD)
        .current_dir(&node))?;
    assert!(out.contains("node-postgres ok"), "{out}");
    Ok(())
}

#[test]
fn jdbc_driver() -> Result<()> {
    let jar = std::env::var("POSTGRESQL_JDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".to_string());
    if !Path::new(&jar).exists() {
        bail!("{jar} is missing: install Debian's libpostgresql-jdbc-java (.ci/run does)");
    }
    let classes = tempfile::tempdir()?;
    run(Command::new("javac")
        .args(["-d", &classes.path().display().to_string()])
        .arg(clients_dir().join("jdbc/JdbcClient.java")))?;
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 2, 2)?;
    let out = run(Command::new("java")
        .args(["-cp", &format!("{jar}:{}", classes.path().display())])
        .arg("JdbcClient")
        .arg(cluster.port.to_string())
        .arg(PASSWORD))?;
    assert!(out.contains("jdbc client ok"), "{out}");
    Ok(())
}

/// `psql \copy` loads a local file through COPY FROM STDIN, in PostgreSQL's text
/// format and in CSV; a bad row fails the COPY and loads nothing.
#[test]
fn psql_copy_from_stdin() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(&dir.path().join("data"), 1, 2)?;
    let text = dir.path().join("rows.tsv");
    std::fs::write(&text, "1\tone\n2\t\\N\n3\ttab\\there\n")?;
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "id,name\n4,\"four, with comma\"\n5,\n")?;
    psql(&cluster, "create table s (id int, name varchar(20))")?;
    let out = psql(&cluster, &format!("\\copy s from '{}'", text.display()))?;
    assert!(out.contains("COPY 3"), "{out}");
    let out = psql(
        &cluster,
        &format!(
            "\\copy s from '{}' with (format csv, header)",
            csv.display()
        ),
    )?;
    assert!(out.contains("COPY 2"), "{out}");
    let out = psql(
        &cluster,
        "select id, coalesce(name, '<null>') from s order by id",
    )?;
    for expected in [
        "1 | one",
        "2 | <null>",
        "4 | four, with comma",
        "5 | <null>",
    ] {
        assert!(out.contains(expected), "{expected:?} in {out}");
    }
    let out = psql(
        &cluster,
        "select id from s where name = 'tab' || chr(9) || 'here'",
    )?;
    assert!(out.contains(" 3\n"), "an escaped tab is a tab: {out}");
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "6\tok\nseven\tbad\n")?;
    let err = psql(&cluster, &format!("\\copy s from '{}'", bad.display())).expect_err("a bad row");
    assert!(err.to_string().contains("stl_load_errors"), "{err}");
    let out = psql(&cluster, "select count(*) from s")?;
    assert!(out.contains(" 5\n"), "nothing loaded: {out}");
    Ok(())
}

/// A CA and a server certificate for `localhost` it signed, as an operator would
/// bring them: (ca.crt, server.crt, server.key) in `dir`.
fn operator_certificates(dir: &Path) -> Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    // Distinct subjects: a server certificate named like its issuer looks self-signed.
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Blueshift test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["localhost".to_string()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = server_params.signed_by(&server_key, &issuer)?;
    let paths = ["ca.crt", "server.crt", "server.key"].map(|f| dir.join(f));
    std::fs::write(&paths[0], ca.pem())?;
    std::fs::write(&paths[1], server.pem())?;
    std::fs::write(&paths[2], server_key.serialize_pem())?;
    let [ca, cert, key] = paths.map(|p| p.display().to_string());
    Ok((ca, cert, key))
}

/// `--require-ssl` with the operator's certificate: clear-text clients are refused
/// with 28000, psql and psycopg connect with sslmode=verify-full against the
/// operator's CA, and a client that trusts another CA refuses the server.
#[tokio::test(flavor = "multi_thread")]
async fn tls_required_and_verified_with_psql_and_psycopg() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ca, cert, key) = operator_certificates(dir.path())?;
    let cluster = Embedded::start_with_env(
        &dir.path().join("data"),
        1,
        2,
        &[
            ("BLUESHIFT_TLS_CERT", cert.as_str()),
            ("BLUESHIFT_TLS_KEY", key.as_str()),
            ("BLUESHIFT_REQUIRE_SSL", "true"),
        ],
    )?;
    // tokio-postgres without TLS: refused before the password, with 28000.
    let e = tokio_postgres::connect(&cluster.conn_str(), tokio_postgres::NoTls)
        .await
        .err()
        .context("a clear-text connection must be refused")?;
    assert_eq!(blueshift_tests::sqlstate(&e), "28000", "{e:?}");

    let conninfo = |mode: &str, root: &str| {
        format!(
            "host=localhost port={} user=admin dbname=dev sslmode={mode} sslrootcert={root}",
            cluster.port
        )
    };
    let psql = |conninfo: String| {
        let mut cmd = Command::new("psql");
        cmd.args(["-X", "-A", "-t", &conninfo, "-c", "select 'over ' || 'tls'"])
            .env("PGPASSWORD", PASSWORD);
        cmd
    };
    let refused = psql(conninfo("disable", &ca)).output()?;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("requires SSL"), "{stderr}");
    let out = run(&mut psql(conninfo("verify-full", &ca)))?;
    assert!(out.contains("over tls"), "{out}");
    // A client that trusts another CA (of the same name, another key) refuses it.
    let other = tempfile::tempdir()?;
    let (other_ca, _, _) = operator_certificates(other.path())?;
    let mistrusted = psql(conninfo("verify-full", &other_ca)).output()?;
    assert!(!mistrusted.status.success());
    let stderr = String::from_utf8_lossy(&mistrusted.stderr);
    assert!(stderr.contains("SSL error"), "{stderr}");

    let script = format!(
        "import psycopg, psycopg2\n\
         for connect in (psycopg.connect, psycopg2.connect):\n\
         \x20   with connect({dsn:?}) as conn:\n\
         \x20       cur = conn.cursor()\n\
         \x20       cur.execute('select 42')\n\
         \x20       assert cur.fetchone() == (42,)\n\
         print('psycopg over tls ok')\n",
        dsn = format!("{} password={PASSWORD}", conninfo("verify-full", &ca))
    );
    let out = run(Command::new("python3").args(["-c", &script]))?;
    assert!(out.contains("psycopg over tls ok"), "{out}");
    Ok(())
}

/// Copies directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// dbt-core with dbt-redshift 1.9 (scripts/test.sh installs them in
/// target/dbt-venv) builds tests/clients/dbt: a seed, a view, a table with a
/// DISTKEY and SORTKEY, an incremental model run twice (its second run goes through
/// a temporary table), a late-binding view, a materialized view (refreshed by the
/// second run), data tests, descriptions persisted as comments, and
/// `dbt docs generate`'s catalog.
#[test]
fn dbt_redshift_builds_a_project() -> Result<()> {
    let dbt = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/dbt-venv/bin/dbt"
    ));
    if !dbt.exists() {
        bail!("{} is missing: scripts/test.sh installs dbt", dbt.display());
    }
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(&dir.path().join("cluster"), 1, 2)?;
    let project = dir.path().join("project");
    copy_dir(&clients_dir().join("dbt"), &project)?;
    std::fs::write(
        project.join("profiles.yml"),
        format!(
            "blueshift_dbt:\n  target: dev\n  outputs:\n    dev:\n      type: redshift\n      \
             host: 127.0.0.1\n      port: {}\n      user: admin\n      password: {PASSWORD}\n      \
             dbname: dev\n      schema: dbt_test\n      threads: 1\n      sslmode: disable\n      \
             ra3_node: true\n",
            cluster.port
        ),
    )?;
    for command in [
        &["seed"][..],
        &["run"],
        &["run"],
        &["test"],
        &["docs", "generate"],
    ] {
        let out = run(Command::new(dbt)
            .args(["--no-use-colors", "--no-version-check"])
            .args(command)
            .current_dir(&project)
            .env("DBT_PROFILES_DIR", &project)
            .env("DO_NOT_TRACK", "1")
            .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"))?;
        assert!(
            out.contains("Completed successfully") || out.contains("Catalog written"),
            "{out}"
        );
    }
    let out = psql(
        &cluster,
        "select count(*), count(distinct id), sum(amount) from dbt_test.orders_incremental;
         select diststyle, sortkey1, tbl_rows from svv_table_info where \"table\" = 'orders_table';
         select col_name, col_type from pg_get_late_binding_view_cols() cols(view_schema name, view_name name, col_name name, col_type varchar, col_num int) where view_name = 'orders_late' order by col_num;
         select obj_description('dbt_test.orders_table'::regclass), col_description('dbt_test.orders_table'::regclass, 1);
         select count(*), sum(amount) from dbt_test.orders_mv;
         select name, is_stale from svv_mv_info;",
    )?;
    for expected in [
        "5 |     5 | 138.84",
        "KEY(id)   | id       |        5",
        "id       | integer",
        "name     | character varying(20)",
        "Orders, distributed and sorted on id | The order's id",
        "5 | 138.84",
        "orders_mv | f",
    ] {
        assert!(out.contains(expected), "{expected} in:\n{out}");
    }
    let catalog = std::fs::read_to_string(project.join("target/catalog.json"))?;
    let catalog: serde_json::Value = serde_json::from_str(&catalog)?;
    let table = &catalog["nodes"]["model.blueshift_dbt.orders_table"];
    assert_eq!(table["metadata"]["type"], "BASE TABLE", "{table}");
    assert_eq!(
        table["columns"]["amount"]["type"], "numeric(10,2)",
        "{table}"
    );
    assert_eq!(table["stats"]["diststyle"]["value"], "KEY(id)", "{table}");
    assert_eq!(
        catalog["nodes"]["model.blueshift_dbt.orders_late"]["metadata"]["type"],
        "LATE BINDING VIEW"
    );
    assert_eq!(
        catalog["nodes"]["model.blueshift_dbt.orders_mv"]["metadata"]["type"],
        "MATERIALIZED VIEW"
    );
    Ok(())
}
