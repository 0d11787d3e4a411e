//! [`FilterAggregateByJoinKeys`]: an aggregation joined on its group keys to a
//! filtered table first keeps only the rows of the groups that join.
//!
//! DataFusion decorrelates `l_quantity < (select avg(l_quantity) from lineitem where
//! l_partkey = p_partkey)` (TPC-H Q17) into a join with `lineitem` aggregated by
//! `l_partkey`: all 6 M rows are grouped, though the join keeps 200 parts. When the
//! other side of the join gets its key from a filtered input (the 200 parts), the
//! aggregation's input is semi-joined to that input on the key first: a group whose
//! key the filtered input lacks could not have joined, and a group whose key it has
//! keeps all its rows, so the join's result is the same. Inner joins, and semi joins
//! whose tested side is the aggregation, qualify.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, NullEquality, Result};
use datafusion::logical_expr::{
    Aggregate, Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection, SubqueryAlias,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::planner::semi_join::filters;

/// See the module docs.
#[derive(Debug, Default)]
pub struct FilterAggregateByJoinKeys;

impl OptimizerRule for FilterAggregateByJoinKeys {
    fn name(&self) -> &str {
        "filter_aggregate_by_join_keys"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(join) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // Which sides may be the aggregation: either for an inner join; the side a
        // semi join only tests.
        let sides: &[bool] = match join.join_type {
            JoinType::Inner => &[false, true],
            JoinType::LeftSemi => &[false],
            JoinType::RightSemi => &[true],
            _ => return Ok(Transformed::no(plan)),
        };
        for &aggregate_on_left in sides {
            let (grouped, other) = if aggregate_on_left {
                (&join.left, &join.right)
            } else {
                (&join.right, &join.left)
            };
            // Pairs (group column inside the aggregation's input, key on the other side).
            let mut pairs = Vec::new();
            for (l, r) in &join.on {
                let (g, o) = if aggregate_on_left { (l, r) } else { (r, l) };
                if let (Expr::Column(g), Expr::Column(o)) = (g, o)
                    && let Some(inner) = group_column(grouped, g)
                {
                    pairs.push((inner, o.clone()));
                }
            }
            let Some((_, first)) = pairs.first() else {
                continue;
            };
            let Some(keys) = holder(other, first) else {
                continue;
            };
            pairs.retain(|(_, o)| keys.schema().has_column(o));
            if !filters(&keys) {
                continue;
            }
            let Some(rebuilt) = filter_groups(grouped, &pairs, &keys)? else {
                continue;
            };
            let (left, right) = if aggregate_on_left {
                (rebuilt, Arc::clone(&join.right))
            } else {
                (Arc::clone(&join.left), rebuilt)
            };
            let rebuilt = Join {
                left,
                right,
                ..join.clone()
            };
            return Ok(Transformed::yes(LogicalPlan::Join(rebuilt)));
        }
        Ok(Transformed::no(plan))
    }
}

/// The group column of the aggregation under `plan` (through aliases and
/// projections of columns) that `column` of `plan` is.
fn group_column(plan: &LogicalPlan, column: &Column) -> Option<Column> {
    let at = plan.schema().index_of_column(column).ok()?;
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            let (qualifier, field) = alias.input.schema().qualified_field(at);
            group_column(&alias.input, &Column::from((qualifier, field)))
        }
        LogicalPlan::Projection(projection) => match projection.expr.get(at)?.clone().unalias() {
            Expr::Column(c) => group_column(&projection.input, &c),
            _ => None,
        },
        LogicalPlan::Aggregate(aggregate) => {
            // An aggregation whose input is already filtered here is left alone.
            let filtered = matches!(
                aggregate.input.as_ref(),
                LogicalPlan::Join(j) if j.join_type == JoinType::LeftSemi
            );
            if filtered || aggregate.group_expr.len() <= at {
                return None;
            }
            match aggregate.group_expr.get(at)? {
                Expr::Column(c) => Some(c.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The input under `plan` (through inner joins) whose rows give `column`.
fn holder(plan: &Arc<LogicalPlan>, column: &Column) -> Option<Arc<LogicalPlan>> {
    if !plan.schema().has_column(column) {
        return None;
    }
    match plan.as_ref() {
        LogicalPlan::Join(join) if join.join_type == JoinType::Inner => {
            holder(&join.left, column).or_else(|| holder(&join.right, column))
        }
        LogicalPlan::Projection(projection)
            if projection.expr.iter().all(|e| matches!(e, Expr::Column(_))) =>
        {
            holder(&projection.input, column)
        }
        _ => Some(Arc::clone(plan)),
    }
}

/// `plan` rebuilt with its aggregation's input semi-joined to `keys` on `pairs`.
fn filter_groups(
    plan: &Arc<LogicalPlan>,
    pairs: &[(Column, Column)],
    keys: &Arc<LogicalPlan>,
) -> Result<Option<Arc<LogicalPlan>>> {
    let rebuilt = match plan.as_ref() {
        LogicalPlan::SubqueryAlias(alias) => match filter_groups(&alias.input, pairs, keys)? {
            Some(input) => {
                LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(input, alias.alias.clone())?)
            }
            None => return Ok(None),
        },
        LogicalPlan::Projection(projection) => match filter_groups(&projection.input, pairs, keys)?
        {
            Some(input) => {
                LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), input)?)
            }
            None => return Ok(None),
        },
        LogicalPlan::Aggregate(aggregate) => {
            let input = aggregate.input.schema();
            // Both sides must name their columns apart (not two scans of one table).
            let clash = keys
                .schema()
                .iter()
                .any(|(q, f)| input.has_column(&Column::from((q, f.as_ref()))));
            if clash || !pairs.iter().all(|(g, _)| input.has_column(g)) {
                return Ok(None);
            }
            let on = pairs
                .iter()
                .map(|(g, o)| (Expr::Column(g.clone()), Expr::Column(o.clone())))
                .collect();
            let semi = Join::try_new(
                Arc::clone(&aggregate.input),
                Arc::clone(keys),
                on,
                None,
                JoinType::LeftSemi,
                JoinConstraint::On,
                NullEquality::NullEqualsNothing,
                false,
            )?;
            LogicalPlan::Aggregate(Aggregate::try_new(
                Arc::new(LogicalPlan::Join(semi)),
                aggregate.group_expr.clone(),
                aggregate.aggr_expr.clone(),
            )?)
        }
        _ => return Ok(None),
    };
    Ok(Some(Arc::new(rebuilt)))
}

#[cfg(test)]
mod tests {
    use crate::planner::semi_join::tests::optimized;

    /// The line of `plan` under its aggregation of lineitem by order key: that
    /// aggregation's input.
    fn below_grouped_lineitem(plan: &str) -> &str {
        let mut lines = plan.lines();
        lines
            .position(|l| l.contains("Aggregate: groupBy=[[lineitem.l_orderkey]]"))
            .unwrap_or_else(|| panic!("no grouped lineitem in\n{plan}"));
        lines.next().unwrap_or_default()
    }

    #[tokio::test]
    async fn an_aggregation_joined_to_a_filtered_table_keeps_only_its_groups() {
        // TPC-H Q17's shape.
        let plan = optimized(
            "select sum(l_quantity) from lineitem, orders \
             where o_orderkey = l_orderkey and o_custkey = 7 \
             and l_quantity < (select avg(l_quantity) from lineitem where l_orderkey = o_orderkey)",
        )
        .await;
        assert!(
            below_grouped_lineitem(&plan)
                .contains("LeftSemi Join: lineitem.l_orderkey = orders.o_orderkey"),
            "the grouped rows are those of the orders kept:\n{plan}"
        );
    }

    #[tokio::test]
    async fn an_aggregation_joined_to_an_unfiltered_table_is_left_alone() {
        let plan = optimized(
            "select sum(l_quantity) from lineitem, orders \
             where o_orderkey = l_orderkey \
             and l_quantity < (select avg(l_quantity) from lineitem where l_orderkey = o_orderkey)",
        )
        .await;
        assert!(
            below_grouped_lineitem(&plan).contains("TableScan: lineitem"),
            "{plan}"
        );
    }
}
