//! What each step (operator) of an executed plan did, for SVL_QUERY_SUMMARY.

use std::sync::Arc;

use blueshift_proto::StepStats;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;

use crate::SliceScanExec;

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
