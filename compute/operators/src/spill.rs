//! Where queries spill: each process (the leader, every compute node) keeps its
//! queries' temporary files in `spill/` under its data directory, up to a limit for
//! all its queries together. What a stopped process left there is removed when the
//! next one starts; a query's own files go when the query ends.

use std::path::Path;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

/// The directory under a data directory that holds its process's spill files.
pub const SPILL_DIR: &str = "spill";

/// The runtime a process's queries run in: temporary files in `data_dir`'s
/// [`SPILL_DIR`] (emptied first), at most `limit_bytes` of them at once.
pub fn runtime(data_dir: &Path, limit_bytes: u64) -> Result<Arc<RuntimeEnv>> {
    let dir = data_dir.join(SPILL_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let disk = DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::Directories(vec![dir]))
        .with_max_temp_directory_size(limit_bytes);
    RuntimeEnvBuilder::new()
        .with_disk_manager_builder(disk)
        .build_arc()
}

/// The message for a query whose spill files reached the limit (DataFusion's words
/// name its own setting; ours name the flag).
pub fn limit_message(datafusion: &str) -> String {
    let limit = datafusion
        .split("allowable limit of ")
        .nth(1)
        .and_then(|rest| rest.split(". ").next())
        .unwrap_or("the limit");
    format!(
        "the temporary files of the queries on this node reached {limit} (--spill-limit-gb): \
         give the query more memory with SET wlm_query_slot_count, or raise --spill-limit-gb"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spill_directory_starts_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let left = dir.path().join(SPILL_DIR).join("datafusion-old");
        std::fs::create_dir_all(&left).expect("dir");
        std::fs::write(left.join("x.arrow"), b"left over").expect("file");
        let runtime = runtime(dir.path(), 1 << 20).expect("runtime");
        assert!(!left.exists());
        let file = runtime
            .disk_manager
            .create_tmp_file("test")
            .expect("temp file");
        let path = file.path().expect("a file on disk");
        assert!(path.starts_with(dir.path().join(SPILL_DIR)), "{path:?}");
        assert_eq!(runtime.disk_manager.max_temp_directory_size(), 1 << 20);
    }

    #[test]
    fn the_limit_message_names_the_flag() {
        let m = limit_message(
            "The used disk space during the spilling process has exceeded the allowable \
             limit of 1.0 MB. Please try increasing the config: \
             `datafusion.runtime.max_temp_directory_size`.",
        );
        assert!(m.contains("reached 1.0 MB (--spill-limit-gb)"), "{m}");
    }
}
