//! [`QueryLog`]: the leader's record of recent statements, behind STL_QUERY and
//! SYS_QUERY_HISTORY. It is kept in memory (the most recent [`QUERY_LOG_CAPACITY`]
//! statements) and starts empty when the leader starts. [`loads`] keeps COPY's files
//! and rejected rows (STL_LOAD_COMMITS, STL_LOAD_ERRORS), [`steps`] what each step of
//! a query did (SVL_QUERY_SUMMARY). The log only records: it knows no plans.

pub mod loads;
pub mod steps;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

/// Statements kept.
pub const QUERY_LOG_CAPACITY: usize = 10_000;

/// How a statement ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryStatus {
    Running,
    Success,
    Failed,
    Canceled,
}

impl QueryStatus {
    /// SYS_QUERY_HISTORY's word for it.
    pub fn name(self) -> &'static str {
        match self {
            QueryStatus::Running => "running",
            QueryStatus::Success => "success",
            QueryStatus::Failed => "failed",
            QueryStatus::Canceled => "canceled",
        }
    }
}

/// One statement.
#[derive(Clone, Debug)]
pub struct QueryRecord {
    pub query_id: u64,
    pub user_id: i32,
    pub pid: i32,
    pub label: String,
    pub text: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub status: QueryStatus,
    pub returned_rows: u64,
    pub error: Option<String>,
}

/// The log.
#[derive(Debug, Default)]
pub struct QueryLog {
    next_id: AtomicU64,
    records: Mutex<VecDeque<QueryRecord>>,
    scans: Mutex<VecDeque<ScanRecord>>,
    summaries: Mutex<VecDeque<steps::SummaryRow>>,
    /// COPY's files and rejected rows.
    pub loads: loads::LoadLog,
    /// WLM, whose queues and history the STV_WLM_ and STL_WLM_ tables show (set once
    /// by the engine).
    pub wlm: std::sync::OnceLock<Arc<crate::engine::admission::QueryGate>>,
}

/// Steps kept for SVL_QUERY_SUMMARY (the most recent ones).
pub const SUMMARY_LOG_CAPACITY: usize = 100_000;

/// Scans kept for STL_SCAN (the most recent ones).
pub const SCAN_LOG_CAPACITY: usize = 100_000;

/// One slice scan of one query (a row of STL_SCAN).
#[derive(Clone, Debug)]
pub struct ScanRecord {
    pub query_id: u64,
    pub user_id: i32,
    pub stats: blueshift_proto::ScanStats,
}

/// The logged query a statement's execution belongs to: a DataFusion session-config
/// extension, so that fragments can record their scans against it.
#[derive(Debug)]
pub struct QueryScope {
    pub query_id: u64,
    pub user_id: i32,
    pub log: Arc<QueryLog>,
    /// The query's working-memory budget (its WLM grant), in bytes.
    pub memory_bytes: u64,
}

impl QueryScope {
    /// Records what a load fragment partition reported.
    pub fn record_load(
        &self,
        files: Vec<blueshift_proto::LoadFileStats>,
        errors: Vec<blueshift_proto::LoadErrorRecord>,
    ) {
        if !files.is_empty() || !errors.is_empty() {
            self.log
                .loads
                .record(self.query_id, self.user_id, files, errors);
        }
    }

    /// Records the scans a fragment partition reported.
    pub fn record_scans(&self, scans: Vec<blueshift_proto::ScanStats>) {
        let mut log = self.log.scans.lock().unwrap_or_else(|e| e.into_inner());
        for stats in scans {
            if log.len() >= SCAN_LOG_CAPACITY {
                log.pop_front();
            }
            log.push_back(ScanRecord {
                query_id: self.query_id,
                user_id: self.user_id,
                stats,
            });
        }
    }
}

/// A running statement's entry; dropping it unfinished records it as canceled.
#[derive(Debug)]
pub struct QueryEntry {
    log: Arc<QueryLog>,
    query_id: u64,
    rows: u64,
    done: bool,
}

impl QueryLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<QueryRecord>> {
        // Records are plain data; a panic elsewhere leaves them usable.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a statement that starts now.
    pub fn start(self: &Arc<Self>, user_id: i32, pid: i32, label: &str, text: &str) -> QueryEntry {
        let query_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut records = self.lock();
        if records.len() >= QUERY_LOG_CAPACITY {
            records.pop_front();
        }
        records.push_back(QueryRecord {
            query_id,
            user_id,
            pid,
            label: label.to_string(),
            text: text.to_string(),
            start: Utc::now(),
            end: None,
            status: QueryStatus::Running,
            returned_rows: 0,
            error: None,
        });
        QueryEntry {
            log: Arc::clone(self),
            query_id,
            rows: 0,
            done: false,
        }
    }

    /// The steps of the queries recorded for SVL_QUERY_SUMMARY, oldest first.
    pub fn summaries(&self) -> Vec<steps::SummaryRow> {
        self.summaries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Rows the finished scans of statement `query_id` returned.
    pub fn scanned_rows(&self, query_id: u64) -> u64 {
        self.scans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .rev()
            .filter(|s| s.query_id == query_id)
            .map(|s| s.stats.rows)
            .sum()
    }

    /// Rows statement `query_id` has sent so far.
    pub fn returned_rows(&self, query_id: u64) -> Option<u64> {
        self.lock()
            .iter()
            .rev()
            .find(|r| r.query_id == query_id)
            .map(|r| r.returned_rows)
    }

    /// Identifies statement `query_id`'s text (whitespace and case aside), so WLM can
    /// predict a statement's run time from its earlier runs.
    pub fn fingerprint(&self, query_id: u64) -> u64 {
        use std::hash::{Hash, Hasher};
        let records = self.lock();
        let Some(r) = records.iter().rev().find(|r| r.query_id == query_id) else {
            return 0;
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for word in r.text.split_whitespace() {
            word.to_lowercase().hash(&mut hasher);
        }
        hasher.finish()
    }

    /// A copy of the records, oldest first.
    pub fn records(&self) -> Vec<QueryRecord> {
        self.lock().iter().cloned().collect()
    }

    /// The recorded scans, oldest first.
    pub fn scans(&self) -> Vec<ScanRecord> {
        self.scans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn finish(&self, query_id: u64, status: QueryStatus, rows: u64, error: Option<String>) {
        let mut records = self.lock();
        if let Some(r) = records.iter_mut().rev().find(|r| r.query_id == query_id) {
            r.end = Some(Utc::now());
            r.status = status;
            r.returned_rows = rows;
            r.error = error;
        }
    }
}

impl QueryEntry {
    /// The statement's query id.
    pub fn query_id(&self) -> u64 {
        self.query_id
    }

    /// Records what each step of the statement did (its SVL_QUERY_SUMMARY rows; their
    /// query and user are set here).
    pub fn record_steps(&self, mut rows: Vec<steps::SummaryRow>) {
        let user_id = self
            .log
            .lock()
            .iter()
            .rev()
            .find(|r| r.query_id == self.query_id)
            .map_or(0, |r| r.user_id);
        for row in &mut rows {
            row.query_id = self.query_id;
            row.user_id = user_id;
        }
        let mut log = self.log.summaries.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows {
            if log.len() >= SUMMARY_LOG_CAPACITY {
                log.pop_front();
            }
            log.push_back(row);
        }
    }

    /// Counts rows sent to the client (the record shows them as they go, for WLM's
    /// return_row_count).
    pub fn add_rows(&mut self, rows: u64) {
        self.rows += rows;
        if let Some(r) = self
            .log
            .lock()
            .iter_mut()
            .rev()
            .find(|r| r.query_id == self.query_id)
        {
            r.returned_rows = self.rows;
        }
    }

    /// The statement succeeded.
    pub fn succeed(mut self) {
        self.done = true;
        self.log
            .finish(self.query_id, QueryStatus::Success, self.rows, None);
    }

    /// The statement failed with `error` (canceled when it was a cancel or timeout).
    pub fn fail(mut self, error: &str, canceled: bool) {
        self.done = true;
        let status = if canceled {
            QueryStatus::Canceled
        } else {
            QueryStatus::Failed
        };
        self.log
            .finish(self.query_id, status, self.rows, Some(error.to_string()));
    }
}

impl Drop for QueryEntry {
    fn drop(&mut self) {
        if !self.done {
            self.log.finish(
                self.query_id,
                QueryStatus::Canceled,
                self.rows,
                Some("the client stopped reading the results".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_recorded_with_their_outcome() {
        let log = Arc::new(QueryLog::default());
        let mut a = log.start(100, 7, "default", "select 1");
        a.add_rows(1);
        a.succeed();
        log.start(100, 7, "default", "select x")
            .fail("no such column", false);
        drop(log.start(100, 7, "etl", "select big"));
        let r = log.records();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].query_id, r[0].status, r[0].returned_rows),
            (1, QueryStatus::Success, 1)
        );
        assert_eq!(r[1].status, QueryStatus::Failed);
        assert_eq!(
            (r[2].status, r[2].label.as_str()),
            (QueryStatus::Canceled, "etl")
        );
    }
}
