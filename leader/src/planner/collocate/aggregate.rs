//! Aggregations placed by the rows' distribution: a final aggregation whose groups
//! are each whole on one slice runs slice by slice; one whose partial aggregation
//! runs on the slices over other keys finishes there too, after the partial groups
//! go to the slices of their keys.

use std::sync::Arc;

use blueshift_storage::catalog::ClusterLayout;
use blueshift_storage::distribution::DistHash;
use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};

use super::join::moved_by_key;
use crate::planner::locality::estimated_rows;
use crate::planner::locality::{groups_on_key, locality, strip_exchanges};

/// Partial groups (by the planner's estimate) below which the leader finishes an
/// aggregation rather than the slices: the rows to move are few either way.
const FEW_GROUPS: usize = 10_000;

/// The final aggregation `aggregate` finishing on the slices, when its partial
/// aggregation runs on them (`movable`) and may make many groups: each partial
/// group goes to the slice its first group column hashes to, so the slices finish
/// the groups in parallel and only finished groups reach the leader.
pub(super) fn redistribute_aggregate(
    aggregate: &AggregateExec,
    layout: ClusterLayout,
    movable: &dyn Fn(&Arc<dyn ExecutionPlan>) -> bool,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if !matches!(
        aggregate.mode(),
        AggregateMode::Final | AggregateMode::FinalPartitioned
    ) {
        return Ok(None);
    }
    let below = strip_exchanges(aggregate.input());
    let Some(partial) = below.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *partial.mode() != AggregateMode::Partial
        || !partial.group_expr().is_single()
        || partial.group_expr().expr().is_empty()
        || locality(&below).is_none()
        || estimated_rows(&below).is_some_and(|groups| groups < FEW_GROUPS)
        || !movable(&below)
    {
        return Ok(None);
    }
    let slices: Vec<u32> = (0..layout.slice_count()).collect();
    // A partial aggregation's output starts with its group columns.
    // Both sides of the groups are moved here: any hash places them alike.
    let moved = moved_by_key(&below, 0, &slices, layout, DistHash::CanonicalV1);
    let finished = AggregateExec::try_new(
        AggregateMode::FinalPartitioned,
        aggregate.group_expr().clone(),
        aggregate.aggr_expr().to_vec(),
        aggregate.filter_expr().to_vec(),
        moved,
        aggregate.input_schema(),
    )?
    .with_limit_options(aggregate.limit_options());
    if finished.schema().fields() != aggregate.schema().fields() {
        return Ok(None);
    }
    Ok(Some(Arc::new(finished)))
}

/// The slice-by-slice form of a final aggregation whose partial aggregation runs
/// over rows distributed on a group key: each group is whole on one slice, so the
/// slice can finish it, and only the groups move, not partial states.
pub(super) fn collocate_aggregate(
    aggregate: &AggregateExec,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if !matches!(
        aggregate.mode(),
        AggregateMode::Final | AggregateMode::FinalPartitioned
    ) {
        return Ok(None);
    }
    let below = strip_exchanges(aggregate.input());
    let Some(partial) = below.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    if *partial.mode() != AggregateMode::Partial {
        return Ok(None);
    }
    let input = Arc::clone(partial.input());
    match locality(&input) {
        Some(l) if groups_on_key(partial, &l) => {}
        _ => return Ok(None),
    }
    let single = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        partial.group_expr().clone(),
        partial.aggr_expr().to_vec(),
        partial.filter_expr().to_vec(),
        Arc::clone(&input),
        input.schema(),
    )?
    .with_limit_options(aggregate.limit_options());
    if single.schema().fields() != aggregate.schema().fields() {
        return Ok(None);
    }
    Ok(Some(Arc::new(single)))
}
