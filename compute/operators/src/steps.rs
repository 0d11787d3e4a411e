//! What each step (operator) of an executed plan did, for SVL_QUERY_SUMMARY, and
//! Redshift's name for each step.

use std::sync::Arc;

use blueshift_proto::StepStats;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;

use crate::SliceScanExec;
use crate::delivery::Delivery;
use crate::leader_rows::moved_rows;

/// The steps of `plan` after it ran, bottom step first (post-order), numbered from
/// 0. For a scan, the bytes are the compressed bytes it read (as STL_SCAN's).
pub fn step_stats(plan: &Arc<dyn ExecutionPlan>) -> Vec<StepStats> {
    let mut steps = Vec::new();
    collect(plan, &mut steps);
    steps
}

fn collect(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<StepStats>) {
    for child in plan.children() {
        collect(child, out);
    }
    let metrics = plan.metrics();
    let sum = |pick: fn(&MetricValue) -> bool| {
        metrics
            .as_ref()
            .and_then(|m| m.sum(|metric| pick(metric.value())))
            .map_or(0, |v| v.as_usize() as u64)
    };
    let mut stats = StepStats {
        step: out.len() as u32,
        operator: plan.name().to_string(),
        rows: sum(|v| matches!(v, MetricValue::OutputRows(_))),
        bytes: sum(|v| matches!(v, MetricValue::OutputBytes(_))),
        micros: sum(|v| matches!(v, MetricValue::ElapsedCompute(_))) / 1000,
        spilled: sum(|v| matches!(v, MetricValue::SpillCount(_))) > 0,
        peak_memory_bytes: sum(|v| matches!(v, MetricValue::PeakMemoryUsage { .. })),
        ..StepStats::default()
    };
    if let Some(broadcast) = plan.downcast_ref::<crate::leader_rows::LeaderRowsExec>() {
        (stats.rows, stats.bytes) = broadcast.size();
    }
    if let Some(exchange) = plan.downcast_ref::<crate::exchange::ExchangeExec>() {
        (stats.rows, stats.bytes) = exchange.size();
    }
    if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
        let report = scan.report();
        stats.table_id = scan.table_id;
        stats.table_name = scan.table_name.clone();
        stats.rows = report.rows;
        stats.bytes = report.bytes;
        stats.micros = (report.end_micros - report.start_micros).max(0) as u64;
        stats.rows_pre_filter = report.rows_pre_filter;
        stats.is_rrscan = report.is_rrscan;
    }
    out.push(stats);
}

/// Redshift's label for a step; `node` is the leader's copy of it, where known.
pub fn step_label(step: &StepStats, node: Option<&Arc<dyn ExecutionPlan>>) -> String {
    if let Some(delivery) = node.and_then(moved_rows) {
        // Rows moved to the slices: to every slice, or each to its key's slice.
        return match delivery {
            Delivery::Broadcast => "bcast".into(),
            Delivery::ByKey { .. } => "dist".into(),
        };
    }
    let name = match step.operator.as_str() {
        "SliceScanExec" => {
            // Redshift names the table without its schema.
            let table = step.table_name.rsplit('.').next().unwrap_or_default();
            return format!("scan   tbl={} name={table}", step.table_id);
        }
        "HashJoinExec" => "hjoin",
        "NestedLoopJoinExec" | "CrossJoinExec" => "nloop",
        "SortMergeJoinExec" => "mjoin",
        "AggregateExec" => "aggr",
        "SortExec" => "sort",
        "SortPreservingMergeExec" | "CoalescePartitionsExec" => "merge",
        "GlobalLimitExec" | "LocalLimitExec" => "limit",
        "ProjectionExec" => "project",
        "FilterExec" => "filter",
        "RepartitionExec" => "repart",
        "UnionExec" | "InterleaveExec" => "append",
        "BoundedWindowAggExec" | "WindowAggExec" => "window",
        other => return other.trim_end_matches("Exec").to_lowercase(),
    };
    name.to_string()
}
