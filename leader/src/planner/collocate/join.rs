//! Placing one join: which inputs' rows move, and how (the arms of [`collocate`]),
//! with the estimates that choose between them.

use std::sync::Arc;

use arrow::datatypes::DataType;
use blueshift_operators::SliceScanExec;
use blueshift_operators::delivery::Delivery;
use blueshift_operators::leader_rows::LeaderRowsExec;
use blueshift_operators::scan::Placement;
use blueshift_storage::catalog::ClusterLayout;
use blueshift_storage::distribution::DistHash;
use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExprRef;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};

use crate::planner::locality::{
    JoinDistribution, Locality, column_index, estimated_rows, locality, strip_exchanges,
};

/// Whether some pair of join keys holds both inputs' distribution keys.
fn joins_on_keys(
    on: &[(PhysicalExprRef, PhysicalExprRef)],
    left: &[usize],
    right: &[usize],
) -> bool {
    on.iter().any(|(l, r)| {
        column_index(l).is_some_and(|l| left.contains(&l))
            && column_index(r).is_some_and(|r| right.contains(&r))
    })
}

/// The column of `other` (the input that is not on `keyed_side`) joined to one of
/// `keys`, the distribution key columns of the input on `keyed_side`, if it has the
/// key's type: routing its rows by that column puts them on the slices of their
/// matches.
fn partner_key(
    on: &[(PhysicalExprRef, PhysicalExprRef)],
    keys: &[usize],
    keyed_side: Side,
    key_type: &DataType,
    other: &Arc<dyn ExecutionPlan>,
) -> Option<usize> {
    on.iter().find_map(|(l, r)| {
        let (keyed, partner) = match keyed_side {
            Side::Left => (l, r),
            Side::Right => (r, l),
        };
        let keyed = column_index(keyed)?;
        let partner = column_index(partner)?;
        (keys.contains(&keyed) && other.schema().fields().get(partner)?.data_type() == key_type)
            .then_some(partner)
    })
}

/// Whether `moved` is estimated to have fewer rows than `staying`. Rows sent to
/// the slices through the leader travel twice; joining on the leader moves both
/// inputs once. So only the smaller input is worth sending back to the slices.
fn smaller(moved: &Arc<dyn ExecutionPlan>, staying: &Arc<dyn ExecutionPlan>) -> bool {
    matches!((estimated_rows(moved), estimated_rows(staying)), (Some(m), Some(s)) if m < s)
}

/// Whether sending `inner` to each of `slices` slices (through the leader: its rows
/// once there, then once per slice) moves fewer rows than sending both inputs to the
/// leader, by the estimates.
fn cheaper_to_broadcast(
    inner: &Arc<dyn ExecutionPlan>,
    outer: &Arc<dyn ExecutionPlan>,
    slices: usize,
) -> bool {
    matches!((estimated_rows(inner), estimated_rows(outer)),
        (Some(i), Some(o)) if i.saturating_mul(slices) < o)
}

/// The collocated form of `join`, if its inputs allow one. `movable` tells whether
/// an input runs whole on the compute nodes, so that its rows can go between them.
pub(super) fn collocate(
    join: &HashJoinExec,
    layout: ClusterLayout,
    movable: &dyn Fn(&Arc<dyn ExecutionPlan>) -> bool,
) -> Result<Option<(Arc<dyn ExecutionPlan>, JoinDistribution)>> {
    if join.null_aware {
        // NOT IN needs to know whether the other input has a NULL anywhere.
        return Ok(None);
    }
    let left = strip_exchanges(join.left());
    let right = strip_exchanges(join.right());
    let Some(r) = locality(&right) else {
        return Ok(None);
    };
    // An inner input that is not slice by slice can still be broadcast.
    let l = locality(&left);
    let join_type = join.join_type();
    let (left, right, how) = match (&l, &r) {
        // Two ALL tables: joined on a node that has both (the first, or each node of
        // the slices a join above places the result on, through `localize`).
        (Some(Locality::Replicated), Locality::Replicated) => {
            (left, right, JoinDistribution::DistAllNone)
        }
        (
            Some(Locality::Keyed {
                slices: ls,
                keys: lk,
                key_type: lt,
                hash: lh,
            }),
            Locality::Keyed {
                slices: rs,
                keys: rk,
                key_type: rt,
                hash: rh,
            },
        ) if ls == rs && lt == rt && lh == rh && joins_on_keys(join.on(), lk, rk) => {
            (left, right, JoinDistribution::DistNone)
        }
        // The ALL input's rows must not be answered for one by one: every slice would.
        (Some(Locality::Replicated), other) if !answers_per_row(join_type, Side::Left) => {
            let Some(slices) = other.slices() else {
                return Ok(None);
            };
            (
                localize(&left, slices, layout)?,
                right,
                JoinDistribution::DistAllNone,
            )
        }
        (Some(other), Locality::Replicated) if !answers_per_row(join_type, Side::Right) => {
            let Some(slices) = other.slices() else {
                return Ok(None);
            };
            (
                left,
                localize(&right, slices, layout)?,
                JoinDistribution::DistAllNone,
            )
        }
        // DS_BCAST_INNER: DataFusion collects the inner input because it is small;
        // send it to every slice of the outer one instead.
        (_, Locality::Keyed { .. } | Locality::Spread { .. })
            if *join.partition_mode() == PartitionMode::CollectLeft
                && !answers_per_row(join_type, Side::Left) =>
        {
            let Some(slices) = r.slices() else {
                return Ok(None);
            };
            let inner = Arc::new(LeaderRowsExec::new(
                Arc::clone(join.left()),
                slices.len(),
                Delivery::Broadcast,
            ));
            (
                inner as Arc<dyn ExecutionPlan>,
                right,
                JoinDistribution::BcastInner,
            )
        }
        // DS_DIST_INNER: both inputs are large, the outer one is distributed on a join
        // key: send each inner row to the slice of its key.
        (
            _,
            Locality::Keyed {
                slices,
                keys,
                key_type,
                hash,
            },
        ) if *join.partition_mode() == PartitionMode::Partitioned
            && smaller(&left, &right)
            && let Some(column) = partner_key(join.on(), keys, Side::Right, key_type, &left) =>
        {
            let inner = moved_by_key(&left, column, slices, layout, *hash);
            (inner, right, JoinDistribution::DistInner)
        }
        // DS_DIST_OUTER: the inner input is distributed on a join key.
        (
            Some(Locality::Keyed {
                slices,
                keys,
                key_type,
                hash,
            }),
            _,
        ) if *join.partition_mode() == PartitionMode::Partitioned
            && smaller(&right, &left)
            && let Some(column) = partner_key(join.on(), keys, Side::Left, key_type, &right) =>
        {
            let outer = moved_by_key(&right, column, slices, layout, *hash);
            (left, outer, JoinDistribution::DistOuter)
        }
        // DS_DIST_INNER where the inner input is the larger but runs on the slices: its
        // rows go between the compute nodes, once.
        (
            Some(_),
            Locality::Keyed {
                slices,
                keys,
                key_type,
                hash,
            },
        ) if *join.partition_mode() == PartitionMode::Partitioned
            && movable(&left)
            && let Some(column) = partner_key(join.on(), keys, Side::Right, key_type, &left) =>
        {
            let inner = moved_by_key(&left, column, slices, layout, *hash);
            (inner, right, JoinDistribution::DistInner)
        }
        // DS_BCAST_INNER for two inputs that are not on the join key, where copying the
        // inner one to every slice moves fewer rows than sending both to the leader.
        (_, Locality::Keyed { .. } | Locality::Spread { .. })
            if *join.partition_mode() == PartitionMode::Partitioned
                && !answers_per_row(join_type, Side::Left)
                && cheaper_to_broadcast(&left, &right, r.slices().map_or(0, <[u32]>::len)) =>
        {
            let Some(slices) = r.slices() else {
                return Ok(None);
            };
            let inner = Arc::new(LeaderRowsExec::new(
                Arc::clone(&left),
                slices.len(),
                Delivery::Broadcast,
            ));
            (
                inner as Arc<dyn ExecutionPlan>,
                right,
                JoinDistribution::BcastInner,
            )
        }
        // DS_DIST_OUTER, the outer input running on the slices.
        (
            Some(Locality::Keyed {
                slices,
                keys,
                key_type,
                hash,
            }),
            Locality::Keyed { .. } | Locality::Spread { .. },
        ) if *join.partition_mode() == PartitionMode::Partitioned
            && movable(&right)
            && let Some(column) = partner_key(join.on(), keys, Side::Left, key_type, &right) =>
        {
            let outer = moved_by_key(&right, column, slices, layout, *hash);
            (left, outer, JoinDistribution::DistOuter)
        }
        // DS_DIST_BOTH: neither input is on a join key; both run on the slices, and
        // each row of both goes to the slice of its key.
        (Some(_), _)
            if *join.partition_mode() == PartitionMode::Partitioned
                && movable(&left)
                && movable(&right) =>
        {
            let Some((l, r)) = join.on().iter().find_map(|(l, r)| {
                let (l, r) = (column_index(l)?, column_index(r)?);
                (left.schema().field(l).data_type() == right.schema().field(r).data_type())
                    .then_some((l, r))
            }) else {
                return Ok(None);
            };
            let slices: Vec<u32> = (0..layout.slice_count()).collect();
            (
                moved_by_key(&left, l, &slices, layout, DistHash::CanonicalV1),
                moved_by_key(&right, r, &slices, layout, DistHash::CanonicalV1),
                JoinDistribution::DistBoth,
            )
        }
        _ => return Ok(None),
    };
    let collocated = join
        .builder()
        .with_new_children(vec![left, right])?
        .with_partition_mode(PartitionMode::Partitioned)
        .reset_state()
        .recompute_properties()
        .build_exec()?;
    Ok(Some((collocated, how)))
}

/// `plan`'s rows, each sent to the slice of `slices` its `column` hashes to with
/// `hash` (that of the rows they are to meet).
pub(super) fn moved_by_key(
    plan: &Arc<dyn ExecutionPlan>,
    column: usize,
    slices: &[u32],
    layout: ClusterLayout,
    hash: DistHash,
) -> Arc<dyn ExecutionPlan> {
    Arc::new(LeaderRowsExec::new(
        Arc::clone(plan),
        slices.len(),
        Delivery::ByKey {
            column,
            layout,
            slices: slices.to_vec(),
            hash,
        },
    ))
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
