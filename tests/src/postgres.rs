//! A throwaway PostgreSQL 15 server, the oracle for SQL semantics in tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server on 127.0.0.1 in a temporary directory, stopped on drop.
/// As root it runs as the `postgres` user, as initdb insists.
pub struct Postgres {
    _dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

impl Postgres {
    /// Whether this machine has the server binaries.
    pub fn available() -> bool {
        Path::new(BIN).join("initdb").exists()
    }

    /// Creates a cluster and starts it (trust authentication, user `postgres`).
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        // The server user must reach its data directory and the files tests load.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        let as_root = is_root();
        if as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(&data))?;
        }
        let initdb = format!(
            "{BIN}/initdb -D {} -U postgres --auth=trust --no-sync -E UTF8 --locale=C",
            data.display()
        );
        run(&mut as_postgres(&initdb, as_root))?;
        // PostgreSQL cannot pick its own port and say which: take one the kernel
        // just gave out, and take another if someone bound it in between.
        let mut attempt = 0;
        let port = loop {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let start = format!(
                "{BIN}/pg_ctl -D {data} -w -t 60 -l {data}/log -o \"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB -c max_parallel_workers_per_gather=0\" start",
                data = data.display()
            );
            match run(&mut as_postgres(&start, as_root)) {
                Ok(()) => break port,
                Err(e) if attempt < 3 => {
                    eprintln!("PostgreSQL did not start on port {port} ({e:#}); another port");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Postgres {
            _dir: dir,
            data,
            port,
        })
    }

    /// A tokio-postgres connection string for the `postgres` database.
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let stop = format!("{BIN}/pg_ctl -D {} -m immediate stop", self.data.display());
        let _ = as_postgres(&stop, is_root()).output();
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn as_postgres(command: &str, as_root: bool) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "sh", "-c", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    }
}

fn run(command: &mut Command) -> Result<()> {
    let out = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
