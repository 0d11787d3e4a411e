//! Aggregations placed by the rows' distribution: a final aggregation whose groups
//! are each whole on one slice runs slice by slice.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};

use super::{Locality, column_index, locality, strip_exchanges};

/// Whether `aggregate` is one this rule made: it aggregates slice by slice
/// ([`AggregateMode::SinglePartitioned`]) over rows distributed on one of its group
/// keys, so that each group's rows are all on one slice.
pub(super) fn collocated_aggregate(aggregate: &AggregateExec) -> bool {
    *aggregate.mode() == AggregateMode::SinglePartitioned
        && locality(aggregate.input()).is_some_and(|l| groups_on_key(aggregate, &l))
}

/// Whether `aggregate` groups by a column that holds the distribution key of its
/// input's rows (`input`): then no group spans two slices. A NULL key is hashed like
/// any value, so all its rows are on one slice too.
fn groups_on_key(aggregate: &AggregateExec, input: &Locality) -> bool {
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
