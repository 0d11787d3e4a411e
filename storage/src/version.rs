//! Table versions: each slice's segments and their delete vectors, and the changes a
//! statement commits to them (appends, deletions, VACUUM's rewrites), with the
//! conflicts that refuse a commit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::deletes::DeleteVector;
use crate::error::{Result, StorageError};

/// One segment of a table version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentRef {
    /// Content hash: the file's name.
    pub name: String,
    /// Rows in the file, deleted ones included.
    pub rows: u64,
    pub bytes: u64,
    /// Rows that DELETE or UPDATE removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DeleteVector>,
    /// Whether the segment is part of its slice's sorted region: the leading run of
    /// segments whose rows are in sort-key order across segments (VACUUM writes
    /// them; a slice's only segment is one too). Later segments are the unsorted region.
    #[serde(default)]
    pub sorted: bool,
}

impl SegmentRef {
    /// A segment with no deleted rows.
    pub fn new(name: String, rows: u64, bytes: u64) -> Self {
        SegmentRef {
            name,
            rows,
            bytes,
            deleted: None,
            sorted: false,
        }
    }

    /// Rows not deleted.
    pub fn live_rows(&self) -> u64 {
        self.rows - self.deleted.as_ref().map_or(0, |d| d.len().min(self.rows))
    }
}

/// What one statement changes in a table: rows it deleted from the segments of the
/// version it read, and segments it added.
#[derive(Clone, Debug, Default)]
pub struct TableChange {
    /// Rows deleted, by slice and the segment's index in that slice's list. The name
    /// is the segment the statement read there; a commit checks it is still there.
    pub deleted: BTreeMap<(u32, usize), (String, DeleteVector)>,
    /// New segments, by slice.
    pub added: BTreeMap<u32, Vec<SegmentRef>>,
    /// Segments VACUUM rewrote, by slice and index in the version it read: each is
    /// replaced, in place, by its replacement (none when all its rows were deleted).
    pub rewritten: BTreeMap<(u32, usize), Rewrite>,
}

/// One segment replaced by VACUUM.
#[derive(Clone, Debug)]
pub struct Rewrite {
    /// The segment as VACUUM read it: a commit checks it is unchanged.
    pub name: String,
    pub deleted: Option<DeleteVector>,
    pub replacement: Vec<SegmentRef>,
}

impl TableChange {
    /// Whether the change does nothing.
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
            && self.added.values().all(Vec::is_empty)
            && self.rewritten.is_empty()
    }
}

/// The committed state of a table: each slice's segments.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableVersion {
    /// Increases by one with every commit.
    pub version: u64,
    pub slices: BTreeMap<u32, Vec<SegmentRef>>,
}

impl TableVersion {
    /// Rows over all slices, deleted ones excluded.
    pub fn rows(&self) -> u64 {
        self.slices
            .values()
            .flatten()
            .map(SegmentRef::live_rows)
            .sum()
    }

    /// Applies `change` to this version. Fails with [`StorageError::Conflict`] when a
    /// segment the change deletes from is no longer where the statement read it, or
    /// when another statement deleted some of the same rows since.
    pub fn apply(&mut self, table: &str, change: &TableChange) -> Result<()> {
        for ((slice, index), (name, rows)) in &change.deleted {
            let segment = self
                .slices
                .get_mut(slice)
                .and_then(|segs| segs.get_mut(*index))
                .filter(|seg| &seg.name == name)
                .ok_or_else(|| StorageError::Conflict {
                    table: table.to_string(),
                    reason: format!(
                        "segment {name} on slice {slice} was rewritten by a concurrent statement"
                    ),
                })?;
            match &mut segment.deleted {
                Some(existing) if existing.intersects(rows) => {
                    return Err(StorageError::Conflict {
                        table: table.to_string(),
                        reason: "a concurrent statement deleted or updated the same rows".into(),
                    });
                }
                Some(existing) => existing.union_with(rows),
                None => segment.deleted = Some(rows.clone()),
            }
        }
        let conflict = |slice: &u32, name: &str| StorageError::Conflict {
            table: table.to_string(),
            reason: format!("segment {name} on slice {slice} changed while VACUUM rewrote it"),
        };
        for ((slice, index), rewrite) in &change.rewritten {
            let current = self.slices.get(slice).and_then(|segs| segs.get(*index));
            match current {
                Some(seg) if seg.name == rewrite.name && seg.deleted == rewrite.deleted => {}
                _ => return Err(conflict(slice, &rewrite.name)),
            }
        }
        let rewritten_slices: std::collections::BTreeSet<u32> =
            change.rewritten.keys().map(|(slice, _)| *slice).collect();
        for slice in rewritten_slices {
            let Some(segments) = self.slices.remove(&slice) else {
                continue;
            };
            let mut next = Vec::with_capacity(segments.len());
            for (index, segment) in segments.into_iter().enumerate() {
                match change.rewritten.get(&(slice, index)) {
                    Some(rewrite) => next.extend(rewrite.replacement.iter().cloned()),
                    None => next.push(segment),
                }
            }
            self.slices.insert(slice, next);
        }
        for (slice, segments) in &change.added {
            let list = self.slices.entry(*slice).or_default();
            // A slice's only segment is sorted: it is a sorted run by itself.
            let first = list.is_empty() && segments.len() == 1;
            list.extend(segments.iter().cloned().map(|mut s| {
                s.sorted = first;
                s
            }));
        }
        self.slices.retain(|_, segments| !segments.is_empty());
        Ok(())
    }

    /// Rows in the sorted regions of the slices (deleted rows excluded).
    pub fn sorted_rows(&self) -> u64 {
        self.slices
            .values()
            .flatten()
            .filter(|s| s.sorted)
            .map(SegmentRef::live_rows)
            .sum()
    }

    /// Rows in the files, deleted rows included.
    pub fn stored_rows(&self) -> u64 {
        self.slices.values().flatten().map(|s| s.rows).sum()
    }

    /// Whether each slice is one sorted run: a scan of a slice then returns its rows
    /// in sort-key order.
    pub fn fully_sorted(&self) -> bool {
        self.slices.values().flatten().all(|s| s.sorted)
    }
}
