//! The order of a segment's rows: a table's compound or interleaved sort key.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{SortColumn, concat, concat_batches, lexsort_to_indices, take};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

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
        self.sort_batches(&batch.schema(), std::slice::from_ref(batch))
    }

    /// The rows of `batches`, one after the other, as one batch in this order.
    /// The key's columns are put together to find the order; then each column in
    /// turn is put together and its rows taken in that order, so only one column
    /// is held twice at a time.
    pub fn sort_batches(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> arrow::error::Result<RecordBatch> {
        let Some(order) = self.order(batches)? else {
            return concat_batches(schema, batches);
        };
        let columns = (0..schema.fields().len())
            .map(|i| take(column_of(batches, i)?.as_ref(), &order, None))
            .collect::<arrow::error::Result<Vec<ArrayRef>>>()?;
        RecordBatch::try_new(Arc::clone(schema), columns)
    }

    /// The order of the rows of `batches` (one after the other), or `None` when
    /// the key is empty or names a column the batches do not have.
    fn order(&self, batches: &[RecordBatch]) -> arrow::error::Result<Option<UInt32Array>> {
        let Some(first) = batches.first() else {
            return Ok(None);
        };
        if self.columns.is_empty() || self.columns.iter().any(|&i| i >= first.num_columns()) {
            return Ok(None);
        }
        let columns = self
            .columns
            .iter()
            .map(|&i| column_of(batches, i))
            .collect::<arrow::error::Result<Vec<ArrayRef>>>()?;
        let indices = if self.interleaved && columns.len() > 1 {
            z_order(&columns)?
        } else {
            let sort_columns: Vec<SortColumn> = columns
                .into_iter()
                .map(|values| SortColumn {
                    values,
                    options: Some(SORT_OPTIONS),
                })
                .collect();
            lexsort_to_indices(&sort_columns, None)?
        };
        Ok(Some(indices))
    }
}

/// Column `i` of `batches`, one after the other.
fn column_of(batches: &[RecordBatch], i: usize) -> arrow::error::Result<ArrayRef> {
    let parts = batches
        .iter()
        .map(|b| b.columns().get(i).map(Arc::clone))
        .collect::<Option<Vec<ArrayRef>>>()
        .ok_or_else(|| ArrowError::SchemaError(format!("a batch has no column {i}")))?;
    match parts.as_slice() {
        [one] => Ok(Arc::clone(one)),
        _ => concat(
            &parts
                .iter()
                .map(|a| a.as_ref())
                .collect::<Vec<&dyn Array>>(),
        ),
    }
}

/// The row order of an interleaved sort key: each column's values are ranked (NULLs
/// last), the ranks scaled to the same width, and their bits interleaved into one
/// z-value, most significant bits first; rows are sorted by z-value. A range on any
/// of the key's columns then covers fewer row groups than in arrival order, though
/// not as few as on the first column of a compound key.
fn z_order(columns: &[ArrayRef]) -> arrow::error::Result<UInt32Array> {
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
    Ok(UInt32Array::from(order))
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn batches_sort_as_one() -> arrow::error::Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("v", DataType::Utf8, false),
        ]));
        let batch = |keys: Vec<Option<i32>>, values: Vec<&str>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int32Array::from(keys)),
                    Arc::new(arrow::array::StringArray::from(values)),
                ],
            )
        };
        let batches = [
            batch(vec![Some(3), None, Some(1)], vec!["c", "null", "a"])?,
            batch(vec![], vec![])?,
            batch(vec![Some(2), Some(0)], vec!["b", "zero"])?,
        ];
        let key = SortKey {
            columns: vec![0],
            interleaved: false,
        };
        let sorted = key.sort_batches(&schema, &batches)?;
        let values: Vec<&str> = sorted
            .column(1)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(values, ["zero", "a", "b", "c", "null"]);
        // No key: the rows as they came.
        let same = SortKey::default().sort_batches(&schema, &batches)?;
        let values: Vec<&str> = same.column(1).as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["c", "null", "a", "b", "zero"]);
        Ok(())
    }

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
