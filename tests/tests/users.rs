//! Users log in over the wire as Redshift has them: with a password (SCRAM), an MD5
//! hash (the MD5 exchange, per user), PASSWORD DISABLE and an expired VALID UNTIL
//! refused as a wrong password is (28P01), CONNECTION LIMIT (53300), ALTER USER ...
//! SET defaults, a user changing its own password; a regular user sees only its own
//! STL_QUERY rows and not pg_shadow; no password is stored as text.

use anyhow::{Result, bail};
use blueshift_tests::{Embedded, conn_str, connect, rows, sqlstate, table};

/// The SQLSTATE a login as `user` with `password` fails with, or "ok".
async fn login(port: u16, user: &str, password: &str) -> String {
    match tokio_postgres::connect(&conn_str(port, user, password), tokio_postgres::NoTls).await {
        Ok(_) => "ok".to_string(),
        Err(e) => sqlstate(&e),
    }
}

/// Whether any file under `dir` holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if any_file_holds(&path, needle)? {
                return Ok(true);
            }
        } else if std::fs::read(&path)?
            .windows(needle.len())
            .any(|w| w == needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_and_see_what_redshift_shows_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), 1, 2)?;
    let port = cluster.port;
    let admin = connect(&cluster.conn_str()).await?;
    let md5 = format!("md5{:x}", md5::compute("Dave1234dave"));
    admin
        .batch_execute(&format!(
            "create table users_t (k int);
             insert into users_t values (1);
             create user bob password 'Bob12345';
             create user dave password '{md5}';
             create user erin password disable;
             create user fred password 'Fred1234' valid until '2001-01-01';
             create user carol password 'Carol123' connection limit 1 valid until '2999-01-01';
             alter user bob set query_group to 'etl';
             grant select on users_t to bob;"
        ))
        .await?;

    assert_eq!(login(port, "bob", "Bob12345").await, "ok");
    assert_eq!(login(port, "bob", "Wrong123").await, "28P01");
    assert_eq!(login(port, "dave", "Dave1234").await, "ok", "MD5-only user");
    assert_eq!(login(port, "erin", "").await, "28P01", "PASSWORD DISABLE");
    assert_eq!(
        login(port, "fred", "Fred1234").await,
        "28P01",
        "VALID UNTIL passed"
    );
    assert_eq!(login(port, "nobody", "Bob12345").await, "28P01");

    // CONNECTION LIMIT 1: a second session is refused while the first is open.
    let first = connect(&conn_str(port, "carol", "Carol123")).await?;
    rows(&first, "select 1").await?;
    assert_eq!(login(port, "carol", "Carol123").await, "53300");
    drop(first);
    let mut again = String::new();
    for _ in 0..50 {
        again = login(port, "carol", "Carol123").await;
        if again == "ok" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(again, "ok", "carol's first session ended");

    // bob: its default, its privileges, its own rows of STL_QUERY.
    let bob = connect(&conn_str(port, "bob", "Bob12345")).await?;
    assert_eq!(rows(&bob, "show query_group").await?, table(&[&["etl"]]));
    assert_eq!(
        rows(&bob, "select count(*) from users_t").await?,
        table(&[&["1"]])
    );
    let others = rows(
        &bob,
        "select count(*) from stl_query where userid <> (select usesysid from pg_user where usename = current_user)",
    )
    .await?;
    assert_eq!(others, table(&[&["0"]]));
    // admin, carol and bob ran queries.
    let all = rows(&admin, "select count(distinct userid) from stl_query").await?;
    assert_eq!(all, table(&[&["3"]]));
    match bob.simple_query("select * from pg_shadow").await {
        Err(e) => assert_eq!(sqlstate(&e), "42501"),
        Ok(_) => bail!("bob read pg_shadow"),
    }
    match bob.simple_query("insert into users_t values (2)").await {
        Err(e) => {
            assert_eq!(sqlstate(&e), "42501");
            let message = e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            assert!(
                message.contains("users_t") && message.contains("INSERT"),
                "{message}"
            );
        }
        Ok(_) => bail!("bob inserted without INSERT"),
    }
    // A user changes its own password, but nobody else's.
    bob.batch_execute("alter user bob password 'Robert123'")
        .await?;
    match bob
        .simple_query("alter user dave password 'Dave5678'")
        .await
    {
        Err(e) => assert_eq!(sqlstate(&e), "42501"),
        Ok(_) => bail!("bob changed dave's password"),
    }
    assert_eq!(login(port, "bob", "Robert123").await, "ok");
    assert_eq!(login(port, "bob", "Bob12345").await, "28P01");

    // Passwords are kept as salted verifiers only.
    drop((admin, bob));
    drop(cluster);
    for password in ["Bob12345", "Robert123", "Carol123", "Fred1234"] {
        assert!(
            !any_file_holds(dir.path(), password.as_bytes())?,
            "{password} is stored as text"
        );
    }
    Ok(())
}
