//! SVL_QUERY_SUMMARY: what each step of a query did, per segment.
//!
//! Each fragment that ran on the compute nodes is a segment (numbered in plan order
//! from 0); its steps are the fragment's operators, bottom first, with rows and bytes
//! summed over the slices and the slowest and average slice's time, and a last
//! `return` step: the rows and bytes (on the wire) the slices sent to the leader.
//! The steps that ran on the leader make the last segment.

use std::sync::{Arc, Mutex};

use blueshift_compute::exchange::ExchangeExec;
use blueshift_compute::steps::step_stats;
use blueshift_proto::{ExchangeSteps, StepStats};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_plan::ExecutionPlan;

use blueshift_compute::leader_rows::{Delivery, moved_rows};

use crate::fragment::RemoteFragmentExec;

/// The nodes of `plan`, bottom first, numbered as [`step_stats`] numbers steps.
fn post_order(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut out = Vec::new();
    for child in plan.children() {
        out.extend(post_order(child));
    }
    out.push(Arc::clone(plan));
    out
}

/// One row of SVL_QUERY_SUMMARY.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub query_id: u64,
    pub user_id: i32,
    pub segment: u32,
    pub step: u32,
    /// Microseconds: the slowest slice's time, and the average over slices.
    pub max_micros: u64,
    pub avg_micros: u64,
    pub rows: u64,
    pub bytes: u64,
    pub label: String,
    pub spilled: bool,
    /// The most memory the step held at once on one slice (on the leader: over all
    /// its partitions), in bytes.
    pub workmem: u64,
    pub is_rrscan: bool,
    pub rows_pre_filter: u64,
}

/// What one fragment's slices reported, gathered as their streams end.
#[derive(Debug, Default)]
pub struct FragmentStats {
    slices: Mutex<Vec<SliceReport>>,
    /// What the producers of the fragment's exchanges (and of theirs) reported, per
    /// producing node.
    exchanges: Mutex<Vec<ExchangeSteps>>,
}

#[derive(Clone, Debug)]
struct SliceReport {
    steps: Vec<StepStats>,
    /// Bytes the slice's stream carried to the leader (Flight headers and bodies).
    wire_bytes: u64,
}

impl FragmentStats {
    /// Records a slice's steps and the bytes it sent.
    pub fn record(&self, steps: Vec<StepStats>, wire_bytes: u64) {
        self.slices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(SliceReport { steps, wire_bytes });
    }

    /// Records what the producers of the fragment's exchanges reported.
    pub fn record_exchanges(&self, steps: Vec<ExchangeSteps>) {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(steps);
    }

    /// The producing nodes' reports for exchange `id`.
    fn exchange_reports(&self, id: u32) -> Vec<SliceReport> {
        self.exchanges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e.id == id)
            .map(|e| SliceReport {
                steps: e.steps.clone(),
                wire_bytes: 0,
            })
            .collect()
    }

    fn reports(&self) -> Vec<SliceReport> {
        self.slices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Redshift's label for a step; `node` is the leader's copy of it, where known.
pub(crate) fn label(step: &StepStats, node: Option<&Arc<dyn ExecutionPlan>>) -> String {
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

/// A fragment's slices' reports, the steps of the leader's copy of it, and whether
/// its rows went to the leader.
type Segment = (Vec<SliceReport>, Vec<Arc<dyn ExecutionPlan>>, bool);

/// The summary of `plan`, which has run.
pub fn summarize(plan: &Arc<dyn ExecutionPlan>, query_id: u64, user_id: i32) -> Vec<SummaryRow> {
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
        query_id,
        user_id,
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
            let mut r = row(segment, i as u32, label(shape, nodes.get(i)));
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
        let mut r = row(leader_segment, i as u32, label(&s, None));
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
