//! [`ColumnCache`]: a compute node's decoded blocks, kept in memory between scans.
//!
//! A block is one column of one row group of a segment. Decoding it from Parquet
//! (decompressing, undoing delta packing and dictionaries, widening DECIMAL) is most of
//! what a scan costs once the file is in the page cache, so a node keeps the blocks it
//! decoded, as Arrow arrays, up to a byte budget, evicting those used least
//! (quick_cache's S3-FIFO policy, which also keeps one large scan from flushing the hot
//! blocks). Segments never change (a segment's name is the hash of its bytes), so a
//! cached block is never stale; the key also holds the file's size and modification
//! time, the stamp under which its hash was checked, so a file changed on disk is read
//! (and checked) again. Parsed footers are kept the same way.

use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatch, RecordBatchOptions};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::errors::ParquetError;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// A file's size and modification time.
pub(crate) type FileStamp = (u64, Option<std::time::SystemTime>);

/// One segment file as a scan found it.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) struct FileKey {
    pub slice: u32,
    pub segment: String,
    pub stamp: FileStamp,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct BlockKey {
    file: Arc<FileKey>,
    row_group: usize,
    /// The column's index in the file's Arrow schema.
    column: usize,
}

/// A decoded block, in pieces of at most a scan batch's rows (so each batch a scan
/// returns owns its buffers, and memory pools count what it holds, not the block).
#[derive(Clone)]
struct Block {
    pieces: Arc<[ArrayRef]>,
    bytes: u64,
}

/// A parsed footer (with its page index), and the bytes it holds.
#[derive(Clone)]
struct Footer {
    meta: ArrowReaderMetadata,
    bytes: u64,
}

/// A cached value that knows the bytes it holds.
trait Weighed {
    fn bytes(&self) -> u64;
}

impl Weighed for Block {
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Weighed for Footer {
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Weighs a cached value by its bytes (at least 1, so every value can be evicted).
#[derive(Clone)]
struct ByBytes;

impl<K, V: Weighed> Weighter<K, V> for ByBytes {
    fn weight(&self, _key: &K, value: &V) -> u64 {
        value.bytes().max(1)
    }
}

/// The share of the cache's bytes that footers may take (the rest is for blocks).
const FOOTER_SHARE: u64 = 8;

/// Decoded blocks and parsed footers, shared by a node's scans.
pub struct ColumnCache {
    blocks: Cache<BlockKey, Block, ByBytes>,
    footers: Cache<FileKey, Footer, ByBytes>,
    capacity: u64,
}

impl std::fmt::Debug for ColumnCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColumnCache")
            .field("capacity", &self.capacity)
            .field("bytes", &self.bytes())
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl ColumnCache {
    /// A cache holding up to `bytes` of decoded blocks and parsed footers (footers
    /// at most an eighth of it); `None` for 0 (no cache).
    pub fn new(bytes: u64) -> Option<Self> {
        (bytes > 0).then(|| {
            let footer_bytes = bytes / FOOTER_SHARE;
            let block_bytes = bytes - footer_bytes;
            ColumnCache {
                // A block of 64 Ki rows is about 0.5-2 MB, a footer 10-100 KB.
                blocks: Cache::with_weighter(
                    (block_bytes / (512 * 1024)).max(16) as usize,
                    block_bytes,
                    ByBytes,
                ),
                footers: Cache::with_weighter(
                    (footer_bytes / (32 * 1024)).max(16) as usize,
                    footer_bytes.max(1),
                    ByBytes,
                ),
                capacity: bytes,
            }
        })
    }

    /// Bytes of decoded blocks and parsed footers held now.
    pub fn bytes(&self) -> u64 {
        self.block_bytes() + self.footers.weight()
    }

    /// Bytes of decoded blocks held now.
    pub fn block_bytes(&self) -> u64 {
        self.blocks.weight()
    }

    /// The footer of `file`, parsed by `load` if it is not held.
    pub(crate) fn footer<E>(
        &self,
        file: &FileKey,
        load: impl FnOnce() -> Result<ArrowReaderMetadata, E>,
    ) -> Result<ArrowReaderMetadata, E> {
        self.footers
            .get_or_insert_with(file, || {
                let meta = load()?;
                let bytes = meta.metadata().memory_size() as u64;
                Ok(Footer { meta, bytes })
            })
            .map(|f| f.meta)
    }

    /// The decoded `column` of `row_group` in `file`, in pieces, if held.
    pub(crate) fn get(
        &self,
        file: &Arc<FileKey>,
        row_group: usize,
        column: usize,
    ) -> Option<Arc<[ArrayRef]>> {
        let key = BlockKey {
            file: Arc::clone(file),
            row_group,
            column,
        };
        self.blocks.get(&key).map(|b| b.pieces)
    }

    /// Keeps a decoded block (a block larger than the cache is not kept).
    pub(crate) fn insert(
        &self,
        file: &Arc<FileKey>,
        row_group: usize,
        column: usize,
        pieces: Arc<[ArrayRef]>,
    ) {
        let bytes = pieces
            .iter()
            .map(|a| a.get_array_memory_size() as u64)
            .sum();
        let key = BlockKey {
            file: Arc::clone(file),
            row_group,
            column,
        };
        self.blocks.insert(key, Block { pieces, bytes });
    }
}

/// Whole row groups of one segment file, read through a [`ColumnCache`].
pub(crate) struct CachedRead<'a> {
    pub cache: &'a ColumnCache,
    pub file: &'a File,
    pub key: &'a Arc<FileKey>,
    pub meta: &'a ArrowReaderMetadata,
}

impl CachedRead<'_> {
    /// `columns` (indices in the file's schema, ascending) of each of `groups`, in
    /// batches of at most `batch_rows` rows, each with its row count; blocks the cache
    /// lacks are decoded and kept. A row group `wanted` says no rows of is not read:
    /// it is one entry with its row count and no batch.
    pub fn row_groups(
        &self,
        groups: &[usize],
        wanted: &[bool],
        columns: &[usize],
        batch_rows: usize,
    ) -> Result<Vec<(usize, Option<RecordBatch>)>, ParquetError> {
        let batch_rows = batch_rows.max(1);
        let schema = Arc::new(self.meta.schema().project(columns)?);
        let mut out = Vec::with_capacity(groups.len());
        for (i, &group) in groups.iter().enumerate() {
            let rows = self
                .meta
                .metadata()
                .row_groups()
                .get(group)
                .map(|rg| rg.num_rows().max(0) as usize)
                .ok_or_else(|| {
                    ParquetError::General(format!("row group {group} does not exist"))
                })?;
            if !wanted.get(i).copied().unwrap_or(true) {
                out.push((rows, None));
                continue;
            }
            let mut blocks: Vec<Option<Arc<[ArrayRef]>>> = columns
                .iter()
                .map(|&c| self.cache.get(self.key, group, c))
                .collect();
            let missing: Vec<usize> = columns
                .iter()
                .zip(&blocks)
                .filter(|(_, b)| b.is_none())
                .map(|(&c, _)| c)
                .collect();
            if !missing.is_empty() {
                let mut decoded = self.decode(group, rows, &missing, batch_rows)?.into_iter();
                for slot in blocks.iter_mut().filter(|b| b.is_none()) {
                    *slot = decoded.next();
                }
            }
            let blocks = blocks
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ParquetError::General(format!("row group {group}: a column was not read"))
                })?;
            // Piece k of every block holds the same rows (all were decoded in
            // batches of `batch_rows` from the row group's start).
            for (k, at) in (0..rows).step_by(batch_rows).enumerate() {
                let n = batch_rows.min(rows - at);
                let arrays = blocks
                    .iter()
                    .map(|b| b.get(k).filter(|a| a.len() == n).cloned())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ParquetError::General(format!(
                            "row group {group}: a cached block does not have {n} rows at {at}"
                        ))
                    })?;
                let options = RecordBatchOptions::new().with_row_count(Some(n));
                let batch =
                    RecordBatch::try_new_with_options(Arc::clone(&schema), arrays, &options)?;
                out.push((n, Some(batch)));
            }
        }
        Ok(out)
    }

    /// Decodes `columns` (ascending) of row group `group` in pieces of `batch_rows`
    /// rows, keeping each column's pieces in the cache.
    fn decode(
        &self,
        group: usize,
        rows: usize,
        columns: &[usize],
        batch_rows: usize,
    ) -> Result<Vec<Arc<[ArrayRef]>>, ParquetError> {
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.try_clone()?,
            self.meta.clone(),
        );
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        let batches = builder
            .with_row_groups(vec![group])
            .with_projection(mask)
            .with_batch_size(batch_rows)
            .build()?
            .collect::<Result<Vec<_>, ArrowError>>()?;
        let read: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if read != rows {
            return Err(ParquetError::General(format!(
                "row group {group} gave {read} rows, not {rows}"
            )));
        }
        Ok((0..columns.len())
            .zip(columns)
            .map(|(i, &c)| {
                let pieces: Arc<[ArrayRef]> =
                    batches.iter().map(|b| Arc::clone(b.column(i))).collect();
                self.cache.insert(self.key, group, c, Arc::clone(&pieces));
                pieces
            })
            .collect())
    }
}

/// The rows `rows` selects, as ascending ranges of row numbers (`None`: all rows).
pub(crate) fn selected_ranges(rows: Option<&RowSelection>) -> Option<Vec<Range<usize>>> {
    rows.map(|selection| {
        let mut at = 0;
        let mut ranges = Vec::new();
        for selector in selection.iter() {
            if !selector.skip && selector.row_count > 0 {
                ranges.push(at..at + selector.row_count);
            }
            at += selector.row_count;
        }
        ranges
    })
}

/// Whether any of `ranges` (ascending, apart) meets `rows`.
pub(crate) fn meets(ranges: &[Range<usize>], rows: Range<usize>) -> bool {
    let first = ranges.partition_point(|r| r.end <= rows.start);
    ranges.get(first).is_some_and(|r| r.start < rows.end)
}

/// The rows `ranges` keeps (all when `None`) of `groups`: whole row groups, in order,
/// each with its row count and its rows unless none are kept; `ranges` number their
/// rows concatenated. Returned as batches of at most `batch_rows` rows.
pub(crate) fn select_rows(
    groups: Vec<(usize, Option<RecordBatch>)>,
    ranges: Option<&[Range<usize>]>,
    batch_rows: usize,
) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut next = 0;
    for (n, batch) in groups {
        let end = start + n;
        let batch = match (ranges, batch) {
            (_, None) => None,
            (None, batch) => batch,
            (Some(ranges), Some(batch)) => {
                // The ranges that meet [start, end), as positions in this batch.
                let mut kept = Vec::new();
                while let Some(r) = ranges.get(next) {
                    if r.start >= end {
                        break;
                    }
                    let lo = r.start.max(start);
                    let hi = r.end.min(end);
                    if lo < hi {
                        kept.push(lo - start..hi - start);
                    }
                    if r.end <= end {
                        next += 1;
                    } else {
                        break;
                    }
                }
                let selected: usize = kept.iter().map(|r| r.len()).sum();
                if selected == n {
                    Some(batch)
                } else if selected == 0 {
                    None
                } else {
                    let mut mask = BooleanBufferBuilder::new(n);
                    let mut pos = 0;
                    for r in &kept {
                        mask.append_n(r.start - pos, false);
                        mask.append_n(r.len(), true);
                        pos = r.end;
                    }
                    mask.append_n(n - pos, false);
                    let mask = BooleanArray::new(mask.finish(), None);
                    Some(filter_record_batch(&batch, &mask)?)
                }
            }
        };
        // A group with no rows kept may still hold ranges that end past it.
        while ranges.is_some_and(|r| r.get(next).is_some_and(|r| r.end <= end)) {
            next += 1;
        }
        start = end;
        let Some(batch) = batch else { continue };
        let mut at = 0;
        while at < batch.num_rows() {
            let len = batch_rows.max(1).min(batch.num_rows() - at);
            out.push(batch.slice(at, len));
            at += len;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::RowSelector;

    fn batch(values: Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(values))])
            .expect("batch")
    }

    fn values(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("i64");
                a.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn selections_keep_the_rows_they_name_across_row_groups() -> Result<(), ArrowError> {
        let groups = || {
            vec![
                (10, Some(batch(0..10))),
                (10, Some(batch(10..20))),
                (10, Some(batch(20..30))),
            ]
        };
        // All rows, cut into batches of 4.
        let all = select_rows(groups(), None, 4)?;
        assert_eq!(values(&all), (0..30).collect::<Vec<_>>());
        assert!(all.iter().all(|b| b.num_rows() <= 4));
        // A selection that spans groups, skips one whole, and ends early.
        let selection = RowSelection::from(vec![
            RowSelector::skip(3),
            RowSelector::select(9),
            RowSelector::skip(9),
            RowSelector::select(2),
            RowSelector::skip(1),
            RowSelector::select(1),
            RowSelector::skip(5),
        ]);
        let ranges = selected_ranges(Some(&selection)).expect("ranges");
        assert_eq!(ranges, vec![3..12, 21..23, 24..25]);
        assert!(meets(&ranges, 10..20) && meets(&ranges, 20..30) && !meets(&ranges, 12..21));
        let some = select_rows(groups(), Some(&ranges), 100)?;
        let want: Vec<i64> = (3..12).chain(21..23).chain(24..25).collect();
        assert_eq!(values(&some), want);
        // A group left unread (no rows of it selected) counts its rows all the same.
        let mut sparse = groups();
        sparse[1].1 = None;
        let gap = [3..8, 21..23];
        let want: Vec<i64> = (3..8).chain(21..23).collect();
        assert_eq!(values(&select_rows(sparse, Some(&gap), 100)?), want);
        // Nothing selected.
        let none = selected_ranges(Some(&RowSelection::from(vec![RowSelector::skip(30)])));
        assert!(select_rows(groups(), none.as_deref(), 8)?.is_empty());
        Ok(())
    }

    #[test]
    fn a_block_is_kept_until_the_budget_needs_its_room() {
        let cache = ColumnCache::new(64 * 1024 * 1024).expect("cache");
        let file = Arc::new(FileKey {
            slice: 0,
            segment: "s".into(),
            stamp: (1, None),
        });
        let array: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        cache.insert(&file, 0, 2, Arc::from(vec![Arc::clone(&array)]));
        assert_eq!(cache.get(&file, 0, 2).map(|p| p[0].len()), Some(1000));
        assert!(cache.get(&file, 0, 1).is_none());
        // The same segment under another stamp (the file changed) is not a hit.
        let changed = Arc::new(FileKey {
            stamp: (2, None),
            ..(*file).clone()
        });
        assert!(cache.get(&changed, 0, 2).is_none());
        assert!(cache.bytes() >= 8000);
        assert!(ColumnCache::new(0).is_none());
    }
}
