//! Delete vectors: which rows of a segment DELETE and UPDATE removed.
//!
//! Segments are immutable; a DELETE records the positions of the rows it removed (the
//! row's index in the segment file) in the table version, as a Roaring bitmap. Scans
//! skip those rows, and VACUUM rewrites segments without them.
//!
//! In the catalog a vector is the base64 text of Roaring's portable serialization; on
//! the wire to a compute node, the same bytes.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use roaring::RoaringBitmap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Result, StorageError};

/// The deleted row positions of one segment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteVector(RoaringBitmap);

impl DeleteVector {
    /// A vector with `positions` deleted.
    pub fn from_positions(positions: impl IntoIterator<Item = u32>) -> Self {
        DeleteVector(positions.into_iter().collect())
    }

    /// Deleted rows.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether no row is deleted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the row at `position` is deleted.
    pub fn contains(&self, position: u32) -> bool {
        self.0.contains(position)
    }

    /// Whether any row is deleted in both vectors.
    pub fn intersects(&self, other: &DeleteVector) -> bool {
        !self.0.is_disjoint(&other.0)
    }

    /// Adds the rows of `other`.
    pub fn union_with(&mut self, other: &DeleteVector) {
        self.0 |= &other.0;
    }

    /// The positions, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter()
    }

    /// The runs of rows in `0..rows` that are not deleted, ascending.
    pub fn live_ranges(&self, rows: usize) -> Vec<Range<usize>> {
        let mut ranges = Vec::new();
        let mut start = 0usize;
        for position in self.0.iter() {
            let position = position as usize;
            if position >= rows {
                break;
            }
            if position > start {
                ranges.push(start..position);
            }
            start = position + 1;
        }
        if start < rows {
            ranges.push(start..rows);
        }
        ranges
    }

    /// Roaring's portable serialization.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.0.serialized_size());
        // Writing into a Vec cannot fail.
        let _ = self.0.serialize_into(&mut bytes);
        bytes
    }

    /// Reads [`Self::to_bytes`]'s output; `what` names the segment in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        RoaringBitmap::deserialize_from(bytes)
            .map(DeleteVector)
            .map_err(|e| StorageError::CorruptRecord {
                key: what.to_string(),
                reason: format!("delete vector: {e}"),
            })
    }
}

impl Serialize for DeleteVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(self.to_bytes()))
    }
}

impl<'de> Deserialize<'de> for DeleteVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        DeleteVector::from_bytes(&bytes, "delete vector").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_ranges_skip_deleted_rows_and_round_trip() -> Result<()> {
        let dv = DeleteVector::from_positions([0, 3, 4, 9]);
        assert_eq!(dv.live_ranges(10), vec![1..3, 5..9]);
        assert_eq!(dv.live_ranges(12), vec![1..3, 5..9, 10..12]);
        assert_eq!(DeleteVector::default().live_ranges(3), vec![0..3]);
        let back = DeleteVector::from_bytes(&dv.to_bytes(), "t")?;
        assert_eq!(back, dv);
        let json = serde_json::to_string(&dv).map_err(|e| StorageError::Catalog(e.to_string()))?;
        let back: DeleteVector =
            serde_json::from_str(&json).map_err(|e| StorageError::Catalog(e.to_string()))?;
        assert_eq!(back, dv);
        assert!(DeleteVector::from_bytes(b"garbage", "t").is_err());
        Ok(())
    }
}
