//! Segments: immutable Parquet files of one table's rows on one slice.
//!
//! A segment is written whole into memory, hashed (SHA-256) and stored as
//! `slices/<slice>/<hash>.parquet` through a temporary file, an fsync and a rename, so
//! a crash leaves either no file or a complete one. The hash is the name: reading a
//! segment checks it, and a mismatch is an error naming the slice and segment, never
//! a wrong answer.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

use crate::catalog::SegmentRef;
use crate::error::{Result, StorageError};

/// Rows per Parquet row group: the unit the zone maps describe.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// What a segment scan read.
#[derive(Debug)]
pub struct SegmentScan {
    pub batches: Vec<RecordBatch>,
    /// Row groups in the segment.
    pub row_groups_total: usize,
    /// Row groups read (the others were skipped by their zone maps).
    pub row_groups_read: usize,
}

/// The segment files of one compute node, by slice.
#[derive(Clone, Debug)]
pub struct SliceStore {
    root: PathBuf,
}

impl SliceStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Self> {
        fs::create_dir_all(root.join("slices"))?;
        Ok(SliceStore {
            root: root.to_path_buf(),
        })
    }

    fn slice_dir(&self, slice: u32) -> PathBuf {
        self.root.join("slices").join(slice.to_string())
    }

    fn segment_path(&self, slice: u32, name: &str) -> PathBuf {
        self.slice_dir(slice).join(format!("{name}.parquet"))
    }

    /// Sorts `batches` by `sort_columns` and writes them as one staged segment of
    /// `slice`. Returns `None` when there are no rows.
    pub fn write_segment(
        &self,
        slice: u32,
        schema: SchemaRef,
        batches: &[RecordBatch],
        sort_columns: &[usize],
    ) -> Result<Option<SegmentRef>> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: "(new)".into(),
            reason,
        };
        let batch = concat_batches(&schema, batches).map_err(|e| err(e.to_string()))?;
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        let batch = sort_batch(&batch, sort_columns).map_err(|e| err(e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let mut buf = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| err(e.to_string()))?;
        writer.write(&batch).map_err(|e| err(e.to_string()))?;
        writer.close().map_err(|e| err(e.to_string()))?;

        let name = hex::encode(Sha256::digest(&buf));
        let dir = self.slice_dir(slice);
        fs::create_dir_all(&dir)?;
        let path = self.segment_path(slice, &name);
        if !path.exists() {
            let tmp = dir.join(format!(".{name}.tmp"));
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&buf)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&dir)?.sync_all()?;
        }
        Ok(Some(SegmentRef {
            name,
            rows: batch.num_rows() as u64,
            bytes: buf.len() as u64,
        }))
    }

    /// Reads a segment, verifying its hash, with only the columns in `projection`
    /// (all when `None`).
    pub fn read_segment(
        &self,
        slice: u32,
        name: &str,
        projection: Option<&[usize]>,
    ) -> Result<Vec<RecordBatch>> {
        Ok(self
            .scan_segment(slice, name, projection, |_, _| None)?
            .batches)
    }

    /// Reads a segment like [`Self::read_segment`], reading only the row groups that
    /// `select_row_groups` keeps. It gets the segment's Arrow schema and Parquet
    /// metadata (the zone maps) and returns the row groups to read, or `None` for all.
    pub fn scan_segment(
        &self,
        slice: u32,
        name: &str,
        projection: Option<&[usize]>,
        select_row_groups: impl FnOnce(&SchemaRef, &ParquetMetaData) -> Option<Vec<usize>>,
    ) -> Result<SegmentScan> {
        let err = |reason: String| StorageError::Segment {
            slice,
            segment: name.to_string(),
            reason,
        };
        let bytes = fs::read(self.segment_path(slice, name)).map_err(|e| err(e.to_string()))?;
        if hex::encode(Sha256::digest(&bytes)) != name {
            return Err(StorageError::SegmentCorrupt {
                slice,
                segment: name.to_string(),
            });
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .map_err(|e| err(e.to_string()))?;
        let row_groups_total = builder.metadata().num_row_groups();
        let selected = select_row_groups(builder.schema(), builder.metadata());
        let row_groups_read = selected.as_ref().map_or(row_groups_total, Vec::len);
        let builder = match selected {
            Some(groups) => builder.with_row_groups(groups),
            None => builder,
        };
        let builder = match projection {
            Some(cols) => {
                let mask = ProjectionMask::roots(builder.parquet_schema(), cols.iter().copied());
                builder.with_projection(mask)
            }
            None => builder,
        };
        let reader = builder.build().map_err(|e| err(e.to_string()))?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        Ok(SegmentScan {
            batches,
            row_groups_total,
            row_groups_read,
        })
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

fn sort_batch(batch: &RecordBatch, sort_columns: &[usize]) -> arrow::error::Result<RecordBatch> {
    if sort_columns.is_empty() {
        return Ok(batch.clone());
    }
    let columns: Vec<SortColumn> = sort_columns
        .iter()
        .filter(|&&i| i < batch.num_columns())
        .map(|&i| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    take_record_batch(batch, &indices)
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
        let store = SliceStore::open(dir.path())?;
        let b = batch();
        let seg = store
            .write_segment(5, b.schema(), std::slice::from_ref(&b), &[0])?
            .expect("rows were written");
        assert_eq!(seg.rows, 3);
        let read = store.read_segment(5, &seg.name, Some(&[0]))?;
        let a = read[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("int column");
        assert_eq!(a.values().to_vec(), vec![1, 2, 3]);

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
