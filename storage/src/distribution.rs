//! Placing rows on slices by a table's distribution style.

use std::sync::Arc;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::row::{RowConverter, SortField};

use crate::catalog::{ClusterLayout, DistStyle};
use crate::error::{Result, StorageError};

/// Routes rows to slices, keeping the round-robin position between batches.
#[derive(Debug)]
pub struct SliceRouter {
    layout: ClusterLayout,
    style: DistStyle,
    dist_key: Option<usize>,
    next_even_slice: u32,
}

/// FNV-1a: a stable hash, so a DISTKEY value maps to the same slice in every
/// version of Blueshift that reads the data.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl SliceRouter {
    /// A router for a table with `style` (and `dist_key` for KEY), starting its round
    /// robin at `start` (so concurrent loads do not all begin on slice 0).
    pub fn new(
        layout: ClusterLayout,
        style: DistStyle,
        dist_key: Option<usize>,
        start: u32,
    ) -> Self {
        SliceRouter {
            layout,
            style,
            dist_key,
            next_even_slice: start % layout.slice_count().max(1),
        }
    }

    /// The layout rows are routed over.
    pub fn layout(&self) -> ClusterLayout {
        self.layout
    }

    /// Splits `batch` into one batch per target slice (slices with no rows are left out).
    pub fn route_batch(&mut self, batch: &RecordBatch) -> Result<Vec<(u32, RecordBatch)>> {
        let slices = self.layout.slice_count();
        if batch.num_rows() == 0 || slices == 0 {
            return Ok(vec![]);
        }
        let targets: Vec<u32> = match (self.style, self.dist_key) {
            (DistStyle::All, _) => {
                return Ok((0..self.layout.nodes)
                    .map(|n| (self.layout.first_slice_of(n), batch.clone()))
                    .collect());
            }
            (DistStyle::Key, Some(col)) => {
                let column = batch.columns().get(col).ok_or_else(|| {
                    StorageError::Distribution(format!("DISTKEY column {col} missing"))
                })?;
                let converter = RowConverter::new(vec![SortField::new(column.data_type().clone())])
                    .map_err(|e| StorageError::Distribution(e.to_string()))?;
                let rows = converter
                    .convert_columns(&[Arc::clone(column)])
                    .map_err(|e| StorageError::Distribution(e.to_string()))?;
                (0..batch.num_rows())
                    .map(|i| (fnv1a(rows.row(i).as_ref()) % u64::from(slices)) as u32)
                    .collect()
            }
            _ => (0..batch.num_rows())
                .map(|_| {
                    let s = self.next_even_slice;
                    self.next_even_slice = (s + 1) % slices;
                    s
                })
                .collect(),
        };
        let mut per_slice: Vec<Vec<u32>> = vec![Vec::new(); slices as usize];
        for (row, slice) in targets.iter().enumerate() {
            per_slice[*slice as usize].push(row as u32);
        }
        per_slice
            .into_iter()
            .enumerate()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(slice, rows)| {
                let taken = take_record_batch(batch, &UInt32Array::from(rows))
                    .map_err(|e| StorageError::Distribution(e.to_string()))?;
                Ok((slice as u32, taken))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(values: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).expect("batch")
    }

    #[test]
    fn key_distribution_sends_equal_keys_to_one_slice() -> Result<()> {
        let layout = ClusterLayout {
            nodes: 2,
            slices_per_node: 2,
        };
        let mut router = SliceRouter::new(layout, DistStyle::Key, Some(0), 0);
        let first = router.route_batch(&batch(vec![7, 7, 7]))?;
        assert_eq!(first.len(), 1);
        let again = router.route_batch(&batch(vec![7]))?;
        assert_eq!(first[0].0, again[0].0);
        let spread = router.route_batch(&batch((0..1000).collect()))?;
        assert_eq!(spread.len(), 4, "1000 keys reach every slice");
        Ok(())
    }

    #[test]
    fn even_and_all() -> Result<()> {
        let layout = ClusterLayout {
            nodes: 2,
            slices_per_node: 2,
        };
        let mut even = SliceRouter::new(layout, DistStyle::Even, None, 0);
        let out = even.route_batch(&batch(vec![1, 2, 3, 4, 5]))?;
        let counts: Vec<usize> = out.iter().map(|(_, b)| b.num_rows()).collect();
        assert_eq!(counts, vec![2, 1, 1, 1]);
        let mut all = SliceRouter::new(layout, DistStyle::All, None, 0);
        let out = all.route_batch(&batch(vec![1, 2]))?;
        assert_eq!(out.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 2]);
        Ok(())
    }
}
