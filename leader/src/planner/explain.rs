//! Redshift-style EXPLAIN: the physical plan as `XN` steps, with the data movement of
//! each join (`DS_DIST_NONE`, `DS_BCAST_INNER`, ...), rows and widths from the
//! planner's statistics, and `XN Network` where compute nodes send rows to the leader.
//!
//! Costs are relative, as on Redshift: a step's total cost is the rows it and the
//! steps below it handle; blocking steps (sort, hash, aggregate) start at their
//! input's total.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use blueshift_operators::SliceScanExec;
use blueshift_operators::delivery::Delivery;
use blueshift_operators::exchange::ExchangeExec;
use blueshift_operators::leader_rows::{LeaderRowsExec, moved_rows};
use datafusion::common::JoinType;
use datafusion::common::stats::Precision;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, PartitionMode, SortMergeJoinExec,
};
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;

use crate::planner::fragment::RemoteFragmentExec;
use crate::planner::locality;

/// The plan's lines, top step first, as Redshift prints them.
pub fn redshift_plan(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut out = Vec::new();
    let root = step(plan);
    root.render(0, true, &mut out);
    out
}

/// One printed step.
struct Step {
    title: String,
    details: Vec<String>,
    rows: f64,
    width: usize,
    startup: f64,
    total: f64,
    children: Vec<Step>,
}

impl Step {
    fn render(&self, depth: usize, top: bool, out: &mut Vec<String>) {
        // Redshift's layout: a child's arrow two columns in from its parent's title.
        let indent = if top {
            String::new()
        } else {
            format!("{}->  ", " ".repeat(2 + (depth - 1) * 6))
        };
        out.push(format!(
            "{indent}{}  (cost={:.2}..{:.2} rows={:.0} width={})",
            self.title, self.startup, self.total, self.rows, self.width
        ));
        let pad = if top {
            "  ".to_string()
        } else {
            " ".repeat(2 + (depth - 1) * 6 + 6)
        };
        for d in &self.details {
            out.push(format!("{pad}{d}"));
        }
        for c in &self.children {
            c.render(depth + 1, false, out);
        }
    }
}

/// The estimated rows a plan returns.
fn rows(plan: &Arc<dyn ExecutionPlan>) -> f64 {
    let context = datafusion::physical_plan::statistics::StatisticsContext::new();
    let args = datafusion::physical_plan::statistics::StatisticsArgs::new();
    match context.compute(plan.as_ref(), &args).map(|s| s.num_rows) {
        Ok(Precision::Exact(n) | Precision::Inexact(n)) => n as f64,
        // Without statistics, as PostgreSQL does: a guess.
        _ => 1000.0,
    }
}

/// Estimated bytes per row.
fn width(schema: &Schema) -> usize {
    schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Boolean | DataType::Int8 | DataType::UInt8 => 1,
            DataType::Int16 | DataType::UInt16 => 2,
            DataType::Int32 | DataType::UInt32 | DataType::Float32 | DataType::Date32 => 4,
            DataType::Decimal128(..) => 16,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 16,
            _ => 8,
        })
        .sum()
}

/// An expression as Redshift users read it: columns by name, without positions.
fn expr_text(expr: &Arc<dyn PhysicalExpr>) -> String {
    let text = operators_shown(expr).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `expr` with the overflow-checked integer functions shown as the operators they
/// stand for (`a + 1`, not `checked_plus(a, 1)`).
fn operators_shown(expr: &Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::physical_expr::ScalarFunctionExpr;
    use datafusion::physical_expr::expressions::BinaryExpr;
    let shown = Arc::clone(expr).transform_up(|e| {
        let operator = e.downcast_ref::<ScalarFunctionExpr>().and_then(|f| {
            let op = blueshift_operators::functions::arithmetic::CHECKED
                .into_iter()
                .find(|op| {
                    blueshift_operators::functions::arithmetic::function_name(*op) == Some(f.name())
                })?;
            match f.args() {
                [a, b] => Some(Arc::new(BinaryExpr::new(Arc::clone(a), op, Arc::clone(b)))
                    as Arc<dyn PhysicalExpr>),
                _ => None,
            }
        });
        Ok(match operator {
            Some(binary) => Transformed::yes(binary),
            None => Transformed::no(e),
        })
    });
    shown.map(|t| t.data).unwrap_or_else(|_| Arc::clone(expr))
}

/// Steps that print nothing of their own: their input shows instead.
fn transparent(plan: &Arc<dyn ExecutionPlan>) -> bool {
    matches!(
        plan.name(),
        "ProjectionExec"
            | "CoalescePartitionsExec"
            | "CoalesceBatchesExec"
            | "RepartitionExec"
            | "CooperativeExec"
            | "DataSinkExec"
    ) || plan.is::<LocalLimitExec>()
}

fn step(plan: &Arc<dyn ExecutionPlan>) -> Step {
    if transparent(plan) && plan.children().len() == 1 {
        return step(plan.children()[0]);
    }
    let rows_out = rows(plan);
    let width_out = width(&plan.schema());
    let mut details = Vec::new();
    let mut blocking = false;
    let (title, children): (String, Vec<Step>) =
        if let Some(remote) = plan.downcast_ref::<RemoteFragmentExec>() {
            details.push("Send to leader".to_string());
            ("XN Network".into(), vec![step(remote.fragment())])
        } else if let Some(delivery) = moved_rows(plan) {
            // Rows sent to the slices: made on the leader (LeaderRowsExec) or sent
            // between the compute nodes (ExchangeExec).
            details.push(match delivery {
                Delivery::Broadcast => "Broadcast to every slice".to_string(),
                Delivery::ByKey { column, .. } => format!(
                    "Distribute to slices by {}",
                    plan.schema().field(*column).name()
                ),
            });
            let input = match plan.downcast_ref::<LeaderRowsExec>() {
                Some(rows) => rows.input(),
                None => plan
                    .downcast_ref::<ExchangeExec>()
                    .and_then(ExchangeExec::producer),
            };
            ("XN Network".into(), input.map(step).into_iter().collect())
        } else if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
            let table = scan
                .table_name
                .rsplit('.')
                .next()
                .unwrap_or(&scan.table_name)
                .to_string();
            (format!("XN Seq Scan on {table}"), vec![])
        } else if let Some(filter) = plan.downcast_ref::<FilterExec>() {
            // A filter shows as a property of the step under it.
            let mut inner = step(filter.input());
            inner
                .details
                .insert(0, format!("Filter: ({})", expr_text(filter.predicate())));
            inner.rows = rows_out;
            inner.width = width_out;
            return inner;
        } else if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
            let conditions: Vec<String> = join
                .on()
                .iter()
                .map(|(l, r)| format!("(\"outer\".{} = \"inner\".{})", expr_text(r), expr_text(l)))
                .collect();
            details.push(format!("Hash Cond: {}", conditions.join(" AND ")));
            if let Some(filter) = join.filter() {
                details.push(format!("Join Filter: ({})", expr_text(filter.expression())));
            }
            let label = join_label(plan, join);
            // Redshift's outer input is the one probed; the inner one is hashed.
            let inner = step(join.left());
            let hash = Step {
                title: "XN Hash".into(),
                details: vec![],
                rows: inner.rows,
                width: inner.width,
                startup: inner.total,
                total: inner.total,
                children: vec![inner],
            };
            (
                format!("XN Hash {}{label}", join_kind(join.join_type())),
                vec![step(join.right()), hash],
            )
        } else if plan.is::<NestedLoopJoinExec>() || plan.is::<CrossJoinExec>() {
            let children = plan.children();
            (
                "XN Nested Loop DS_BCAST_INNER".into(),
                children.iter().rev().map(|c| step(c)).collect(),
            )
        } else if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
            (
                format!("XN Merge {}DS_DIST_BOTH", join_kind(&join.join_type())),
                plan.children().iter().map(|c| step(c)).collect(),
            )
        } else if let Some(aggregate) = plan.downcast_ref::<AggregateExec>() {
            blocking = true;
            if *aggregate.mode() == AggregateMode::Partial {
                details.push("Partial: each slice, before the rows move".to_string());
            }
            let title = if aggregate.group_expr().expr().is_empty() {
                "XN Aggregate"
            } else {
                "XN HashAggregate"
            };
            (title.into(), vec![step(aggregate.input())])
        } else if let Some(sort) = plan.downcast_ref::<SortExec>() {
            blocking = true;
            details.push(format!("Sort Key: {}", sort_keys(sort.expr().iter())));
            ("XN Sort".into(), vec![step(sort.input())])
        } else if let Some(merge) = plan.downcast_ref::<SortPreservingMergeExec>() {
            details.push(format!("Merge Key: {}", sort_keys(merge.expr().iter())));
            ("XN Merge".into(), vec![step(merge.input())])
        } else if plan.is::<GlobalLimitExec>() {
            ("XN Limit".into(), vec![step(plan.children()[0])])
        } else {
            let name = plan.name().trim_end_matches("Exec");
            let title = match name {
                "Union" | "InterleaveExec" => "Append".to_string(),
                "BoundedWindowAgg" | "WindowAgg" => "Window".to_string(),
                other => other.to_string(),
            };
            (
                format!("XN {title}"),
                plan.children().iter().map(|c| step(c)).collect(),
            )
        };
    let below: f64 = children.iter().map(|c| c.total).sum();
    let step = Step {
        title,
        details,
        rows: rows_out,
        width: width_out,
        startup: if blocking { below } else { 0.0 },
        total: below + rows_out,
        children,
    };
    // A sort or merge that stops after n rows is Redshift's Limit over it (a sort
    // per partition only shortens its partition's rows: no step of its own).
    let fetch = plan
        .downcast_ref::<SortExec>()
        .filter(|s| !s.preserve_partitioning())
        .and_then(SortExec::fetch)
        .or_else(|| {
            plan.downcast_ref::<SortPreservingMergeExec>()
                .and_then(|m| m.fetch())
        });
    match fetch {
        Some(_) => Step {
            title: "XN Limit".into(),
            details: vec![],
            rows: step.rows,
            width: step.width,
            startup: step.startup,
            total: step.total,
            children: vec![step],
        },
        None => step,
    }
}

fn sort_keys<'a>(
    exprs: impl Iterator<Item = &'a datafusion::physical_expr::PhysicalSortExpr>,
) -> String {
    exprs
        .map(|e| {
            let name = expr_text(&e.expr);
            if e.options.descending {
                format!("{name} DESC")
            } else {
                name
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's name for the join, outer (probed) input first: DataFusion's left
/// input is the hashed, inner one.
fn join_kind(join_type: &JoinType) -> &'static str {
    match join_type {
        JoinType::Inner => "Join ",
        JoinType::Left => "Right Join ",
        JoinType::Right => "Left Join ",
        JoinType::Full => "Full Join ",
        JoinType::LeftSemi => "Right Semi Join ",
        JoinType::RightSemi => "Semi Join ",
        JoinType::LeftAnti => "Right Anti Join ",
        JoinType::RightAnti => "Anti Join ",
        JoinType::LeftMark | JoinType::RightMark => "Mark Join ",
    }
}

/// How the join's inputs reach it. Joins on the compute nodes moved nothing; the
/// others run on the leader after their inputs were brought together there.
fn join_label(plan: &Arc<dyn ExecutionPlan>, join: &HashJoinExec) -> String {
    if let Some(how) = locality::join_distribution(plan) {
        return how.to_string();
    }
    let moved = |c: &Arc<dyn ExecutionPlan>| c.is::<RepartitionExec>();
    match join.partition_mode() {
        PartitionMode::Partitioned => match (moved(join.left()), moved(join.right())) {
            (true, true) => "DS_DIST_BOTH".into(),
            (true, false) => "DS_DIST_INNER".into(),
            (false, true) => "DS_DIST_OUTER".into(),
            (false, false) => "DS_DIST_NONE".into(),
        },
        _ => "DS_BCAST_INNER".into(),
    }
}
