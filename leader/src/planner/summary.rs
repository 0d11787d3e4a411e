//! SVL_QUERY_SUMMARY: what each step of a query did, per segment.
//!
//! Each fragment that ran on the compute nodes is a segment (numbered in plan order
//! from 0); its steps are the fragment's operators, bottom first, with rows and bytes
//! summed over the slices and the slowest and average slice's time, and a last
//! `return` step: the rows and bytes (on the wire) the slices sent to the leader.
//! The steps that ran on the leader make the last segment.

use std::sync::Arc;

use blueshift_operators::exchange::ExchangeExec;
use blueshift_operators::steps::{step_label, step_stats};
use blueshift_proto::StepStats;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::ExecutionPlan;

use crate::planner::fragment::RemoteFragmentExec;
use crate::query_log::steps::{SliceReport, SummaryRow};

/// The nodes of `plan`, bottom first, numbered as [`step_stats`] numbers steps.
fn post_order(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut out = Vec::new();
    for child in plan.children() {
        out.extend(post_order(child));
    }
    out.push(Arc::clone(plan));
    out
}

/// A fragment's slices' reports, the steps of the leader's copy of it, and whether
/// its rows went to the leader.
type Segment = (Vec<SliceReport>, Vec<Arc<dyn ExecutionPlan>>, bool);

/// The summary of `plan`, which has run.
/// Its rows carry no query or user yet: the query log sets them.
pub fn summarize(plan: &Arc<dyn ExecutionPlan>) -> Vec<SummaryRow> {
    let mut fragments: Vec<Segment> = Vec::new();
    let _ = plan.apply(|node| {
        if let Some(remote) = node.downcast_ref::<RemoteFragmentExec>() {
            let stats = remote.stats();
            // The fragments whose rows came through its exchanges, as segments before it.
            let mut producers = vec![Arc::clone(remote.fragment())];
            while let Some(fragment) = producers.pop() {
                for exchange in ExchangeExec::find_all(&fragment) {
                    if let Some(producer) = exchange.producer() {
                        fragments.push((
                            stats.exchange_reports(exchange.id),
                            post_order(producer),
                            false,
                        ));
                        producers.push(Arc::clone(producer));
                    }
                }
            }
            fragments.push((stats.reports(), post_order(remote.fragment()), true));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let row = |segment: u32, step: u32, label: String| SummaryRow {
        query_id: 0,
        user_id: 0,
        segment,
        step,
        max_micros: 0,
        avg_micros: 0,
        rows: 0,
        bytes: 0,
        label,
        spilled: false,
        workmem: 0,
        is_rrscan: false,
        rows_pre_filter: 0,
    };
    let mut out = Vec::new();
    for (segment, (reports, nodes, returns)) in fragments.iter().enumerate() {
        let segment = segment as u32;
        let Some(first) = reports.first() else {
            continue;
        };
        let slices = reports.len() as u64;
        for (i, shape) in first.steps.iter().enumerate() {
            let steps: Vec<&StepStats> = reports.iter().filter_map(|r| r.steps.get(i)).collect();
            let mut r = row(segment, i as u32, step_label(shape, nodes.get(i)));
            r.rows = steps.iter().map(|s| s.rows).sum();
            r.bytes = steps.iter().map(|s| s.bytes).sum();
            r.max_micros = steps.iter().map(|s| s.micros).max().unwrap_or(0);
            r.avg_micros = steps.iter().map(|s| s.micros).sum::<u64>() / slices;
            r.spilled = steps.iter().any(|s| s.spilled);
            r.workmem = steps.iter().map(|s| s.peak_memory_bytes).max().unwrap_or(0);
            r.is_rrscan = steps.iter().any(|s| s.is_rrscan);
            r.rows_pre_filter = steps.iter().map(|s| s.rows_pre_filter).sum();
            out.push(r);
        }
        if !returns {
            // Its rows went to another fragment's exchange, which counts them.
            continue;
        }
        // The rows the fragment's top step made went to the leader.
        let mut sent = row(segment, first.steps.len() as u32, "return".into());
        sent.rows = reports
            .iter()
            .filter_map(|r| r.steps.last())
            .map(|s| s.rows)
            .sum();
        sent.bytes = reports.iter().map(|r| r.wire_bytes).sum();
        out.push(sent);
    }
    let leader_segment = fragments.len() as u32;
    let leader_steps = step_stats(plan)
        .into_iter()
        .filter(|s| s.operator != "RemoteFragmentExec");
    for (i, s) in leader_steps.enumerate() {
        let mut r = row(leader_segment, i as u32, step_label(&s, None));
        r.rows = s.rows;
        r.bytes = s.bytes;
        r.max_micros = s.micros;
        r.avg_micros = s.micros;
        r.spilled = s.spilled;
        r.workmem = s.peak_memory_bytes;
        out.push(r);
    }
    out
}
