//! The engine's side of workload management: each statement described to WLM and
//! admitted with its memory budget, WLM's checks run with each query's metrics, the
//! configuration changed at runtime, and the priority functions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use blueshift_wlm::{Priority, QueryMetrics, WlmConfig};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;

use super::Engine;
use super::admission::{QueryGate, SlotGuard, StatementDescription, StatementKind};
use crate::error::{ErrorKind, LeaderError};
use crate::query_log::QueryScope;
use crate::session::{Session, SessionRegistry};

/// How often WLM checks rules, timeouts and short-query evictions by default.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Where the leader's WLM configuration comes from.
#[derive(Clone, Debug, Default)]
pub struct WlmSettings {
    /// `--wlm-json-configuration` (None: Redshift's default, automatic WLM).
    pub json: Option<String>,
    /// `--wlm-config-file`: read at start and again on SIGHUP (wins over `json`).
    pub file: Option<std::path::PathBuf>,
    /// How often rules and timeouts are checked (zero: every second).
    pub check_every: Duration,
}

impl WlmSettings {
    /// The configuration these settings name, checked.
    pub fn load(&self) -> Result<WlmConfig, LeaderError> {
        let text = match (&self.file, &self.json) {
            (Some(file), _) => std::fs::read_to_string(file).map_err(|e| {
                LeaderError::Config(format!(
                    "reading the WLM configuration {}: {e}",
                    file.display()
                ))
            })?,
            (None, Some(json)) => json.clone(),
            (None, None) => return Ok(WlmConfig::default()),
        };
        WlmConfig::parse_json(&text).map_err(|e| match &self.file {
            Some(file) => LeaderError::InvalidParameter(format!("{}: {e}", file.display())),
            None => LeaderError::InvalidParameter(e.to_string()),
        })
    }

    /// How often WLM checks.
    pub fn interval(&self) -> Duration {
        if self.check_every.is_zero() {
            DEFAULT_CHECK_INTERVAL
        } else {
            self.check_every
        }
    }
}

impl Engine {
    /// What WLM is told about statement `kind` of `session`: the user, its groups and
    /// whether it is a superuser (for routing), the session's query group, slot count
    /// and priority, and how to stop it.
    fn describe(
        &self,
        session: &Session,
        kind: StatementKind,
    ) -> Result<StatementDescription, LeaderError> {
        let slots = session
            .show("wlm_query_slot_count")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let principal = self.principal(session)?;
        let catalog = self.catalog_of(session);
        let groups = if principal.groups.is_empty() {
            vec![]
        } else {
            catalog
                .groups()?
                .into_iter()
                .filter(|g| principal.groups.contains(&g.id))
                .map(|g| g.name)
                .collect()
        };
        let query = session.current_query();
        Ok(StatementDescription {
            kind,
            query,
            task: session.pid,
            user: session.current_user(),
            user_id: session.user_id(),
            groups,
            superuser: principal.superuser,
            query_group: session.show("query_group").unwrap_or_default(),
            slots,
            fingerprint: query.map_or(0, |q| self.query_log.fingerprint(q)),
            priority: session.priority().and_then(|p| Priority::parse(&p)),
            stopper: Some(session.stopper()),
        })
    }

    /// The one admission point: describes the statement `kind` of `session` to WLM,
    /// waits for its grant (a cancel while it waits takes it out of its queue), and
    /// returns an execution state whose memory pool is the grant's budget (joins,
    /// sorts and aggregates spill beyond it).
    pub(super) async fn admit(
        &self,
        session: &Session,
        kind: StatementKind,
    ) -> Result<(SessionState, SlotGuard), LeaderError> {
        let statement = self.describe(session, kind)?;
        let token = session.cancel_token();
        let guard = tokio::select! {
            guard = self.gate.admit(statement) => guard?,
            _ = token.cancelled() => return Err(match session.take_stop_reason() {
                Some(message) => LeaderError::Failure { kind: ErrorKind::QueryCanceled, message },
                None => LeaderError::Cancelled,
            }),
        };
        let state = self.state_for(session);
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::from_runtime_env(
            state.runtime_env(),
        )
        .with_memory_pool(Arc::new(
            datafusion::execution::memory_pool::FairSpillPool::new(guard.memory_bytes() as usize),
        ))
        .build_arc()?;
        let mut config = state.config().clone();
        // A sort keeps this much back to merge its spill files: a share of the budget.
        let options = config.options_mut();
        options.execution.sort_spill_reservation_bytes = options
            .execution
            .sort_spill_reservation_bytes
            .min(guard.memory_bytes() as usize / 4);
        if let Some(query_id) = session.current_query() {
            config = config.with_extension(Arc::new(QueryScope {
                query_id,
                user_id: session.user_id(),
                log: Arc::clone(&self.query_log),
                memory_bytes: guard.memory_bytes(),
            }));
        }
        let state = SessionStateBuilder::new_from_existing(state)
            .with_config(config)
            .with_runtime_env(runtime)
            .build();
        Ok((state, guard))
    }

    /// The engine with `config` as its WLM configuration.
    pub fn with_wlm_config(self, config: WlmConfig) -> Self {
        self.gate.reconfigure(config);
        self
    }

    /// Puts `config` in force now: queries keep their grants; slots added or removed
    /// take effect as queries end.
    pub fn reconfigure_wlm(&self, config: WlmConfig) {
        tracing::info!("WLM configuration changed");
        self.gate.reconfigure(config);
    }

    /// Runs WLM's checks once: each running query's metrics (rows sent from the query
    /// log; rows scanned and joined and memory held from the compute nodes, when a
    /// rule needs them) go to WLM, and the queries it stops are cancelled.
    pub async fn check_wlm(&self) -> usize {
        let running = self.gate.running();
        if running.is_empty() {
            return 0;
        }
        let node_metrics = self.gate.read(|w| needs_node_metrics(w.config()));
        let mut from_nodes: HashMap<u64, QueryMetrics> = HashMap::new();
        if node_metrics {
            match self.cluster.exec_state().await {
                Ok(fragments) => {
                    for (_, fragment) in fragments {
                        let m = from_nodes.entry(fragment.query_id).or_default();
                        for step in &fragment.steps {
                            let rows = step.rows as i64;
                            if step.operator.contains("Scan") {
                                *m.scan_row_count.get_or_insert(0) += rows;
                            }
                            if step.operator.contains("Join") {
                                *m.join_row_count.get_or_insert(0) += rows;
                            }
                            *m.memory_bytes.get_or_insert(0) += step.peak_memory_bytes as i64;
                        }
                    }
                }
                Err(e) => tracing::warn!("WLM metrics from the compute nodes: {e}"),
            }
            for query in &running {
                let scanned = self.query_log.scanned_rows(*query);
                if scanned > 0 {
                    let m = from_nodes.entry(*query).or_default();
                    *m.scan_row_count.get_or_insert(0) += scanned as i64;
                }
            }
        }
        let log = Arc::clone(&self.query_log);
        self.gate.check(&|query| {
            let mut m = from_nodes.get(&query).cloned().unwrap_or_default();
            m.return_row_count = log.returned_rows(query).map(|r| r as i64);
            m
        })
    }

    /// `CANCEL pid`: cancels the statement session `pid` runs (or waits to run), as
    /// a CancelRequest does. A user cancels its own sessions' statements; a
    /// superuser anyone's.
    pub(super) fn cancel_statement(
        &self,
        session: &Session,
        modifier: Option<datafusion::sql::sqlparser::ast::KillType>,
        pid: u64,
    ) -> Result<super::outcome::Outcome, LeaderError> {
        use datafusion::sql::sqlparser::ast::KillType;
        if modifier != Some(KillType::Query) {
            return Err(LeaderError::Unsupported(
                "CANCEL with a message, and KILL".into(),
            ));
        }
        let target = i32::try_from(pid)
            .ok()
            .and_then(|pid| self.sessions.by_pid(pid))
            .ok_or_else(|| LeaderError::InvalidParameter(format!("no session has pid {pid}")))?;
        if target.user_id() != session.user_id() && !self.principal(session)?.superuser {
            return Err(LeaderError::PermissionDenied(
                "permission denied: only a superuser can cancel another user's query".into(),
            ));
        }
        target.cancel();
        Ok(super::outcome::Outcome::done("CANCEL"))
    }

    /// Checks WLM every `every` until the engine goes.
    pub async fn run_wlm_checks(self: Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(&self);
        drop(self);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(engine) = weak.upgrade() else { return };
            engine.check_wlm().await;
        }
    }
}

/// Who calls a priority function.
struct Caller {
    pid: i32,
    user_id: i32,
    catalog: blueshift_storage::catalog::Catalog,
}

impl Caller {
    fn superuser(&self) -> bool {
        match self.catalog.principal(self.user_id) {
            Ok(Some(p)) => p.superuser,
            Ok(None) => self.catalog.users().is_ok_and(|u| u.is_empty()),
            Err(_) => false,
        }
    }
}

/// `change_query_priority(query, priority)`, `change_session_priority(pid,
/// priority)` and `change_user_priority(user, priority)`: a superuser changes
/// anyone's; a user its own session's queries'. Automatic WLM only.
fn change_priority(
    gate: &QueryGate,
    sessions: &SessionRegistry,
    caller: &Caller,
    target: PriorityTarget,
    priority: &str,
) -> Result<String, LeaderError> {
    let superuser = caller.superuser();
    let parsed = Priority::parse(priority).ok_or_else(|| {
        LeaderError::InvalidParameter(format!(
            "priority \"{priority}\" is not one of critical, highest, high, normal, low, lowest"
        ))
    })?;
    if !gate.read(|w| w.config().auto) {
        return Err(LeaderError::Unsupported(
            "WLM: query priorities under manual WLM (they need auto_wlm)".into(),
        ));
    }
    if parsed == Priority::Critical && !superuser {
        return Err(LeaderError::PermissionDenied(
            "permission denied: only a superuser can give a query CRITICAL priority".into(),
        ));
    }
    let denied = |what: &str| {
        LeaderError::PermissionDenied(format!(
            "permission denied: only a superuser can change {what}"
        ))
    };
    let what = match target {
        PriorityTarget::Query(query) => {
            let task = gate.read(|w| w.task_of(query));
            match task {
                Some(task) if task == caller.pid || superuser => {
                    gate.change_query_priority(query, parsed, superuser)?
                }
                Some(_) => return Err(denied("another session's query priority")),
                None => {
                    return Err(LeaderError::InvalidParameter(format!(
                        "query {query} is not queued or running"
                    )));
                }
            }
            "query"
        }
        PriorityTarget::Session(pid) => {
            if pid != caller.pid && !superuser {
                return Err(denied("another session's priority"));
            }
            let target = sessions.by_pid(pid).ok_or_else(|| {
                LeaderError::InvalidParameter(format!("no session has pid {pid}"))
            })?;
            target.set_priority(parsed.name());
            "session"
        }
        PriorityTarget::User(user) => {
            if !superuser {
                return Err(denied("a user's priority"));
            }
            gate.change_user_priority(&user, Some(parsed));
            "user"
        }
    };
    Ok(format!(
        "Succeeded to change {what} priority. New priority: {}",
        parsed.name().to_lowercase()
    ))
}

/// Whose priority a `change_*_priority` function changes.
enum PriorityTarget {
    Query(u64),
    Session(i32),
    User(String),
}

/// Registers `change_query_priority`, `change_session_priority` and
/// `change_user_priority` for `session`'s statements.
pub(super) fn register_priority_functions(
    state: &mut SessionState,
    gate: &Arc<QueryGate>,
    sessions: &Arc<SessionRegistry>,
    catalog: blueshift_storage::catalog::Catalog,
    session: &Session,
) {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    use datafusion::execution::FunctionRegistry;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let caller = Arc::new(Caller {
        pid: session.pid,
        user_id: session.user_id(),
        catalog,
    });
    for (name, first) in [
        ("change_query_priority", DataType::Int64),
        ("change_session_priority", DataType::Int64),
        ("change_user_priority", DataType::Utf8),
    ] {
        let (gate, sessions, caller) =
            (Arc::clone(gate), Arc::clone(sessions), Arc::clone(&caller));
        let udf = create_udf(
            name,
            vec![first, DataType::Utf8],
            DataType::Utf8,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let priorities = arrays[1].as_string::<i32>();
                let mut out = Vec::with_capacity(priorities.len());
                for row in 0..priorities.len() {
                    if arrays[0].is_null(row) || priorities.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    let target = match name {
                        "change_user_priority" => PriorityTarget::User(
                            arrays[0].as_string::<i32>().value(row).to_string(),
                        ),
                        "change_session_priority" => PriorityTarget::Session(
                            i32::try_from(arrays[0].as_primitive::<Int64Type>().value(row))
                                .unwrap_or(-1),
                        ),
                        _ => PriorityTarget::Query(
                            u64::try_from(arrays[0].as_primitive::<Int64Type>().value(row))
                                .unwrap_or(0),
                        ),
                    };
                    let answer = change_priority(
                        &gate,
                        &sessions,
                        &caller,
                        target,
                        priorities.value(row),
                    )
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                    out.push(Some(answer));
                }
                Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
            }),
        );
        if let Err(e) = state.register_udf(Arc::new(udf)) {
            tracing::warn!("registering {name}: {e}");
        }
    }
}

/// Whether a rule of `config` tests a metric only the compute nodes know.
fn needs_node_metrics(config: &WlmConfig) -> bool {
    use blueshift_wlm::rules::Metric;
    config.queues.iter().flat_map(|q| &q.rules).any(|r| {
        r.predicates.iter().any(|p| {
            matches!(
                p.metric,
                Metric::ScanRowCount | Metric::JoinRowCount | Metric::QueryMemory
            )
        })
    })
}
