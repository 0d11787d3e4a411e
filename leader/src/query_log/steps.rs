//! What the steps of a query did: each fragment's slices' reports as they arrive
//! ([`FragmentStats`]), and the rows of SVL_QUERY_SUMMARY made from them
//! ([`SummaryRow`]).

use std::sync::Mutex;

use blueshift_proto::{ExchangeSteps, StepStats};

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
pub struct SliceReport {
    pub steps: Vec<StepStats>,
    /// Bytes the slice's stream carried to the leader (Flight headers and bodies).
    pub wire_bytes: u64,
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
    pub fn exchange_reports(&self, id: u32) -> Vec<SliceReport> {
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

    pub fn reports(&self) -> Vec<SliceReport> {
        self.slices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
