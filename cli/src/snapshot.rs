//! `blueshift snapshot ...`: the snapshot CLI. `create` asks a running cluster's admin
//! API to take a snapshot; the other verbs work on the snapshot store directly, so
//! they work when the cluster is gone (docs/operations.md, Snapshots).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use arrow_flight::Action;
use blueshift_leader::s3_config::S3Config;
use blueshift_leader::server::SnapshotSettings;
use blueshift_operators::secret::ClusterSecret;
use blueshift_proto::{
    ACTION_CREATE_SNAPSHOT, ACTION_DISABLE_SNAPSHOT_COPY, ACTION_ENABLE_SNAPSHOT_COPY,
    ACTION_RESTORE_TABLE, CreateSnapshot, EnableSnapshotCopy, RestoreTable, SnapshotCopyState,
    SnapshotCreated, TableRestored,
};
use blueshift_storage::snapshot::schedule::{MAX_AUTOMATED_RETENTION_DAYS, SchedulePolicy};
use blueshift_storage::snapshot::{self, SnapshotStore, VerifyLevel};
use clap::{Args, Subcommand, ValueEnum};
use prost::Message;

use crate::node_tls::NodeTlsArgs;
use crate::s3_args::S3Args;

/// The file in a leader's data directory that holds its admin API's address.
pub const ADMIN_ADDR_FILE: &str = "admin.addr";

/// The snapshot store and admin API of `blueshift up` and `blueshift leader`.
#[derive(Args, Debug)]
pub struct ClusterSnapshotArgs {
    /// Where `blueshift snapshot create` puts snapshots: s3://bucket/prefix (reached
    /// with the --s3-* settings) or file:///path.
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_STORE")]
    snapshot_store: Option<String>,
    /// The IAM role (from --iam-roles) whose keys reach the snapshot store (default:
    /// the `default` role when one is mapped, else unsigned requests).
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_IAM_ROLE")]
    snapshot_iam_role: Option<String>,
    /// Take an automated snapshot when the last one is this many hours old...
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_EVERY_HOURS", default_value_t = 8)]
    snapshot_every_hours: u32,
    /// ... or when this many GB per node changed since (whichever comes first; never
    /// more often than every 15 minutes).
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_EVERY_GB", default_value_t = 5)]
    snapshot_every_gb: u64,
    /// Days to keep automated snapshots, 1 to 35 (0: no automated snapshots). The
    /// newest is always kept.
    #[arg(
        long,
        env = "BLUESHIFT_AUTOMATED_SNAPSHOT_RETENTION_DAYS",
        default_value_t = 1
    )]
    automated_snapshot_retention_days: u32,
    /// How often the leader checks whether an automated snapshot is due, in seconds.
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_CHECK_SECONDS", default_value_t = 60)]
    snapshot_check_seconds: u64,
    /// Address the admin API (used by `blueshift snapshot create`) listens on.
    #[arg(long, env = "BLUESHIFT_ADMIN_HOST", default_value = "127.0.0.1")]
    admin_host: IpAddr,
    /// Port of the admin API (0: any free port); the address is written to
    /// admin.addr in the leader's data directory.
    #[arg(long, env = "BLUESHIFT_ADMIN_PORT", default_value_t = 0)]
    admin_port: u16,
}

impl ClusterSnapshotArgs {
    /// The snapshot store's settings, when one is configured, for `nodes` nodes.
    pub fn settings(&self, s3: &S3Config, nodes: u32) -> Result<Option<SnapshotSettings>> {
        let Some(url) = &self.snapshot_store else {
            return Ok(None);
        };
        let retention = self.automated_snapshot_retention_days;
        if retention > MAX_AUTOMATED_RETENTION_DAYS {
            bail!(
                "--automated-snapshot-retention-days {retention}: automated snapshots are \
                 kept 1 to {MAX_AUTOMATED_RETENTION_DAYS} days (0 turns them off)"
            );
        }
        if self.snapshot_every_hours == 0 || self.snapshot_check_seconds == 0 {
            bail!("--snapshot-every-hours and --snapshot-check-seconds must be at least 1");
        }
        let store = s3
            .store_for_role(self.snapshot_iam_role.as_deref())
            .map_err(|e| anyhow::anyhow!("--snapshot-iam-role: {e}"))?;
        // Refuse a URL that cannot name a store now, not at the first snapshot.
        SnapshotStore::open(url, &store).with_context(|| format!("--snapshot-store {url}"))?;
        Ok(Some(SnapshotSettings {
            url: url.clone(),
            store,
            schedule: SchedulePolicy {
                every: chrono::Duration::hours(i64::from(self.snapshot_every_hours)),
                changed_bytes: self
                    .snapshot_every_gb
                    .saturating_mul(1 << 30)
                    .saturating_mul(u64::from(nodes.max(1))),
                retention_days: retention,
            },
            check_every: std::time::Duration::from_secs(self.snapshot_check_seconds),
        }))
    }

    /// Where the admin API listens.
    pub fn admin_listen(&self) -> SocketAddr {
        SocketAddr::new(self.admin_host, self.admin_port)
    }
}

/// Writes the admin API's address into `dir`, for `blueshift snapshot create`.
pub fn record_admin_addr(dir: &Path, addr: SocketAddr) -> Result<()> {
    let file = dir.join(ADMIN_ADDR_FILE);
    std::fs::write(&file, format!("{addr}\n"))
        .with_context(|| format!("writing {}", file.display()))
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Take a manual snapshot of a running cluster (through its admin API).
    Create(CreateArgs),
    /// List the snapshots in a store.
    List(ListArgs),
    /// Show one snapshot: when, what it holds, what it uploaded.
    Describe(OneSnapshotArgs),
    /// Delete a snapshot, then the segments no other snapshot references.
    Delete(DeleteArgs),
    /// Delete the segments no snapshot references.
    Gc(GcArgs),
    /// Check a snapshot without restoring it.
    Verify(VerifyArgs),
    /// Build a new cluster's data directory from a snapshot.
    Restore(RestoreArgs),
    /// Restore one table of a snapshot into the running cluster under a new name.
    RestoreTable(RestoreTableArgs),
    /// Copy one snapshot to another store (another bucket, region or endpoint).
    Copy(CopyArgs),
    /// From now on, have the running cluster copy every new snapshot to another
    /// store, keeping copied automated snapshots there for their own retention.
    EnableCopy(EnableCopyArgs),
    /// Stop copying new snapshots.
    DisableCopy(DisableCopyArgs),
}

/// How to print results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// A snapshot store, reached directly.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The snapshot store: s3://bucket/prefix or file:///path.
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_STORE")]
    store: String,
    /// The IAM role (from --iam-roles) whose keys reach the store (default: the
    /// `default` role when one is mapped, else unsigned requests).
    #[arg(long, env = "BLUESHIFT_SNAPSHOT_IAM_ROLE")]
    iam_role: Option<String>,
    #[command(flatten)]
    s3: S3Args,
}

impl StoreArgs {
    fn open(&self) -> Result<SnapshotStore> {
        let config = self
            .s3
            .config()?
            .store_for_role(self.iam_role.as_deref())
            .map_err(|e| anyhow::anyhow!("--iam-role: {e}"))?;
        Ok(SnapshotStore::open(&self.store, &config)?)
    }
}

/// How to reach a running cluster's admin API.
#[derive(Args, Debug)]
pub struct AdminArgs {
    /// The cluster's data directory (`blueshift up --data-dir`, or a leader's): its
    /// admin address and cluster secret are read from there.
    #[arg(long, default_value = "./blueshift-data")]
    data_dir: PathBuf,
    /// The admin API's host:port (default: read from the data directory).
    #[arg(long, env = "BLUESHIFT_ADMIN_ADDR")]
    admin: Option<String>,
    /// The cluster secret (default: cluster.secret in the data directory).
    #[arg(long, env = "BLUESHIFT_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    node_tls: NodeTlsArgs,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The snapshot's id (default: manual-<UTC date and time>).
    #[arg(long)]
    id: Option<String>,
    /// Days to keep it, 1 to 3653 (default: until deleted).
    #[arg(long)]
    retention_days: Option<u32>,
    #[command(flatten)]
    admin: AdminArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

/// A destination store for copies.
#[derive(Args, Debug)]
pub struct DestArgs {
    /// The destination: s3://bucket/prefix (another bucket, region or endpoint) or
    /// file:///path.
    #[arg(long)]
    dest_store: String,
    /// Its region (default: --s3-region).
    #[arg(long)]
    dest_region: Option<String>,
    /// Its S3-compatible endpoint (default: --s3-endpoint).
    #[arg(long)]
    dest_s3_endpoint: Option<String>,
    /// The IAM role (from --iam-roles) whose keys reach it (default: `default` when
    /// mapped).
    #[arg(long)]
    dest_iam_role: Option<String>,
    /// Days to keep copied automated snapshots there, 1 to 35 (default 7).
    #[arg(long, default_value_t = 7)]
    retention_days: u32,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    #[command(flatten)]
    dest: DestArgs,
}

#[derive(Args, Debug)]
pub struct RestoreTableArgs {
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    /// The table in the snapshot: `table` (in public) or `schema.table`.
    #[arg(long)]
    source_table: String,
    /// The new table's name, which must not exist.
    #[arg(long)]
    new_table_name: String,
    /// The new table's schema (default: the source's).
    #[arg(long)]
    target_schema: Option<String>,
    /// The snapshot's store, when it is not the cluster's own (`--snapshot-store`):
    /// another cluster's, with the same slice count.
    #[arg(long)]
    store: Option<String>,
    /// The IAM role (of the cluster's role mapping) whose keys reach --store.
    #[arg(long)]
    iam_role: Option<String>,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct EnableCopyArgs {
    #[command(flatten)]
    dest: DestArgs,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct DisableCopyArgs {
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Args, Debug)]
pub struct OneSnapshotArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// How thoroughly `verify` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Level {
    /// The manifest's checksum and the presence and size of every segment.
    Quick,
    /// Also every segment downloaded, hashed, and its row count read from its footer.
    Full,
    /// `quick`, and --percent of the segments checked as `full` does: those earlier
    /// sample runs did not check, so that repeated runs cover every segment.
    Sample,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    #[arg(long, value_enum, default_value_t = Level::Quick)]
    level: Level,
    /// With --level sample: the share of the segments to check fully, 1 to 100.
    #[arg(long, default_value_t = 10)]
    percent: u32,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot's id.
    #[arg(long)]
    snapshot: String,
    /// The new cluster's data directory (must not exist, or be empty).
    #[arg(long)]
    data_dir: PathBuf,
    /// Compute nodes of the new cluster (default: the snapshot's); its slices must
    /// spread evenly over them.
    #[arg(long)]
    nodes: Option<u32>,
}

/// Runs one `blueshift snapshot` verb.
pub async fn run(command: SnapshotCommand) -> Result<()> {
    match command {
        SnapshotCommand::Create(args) => create(args).await,
        SnapshotCommand::Copy(args) => {
            let source = args.store.open()?;
            let mut s3 = args.store.s3.config()?;
            if args.dest.dest_region.is_some() {
                s3.region = args.dest.dest_region.clone();
            }
            if args.dest.dest_s3_endpoint.is_some() {
                s3.endpoint = args.dest.dest_s3_endpoint.clone();
            }
            let config = s3
                .store_for_role(args.dest.dest_iam_role.as_deref())
                .map_err(|e| anyhow::anyhow!("--dest-iam-role: {e}"))?;
            let target = SnapshotStore::open(&args.dest.dest_store, &config)?;
            let copied =
                snapshot::copy(&source, &target, &args.snapshot, args.dest.retention_days).await?;
            println!(
                "Copied snapshot {} to {}: sent {} segments ({}), {} ({}) were there already.",
                copied.id,
                target.url(),
                copied.uploaded.segments,
                bytes(copied.uploaded.bytes),
                copied.skipped.segments,
                bytes(copied.skipped.bytes)
            );
            Ok(())
        }
        SnapshotCommand::RestoreTable(args) => {
            let (schema, table) = match args.source_table.split_once('.') {
                Some((schema, table)) => (schema.to_string(), table.to_string()),
                None => ("public".to_string(), args.source_table.clone()),
            };
            let request = RestoreTable {
                store_url: args.store.unwrap_or_default(),
                iam_role: args.iam_role,
                snapshot: args.snapshot,
                target_schema: args.target_schema.unwrap_or_else(|| schema.clone()),
                source_schema: schema,
                source_table: table,
                new_table: args.new_table_name,
            };
            let body =
                admin_call(&args.admin, ACTION_RESTORE_TABLE, request.encode_to_vec()).await?;
            let restored = TableRestored::decode(body)?;
            println!(
                "Restored {}.{} from snapshot {}: {} rows, {} segments ({}).",
                restored.schema,
                restored.name,
                request.snapshot,
                restored.rows,
                restored.segments,
                bytes(restored.bytes)
            );
            Ok(())
        }
        SnapshotCommand::EnableCopy(args) => {
            let request = EnableSnapshotCopy {
                url: args.dest.dest_store,
                region: args.dest.dest_region,
                endpoint: args.dest.dest_s3_endpoint,
                iam_role: args.dest.dest_iam_role,
                retention_days: args.dest.retention_days,
            };
            let body = admin_call(
                &args.admin,
                ACTION_ENABLE_SNAPSHOT_COPY,
                request.encode_to_vec(),
            )
            .await?;
            let state = SnapshotCopyState::decode(body)?;
            println!(
                "New snapshots are copied to {}; copied automated snapshots are kept {} days there.",
                state.url, state.retention_days
            );
            Ok(())
        }
        SnapshotCommand::DisableCopy(args) => {
            admin_call(&args.admin, ACTION_DISABLE_SNAPSHOT_COPY, Vec::new()).await?;
            println!("New snapshots are no longer copied.");
            Ok(())
        }
        SnapshotCommand::List(args) => {
            let store = args.store.open()?;
            let manifests = store.manifests().await?;
            let (_, in_progress) = store.snapshot_ids().await?;
            if args.output == Output::Json {
                let list: Vec<_> = manifests.iter().map(summary).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            println!(
                "{:<32} {:<9} {:<24} {:>6} {:>9} {:>12} {:>9}",
                "id", "kind", "created", "tables", "segments", "size", "retention"
            );
            for m in &manifests {
                println!(
                    "{:<32} {:<9} {:<24} {:>6} {:>9} {:>12} {:>9}",
                    m.id,
                    format!("{:?}", m.kind).to_lowercase(),
                    m.created_at,
                    m.tables.len(),
                    m.segments.len(),
                    bytes(m.total_bytes()),
                    m.retention_days
                        .map_or("manual".to_string(), |d| format!("{d} days")),
                );
            }
            for (id, since) in in_progress {
                println!("{id:<32} (in progress since {since})");
            }
            Ok(())
        }
        SnapshotCommand::Describe(args) => {
            let manifest = args.store.open()?.manifest(&args.snapshot).await?;
            let mut described = summary(&manifest);
            described["tables"] = serde_json::to_value(&manifest.tables)?;
            if args.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&described)?);
                return Ok(());
            }
            println!(
                "Snapshot {} ({:?}), taken {} by Blueshift {}, of {} nodes x {} slices.",
                manifest.id,
                manifest.kind,
                manifest.created_at,
                manifest.blueshift_version,
                manifest.catalog.layout.nodes,
                manifest.catalog.layout.slices_per_node
            );
            println!(
                "{} segments, {}; it uploaded {} segments ({}) and found {} ({}) in the store, in {:.1} s.",
                manifest.segments.len(),
                bytes(manifest.total_bytes()),
                manifest.uploaded.segments,
                bytes(manifest.uploaded.bytes),
                manifest.skipped.segments,
                bytes(manifest.skipped.bytes),
                manifest.elapsed_ms as f64 / 1000.0
            );
            for t in &manifest.tables {
                let note = if t.backup {
                    ""
                } else {
                    " (BACKUP NO: no rows)"
                };
                println!("  {}.{}: {} rows{note}", t.schema, t.name, t.rows);
            }
            Ok(())
        }
        SnapshotCommand::Delete(args) => {
            let store = args.store.open()?;
            store.delete(&args.snapshot, args.dry_run).await?;
            let what = if args.dry_run {
                // The segments the snapshot alone references would go with it.
                let others: std::collections::BTreeSet<String> = store
                    .manifests()
                    .await?
                    .into_iter()
                    .filter(|m| m.id != args.snapshot)
                    .flat_map(|m| m.segments.into_iter().map(|s| s.name))
                    .collect();
                let own = store.manifest(&args.snapshot).await?;
                let gone: Vec<_> = own
                    .segments
                    .iter()
                    .filter(|s| !others.contains(&s.name))
                    .collect();
                format!(
                    "Would delete snapshot {} and {} segments ({}) no other snapshot references.",
                    args.snapshot,
                    gone.len(),
                    bytes(gone.iter().map(|s| s.bytes).sum())
                )
            } else {
                let gc = store.collect_garbage(false).await?;
                format!(
                    "Deleted snapshot {}, and {} segments ({}) no snapshot references.",
                    args.snapshot,
                    gc.removed.len(),
                    bytes(gc.bytes)
                )
            };
            println!("{what}");
            Ok(())
        }
        SnapshotCommand::Gc(args) => {
            let gc = args.store.open()?.collect_garbage(args.dry_run).await?;
            let verb = if args.dry_run {
                "Would delete"
            } else {
                "Deleted"
            };
            println!(
                "{verb} {} segments ({}) no snapshot references{}.",
                gc.removed.len(),
                bytes(gc.bytes),
                if gc.kept_for_in_progress > 0 {
                    format!(
                        "; kept {} written since a snapshot in progress began",
                        gc.kept_for_in_progress
                    )
                } else {
                    String::new()
                }
            );
            for name in &gc.removed {
                println!("  segments/{name}");
            }
            Ok(())
        }
        SnapshotCommand::Verify(args) => {
            let store = args.store.open()?;
            let level = match args.level {
                Level::Quick => VerifyLevel::Quick,
                Level::Full => VerifyLevel::Full,
                Level::Sample => VerifyLevel::Sample {
                    percent: args.percent,
                },
            };
            let report = snapshot::verify(&store, &args.snapshot, level).await?;
            if args.output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "Snapshot {}: {} segments ({}) present, {} checked in full: {} missing, {} corrupt.",
                    report.id,
                    report.segments,
                    bytes(report.bytes),
                    report.fully_checked,
                    report.missing.len(),
                    report.corrupt.len()
                );
                match report.round_remaining {
                    Some(0) => println!(
                        "Every segment has now been checked in full; the next sample starts over."
                    ),
                    Some(n) => println!("{n} segments are still to be checked by later samples."),
                    None => {}
                }
                for url in &report.missing {
                    println!("  missing: {url}");
                }
                for (url, reason) in &report.corrupt {
                    println!("  corrupt: {url}: {reason}");
                }
            }
            if !report.ok() {
                bail!("snapshot {} failed verification", report.id);
            }
            Ok(())
        }
        SnapshotCommand::Restore(args) => {
            let store = args.store.open()?;
            let report =
                snapshot::restore(&store, &args.snapshot, &args.data_dir, args.nodes).await?;
            println!(
                "Restored snapshot {} into {}: {} nodes x {} slices, {} tables, {} segments ({}).",
                report.id,
                args.data_dir.display(),
                report.nodes,
                report.slices_per_node,
                report.tables,
                report.segments,
                bytes(report.bytes)
            );
            println!(
                "Start it with: blueshift up --data-dir {} --nodes {} --slices-per-node {}",
                args.data_dir.display(),
                report.nodes,
                report.slices_per_node
            );
            Ok(())
        }
    }
}

/// Calls `action` on the admin API of the cluster `admin` names; returns the answer.
async fn admin_call(admin: &AdminArgs, action: &str, body: Vec<u8>) -> Result<bytes::Bytes> {
    let secret_file = admin
        .cluster_secret_file
        .clone()
        .unwrap_or_else(|| admin.data_dir.join("cluster.secret"));
    let secret = ClusterSecret::read(&secret_file).map_err(anyhow::Error::msg)?;
    let secret = admin.node_tls.apply(secret)?;
    let addr = match &admin.admin {
        Some(addr) => addr.clone(),
        None => {
            let candidates = [
                snapshot::leader_dir(&admin.data_dir).join(ADMIN_ADDR_FILE),
                admin.data_dir.join(ADMIN_ADDR_FILE),
            ];
            let found = candidates
                .iter()
                .find_map(|f| std::fs::read_to_string(f).ok());
            match found {
                Some(text) => text.trim().to_string(),
                None => bail!(
                    "no admin address in {} (is the cluster running?): give --admin host:port",
                    admin.data_dir.display()
                ),
            }
        }
    };
    let mut client = secret.connect(&addr).map_err(anyhow::Error::msg)?;
    let mut stream = client
        .do_action(Action::new(action.to_string(), body))
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))
        .with_context(|| format!("admin API at {addr}"))?
        .into_inner();
    let answer = stream
        .message()
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .context("the admin API sent no answer")?;
    Ok(answer.body)
}

async fn create(args: CreateArgs) -> Result<()> {
    let request = CreateSnapshot {
        id: args.id.unwrap_or_default(),
        retention_days: args.retention_days,
    };
    let body = admin_call(&args.admin, ACTION_CREATE_SNAPSHOT, request.encode_to_vec()).await?;
    let created = SnapshotCreated::decode(body)?;
    let transfer = created.transfer.unwrap_or_default();
    if args.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "id": created.id,
                "store": created.store_url,
                "created_at": created.created_at,
                "tables": created.tables,
                "segments": created.segments,
                "bytes": created.bytes,
                "uploaded": {"segments": transfer.uploaded_segments, "bytes": transfer.uploaded_bytes},
                "skipped": {"segments": transfer.skipped_segments, "bytes": transfer.skipped_bytes},
                "elapsed_ms": created.elapsed_ms,
                "copied_to": created.copied_to,
                "copy_error": created.copy_error,
            }))?
        );
    } else {
        println!(
            "Snapshot {} created in {}: {} tables, {} segments ({}); uploaded {} segments ({}), \
             {} ({}) were in the store already; {:.1} s.",
            created.id,
            created.store_url,
            created.tables,
            created.segments,
            bytes(created.bytes),
            transfer.uploaded_segments,
            bytes(transfer.uploaded_bytes),
            transfer.skipped_segments,
            bytes(transfer.skipped_bytes),
            created.elapsed_ms as f64 / 1000.0
        );
        if let Some(url) = &created.copied_to {
            println!("Copied to {url}.");
        }
    }
    if let Some(why) = &created.copy_error {
        eprintln!("The snapshot exists, but its copy failed: {why}");
    }
    Ok(())
}

/// A manifest's summary, for listings.
fn summary(m: &snapshot::Manifest) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "kind": m.kind,
        "created_at": m.created_at,
        "retention_days": m.retention_days,
        "blueshift_version": m.blueshift_version,
        "nodes": m.catalog.layout.nodes,
        "slices_per_node": m.catalog.layout.slices_per_node,
        "segments": m.segments.len(),
        "bytes": m.total_bytes(),
        "uploaded": m.uploaded,
        "skipped": m.skipped,
        "elapsed_ms": m.elapsed_ms,
    })
}

/// Bytes for people: `812 B`, `4.5 MB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
