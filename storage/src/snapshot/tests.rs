//! A snapshot's round trip through a `file://` store: export, incremental upload,
//! restore into another node count, verification, deletion and garbage collection.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};

use super::*;
use crate::catalog::tests::table;
use crate::catalog::{Catalog, ClusterLayout, DistStyle};
use crate::segment::SortKey;

fn segment(store: &SliceStore, slice: u32, values: &[i32]) -> Result<SegmentRef> {
    let schema = Arc::new(Schema::new(vec![Field::new("c0", DataType::Int32, true)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(Int32Array::from(values.to_vec()))],
    )
    .map_err(|e| StorageError::Catalog(e.to_string()))?;
    store
        .write_segment(slice, schema, &[batch], &SortKey::default())?
        .ok_or_else(|| StorageError::Catalog("no rows".into()))
}

/// Uploads what `catalog` references from the node stores, as the leader has the
/// compute nodes do, and writes the manifest.
async fn take(
    snapshots: &SnapshotStore,
    id: &str,
    catalog: &Catalog,
    nodes: &[SliceStore],
) -> Result<Manifest> {
    snapshots.begin(id).await?;
    let export = catalog.export(|_| true)?;
    let layout = export.layout;
    let mut report = UploadReport::default();
    let mut segments = vec![];
    for (slice, segment) in export.distinct_segments()? {
        let node = &nodes[layout.node_of(slice) as usize];
        let part = snapshots
            .upload_segments(node, vec![(slice, segment.clone())])
            .await?;
        report.uploaded.segments += part.uploaded.segments;
        report.uploaded.bytes += part.uploaded.bytes;
        report.skipped.segments += part.skipped.segments;
        report.skipped.bytes += part.skipped.bytes;
        segments.push(SegmentEntry {
            name: segment.name,
            bytes: segment.bytes,
            rows: segment.rows,
        });
    }
    let manifest = Manifest {
        id: id.into(),
        kind: SnapshotKind::Manual,
        created_at: chrono::Utc::now().to_rfc3339(),
        retention_days: None,
        blueshift_version: "test".into(),
        catalog: export,
        segments,
        tables: vec![],
        uploaded: report.uploaded,
        skipped: report.skipped,
        elapsed_ms: 0,
        copied_from: None,
    };
    snapshots.finish(&manifest).await?;
    Ok(manifest)
}

#[tokio::test]
async fn snapshots_upload_once_restore_elsewhere_and_collect_garbage() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 2,
        slices_per_node: 2,
    };
    let catalog = Catalog::open(&dir.path().join("catalog"), layout)?;
    let nodes: Vec<SliceStore> = (0..2)
        .map(|n| SliceStore::open(&dir.path().join(format!("node-{n}"))))
        .collect::<Result<_>>()?;
    let even = catalog.create_table(table("even"), None)?;
    let mut all = table("everywhere");
    all.dist_style = DistStyle::All;
    let all = catalog.create_table(all, None)?;
    let mut scratch = table("scratch");
    scratch.backup = false;
    let scratch = catalog.create_table(scratch, None)?;
    let a = segment(&nodes[0], 1, &[1, 2, 3])?;
    let b = segment(&nodes[1], 3, &[4, 5])?;
    catalog.append_segments(
        even.id,
        &BTreeMap::from([(1, vec![a.clone()]), (3, vec![b])]),
    )?;
    let copy0 = segment(&nodes[0], 0, &[7])?;
    let copy2 = segment(&nodes[1], 2, &[7])?;
    assert_eq!(copy0, copy2, "ALL copies are the same bytes");
    catalog.append_segments(
        all.id,
        &BTreeMap::from([(0, vec![copy0]), (2, vec![copy2])]),
    )?;
    let unsaved = segment(&nodes[0], 1, &[9, 9])?;
    catalog.append_segments(scratch.id, &BTreeMap::from([(1, vec![unsaved.clone()])]))?;

    let url = format!("file://{}/store", dir.path().display());
    std::fs::create_dir_all(dir.path().join("store"))?;
    let snapshots = SnapshotStore::open(&url, &StoreConfig::default())?;
    let first = take(&snapshots, "first", &catalog, &nodes).await?;
    // a, b and the ALL copy (stored once although on two slices); not BACKUP NO rows.
    assert_eq!(first.segments.len(), 3);
    assert_eq!(first.uploaded.segments, 3);
    assert!(snapshots.segment_size(&unsaved.name).await?.is_none());
    assert!(matches!(
        snapshots.begin("first").await,
        Err(StorageError::SnapshotExists { .. })
    ));

    // The second snapshot uploads only the new segment.
    let c = segment(&nodes[1], 2, &[10, 11])?;
    catalog.append_segments(even.id, &BTreeMap::from([(2, vec![c.clone()])]))?;
    let second = take(&snapshots, "second", &catalog, &nodes).await?;
    assert_eq!((second.uploaded.segments, second.skipped.segments), (1, 3));
    assert_eq!(second.uploaded.bytes, c.bytes);

    // Copies to another store send only what it lacks.
    std::fs::create_dir_all(dir.path().join("elsewhere"))?;
    let elsewhere = SnapshotStore::open(
        &format!("file://{}/elsewhere", dir.path().display()),
        &StoreConfig::default(),
    )?;
    let copied = copy(&snapshots, &elsewhere, "first", 7).await?;
    assert_eq!((copied.uploaded.segments, copied.skipped.segments), (3, 0));
    assert_eq!(copied.copied_from.as_deref(), Some(snapshots.url()));
    let copied = copy(&snapshots, &elsewhere, "second", 7).await?;
    assert_eq!((copied.uploaded.segments, copied.skipped.segments), (1, 3));
    assert!(verify(&elsewhere, "second", VerifyLevel::Full).await?.ok());
    assert!(matches!(
        copy(&snapshots, &elsewhere, "second", 7).await,
        Err(StorageError::SnapshotExists { .. })
    ));

    // Restore the first into 4 nodes of one slice, and refuse 3 nodes.
    let target = dir.path().join("restored");
    let refused = restore(&snapshots, "first", &target, Some(3)).await;
    assert!(
        matches!(&refused, Err(StorageError::SnapshotRequest(m)) if m.contains("1, 2, 4")),
        "{refused:?}"
    );
    assert!(!target.exists());
    let report = restore(&snapshots, "first", &target, Some(4)).await?;
    assert_eq!(
        (report.nodes, report.slices_per_node, report.tables),
        (4, 1, 3)
    );
    let restored = Catalog::open(
        &leader_dir(&target).join("catalog"),
        ClusterLayout {
            nodes: 1,
            slices_per_node: 1,
        },
    )?;
    assert_eq!(restored.layout()?.nodes, 4);
    // New objects get ids past the restored ones.
    let fresh = restored.create_table(table("fresh"), None)?;
    assert!(
        fresh.id > scratch.id && fresh.id > all.id,
        "{} vs {}",
        fresh.id,
        scratch.id
    );
    let by_name = |name: &str| -> Result<crate::catalog::TableDef> {
        restored
            .all_tables()?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| StorageError::TableNotFound(name.into()))
    };
    assert_eq!(restored.version(by_name("even")?.id)?.rows(), 5);
    assert_eq!(restored.version(by_name("scratch")?.id)?.rows(), 0);
    let copies = restored.version(by_name("everywhere")?.id)?;
    assert_eq!(
        copies.slices.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let node1 = SliceStore::open(&node_dir(&target, 1))?;
    assert_eq!(node1.read_segment(1, &a.name, None)?[0].num_rows(), 3);

    // Verify: quick and full pass; samples of 50% cover the 4 segments in two runs,
    // then start over; a damaged segment is named by full, a missing one by both.
    assert!(verify(&snapshots, "second", VerifyLevel::Full).await?.ok());
    let half = VerifyLevel::Sample { percent: 50 };
    let runs = [
        verify(&snapshots, "second", half).await?,
        verify(&snapshots, "second", half).await?,
        verify(&snapshots, "second", half).await?,
    ];
    let progress: Vec<_> = runs
        .iter()
        .map(|r| (r.fully_checked, r.round_remaining))
        .collect();
    assert_eq!(progress, [(2, Some(2)), (2, Some(0)), (2, Some(2))]);
    assert!(
        verify(&snapshots, "second", VerifyLevel::Sample { percent: 0 })
            .await
            .is_err()
    );
    let damaged = dir.path().join("store/segments").join(&c.name);
    let mut bytes = std::fs::read(&damaged)?;
    bytes[10] ^= 0xff;
    std::fs::write(&damaged, bytes)?;
    assert!(verify(&snapshots, "second", VerifyLevel::Quick).await?.ok());
    let full = verify(&snapshots, "second", VerifyLevel::Full).await?;
    assert_eq!(full.corrupt.len(), 1, "{full:?}");
    assert!(full.corrupt[0].0.ends_with(&c.name));
    std::fs::remove_file(&damaged)?;
    let quick = verify(&snapshots, "second", VerifyLevel::Quick).await?;
    assert_eq!(quick.missing.len(), 1);

    // Deleting the second snapshot frees only what the first does not reference.
    snapshots.delete("second", false).await?;
    let dry = snapshots.collect_garbage(true).await?;
    assert!(dry.removed.is_empty(), "c is gone already: {dry:?}");
    snapshots.delete("first", true).await?;
    assert_eq!(snapshots.manifests().await?.len(), 1);
    snapshots.delete("first", false).await?;
    let dry = snapshots.collect_garbage(true).await?;
    assert_eq!(dry.removed.len(), 3);
    assert_eq!(snapshots.segment_size(&a.name).await?, Some(a.bytes));
    let done = snapshots.collect_garbage(false).await?;
    assert_eq!(done.removed, dry.removed);
    assert!(snapshots.segment_size(&a.name).await?.is_none());
    assert!(matches!(
        snapshots.manifest("first").await,
        Err(StorageError::SnapshotNotFound { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn segments_of_a_snapshot_in_progress_are_kept() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("file://{}", dir.path().display());
    let snapshots = SnapshotStore::open(&url, &StoreConfig::default())?;
    let node = SliceStore::open(&dir.path().join("node"))?;
    let a = segment(&node, 0, &[1])?;
    snapshots.begin("running").await?;
    snapshots
        .upload_segments(&node, vec![(0, a.clone())])
        .await?;
    let gc = snapshots.collect_garbage(false).await?;
    assert_eq!((gc.removed.len(), gc.kept_for_in_progress), (0, 1));
    snapshots.abandon("running").await?;
    assert_eq!(snapshots.collect_garbage(false).await?.removed, [a.name]);
    assert!(check_id("Bad_Id").is_err() && check_id("a--b").is_err());
    check_id("nightly-2026-12-07")?;
    Ok(())
}

/// A snapshot whose store "crashes" part way does not exist: no manifest, only a
/// marker and the segments sent so far, which garbage collection removes once the
/// marker is gone; a transient failure is retried; a snapshot with nothing new
/// makes one HEAD per segment and puts only its marker and manifest.
#[tokio::test]
async fn interrupted_snapshots_do_not_exist_and_requests_are_counted() -> Result<()> {
    use crate::objects::faults::{Faults, FaultyStore};
    let dir = tempfile::tempdir()?;
    let layout = ClusterLayout {
        nodes: 1,
        slices_per_node: 2,
    };
    let catalog = Catalog::open(&dir.path().join("catalog"), layout)?;
    let node = SliceStore::open(&dir.path().join("node-0"))?;
    let t = catalog.create_table(table("t"), None)?;
    let a = segment(&node, 0, &[1, 2])?;
    let b = segment(&node, 1, &[3])?;
    catalog.append_segments(t.id, &BTreeMap::from([(0, vec![a.clone()]), (1, vec![b])]))?;
    std::fs::create_dir_all(dir.path().join("store"))?;
    let url = format!("file://{}/store", dir.path().display());
    let clean = SnapshotStore::open(&url, &StoreConfig::default())?;
    let faulty = |faults: Faults| -> Result<(SnapshotStore, Arc<FaultyStore>)> {
        let wrapped = Arc::new(FaultyStore::new(
            Arc::new(object_store::local::LocalFileSystem::new()),
            faults,
        ));
        Ok((clean.with_object_store(wrapped.clone()), wrapped))
    };

    // The marker and one segment go in, then every request fails.
    let (crashing, _) = faulty(Faults {
        crash_after_puts: Some(2),
        ..Faults::default()
    })?;
    assert!(
        take(&crashing, "cut", &catalog, std::slice::from_ref(&node))
            .await
            .is_err()
    );
    let (complete, in_progress) = clean.snapshot_ids().await?;
    assert!(complete.is_empty());
    assert_eq!(in_progress.len(), 1);
    assert!(matches!(
        restore(&clean, "cut", &dir.path().join("r"), None).await,
        Err(StorageError::SnapshotNotFound { .. })
    ));
    assert_eq!(clean.collect_garbage(false).await?.kept_for_in_progress, 1);
    clean.delete("cut", false).await?;
    assert_eq!(clean.collect_garbage(false).await?.removed.len(), 1);

    // The fifth request (a segment's PUT) fails once: retried, not fatal.
    let (flaky, _) = faulty(Faults {
        fail_requests: [5].into(),
        ..Faults::default()
    })?;
    take(&flaky, "whole", &catalog, std::slice::from_ref(&node)).await?;

    // Nothing new: a HEAD per segment and per marker/manifest check, two puts.
    let (counted, store) = faulty(Faults::default())?;
    let again = take(&counted, "again", &catalog, &[node]).await?;
    assert_eq!(again.uploaded.segments, 0);
    let requests = store.requests();
    assert_eq!((requests.puts, requests.gets, requests.deletes), (2, 4, 1));
    Ok(())
}
