//! Placing rows on slices: a cluster's slices ([`ClusterLayout`]), a table's
//! distribution style ([`DistStyle`]) and DISTKEY hash ([`DistHash`]), and the
//! [`SliceRouter`] that splits batches by them.
//!
//! A KEY row goes to slice `hash % slice_count`, where `hash` is its DISTKEY value's
//! hash under the table's [`DistHash`] ([`hash`] defines both hashes byte by byte).
//! The catalog records the layout and each table's style and hash.

pub mod hash;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use serde::{Deserialize, Serialize};

pub use self::hash::DistHash;
use crate::error::{Result, StorageError};

/// How a table's rows are placed on slices (Redshift's DISTSTYLE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistStyle {
    /// Chosen by the system: stored as EVEN until statistics say otherwise.
    Auto,
    /// Round robin over slices.
    Even,
    /// By the hash of the DISTKEY column.
    Key,
    /// A full copy on every node (on the node's first slice).
    All,
}

impl DistStyle {
    /// Redshift's name for the style.
    pub fn name(self) -> &'static str {
        match self {
            DistStyle::Auto => "AUTO",
            DistStyle::Even => "EVEN",
            DistStyle::Key => "KEY",
            DistStyle::All => "ALL",
        }
    }
}

/// Which slices each node holds. Fixed when the cluster is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLayout {
    pub nodes: u32,
    pub slices_per_node: u32,
}

impl ClusterLayout {
    /// Slices in the cluster.
    pub fn slice_count(&self) -> u32 {
        self.nodes * self.slices_per_node
    }

    /// The node that holds `slice`.
    pub fn node_of(&self, slice: u32) -> u32 {
        slice / self.slices_per_node
    }

    /// The first slice of `node`: where DISTSTYLE ALL tables keep the node's copy.
    pub fn first_slice_of(&self, node: u32) -> u32 {
        node * self.slices_per_node
    }
}

/// Routes rows to slices, keeping the round-robin position between batches.
#[derive(Debug)]
pub struct SliceRouter {
    layout: ClusterLayout,
    style: DistStyle,
    dist_key: Option<usize>,
    hash: DistHash,
    next_even_slice: u32,
}

/// The slice of `slice_count` that a DISTKEY hash places its row on.
pub(crate) fn slice_of(hash: u64, slice_count: u32) -> u32 {
    // The remainder is below `slice_count`, so it fits.
    (hash % u64::from(slice_count)) as u32
}

impl SliceRouter {
    /// A router for a table with `style` (and `dist_key` for KEY, placed by `hash`),
    /// starting its round robin at `start` (so concurrent loads do not all begin on
    /// slice 0). For rows to be stored, `hash` is the table's recorded `dist_hash`, so
    /// that they land where the table's other rows with the same key are.
    pub fn new(
        layout: ClusterLayout,
        style: DistStyle,
        dist_key: Option<usize>,
        hash: DistHash,
        start: u32,
    ) -> Self {
        SliceRouter {
            layout,
            style,
            dist_key,
            hash,
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
                self.hash
                    .hash_column(column)?
                    .into_iter()
                    .map(|h| slice_of(h, slices))
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
    use std::sync::Arc;

    use super::*;
    use arrow::array::{Array, ArrayRef, Int16Array, Int32Array, Int64Array};
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
        let mut router =
            SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::RowFormatV0, 0);
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
        let mut even = SliceRouter::new(layout, DistStyle::Even, None, DistHash::RowFormatV0, 0);
        let out = even.route_batch(&batch(vec![1, 2, 3, 4, 5]))?;
        let counts: Vec<usize> = out.iter().map(|(_, b)| b.num_rows()).collect();
        assert_eq!(counts, vec![2, 1, 1, 1]);
        let mut all = SliceRouter::new(layout, DistStyle::All, None, DistHash::RowFormatV0, 0);
        let out = all.route_batch(&batch(vec![1, 2]))?;
        assert_eq!(out.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0, 2]);
        Ok(())
    }

    fn key_batch(column: ArrayRef) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "k",
            column.data_type().clone(),
            true,
        )]));
        RecordBatch::try_new(schema, vec![column]).expect("batch")
    }

    /// Each key's slice, as a router sends the batch's rows.
    fn slices_of_keys(router: &mut SliceRouter, column: ArrayRef) -> Result<Vec<(u32, i64)>> {
        let mut placed = Vec::new();
        for (slice, rows) in router.route_batch(&key_batch(column))? {
            let keys = arrow::compute::cast(rows.column(0), &DataType::Int64)
                .map_err(|e| StorageError::Distribution(e.to_string()))?;
            let keys = keys
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("cast to Int64");
            placed.extend(keys.iter().map(|k| (slice, k.unwrap_or(i64::MIN))));
        }
        placed.sort_by_key(|&(_, k)| k);
        Ok(placed)
    }

    /// A collocated join of an INT and a BIGINT DISTKEY finds equal keys on the same
    /// slice under CanonicalV1 (not under V0, whose bytes depend on the width).
    #[test]
    fn int_and_bigint_keys_route_identically() -> Result<()> {
        for layout in [(2, 2), (3, 2)].map(|(nodes, slices_per_node)| ClusterLayout {
            nodes,
            slices_per_node,
        }) {
            let router =
                || SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::CanonicalV1, 0);
            let values: Vec<i32> = (-500..500).chain([i32::MIN, i32::MAX]).collect();
            let int: ArrayRef = Arc::new(Int32Array::from(values.clone()));
            let bigint: ArrayRef = Arc::new(Int64Array::from_iter_values(
                values.iter().map(|&v| i64::from(v)),
            ));
            let smallint: ArrayRef = Arc::new(Int16Array::from_iter_values(
                values.iter().filter_map(|&v| i16::try_from(v).ok()),
            ));
            let by_bigint = slices_of_keys(&mut router(), bigint)?;
            assert_eq!(slices_of_keys(&mut router(), int)?, by_bigint);
            let by_smallint = slices_of_keys(&mut router(), smallint)?;
            assert!(by_smallint.iter().all(|p| by_bigint.contains(p)));
            let used: std::collections::BTreeSet<u32> = by_bigint.iter().map(|p| p.0).collect();
            assert_eq!(
                used.len() as u32,
                layout.slice_count(),
                "keys reach every slice"
            );
        }
        // V0 sends INT 7 and BIGINT 7 to different slices of 6.
        let layout = ClusterLayout {
            nodes: 3,
            slices_per_node: 2,
        };
        let mut v0 = SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::RowFormatV0, 0);
        let int = slices_of_keys(&mut v0, Arc::new(Int32Array::from(vec![7])))?;
        let bigint = slices_of_keys(&mut v0, Arc::new(Int64Array::from(vec![7])))?;
        assert_eq!((int, bigint), (vec![(1, 7)], vec![(5, 7)]));
        Ok(())
    }

    /// A router places KEY rows by the hash it is given.
    #[test]
    fn routers_place_by_the_hash_given() -> Result<()> {
        let layout = ClusterLayout {
            nodes: 2,
            slices_per_node: 2,
        };
        let keys: ArrayRef = Arc::new(Int64Array::from((0..200).collect::<Vec<i64>>()));
        let mut v0 = SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::RowFormatV0, 0);
        let mut v1 = SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::CanonicalV1, 0);
        let by_v0 = slices_of_keys(&mut v0, Arc::clone(&keys))?;
        assert_ne!(by_v0, slices_of_keys(&mut v1, Arc::clone(&keys))?);
        // BIGINT 7: slice 1 of 4 under V0, 2 of 4 under V1 (the golden vectors).
        let seven: ArrayRef = Arc::new(Int64Array::from(vec![7]));
        assert_eq!(slices_of_keys(&mut v0, Arc::clone(&seven))?, [(1, 7)]);
        assert_eq!(slices_of_keys(&mut v1, seven)?, [(2, 7)]);
        // A NULL key goes to one fixed slice: 2 of 4 under V1.
        let nulls: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1), None]));
        let placed = v1.route_batch(&key_batch(nulls))?;
        let null_rows: Vec<(u32, usize)> = placed
            .iter()
            .map(|(slice, rows)| (*slice, rows.column(0).null_count()))
            .collect();
        assert_eq!(null_rows, [(0, 0), (2, 2)]);
        Ok(())
    }

    #[test]
    fn a_key_type_without_a_hash_is_an_error() {
        let layout = ClusterLayout {
            nodes: 1,
            slices_per_node: 2,
        };
        let mut router =
            SliceRouter::new(layout, DistStyle::Key, Some(0), DistHash::CanonicalV1, 0);
        let binary: ArrayRef = Arc::new(arrow::array::BinaryArray::from(vec![b"x".as_ref()]));
        match router.route_batch(&key_batch(binary)) {
            Err(StorageError::Distribution(message)) => assert!(message.contains("Binary")),
            other => panic!("expected a distribution error, got {other:?}"),
        }
    }
}
