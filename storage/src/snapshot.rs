//! Snapshots in an object store (docs/design/0005-snapshots.md).
//!
//! A store (`s3://bucket/prefix` or `file:///path`) holds:
//! - `segments/<name>`: segment files, named by the SHA-256 of their bytes (as on the
//!   compute nodes), stored once and shared by every snapshot that references them;
//! - `snapshots/<id>/manifest`: one snapshot, its catalog export at one commit point
//!   and the segments it references ([`Manifest`]), written last: a snapshot exists once
//!   its manifest does;
//! - `snapshots/<id>/verified`: what `verify --level sample` runs have checked;
//! - `snapshots/<id>/in-progress`: written when a snapshot starts and removed when its
//!   manifest is written or it fails; while one exists, garbage collection keeps every
//!   segment written since it was made.
//!
//! Taking a snapshot uploads only the segments the store lacks, so each one after the
//! first is incremental while every snapshot is logically full. [`restore`] builds a
//! new data directory from a manifest; [`verify`] checks a snapshot without restoring.

mod manifest;
mod restore;
pub mod schedule;
mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

pub use manifest::{MANIFEST_FORMAT_VERSION, Manifest, SegmentEntry, SnapshotKind, TableEntry};
pub use restore::{RestoreReport, leader_dir, node_dir, restore};
pub use verify::{VerifyLevel, VerifyReport, verify};

use crate::error::{Result, StorageError};
use crate::objects::{Location, StoreConfig, open};
use crate::segment::SliceStore;
use crate::version::SegmentRef;

/// Segments uploaded or downloaded at once by one process.
pub const PARALLEL_TRANSFERS: usize = 4;

/// How often a failed segment transfer is tried again (object_store retries each
/// request too), and the pause before the first retry (doubled each time).
const TRANSFER_RETRIES: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// How long an in-progress marker holds off garbage collection: a snapshot still
/// running after a day is taken to have died without removing its marker.
pub const STALE_IN_PROGRESS: chrono::Duration = chrono::Duration::hours(24);

/// A snapshot store, rooted at a URL's prefix.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    location: Location,
    url: String,
}

/// Segments and bytes moved (or found already there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    pub segments: u64,
    pub bytes: u64,
}

/// What an upload of segments did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    pub uploaded: Transfer,
    /// Segments the store had already.
    pub skipped: Transfer,
}

/// What garbage collection removed (or would remove, in a dry run).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GarbageReport {
    pub removed: Vec<String>,
    pub bytes: u64,
    /// Segments kept because a snapshot in progress may reference them.
    pub kept_for_in_progress: u64,
}

/// Checks a snapshot id: 1 to 255 lowercase letters, digits and hyphens, starting with
/// a letter, without two hyphens in a row or a trailing one (Redshift's rules).
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(StorageError::SnapshotRequest(format!(
            "invalid snapshot id '{id}': use 1 to 255 lowercase letters, digits and \
             hyphens, starting with a letter, with no two hyphens in a row and none at the end"
        )))
    }
}

impl SnapshotStore {
    /// The store at `url` (`s3://bucket/prefix` or `file:///path`).
    pub fn open(url: &str, config: &StoreConfig) -> Result<Self> {
        Ok(SnapshotStore {
            location: open(url, config)?,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// This store's locations over `store` instead (a fault-injecting wrapper, in
    /// tests).
    pub fn with_object_store(&self, store: std::sync::Arc<dyn object_store::ObjectStore>) -> Self {
        let mut copy = self.clone();
        copy.location.store = store;
        copy
    }

    /// The store's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, relative: &str) -> Path {
        let root = self.location.path.as_ref();
        if root.is_empty() {
            Path::from(relative)
        } else {
            Path::from(format!("{root}/{relative}"))
        }
    }

    fn object_url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.url)
    }

    fn segment_key(name: &str) -> String {
        format!("segments/{name}")
    }

    /// The size of segment `name` in the store, or `None` when it is not there.
    pub async fn segment_size(&self, name: &str) -> Result<Option<u64>> {
        self.size(&Self::segment_key(name)).await
    }

    /// The size of an object, `None` when missing; transient errors are retried.
    async fn size(&self, relative: &str) -> Result<Option<u64>> {
        retried(|| self.head(relative)).await
    }

    async fn head(&self, relative: &str) -> Result<Option<u64>> {
        match self.location.store.head(&self.path(relative)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => match StorageError::from_object_store(&self.object_url(relative), e) {
                StorageError::ObjectNotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn put(&self, relative: &str, bytes: Bytes) -> Result<()> {
        self.location
            .store
            .put(&self.path(relative), PutPayload::from_bytes(bytes))
            .await
            .map_err(|e| StorageError::from_object_store(&self.object_url(relative), e))?;
        Ok(())
    }

    async fn get(&self, relative: &str) -> Result<Bytes> {
        let url = self.object_url(relative);
        let result = self
            .location
            .store
            .get(&self.path(relative))
            .await
            .map_err(|e| StorageError::from_object_store(&url, e))?;
        result
            .bytes()
            .await
            .map_err(|e| StorageError::from_object_store(&url, e))
    }

    async fn delete_object(&self, relative: &str) -> Result<()> {
        match self.location.store.delete(&self.path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_object_store(
                &self.object_url(relative),
                e,
            )),
        }
    }

    /// The objects under `relative`, and its path.
    async fn list(&self, relative: &str) -> Result<(Path, Vec<object_store::ObjectMeta>)> {
        let prefix = self.path(relative);
        let objects = self
            .location
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_object_store(&self.object_url(relative), e))?;
        Ok((prefix, objects))
    }

    /// Segment `name`, its bytes checked against the name.
    pub async fn get_segment(&self, name: &str) -> Result<Bytes> {
        let key = Self::segment_key(name);
        let bytes = retried(|| self.get(&key)).await?;
        if hex::encode(Sha256::digest(&bytes)) != name {
            return Err(StorageError::SnapshotCorrupt {
                object: self.object_url(&key),
                reason: "its content hash does not match its name".into(),
            });
        }
        Ok(bytes)
    }

    /// Uploads the segments of `segments` (by slice) that the store lacks, reading
    /// them from `slices` (each file's hash checked first), [`PARALLEL_TRANSFERS`] at
    /// a time: memory holds at most that many segment files.
    pub async fn upload_segments(
        &self,
        slices: &SliceStore,
        segments: Vec<(u32, SegmentRef)>,
    ) -> Result<UploadReport> {
        each_transfer(segments, |(slice, segment)| async move {
            let key = Self::segment_key(&segment.name);
            if self.size(&key).await? == Some(segment.bytes) {
                return Ok((false, segment.bytes));
            }
            let files = slices.clone();
            let name = segment.name.clone();
            let bytes = tokio::task::spawn_blocking(move || files.file_bytes(slice, &name))
                .await
                .map_err(|e| StorageError::Catalog(format!("segment upload: {e}")))??;
            let bytes = Bytes::from(bytes);
            let size = bytes.len() as u64;
            retried(|| self.put(&key, bytes.clone())).await?;
            Ok((true, size))
        })
        .await
    }

    /// Downloads the segments of `segments` (by slice) that `slices` lacks, each
    /// checked against its hash, [`PARALLEL_TRANSFERS`] at a time. The report's
    /// `uploaded` counts the segments downloaded, `skipped` those already there.
    pub async fn download_segments(
        &self,
        slices: &SliceStore,
        segments: Vec<(u32, SegmentRef)>,
    ) -> Result<UploadReport> {
        each_transfer(segments, |(slice, segment)| async move {
            if slices.has_file(slice, &segment.name) {
                return Ok((false, segment.bytes));
            }
            let bytes = self.get_segment(&segment.name).await?;
            let size = bytes.len() as u64;
            let files = slices.clone();
            tokio::task::spawn_blocking(move || files.store_file(slice, &bytes))
                .await
                .map_err(|e| StorageError::Catalog(format!("segment download: {e}")))??;
            Ok((true, size))
        })
        .await
    }

    fn manifest_key(id: &str) -> String {
        format!("snapshots/{id}/manifest")
    }

    fn marker_key(id: &str) -> String {
        format!("snapshots/{id}/in-progress")
    }

    /// Marks snapshot `id` as in progress; refuses an id that exists or is in progress.
    pub async fn begin(&self, id: &str) -> Result<()> {
        check_id(id)?;
        if self.size(&Self::manifest_key(id)).await?.is_some()
            || self.size(&Self::marker_key(id)).await?.is_some()
        {
            return Err(StorageError::SnapshotExists {
                store: self.url.clone(),
                id: id.to_string(),
            });
        }
        self.put(&Self::marker_key(id), Bytes::from_static(b"in progress\n"))
            .await
    }

    /// Writes the manifest of a snapshot begun with [`Self::begin`], which makes it
    /// exist, and removes its in-progress marker.
    pub async fn finish(&self, manifest: &Manifest) -> Result<()> {
        let id = &manifest.id;
        let key = Self::manifest_key(id);
        let bytes = Bytes::from(manifest.encode().map_err(StorageError::Catalog)?);
        retried(|| self.put(&key, bytes.clone())).await?;
        self.delete_object(&Self::marker_key(id)).await
    }

    /// Forgets a snapshot that failed before its manifest: its segments become
    /// garbage unless another snapshot references them.
    pub async fn abandon(&self, id: &str) -> Result<()> {
        self.delete_object(&Self::marker_key(id)).await
    }

    /// The manifest of snapshot `id`, its checksum verified.
    pub async fn manifest(&self, id: &str) -> Result<Manifest> {
        check_id(id)?;
        let key = Self::manifest_key(id);
        let bytes = match retried(|| self.get(&key)).await {
            Err(StorageError::ObjectNotFound { .. }) => {
                return Err(StorageError::SnapshotNotFound {
                    store: self.url.clone(),
                    id: id.to_string(),
                });
            }
            other => other?,
        };
        Manifest::decode(&bytes).map_err(|reason| StorageError::SnapshotCorrupt {
            object: self.object_url(&key),
            reason,
        })
    }

    /// The ids of the complete snapshots, and of those in progress with when they
    /// began, each sorted.
    pub async fn snapshot_ids(
        &self,
    ) -> Result<(Vec<String>, Vec<(String, chrono::DateTime<chrono::Utc>)>)> {
        let (prefix, objects) = self.list("snapshots").await?;
        let mut complete = BTreeSet::new();
        let mut in_progress = BTreeMap::new();
        for object in objects {
            let key = object.location.as_ref();
            let Some(rest) = key
                .strip_prefix(prefix.as_ref())
                .map(|r| r.trim_start_matches('/'))
            else {
                continue;
            };
            match rest.split_once('/') {
                Some((id, "manifest")) => {
                    complete.insert(id.to_string());
                }
                Some((id, "in-progress")) => {
                    in_progress.insert(id.to_string(), object.last_modified);
                }
                _ => {}
            }
        }
        Ok((
            complete.into_iter().collect(),
            in_progress.into_iter().collect(),
        ))
    }

    /// Every complete snapshot's manifest, oldest first.
    pub async fn manifests(&self) -> Result<Vec<Manifest>> {
        let (ids, _) = self.snapshot_ids().await?;
        let mut manifests = Vec::new();
        for id in ids {
            manifests.push(self.manifest(&id).await?);
        }
        manifests.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(manifests)
    }

    /// Deletes snapshot `id` (its manifest, and its marker if it never finished);
    /// its segments stay until [`Self::collect_garbage`]. A dry run only checks that
    /// it exists.
    pub async fn delete(&self, id: &str, dry_run: bool) -> Result<()> {
        check_id(id)?;
        let exists = self.size(&Self::manifest_key(id)).await?.is_some();
        let marker = self.size(&Self::marker_key(id)).await?.is_some();
        if !exists && !marker {
            return Err(StorageError::SnapshotNotFound {
                store: self.url.clone(),
                id: id.to_string(),
            });
        }
        if !dry_run {
            self.delete_object(&Self::manifest_key(id)).await?;
            self.delete_object(&Self::marker_key(id)).await?;
            self.delete_object(&verify::sample_key(id)).await?;
        }
        Ok(())
    }

    /// Removes the segments no snapshot's manifest references, except those written
    /// since the oldest snapshot in progress began (it may reference them; markers
    /// older than [`STALE_IN_PROGRESS`] do not count). A dry run
    /// removes nothing and reports what would go.
    pub async fn collect_garbage(&self, dry_run: bool) -> Result<GarbageReport> {
        let (_, in_progress) = self.snapshot_ids().await?;
        // A marker a day old belongs to a snapshot that died without removing it.
        let live_since = chrono::Utc::now() - STALE_IN_PROGRESS;
        let oldest_in_progress = in_progress
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| *at > live_since)
            .min();
        let mut referenced = BTreeSet::new();
        for manifest in self.manifests().await? {
            referenced.extend(manifest.segments.into_iter().map(|s| s.name));
        }
        let (_, objects) = self.list("segments").await?;
        let mut report = GarbageReport::default();
        for object in objects {
            let Some(name) = object.location.filename() else {
                continue;
            };
            if referenced.contains(name) {
                continue;
            }
            if oldest_in_progress.is_some_and(|at| object.last_modified >= at) {
                report.kept_for_in_progress += 1;
                continue;
            }
            if !dry_run {
                self.delete_object(&Self::segment_key(name)).await?;
            }
            report.removed.push(name.to_string());
            report.bytes += object.size;
        }
        report.removed.sort();
        Ok(report)
    }
}

/// Runs `transfer` on each item, [`PARALLEL_TRANSFERS`] at a time, and sums what
/// they did: each answers (moved, bytes), those not moved having been there already.
async fn each_transfer<T, F, Fut>(items: Vec<T>, transfer: F) -> Result<UploadReport>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<(bool, u64)>>,
{
    let results: Vec<(bool, u64)> = futures::stream::iter(items)
        .map(transfer)
        .buffer_unordered(PARALLEL_TRANSFERS)
        .try_collect()
        .await?;
    Ok(tally(results))
}

/// Sums transfers: each is (moved, bytes); those not moved were there already.
fn tally(transfers: Vec<(bool, u64)>) -> UploadReport {
    let mut report = UploadReport::default();
    for (moved, bytes) in transfers {
        let side = if moved {
            &mut report.uploaded
        } else {
            &mut report.skipped
        };
        side.segments += 1;
        side.bytes += bytes;
    }
    report
}

/// Runs `op`, again after a pause when it fails with a transient store error (not
/// for a missing object, denied access or corrupt data).
async fn retried<T, F, Fut>(op: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = RETRY_PAUSE;
    let mut attempt = 0;
    loop {
        match op().await {
            Err(StorageError::ObjectIo { url, reason }) if attempt < TRANSFER_RETRIES => {
                attempt += 1;
                tracing::warn!(%url, attempt, "snapshot transfer failed, retrying: {reason}");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;

/// Copies snapshot `id` from `source` to `target` (another bucket, region or
/// endpoint): the segments `target` lacks, each checked against its hash, then the
/// manifest, last. `retention_days` replaces an automated snapshot's retention in the
/// target (its own policy there); manual snapshots keep theirs. The copy's manifest
/// records what this copy sent.
pub async fn copy(
    source: &SnapshotStore,
    target: &SnapshotStore,
    id: &str,
    retention_days: u32,
) -> Result<Manifest> {
    let mut manifest = source.manifest(id).await?;
    target.begin(id).await?;
    let sent = each_transfer(manifest.segments.clone(), |entry| async move {
        let key = SnapshotStore::segment_key(&entry.name);
        if target.size(&key).await? == Some(entry.bytes) {
            return Ok((false, entry.bytes));
        }
        let bytes = source.get_segment(&entry.name).await?;
        retried(|| target.put(&key, bytes.clone())).await?;
        Ok((true, entry.bytes))
    })
    .await;
    let report = match sent {
        Ok(report) => report,
        Err(e) => {
            let _ = target.abandon(id).await;
            return Err(e);
        }
    };
    manifest.uploaded = report.uploaded;
    manifest.skipped = report.skipped;
    if manifest.kind == SnapshotKind::Automated {
        manifest.retention_days = Some(retention_days);
    }
    manifest.copied_from = Some(source.url().to_string());
    if let Err(e) = target.finish(&manifest).await {
        let _ = target.abandon(id).await;
        return Err(e);
    }
    Ok(manifest)
}
