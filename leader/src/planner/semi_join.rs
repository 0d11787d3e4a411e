//! [`PushSemiJoinDown`]: a semi join (`IN (subquery)`, `EXISTS`) on top of an inner
//! join moves down to the join input that holds every column it tests, when the other
//! input is not filtered.
//!
//! DataFusion decorrelates a subquery into a semi join above the query's joins, so
//! TPC-H Q18 joins 1.5 M orders to 6 M lineitem rows before its `IN` keeps 57 orders.
//! `(A ⋈ B) ⋉ S` equals `A ⋈ (B ⋉ S)` when the semi join's condition reads only B
//! and S: it keeps or drops each row by its B part alone. It pays when A does not
//! filter (a join along a foreign key keeps every row of B): then the join no longer
//! carries rows the semi join would drop. When A is filtered (Q21: orders of one
//! nation), the join above is the better filter and the semi join stays.
//!
//! Anti joins stay where they are (NOT IN's NULL semantics make moving them a
//! question of its own).

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, Join, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// See the module docs.
#[derive(Debug, Default)]
pub struct PushSemiJoinDown;

impl OptimizerRule for PushSemiJoinDown {
    fn name(&self) -> &str {
        "push_semi_join_down"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(semi) = &plan else {
            return Ok(Transformed::no(plan));
        };
        if semi.join_type != JoinType::LeftSemi {
            return Ok(Transformed::no(plan));
        }
        // The semi join's columns from its left input.
        let mut tested = Vec::new();
        for (left, _) in &semi.on {
            tested.extend(left.column_refs().into_iter().cloned());
        }
        if let Some(filter) = &semi.filter {
            tested.extend(
                filter
                    .column_refs()
                    .into_iter()
                    .filter(|c| semi.left.schema().has_column(c))
                    .cloned(),
            );
        }
        if tested.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let holds = |side: &LogicalPlan| tested.iter().all(|c| side.schema().has_column(c));
        let semi_join_over = |left: &Arc<LogicalPlan>| {
            Join::try_new(
                Arc::clone(left),
                Arc::clone(&semi.right),
                semi.on.clone(),
                semi.filter.clone(),
                JoinType::LeftSemi,
                semi.join_constraint,
                semi.null_equality,
                semi.null_aware,
            )
            .map(|j| Arc::new(LogicalPlan::Join(j)))
        };
        // Below a projection that only passes columns on (the optimizer puts them
        // between joins), on the way to the joins under it.
        if let LogicalPlan::Projection(projection) = semi.left.as_ref() {
            let passes_columns = projection.expr.iter().all(|e| matches!(e, Expr::Column(_)));
            if passes_columns && holds(&projection.input) {
                let pushed = semi_join_over(&projection.input)?;
                return Ok(Transformed::yes(LogicalPlan::Projection(
                    Projection::try_new(projection.expr.clone(), pushed)?,
                )));
            }
            return Ok(Transformed::no(plan));
        }
        let LogicalPlan::Join(inner) = semi.left.as_ref() else {
            return Ok(Transformed::no(plan));
        };
        if inner.join_type != JoinType::Inner {
            return Ok(Transformed::no(plan));
        }
        let into_left = holds(&inner.left) && !filters(&inner.right);
        let into_right = !into_left && holds(&inner.right) && !filters(&inner.left);
        if !into_left && !into_right {
            return Ok(Transformed::no(plan));
        }
        let pushed = semi_join_over(if into_left { &inner.left } else { &inner.right })?;
        let (left, right) = if into_left {
            (pushed, Arc::clone(&inner.right))
        } else {
            (Arc::clone(&inner.left), pushed)
        };
        // A semi join's output is its left input's schema, so the inner join's stays.
        let rebuilt = Join {
            left,
            right,
            ..inner.clone()
        };
        Ok(Transformed::yes(LogicalPlan::Join(rebuilt)))
    }
}

/// Whether `plan` drops rows of its tables: a filter, a scan with filters, a limit,
/// an aggregation (HAVING), or a join other than an inner or left one.
pub(crate) fn filters(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply(|node| {
        found = match node {
            LogicalPlan::Filter(_) | LogicalPlan::Limit(_) | LogicalPlan::Aggregate(_) => true,
            LogicalPlan::TableScan(scan) => !scan.filters.is_empty() || scan.fetch.is_some(),
            LogicalPlan::Join(join) => {
                !matches!(join.join_type, JoinType::Inner | JoinType::Left)
                    || join
                        .filter
                        .as_ref()
                        .is_some_and(|f| !matches!(f, Expr::Literal(..)))
            }
            _ => false,
        };
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::SessionContext;

    use super::PushSemiJoinDown;
    use crate::planner::aggregate_keys::FilterAggregateByJoinKeys;

    /// `sql`'s optimized logical plan with Blueshift's rules, over empty TPC-H-like
    /// tables.
    pub(crate) async fn optimized(sql: &str) -> String {
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_optimizer_rule(Arc::new(PushSemiJoinDown))
            .with_optimizer_rule(Arc::new(FilterAggregateByJoinKeys))
            .build();
        let ctx = SessionContext::new_with_state(state);
        for (name, columns) in [
            ("customer", vec!["c_custkey", "c_nation"]),
            ("orders", vec!["o_orderkey", "o_custkey"]),
            ("lineitem", vec!["l_orderkey", "l_quantity"]),
        ] {
            let schema = Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|c| Field::new(*c, DataType::Int64, false))
                    .collect::<Vec<_>>(),
            ));
            let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
            ctx.register_table(name, Arc::new(table)).expect("register");
        }
        let plan = ctx
            .sql(sql)
            .await
            .expect("plan")
            .into_optimized_plan()
            .expect("optimize");
        plan.display_indent().to_string()
    }

    /// The depth of the first line holding `what`.
    fn depth(plan: &str, what: &str) -> usize {
        let line = plan
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in\n{plan}"));
        line.len() - line.trim_start().len()
    }

    #[tokio::test]
    async fn a_semi_join_moves_below_unfiltered_joins() {
        // TPC-H Q18's shape.
        let plan = optimized(
            "select c_custkey, o_orderkey, sum(l_quantity) from customer, orders, lineitem \
             where o_orderkey in (select l_orderkey from lineitem group by l_orderkey \
             having sum(l_quantity) > 300) \
             and c_custkey = o_custkey and o_orderkey = l_orderkey \
             group by c_custkey, o_orderkey",
        )
        .await;
        let semi = depth(&plan, "LeftSemi Join");
        let inner = plan
            .lines()
            .filter(|l| l.contains("Inner Join"))
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .unwrap_or(0);
        assert!(
            semi > inner,
            "the semi join is below every inner join:\n{plan}"
        );
    }

    #[tokio::test]
    async fn a_semi_join_stays_above_a_filtering_join() {
        // TPC-H Q21's shape: the join with a filtered table is the better filter.
        let plan = optimized(
            "select o_orderkey from customer, orders \
             where c_custkey = o_custkey and c_nation = 7 \
             and exists (select 1 from lineitem where l_orderkey = o_orderkey)",
        )
        .await;
        assert!(
            depth(&plan, "LeftSemi Join") < depth(&plan, "Inner Join"),
            "the semi join stays on top:\n{plan}"
        );
    }
}
