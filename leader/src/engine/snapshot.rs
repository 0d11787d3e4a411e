//! Manual snapshots, taken while statements run (docs/operations.md, Snapshots).
//!
//! The catalog is exported at one moment between commits; from then until the
//! manifest is written, the segments the export references are pinned: garbage
//! collection on the compute nodes keeps them even after VACUUM or DROP TABLE
//! replaced them. Each compute node uploads the segments of its slices that the store
//! lacks, all nodes at once; the manifest is written last.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use blueshift_proto::{
    CreateSnapshot, SegmentToUpload, SegmentsUploaded, SnapshotCreated, UploadSegments,
};
use blueshift_storage::catalog::{CatalogExport, DistStyle, SegmentRef};
use blueshift_storage::objects::StoreConfig;
use blueshift_storage::snapshot::{
    Manifest, SegmentEntry, SnapshotKind, SnapshotStore, TableEntry, Transfer,
};
use tracing::info;

use super::Engine;
use crate::error::LeaderError;
use crate::session::TEMP_SCHEMA_PREFIX;

/// Where the cluster's snapshots go.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSettings {
    /// `s3://bucket/prefix` or `file:///path`.
    pub url: String,
    pub store: StoreConfig,
}

/// Segment names by slice.
type SegmentsBySlice = BTreeMap<u32, Vec<String>>;

/// The segments of snapshots being taken, by snapshot: garbage collection keeps them.
#[derive(Clone, Debug, Default)]
pub struct SnapshotPins(Arc<Mutex<BTreeMap<String, SegmentsBySlice>>>);

/// Unpins a snapshot's segments when dropped.
struct Pinned {
    pins: SnapshotPins,
    id: String,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.pins.lock().remove(&self.id);
    }
}

impl SnapshotPins {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SegmentsBySlice>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `export` and pins what it references, with garbage collection held off
    /// in between (it computes what is live under the same lock).
    fn export_pinned(
        &self,
        id: &str,
        export: impl FnOnce() -> Result<CatalogExport, LeaderError>,
    ) -> Result<(CatalogExport, Pinned), LeaderError> {
        let mut pins = self.lock();
        let export = export()?;
        let segments = export
            .segments()?
            .into_iter()
            .map(|(slice, refs)| (slice, refs.into_iter().map(|r| r.name).collect()))
            .collect();
        pins.insert(id.to_string(), segments);
        Ok((
            export,
            Pinned {
                pins: self.clone(),
                id: id.to_string(),
            },
        ))
    }

    /// `live` plus every pinned segment, computed while no snapshot can export.
    pub fn live_with_pins(
        &self,
        live: impl FnOnce() -> blueshift_storage::Result<SegmentsBySlice>,
    ) -> blueshift_storage::Result<SegmentsBySlice> {
        let pins = self.lock();
        let mut live = live()?;
        for by_slice in pins.values() {
            for (slice, names) in by_slice {
                live.entry(*slice)
                    .or_default()
                    .extend(names.iter().cloned());
            }
        }
        Ok(live)
    }
}

impl Engine {
    /// Takes a manual snapshot into the cluster's snapshot store.
    pub async fn create_snapshot(
        &self,
        request: CreateSnapshot,
    ) -> Result<SnapshotCreated, LeaderError> {
        let settings = self.snapshot_store.as_ref().ok_or_else(|| {
            LeaderError::InvalidParameter(
                "the cluster has no snapshot store: start it with --snapshot-store \
                 s3://bucket/prefix (or file:///path)"
                    .into(),
            )
        })?;
        let id = if request.id.is_empty() {
            format!("manual-{}", chrono::Utc::now().format("%Y-%m-%d-%H-%M-%S"))
        } else {
            request.id
        };
        let store = SnapshotStore::open(&settings.url, &settings.store)?;
        store.begin(&id).await?;
        let result = self
            .take_snapshot(&store, settings, &id, request.retention_days)
            .await;
        if result.is_err() {
            let _ = store.abandon(&id).await;
        }
        result
    }

    async fn take_snapshot(
        &self,
        store: &SnapshotStore,
        settings: &SnapshotSettings,
        id: &str,
        retention_days: Option<u32>,
    ) -> Result<SnapshotCreated, LeaderError> {
        let started = Instant::now();
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (export, _pinned) = self.snapshot_pins.export_pinned(id, || {
            Ok(self
                .catalog
                .export(|def| !def.schema.starts_with(TEMP_SCHEMA_PREFIX))?)
        })?;
        let layout = export.layout;
        let segments = export.distinct_segments()?;
        let mut by_node: BTreeMap<u32, Vec<SegmentToUpload>> = BTreeMap::new();
        for (slice, segment) in &segments {
            by_node
                .entry(layout.node_of(*slice))
                .or_default()
                .push(SegmentToUpload {
                    slice: *slice,
                    name: segment.name.clone(),
                    rows: segment.rows,
                    bytes: segment.bytes,
                });
        }
        let config = serde_json::to_string(&settings.store)
            .map_err(|e| LeaderError::Config(format!("snapshot store settings: {e}")))?;
        let uploads = by_node.into_iter().map(|(node, segments)| {
            self.cluster.upload_segments(
                node,
                UploadSegments {
                    store_url: settings.url.clone(),
                    store_config_json: config.clone(),
                    segments,
                },
            )
        });
        let mut transfer = SegmentsUploaded::default();
        for part in futures::future::try_join_all(uploads).await? {
            transfer.uploaded_segments += part.uploaded_segments;
            transfer.uploaded_bytes += part.uploaded_bytes;
            transfer.skipped_segments += part.skipped_segments;
            transfer.skipped_bytes += part.skipped_bytes;
        }
        let versions = export.versions()?;
        let tables: Vec<TableEntry> = export
            .tables()?
            .into_iter()
            .map(|def| TableEntry {
                rows: versions.get(&def.id).map_or(0, |v| match def.dist_style {
                    // One copy of a DISTSTYLE ALL table's rows, not one per node.
                    DistStyle::All => v
                        .slices
                        .get(&layout.first_slice_of(0))
                        .map_or(0, |s| s.iter().map(SegmentRef::live_rows).sum()),
                    _ => v.rows(),
                }),
                backup: def.backup && !def.schema.starts_with(TEMP_SCHEMA_PREFIX),
                id: def.id,
                schema: def.schema,
                name: def.name,
            })
            .collect();
        let manifest = Manifest {
            id: id.to_string(),
            kind: SnapshotKind::Manual,
            created_at,
            retention_days,
            blueshift_version: env!("CARGO_PKG_VERSION").to_string(),
            catalog: export,
            segments: segments
                .into_iter()
                .map(
                    |(
                        _,
                        SegmentRef {
                            name, bytes, rows, ..
                        },
                    )| SegmentEntry { name, bytes, rows },
                )
                .collect(),
            tables,
            uploaded: Transfer {
                segments: transfer.uploaded_segments,
                bytes: transfer.uploaded_bytes,
            },
            skipped: Transfer {
                segments: transfer.skipped_segments,
                bytes: transfer.skipped_bytes,
            },
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        store.finish(&manifest).await?;
        info!(
            snapshot = id,
            uploaded_bytes = transfer.uploaded_bytes,
            skipped_bytes = transfer.skipped_bytes,
            elapsed_ms = manifest.elapsed_ms,
            "snapshot taken"
        );
        Ok(SnapshotCreated {
            id: id.to_string(),
            store_url: store.url().to_string(),
            created_at: manifest.created_at.clone(),
            tables: manifest.tables.len() as u64,
            segments: manifest.segments.len() as u64,
            bytes: manifest.total_bytes(),
            transfer: Some(transfer),
            elapsed_ms: manifest.elapsed_ms,
        })
    }
}
