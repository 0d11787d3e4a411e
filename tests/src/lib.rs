//! End-to-end test harness: starts real Blueshift processes on loopback (each on port
//! 0, reading the port it got from its ready line) and connects real clients to them.
//! A test that holds a server past `BLUESHIFT_TEST_TIMEOUT_SECS` fails its test binary.
//!
//! The tests find the `blueshift` binary next to the test executable's target
//! directory (build it first: `cargo build --bin blueshift`), or at `$BLUESHIFT_BIN`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub mod postgres;
pub mod tpch;

/// The admin password the tests use.
pub const PASSWORD: &str = "test-password";

static BLUESHIFT_BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes [`blueshift_bin`] return `path` from now on (for tools, such as benchmarks,
/// that take the binary as an argument). Only the first call has an effect.
pub fn use_blueshift_bin(path: PathBuf) {
    let _ = BLUESHIFT_BIN.set(path);
}

/// The `blueshift` binary under test: the one [`use_blueshift_bin`] chose, or
/// `$BLUESHIFT_BIN`, or the one beside the test executable's target directory.
pub fn blueshift_bin() -> Result<PathBuf> {
    if let Some(p) = BLUESHIFT_BIN.get() {
        return Ok(p.clone());
    }
    if let Ok(p) = std::env::var("BLUESHIFT_BIN") {
        return Ok(PathBuf::from(p));
    }
    // target/<profile>/deps/<test> -> target/<profile>/blueshift
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no target directory")?;
    let bin = profile_dir.join("blueshift");
    if !bin.exists() {
        bail!(
            "{} is missing: run `cargo build --bin blueshift` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// A running `blueshift` process; killed when dropped.
pub struct Process {
    child: Child,
    pub output: mpsc::Receiver<String>,
    /// The lines it printed until it was ready.
    pub started: Vec<String>,
    /// Cleared when the process is dropped: its test's watchdog stands down.
    alive: Arc<AtomicBool>,
}

/// How long a test may hold a server it started: `BLUESHIFT_TEST_TIMEOUT_SECS`, 600 by
/// default (the slowest test takes under two minutes here).
fn test_limit() -> Duration {
    let secs = std::env::var("BLUESHIFT_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

/// The servers tests started and still hold, by process id.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A test that still holds server `pid` after [`test_limit`] is hung: the watchdog
/// names it, kills every server tests started, and ends the test binary with a
/// failure, so a hang costs minutes, not the suite's whole time limit. The test's
/// name is its thread's, as the test harness names it.
fn watch_the_test(pid: u32, alive: Arc<AtomicBool>) {
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let limit = test_limit();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
            if !alive.load(Ordering::SeqCst) {
                return;
            }
        }
        // Straight to stderr, past the test harness's capture of eprintln!.
        let _ = writeln!(
            std::io::stderr(),
            "{test}: still running after {} s (BLUESHIFT_TEST_TIMEOUT_SECS); stopping this test binary",
            limit.as_secs()
        );
        for pid in CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        std::process::exit(124);
    });
}

impl Process {
    /// Starts `blueshift args...` and waits for a stdout line containing `ready_marker`.
    pub fn start(args: &[String], env: &[(&str, &str)], ready_marker: &str) -> Result<Self> {
        let mut cmd = Command::new(blueshift_bin()?);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("BLUESHIFT_ADMIN_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("spawning blueshift")?;
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[blueshift] {line}");
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        let alive = Arc::new(AtomicBool::new(true));
        watch_the_test(child.id(), Arc::clone(&alive));
        let mut process = Process {
            child,
            output: rx,
            started: vec![],
            alive,
        };
        process.started = process.wait_for(ready_marker, Duration::from_secs(60))?;
        Ok(process)
    }

    /// The port the process said it serves on, in its ready line ("... on
    /// 127.0.0.1:PORT."): servers in tests listen on port 0 and report the port they
    /// got, so no two tests race for a free one.
    pub fn reported_port(&self, marker: &str) -> Result<u16> {
        let line = self
            .started
            .iter()
            .find(|l| l.contains(marker))
            .with_context(|| format!("no line with {marker:?} in {:#?}", self.started))?;
        let addr = line
            .split(" on ")
            .nth(1)
            .map(|a| a.trim_end_matches('.'))
            .with_context(|| format!("no address in {line:?}"))?;
        let addr: std::net::SocketAddr = addr
            .parse()
            .with_context(|| format!("no address in {line:?}"))?;
        Ok(addr.port())
    }

    /// Waits for an output line containing `marker`; returns the lines seen.
    pub fn wait_for(&mut self, marker: &str, within: Duration) -> Result<Vec<String>> {
        let deadline = std::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(marker);
                    seen.push(line);
                    if done {
                        return Ok(seen);
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait()?;
                    bail!("no line with {marker:?} (process status {status:?}); output: {seen:#?}");
                }
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself; its status.
    pub fn wait_exit(mut self, within: Duration) -> Result<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("blueshift did not exit within {within:?}")
    }

    /// SIGKILL, and wait.
    pub fn kill9(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, and wait for a clean exit.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("blueshift did not exit within 10 s of SIGTERM")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
        let pid = self.child.id();
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&p| p != pid);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An embedded cluster (`blueshift up`) on the port it picked (`--port 0`).
pub struct Embedded {
    pub process: Process,
    pub port: u16,
}

impl Embedded {
    /// Starts `blueshift up` on `data_dir` with `nodes` x `slices` and the test password.
    pub fn start(data_dir: &Path, nodes: u32, slices: u32) -> Result<Self> {
        Self::start_with_env(data_dir, nodes, slices, &[])
    }

    /// [`Embedded::start`] with extra environment variables.
    pub fn start_with_env(
        data_dir: &Path,
        nodes: u32,
        slices: u32,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let args: Vec<String> = [
            "up",
            "--data-dir",
            &data_dir.display().to_string(),
            "--port",
            "0",
            "--nodes",
            &nodes.to_string(),
            "--slices-per-node",
            &slices.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut all_env = vec![("BLUESHIFT_ADMIN_PASSWORD", PASSWORD)];
        all_env.extend_from_slice(env);
        let process = Process::start(&args, &all_env, "ready on")?;
        let port = process.reported_port("ready on")?;
        Ok(Embedded { process, port })
    }

    /// A libpq-style connection string for `admin`.
    pub fn conn_str(&self) -> String {
        conn_str(self.port, "admin", PASSWORD)
    }
}

/// A connection string for tokio-postgres.
pub fn conn_str(port: u16, user: &str, password: &str) -> String {
    format!("host=127.0.0.1 port={port} user={user} password={password} dbname=dev")
}

/// Connects tokio-postgres and drives the connection on a task.
pub async fn connect(conn: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// Rows of a simple query as strings (NULL as "NULL").
pub async fn rows(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for m in client.simple_query(sql).await? {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            out.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// Expected rows, written out in a test.
pub fn table(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Segment files of a data directory, with their paths.
pub fn segment_paths(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// How many segment files a data directory holds.
pub fn segment_files(dir: &std::path::Path) -> Result<usize> {
    Ok(segment_paths(dir)?.len())
}

/// The access key of the test S3 endpoint.
pub const S3_ACCESS_KEY: &str = "AKIABLUESHIFTTEST";
/// Its secret key.
pub const S3_SECRET_KEY: &str = "blueshift-test-secret-key";

/// A real S3 endpoint (s3s-fs, SigV4 authentication) served in the test process on a
/// free loopback port; objects are files under `root/<bucket>/<key>`.
pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Starts the endpoint with one bucket per name in `buckets`.
    pub async fn start(buckets: &[&str]) -> Result<Self> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        use hyper_util::server::conn::auto::Builder;
        use s3s::auth::SimpleAuth;
        use s3s::service::S3ServiceBuilder;

        let root = tempfile::tempdir()?;
        for bucket in buckets {
            std::fs::create_dir_all(root.path().join(bucket))?;
        }
        let fs = s3s_fs::FileSystem::new(root.path())
            .map_err(|e| anyhow::anyhow!("starting s3s-fs: {e:?}"))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(S3_ACCESS_KEY, S3_SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let http = Builder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Ok(S3Server {
            endpoint,
            root,
            task,
        })
    }

    /// Writes an object.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.path().join(bucket).join(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    }

    /// The keys under `prefix` in `bucket`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let base = self.root.path().join(bucket);
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&base) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.starts_with(prefix) {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The contents of an object.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let path = self.root.path().join(bucket).join(key);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// An embedded cluster of `nodes` x 2 slices in `dir/data`, set up for this
    /// endpoint (its roles file in `dir`).
    pub fn start_cluster(&self, dir: &Path, nodes: u32) -> Result<Embedded> {
        let env = self.cluster_env(&dir.join("roles.json"))?;
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Embedded::start_with_env(&dir.join("data"), nodes, 2, &env)
    }

    /// A 2-node cluster (2 slices each) on this endpoint that splits COPY input
    /// files over `split_bytes` bytes, and a client of it.
    pub async fn start_split_cluster(
        &self,
        dir: &Path,
        split_bytes: u64,
    ) -> Result<(Embedded, tokio_postgres::Client)> {
        let mut env = self.cluster_env(&dir.join("roles.json"))?;
        env.push(("BLUESHIFT_COPY_SPLIT_BYTES".into(), split_bytes.to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cluster = Embedded::start_with_env(&dir.join("data"), 2, 2, &env)?;
        let client = connect(&cluster.conn_str()).await?;
        Ok((cluster, client))
    }

    /// The environment a cluster needs to use this endpoint, with `roles_file`
    /// mapping `IAM_ROLE default` and the test ARN to the test keys.
    pub fn cluster_env(&self, roles_file: &Path) -> Result<Vec<(String, String)>> {
        let creds = format!(
            r#"{{"access_key_id": "{S3_ACCESS_KEY}", "secret_access_key": "{S3_SECRET_KEY}"}}"#
        );
        std::fs::write(
            roles_file,
            format!(r#"{{"default": {creds}, "{TEST_ROLE}": {creds}}}"#),
        )?;
        Ok(vec![
            ("BLUESHIFT_S3_ENDPOINT".into(), self.endpoint.clone()),
            ("BLUESHIFT_S3_ALLOW_HTTP".into(), "true".into()),
            ("BLUESHIFT_S3_PATH_STYLE".into(), "true".into()),
            (
                "BLUESHIFT_IAM_ROLES".into(),
                roles_file.display().to_string(),
            ),
        ])
    }
}

/// The IAM role ARN the test endpoint's keys are mapped to.
pub const TEST_ROLE: &str = "arn:aws:iam::123456789012:role/blueshift-test";

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
