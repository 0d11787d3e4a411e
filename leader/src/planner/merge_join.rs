//! Joins that spill: a hash join's build side must fit in memory (DataFusion 55's
//! cannot spill), a sort-merge join's need not (its sorts spill, and so do the rows
//! it buffers for one key). The leader plans hash joins; a query whose hash join ran
//! out of its memory budget is planned again with [`JoinOptions::merge_joins`] set,
//! and [`crate::planner::fragment::ShipFragments`] then turns each hash join into
//! [`merge_joins`]' form, on the leader and in the fragments it ships.
//!
//! The rewrite keeps each join where the distributed planner placed it: a join of
//! two inputs partitioned alike (slice by slice, or hashed on the keys) sorts each
//! partition and merges it with its partner. A join that collects its build side
//! into one partition (on the leader only) hashes both inputs on the keys first.

use std::sync::Arc;

use arrow::compute::SortOptions;
use datafusion::common::config::ConfigExtension;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalExprRef, PhysicalSortExpr};
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode, SortMergeJoinExec};
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, Partitioning};

datafusion::common::extensions_options! {
    /// How the leader plans a query's joins.
    pub struct JoinOptions {
        /// Sort-merge joins, which spill, in place of hash joins.
        pub merge_joins: bool, default = false
        /// ... but for the hash joins whose build side is estimated at fewer bytes
        /// per partition than this (0: every hash join becomes a merge join).
        pub keep_hash_below_bytes: u64, default = 0
    }
}

impl ConfigExtension for JoinOptions {
    const PREFIX: &'static str = "blueshift_joins";
}

impl JoinOptions {
    /// The options in `config`, if it asks for merge joins.
    pub fn wanted(config: &ConfigOptions) -> Option<&JoinOptions> {
        config
            .extensions
            .get::<JoinOptions>()
            .filter(|o| o.merge_joins)
    }
}

/// `plan` with its hash joins made sort-merge joins, where that keeps the plan's
/// meaning: not a null-aware anti join (NOT IN needs to see every NULL of the
/// other input), and a join that collects its build side only where
/// `may_repartition` (on the leader: a fragment's partitions are slices on their
/// nodes and cannot be hashed into one another).
pub fn merge_joins(
    plan: Arc<dyn ExecutionPlan>,
    may_repartition: bool,
    options: &JoinOptions,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(join) = node.downcast_ref::<HashJoinExec>() else {
            return Ok(Transformed::no(node));
        };
        if small_build_side(join, options.keep_hash_below_bytes) {
            return Ok(Transformed::no(node));
        }
        Ok(match merge_join(join, may_repartition)? {
            Some(merged) => Transformed::yes(merged),
            None => Transformed::no(node),
        })
    })
    .map(|t| t.data)
}

/// Whether the planner's estimate of `join`'s build side, per partition, is under
/// `limit` bytes (rows times the columns' widths, 32 bytes for a column without one).
fn small_build_side(join: &HashJoinExec, limit: u64) -> bool {
    if limit == 0 {
        return false;
    }
    let build = join.left();
    let Some(rows) = crate::planner::locality::estimated_rows(build) else {
        return false;
    };
    let width: usize = build
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().primitive_width().unwrap_or(32))
        .sum();
    let partitions = match join.partition_mode() {
        PartitionMode::Partitioned => build.output_partitioning().partition_count().max(1),
        _ => 1,
    };
    (rows.saturating_mul(width.max(1)) / partitions) < limit as usize
}

/// The sort-merge form of `join`, if it has one.
fn merge_join(
    join: &HashJoinExec,
    may_repartition: bool,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if join.null_aware || join.on().is_empty() {
        return Ok(None);
    }
    let (left_keys, right_keys): (Vec<PhysicalExprRef>, Vec<PhysicalExprRef>) =
        join.on().iter().cloned().unzip();
    let mut left = Arc::clone(join.left());
    let mut right = Arc::clone(join.right());
    let aligned = left.output_partitioning().partition_count()
        == right.output_partitioning().partition_count();
    match join.partition_mode() {
        PartitionMode::Partitioned if aligned => {}
        PartitionMode::CollectLeft if aligned || may_repartition => {
            if !aligned {
                let partitions = right.output_partitioning().partition_count();
                left = hashed(left, left_keys.clone(), partitions)?;
                right = hashed(right, right_keys.clone(), partitions)?;
            }
        }
        _ => return Ok(None),
    }
    let options = vec![SortOptions::default(); left_keys.len()];
    let merged = SortMergeJoinExec::try_new(
        sorted(left, &left_keys)?,
        sorted(right, &right_keys)?,
        join.on().to_vec(),
        join.filter().cloned(),
        *join.join_type(),
        options,
        join.null_equality(),
    )?;
    let mut plan: Arc<dyn ExecutionPlan> = Arc::new(merged);
    if let Some(projection) = &join.projection {
        let schema = plan.schema();
        let columns = projection
            .iter()
            .map(|&i| {
                let name = schema.field(i).name().clone();
                (Arc::new(Column::new(&name, i)) as PhysicalExprRef, name)
            })
            .collect::<Vec<_>>();
        plan = Arc::new(ProjectionExec::try_new(columns, plan)?);
    }
    if let Some(fetch) = join.fetch() {
        plan = Arc::new(LocalLimitExec::new(plan, fetch));
    }
    Ok(Some(plan))
}

/// `input` hashed on `keys` into `partitions` partitions.
fn hashed(
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<PhysicalExprRef>,
    partitions: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    Ok(Arc::new(RepartitionExec::try_new(
        input,
        Partitioning::Hash(keys, partitions),
    )?))
}

/// Each partition of `input` sorted on `keys`, as a merge join reads it.
fn sorted(
    input: Arc<dyn ExecutionPlan>,
    keys: &[PhysicalExprRef],
) -> Result<Arc<dyn ExecutionPlan>> {
    let ordering = keys.iter().map(|k| PhysicalSortExpr {
        expr: Arc::clone(k),
        options: SortOptions::default(),
    });
    let Some(ordering) = LexOrdering::new(ordering) else {
        return Ok(input);
    };
    Ok(Arc::new(
        SortExec::new(ordering, input).with_preserve_partitioning(true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::common::{JoinType, NullEquality};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::TaskContext;
    use datafusion::physical_plan::collect;

    fn table(name: &str, values: &[i32], partitions: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Int32, true)]));
        let parts = (0..partitions)
            .map(|p| {
                let mine: Vec<i32> = values
                    .iter()
                    .copied()
                    .filter(|v| v.rem_euclid(partitions as i32) == p as i32)
                    .collect();
                vec![
                    RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![Arc::new(Int32Array::from(mine))],
                    )
                    .expect("batch"),
                ]
            })
            .collect::<Vec<_>>();
        MemorySourceConfig::try_new_exec(&parts, schema, None).expect("source")
    }

    async fn sorted_rows(plan: Arc<dyn ExecutionPlan>) -> Vec<String> {
        let batches = collect(plan, Arc::new(TaskContext::default()))
            .await
            .expect("runs");
        let mut rows: Vec<String> = arrow::util::pretty::pretty_format_batches(&batches)
            .expect("prints")
            .to_string()
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .map(str::to_string)
            .collect();
        rows.sort();
        rows
    }

    fn join(mode: PartitionMode, join_type: JoinType, partitions: usize) -> HashJoinExec {
        let left_partitions = if mode == PartitionMode::CollectLeft {
            1
        } else {
            partitions
        };
        let left = table("a", &[1, 2, 2, 3, 5], left_partitions);
        let right = table("b", &[2, 3, 3, 4, 6, 7], partitions);
        let on = vec![(
            Arc::new(Column::new("a", 0)) as PhysicalExprRef,
            Arc::new(Column::new("b", 0)) as PhysicalExprRef,
        )];
        HashJoinExec::try_new(
            left,
            right,
            on,
            None,
            &join_type,
            None,
            mode,
            NullEquality::NullEqualsNothing,
            false,
        )
        .expect("join")
    }

    #[tokio::test]
    async fn merge_joins_answer_as_the_hash_joins_they_replace() {
        for (mode, partitions) in [
            (PartitionMode::Partitioned, 2),
            (PartitionMode::CollectLeft, 3),
            (PartitionMode::CollectLeft, 1),
        ] {
            for join_type in [
                JoinType::Inner,
                JoinType::Left,
                JoinType::Full,
                JoinType::LeftSemi,
                JoinType::LeftAnti,
                JoinType::RightSemi,
                JoinType::RightAnti,
            ] {
                if mode == PartitionMode::CollectLeft && matches!(join_type, JoinType::Full) {
                    continue;
                }
                let hash: Arc<dyn ExecutionPlan> = Arc::new(join(mode, join_type, partitions));
                let merged = merge_joins(Arc::clone(&hash), true, &JoinOptions::default())
                    .expect("rewrites");
                assert!(
                    merged.downcast_ref::<HashJoinExec>().is_none(),
                    "{mode:?} {join_type:?} stayed a hash join"
                );
                assert_eq!(
                    sorted_rows(merged).await,
                    sorted_rows(hash).await,
                    "{mode:?} {join_type:?} on {partitions} partitions"
                );
            }
        }
    }

    #[test]
    fn collected_joins_stay_hash_joins_where_partitions_cannot_move() {
        let hash: Arc<dyn ExecutionPlan> =
            Arc::new(join(PartitionMode::CollectLeft, JoinType::Inner, 3));
        let kept =
            merge_joins(Arc::clone(&hash), false, &JoinOptions::default()).expect("rewrites");
        assert!(kept.downcast_ref::<HashJoinExec>().is_some());
    }

    #[test]
    fn joins_with_a_small_build_side_can_stay_hash_joins() {
        // 5 rows of one INT on the build side: 20 bytes.
        let hash: Arc<dyn ExecutionPlan> =
            Arc::new(join(PartitionMode::CollectLeft, JoinType::Inner, 1));
        let options = |keep_hash_below_bytes| JoinOptions {
            merge_joins: true,
            keep_hash_below_bytes,
        };
        let kept = merge_joins(Arc::clone(&hash), true, &options(1 << 20)).expect("rewrites");
        assert!(kept.downcast_ref::<HashJoinExec>().is_some());
        let merged = merge_joins(Arc::clone(&hash), true, &options(8)).expect("rewrites");
        assert!(merged.downcast_ref::<HashJoinExec>().is_none());
    }

    #[test]
    fn the_option_is_off_unless_set() {
        let mut config = ConfigOptions::new();
        assert!(JoinOptions::wanted(&config).is_none());
        config.extensions.insert(JoinOptions {
            merge_joins: true,
            keep_hash_below_bytes: 0,
        });
        assert!(JoinOptions::wanted(&config).is_some());
    }
}
