//! [`EmbeddedCluster`]: a leader and its compute nodes in one process, talking Flight
//! over loopback (`blueshift up`). It only wires the two servers together.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use blueshift_compute::{ComputeConfig, ComputeNode};
use blueshift_leader::frontend::auth::AuthMethod;
use blueshift_leader::frontend::tls::TlsSettings;
use blueshift_leader::s3_config::S3Config;
use blueshift_leader::server::SnapshotSettings;
use blueshift_leader::{Leader, LeaderConfig, WlmSettings};
use blueshift_operators::secret::ClusterSecret;
use blueshift_storage::snapshot::{leader_dir, node_dir};
use tracing::warn;

/// How to run `blueshift up`.
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub nodes: u32,
    pub slices_per_node: u32,
    pub admin_password: Option<String>,
    pub auth: AuthMethod,
    /// TLS on the PostgreSQL port.
    pub tls: TlsSettings,
    pub s3: S3Config,
    pub query_memory_bytes: u64,
    /// Each compute node's column cache (see [`ComputeConfig::column_cache_bytes`]).
    pub column_cache_bytes: u64,
    /// The spill limit of the leader and of each compute node.
    pub spill_limit_bytes: u64,
    /// Where `blueshift snapshot create` puts snapshots.
    pub snapshot_store: Option<SnapshotSettings>,
    /// The admin API's address.
    pub admin_listen: SocketAddr,
    /// Workload management.
    pub wlm: WlmSettings,
}

/// A leader and its compute nodes in one process, talking Flight over loopback.
pub struct EmbeddedCluster {
    pub leader: Leader,
    pub nodes: Vec<ComputeNode>,
}

impl EmbeddedCluster {
    /// Starts `nodes` compute nodes on free loopback ports, then the leader.
    pub async fn start(config: EmbeddedConfig) -> anyhow::Result<Self> {
        if config.nodes == 0 {
            anyhow::bail!("--nodes must be at least 1");
        }
        // One secret for the leader and its nodes, generated with the data directory.
        let secret = ClusterSecret::read_or_create(&config.data_dir.join("cluster.secret"))
            .map_err(anyhow::Error::msg)?;
        let mut nodes = Vec::new();
        for node in 0..config.nodes {
            let compute = ComputeNode::start(ComputeConfig {
                secret: secret.clone(),
                node,
                data_dir: node_dir(&config.data_dir, node),
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                column_cache_bytes: config.column_cache_bytes,
                spill_limit_bytes: config.spill_limit_bytes,
            })
            .await
            .with_context(|| format!("compute node {node}"))?;
            nodes.push(compute);
        }
        let leader = Leader::start(LeaderConfig {
            secret,
            data_dir: leader_dir(&config.data_dir),
            listen: config.listen,
            compute: nodes.iter().map(|n| n.addr().to_string()).collect(),
            slices_per_node: config.slices_per_node,
            admin_password: config.admin_password,
            auth: config.auth,
            tls: config.tls,
            s3: config.s3,
            query_memory_bytes: config.query_memory_bytes,
            spill_limit_bytes: config.spill_limit_bytes,
            snapshot_store: config.snapshot_store,
            admin_listen: Some(config.admin_listen),
            wlm: config.wlm,
        })
        .await?;
        Ok(EmbeddedCluster { leader, nodes })
    }

    /// Stops the leader, then the compute nodes.
    pub async fn stop(self) {
        self.leader.stop().await;
        for node in self.nodes {
            if let Err(e) = node.stop().await {
                warn!("stopping a compute node: {e}");
            }
        }
    }
}
