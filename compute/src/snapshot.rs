//! A compute node's part of a snapshot: upload the segments of its slices that the
//! snapshot store lacks (the leader says which, from the catalog export it took), and
//! download those a table restore brings back.

use blueshift_proto::{SegmentsUploaded, UploadSegments};
use blueshift_storage::StorageError;
use blueshift_storage::catalog::SegmentRef;
use blueshift_storage::objects::StoreConfig;
use blueshift_storage::segment::SliceStore;
use blueshift_storage::snapshot::SnapshotStore;

/// Uploads `request`'s segments from `slices` (`download`: downloads them into
/// `slices`); each file's hash is checked first.
pub async fn transfer(
    slices: &SliceStore,
    request: UploadSegments,
    download: bool,
) -> Result<SegmentsUploaded, StorageError> {
    let config: StoreConfig = serde_json::from_str(&request.store_config_json)
        .map_err(|e| StorageError::SnapshotRequest(format!("snapshot store settings: {e}")))?;
    let store = SnapshotStore::open(&request.store_url, &config)?;
    let segments = request
        .segments
        .into_iter()
        .map(|s| (s.slice, SegmentRef::new(s.name, s.rows, s.bytes)))
        .collect();
    let report = if download {
        store.download_segments(slices, segments).await?
    } else {
        store.upload_segments(slices, segments).await?
    };
    Ok(SegmentsUploaded {
        uploaded_segments: report.uploaded.segments,
        uploaded_bytes: report.uploaded.bytes,
        skipped_segments: report.skipped.segments,
        skipped_bytes: report.skipped.bytes,
    })
}
