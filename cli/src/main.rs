//! `blueshift`: runs the embedded cluster (`up`), a leader or a compute node.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use blueshift_compute::{ComputeConfig, ComputeNode};
use blueshift_leader::frontend::auth::AuthMethod;
use blueshift_leader::frontend::tls::TlsSettings;
use blueshift_leader::server::{ADMIN_USER, AdminPassword, DEFAULT_ADMIN_PASSWORD};
use blueshift_leader::{Leader, LeaderConfig, WlmSettings};
use blueshift_operators::secret::ClusterSecret;
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::embedded::{EmbeddedCluster, EmbeddedConfig};
use crate::node_tls::NodeTlsArgs;
use crate::s3_args::S3Args;
use crate::snapshot::{ClusterSnapshotArgs, SnapshotCommand, record_admin_addr};

mod config_file;
mod embedded;
mod node_tls;
mod s3_args;
mod snapshot;

/// Blueshift: an open-source MPP columnar data warehouse that speaks Redshift.
#[derive(Parser, Debug)]
#[command(name = "blueshift", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the embedded cluster: a leader and N compute nodes in one process.
    Up(UpArgs),
    /// Run a leader that uses separately started compute nodes.
    Leader(LeaderArgs),
    /// Run one compute node.
    Compute(ComputeArgs),
    /// Write a new cluster secret to FILE (if it does not exist yet), for a leader and
    /// compute nodes started as separate processes to share.
    ClusterSecret(ClusterSecretArgs),
    /// Write a CA and a certificate it signed into DIR (ca.pem, ca.key, node.pem,
    /// node.key), for a leader and compute nodes on separate hosts to talk over
    /// mutual TLS (--node-tls-ca, --node-tls-cert, --node-tls-key).
    NodeTls(NodeTlsGenerateArgs),
    /// Snapshots: take one of a running cluster, list, describe, verify, delete and
    /// collect them in their store, restore one into a new data directory.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
}

#[derive(Args, Debug)]
struct NodeTlsGenerateArgs {
    /// Where to write the files (none of them may exist yet).
    dir: PathBuf,
    /// A host name or IP address the certificate is for, once per host (default:
    /// localhost and 127.0.0.1).
    #[arg(long = "host")]
    hosts: Vec<String>,
}

#[derive(Args, Debug)]
struct ClusterSecretArgs {
    /// Where to write it (readable by its owner only).
    file: PathBuf,
}

/// The file holding the cluster secret: the one given, else `cluster.secret` in
/// `data_dir`.
fn secret_file(given: &Option<PathBuf>, data_dir: &std::path::Path) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| data_dir.join("cluster.secret"))
}

#[derive(Args, Debug)]
struct FrontEndArgs {
    /// Address to listen on for PostgreSQL clients.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port for PostgreSQL clients.
    #[arg(long, default_value_t = 5439)]
    port: u16,
    /// Password of the superuser `admin` (required unless listening on loopback).
    #[arg(long, env = "BLUESHIFT_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// Password exchange clients must use: scram-sha-256, md5 or password (cleartext).
    #[arg(long, default_value = "scram-sha-256")]
    auth: AuthMethod,
    /// Working memory for the queries running at once, in MiB (shared by WLM slots;
    /// each query's share also bounds its fragments on the compute nodes).
    #[arg(long, env = "BLUESHIFT_QUERY_MEMORY_MB", default_value_t = 4096)]
    query_memory_mb: u64,
    /// PEM certificate chain for TLS on the PostgreSQL port (with --tls-key). Without
    /// both, a self-signed pair is generated in the data directory at first start.
    #[arg(long, env = "BLUESHIFT_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "BLUESHIFT_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Refuse clients that do not use TLS (SQLSTATE 28000), as Redshift's require_ssl.
    #[arg(long, env = "BLUESHIFT_REQUIRE_SSL")]
    require_ssl: bool,
    /// Workload management: Redshift's wlm_json_configuration, verbatim (default:
    /// automatic WLM, one queue, short query acceleration on).
    #[arg(long, env = "BLUESHIFT_WLM_JSON_CONFIGURATION")]
    wlm_json_configuration: Option<String>,
    /// A file holding the WLM configuration's JSON, read at start and again when the
    /// leader gets SIGHUP (wins over --wlm-json-configuration).
    #[arg(long, env = "BLUESHIFT_WLM_CONFIG_FILE")]
    wlm_config_file: Option<PathBuf>,
    /// How often WLM checks query monitoring rules, WLM timeouts and short-query
    /// evictions, in milliseconds.
    #[arg(long, env = "BLUESHIFT_WLM_CHECK_MS", default_value_t = 1000)]
    wlm_check_ms: u64,
    #[command(flatten)]
    s3: S3Args,
}

impl FrontEndArgs {
    fn wlm(&self) -> WlmSettings {
        WlmSettings {
            json: self.wlm_json_configuration.clone(),
            file: self.wlm_config_file.clone(),
            check_every: std::time::Duration::from_millis(self.wlm_check_ms.max(1)),
        }
    }

    fn tls(&self) -> TlsSettings {
        TlsSettings {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            require_ssl: self.require_ssl,
        }
    }
}

/// What each compute node keeps in memory.
#[derive(Args, Debug)]
struct NodeArgs {
    /// Decoded blocks a compute node keeps in memory between scans, in MiB (0: none).
    #[arg(long, env = "BLUESHIFT_COLUMN_CACHE_MB", default_value_t = 2048)]
    column_cache_mb: u64,
}

#[derive(Args, Debug)]
struct SpillArgs {
    /// Temporary files a process's queries may hold at once when they spill, in GiB
    /// (in `spill/` under its data directory, emptied at start).
    #[arg(long, env = "BLUESHIFT_SPILL_LIMIT_GB", default_value_t = 100)]
    spill_limit_gb: u64,
}

impl SpillArgs {
    fn bytes(&self) -> u64 {
        self.spill_limit_gb.saturating_mul(1 << 30)
    }
}

/// `--config FILE`, read before the other flags (cli/src/config_file.rs).
#[derive(Args, Debug)]
struct ConfigArg {
    /// A TOML file of settings: keys are the long flag names (`snapshot-store =
    /// "s3://b/p"`; a `[snapshot]` table's `store` is the same); flags and environment
    /// variables win over it.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct UpArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where the cluster keeps its state.
    #[arg(long, default_value = "./blueshift-data")]
    data_dir: PathBuf,
    /// Compute nodes.
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// Slices per compute node.
    #[arg(long, default_value_t = 2)]
    slices_per_node: u32,
    #[command(flatten)]
    front: FrontEndArgs,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    spill: SpillArgs,
    #[command(flatten)]
    snapshot: ClusterSnapshotArgs,
}

#[derive(Args, Debug)]
struct LeaderArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Where the leader keeps its catalog.
    #[arg(long, default_value = "./blueshift-data/leader")]
    data_dir: PathBuf,
    /// Compute nodes' addresses, node 0 first (`host:port,host:port`).
    #[arg(long, value_delimiter = ',', required = true)]
    compute: Vec<String>,
    /// Slices per compute node (for a new cluster).
    #[arg(long, default_value_t = 2)]
    slices_per_node: u32,
    /// The cluster secret every call to a compute node carries (default
    /// `<data-dir>/cluster.secret`, generated there when missing).
    #[arg(long, env = "BLUESHIFT_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    node_tls: NodeTlsArgs,
    #[command(flatten)]
    front: FrontEndArgs,
    #[command(flatten)]
    spill: SpillArgs,
    #[command(flatten)]
    snapshot: ClusterSnapshotArgs,
}

#[derive(Args, Debug)]
struct ComputeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The node's number in the cluster (0, 1, ...), as the leader lists it.
    #[arg(long)]
    node: u32,
    /// Where the node keeps its slices.
    #[arg(long)]
    data_dir: PathBuf,
    /// Address of the node's Flight service.
    #[arg(long, default_value = "127.0.0.1:7100")]
    listen: SocketAddr,
    /// The cluster secret the node requires of every call, the leader's (default
    /// `<data-dir>/cluster.secret`; it must exist: `blueshift cluster-secret FILE`).
    #[arg(long, env = "BLUESHIFT_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    node_tls: NodeTlsArgs,
    #[command(flatten)]
    cache: NodeArgs,
    #[command(flatten)]
    spill: SpillArgs,
}

fn print_connect(addr: SocketAddr, admin: AdminPassword) {
    println!("Blueshift is ready on {addr}.");
    println!(
        "Connect with: psql -h {} -p {} -U {ADMIN_USER} dev",
        addr.ip(),
        addr.port()
    );
    if admin == AdminPassword::Default {
        println!(
            "The admin password is '{DEFAULT_ADMIN_PASSWORD}' (loopback only; set BLUESHIFT_ADMIN_PASSWORD to choose one)."
        );
    }
    println!("Stop with Ctrl-C.");
}

/// How long a clean shutdown may wait for running statements before the process
/// exits anyway (their work is then abandoned, as after a crash: nothing is committed).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `stop`, giving up after [`SHUTDOWN_GRACE`].
async fn stop_within_grace(stop: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(SHUTDOWN_GRACE, stop).await.is_err() {
        eprintln!(
            "Statements were still running after {} s; exiting without them.",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

async fn shutdown_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLUESHIFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = config_file::apply(std::env::args_os().collect(), &Cli::command())?;
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Snapshot { command } => snapshot::run(command).await?,
        Command::Up(args) => {
            let s3 = args.front.s3.config()?;
            let cluster = EmbeddedCluster::start(EmbeddedConfig {
                data_dir: args.data_dir.clone(),
                listen: SocketAddr::new(args.front.host, args.front.port),
                nodes: args.nodes,
                slices_per_node: args.slices_per_node,
                snapshot_store: args.snapshot.settings(&s3, args.nodes)?,
                admin_listen: args.snapshot.admin_listen(),
                s3,
                query_memory_bytes: args.front.query_memory_mb << 20,
                column_cache_bytes: args.node.column_cache_mb << 20,
                spill_limit_bytes: args.spill.bytes(),
                tls: args.front.tls(),
                wlm: args.front.wlm(),
                admin_password: args.front.admin_password,
                auth: args.front.auth,
            })
            .await
            .context("starting the cluster")?;
            let layout = cluster.leader.layout();
            println!(
                "Embedded cluster: {} compute nodes x {} slices, data in {}",
                layout.nodes,
                layout.slices_per_node,
                args.data_dir.display()
            );
            if let Some(addr) = cluster.leader.admin_addr() {
                record_admin_addr(&args.data_dir, addr)?;
            }
            print_connect(cluster.leader.addr(), cluster.leader.admin_password());
            shutdown_signal().await?;
            println!("Shutting down.");
            stop_within_grace(cluster.stop()).await;
        }
        Command::Leader(args) => {
            let secret = ClusterSecret::read_or_create(&secret_file(
                &args.cluster_secret_file,
                &args.data_dir,
            ))
            .map_err(anyhow::Error::msg)?;
            let secret = args.node_tls.apply(secret)?;
            let s3 = args.front.s3.config()?;
            let snapshot_store = args.snapshot.settings(&s3, args.compute.len() as u32)?;
            let leader = Leader::start(LeaderConfig {
                secret,
                data_dir: args.data_dir.clone(),
                listen: SocketAddr::new(args.front.host, args.front.port),
                compute: args.compute,
                slices_per_node: args.slices_per_node,
                snapshot_store,
                admin_listen: Some(args.snapshot.admin_listen()),
                s3,
                query_memory_bytes: args.front.query_memory_mb << 20,
                spill_limit_bytes: args.spill.bytes(),
                tls: args.front.tls(),
                wlm: args.front.wlm(),
                admin_password: args.front.admin_password,
                auth: args.front.auth,
            })
            .await
            .context("starting the leader")?;
            if let Some(addr) = leader.admin_addr() {
                record_admin_addr(&args.data_dir, addr)?;
            }
            print_connect(leader.addr(), leader.admin_password());
            shutdown_signal().await?;
            println!("Shutting down.");
            stop_within_grace(leader.stop()).await;
        }
        Command::NodeTls(args) => {
            let hosts = if args.hosts.is_empty() {
                vec!["localhost".to_string(), "127.0.0.1".to_string()]
            } else {
                args.hosts
            };
            node_tls::generate(&args.dir, &hosts)?;
            println!(
                "Wrote {} in {} (for {}). Give every leader and compute node \
                 --node-tls-ca ca.pem --node-tls-cert node.pem --node-tls-key node.key; \
                 keep ca.key to sign more.",
                node_tls::FILES.join(", "),
                args.dir.display(),
                hosts.join(", ")
            );
        }
        Command::ClusterSecret(args) => {
            let existed = args.file.exists();
            ClusterSecret::read_or_create(&args.file).map_err(anyhow::Error::msg)?;
            if existed {
                println!(
                    "{} holds a cluster secret already; kept it.",
                    args.file.display()
                );
            } else {
                println!("Wrote a new cluster secret to {}.", args.file.display());
            }
        }
        Command::Compute(args) => {
            if args.data_dir.as_os_str().is_empty() {
                bail!("--data-dir must not be empty");
            }
            let file = secret_file(&args.cluster_secret_file, &args.data_dir);
            if !file.exists() {
                bail!(
                    "no cluster secret at {}: give the node its leader's secret with \
                     --cluster-secret-file (`blueshift cluster-secret FILE` makes one)",
                    file.display()
                );
            }
            let secret = ClusterSecret::read(&file).map_err(anyhow::Error::msg)?;
            let secret = args.node_tls.apply(secret)?;
            let node = ComputeNode::start(ComputeConfig {
                secret,
                node: args.node,
                data_dir: args.data_dir,
                listen: args.listen,
                column_cache_bytes: args.cache.column_cache_mb << 20,
                spill_limit_bytes: args.spill.bytes(),
            })
            .await
            .context("starting the compute node")?;
            println!("Compute node {} serving on {}.", args.node, node.addr());
            shutdown_signal().await?;
            stop_within_grace(async {
                if let Err(e) = node.stop().await {
                    eprintln!("stopping the compute node: {e}");
                }
            })
            .await;
        }
    }
    Ok(())
}
