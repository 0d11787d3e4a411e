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
use blueshift_storage::snapshot::schedule::{SchedulePolicy, automated_id};
use blueshift_storage::snapshot::{
    Manifest, SegmentEntry, SnapshotKind, SnapshotStore, TableEntry, Transfer,
};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use tracing::{info, warn};

use super::Engine;
use crate::error::LeaderError;
use crate::session::TEMP_SCHEMA_PREFIX;

/// Where the cluster's snapshots go, and when automated ones are taken.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotSettings {
    /// `s3://bucket/prefix` or `file:///path`.
    pub url: String,
    pub store: StoreConfig,
    pub schedule: SchedulePolicy,
    /// How often the scheduler checks whether an automated snapshot is due.
    pub check_every: std::time::Duration,
}

/// The longest retention of a manual snapshot, in days (Redshift's).
pub const MAX_MANUAL_RETENTION_DAYS: u32 = 3653;

/// An automated snapshot: when, and the segments it holds.
type Automated = Option<(DateTime<Utc>, HashSet<String>)>;

/// The last automated snapshot, once read from the store.
#[derive(Debug, Default)]
pub struct LastAutomated(Mutex<Option<Automated>>);

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
    /// The engine with `settings` as its snapshot store, and `copy` saying where
    /// snapshots are copied.
    pub fn with_snapshot_store(
        mut self,
        settings: Option<SnapshotSettings>,
        copy: super::snapshot_copy::SnapshotCopy,
    ) -> Self {
        self.snapshot_store = settings;
        self.snapshot_copy = copy;
        self
    }

    /// Has each compute node upload (or `download`) the segments of its slices of
    /// `segments`, all nodes at once; sums what they did.
    pub(super) async fn transfer_by_node(
        &self,
        url: &str,
        store: &StoreConfig,
        segments: &[(u32, SegmentRef)],
        download: bool,
    ) -> Result<SegmentsUploaded, LeaderError> {
        let layout = self.catalog.layout()?;
        let mut by_node: BTreeMap<u32, Vec<SegmentToUpload>> = BTreeMap::new();
        for (slice, segment) in segments {
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
        let config = serde_json::to_string(store)
            .map_err(|e| LeaderError::Config(format!("snapshot store settings: {e}")))?;
        let transfers = by_node.into_iter().map(|(node, segments)| {
            self.cluster.transfer_segments(
                node,
                UploadSegments {
                    store_url: url.to_string(),
                    store_config_json: config.clone(),
                    segments,
                },
                download,
            )
        });
        let mut total = SegmentsUploaded::default();
        for part in futures::future::try_join_all(transfers).await? {
            total.uploaded_segments += part.uploaded_segments;
            total.uploaded_bytes += part.uploaded_bytes;
            total.skipped_segments += part.skipped_segments;
            total.skipped_bytes += part.skipped_bytes;
        }
        Ok(total)
    }

    pub(super) fn snapshot_settings(&self) -> Result<&SnapshotSettings, LeaderError> {
        self.snapshot_store.as_ref().ok_or_else(|| {
            LeaderError::InvalidParameter(
                "the cluster has no snapshot store: start it with --snapshot-store \
                 s3://bucket/prefix (or file:///path)"
                    .into(),
            )
        })
    }

    /// Takes a manual snapshot into the cluster's snapshot store.
    pub async fn create_snapshot(
        &self,
        request: CreateSnapshot,
    ) -> Result<SnapshotCreated, LeaderError> {
        if let Some(days) = request.retention_days
            && !(1..=MAX_MANUAL_RETENTION_DAYS).contains(&days)
        {
            return Err(LeaderError::InvalidParameter(format!(
                "--retention-days {days}: a manual snapshot is kept 1 to \
                 {MAX_MANUAL_RETENTION_DAYS} days, or until deleted (no --retention-days)"
            )));
        }
        let id = if request.id.is_empty() {
            format!("manual-{}", Utc::now().format("%Y-%m-%d-%H-%M-%S"))
        } else {
            request.id
        };
        let (created, _) = self
            .snapshot(SnapshotKind::Manual, &id, request.retention_days)
            .await?;
        Ok(created)
    }

    /// Takes a snapshot of `kind`; also returns the segments it holds.
    async fn snapshot(
        &self,
        kind: SnapshotKind,
        id: &str,
        retention_days: Option<u32>,
    ) -> Result<(SnapshotCreated, Manifest), LeaderError> {
        let settings = self.snapshot_settings()?;
        let store = SnapshotStore::open(&settings.url, &settings.store)?;
        store.begin(id).await?;
        let result = self
            .take_snapshot(&store, settings, id, kind, retention_days)
            .await;
        match result {
            Ok((mut created, manifest)) => {
                match self.copy_new_snapshot(&store, id).await {
                    Some(Ok(url)) => created.copied_to = Some(url),
                    Some(Err(why)) => created.copy_error = Some(why),
                    None => {}
                }
                Ok((created, manifest))
            }
            Err(e) => {
                let _ = store.abandon(id).await;
                Err(e)
            }
        }
    }

    /// Takes an automated snapshot if one is due at `now`, then deletes the
    /// snapshots that have expired and the segments no snapshot references. Returns
    /// the new snapshot's id.
    pub async fn automated_snapshot_tick(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, LeaderError> {
        let settings = self.snapshot_settings()?;
        let policy = settings.schedule;
        if !policy.enabled() {
            return Ok(None);
        }
        let store = SnapshotStore::open(&settings.url, &settings.store)?;
        let last = match self.last_automated.take() {
            Some(last) => last,
            None => store
                .manifests()
                .await?
                .into_iter()
                .filter(|m| m.kind == SnapshotKind::Automated)
                .filter_map(|m| {
                    let at = DateTime::parse_from_rfc3339(&m.created_at).ok()?;
                    Some((
                        at.with_timezone(&Utc),
                        m.segments.into_iter().map(|s| s.name).collect(),
                    ))
                })
                .max_by_key(|(at, _)| *at),
        };
        let changed: u64 = self
            .catalog
            .export(|def| !def.schema.starts_with(TEMP_SCHEMA_PREFIX))?
            .distinct_segments()?
            .into_iter()
            .filter(|(_, s)| {
                last.as_ref()
                    .is_none_or(|(_, names)| !names.contains(&s.name))
            })
            .map(|(_, s)| s.bytes)
            .sum();
        if !policy.due(now, last.as_ref().map(|(at, _)| *at), changed) {
            self.last_automated.put(last);
            return Ok(None);
        }
        let id = automated_id(now);
        let taken = self
            .snapshot(SnapshotKind::Automated, &id, Some(policy.retention_days))
            .await;
        let manifest = match taken {
            Ok((_, manifest)) => manifest,
            Err(e) => {
                self.last_automated.put(last);
                return Err(e);
            }
        };
        self.last_automated.put(Some((
            now,
            manifest.segments.iter().map(|s| s.name.clone()).collect(),
        )));
        let expired = policy.expired(&store.manifests().await?, now);
        for old in &expired {
            store.delete(old, false).await?;
        }
        if !expired.is_empty() {
            let gc = store.collect_garbage(false).await?;
            info!(
                expired = ?expired,
                segments = gc.removed.len(),
                bytes = gc.bytes,
                "deleted expired snapshots"
            );
        }
        Ok(Some(id))
    }

    /// Runs [`Self::automated_snapshot_tick`] every `check_every` until dropped.
    pub async fn run_snapshot_schedule(
        self: std::sync::Arc<Self>,
        check_every: std::time::Duration,
    ) {
        loop {
            tokio::time::sleep(check_every).await;
            match self.automated_snapshot_tick(Utc::now()).await {
                Ok(Some(id)) => info!(snapshot = id, "automated snapshot taken"),
                Ok(None) => {}
                Err(e) => warn!("automated snapshot: {e}"),
            }
        }
    }

    async fn take_snapshot(
        &self,
        store: &SnapshotStore,
        settings: &SnapshotSettings,
        id: &str,
        kind: SnapshotKind,
        retention_days: Option<u32>,
    ) -> Result<(SnapshotCreated, Manifest), LeaderError> {
        let started = Instant::now();
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (export, _pinned) = self.snapshot_pins.export_pinned(id, || {
            Ok(self
                .catalog
                .export(|def| !def.schema.starts_with(TEMP_SCHEMA_PREFIX))?)
        })?;
        let layout = export.layout;
        let segments = export.distinct_segments()?;
        let transfer = self
            .transfer_by_node(&settings.url, &settings.store, &segments, false)
            .await?;
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
            kind,
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
            copied_from: None,
        };
        store.finish(&manifest).await?;
        info!(
            snapshot = id,
            uploaded_bytes = transfer.uploaded_bytes,
            skipped_bytes = transfer.skipped_bytes,
            elapsed_ms = manifest.elapsed_ms,
            "snapshot taken"
        );
        let created = SnapshotCreated {
            id: id.to_string(),
            store_url: store.url().to_string(),
            created_at: manifest.created_at.clone(),
            tables: manifest.tables.len() as u64,
            segments: manifest.segments.len() as u64,
            bytes: manifest.total_bytes(),
            transfer: Some(transfer),
            elapsed_ms: manifest.elapsed_ms,
            copied_to: None,
            copy_error: None,
        };
        Ok((created, manifest))
    }
}

impl LastAutomated {
    /// The cached last automated snapshot: `None` when not read from the store yet.
    fn take(&self) -> Option<Automated> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, last: Automated) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }
}
