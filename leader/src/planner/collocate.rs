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
//! fragment for [`crate::planner::fragment::ShipFragments`] to ship. Other joins keep
//! DataFusion's plan, whose exchanges run on the leader.
//!
//! Changing a join's partitioning can leave a step above it without the partitioning
//! it asked for (a join or aggregate that relied on a hash partitioning); a last pass
//! adds the repartition or merge it needs, and if an ordering a step relies on is
//! lost, the rule keeps DataFusion's plan.
//! ([`requirements`]). Aggregations whose groups are each on one slice are placed
//! the same way ([`aggregate`]).

use std::sync::Arc;

use blueshift_operators::leader_rows::LeaderRowsExec;
use blueshift_storage::catalog::ClusterLayout;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::HashJoinExec;

use crate::planner::fragment::ShipFragments;
use crate::planner::locality::strip_exchanges;

mod aggregate;
mod join;
mod requirements;

use aggregate::{collocate_aggregate, redistribute_aggregate};
use join::collocate;
use requirements::restore_requirements;

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
