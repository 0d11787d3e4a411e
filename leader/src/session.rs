//! Per-connection state: who is connected and the session's settings (SET/SHOW).

use blueshift_storage::catalog::access::BOOTSTRAP_USER_ID;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use blueshift_storage::catalog::Catalog;

use blueshift_storage::StorageError;

use crate::error::LeaderError;
pub use crate::stopper::Stopper;

/// A session's transaction block.
#[derive(Debug)]
pub enum Block {
    /// Not in a block: every statement commits on its own.
    Idle,
    /// BEGIN ran: statements read and write `view`, a view of the catalog that
    /// commits at COMMIT and is dropped at ROLLBACK or when the session ends.
    Open {
        view: Catalog,
        /// BEGIN READ ONLY (or SET TRANSACTION READ ONLY): changes are refused.
        read_only: bool,
    },
    /// A statement in the block failed (SQLSTATE 25P02 until the block ends).
    Failed,
}

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
    ("default_transaction_read_only", "off"),
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
    // Redshift runs every transaction serializable; the other levels map to it.
    ("transaction_isolation", "serializable"),
    ("wlm_query_slot_count", "1"),
];

/// Settings that are reported but cannot be changed.
const READ_ONLY: &[&str] = &["server_encoding", "server_version", "transaction_isolation"];

/// One connection's session.
#[derive(Debug)]
pub struct Session {
    /// The user who logged in.
    pub user: String,
    /// Who the session's statements run as: the user who logged in, or whom a
    /// superuser's SET SESSION AUTHORIZATION named.
    identity: Mutex<Identity>,
    /// The backend process id the client was given (the query log's pid).
    pub pid: i32,
    settings: Mutex<BTreeMap<String, String>>,
    /// The token of the statements starting now: a cancel request cancels it and puts
    /// a fresh one in its place, so it stops what runs and nothing that starts later.
    cancel: Arc<Mutex<CancellationToken>>,
    /// The priority `change_session_priority` gave the session's queries.
    priority: Mutex<Option<String>>,
    /// Why WLM stopped the running statement (its error message), if it did.
    stop_reason: Arc<Mutex<Option<String>>>,
    /// The query-log id of the statement running now (0: none), for STL_SCAN.
    current_query: AtomicU64,
    /// The transaction block the session is in, if any.
    transaction: Mutex<Block>,
    /// Counts the starts and ends of transaction blocks: a statement planned under
    /// another count planned against another view of the catalog.
    block_generation: AtomicU64,
    /// The query id of the session's last COPY (`pg_last_copy_id()`).
    last_copy: AtomicU64,
    /// The query id of the session's last logged statement (`pg_last_query_id()`).
    last_query: AtomicU64,
    /// A COPY FROM STDIN waiting for the client's data.
    copy_in: std::sync::Mutex<Option<CopyIn>>,
    /// Runs when the session ends in an open block that wrote something (the client
    /// disconnected): the segments the block staged are garbage now.
    on_abandoned_changes: std::sync::OnceLock<AbandonedHook>,
    /// Whether the session made temporary tables (dropped when it ends).
    made_temp_tables: std::sync::atomic::AtomicBool,
    /// Drops a session's temporary tables when it ends (gets its pid).
    on_end_with_temp_tables: std::sync::OnceLock<TempTablesHook>,
}

/// What a session that made temporary tables runs when it ends: drops the schema
/// of its temporary tables (given the session's pid).
#[derive(Clone)]
pub struct TempTablesHook(pub Arc<dyn Fn(i32) + Send + Sync>);

impl std::fmt::Debug for TempTablesHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TempTablesHook")
    }
}

/// The prefix of the schemas that hold sessions' temporary tables.
pub const TEMP_SCHEMA_PREFIX: &str = "pg_temp_";

/// The ids and name a session runs as.
#[derive(Clone, Debug)]
struct Identity {
    /// The user who logged in.
    login_id: i32,
    /// The user statements run as.
    id: i32,
    name: String,
}

/// What a session runs when it ends with uncommitted changes.
#[derive(Clone)]
pub struct AbandonedHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for AbandonedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AbandonedHook")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The block's view goes with the session: its changes are never committed.
        let wrote = match &*self.block() {
            Block::Open { view, .. } => view.has_changes(),
            Block::Idle | Block::Failed => false,
        };
        if wrote && let Some(hook) = self.on_abandoned_changes.get() {
            (hook.0)();
        }
        if self
            .made_temp_tables
            .load(std::sync::atomic::Ordering::Acquire)
            && let Some(hook) = self.on_end_with_temp_tables.get()
        {
            (hook.0)(self.pid);
        }
    }
}

/// A COPY FROM STDIN in progress: where the client's bytes go, and the load that
/// reads them and ends with the rows committed.
#[derive(Debug)]
pub struct CopyIn {
    pub data: tokio::sync::mpsc::Sender<bytes::Bytes>,
    pub load: tokio::task::JoinHandle<Result<u64, LeaderError>>,
    /// The table to analyze when the load has rows (STATUPDATE).
    pub analyze: Option<blueshift_storage::catalog::TableDef>,
}

fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "time zone" | "time_zone" => "timezone".to_string(),
        "transaction isolation level" => "transaction_isolation".to_string(),
        _ => lower,
    }
}

impl Session {
    /// A new session of `user` on backend `pid`, with default settings.
    pub fn new(user: &str, pid: i32) -> Self {
        Session {
            user: user.to_string(),
            identity: Mutex::new(Identity {
                login_id: BOOTSTRAP_USER_ID,
                id: BOOTSTRAP_USER_ID,
                name: user.to_string(),
            }),
            pid,
            settings: Mutex::new(
                DEFAULT_SETTINGS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            cancel: Arc::new(Mutex::new(CancellationToken::new())),
            stop_reason: Arc::default(),
            priority: Mutex::new(None),
            current_query: AtomicU64::new(0),
            transaction: Mutex::new(Block::Idle),
            block_generation: AtomicU64::new(0),
            last_query: AtomicU64::new(0),
            last_copy: AtomicU64::new(0),
            copy_in: std::sync::Mutex::new(None),
            on_abandoned_changes: std::sync::OnceLock::new(),
            made_temp_tables: std::sync::atomic::AtomicBool::new(false),
            on_end_with_temp_tables: std::sync::OnceLock::new(),
        }
    }

    /// The schema of the session's temporary tables, `pg_temp_<pid>`: unqualified
    /// names find its tables before `public`'s.
    pub fn temp_schema(&self) -> String {
        format!("{TEMP_SCHEMA_PREFIX}{}", self.pid)
    }

    /// Records that the session made a temporary table (dropped when it ends).
    pub fn made_temp_table(&self) {
        self.made_temp_tables
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// The session of user `id` (a new session is the first user's, 100).
    pub fn with_user_id(self, id: i32) -> Self {
        {
            let mut identity = self.identity.lock().unwrap_or_else(|e| e.into_inner());
            identity.login_id = id;
            identity.id = id;
        }
        self
    }

    fn identity(&self) -> Identity {
        self.identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The id of the user statements run as (system tables' userid, privilege
    /// checks).
    pub fn user_id(&self) -> i32 {
        self.identity().id
    }

    /// The name of the user statements run as (`current_user`, `session_user`).
    pub fn current_user(&self) -> String {
        self.identity().name
    }

    /// The id of the user who logged in: whether SET SESSION AUTHORIZATION is allowed
    /// depends on it, not on whom the session runs as now.
    pub fn login_user_id(&self) -> i32 {
        self.identity().login_id
    }

    /// SET SESSION AUTHORIZATION: statements run as user `id` called `name` (RESET:
    /// the user who logged in).
    pub fn set_authorization(&self, id: i32, name: &str) {
        let mut identity = self.identity.lock().unwrap_or_else(|e| e.into_inner());
        identity.id = id;
        identity.name = name.to_string();
    }

    fn block(&self) -> std::sync::MutexGuard<'_, Block> {
        // A panic elsewhere leaves the block as it was: still the session's state.
        self.transaction.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the block, counting the change of view.
    fn set_block(block: &mut Block, next: Block, generation: &AtomicU64) -> Block {
        generation.fetch_add(1, Ordering::Relaxed);
        std::mem::replace(block, next)
    }

    /// BEGIN: a transaction block starts, with its view of `catalog` (a second BEGIN
    /// keeps the first's block, as PostgreSQL does). Returns whether a block started.
    pub fn begin_block(&self, catalog: &Catalog, read_only: bool) -> bool {
        let mut block = self.block();
        if !matches!(*block, Block::Idle) {
            return false;
        }
        let view = catalog.begin();
        Self::set_block(
            &mut block,
            Block::Open { view, read_only },
            &self.block_generation,
        );
        true
    }

    /// Which view of the catalog the session's statements plan against: it changes
    /// whenever a transaction block starts or ends.
    pub fn block_generation(&self) -> u64 {
        self.block_generation.load(Ordering::Relaxed)
    }

    /// Sets what runs when the session ends with uncommitted changes (once).
    pub fn on_abandoned_changes(&self, hook: AbandonedHook) {
        let _ = self.on_abandoned_changes.set(hook);
    }

    /// Whether the session is in a transaction block (open or failed).
    pub fn in_block(&self) -> bool {
        !matches!(*self.block(), Block::Idle)
    }

    /// The catalog view of the open transaction block, if the session is in one.
    pub fn block_catalog(&self) -> Option<Catalog> {
        match &*self.block() {
            Block::Open { view, .. } => Some(view.clone()),
            _ => None,
        }
    }

    /// Whether the open block is READ ONLY.
    pub fn block_read_only(&self) -> bool {
        matches!(
            &*self.block(),
            Block::Open {
                read_only: true,
                ..
            }
        )
    }

    /// SET TRANSACTION READ ONLY / READ WRITE in an open block; outside one it does
    /// nothing (PostgreSQL warns and ignores it too).
    pub fn set_block_read_only(&self, value: bool) {
        if let Block::Open { read_only, .. } = &mut *self.block() {
            *read_only = value;
        }
    }

    /// Whether the session's block failed: statements are refused until it ends.
    pub fn block_failed(&self) -> bool {
        matches!(*self.block(), Block::Failed)
    }

    /// A statement in the block failed: its changes are dropped now, and the block
    /// refuses statements until ROLLBACK (or COMMIT, which rolls back). Returns
    /// whether the dropped changes had written anything (staged segments, now
    /// garbage).
    pub fn fail_block(&self) -> bool {
        let mut block = self.block();
        if !matches!(*block, Block::Open { .. }) {
            return false;
        }
        match Self::set_block(&mut block, Block::Failed, &self.block_generation) {
            Block::Open { view, .. } => view.has_changes(),
            Block::Failed | Block::Idle => false,
        }
    }

    /// COMMIT (or END): the open block's changes become visible at once, and the
    /// block ends; returns the command tag. When the commit is refused (40001: a
    /// concurrent transaction changed what the block read) nothing of it is kept
    /// and the block stays failed until ROLLBACK, so the client's view of the
    /// transaction (failed) and the session's agree. COMMIT of a failed block rolls
    /// it back, as in PostgreSQL.
    pub fn commit_block(&self) -> Result<&'static str, StorageError> {
        let mut block = self.block();
        let tag = match &*block {
            Block::Open { view, .. } => match view.commit_transaction() {
                Ok(()) => "COMMIT",
                Err(e) => {
                    Self::set_block(&mut block, Block::Failed, &self.block_generation);
                    return Err(e);
                }
            },
            Block::Failed => "ROLLBACK",
            Block::Idle => return Ok("COMMIT"),
        };
        Self::set_block(&mut block, Block::Idle, &self.block_generation);
        Ok(tag)
    }

    /// ROLLBACK (or ABORT): the block ends and its changes are dropped. Returns
    /// whether it had written anything (whose staged segments are now garbage).
    pub fn rollback_block(&self) -> bool {
        let mut block = self.block();
        if matches!(*block, Block::Idle) {
            return false;
        }
        match Self::set_block(&mut block, Block::Idle, &self.block_generation) {
            Block::Open { view, .. } => view.has_changes(),
            // A failed block dropped its view when it failed.
            Block::Failed | Block::Idle => false,
        }
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

    /// The priority `change_session_priority` gave the session's queries, if any.
    pub fn priority(&self) -> Option<String> {
        self.priority
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Gives the session's queries from now on `priority`.
    pub fn set_priority(&self, priority: &str) {
        *self.priority.lock().unwrap_or_else(|e| e.into_inner()) = Some(priority.into());
    }

    /// What stops the statement starting now with a message of WLM's (a query
    /// monitoring rule's abort, a WLM timeout).
    pub fn stopper(&self) -> Stopper {
        Stopper::new(
            self.cancel_token(),
            Arc::clone(&self.cancel),
            Arc::clone(&self.stop_reason),
        )
    }

    /// The message WLM stopped the running statement with, if it did (taken: the
    /// next statement starts without one).
    pub fn take_stop_reason(&self) -> Option<String> {
        self.stop_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
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
        if matches!(
            name.as_str(),
            "enable_collocated_joins" | "default_transaction_read_only"
        ) && parse_bool(value).is_none()
        {
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

    /// Whether blocks begin READ ONLY (`default_transaction_read_only`).
    pub fn default_transaction_read_only(&self) -> bool {
        self.show("default_transaction_read_only")
            .ok()
            .and_then(|v| parse_bool(&v))
            .unwrap_or(false)
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
    /// Given to every session registered: what it runs when it ends with
    /// uncommitted changes.
    on_abandoned_changes: std::sync::OnceLock<AbandonedHook>,
    /// Given to every session registered: what it runs when it ends having made
    /// temporary tables.
    on_end_with_temp_tables: std::sync::OnceLock<TempTablesHook>,
    /// Where new sessions find their user's id and settings.
    catalog: std::sync::OnceLock<Catalog>,
}

/// The id a session of a user the catalog does not know runs as: no one (every
/// privilege check then fails).
const NO_USER: i32 = -1;

impl SessionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, Bytes), Weak<Session>>> {
        // Plain map of weak references; a panic elsewhere leaves it usable.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what every session registered from now on runs when it ends with
    /// uncommitted changes (once).
    pub fn on_abandoned_changes(&self, hook: AbandonedHook) {
        let _ = self.on_abandoned_changes.set(hook);
    }

    /// Sets what every session registered from now on that made temporary tables
    /// runs when it ends (once).
    pub fn on_end_with_temp_tables(&self, hook: TempTablesHook) {
        let _ = self.on_end_with_temp_tables.set(hook);
    }

    /// Sets the catalog new sessions find their users in (once).
    pub fn use_catalog(&self, catalog: Catalog) {
        let _ = self.catalog.set(catalog);
    }

    /// A new session of the user `name` on backend `pid`: with its id and the
    /// settings ALTER USER ... SET gave it. A catalog without users (an engine no
    /// server bootstrapped) gives the first user's id.
    pub fn open(&self, name: &str, pid: i32) -> Session {
        let Some(catalog) = self.catalog.get() else {
            return Session::new(name, pid);
        };
        match catalog.user(name) {
            Ok(Some(user)) => {
                let session = Session::new(name, pid).with_user_id(user.id);
                for (setting, value) in &user.settings {
                    if let Err(e) = session.set(setting, value) {
                        tracing::warn!("user {name}'s default {setting} = {value}: {e}");
                    }
                }
                session
            }
            Ok(None) if catalog.users().is_ok_and(|u| u.is_empty()) => Session::new(name, pid),
            Ok(None) => Session::new(name, pid).with_user_id(NO_USER),
            Err(e) => {
                tracing::warn!("reading user {name}: {e}");
                Session::new(name, pid).with_user_id(NO_USER)
            }
        }
    }

    /// The open session with backend pid `pid`.
    pub fn by_pid(&self, pid: i32) -> Option<Arc<Session>> {
        self.lock()
            .iter()
            .filter(|((p, _), _)| *p == pid)
            .find_map(|(_, s)| s.upgrade())
    }

    /// How many sessions of the user `name` are open.
    pub fn sessions_of(&self, name: &str) -> usize {
        self.lock()
            .values()
            .filter_map(Weak::upgrade)
            .filter(|s| s.user == name)
            .count()
    }

    /// Registers `session` under the backend key its client got.
    pub fn register(&self, pid: i32, secret: Bytes, session: &Arc<Session>) {
        if let Some(hook) = self.on_abandoned_changes.get() {
            session.on_abandoned_changes(hook.clone());
        }
        if let Some(hook) = self.on_end_with_temp_tables.get() {
            let _ = session.on_end_with_temp_tables.set(hook.clone());
        }
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
