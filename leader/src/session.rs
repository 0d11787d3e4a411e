//! Per-connection state: who is connected and the session's settings (SET/SHOW).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::error::LeaderError;

/// The database name: a cluster has one database, `dev`.
pub const DATABASE: &str = "dev";

/// The server version reported to clients. PostgreSQL 15 catalog queries (psql 15's
/// `\d`) are what the catalog emulation answers, so Blueshift reports 15.0 rather
/// than Redshift's 8.0.2; `version()` names Blueshift.
pub const SERVER_VERSION: &str = "15.0";

/// Settings a session can SET and SHOW, with their defaults (Redshift's).
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("describe_field_name_in_uppercase", "off"),
    ("enable_case_sensitive_identifier", "off"),
    ("enable_collocated_joins", "on"),
    ("enable_result_cache_for_session", "on"),
    ("extra_float_digits", "0"),
    ("intervalstyle", "postgres"),
    ("max_cursor_result_set_size", "default"),
    ("query_group", "default"),
    ("search_path", "$user, public"),
    ("server_encoding", "UTF8"),
    ("server_version", SERVER_VERSION),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("timezone", "UTC"),
    ("wlm_query_slot_count", "1"),
];

/// Settings that are reported but cannot be changed.
const READ_ONLY: &[&str] = &["server_encoding", "server_version"];

/// One connection's session.
#[derive(Debug)]
pub struct Session {
    /// The authenticated user.
    pub user: String,
    /// The backend process id the client was given (the query log's pid).
    pub pid: i32,
    settings: Mutex<BTreeMap<String, String>>,
    /// The token of the statements starting now: a cancel request cancels it and puts
    /// a fresh one in its place, so it stops what runs and nothing that starts later.
    cancel: Mutex<CancellationToken>,
    /// The query-log id of the statement running now (0: none), for STL_SCAN.
    current_query: AtomicU64,
    /// Inside BEGIN ... COMMIT/ROLLBACK, and whether a statement in it changed data or
    /// the catalog (each statement commits on its own, so a ROLLBACK cannot undo it).
    transaction: Mutex<Option<bool>>,
    /// The query id of the session's last COPY (`pg_last_copy_id()`).
    last_copy: AtomicU64,
    /// The query id of the session's last logged statement (`pg_last_query_id()`).
    last_query: AtomicU64,
    /// A COPY FROM STDIN waiting for the client's data.
    copy_in: std::sync::Mutex<Option<CopyIn>>,
}

/// A COPY FROM STDIN in progress: where the client's bytes go, and the load that
/// reads them and ends with the rows committed.
#[derive(Debug)]
pub struct CopyIn {
    pub data: tokio::sync::mpsc::Sender<bytes::Bytes>,
    pub load: tokio::task::JoinHandle<Result<u64, LeaderError>>,
}

fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "time zone" | "time_zone" => "timezone".to_string(),
        _ => lower,
    }
}

impl Session {
    /// A new session of `user` on backend `pid`, with default settings.
    pub fn new(user: &str, pid: i32) -> Self {
        Session {
            user: user.to_string(),
            pid,
            settings: Mutex::new(
                DEFAULT_SETTINGS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            cancel: Mutex::new(CancellationToken::new()),
            current_query: AtomicU64::new(0),
            transaction: Mutex::new(None),
            last_query: AtomicU64::new(0),
            last_copy: AtomicU64::new(0),
            copy_in: std::sync::Mutex::new(None),
        }
    }

    /// The user's id in system tables. The bootstrap superuser is the only user so
    /// far; it has id 100, the id Redshift gives the first user it creates.
    pub fn user_id(&self) -> i32 {
        100
    }

    /// BEGIN: a transaction block starts (a second BEGIN keeps the first's).
    pub fn begin_block(&self) {
        let mut block = self.transaction.lock().unwrap_or_else(|e| e.into_inner());
        block.get_or_insert(false);
    }

    /// A statement that changes data or the catalog runs: inside a block, ROLLBACK can
    /// no longer take the block back.
    pub fn note_change(&self) {
        let mut block = self.transaction.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(changed) = block.as_mut() {
            *changed = true;
        }
    }

    /// COMMIT or ROLLBACK: the block ends; returns whether a statement in it changed
    /// anything.
    pub fn end_block(&self) -> bool {
        let mut block = self.transaction.lock().unwrap_or_else(|e| e.into_inner());
        block.take().unwrap_or(false)
    }

    /// Records which logged statement the session runs now.
    pub fn set_current_query(&self, query_id: u64) {
        self.current_query.store(query_id, Ordering::Relaxed);
        if query_id != 0 {
            self.last_query.store(query_id, Ordering::Relaxed);
        }
    }

    /// `pg_last_query_id()` while a statement is planned: the session's previous
    /// logged statement, or -1 when it ran none.
    pub fn last_query_id(&self) -> i64 {
        match self.last_query.load(Ordering::Relaxed) {
            0 => -1,
            id => id as i64,
        }
    }

    /// Starts a COPY FROM STDIN.
    pub fn start_copy_in(&self, copy: CopyIn) {
        let previous = self
            .copy_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(copy);
        if let Some(old) = previous {
            old.load.abort();
        }
    }

    /// Where the running COPY FROM STDIN takes data.
    pub fn copy_in_data(&self) -> Option<tokio::sync::mpsc::Sender<bytes::Bytes>> {
        self.copy_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.data.clone())
    }

    /// Ends the running COPY FROM STDIN, if any.
    pub fn take_copy_in(&self) -> Option<CopyIn> {
        self.copy_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Records the query id of a COPY the session ran.
    pub fn set_last_copy_id(&self, query_id: u64) {
        self.last_copy.store(query_id, Ordering::Relaxed);
    }

    /// `pg_last_copy_id()`: the session's last COPY, or -1 when it ran none.
    pub fn last_copy_id(&self) -> i64 {
        match self.last_copy.load(Ordering::Relaxed) {
            0 => -1,
            id => id as i64,
        }
    }

    /// The logged statement the session runs now, if any.
    pub fn current_query(&self) -> Option<u64> {
        match self.current_query.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    /// Cancels whatever statement the session is running.
    pub fn cancel(&self) {
        let mut current = self.cancel.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *current).cancel();
    }

    /// The token of a statement starting now: cancelled by the next cancel request.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A poisoned lock only means another thread panicked mid-update of a map of
        // strings; the map itself is still usable.
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `SHOW name`.
    pub fn show(&self, name: &str) -> Result<String, LeaderError> {
        let name = canonical(name);
        self.settings()
            .get(&name)
            .cloned()
            .ok_or(LeaderError::UnknownSetting(name))
    }

    /// `SHOW ALL`: every setting, sorted by name.
    pub fn show_all(&self) -> Vec<(String, String)> {
        self.settings()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `SET name TO value`.
    pub fn set(&self, name: &str, value: &str) -> Result<(), LeaderError> {
        let name = canonical(name);
        let mut settings = self.settings();
        if !settings.contains_key(&name) && !name.contains('.') {
            return Err(LeaderError::UnknownSetting(name));
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(LeaderError::InvalidParameter(format!(
                "parameter \"{name}\" cannot be changed"
            )));
        }
        if name == "wlm_query_slot_count" {
            match value.parse::<u32>() {
                Ok(n) if (1..=50).contains(&n) => {}
                _ => {
                    return Err(LeaderError::InvalidParameter(format!(
                        "invalid value for parameter \"wlm_query_slot_count\": \"{value}\" (1 to 50)"
                    )));
                }
            }
        }
        if name.starts_with("datafusion.")
            && let Err(e) = datafusion::config::ConfigOptions::new().set(&name, value)
        {
            return Err(LeaderError::InvalidParameter(format!(
                "invalid value for parameter \"{name}\": {e}"
            )));
        }
        if name == "enable_collocated_joins" && parse_bool(value).is_none() {
            return Err(LeaderError::InvalidParameter(format!(
                "parameter \"{name}\" requires a Boolean value"
            )));
        }
        if name == "statement_timeout" && parse_timeout_ms(value).is_none() {
            return Err(LeaderError::InvalidParameter(format!(
                "invalid value for parameter \"statement_timeout\": \"{value}\""
            )));
        }
        settings.insert(name, value.to_string());
        Ok(())
    }

    /// `RESET name` (or every setting with `None`).
    pub fn reset(&self, name: Option<&str>) -> Result<(), LeaderError> {
        let defaults: BTreeMap<&str, &str> = DEFAULT_SETTINGS.iter().copied().collect();
        let mut settings = self.settings();
        match name {
            None => {
                *settings = defaults
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            }
            Some(name) => {
                let name = canonical(name);
                match defaults.get(name.as_str()) {
                    Some(v) => {
                        settings.insert(name, v.to_string());
                    }
                    None if settings.remove(&name).is_some() => {}
                    None => return Err(LeaderError::UnknownSetting(name)),
                }
            }
        }
        Ok(())
    }

    /// Whether the planner keeps joins whose rows are in place on the compute nodes
    /// (`enable_collocated_joins`; off plans every join as if the data were spread).
    pub fn collocated_joins(&self) -> bool {
        self.show("enable_collocated_joins")
            .ok()
            .and_then(|v| parse_bool(&v))
            .unwrap_or(true)
    }

    /// The statement timeout in milliseconds, 0 for none.
    pub fn statement_timeout_ms(&self) -> u64 {
        self.show("statement_timeout")
            .ok()
            .and_then(|v| parse_timeout_ms(&v))
            .unwrap_or(0)
    }
}

/// Parses a PostgreSQL duration setting: `5000`, `5000ms`, `5s`, `1min`.
fn parse_timeout_ms(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_lowercase();
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = v[digits.len()..].trim();
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset() -> Result<(), LeaderError> {
        let s = Session::new("admin", 1);
        s.set("QUERY_GROUP", "etl")?;
        assert_eq!(s.show("query_group")?, "etl");
        s.reset(Some("query_group"))?;
        assert_eq!(s.show("query_group")?, "default");
        assert!(matches!(
            s.set("no_such", "1"),
            Err(LeaderError::UnknownSetting(_))
        ));
        assert!(s.set("wlm_query_slot_count", "0").is_err());
        s.set("statement_timeout", "5s")?;
        assert_eq!(s.statement_timeout_ms(), 5000);
        Ok(())
    }
}

/// Sessions by the (pid, secret key) their clients were given: where CancelRequests
/// and `pg_cancel_backend` find the session to cancel.
#[derive(Debug, Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<(i32, Bytes), Weak<Session>>>,
}

impl SessionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, Bytes), Weak<Session>>> {
        // Plain map of weak references; a panic elsewhere leaves it usable.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `session` under the backend key its client got.
    pub fn register(&self, pid: i32, secret: Bytes, session: &Arc<Session>) {
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.strong_count() > 0);
        sessions.insert((pid, secret), Arc::downgrade(session));
    }

    /// Cancels the running statement of the session with `pid` (and, for a
    /// CancelRequest, `secret`). Returns whether such a session exists.
    pub fn cancel(&self, pid: i32, secret: Option<&Bytes>) -> bool {
        let found: Vec<Arc<Session>> = self
            .lock()
            .iter()
            .filter(|((p, s), _)| *p == pid && secret.is_none_or(|want| want == s))
            .filter_map(|(_, s)| s.upgrade())
            .collect();
        for session in &found {
            session.cancel();
        }
        !found.is_empty()
    }
}

/// PostgreSQL's Boolean setting values.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}
