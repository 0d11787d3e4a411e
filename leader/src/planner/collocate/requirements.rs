//! After placement: every step gets the input distribution it requires back.

use std::sync::Arc;

use blueshift_operators::leader_rows::LeaderRowsExec;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::{Distribution, PhysicalExpr};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, replace_children_if_necessary,
};

use crate::planner::locality::{collocated_aggregate, join_locality};

/// Gives every step the distribution it requires of its inputs again (a hash
/// repartition, or a merge into one partition), leaving the collocated joins'
/// inputs alone. `None` if an ordering requirement is no longer met.
pub(super) fn restore_requirements(
    plan: Arc<dyn ExecutionPlan>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let mut ordering_lost = false;
    let fixed = plan.transform_up(|node| {
        // A broadcast's input is a plan of its own, apart from its parent.
        if let Some(broadcast) = node.downcast_ref::<LeaderRowsExec>()
            && let Some(input) = broadcast.input()
        {
            return match restore_requirements(Arc::clone(input))? {
                Some(fixed) => Ok(Transformed::yes(
                    Arc::new(broadcast.with_input(fixed)) as Arc<dyn ExecutionPlan>
                )),
                None => {
                    ordering_lost = true;
                    Ok(Transformed::no(node))
                }
            };
        }
        if node
            .downcast_ref::<HashJoinExec>()
            .is_some_and(|j| join_locality(j).is_some())
            || node
                .downcast_ref::<AggregateExec>()
                .is_some_and(collocated_aggregate)
        {
            return Ok(Transformed::no(node));
        }
        let requirements = node.input_distribution_requirements().into_per_child();
        let orderings = node.required_input_ordering();
        let mut changed = false;
        let mut children = Vec::new();
        for (i, child) in node.children().into_iter().enumerate() {
            let mut child = Arc::clone(child);
            let partitioning = child.output_partitioning().clone();
            match requirements.get(i) {
                Some(Distribution::SinglePartition) if partitioning.partition_count() > 1 => {
                    child = Arc::new(CoalescePartitionsExec::new(child));
                    changed = true;
                }
                Some(required)
                    if key_exprs(required).is_some()
                        && partitioning.satisfaction(
                            required,
                            child.equivalence_properties(),
                            true,
                        ) == datafusion::physical_expr::PartitioningSatisfaction::NotSatisfied =>
                {
                    let exprs = key_exprs(required).unwrap_or_default();
                    let count = match node.downcast_ref::<HashJoinExec>() {
                        // Both inputs of a partitioned join must agree.
                        Some(join) => join
                            .children()
                            .iter()
                            .map(|c| c.output_partitioning().partition_count())
                            .max()
                            .unwrap_or(1),
                        None => partitioning.partition_count(),
                    };
                    child = Arc::new(RepartitionExec::try_new(
                        child,
                        Partitioning::Hash(exprs, count),
                    )?);
                    changed = true;
                }
                _ => {}
            }
            if let Some(Some(required)) = orderings.get(i)
                && !child
                    .equivalence_properties()
                    .ordering_satisfy_requirement(required.clone().into_single())?
            {
                ordering_lost = true;
            }
            children.push(child);
        }
        if changed {
            Ok(Transformed::yes(replace_children_if_necessary(
                node, children,
            )?))
        } else {
            Ok(Transformed::no(node))
        }
    })?;
    Ok((!ordering_lost).then_some(fixed.data))
}

/// The keys a distribution requirement partitions by.
#[expect(
    deprecated,
    reason = "DataFusion 55 operators may still say HashPartitioned"
)]
fn key_exprs(required: &Distribution) -> Option<Vec<Arc<dyn PhysicalExpr>>> {
    match required {
        Distribution::KeyPartitioned(exprs) | Distribution::HashPartitioned(exprs) => {
            Some(exprs.clone())
        }
        _ => None,
    }
}
