//! Segments: immutable Parquet files of one table's rows on one slice.
//!
//! A segment is written whole into memory, hashed (SHA-256) and stored as
//! `slices/<slice>/<hash>.parquet` through a temporary file, an fsync and a rename, so
//! a crash leaves either no file or a complete one. The hash is the name: the first
//! read of a segment by a process (and any read after the file's size or modification
//! time changed) checks it, and a mismatch is an error naming the slice and segment,
//! never a wrong answer. Scans then read only the column chunks and pages they need,
//! or take the decoded blocks from the store's [`ColumnCache`] when it has one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use sha2::{Digest, Sha256};

use crate::column_cache::{
    CachedRead, ColumnCache, FileKey, FileStamp, meets, select_rows, selected_ranges,
};
use crate::deletes::DeleteVector;
pub use crate::encoding::{ENCODING_METADATA_KEY, PAGE_ROWS, ROW_GROUP_ROWS, writer_properties};
use crate::error::{Result, StorageError};
pub use crate::sort_key::{SORT_OPTIONS, SortKey};
use crate::version::SegmentRef;

/// The name of table column `id` in segment files.
pub fn file_column_name(id: u32) -> String {
    format!("c{id}")
}

mod files;

static NEXT_TMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Rows per record batch a scan returns (DataFusion's default batch size).
pub const SCAN_BATCH_ROWS: usize = 8 * 1024;

/// What to read of a segment: row groups, in order, and optionally which of their
/// rows (a selection over the rows of those row groups, concatenated).
#[derive(Debug, Clone)]
pub struct Selection {
    pub row_groups: Vec<usize>,
    pub rows: Option<RowSelection>,
}

/// The file positions of `range`, a range of the concatenated rows of the row groups
/// in `spans` (each: where it starts among those rows, where in the file, its rows).
fn to_file_ranges(
    spans: &[(usize, usize, usize)],
    range: std::ops::Range<usize>,
) -> Vec<std::ops::Range<usize>> {
    spans
        .iter()
        .filter_map(|&(at, start, rows)| {
            let lo = range.start.max(at);
            let hi = range.end.min(at + rows);
            (lo < hi).then(|| start + (lo - at)..start + (hi - at))
        })
        .collect()
}

/// One block of a segment: a column chunk of one row group, with its zone map.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInfo {
    /// The column's name in the file.
    pub column: String,
    pub row_group: usize,
    pub num_values: u64,
    /// Minimum and maximum as text (`None` when all values are NULL).
    pub min: Option<String>,
    pub max: Option<String>,
    /// Compressed bytes.
    pub bytes: u64,
}

/// What a segment scan read.
#[derive(Debug)]
pub struct SegmentScan {
    pub batches: Vec<RecordBatch>,
    /// With [`ScanOptions::row_positions`]: for each batch, each row's position in
    /// the segment file.
    pub positions: Option<Vec<Vec<u32>>>,
    /// Row groups in the segment.
    pub row_groups_total: usize,
    /// Row groups read (the others were skipped by their zone maps).
    pub row_groups_read: usize,
    /// Rows read (deleted rows and skipped row groups are not read).
    pub rows_read: u64,
    /// Rows in the row groups read, deleted ones included.
    pub rows_pre_filter: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Compressed bytes of the column chunks read.
    pub bytes_read: u64,
    /// Blocks (one column of one row group) read, and in the scanned columns.
    pub blocks_read: u64,
    pub blocks_total: u64,
}

/// How to scan a segment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanOptions<'a> {
    /// Columns to read, by name; all when `None`. Names the file does not have are
    /// left out of the batches (a column added after the file was written).
    pub columns: Option<&'a [String]>,
    /// Rows not to read.
    pub deleted: Option<&'a DeleteVector>,
    /// Report each row's position in the file (DELETE and UPDATE need it).
    pub row_positions: bool,
    /// Load the page index (page statistics), for page-level skipping.
    pub page_index: bool,
}

/// The segment files of one compute node, by slice.
#[derive(Clone, Debug)]
pub struct SliceStore {
    root: PathBuf,
    /// Segments whose content hash this process has checked, with the file's size and
    /// modification time then: a file that has not changed since is not hashed again.
    verified: Arc<std::sync::Mutex<std::collections::HashMap<(u32, String), FileStamp>>>,
    /// Decoded blocks and parsed footers kept between scans (none when disabled).
    cache: Option<Arc<ColumnCache>>,
}

impl SliceStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join("slices"))?;
        Ok(SliceStore {
            root: root.to_path_buf(),
            verified: Arc::default(),
            cache: None,
        })
    }

    /// Keeps up to `bytes` of decoded blocks in memory between scans (none for 0).
    pub fn with_column_cache(mut self, bytes: u64) -> Self {
        self.cache = ColumnCache::new(bytes).map(Arc::new);
        self
    }

    /// The store's column cache, if it has one.
    pub fn column_cache(&self) -> Option<&ColumnCache> {
        self.cache.as_deref()
    }

    fn slice_dir(&self, slice: u32) -> PathBuf {
        self.root.join("slices").join(slice.to_string())
    }

    pub(crate) fn segment_path(&self, slice: u32, name: &str) -> PathBuf {
        self.slice_dir(slice).join(format!("{name}.parquet"))
    }

    /// Sorts `batches` by `sort` and writes them as one staged segment of
    /// `slice`. Returns `None` when there are no rows.
    pub fn write_segment(
        &self,
        slice: u32,
        schema: SchemaRef,
        batches: &[RecordBatch],
        sort: &SortKey,
    ) -> Result<Option<SegmentRef>> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: "(new)".into(),
            reason,
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(None);
        }
        let batch = sort
            .sort_batches(&schema, batches)
            .map_err(|e| err(e.to_string()))?;
        let props = writer_properties(&schema, &batch);
        let mut buf = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| err(e.to_string()))?;
        writer.write(&batch).map_err(|e| err(e.to_string()))?;
        writer.close().map_err(|e| err(e.to_string()))?;

        let name = self.store_file(slice, &buf)?;
        Ok(Some(SegmentRef::new(name, rows as u64, buf.len() as u64)))
    }

    /// Reads a segment, verifying its hash, with only the named columns (all when
    /// `None`).
    pub fn read_segment(
        &self,
        slice: u32,
        name: &str,
        columns: Option<&[String]>,
    ) -> Result<Vec<RecordBatch>> {
        let options = ScanOptions {
            columns,
            ..ScanOptions::default()
        };
        Ok(self
            .scan_segment(slice, name, options, |_, _| None)?
            .batches)
    }

    /// Reads a segment like [`Self::read_segment`], reading only what `select` keeps
    /// and skipping deleted rows. `select` gets the segment's Arrow schema and Parquet
    /// metadata (the zone maps: row-group statistics, and page statistics with
    /// [`ScanOptions::page_index`]) and returns what to read, or `None` for all.
    pub fn scan_segment(
        &self,
        slice: u32,
        name: &str,
        options: ScanOptions<'_>,
        select: impl FnOnce(&SchemaRef, &ParquetMetaData) -> Option<Selection>,
    ) -> Result<SegmentScan> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: name.to_string(),
            reason,
        };
        let (file, stamp) = self.verified_file(slice, name)?;
        let file_bytes = stamp.0;
        let key = Arc::new(FileKey {
            slice,
            segment: name.to_string(),
            stamp,
        });
        let load = |page_index: bool| {
            let policy = if page_index {
                PageIndexPolicy::Optional
            } else {
                PageIndexPolicy::Skip
            };
            let options = ArrowReaderOptions::new().with_page_index_policy(policy);
            ArrowReaderMetadata::load(&file, options).map_err(|e| err(e.to_string()))
        };
        // A cached footer always has the page index: later scans may want it.
        let reader_meta = match &self.cache {
            Some(cache) => cache.footer(&key, || load(true))?,
            None => load(options.page_index)?,
        };
        let meta = Arc::clone(reader_meta.metadata());
        let file_schema = Arc::clone(reader_meta.schema());
        let row_groups_total = meta.num_row_groups();
        let selection = select(&file_schema, &meta);
        let (groups, page_rows) = match selection {
            Some(s) => (s.row_groups, s.rows),
            None => ((0..row_groups_total).collect(), None),
        };
        let row_groups_read = groups.len();
        // Where each selected row group starts in the file, and in the selected rows.
        let starts: Vec<usize> = meta
            .row_groups()
            .iter()
            .scan(0usize, |start, rg| {
                let this = *start;
                *start += rg.num_rows().max(0) as usize;
                Some(this)
            })
            .collect();
        let mut spans = Vec::with_capacity(groups.len());
        let mut selected_rows = 0usize;
        for &group in &groups {
            let (Some(&start), Some(rg)) = (starts.get(group), meta.row_groups().get(group)) else {
                return Err(err(format!("row group {group} does not exist")));
            };
            let rows = rg.num_rows().max(0) as usize;
            spans.push((selected_rows, start, rows));
            selected_rows += rows;
        }
        // Deleted rows, as a selection over the selected row groups' rows.
        let live = options.deleted.map(|deleted| {
            let ranges = spans.iter().flat_map(|&(at, start, rows)| {
                deleted
                    .live_ranges(start + rows)
                    .into_iter()
                    .filter_map(move |r| {
                        let r = r.start.max(start)..r.end;
                        (!r.is_empty()).then(|| at + (r.start - start)..at + (r.end - start))
                    })
            });
            RowSelection::from_consecutive_ranges(ranges, selected_rows)
        });
        let rows = match (live, page_rows) {
            (Some(a), Some(b)) => Some(a.intersection(&b)),
            (a, b) => a.or(b),
        };
        // The file positions of the rows read, in order.
        let mut file_ranges: Vec<std::ops::Range<usize>> = Vec::new();
        match &rows {
            Some(selection) => {
                let mut at = 0usize;
                for selector in selection.iter() {
                    if !selector.skip {
                        file_ranges.extend(to_file_ranges(&spans, at..at + selector.row_count));
                    }
                    at += selector.row_count;
                }
            }
            None => file_ranges.extend(to_file_ranges(&spans, 0..selected_rows)),
        }
        let rows_read: usize = file_ranges.iter().map(|r| r.len()).sum();
        let columns: Vec<usize> = match options.columns {
            Some(names) => {
                let mut found: Vec<usize> = names
                    .iter()
                    .filter_map(|n| file_schema.index_of(n).ok())
                    .collect();
                found.sort_unstable();
                found.dedup();
                found
            }
            None => (0..file_schema.fields().len()).collect(),
        };
        let bytes_read: i64 = groups
            .iter()
            .filter_map(|&g| meta.row_groups().get(g))
            .flat_map(|rg| {
                columns
                    .iter()
                    .filter_map(|&c| rg.columns().get(c).map(|chunk| chunk.compressed_size()))
            })
            .sum();
        let blocks_read = (groups.len() * columns.len()) as u64;
        let blocks_total = (row_groups_total * columns.len()) as u64;
        // Whole row groups through the cache when there is one (a row group with no
        // rows to read is skipped); the rows to read are picked from them after.
        let cached = match &self.cache {
            Some(cache) => {
                let ranges = selected_ranges(rows.as_ref());
                let wanted: Vec<bool> = spans
                    .iter()
                    .map(|&(at, _, n)| ranges.as_ref().is_none_or(|r| meets(r, at..at + n)))
                    .collect();
                let read = CachedRead {
                    cache,
                    file: &file,
                    key: &key,
                    meta: &reader_meta,
                };
                let groups = read
                    .row_groups(&groups, &wanted, &columns, SCAN_BATCH_ROWS)
                    .map_err(|e| err(e.to_string()))?;
                Some(
                    select_rows(groups, ranges.as_deref(), SCAN_BATCH_ROWS)
                        .map_err(|e| err(e.to_string()))?,
                )
            }
            None => None,
        };
        let batches = match cached {
            Some(batches) => batches,
            None => {
                let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, reader_meta)
                    .with_row_groups(groups);
                let builder = match rows {
                    Some(selection) => builder.with_row_selection(selection),
                    None => builder,
                };
                let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
                builder
                    .with_projection(mask)
                    .with_batch_size(SCAN_BATCH_ROWS)
                    .build()
                    .map_err(|e| err(e.to_string()))?
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| err(e.to_string()))?
            }
        };
        let positions = options.row_positions.then(|| {
            let mut all = file_ranges.into_iter().flatten().map(|p| p as u32);
            batches
                .iter()
                .map(|b| all.by_ref().take(b.num_rows()).collect())
                .collect()
        });
        Ok(SegmentScan {
            batches,
            positions,
            row_groups_total,
            row_groups_read,
            rows_read: rows_read as u64,
            rows_pre_filter: selected_rows as u64,
            bytes: file_bytes,
            bytes_read: bytes_read.max(0) as u64,
            blocks_read,
            blocks_total,
        })
    }

    /// Opens a segment file after checking that its content hash is its name: the
    /// first time this process reads it, and whenever its size or modification time
    /// has changed since. Only the parts a scan needs are read after that.
    fn verified_file(&self, slice: u32, name: &str) -> Result<(fs::File, FileStamp)> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: name.to_string(),
            reason,
        };
        let mut file =
            fs::File::open(self.segment_path(slice, name)).map_err(|e| err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        let stamp: FileStamp = (meta.len(), meta.modified().ok());
        let key = (slice, name.to_string());
        let known = self
            .verified
            .lock()
            .map(|v| v.get(&key) == Some(&stamp))
            .unwrap_or(false);
        if !known {
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher).map_err(|e| err(e.to_string()))?;
            if hex::encode(hasher.finalize()) != name {
                return Err(StorageError::SegmentCorrupt {
                    slice,
                    segment: name.to_string(),
                });
            }
            if let Ok(mut v) = self.verified.lock() {
                v.insert(key, stamp);
            }
        }
        Ok((file, stamp))
    }

    /// A segment's blocks (one per column of each row group) with their zone maps,
    /// read from the file's footer (the content hash is not checked here).
    pub fn blocks(&self, slice: u32, name: &str) -> Result<Vec<BlockInfo>> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: name.to_string(),
            reason,
        };
        let file =
            fs::File::open(self.segment_path(slice, name)).map_err(|e| err(e.to_string()))?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| err(e.to_string()))?;
        let schema = Arc::clone(builder.schema());
        let meta = Arc::clone(builder.metadata());
        let mut blocks = Vec::new();
        for (column, field) in schema.fields().iter().enumerate() {
            let converter = parquet::arrow::arrow_reader::statistics::StatisticsConverter::try_new(
                field.name(),
                &schema,
                meta.file_metadata().schema_descr(),
            )
            .map_err(|e| err(e.to_string()))?;
            let as_text = |array: arrow::array::ArrayRef| -> Vec<Option<String>> {
                let Ok(text) = arrow::compute::cast(&array, &arrow::datatypes::DataType::Utf8)
                else {
                    return vec![None; array.len()];
                };
                text.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .map(|a| a.iter().map(|v| v.map(str::to_string)).collect())
                    .unwrap_or_else(|| vec![None; array.len()])
            };
            let mins = converter
                .row_group_mins(meta.row_groups().iter())
                .map(as_text)
                .unwrap_or_default();
            let maxes = converter
                .row_group_maxes(meta.row_groups().iter())
                .map(as_text)
                .unwrap_or_default();
            for (group, rg) in meta.row_groups().iter().enumerate() {
                let chunk = rg.columns().get(column);
                blocks.push(BlockInfo {
                    column: field.name().clone(),
                    row_group: group,
                    num_values: chunk.map_or(0, |c| c.num_values().max(0) as u64),
                    min: mins.get(group).cloned().flatten(),
                    max: maxes.get(group).cloned().flatten(),
                    bytes: chunk.map_or(0, |c| c.compressed_size().max(0) as u64),
                });
            }
        }
        Ok(blocks)
    }

    /// Deletes the segment files of `slices` that are not in `live`, and stale
    /// temporary files. Returns how many files were removed.
    pub fn collect_garbage(&self, slices: &[u32], live: &[String]) -> Result<usize> {
        let live: std::collections::HashSet<&str> = live.iter().map(String::as_str).collect();
        let mut removed = 0;
        for slice in slices {
            let dir = self.slice_dir(*slice);
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry?;
                let file_name = entry.file_name();
                let file_name = file_name.to_string_lossy();
                let keep = file_name
                    .strip_suffix(".parquet")
                    .is_some_and(|stem| live.contains(stem));
                if !keep {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![3, 1, 2])),
                Arc::new(StringArray::from(vec![Some("c"), None, Some("b")])),
            ],
        )
        .expect("valid batch")
    }

    #[test]
    fn segments_are_sorted_hashed_and_verified() -> Result<()> {
        let dir = tempfile::tempdir()?;
        segment_reads(&SliceStore::open(dir.path())?)?;
        let dir = tempfile::tempdir()?;
        segment_reads(&SliceStore::open(dir.path())?.with_column_cache(1 << 20))
    }

    fn i64_values(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .map(|a| a.values().to_vec())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Reads through the column cache give what reads of the file give: every row
    /// group, deleted rows left out, pages skipped, on a miss and on a hit.
    #[test]
    fn cached_reads_match_the_file() -> Result<()> {
        use arrow::array::Int64Array;
        let dir = tempfile::tempdir()?;
        let plain = SliceStore::open(dir.path())?;
        let cached = plain.clone().with_column_cache(64 << 20);
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]));
        let rows = 2 * ROW_GROUP_ROWS as i64 + 1000;
        let b = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("v{}", i % 7)),
                )),
            ],
        )
        .expect("batch");
        let sort = SortKey {
            columns: vec![0],
            interleaved: false,
        };
        let seg = plain
            .write_segment(0, schema, &[b], &sort)?
            .expect("rows were written");
        let deleted = DeleteVector::from_positions((0..rows as u32).filter(|p| p % 3 == 0));
        let scan = |store: &SliceStore, deleted: Option<&DeleteVector>, pages: bool| {
            store.scan_segment(
                0,
                &seg.name,
                ScanOptions {
                    columns: Some(&["k".to_string()]),
                    deleted,
                    row_positions: true,
                    page_index: pages,
                },
                |_, _| {
                    Some(Selection {
                        row_groups: vec![0, 2],
                        rows: pages.then(|| {
                            RowSelection::from_consecutive_ranges(
                                [10..20, ROW_GROUP_ROWS - 5..ROW_GROUP_ROWS + 5].into_iter(),
                                ROW_GROUP_ROWS + 1000,
                            )
                        }),
                    })
                },
            )
        };
        for (deletes, pages) in [
            (None, false),
            (Some(&deleted), false),
            (Some(&deleted), true),
        ] {
            let want = scan(&plain, deletes, pages)?;
            for _ in 0..2 {
                let got = scan(&cached, deletes, pages)?;
                assert_eq!(i64_values(&got.batches), i64_values(&want.batches));
                let positions = |s: &SegmentScan| s.positions.clone().unwrap_or_default().concat();
                assert_eq!(positions(&got), positions(&want));
                assert_eq!(got.rows_read, want.rows_read);
                // Batches own what they hold (memory pools count it): no batch is a
                // slice of a whole row group's column.
                assert!(got.batches.iter().all(|b| b.num_rows() <= SCAN_BATCH_ROWS
                    && b.get_array_memory_size() <= 2 * 8 * SCAN_BATCH_ROWS));
            }
        }
        // Row groups 0 and 2 of one column were decoded and kept.
        let bytes = |store: &SliceStore| {
            store
                .column_cache()
                .map(ColumnCache::block_bytes)
                .unwrap_or_default()
        };
        let kept = bytes(&cached);
        assert!(kept >= (ROW_GROUP_ROWS as u64 + 1000) * 8, "{kept}");
        // Pages of row group 0 only: row group 2 is neither decoded nor kept.
        let fresh = plain.clone().with_column_cache(64 << 20);
        let scan = fresh.scan_segment(
            0,
            &seg.name,
            ScanOptions {
                columns: Some(&["k".to_string()]),
                ..ScanOptions::default()
            },
            |_, _| {
                Some(Selection {
                    row_groups: vec![0, 2],
                    rows: Some(RowSelection::from_consecutive_ranges(
                        std::iter::once(10..20),
                        ROW_GROUP_ROWS + 1000,
                    )),
                })
            },
        )?;
        assert_eq!(i64_values(&scan.batches), (10..20).collect::<Vec<_>>());
        let kept = bytes(&fresh);
        assert!(
            (ROW_GROUP_ROWS as u64 * 8..(ROW_GROUP_ROWS as u64 + 1000) * 8).contains(&kept),
            "{kept}"
        );
        Ok(())
    }

    fn segment_reads(store: &SliceStore) -> Result<()> {
        let b = batch();
        let seg = store
            .write_segment(
                5,
                b.schema(),
                std::slice::from_ref(&b),
                &SortKey {
                    columns: vec![0],
                    interleaved: false,
                },
            )?
            .expect("rows were written");
        assert_eq!(seg.rows, 3);
        let read = store.read_segment(5, &seg.name, Some(&["a".to_string()]))?;
        let a = read[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("int column");
        assert_eq!(a.values().to_vec(), vec![1, 2, 3]);

        // Deleted rows are not read; positions are the rows' places in the file.
        let deleted = DeleteVector::from_positions([1]);
        let scan = store.scan_segment(
            5,
            &seg.name,
            ScanOptions {
                columns: Some(&["a".to_string()]),
                deleted: Some(&deleted),
                row_positions: true,
                page_index: false,
            },
            |_, _| None,
        )?;
        let a: Vec<i32> = scan
            .batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .map(|a| a.values().to_vec())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(a, vec![1, 3]);
        assert_eq!(scan.positions, Some(vec![vec![0, 2]]));
        assert_eq!(scan.rows_read, 2);
        // A selection from page statistics (here: all but the first row) meets the
        // deleted rows: only position 2 is left.
        let scan = store.scan_segment(
            5,
            &seg.name,
            ScanOptions {
                columns: None,
                deleted: Some(&deleted),
                row_positions: true,
                page_index: false,
            },
            |_, _| {
                Some(Selection {
                    row_groups: vec![0],
                    rows: Some(RowSelection::from_consecutive_ranges(
                        std::iter::once(1..3),
                        3,
                    )),
                })
            },
        )?;
        assert_eq!(scan.positions, Some(vec![vec![2]]));
        assert_eq!(scan.rows_read, 1);

        // Corrupt one byte: the read must fail and name the segment.
        let path = store.segment_path(5, &seg.name);
        let mut bytes = fs::read(&path)?;
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&path, bytes)?;
        let e = store.read_segment(5, &seg.name, None).expect_err("corrupt");
        assert!(e.to_string().contains(&seg.name), "{e}");

        assert_eq!(store.collect_garbage(&[5], &[])?, 1);
        Ok(())
    }
}
