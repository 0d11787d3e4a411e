//! Restore: a new cluster's data directory from a snapshot, with the snapshot's node
//! count or another one that spreads its slices evenly. Slices move whole between
//! nodes and no segment is rewritten; DISTSTYLE ALL tables get a copy on every node.
//!
//! The directory is built beside the target under a temporary name and renamed into
//! place only when every segment is downloaded and checked, so a restore that fails
//! leaves nothing that could start as a cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

use super::{PARALLEL_TRANSFERS, SnapshotStore};
use crate::catalog::Catalog;
use crate::distribution::ClusterLayout;
use crate::error::{Result, StorageError};
use crate::segment::SliceStore;

/// The leader's directory in an embedded cluster's data directory (`blueshift up`).
pub fn leader_dir(root: &Path) -> PathBuf {
    root.join("leader")
}

/// Compute node `node`'s directory in an embedded cluster's data directory.
pub fn node_dir(root: &Path, node: u32) -> PathBuf {
    root.join(format!("node-{node}"))
}

/// What a restore built.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RestoreReport {
    pub id: String,
    pub nodes: u32,
    pub slices_per_node: u32,
    pub tables: usize,
    /// Segment files written (a segment on several slices counts once per slice).
    pub files: u64,
    /// Distinct segments downloaded, and their bytes.
    pub segments: u64,
    pub bytes: u64,
}

/// Builds, in `target` (which must not exist, or be an empty directory), the data
/// directory of an embedded cluster holding snapshot `id`, with `nodes` compute nodes
/// (default: the snapshot's count).
pub async fn restore(
    store: &SnapshotStore,
    id: &str,
    target: &Path,
    nodes: Option<u32>,
) -> Result<RestoreReport> {
    let manifest = store.manifest(id).await?;
    let old = manifest.catalog.layout;
    let slices = old.slice_count();
    let nodes = nodes.unwrap_or(old.nodes);
    if nodes == 0 || slices % nodes != 0 {
        let fits: Vec<String> = (1..=slices)
            .filter(|n| slices % n == 0)
            .map(|n| n.to_string())
            .collect();
        return Err(StorageError::SnapshotRequest(format!(
            "snapshot '{id}' has {slices} slices ({} nodes x {} slices), which {nodes} nodes \
             cannot share evenly; restore into {} nodes",
            old.nodes,
            old.slices_per_node,
            fits.join(", ")
        )));
    }
    let layout = ClusterLayout {
        nodes,
        slices_per_node: slices / nodes,
    };
    if target.exists()
        && std::fs::read_dir(target)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(StorageError::SnapshotRequest(format!(
            "{} exists and is not empty: restore into a new directory",
            target.display()
        )));
    }
    let name = target
        .file_name()
        .ok_or_else(|| {
            StorageError::SnapshotRequest(format!("{} is not a directory name", target.display()))
        })?
        .to_string_lossy();
    let work = target.with_file_name(format!(".{name}.restoring-{}", std::process::id()));
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let result = build(store, &manifest, &work, layout).await;
    match result {
        Ok(mut report) => {
            if target.exists() {
                std::fs::remove_dir(target)?;
            }
            std::fs::rename(&work, target)?;
            report.id = id.to_string();
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            Err(e)
        }
    }
}

async fn build(
    store: &SnapshotStore,
    manifest: &super::Manifest,
    work: &Path,
    layout: ClusterLayout,
) -> Result<RestoreReport> {
    let catalog_dir = leader_dir(work).join("catalog");
    std::fs::create_dir_all(leader_dir(work))?;
    let catalog = Catalog::import(&catalog_dir, &manifest.catalog, layout)?;
    let mut places: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut tables = 0;
    for def in catalog.all_tables()? {
        tables += 1;
        for (slice, segments) in catalog.version(def.id)?.slices {
            for segment in segments {
                let at = places.entry(segment.name).or_default();
                if !at.contains(&slice) {
                    at.push(slice);
                }
            }
        }
    }
    drop(catalog);
    let stores: Vec<SliceStore> = (0..layout.nodes)
        .map(|n| SliceStore::open(&node_dir(work, n)))
        .collect::<Result<_>>()?;
    let stores = &stores;
    let moved: Vec<(u64, u64)> = futures::stream::iter(places)
        .map(|(name, slices)| async move {
            let bytes = store.get_segment(&name).await?;
            let size = bytes.len() as u64;
            let targets: Vec<(SliceStore, u32)> = slices
                .iter()
                .map(|&s| (stores[layout.node_of(s) as usize].clone(), s))
                .collect();
            let files = targets.len() as u64;
            tokio::task::spawn_blocking(move || {
                for (slices, slice) in targets {
                    slices.store_file(slice, &bytes)?;
                }
                Ok::<_, StorageError>(())
            })
            .await
            .map_err(|e| StorageError::Catalog(format!("segment restore: {e}")))??;
            Ok::<_, StorageError>((files, size))
        })
        .buffer_unordered(PARALLEL_TRANSFERS)
        .try_collect()
        .await?;
    Ok(RestoreReport {
        id: String::new(),
        nodes: layout.nodes,
        slices_per_node: layout.slices_per_node,
        tables,
        files: moved.iter().map(|m| m.0).sum(),
        segments: moved.len() as u64,
        bytes: moved.iter().map(|m| m.1).sum(),
    })
}
