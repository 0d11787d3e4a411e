//! Cross-region copy: with copying enabled (`blueshift snapshot enable-copy`), every
//! snapshot the cluster takes is then copied to a second store (another bucket,
//! endpoint or region), incrementally, and the copies of automated snapshots there are
//! kept for their own retention (default 7 days). The setting survives restarts in
//! `snapshot-copy.json` in the leader's data directory (no secrets: credentials come
//! from the role mapping when used).

use std::path::PathBuf;
use std::sync::Mutex;

use blueshift_proto::{EnableSnapshotCopy, SnapshotCopyState};
use blueshift_storage::snapshot::schedule::{MAX_AUTOMATED_RETENTION_DAYS, SchedulePolicy};
use blueshift_storage::snapshot::{self, SnapshotStore};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::Engine;
use crate::error::LeaderError;

/// Days copied automated snapshots are kept in the destination by default.
pub const DEFAULT_COPY_RETENTION_DAYS: u32 = 7;

/// Where snapshots are copied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyTarget {
    pub url: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub iam_role: Option<String>,
    pub retention_days: u32,
}

/// The copy target, kept in a file.
#[derive(Debug, Default)]
pub struct SnapshotCopy {
    file: Option<PathBuf>,
    target: Mutex<Option<CopyTarget>>,
}

impl SnapshotCopy {
    /// The setting stored in `file`, if any.
    pub fn load(file: PathBuf) -> Result<Self, LeaderError> {
        let target = match std::fs::read(&file) {
            Ok(bytes) => Some(
                serde_json::from_slice(&bytes)
                    .map_err(|e| LeaderError::Config(format!("{}: {e}", file.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(LeaderError::Config(format!("{}: {e}", file.display()))),
        };
        Ok(SnapshotCopy {
            file: Some(file),
            target: Mutex::new(target),
        })
    }

    fn get(&self) -> Option<CopyTarget> {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, target: Option<CopyTarget>) -> Result<(), LeaderError> {
        if let Some(file) = &self.file {
            let written = match &target {
                Some(t) => serde_json::to_vec_pretty(t)
                    .map_err(std::io::Error::other)
                    .and_then(|bytes| std::fs::write(file, bytes)),
                None => match std::fs::remove_file(file) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                },
            };
            written.map_err(|e| LeaderError::Config(format!("{}: {e}", file.display())))?;
        }
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = target;
        Ok(())
    }
}

fn state(target: Option<&CopyTarget>) -> SnapshotCopyState {
    SnapshotCopyState {
        enabled: target.is_some(),
        url: target.map(|t| t.url.clone()).unwrap_or_default(),
        retention_days: target.map_or(0, |t| t.retention_days),
    }
}

impl Engine {
    /// The destination store of `target`: the cluster's S3 settings with its region
    /// and endpoint, and its role's keys.
    fn copy_store(&self, target: &CopyTarget) -> Result<SnapshotStore, LeaderError> {
        let mut s3 = self.s3.clone();
        if target.region.is_some() {
            s3.region = target.region.clone();
        }
        if target.endpoint.is_some() {
            s3.endpoint = target.endpoint.clone();
        }
        let config = s3.store_for_role(target.iam_role.as_deref())?;
        Ok(SnapshotStore::open(&target.url, &config)?)
    }

    /// `blueshift snapshot enable-copy`.
    pub fn enable_snapshot_copy(
        &self,
        request: EnableSnapshotCopy,
    ) -> Result<SnapshotCopyState, LeaderError> {
        let settings = self.snapshot_settings()?;
        let retention_days = match request.retention_days {
            0 => DEFAULT_COPY_RETENTION_DAYS,
            days if days <= MAX_AUTOMATED_RETENTION_DAYS => days,
            days => {
                return Err(LeaderError::InvalidParameter(format!(
                    "--retention-days {days}: copied automated snapshots are kept 1 to \
                     {MAX_AUTOMATED_RETENTION_DAYS} days"
                )));
            }
        };
        if request.url.trim_end_matches('/') == settings.url.trim_end_matches('/') {
            return Err(LeaderError::InvalidParameter(format!(
                "{} is the cluster's own snapshot store: copy to another one",
                request.url
            )));
        }
        let target = CopyTarget {
            url: request.url,
            region: request.region,
            endpoint: request.endpoint,
            iam_role: request.iam_role,
            retention_days,
        };
        self.copy_store(&target)?;
        self.snapshot_copy.set(Some(target.clone()))?;
        info!(target = target.url, "snapshot copy enabled");
        Ok(state(Some(&target)))
    }

    /// `blueshift snapshot disable-copy`.
    pub fn disable_snapshot_copy(&self) -> Result<SnapshotCopyState, LeaderError> {
        self.snapshot_copy.set(None)?;
        Ok(state(None))
    }

    /// Copies snapshot `id` from `source` to the copy target, if there is one, then
    /// deletes the copies there that have expired: `Some(Ok(url))` when copied,
    /// `Some(Err(why))` when the copy failed (the snapshot itself exists).
    pub(super) async fn copy_new_snapshot(
        &self,
        source: &SnapshotStore,
        id: &str,
    ) -> Option<Result<String, String>> {
        let target = self.snapshot_copy.get()?;
        let copied = async {
            let store = self.copy_store(&target)?;
            snapshot::copy(source, &store, id, target.retention_days).await?;
            // Expire only what this cluster's store sent there.
            let ours: Vec<_> = store
                .manifests()
                .await?
                .into_iter()
                .filter(|m| m.copied_from.as_deref() == Some(source.url()))
                .collect();
            let policy = SchedulePolicy {
                retention_days: target.retention_days,
                ..SchedulePolicy::default_for(1)
            };
            let expired = policy.expired(&ours, chrono::Utc::now());
            for old in &expired {
                store.delete(old, false).await?;
            }
            if !expired.is_empty() {
                store.collect_garbage(false).await?;
            }
            Ok::<_, LeaderError>(store.url().to_string())
        }
        .await;
        match &copied {
            Ok(url) => info!(snapshot = id, target = url, "snapshot copied"),
            Err(e) => warn!(
                snapshot = id,
                target = target.url,
                "snapshot copy failed: {e}"
            ),
        }
        Some(copied.map_err(|e| e.to_string()))
    }
}
