//! The order of a segment's rows: a table's compound or interleaved sort key.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};

/// How segments are sorted: ascending, NULLs last (PostgreSQL's `ORDER BY col`).
pub const SORT_OPTIONS: arrow::compute::SortOptions = arrow::compute::SortOptions {
    descending: false,
    nulls_first: false,
};

/// How a segment's rows are ordered: a table's sort key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SortKey {
    /// Column indices, in key order; empty for no order.
    pub columns: Vec<usize>,
    /// INTERLEAVED: rows in z-order over the columns, each column weighing the same;
    /// else COMPOUND: by the first column, then the second, and so on.
    pub interleaved: bool,
}

impl SortKey {
    /// `batch` in this order.
    pub fn sort(&self, batch: &RecordBatch) -> arrow::error::Result<RecordBatch> {
        let columns: Vec<&arrow::array::ArrayRef> = self
            .columns
            .iter()
            .filter_map(|&i| batch.columns().get(i))
            .collect();
        if columns.is_empty() {
            return Ok(batch.clone());
        }
        let indices = if self.interleaved && columns.len() > 1 {
            z_order(&columns)?
        } else {
            let sort_columns: Vec<SortColumn> = columns
                .into_iter()
                .map(|values| SortColumn {
                    values: Arc::clone(values),
                    options: Some(SORT_OPTIONS),
                })
                .collect();
            lexsort_to_indices(&sort_columns, None)?
        };
        take_record_batch(batch, &indices)
    }
}

/// The row order of an interleaved sort key: each column's values are ranked (NULLs
/// last), the ranks scaled to the same width, and their bits interleaved into one
/// z-value, most significant bits first; rows are sorted by z-value. A range on any
/// of the key's columns then covers fewer row groups than in arrival order, though
/// not as few as on the first column of a compound key.
fn z_order(columns: &[&arrow::array::ArrayRef]) -> arrow::error::Result<arrow::array::UInt32Array> {
    let rows = columns.first().map_or(0, |c| c.len());
    let bits = (128 / columns.len()).min(32) as u32;
    let mut z = vec![0u128; rows];
    let scaled: Vec<Vec<u64>> = columns
        .iter()
        .map(|c| {
            let ranks = match arrow::compute::rank(c.as_ref(), Some(SORT_OPTIONS)) {
                Ok(ranks) => ranks,
                // Types `rank` does not take: each row's place in sorted order.
                Err(_) => {
                    let order =
                        arrow::compute::sort_to_indices(c.as_ref(), Some(SORT_OPTIONS), None)?;
                    let mut ranks = vec![0u32; c.len()];
                    for (place, row) in order.values().iter().enumerate() {
                        if let Some(r) = ranks.get_mut(*row as usize) {
                            *r = place as u32 + 1;
                        }
                    }
                    ranks
                }
            };
            let top = ranks.iter().copied().max().unwrap_or(1).max(1) as u64;
            Ok(ranks
                .into_iter()
                .map(|r| (u64::from(r) << bits).saturating_sub(1) / top)
                .collect())
        })
        .collect::<arrow::error::Result<_>>()?;
    for bit in (0..bits).rev() {
        for column in &scaled {
            for (row, value) in column.iter().enumerate() {
                z[row] = (z[row] << 1) | u128::from((value >> bit) & 1 == 1);
            }
        }
    }
    let mut order: Vec<u32> = (0..rows as u32).collect();
    order.sort_by_key(|&i| z[i as usize]);
    Ok(arrow::array::UInt32Array::from(order))
}

#[cfg(test)]
mod tests {
    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn interleaved_keys_sort_in_z_order() -> arrow::error::Result<()> {
        // A 4 x 4 grid of (a, b) in a scrambled order.
        let cells: Vec<(i32, i32)> = (0..16)
            .map(|i| (i * 7) % 16)
            .map(|i| (i / 4, i % 4))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from_iter_values(cells.iter().map(|c| c.0))),
                Arc::new(Int32Array::from_iter_values(cells.iter().map(|c| c.1))),
            ],
        )?;
        let sorted = SortKey {
            columns: vec![0, 1],
            interleaved: true,
        }
        .sort(&batch)?;
        let column = |i: usize| -> Vec<i32> {
            sorted
                .column(i)
                .as_any()
                .downcast_ref::<Int32Array>()
                .map(|a| a.values().to_vec())
                .unwrap_or_default()
        };
        let (a, b) = (column(0), column(1));
        // Each quarter of the rows is one quadrant of the grid: a range on either
        // column touches half of the quarters.
        for quarter in 0..4 {
            let rows = quarter * 4..quarter * 4 + 4;
            let qa: std::collections::BTreeSet<i32> =
                a[rows.clone()].iter().map(|v| v / 2).collect();
            let qb: std::collections::BTreeSet<i32> = b[rows].iter().map(|v| v / 2).collect();
            assert_eq!(
                (qa.len(), qb.len()),
                (1, 1),
                "quarter {quarter}: {a:?} {b:?}"
            );
        }
        Ok(())
    }
}
