//! Verify a snapshot without restoring it, in tiers: `quick` reads the manifest (its
//! checksum and catalog export) and asks the store for every segment's size; `full`
//! also downloads every segment, checks its hash against its name and its Parquet
//! footer's row count against the manifest; `sample` does what `quick` does and checks
//! a share of the segments as `full` does, choosing those earlier sample runs have not
//! checked (remembered in `snapshots/<id>/verified`), so repeated runs cover them all.

use std::collections::BTreeSet;

use futures::StreamExt;
use serde::Serialize;

use super::{PARALLEL_TRANSFERS, SnapshotStore};
use crate::error::{Result, StorageError};

/// How thoroughly to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyLevel {
    Quick,
    Full,
    /// `percent` of the segments (at least one) checked fully each run.
    Sample {
        percent: u32,
    },
}

/// What sample runs of one snapshot have checked in the current round.
#[derive(Debug, Default, serde::Deserialize, Serialize)]
struct SampleState {
    checked: BTreeSet<String>,
}

/// What a verification found: every problem names its object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub id: String,
    pub segments: u64,
    pub bytes: u64,
    /// Segments the manifest references that the store lacks.
    pub missing: Vec<String>,
    /// Segments (or the manifest) that are there but wrong, with what is wrong.
    pub corrupt: Vec<(String, String)>,
    /// Segments downloaded and checked in full by this run.
    pub fully_checked: u64,
    /// For a sample: segments the current round has still to check fully (0: this run
    /// completed a round; the next starts another).
    pub round_remaining: Option<u64>,
}

impl VerifyReport {
    /// Whether nothing is missing or corrupt.
    pub fn ok(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// Checks snapshot `id` at `level`. A manifest that is missing or corrupt is an error;
/// segment problems are listed in the report.
pub async fn verify(store: &SnapshotStore, id: &str, level: VerifyLevel) -> Result<VerifyReport> {
    let manifest = store.manifest(id).await?;
    let mut state = None;
    let deep: BTreeSet<String> = match level {
        VerifyLevel::Quick => BTreeSet::new(),
        VerifyLevel::Full => manifest.segments.iter().map(|s| s.name.clone()).collect(),
        VerifyLevel::Sample { percent } => {
            if !(1..=100).contains(&percent) {
                return Err(StorageError::SnapshotRequest(format!(
                    "--percent {percent}: a sample is 1 to 100 percent of the segments"
                )));
            }
            let mut sampled: SampleState = match store.get(&sample_key(id)).await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Err(StorageError::ObjectNotFound { .. }) => SampleState::default(),
                Err(e) => return Err(e),
            };
            let all: BTreeSet<&str> = manifest.segments.iter().map(|s| s.name.as_str()).collect();
            sampled.checked.retain(|n| all.contains(n.as_str()));
            let share = (all.len() * percent as usize).div_ceil(100).max(1);
            let chosen: BTreeSet<String> = all
                .iter()
                .filter(|n| !sampled.checked.contains(**n))
                .take(share)
                .map(|n| n.to_string())
                .collect();
            sampled.checked.extend(chosen.iter().cloned());
            let remaining = all.len().saturating_sub(sampled.checked.len()) as u64;
            if remaining == 0 {
                sampled.checked.clear();
            }
            state = Some((sampled, remaining));
            chosen
        }
    };
    // The export must name the same segments as the manifest's list.
    let listed: std::collections::BTreeSet<&str> =
        manifest.segments.iter().map(|s| s.name.as_str()).collect();
    let mut report = VerifyReport {
        id: id.to_string(),
        ..VerifyReport::default()
    };
    for segments in manifest.catalog.segments()?.values() {
        for segment in segments {
            if !listed.contains(segment.name.as_str()) {
                report.corrupt.push((
                    store.object_url(&format!("snapshots/{id}/manifest")),
                    format!(
                        "its catalog references segment {} it does not list",
                        segment.name
                    ),
                ));
            }
        }
    }
    let deep = &deep;
    let checks: Vec<(String, Option<String>, bool)> = futures::stream::iter(&manifest.segments)
        .map(|entry| async move {
            let url = store.object_url(&SnapshotStore::segment_key(&entry.name));
            let problem = match store.segment_size(&entry.name).await? {
                None => return Ok::<_, StorageError>((url, None, true)),
                Some(size) if size != entry.bytes => Some(format!(
                    "it has {size} bytes, the manifest says {}",
                    entry.bytes
                )),
                Some(_) if deep.contains(&entry.name) => match store.get_segment(&entry.name).await
                {
                    Ok(bytes) => match footer_rows(bytes) {
                        Ok(rows) if rows == entry.rows => None,
                        Ok(rows) => Some(format!(
                            "its footer says {rows} rows, the manifest {}",
                            entry.rows
                        )),
                        Err(e) => Some(format!("its Parquet footer does not read: {e}")),
                    },
                    Err(StorageError::SnapshotCorrupt { reason, .. }) => Some(reason),
                    Err(e) => return Err(e),
                },
                Some(_) => None,
            };
            Ok((url, problem, false))
        })
        .buffer_unordered(PARALLEL_TRANSFERS)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    for (url, problem, missing) in checks {
        if missing {
            report.missing.push(url);
        } else if let Some(reason) = problem {
            report.corrupt.push((url, reason));
        }
    }
    report.fully_checked = deep.len() as u64;
    if let Some((sampled, remaining)) = state {
        let bytes = serde_json::to_vec(&sampled)
            .map_err(|e| StorageError::Catalog(format!("verification state: {e}")))?;
        store.put(&sample_key(id), bytes.into()).await?;
        report.round_remaining = Some(remaining);
    }
    report.segments = manifest.segments.len() as u64;
    report.bytes = manifest.total_bytes();
    report.missing.sort();
    report.corrupt.sort();
    Ok(report)
}

/// Where sample runs remember what they checked.
pub(super) fn sample_key(id: &str) -> String {
    format!("snapshots/{id}/verified")
}

/// The row count in a segment's Parquet footer.
fn footer_rows(bytes: bytes::Bytes) -> std::result::Result<u64, parquet::errors::ParquetError> {
    use parquet::file::reader::FileReader;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes)?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
