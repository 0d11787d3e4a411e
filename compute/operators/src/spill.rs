//! Where queries spill: each process (the leader, every compute node) keeps its
//! queries' temporary files in `spill/` under its data directory, up to a limit for
//! all its queries together. What a stopped process left there is removed when the
//! next one starts; a query's own files go when the query ends.

use std::path::Path;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

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

/// `context` for running `plan` in a memory pool of `memory_bytes` (0: unbounded),
/// with each sort's merge reservation a fair part of a quarter of the pool. A sort
/// takes its reservation (`sort_spill_reservation_bytes`, 10 MiB by default) when
/// its first batch comes, and keeps it: a plan with many sorts (the merge joins of
/// a query planned again, [`crate`]'s leader) would take the whole pool before a row
/// is sorted. `partitions_share_pool`: every partition of `plan` runs in this pool
/// (the leader's plans), rather than one (a fragment's slice on a compute node).
pub fn share_sort_memory(
    context: Arc<TaskContext>,
    plan: &Arc<dyn ExecutionPlan>,
    memory_bytes: u64,
    partitions_share_pool: bool,
) -> Arc<TaskContext> {
    if memory_bytes == 0 {
        return context;
    }
    let mut sorts = 0;
    let _ = plan.apply(|node| {
        if node.is::<SortExec>() {
            sorts += if partitions_share_pool {
                node.output_partitioning().partition_count()
            } else {
                1
            };
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let share = (memory_bytes as usize / 4) / sorts.max(1);
    let mut config = context.session_config().clone();
    let options = config.options_mut();
    if options.execution.sort_spill_reservation_bytes <= share {
        return context;
    }
    options.execution.sort_spill_reservation_bytes = share;
    let owned = Arc::try_unwrap(context).unwrap_or_else(|shared| {
        TaskContext::new(
            shared.task_id(),
            shared.session_id(),
            shared.session_config().clone(),
            shared.scalar_functions().clone(),
            shared.higher_order_functions().clone(),
            shared.aggregate_functions().clone(),
            shared.window_functions().clone(),
            shared.runtime_env(),
        )
    });
    Arc::new(owned.with_session_config(config))
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
    fn sorts_share_a_quarter_of_the_pool_for_merging() {
        use datafusion::physical_expr::expressions::col;
        use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
        use datafusion::physical_plan::empty::EmptyExec;
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("a", arrow::datatypes::DataType::Int32, true),
        ]));
        let sort = |input: Arc<dyn ExecutionPlan>| -> Arc<dyn ExecutionPlan> {
            let key = PhysicalSortExpr::new_default(col("a", &schema).expect("column"));
            Arc::new(
                SortExec::new(LexOrdering::new([key]).expect("ordering"), input)
                    .with_preserve_partitioning(true),
            )
        };
        let plan = sort(sort(Arc::new(EmptyExec::new(Arc::clone(&schema)))));
        let reservation = |c: &Arc<TaskContext>| {
            c.session_config()
                .options()
                .execution
                .sort_spill_reservation_bytes
        };
        let base = Arc::new(TaskContext::default());
        let default = reservation(&base);
        // Two sorts in 16 MiB: 2 MiB each.
        let shared = share_sort_memory(Arc::clone(&base), &plan, 16 << 20, false);
        assert_eq!(reservation(&shared), 2 << 20);
        // A large pool keeps the default; no pool, too.
        let large = share_sort_memory(Arc::clone(&base), &plan, 1 << 40, false);
        assert_eq!(reservation(&large), default);
        assert_eq!(
            reservation(&share_sort_memory(base, &plan, 0, false)),
            default
        );
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
