//! Verify a snapshot without restoring it, in tiers: `quick` reads the manifest (its
//! checksum and catalog export) and asks the store for every segment's size; `full`
//! also downloads every segment, checks its hash against its name and its Parquet
//! footer's row count against the manifest.

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
    let checks: Vec<(String, Option<String>, bool)> = futures::stream::iter(&manifest.segments)
        .map(|entry| async move {
            let url = store.object_url(&SnapshotStore::segment_key(&entry.name));
            let problem = match store.segment_size(&entry.name).await? {
                None => return Ok::<_, StorageError>((url, None, true)),
                Some(size) if size != entry.bytes => Some(format!(
                    "it has {size} bytes, the manifest says {}",
                    entry.bytes
                )),
                Some(_) if level == VerifyLevel::Full => match store.get_segment(&entry.name).await
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
    report.segments = manifest.segments.len() as u64;
    report.bytes = manifest.total_bytes();
    report.missing.sort();
    report.corrupt.sort();
    Ok(report)
}

/// The row count in a segment's Parquet footer.
fn footer_rows(bytes: bytes::Bytes) -> std::result::Result<u64, parquet::errors::ParquetError> {
    use parquet::file::reader::FileReader;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes)?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as u64)
}
