//! Where the rows of a plan that runs slice by slice are ([`Locality`]), and how a
//! join placed on the slices meets its inputs ([`JoinDistribution`], Redshift's
//! DS_DIST_* labels). The placement rule ([`super::collocate`]) decides with it, the
//! fragment shipper ([`super::fragment`]) tells with it what can run on the slices,
//! and EXPLAIN names joins with it.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::DataType;
use blueshift_operators::SliceScanExec;
use blueshift_operators::delivery::Delivery;
use blueshift_operators::leader_rows::moved_rows;
use blueshift_operators::scan::Placement;
use blueshift_storage::distribution::DistHash;
use datafusion::common::JoinType;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;

/// How a join's inputs meet, in Redshift's words (EXPLAIN shows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinDistribution {
    /// Both inputs are distributed on the join key: nothing moves.
    DistNone,
    /// One input is a DISTSTYLE ALL table: nothing moves.
    DistAllNone,
    /// The inner input is small: the leader sends it whole to every slice.
    BcastInner,
    /// The outer input is distributed on the join key; the leader sends each inner
    /// row to the slice of its key.
    DistInner,
    /// The inner input is distributed on the join key; the leader sends each outer
    /// row to the slice of its key.
    DistOuter,
    /// Neither input is distributed on the join key: each row of both goes to the
    /// slice of its key.
    DistBoth,
}

impl fmt::Display for JoinDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinDistribution::DistNone => "DS_DIST_NONE",
            JoinDistribution::DistAllNone => "DS_DIST_ALL_NONE",
            JoinDistribution::BcastInner => "DS_BCAST_INNER",
            JoinDistribution::DistInner => "DS_DIST_INNER",
            JoinDistribution::DistOuter => "DS_DIST_OUTER",
            JoinDistribution::DistBoth => "DS_DIST_BOTH",
        })
    }
}

/// Where the rows of a plan that runs slice by slice are.
#[derive(Clone, Debug, PartialEq)]
pub enum Locality {
    /// Partition *i* holds rows of `slices[i]`, placed there by the hash of a value of
    /// type `key_type` that the output columns `keys` hold.
    Keyed {
        slices: Vec<u32>,
        keys: Vec<usize>,
        key_type: DataType,
        /// The DISTKEY hash that placed them.
        hash: DistHash,
    },
    /// Partition *i* holds rows of `slices[i]`, with no column telling which.
    Spread { slices: Vec<u32> },
    /// A whole DISTSTYLE ALL table, from one node's copy, in one partition.
    Replicated,
}

impl Locality {
    /// The slices the rows are on, partition by partition (none for a whole ALL table).
    pub fn slices(&self) -> Option<&[u32]> {
        match self {
            Locality::Keyed { slices, .. } | Locality::Spread { slices } => Some(slices),
            Locality::Replicated => None,
        }
    }

    /// The same rows seen through a step whose output column *i* is input column
    /// `map(i)` (or no input column).
    pub(crate) fn through(self, outputs: usize, map: impl Fn(usize) -> Option<usize>) -> Locality {
        match self {
            Locality::Keyed {
                slices,
                keys,
                key_type,
                hash,
            } => {
                let kept: Vec<usize> = (0..outputs)
                    .filter(|&o| map(o).is_some_and(|i| keys.contains(&i)))
                    .collect();
                if kept.is_empty() {
                    Locality::Spread { slices }
                } else {
                    Locality::Keyed {
                        slices,
                        keys: kept,
                        key_type,
                        hash,
                    }
                }
            }
            other => other,
        }
    }
}

/// Where `plan`'s rows are, if it runs slice by slice (a scan under per-partition
/// steps, or a join this rule made); `None` otherwise.
pub fn locality(plan: &Arc<dyn ExecutionPlan>) -> Option<Locality> {
    if let Some(delivery) = moved_rows(plan) {
        return match delivery {
            Delivery::ByKey {
                column,
                slices,
                hash,
                ..
            } => Some(Locality::Keyed {
                slices: slices.clone(),
                keys: vec![*column],
                key_type: plan.schema().field(*column).data_type().clone(),
                hash: *hash,
            }),
            // Counted as a copy per slice by the join above it.
            Delivery::Broadcast => None,
        };
    }
    if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
        let slices: Vec<u32> = scan.partitions.iter().map(|p| p.slice).collect();
        return match &scan.placement {
            Placement::All(_) if slices.len() == 1 => Some(Locality::Replicated),
            // An ALL table already spread over slices (one copy per slice) is part of
            // a join; on its own it says nothing.
            Placement::All(_) => None,
            Placement::Spread => Some(Locality::Spread { slices }),
            Placement::Key(column, hash) => {
                let position = match &scan.projection {
                    Some(p) => p.iter().position(|c| c == column),
                    None => Some(*column),
                };
                Some(match position {
                    Some(at) => Locality::Keyed {
                        slices,
                        keys: vec![at],
                        key_type: scan.schema().field(at).data_type().clone(),
                        hash: *hash,
                    },
                    None => Locality::Spread { slices },
                })
            }
        };
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let inner = locality(filter.input())?;
        return Some(match filter.projection() {
            Some(p) => inner.through(p.len(), |o| p.get(o).copied()),
            None => inner,
        });
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let inner = locality(projection.input())?;
        let exprs: Vec<&Arc<dyn PhysicalExpr>> =
            projection.expr().iter().map(|e| &e.expr).collect();
        return Some(inner.through(exprs.len(), |o| column_index(exprs[o])));
    }
    if plan.is::<LocalLimitExec>()
        || plan.is::<CooperativeExec>()
        || plan
            .downcast_ref::<SortExec>()
            .is_some_and(|s| s.preserve_partitioning())
    {
        return locality(plan.children()[0]);
    }
    if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
        if *aggregate.mode() != AggregateMode::Partial && !collocated_aggregate(aggregate) {
            return None;
        }
        let inner = locality(aggregate.input())?;
        let groups: Vec<Option<usize>> = aggregate
            .group_expr()
            .expr()
            .iter()
            .map(|(e, _)| column_index(e))
            .collect();
        let outputs = plan.schema().fields().len();
        return Some(inner.through(outputs, |o| groups.get(o).copied().flatten()));
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        return join_locality(join);
    }
    None
}

/// The locality of a join this rule made: partitioned, over inputs that run slice by
/// slice on the same slices.
pub(crate) fn join_locality(join: &HashJoinExec) -> Option<Locality> {
    if *join.partition_mode() != PartitionMode::Partitioned {
        return None;
    }
    let left = locality_or_localized(join.left())?;
    let right = locality_or_localized(join.right())?;
    let left_width = join.left().schema().fields().len();
    let (left_out, right_out) = join_outputs(join.join_type());
    // The join's own output, before its projection: left columns, then right ones.
    let shift = |l: Locality, offset: usize| match l {
        Locality::Keyed {
            slices,
            keys,
            key_type,
            hash,
        } => Locality::Keyed {
            slices,
            keys: keys.into_iter().map(|k| k + offset).collect(),
            key_type,
            hash,
        },
        other => other,
    };
    let combined = match (left, right) {
        // Two ALL tables joined where a copy of each is: a copy of the result.
        (Locality::Replicated, Locality::Replicated) => Locality::Replicated,
        (
            Locality::Keyed {
                slices,
                keys: lk,
                key_type,
                hash,
            },
            Locality::Keyed { keys: rk, .. },
        ) => {
            // An outer join's NULLs for unmatched rows are on every slice: the columns
            // of the side that gets them no longer tell where a value is.
            let (left_nulls, right_nulls) = match join.join_type() {
                JoinType::Left => (false, true),
                JoinType::Right => (true, false),
                JoinType::Full => (true, true),
                _ => (false, false),
            };
            let mut keys = Vec::new();
            if left_out && !left_nulls {
                keys.extend(lk);
            }
            if right_out && !right_nulls {
                keys.extend(
                    rk.into_iter()
                        .map(|k| k + if left_out { left_width } else { 0 }),
                );
            }
            if keys.is_empty() {
                Locality::Spread { slices }
            } else {
                Locality::Keyed {
                    slices,
                    keys,
                    key_type,
                    hash,
                }
            }
        }
        // One input is an ALL table spread over the other's slices.
        (Locality::Replicated, other) => {
            if !right_out {
                return None;
            }
            shift(other, if left_out { left_width } else { 0 })
        }
        (other, Locality::Replicated) => {
            if !left_out {
                return None;
            }
            other
        }
        (l, r) if l.slices() == r.slices() => Locality::Spread {
            slices: l.slices()?.to_vec(),
        },
        _ => return None,
    };
    let width = join.join_schema().fields().len();
    Some(match &join.projection {
        Some(p) => combined.through(p.len(), |o| p.get(o).copied()),
        None => combined.through(width, Some),
    })
}

/// How `plan`, a join this rule made, meets its inputs; `None` for other plans.
pub fn join_distribution(plan: &Arc<dyn ExecutionPlan>) -> Option<JoinDistribution> {
    let join = plan.downcast_ref::<HashJoinExec>()?;
    join_locality(join)?;
    let delivery =
        |p: &Arc<dyn ExecutionPlan>| moved_rows(p).map(|d| matches!(d, Delivery::Broadcast));
    if delivery(join.left()) == Some(false) && delivery(join.right()) == Some(false) {
        Some(JoinDistribution::DistBoth)
    } else if let Some(broadcast) = delivery(join.left()) {
        Some(if broadcast {
            JoinDistribution::BcastInner
        } else {
            JoinDistribution::DistInner
        })
    } else if delivery(join.right()) == Some(false) {
        Some(JoinDistribution::DistOuter)
    } else if replicated_table(join.left()) || replicated_table(join.right()) {
        Some(JoinDistribution::DistAllNone)
    } else {
        Some(JoinDistribution::DistNone)
    }
}

/// An input of a join: its locality, with an ALL table spread over slices (see
/// [`localize`]) counted as [`Locality::Replicated`].
pub(crate) fn locality_or_localized(plan: &Arc<dyn ExecutionPlan>) -> Option<Locality> {
    locality(plan).or_else(|| replicated_table(plan).then_some(Locality::Replicated))
}

/// Whether `plan` is per-partition steps over a scan of a DISTSTYLE ALL table (or a
/// join of two), or a broadcast: every partition holds all the rows.
pub(crate) fn replicated_table(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if moved_rows(plan) == Some(&Delivery::Broadcast) {
        return true;
    }
    if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
        return matches!(scan.placement, Placement::All(_));
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        // Two ALL tables joined where their copies are.
        return replicated_table(join.left()) && replicated_table(join.right());
    }
    per_partition_step(plan) && plan.children().len() == 1 && replicated_table(plan.children()[0])
}

/// Steps that work partition by partition, keeping rows where they are.
pub fn per_partition_step(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.is::<FilterExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<LocalLimitExec>()
        // Only yields to the scheduler now and then (DataFusion puts it over scans).
        || plan.is::<CooperativeExec>()
        || plan
            .downcast_ref::<SortExec>()
            .is_some_and(|s| s.preserve_partitioning())
        || plan
            .downcast_ref::<AggregateExec>()
            .is_some_and(|a| *a.mode() == AggregateMode::Partial || collocated_aggregate(a))
}

/// Which inputs' columns a join outputs: (left, right).
pub(crate) fn join_outputs(join_type: &JoinType) -> (bool, bool) {
    match join_type {
        JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => (true, true),
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => (true, false),
        JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => (false, true),
    }
}

pub(crate) fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}

/// The planner's estimate of `plan`'s rows, exact or not.
pub(crate) fn estimated_rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let context = datafusion::physical_plan::statistics::StatisticsContext::new();
    let args = datafusion::physical_plan::statistics::StatisticsArgs::new();
    context
        .compute(plan.as_ref(), &args)
        .ok()
        .and_then(|s| s.num_rows.get_value().copied())
}

/// `plan` without the exchanges DataFusion put over it (repartitions, merges of
/// partitions without a limit).
pub(crate) fn strip_exchanges(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if plan.is::<RepartitionExec>()
        || plan
            .downcast_ref::<CoalescePartitionsExec>()
            .is_some_and(|c| c.fetch().is_none())
    {
        return strip_exchanges(plan.children()[0]);
    }
    Arc::clone(plan)
}

/// Whether `aggregate` is one this rule made: it aggregates slice by slice
/// ([`AggregateMode::SinglePartitioned`]) over rows distributed on one of its group
/// keys, or finishes ([`AggregateMode::FinalPartitioned`]) partial groups sent to the
/// slices of their keys; either way each group's rows are all on one slice.
pub(crate) fn collocated_aggregate(aggregate: &AggregateExec) -> bool {
    let on_slices = match aggregate.mode() {
        AggregateMode::SinglePartitioned => true,
        AggregateMode::FinalPartitioned => {
            matches!(moved_rows(aggregate.input()), Some(Delivery::ByKey { .. }))
        }
        _ => false,
    };
    on_slices && locality(aggregate.input()).is_some_and(|l| groups_on_key(aggregate, &l))
}

/// Whether `aggregate` groups by a column that holds the distribution key of its
/// input's rows (`input`): then no group spans two slices. A NULL key is hashed like
/// any value, so all its rows are on one slice too.
pub(crate) fn groups_on_key(aggregate: &AggregateExec, input: &Locality) -> bool {
    let Locality::Keyed { keys, .. } = input else {
        return false;
    };
    aggregate.group_expr().is_single()
        && aggregate
            .group_expr()
            .expr()
            .iter()
            .any(|(e, _)| column_index(e).is_some_and(|c| keys.contains(&c)))
}
