//! [`Leader`]: starts the leader.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blueshift_storage::catalog::{Catalog, ClusterLayout};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cluster::ClusterClient;
use crate::commit::CommitPoint;
use crate::engine::Engine;
use crate::engine::WlmSettings;
pub use crate::engine::snapshot::SnapshotSettings;
use crate::engine::snapshot_copy::SnapshotCopy;
use crate::error::LeaderError;
use crate::frontend::admin::AdminServer;
use crate::frontend::auth::{AuthMethod, new_user};
use crate::frontend::tls::TlsSettings;
use crate::frontend::wire::Handlers;
use crate::s3_config::S3Config;
use blueshift_operators::secret::ClusterSecret;

/// The bootstrap superuser.
pub const ADMIN_USER: &str = "admin";
/// Its password when none is given, on loopback only.
pub const DEFAULT_ADMIN_PASSWORD: &str = "blueshift";

/// How to run a leader.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// Where the catalog lives (`<data_dir>/catalog`).
    pub data_dir: PathBuf,
    /// PostgreSQL protocol address.
    pub listen: SocketAddr,
    /// `host:port` of each compute node's Flight service, node 0 first.
    pub compute: Vec<String>,
    /// Slices per node, for a new cluster (an existing one keeps its own).
    pub slices_per_node: u32,
    /// The superuser's password; see [`LeaderConfig::listen`] for the default.
    pub admin_password: Option<String>,
    /// The password exchange clients must use.
    pub auth: AuthMethod,
    /// S3 endpoint and IAM roles, for COPY and UNLOAD.
    pub s3: S3Config,
    /// Working memory shared by the queries running at once (WLM slots).
    pub query_memory_bytes: u64,
    /// Bytes of temporary files the leader's queries may hold at once (they spill in
    /// `<data_dir>/spill`).
    pub spill_limit_bytes: u64,
    /// TLS on the PostgreSQL port.
    pub tls: TlsSettings,
    /// The secret every call to a compute node carries.
    pub secret: ClusterSecret,
    /// Where `blueshift snapshot create` sends snapshots (`--snapshot-store`).
    pub snapshot_store: Option<SnapshotSettings>,
    /// The admin API's address (`--admin-port`); none: no admin API.
    pub admin_listen: Option<SocketAddr>,
    /// Workload management: its configuration and how often it checks rules.
    pub wlm: WlmSettings,
}

/// What startup did about the admin password, for the startup message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminPassword {
    /// Set from the configuration.
    Configured,
    /// The user already existed; its password is unchanged.
    Kept,
    /// Created with [`DEFAULT_ADMIN_PASSWORD`] (loopback only).
    Default,
}

/// A running leader.
pub struct Leader {
    addr: SocketAddr,
    layout: ClusterLayout,
    admin_password: AdminPassword,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    admin: Option<AdminServer>,
    /// The automated snapshot scheduler, when the cluster has a snapshot store.
    scheduler: Option<JoinHandle<()>>,
    /// WLM's checks and its configuration reloads.
    background: Vec<JoinHandle<()>>,
}

async fn wait_for_nodes(cluster: &ClusterClient, within: Duration) -> Result<(), LeaderError> {
    let start = Instant::now();
    loop {
        match cluster.check_nodes().await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= within => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

impl Leader {
    /// Opens the catalog, checks the compute nodes, and starts serving.
    pub async fn start(config: LeaderConfig) -> Result<Self, LeaderError> {
        if config.compute.is_empty() {
            return Err(LeaderError::Config(
                "a cluster needs at least one compute node".into(),
            ));
        }
        if config.slices_per_node == 0 {
            return Err(LeaderError::Config(
                "--slices-per-node must be at least 1".into(),
            ));
        }
        let wanted = ClusterLayout {
            nodes: config.compute.len() as u32,
            slices_per_node: config.slices_per_node,
        };
        let catalog = Catalog::open(&config.data_dir.join("catalog"), wanted)?;
        let layout = catalog.layout()?;
        if layout.nodes != wanted.nodes {
            return Err(LeaderError::Config(format!(
                "the data directory {} holds a cluster of {} nodes x {} slices, but {} compute nodes were given",
                config.data_dir.display(),
                layout.nodes,
                layout.slices_per_node,
                wanted.nodes
            )));
        }
        let admin_password = match (&config.admin_password, catalog.user(ADMIN_USER)?) {
            (Some(pw), existing) => {
                // A new password keeps what ALTER USER gave the user (its settings,
                // limits) and its id.
                let fresh = new_user(ADMIN_USER, pw, true);
                let user = match existing {
                    Some(old) => blueshift_storage::catalog::UserDef {
                        scram_salt: fresh.scram_salt,
                        scram_salted_password: fresh.scram_salted_password,
                        scram_iterations: fresh.scram_iterations,
                        md5_hash: fresh.md5_hash,
                        password_disabled: false,
                        superuser: true,
                        ..old
                    },
                    None => fresh,
                };
                CommitPoint::new(catalog.clone()).put_user(&user)?;
                AdminPassword::Configured
            }
            (None, _) if !config.listen.ip().is_loopback() => {
                return Err(LeaderError::Config(format!(
                    "listening on {} needs an admin password: set BLUESHIFT_ADMIN_PASSWORD or --admin-password",
                    config.listen
                )));
            }
            (None, Some(_)) => AdminPassword::Kept,
            (None, None) => {
                CommitPoint::new(catalog.clone()).put_user(&new_user(
                    ADMIN_USER,
                    DEFAULT_ADMIN_PASSWORD,
                    true,
                ))?;
                AdminPassword::Default
            }
        };

        let cluster = ClusterClient::new(layout, config.compute.clone(), config.secret.clone())?;
        wait_for_nodes(&cluster, Duration::from_secs(30)).await?;
        // Segments staged by statements that never committed (a crash) are removed
        // before anything new is staged.
        let removed = cluster.collect_garbage(&catalog.live_segments()?).await?;
        if removed > 0 {
            info!("removed {removed} segment files no table version references");
        }

        let schedule = config
            .snapshot_store
            .as_ref()
            .filter(|s| s.schedule.enabled())
            .map(|s| s.check_every);
        let wlm_config = config.wlm.load()?;
        let engine = Arc::new(
            Engine::try_new(
                catalog.clone(),
                cluster,
                config.query_memory_bytes,
                blueshift_operators::spill::runtime(&config.data_dir, config.spill_limit_bytes)?,
            )?
            .with_s3(config.s3)
            .with_snapshot_store(
                config.snapshot_store,
                SnapshotCopy::load(config.data_dir.join("snapshot-copy.json"))?,
            )
            .with_wlm_config(wlm_config),
        );
        let mut background = vec![tokio::spawn(
            Arc::clone(&engine).run_wlm_checks(config.wlm.interval()),
        )];
        if config.wlm.file.is_some() {
            background.push(tokio::spawn(reload_wlm_on_hangup(
                Arc::downgrade(&engine),
                config.wlm.clone(),
            )));
        }
        let scheduler =
            schedule.map(|every| tokio::spawn(Arc::clone(&engine).run_snapshot_schedule(every)));
        let admin = match config.admin_listen {
            Some(listen) => {
                Some(AdminServer::start(listen, &config.secret, Arc::clone(&engine)).await?)
            }
            None => None,
        };
        let tls = crate::frontend::tls::acceptor(
            &config.tls,
            &config.data_dir,
            &config.listen.ip().to_string(),
        )?;
        let handlers = Arc::new(Handlers::new(
            engine,
            catalog,
            config.auth,
            config.tls.require_ssl,
        ));
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((socket, peer)) => {
                            let _ = socket.set_nodelay(true);
                            let handlers = Arc::clone(&handlers);
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                if let Err(e) = crate::frontend::wire::serve(socket, tls, handlers).await {
                                    info!("connection from {peer} ended: {e}");
                                }
                            });
                        }
                        Err(e) => {
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        });
        Ok(Leader {
            addr,
            layout,
            admin_password,
            shutdown,
            task,
            admin,
            scheduler,
            background,
        })
    }

    /// The admin API's address, when it serves one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// The PostgreSQL protocol address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cluster layout.
    pub fn layout(&self) -> ClusterLayout {
        self.layout
    }

    /// What startup did about the admin password.
    pub fn admin_password(&self) -> AdminPassword {
        self.admin_password
    }

    /// Stops accepting connections.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
        }
        for task in self.background {
            task.abort();
        }
        if let Some(admin) = self.admin {
            admin.stop().await;
        }
    }
}

/// Reads the WLM configuration file again each time the process gets SIGHUP, and
/// puts it in force; a file that does not parse is logged and the configuration in
/// force stays.
async fn reload_wlm_on_hangup(engine: std::sync::Weak<Engine>, settings: WlmSettings) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("listening for SIGHUP (WLM reloads): {e}");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            match settings.load() {
                Ok(config) => engine.reconfigure_wlm(config),
                Err(e) => tracing::error!("WLM configuration not reloaded: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (engine, settings);
}
