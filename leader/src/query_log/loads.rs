//! [`LoadLog`]: what COPY statements loaded and rejected, behind STL_LOAD_COMMITS,
//! STL_LOAD_ERRORS and STV_LOAD_STATE. Kept in memory, like the query log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use blueshift_proto::{LoadErrorRecord, LoadFileStats};

/// Rejected rows kept (the most recent ones).
pub const LOAD_ERROR_CAPACITY: usize = 100_000;
/// Loaded files kept.
pub const LOAD_COMMIT_CAPACITY: usize = 100_000;

/// A row of STL_LOAD_ERRORS.
#[derive(Clone, Debug)]
pub struct LoadErrorRow {
    pub query_id: u64,
    pub user_id: i32,
    pub error: LoadErrorRecord,
}

/// A row of STL_LOAD_COMMITS: one file of a finished COPY.
#[derive(Clone, Debug)]
pub struct LoadCommitRow {
    pub query_id: u64,
    pub user_id: i32,
    pub file: LoadFileStats,
    /// 1 when the COPY committed, 0 when it did not.
    pub status: i32,
    pub file_format: String,
}

/// A file of a COPY still running (STV_LOAD_STATE).
#[derive(Clone, Debug)]
pub struct RunningLoad {
    pub query_id: u64,
    pub user_id: i32,
    pub file: LoadFileStats,
}

/// A running COPY's files by (slice, url, offset of the part), with its user.
type RunningFiles = (i32, BTreeMap<(u32, String, u64), LoadFileStats>);

#[derive(Debug, Default)]
struct State {
    /// Query → the file's latest progress.
    running: HashMap<u64, RunningFiles>,
    commits: VecDeque<LoadCommitRow>,
    errors: VecDeque<LoadErrorRow>,
}

/// The log.
#[derive(Debug, Default)]
pub struct LoadLog {
    state: Mutex<State>,
}

impl LoadLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a fragment's progress report and rejected rows.
    pub fn record(
        &self,
        query_id: u64,
        user_id: i32,
        files: Vec<LoadFileStats>,
        errors: Vec<LoadErrorRecord>,
    ) {
        let mut state = self.lock();
        let running = &mut state
            .running
            .entry(query_id)
            .or_insert_with(|| (user_id, BTreeMap::new()))
            .1;
        for file in files {
            running.insert((file.slice, file.url.clone(), file.offset), file);
        }
        for error in errors {
            if state.errors.len() >= LOAD_ERROR_CAPACITY {
                state.errors.pop_front();
            }
            state.errors.push_back(LoadErrorRow {
                query_id,
                user_id,
                error,
            });
        }
    }

    /// The files of a running COPY as last reported.
    pub fn files_of(&self, query_id: u64) -> Vec<LoadFileStats> {
        self.lock()
            .running
            .get(&query_id)
            .map(|(_, files)| files.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Rows rejected by `query_id`.
    pub fn errors_of(&self, query_id: u64) -> Vec<LoadErrorRecord> {
        self.lock()
            .errors
            .iter()
            .filter(|e| e.query_id == query_id)
            .map(|e| e.error.clone())
            .collect()
    }

    /// Forgets what the COPY `query_id` has loaded and rejected so far: it starts
    /// again.
    pub fn forget(&self, query_id: u64) {
        let mut state = self.lock();
        state.running.remove(&query_id);
        state.errors.retain(|e| e.query_id != query_id);
    }

    /// The COPY `query_id` ended: its files move to STL_LOAD_COMMITS.
    pub fn finish(&self, query_id: u64, committed: bool, file_format: &str) {
        let mut state = self.lock();
        let Some((user_id, files)) = state.running.remove(&query_id) else {
            return;
        };
        for file in files.into_values() {
            if state.commits.len() >= LOAD_COMMIT_CAPACITY {
                state.commits.pop_front();
            }
            state.commits.push_back(LoadCommitRow {
                query_id,
                user_id,
                file,
                status: i32::from(committed),
                file_format: file_format.to_string(),
            });
        }
    }

    pub fn commits(&self) -> Vec<LoadCommitRow> {
        self.lock().commits.iter().cloned().collect()
    }

    pub fn errors(&self) -> Vec<LoadErrorRow> {
        self.lock().errors.iter().cloned().collect()
    }

    pub fn running(&self) -> Vec<RunningLoad> {
        self.lock()
            .running
            .iter()
            .flat_map(|(&query_id, (user_id, files))| {
                files.values().map(move |file| RunningLoad {
                    query_id,
                    user_id: *user_id,
                    file: file.clone(),
                })
            })
            .collect()
    }
}
