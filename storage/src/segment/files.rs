//! A segment file as bytes: stored under the name its content hash gives it, and read
//! back whole with that hash checked. Segment writes and snapshot restores store files
//! this way; snapshot uploads read them this way.

use std::fs;
use std::io::Write;

use sha2::{Digest, Sha256};

use super::{NEXT_TMP, SliceStore};
use crate::error::{Result, StorageError};

impl SliceStore {
    /// Stores `bytes` as a segment of `slice` named by their SHA-256 and returns the
    /// name. A file of that name already there is kept (identical bytes are stored
    /// once); otherwise a temporary file is written, fsynced and renamed into place, so
    /// a crash leaves no file or a complete one.
    pub fn store_file(&self, slice: u32, bytes: &[u8]) -> Result<String> {
        let name = hex::encode(Sha256::digest(bytes));
        let dir = self.slice_dir(slice);
        fs::create_dir_all(&dir)?;
        let path = self.segment_path(slice, &name);
        if !path.exists() {
            // Concurrent writers of identical rows write the same segment: each uses
            // its own temporary file, and the renames agree.
            let unique = NEXT_TMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}.{unique}.tmp", std::process::id()));
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            fs::File::open(&dir)?.sync_all()?;
            crate::fault::crash_point("segment_written");
        }
        Ok(name)
    }

    /// Whether `slice` has a file for segment `name` (its content is not checked).
    pub fn has_file(&self, slice: u32, name: &str) -> bool {
        self.segment_path(slice, name).exists()
    }

    /// The whole file of segment `name` of `slice`, its hash checked against the name.
    pub fn file_bytes(&self, slice: u32, name: &str) -> Result<Vec<u8>> {
        let bytes =
            fs::read(self.segment_path(slice, name)).map_err(|e| StorageError::Segment {
                slice,
                segment: name.to_string(),
                reason: e.to_string(),
            })?;
        if hex::encode(Sha256::digest(&bytes)) != name {
            return Err(StorageError::SegmentCorrupt {
                slice,
                segment: name.to_string(),
            });
        }
        Ok(bytes)
    }
}
