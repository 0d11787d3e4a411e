//! Collocated joins: the part of the distributed planner that keeps a join on the
//! compute nodes when the rows are already where the join needs them.
//!
//! DataFusion plans a join as if every row were on one machine: it hash-repartitions
//! both inputs, or collects the smaller one. [`CollocateJoins`] looks at how each
//! input's rows are placed on slices ([`Locality`]) and, where nothing has to move,
//! joins slice by slice instead (partition *i* of the join reads slice *i* of both
//! inputs), as Redshift does:
//!
//! - `DS_DIST_NONE`: both inputs are distributed on a pair of join keys (the DISTKEY
//!   columns, of the same type, over the same slices);
//! - `DS_DIST_ALL_NONE`: one input is a DISTSTYLE ALL table (and the join does not
//!   keep its unmatched rows): each slice joins with the copy on its own node;
//! - `DS_BCAST_INNER`: DataFusion chose to collect the inner input (it is small) and
//!   the outer one runs slice by slice: the leader makes the inner rows and sends them
//!   whole to every slice ([`LeaderRowsExec`]), where the join runs.
//!
//! Such a join, and the steps over it that work slice by slice, then make one
//! fragment for [`crate::fragment::ShipFragments`] to ship. Other joins keep
//! DataFusion's plan, whose exchanges run on the leader.
//!
//! Changing a join's partitioning can leave a step above it without the partitioning
//! it asked for (a join or aggregate that relied on a hash partitioning); a last pass
//! adds the repartition or merge it needs, and if an ordering a step relies on is
//! lost, the rule keeps DataFusion's plan.
//! ([`requirements`]). Aggregations whose groups are each on one slice are placed
//! the same way ([`aggregate`]).

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::DataType;
use blueshift_compute::SliceScanExec;
use blueshift_compute::leader_rows::{Delivery, LeaderRowsExec, moved_rows};
use blueshift_compute::scan::Placement;
use blueshift_storage::catalog::ClusterLayout;

use crate::fragment::ShipFragments;
use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
mod aggregate;
mod join;
mod requirements;

use aggregate::{collocate_aggregate, collocated_aggregate, redistribute_aggregate};
use datafusion::physical_plan::ExecutionPlan;
use join::{collocate, estimated_rows, moved_by_key};
use requirements::restore_requirements;

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
    },
    /// Partition *i* holds rows of `slices[i]`, with no column telling which.
    Spread { slices: Vec<u32> },
    /// A whole DISTSTYLE ALL table, from one node's copy, in one partition.
    Replicated,
}

impl Locality {
    fn slices(&self) -> Option<&[u32]> {
        match self {
            Locality::Keyed { slices, .. } | Locality::Spread { slices } => Some(slices),
            Locality::Replicated => None,
        }
    }

    /// The same rows seen through a step whose output column *i* is input column
    /// `map(i)` (or no input column).
    fn through(self, outputs: usize, map: impl Fn(usize) -> Option<usize>) -> Locality {
        match self {
            Locality::Keyed {
                slices,
                keys,
                key_type,
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
            Delivery::ByKey { column, slices, .. } => Some(Locality::Keyed {
                slices: slices.clone(),
                keys: vec![*column],
                key_type: plan.schema().field(*column).data_type().clone(),
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
            Placement::Key(column) => {
                let position = match &scan.projection {
                    Some(p) => p.iter().position(|c| c == column),
                    None => Some(*column),
                };
                Some(match position {
                    Some(at) => Locality::Keyed {
                        slices,
                        keys: vec![at],
                        key_type: scan.schema().field(at).data_type().clone(),
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
fn join_locality(join: &HashJoinExec) -> Option<Locality> {
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
        } => Locality::Keyed {
            slices,
            keys: keys.into_iter().map(|k| k + offset).collect(),
            key_type,
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
fn locality_or_localized(plan: &Arc<dyn ExecutionPlan>) -> Option<Locality> {
    locality(plan).or_else(|| replicated_table(plan).then_some(Locality::Replicated))
}

/// Whether `plan` is per-partition steps over a scan of a DISTSTYLE ALL table (or a
/// join of two), or a broadcast: every partition holds all the rows.
fn replicated_table(plan: &Arc<dyn ExecutionPlan>) -> bool {
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
        || plan
            .downcast_ref::<SortExec>()
            .is_some_and(|s| s.preserve_partitioning())
        || plan
            .downcast_ref::<AggregateExec>()
            .is_some_and(|a| *a.mode() == AggregateMode::Partial || collocated_aggregate(a))
}

/// A join's input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// Whether the join answers for each row of `side` as a whole: keeps it when it
/// matches nothing (outer, anti, mark) or emits it once however many rows it matches
/// (semi). Such an input cannot be copied to every slice, or each slice would answer
/// for its rows again.
fn answers_per_row(join_type: &JoinType, side: Side) -> bool {
    let (left, right) = match join_type {
        JoinType::Inner => (false, false),
        JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
            (true, false)
        }
        JoinType::Right | JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
            (false, true)
        }
        JoinType::Full => (true, true),
    };
    match side {
        Side::Left => left,
        Side::Right => right,
    }
}

/// Which inputs' columns a join outputs: (left, right).
fn join_outputs(join_type: &JoinType) -> (bool, bool) {
    match join_type {
        JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => (true, true),
        JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => (true, false),
        JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => (false, true),
    }
}

fn column_index(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    expr.downcast_ref::<Column>().map(Column::index)
}

/// `plan` without the exchanges DataFusion put over it (repartitions, merges of
/// partitions without a limit).
fn strip_exchanges(plan: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    if plan.is::<RepartitionExec>()
        || plan
            .downcast_ref::<CoalescePartitionsExec>()
            .is_some_and(|c| c.fetch().is_none())
    {
        return strip_exchanges(plan.children()[0]);
    }
    Arc::clone(plan)
}

/// A plan over an ALL table's scan that reads, in partition *i*, the copy on the node
/// of `slices[i]`.
fn localize(
    plan: &Arc<dyn ExecutionPlan>,
    slices: &[u32],
    layout: ClusterLayout,
) -> Result<Arc<dyn ExecutionPlan>> {
    Arc::clone(plan)
        .transform_up(|node| {
            let Some(scan) = node.downcast_ref::<SliceScanExec>() else {
                return Ok(Transformed::no(node));
            };
            let Placement::All(copies) = &scan.placement else {
                return Ok(Transformed::no(node));
            };
            let partitions = slices
                .iter()
                .map(|&s| copies.get(layout.node_of(s) as usize).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(
                        "an ALL table has no copy on some node".into(),
                    )
                })?;
            Ok(Transformed::yes(
                Arc::new(scan.with_partitions(partitions)?) as Arc<dyn ExecutionPlan>,
            ))
        })
        .map(|t| t.data)
}

/// Rewrites joins whose inputs are already in place as slice-by-slice joins.
#[derive(Debug)]
pub struct CollocateJoins {
    layout: ClusterLayout,
    /// Tells whether a join can run on the compute nodes: one that could not would
    /// run partition by partition on the leader, which the inputs' partitioning does
    /// not declare, so it is left as DataFusion planned it.
    ship: Arc<ShipFragments>,
}

impl CollocateJoins {
    /// The rule for a cluster laid out as `layout`, whose fragments `ship` ships.
    pub fn new(layout: ClusterLayout, ship: Arc<ShipFragments>) -> Self {
        CollocateJoins { layout, ship }
    }
}

impl CollocateJoins {
    /// Whether `plan` runs whole on the compute nodes, with the rows moved into it
    /// made there too: [`ShipFragments`] then sends its rows between the nodes.
    fn movable(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        self.ship.slice_local(plan)
            && self.ship.decodes_on_compute(plan)
            && LeaderRowsExec::find_all(plan).iter().all(|rows| {
                rows.input()
                    .is_some_and(|input| self.movable(&strip_exchanges(input)))
            })
    }
}

impl PhysicalOptimizerRule for CollocateJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rewritten = Arc::clone(&plan).transform_up(|node| {
            let movable = |plan: &Arc<dyn ExecutionPlan>| self.movable(plan);
            if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
                let placed = match collocate_aggregate(aggregate)? {
                    Some(collocated) => Some(collocated),
                    None => redistribute_aggregate(aggregate, self.layout, &movable)?,
                };
                return Ok(match placed {
                    Some(collocated)
                        if self.ship.slice_local(&collocated)
                            && self.ship.decodes_on_compute(&collocated) =>
                    {
                        Transformed::yes(collocated)
                    }
                    _ => Transformed::no(node),
                });
            }
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            Ok(match collocate(join, self.layout, &movable)? {
                Some((collocated, _))
                    if self.ship.slice_local(&collocated)
                        && self.ship.decodes_on_compute(&collocated) =>
                {
                    Transformed::yes(collocated)
                }
                _ => Transformed::no(node),
            })
        })?;
        if !rewritten.transformed {
            return Ok(plan);
        }
        match restore_requirements(rewritten.data)? {
            Some(fixed) => Ok(fixed),
            // A step lost an ordering it relies on: keep DataFusion's plan.
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "collocate_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
