//! [`SinkFilteredJoins`]: a join with a small filtered input moves down the join tree
//! to the input that holds its key, so the rows it drops are dropped early.
//!
//! DataFusion joins tables in the order the query lists them. TPC-H Q07 lists
//! `supplier, lineitem, orders, customer, nation n1, nation n2`: 1.7 M lineitem rows
//! meet orders and customer before the join with `n1` (two nations of 25) keeps 8% of
//! them. Inner joins associate: `(X ⋈ B) ⋈ D` equals `(X ⋈ D) ⋈ B` when the join
//! with D reads only columns of X and D. So when D is filtered and much smaller than
//! B (so it is the selective side, not a table the chain fans out to), D's join moves
//! below B's, next to X; repeated, it reaches the table that holds its key (`n1` joins
//! `supplier` first, and lineitem then meets 800 suppliers instead of 10,000). Key
//! pairs of D's join that read B stay with B's join, now above; a join filter goes
//! down only if it reads only X and D. A projection restores the column order.
//!
//! D must match each row at most once: its side of the key is a key of D (ANALYZE's
//! distinct count says the column's values are distinct, and D's own joins are on keys
//! of the tables they join). Without that (Q05's `c_nationkey = s_nationkey` matches a
//! customer to every supplier of its nation) the join would multiply the rows, not
//! filter them. Sizes are the tables' row counts ([`TableProvider::statistics`]); a
//! subtree with a table of unknown size or unanalyzed keys is left as it is.
//!
//! [`TableProvider::statistics`]: datafusion::catalog::TableProvider::statistics

use std::sync::Arc;

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, Join, JoinConstraint, JoinType, LogicalPlan, Projection};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::planner::semi_join::filters;

/// A join key pair: (the chain's side, D's side).
type KeyPair = (Expr, Expr);

/// How much larger than D the input it moves below must be.
const SMALLER_BY: u64 = 10;

/// See the module docs.
#[derive(Debug, Default)]
pub struct SinkFilteredJoins;

impl OptimizerRule for SinkFilteredJoins {
    fn name(&self) -> &str {
        "sink_filtered_joins"
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
        if join.join_type != JoinType::Inner || join.on.is_empty() || join.null_aware {
            return Ok(Transformed::no(plan));
        }
        for dim_on_right in [true, false] {
            // A rewrite that does not plan is no reason to fail the query: the join
            // stays where it is.
            match sink(join, dim_on_right) {
                Ok(Some(sunk)) => return Ok(Transformed::yes(sunk)),
                Ok(None) => {}
                Err(e) => tracing::debug!("sink_filtered_joins left a join in place: {e}"),
            }
        }
        Ok(Transformed::no(plan))
    }
}

/// The rows of the tables `plan` reads, added up; `None` when one is unknown.
fn table_rows(plan: &LogicalPlan) -> Option<u64> {
    let mut total = Some(0u64);
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let rows = source_as_provider(&scan.source)
                .ok()
                .and_then(|p| p.statistics())
                .and_then(|s| match s.num_rows {
                    Precision::Exact(n) | Precision::Inexact(n) => Some(n as u64),
                    Precision::Absent => None,
                });
            total = total.zip(rows).map(|(t, r)| t.saturating_add(r));
        }
        Ok(if total.is_some() {
            TreeNodeRecursion::Continue
        } else {
            TreeNodeRecursion::Stop
        })
    });
    total
}

/// At least this share of a column's values must be distinct for it to count as a
/// key of its table (ANALYZE's distinct count is an estimate).
const KEY_DISTINCT_SHARE: f64 = 0.9;

/// Whether `column` identifies `plan`'s rows: a key of the table it comes from (by
/// ANALYZE's distinct count), carried through filters, projections, aliases and
/// inner joins that match each row to at most one row of the other input (joins on
/// a key of that input). `false` when unknown.
fn unique_in(plan: &LogicalPlan, column: &Column) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let Some(stats) = source_as_provider(&scan.source)
                .ok()
                .and_then(|p| p.statistics())
            else {
                return false;
            };
            let Ok(index) = scan.source.schema().index_of(&column.name) else {
                return false;
            };
            let rows = match stats.num_rows {
                Precision::Exact(n) | Precision::Inexact(n) => n,
                Precision::Absent => return false,
            };
            let distinct = stats
                .column_statistics
                .get(index)
                .and_then(|c| c.distinct_count.get_value().copied());
            rows <= 1 || distinct.is_some_and(|d| d as f64 >= KEY_DISTINCT_SHARE * rows as f64)
        }
        LogicalPlan::Filter(filter) => unique_in(&filter.input, column),
        LogicalPlan::SubqueryAlias(alias) => {
            // The alias's fields are its input's, in order, under another name.
            let Some(index) = alias.schema.maybe_index_of_column(column) else {
                return false;
            };
            let (qualifier, field) = alias.input.schema().qualified_field(index);
            unique_in(&alias.input, &Column::new(qualifier.cloned(), field.name()))
        }
        LogicalPlan::Projection(projection) => {
            let Some(index) = projection.schema.maybe_index_of_column(column) else {
                return false;
            };
            match projection.expr.get(index) {
                Some(Expr::Column(inner)) => unique_in(&projection.input, inner),
                _ => false,
            }
        }
        LogicalPlan::Join(join) if join.join_type == JoinType::Inner => {
            let (own, other, other_keys): (_, _, Vec<&Expr>) =
                if join.left.schema().has_column(column) {
                    (
                        &join.left,
                        &join.right,
                        join.on.iter().map(|(_, r)| r).collect(),
                    )
                } else {
                    (
                        &join.right,
                        &join.left,
                        join.on.iter().map(|(l, _)| l).collect(),
                    )
                };
            unique_in(own, column)
                && other_keys
                    .iter()
                    .any(|k| matches!(k, Expr::Column(c) if unique_in(other, c)))
        }
        _ => false,
    }
}

/// Whether every column `expr` reads is in `plan`'s output.
fn reads_only(expr: &Expr, plan: &LogicalPlan) -> bool {
    expr.column_refs()
        .iter()
        .all(|c| plan.schema().has_column(c))
}

/// `join` with its input D (right or left) moved below the inner join under its
/// other input, when that is sound and pays (see the module docs).
fn sink(join: &Join, dim_on_right: bool) -> Result<Option<LogicalPlan>> {
    let (chain, dim) = if dim_on_right {
        (&join.left, &join.right)
    } else {
        (&join.right, &join.left)
    };
    if !filters(dim) {
        return Ok(None);
    }
    let Some(dim_rows) = table_rows(dim) else {
        return Ok(None);
    };
    // Through a projection that only passes columns on (the optimizer puts them
    // between joins): the projection on top puts back the join's columns.
    let below = match chain.as_ref() {
        LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
            &p.input
        }
        _ => chain,
    };
    let LogicalPlan::Join(inner) = below.as_ref() else {
        return Ok(None);
    };
    // Key pairs may move from one join to the other: both must compare NULLs alike.
    if inner.join_type != JoinType::Inner
        || inner.null_aware
        || inner.null_equality != join.null_equality
    {
        return Ok(None);
    }
    // Key pairs as (chain side, D side).
    let pairs: Vec<KeyPair> = join
        .on
        .iter()
        .map(|(l, r)| {
            if dim_on_right {
                (l.clone(), r.clone())
            } else {
                (r.clone(), l.clone())
            }
        })
        .collect();
    for into_left in [true, false] {
        let (x, b) = if into_left {
            (&inner.left, &inner.right)
        } else {
            (&inner.right, &inner.left)
        };
        let (to_x, to_b): (Vec<KeyPair>, Vec<KeyPair>) =
            pairs.iter().cloned().partition(|(c, _)| reads_only(c, x));
        if to_x.is_empty() || !to_b.iter().all(|(c, _)| reads_only(c, b)) {
            continue;
        }
        // D must match each row of X to at most one of its rows (a lookup on a key of
        // D), or the join multiplies X's rows instead of filtering them.
        let lookup = to_x
            .iter()
            .any(|(_, d)| matches!(d, Expr::Column(c) if unique_in(dim, c)));
        if !lookup {
            continue;
        }
        let big_enough =
            table_rows(b).is_some_and(|rows| rows >= dim_rows.saturating_mul(SMALLER_BY));
        if !big_enough {
            continue;
        }
        // D joins X (X on the left); the join's filter comes along if it reads only
        // X and D, and otherwise goes to the join above.
        let lower_schema_has = |e: &Expr| {
            e.column_refs()
                .iter()
                .all(|c| x.schema().has_column(c) || dim.schema().has_column(c))
        };
        let (down, up) = match &join.filter {
            Some(f) if lower_schema_has(f) => (Some(f.clone()), None),
            Some(f) => (None, Some(f.clone())),
            None => (None, None),
        };
        let lower = Arc::new(LogicalPlan::Join(Join::try_new(
            Arc::clone(x),
            Arc::clone(dim),
            to_x,
            down,
            JoinType::Inner,
            JoinConstraint::On,
            join.null_equality,
            false,
        )?));
        // B's join, with D's pairs that read B (oriented as its inputs are).
        let mut on = inner.on.clone();
        let filter = match (inner.filter.clone(), up) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        };
        let (left, right) = if into_left {
            on.extend(to_b.into_iter().map(|(c, d)| (d, c)));
            (lower, Arc::clone(&inner.right))
        } else {
            on.extend(to_b);
            (Arc::clone(&inner.left), lower)
        };
        let upper = Join::try_new(
            left,
            right,
            on,
            filter,
            JoinType::Inner,
            JoinConstraint::On,
            inner.null_equality,
            false,
        )?;
        let columns = join
            .schema
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        return Ok(Some(LogicalPlan::Projection(Projection::try_new(
            columns,
            Arc::new(LogicalPlan::Join(upper)),
        )?)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::catalog::{Session, TableProvider};
    use datafusion::common::stats::{Precision, Statistics};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::logical_expr::{Expr, TableType};
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::prelude::SessionContext;

    use super::SinkFilteredJoins;

    /// An empty table that says it has `rows` rows, with its first column a key
    /// when `keyed`.
    #[derive(Debug)]
    struct Sized {
        table: MemTable,
        rows: usize,
        keyed: bool,
    }

    #[async_trait]
    impl TableProvider for Sized {
        fn schema(&self) -> SchemaRef {
            self.table.schema()
        }
        fn table_type(&self) -> TableType {
            TableType::Base
        }
        async fn scan(
            &self,
            state: &dyn Session,
            projection: Option<&Vec<usize>>,
            filters: &[Expr],
            limit: Option<usize>,
        ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
            self.table.scan(state, projection, filters, limit).await
        }
        fn statistics(&self) -> Option<Statistics> {
            let mut stats = Statistics::new_unknown(&self.schema());
            stats.num_rows = Precision::Exact(self.rows);
            if self.keyed {
                stats.column_statistics[0].distinct_count = Precision::Inexact(self.rows);
            }
            Some(stats)
        }
    }

    async fn optimized(sql: &str) -> String {
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_optimizer_rule(Arc::new(SinkFilteredJoins))
            .build();
        let ctx = SessionContext::new_with_state(state);
        for (name, rows, keyed, columns) in [
            ("supplier", 10_000, true, vec!["s_suppkey", "s_nationkey"]),
            (
                "lineitem",
                6_000_000,
                false,
                vec!["l_orderkey", "l_suppkey", "l_price"],
            ),
            (
                "orders",
                1_500_000,
                true,
                vec!["o_orderkey", "o_custkey", "o_date"],
            ),
            ("customer", 150_000, true, vec!["c_custkey", "c_nationkey"]),
            (
                "nation",
                25,
                true,
                vec!["n_nationkey", "n_name", "n_regionkey"],
            ),
            ("region", 5, true, vec!["r_regionkey", "r_name"]),
        ] {
            let schema = Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|c| Field::new(*c, DataType::Int64, false))
                    .collect::<Vec<_>>(),
            ));
            let table = MemTable::try_new(schema, vec![vec![]]).expect("table");
            let table = Sized { table, rows, keyed };
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

    /// The line of `plan` holding `what`, and its depth.
    fn find(plan: &str, what: &str) -> (usize, usize) {
        plan.lines()
            .enumerate()
            .find(|(_, l)| l.contains(what))
            .map(|(i, l)| (i, l.len() - l.trim_start().len()))
            .unwrap_or_else(|| panic!("no {what} in\n{plan}"))
    }

    #[tokio::test]
    async fn a_filtered_nation_joins_the_supplier_before_the_big_tables() {
        // TPC-H Q07's shape.
        let plan = optimized(
            "select n1.n_name, n2.n_name, sum(l_price) from supplier, lineitem, orders, \
             customer, nation n1, nation n2 \
             where s_suppkey = l_suppkey and o_orderkey = l_orderkey \
             and c_custkey = o_custkey and s_nationkey = n1.n_nationkey \
             and c_nationkey = n2.n_nationkey \
             and ((n1.n_name = 1 and n2.n_name = 2) or (n1.n_name = 2 and n2.n_name = 1)) \
             group by n1.n_name, n2.n_name",
        )
        .await;
        // Each nation joins right above the table holding its key, below lineitem's
        // and orders' joins.
        let (_, s_n1) = find(&plan, "supplier.s_nationkey = n1.n_nationkey");
        let (_, s_l) = find(&plan, "s_suppkey = lineitem.l_suppkey");
        let (_, c_n2) = find(&plan, "customer.c_nationkey = n2.n_nationkey");
        let (_, o_c) = find(&plan, "orders.o_custkey = customer.c_custkey");
        assert!(s_n1 > s_l, "n1 joins supplier below lineitem:\n{plan}");
        assert!(c_n2 > o_c, "n2 joins customer below orders:\n{plan}");
        // The filter that reads both nations stays above both.
        let (_, or) = find(&plan, "Filter: n1.n_name");
        assert!(or < s_l && or < o_c, "{plan}");
    }

    #[tokio::test]
    async fn a_join_that_would_multiply_rows_stays() {
        // TPC-H Q05's shape: the region's suppliers join lineitem on the supplier's
        // key, never customer on the nation alone (every customer of a nation would
        // meet every supplier of it).
        let plan = optimized(
            "select n_name, sum(l_price) from customer, orders, lineitem, supplier, nation, region \
             where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey \
             and c_nationkey = s_nationkey and s_nationkey = n_nationkey \
             and n_regionkey = r_regionkey and r_name = 2 and o_date > 5 \
             group by n_name",
        )
        .await;
        // The nation pair only ever joins along with another key.
        for line in plan
            .lines()
            .filter(|l| l.contains("c_nationkey = supplier.s_nationkey"))
        {
            assert!(line.contains(", "), "{plan}");
        }
        let (_, s_l) = find(&plan, "lineitem.l_suppkey = supplier.s_suppkey");
        let (_, l_o) = find(&plan, "lineitem.l_orderkey");
        assert!(
            s_l > l_o,
            "the region's suppliers meet lineitem before orders:\n{plan}"
        );
    }

    #[tokio::test]
    async fn an_unfiltered_or_large_input_stays() {
        // No filter on nation: nothing moves.
        let plan = optimized(
            "select sum(l_price) from supplier, lineitem, nation \
             where s_suppkey = l_suppkey and s_nationkey = n_nationkey",
        )
        .await;
        assert!(
            find(&plan, "s_nationkey = nation.n_nationkey").1 < find(&plan, "l_suppkey").1,
            "{plan}"
        );
        // A filtered lineitem is larger than what it would move below.
        let plan = optimized(
            "select sum(l_price) from customer, orders, lineitem \
             where c_custkey = o_custkey and o_orderkey = l_orderkey and l_price > 5",
        )
        .await;
        assert!(
            find(&plan, "o_orderkey = lineitem.l_orderkey").1
                < find(&plan, "c_custkey = orders.o_custkey").1,
            "{plan}"
        );
    }
}
