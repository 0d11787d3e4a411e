//! [`Engine`]: plans and runs statements for the sessions of the leader.
//!
//! Queries and INSERTs are planned by DataFusion over the Blueshift catalog; the
//! fragment rule ships their slice-local parts to the compute nodes. DDL, SET/SHOW
//! and transaction control are Blueshift's own.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use blueshift_storage::catalog::Catalog;
use blueshift_storage::catalog::access::Principal;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProviderList};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{self, ObjectName, SchemaName, Set, Statement};
use futures::StreamExt;

mod access;
pub mod admission;
mod workload;
pub use workload::WlmSettings;
mod catalog_functions;
mod checks;
mod column_names;
mod command;
mod comments;
mod constraints;
mod copy;
mod create_like;
mod ddl;
mod dml;
mod expand_array;
pub mod functions;
mod identity;
mod insert_values;
mod lateral_alias;
mod maintenance;
mod materialized;
mod merge;
pub mod outcome;
mod privileges;
mod results;
mod roles;
mod sleep;
pub mod snapshot;
pub mod snapshot_copy;
mod snapshot_restore;
mod temp_tables;
mod transaction;
mod views;

pub use outcome::{Completion, Outcome, Rows};
use results::{one_column, record, text_result};
mod unload;

use transaction::{changes_something, ends_block, planned_name};

use column_names::{ClientNames, client_schema};

use crate::cluster::ClusterClient;
use crate::commit::CommitPoint;
use crate::engine::admission::{QueryGate, SlotGuard, StatementKind};
use crate::error::LeaderError;
use crate::interrupt::Interrupt;
use crate::planner::catalog_provider::DatabaseProvider;
use crate::planner::collocate::CollocateJoins;
use crate::planner::fragment::ShipFragments;
use crate::query_log::{QueryEntry, QueryLog, QueryScope};
use crate::s3_config::S3Config;
use crate::session::{AbandonedHook, DATABASE, Session, SessionRegistry};
use crate::sql::access::AccessStatement;
use crate::sql::copy::{CopyOrUnload, CopyStatement, UnloadStatement};
use crate::sql::redshift_ddl::TableAttributes;
use crate::sql::{ParsedStatement, SqlParser};
use blueshift_wlm::WlmConfig;

/// A statement ready to run.
#[derive(Debug, Clone)]
pub enum Planned {
    /// An empty query string.
    Empty,
    /// A query or EXPLAIN: returns rows.
    Query(LogicalPlan),
    /// An INSERT: returns a row count.
    Insert(LogicalPlan),
    /// A DELETE or UPDATE (a DataFusion `Dml` plan): returns a row count.
    Dml(LogicalPlan),
    /// DDL, SET, SHOW, transaction control.
    Command(Box<Statement>, Option<TableAttributes>),
    /// COPY: returns a row count.
    Copy(Box<CopyStatement>),
    /// UNLOAD: returns nothing.
    Unload(Box<UnloadStatement>),
    /// A statement about users, groups or privileges.
    Access(Box<AccessStatement>),
    /// REFRESH MATERIALIZED VIEW.
    Refresh(ObjectName),
}

/// A parsed statement, before planning.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A statement of the PostgreSQL grammar, with the Redshift attributes of a
    /// CREATE or ALTER TABLE.
    Sql(Box<Statement>, Option<TableAttributes>),
    Copy(Box<CopyStatement>),
    Unload(Box<UnloadStatement>),
    /// A statement about users, groups or privileges, and its text without passwords.
    Access(Box<AccessStatement>, String),
    /// REFRESH MATERIALIZED VIEW.
    Refresh(ObjectName),
}

impl Parsed {
    /// The text STL_QUERY shows: `sent` (what the client sent) for a single SQL
    /// statement, the statement itself otherwise; COPY and UNLOAD without secrets.
    pub fn log_text(&self, sent: &str, single: bool) -> String {
        match self {
            Parsed::Sql(_, _) if single => sent.trim().to_string(),
            Parsed::Sql(stmt, _) => stmt.to_string(),
            Parsed::Copy(c) => c.redacted.clone(),
            Parsed::Unload(u) => u.redacted.clone(),
            Parsed::Access(_, redacted) => redacted.clone(),
            Parsed::Refresh(name) => format!("REFRESH MATERIALIZED VIEW {name}"),
        }
    }
}

/// Plans and runs statements.
pub struct Engine {
    sessions: Arc<SessionRegistry>,
    gate: Arc<QueryGate>,
    query_log: Arc<QueryLog>,
    catalog: Catalog,
    /// The database DataFusion plans over (the committed catalog's).
    database: Arc<DatabaseProvider>,
    cluster: ClusterClient,
    ctx: SessionContext,
    parser: SqlParser,
    s3: S3Config,
    /// Where snapshots go (`--snapshot-store`), and the segments of those being taken.
    snapshot_store: Option<snapshot::SnapshotSettings>,
    snapshot_pins: snapshot::SnapshotPins,
    last_automated: snapshot::LastAutomated,
    snapshot_copy: snapshot_copy::SnapshotCopy,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// The catalog key of a table name as written: quoted parts kept, others lower-cased.
/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn name_key(name: &ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Schema and table of a (possibly qualified) name; `public` by default.
fn resolve(reference: &TableReference) -> Result<(String, String), LeaderError> {
    match reference {
        TableReference::Bare { table } => Ok(("public".into(), table.to_string())),
        TableReference::Partial { schema, table } => Ok((schema.to_string(), table.to_string())),
        TableReference::Full {
            catalog,
            schema,
            table,
        } if catalog.as_ref() == DATABASE => Ok((schema.to_string(), table.to_string())),
        TableReference::Full { catalog, .. } => Err(LeaderError::Unsupported(format!(
            "cross-database reference to \"{catalog}\""
        ))),
    }
}

fn object_reference(name: &ObjectName) -> Result<(String, String), LeaderError> {
    let parts: Vec<String> = name_key(name).split('.').map(str::to_string).collect();
    match parts.as_slice() {
        [table] => Ok(("public".into(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        [db, schema, table] if db == DATABASE => Ok((schema.clone(), table.clone())),
        _ => Err(LeaderError::Unsupported(format!("the name {name}"))),
    }
}

/// The first words of a statement, to name it in an "is not supported" error.
fn statement_name(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let n = match words.first().map(|w| w.to_ascii_uppercase()) {
        Some(w) if w == "CREATE" || w == "ALTER" || w == "DROP" => {
            if words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("or")) {
                3
            } else {
                2
            }
        }
        _ => 1,
    };
    words[..n.min(words.len())].join(" ").to_ascii_uppercase()
}

/// The setting `SHOW` names: the words of a multi-word name (`SHOW TIME ZONE`) joined
/// by spaces, the parts of any other (`SHOW myapp.setting`) by dots.
fn show_name(variable: &[ast::Ident]) -> String {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    let spaced = words.join(" ");
    match spaced.as_str() {
        "time zone" | "transaction isolation level" | "session authorization" => spaced,
        _ => words.join("."),
    }
}

impl Engine {
    /// An engine over `catalog`, running fragments on `cluster`.
    /// `query_memory_bytes` is the working memory the queries running at once share;
    /// `runtime` is where they spill.
    pub fn try_new(
        catalog: Catalog,
        cluster: ClusterClient,
        query_memory_bytes: u64,
        runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    ) -> Result<Self, LeaderError> {
        let slices = cluster.layout().slice_count().max(1) as usize;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(DATABASE, "public")
            .with_information_schema(true)
            .with_target_partitions(slices);
        config.options_mut().sql_parser.map_string_types_to_utf8view = false;
        config.options_mut().sql_parser.enable_ident_normalization = true;
        // `12624.00` is a NUMERIC(7,2), as in PostgreSQL and Redshift (DataFusion's
        // default reads it as a DOUBLE PRECISION).
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        config.options_mut().execution.time_zone = Some("+00:00".into());
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        let ship = Arc::new(ShipFragments::new(cluster.clone(), functions::LEADER_ONLY));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(CollocateJoins::new(
                cluster.layout(),
                Arc::clone(&ship),
            )))
            .with_physical_optimizer_rule(ship)
            .with_analyzer_rules(
                [
                    Arc::new(crate::planner::views::InlineViews) as _,
                    Arc::new(crate::planner::scalar_subquery::AggregateScalarSubqueries) as _,
                    Arc::new(crate::planner::integer_arithmetic::IntegerLiterals) as _,
                    Arc::new(crate::planner::datetime_literals::DateIntervals) as _,
                ]
                .into_iter()
                .chain(datafusion::optimizer::Analyzer::new().rules)
                .chain(crate::planner::after_coercion())
                .collect(),
            )
            .with_optimizer_rule(Arc::new(crate::planner::join_order::SinkFilteredJoins))
            .with_optimizer_rule(Arc::new(crate::planner::semi_join::PushSemiJoinDown))
            .with_optimizer_rule(Arc::new(
                crate::planner::aggregate_keys::FilterAggregateByJoinKeys,
            ))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let query_log = Arc::new(QueryLog::default());
        let gate = QueryGate::new(WlmConfig::default(), query_memory_bytes);
        let _ = query_log.wlm.set(Arc::clone(&gate));
        let database = Arc::new(DatabaseProvider::new(
            catalog.clone(),
            cluster.clone(),
            Arc::clone(&query_log),
        ));
        ctx.register_catalog(DATABASE, Arc::clone(&database) as _);
        datafusion_pg_catalog::setup_pg_catalog(
            &ctx,
            DATABASE,
            access::CatalogRoles(catalog.clone()),
        )
        .map_err(|e| LeaderError::DataFusion(*e))?;
        let sessions = Arc::new(SessionRegistry::default());
        sessions.use_catalog(catalog.clone());
        functions::register_static(&ctx, Arc::clone(&sessions), &catalog);
        blueshift_operators::functions::register(&ctx);
        ctx.register_udf(expand_array::expand_array());
        let engine = Engine {
            sessions,
            gate,
            query_log,
            catalog,
            database,
            cluster,
            ctx,
            parser: SqlParser::default(),
            s3: S3Config::default(),
            snapshot_store: None,
            snapshot_pins: snapshot::SnapshotPins::default(),
            last_automated: snapshot::LastAutomated::default(),
            snapshot_copy: snapshot_copy::SnapshotCopy::default(),
        };
        // A client that disconnects in a block that wrote leaves staged segments.
        engine
            .sessions
            .on_abandoned_changes(AbandonedHook(Arc::new(engine.garbage_collector())));
        engine.manage_temp_tables();
        Ok(engine)
    }

    /// The engine with `s3` as its S3 settings (COPY and UNLOAD).
    pub fn with_s3(mut self, s3: S3Config) -> Self {
        self.s3 = s3;
        self
    }

    /// The sessions of this leader, by backend key.
    pub fn sessions(&self) -> Arc<SessionRegistry> {
        Arc::clone(&self.sessions)
    }

    /// A planning state for one statement of `session`.
    fn state_for(&self, session: &Session) -> SessionState {
        let mut state = self.ctx.state();
        // Tables resolve in the session's view of the catalog (its transaction
        // block's, or the committed one), and system tables show what its user may see.
        let viewer = self
            .principal(session)
            .unwrap_or_else(|_| Principal::alone(session.user_id()));
        let list = Arc::new(MemoryCatalogProviderList::new());
        list.register_catalog(
            DATABASE.to_string(),
            Arc::new(self.database.over(self.catalog_of(session), viewer)),
        );
        state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(list)
            .build();
        if !session.collocated_joins() {
            let rules = state
                .physical_optimizers()
                .iter()
                .filter(|r| r.name() != "collocate_joins")
                .cloned()
                .collect();
            state = SessionStateBuilder::new_from_existing(state)
                .with_physical_optimizer_rules(rules)
                .build();
        }
        // `SET datafusion.x = y` tunes DataFusion's planner for the session (the
        // value was checked when it was set).
        for (name, value) in session.show_all() {
            if name.starts_with("datafusion.")
                && let Err(e) = state.config_mut().options_mut().set(&name, &value)
            {
                tracing::warn!("setting {name}: {e}");
            }
        }
        functions::register_session(&mut state, session);
        workload::register_priority_functions(
            &mut state,
            &self.gate,
            &self.sessions,
            self.catalog_of(session),
            session,
        );
        functions::register_privileges(&mut state, self.catalog_of(session), session.user_id());
        catalog_functions::register(&mut state, &self.catalog_of(session));
        state
    }

    /// Parses `sql`, sent by `session`, into statements with their Redshift
    /// attributes. Text that does not parse fails the session's transaction block,
    /// as in PostgreSQL.
    pub fn parse(&self, session: &Session, sql: &str) -> Result<Vec<Parsed>, LeaderError> {
        self.parse_statements(sql)
            .inspect_err(|_| self.fail_block(session))
    }

    fn parse_statements(&self, sql: &str) -> Result<Vec<Parsed>, LeaderError> {
        let mut parsed = self.parser.parse(sql)?;
        Ok(parsed
            .statements
            .into_iter()
            .map(|stmt| {
                let stmt = match stmt {
                    ParsedStatement::Sql(stmt) => *stmt,
                    ParsedStatement::CopyOrUnload(CopyOrUnload::Copy(c)) => {
                        return Parsed::Copy(c);
                    }
                    ParsedStatement::Access(a, redacted) => return Parsed::Access(a, redacted),
                    ParsedStatement::Refresh(name) => return Parsed::Refresh(name),
                    ParsedStatement::CopyOrUnload(CopyOrUnload::Unload(u)) => {
                        return Parsed::Unload(u);
                    }
                };
                let attrs = match &stmt {
                    Statement::CreateTable(ct) => parsed.attributes.remove(&name_key(&ct.name)),
                    Statement::CreateView(cv) => parsed.attributes.remove(&format!(
                        "{}{}",
                        crate::sql::redshift_ddl::VIEW_KEY,
                        name_key(&cv.name)
                    )),
                    Statement::AlterTable(alter) => parsed
                        .attributes
                        .get(&format!(
                            "{}{}",
                            crate::sql::redshift_ddl::ALTER_KEY,
                            name_key(&alter.name)
                        ))
                        .cloned(),
                    _ => None,
                };
                Parsed::Sql(Box::new(stmt), attrs)
            })
            .collect())
    }

    /// Plans one statement. In a failed transaction block only its end is planned
    /// (25P02 otherwise); a statement that fails to plan fails its block.
    pub async fn plan(&self, session: &Session, parsed: Parsed) -> Result<Planned, LeaderError> {
        let ends = matches!(&parsed, Parsed::Sql(stmt, _) if ends_block(stmt));
        self.in_block(session, ends, self.plan_statement(session, parsed))
            .await
    }

    async fn plan_statement(
        &self,
        session: &Session,
        parsed: Parsed,
    ) -> Result<Planned, LeaderError> {
        let (stmt, attrs) = match parsed {
            Parsed::Sql(stmt, attrs) => (*stmt, attrs),
            Parsed::Copy(c) => return Ok(Planned::Copy(c)),
            Parsed::Unload(u) => return Ok(Planned::Unload(u)),
            Parsed::Access(a, _) => return Ok(Planned::Access(a)),
            Parsed::Refresh(name) => return Ok(Planned::Refresh(name)),
        };
        checks::refuse_bag_set_operations(&stmt)?;
        let mut stmt = stmt;
        if matches!(
            stmt,
            Statement::Query(_)
                | Statement::Explain { .. }
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
        ) {
            self.qualify_temp_tables(session, &mut stmt)?;
        }
        match &stmt {
            Statement::Query(_) => {
                let mut stmt = stmt;
                let names = ClientNames::alias_select_lists(&mut stmt);
                let plan = self.plan_with_datafusion(session, stmt).await?;
                Ok(Planned::Query(names.tag(plan)?))
            }
            // Plain EXPLAIN of a query prints Redshift's form; EXPLAIN VERBOSE,
            // ANALYZE and FORMAT print DataFusion's.
            Statement::Explain {
                statement,
                analyze: false,
                verbose: false,
                format: None,
                options: None,
                ..
            } if matches!(statement.as_ref(), Statement::Query(_)) => {
                let Statement::Explain { statement, .. } = stmt else {
                    return Err(LeaderError::Unsupported("EXPLAIN".into()));
                };
                let plan = self.plan_with_datafusion(session, *statement).await?;
                self.authorize_plan(session, &plan)?;
                let physical = self.state_for(session).create_physical_plan(&plan).await?;
                Ok(Planned::Query(text_result(
                    "QUERY PLAN",
                    crate::planner::explain::redshift_plan(&physical),
                )?))
            }
            Statement::Explain { .. } => {
                let plan = self.plan_with_datafusion(session, stmt).await?;
                Ok(Planned::Query(plan))
            }
            Statement::Insert(_) => {
                let plan = self.plan_with_datafusion(session, stmt).await?;
                Ok(Planned::Insert(plan))
            }
            Statement::Update(update) if update.from.is_some() => {
                let Statement::Update(update) = stmt else {
                    return Err(LeaderError::Unsupported("UPDATE".into()));
                };
                Ok(Planned::Dml(self.plan_update_from(session, update).await?))
            }
            Statement::Delete(_) | Statement::Update(_) => {
                let stmt = dml::delete_using_as_exists(stmt);
                let plan = self.plan_with_datafusion(session, stmt).await?;
                Ok(Planned::Dml(plan))
            }
            Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::Comment { .. }
            | Statement::CreateSchema { .. }
            | Statement::Drop { .. }
            | Statement::Set(_)
            | Statement::ShowVariable { .. }
            | Statement::Reset(_)
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Discard { .. }
            | Statement::Vacuum(_)
            | Statement::Analyze(_)
            | Statement::AlterTable(_)
            | Statement::AlterSchema(_)
            | Statement::Truncate(_)
            | Statement::Kill { .. }
            | Statement::Merge(_) => Ok(Planned::Command(Box::new(stmt), attrs)),
            other => Err(LeaderError::Unsupported(statement_name(other))),
        }
    }

    async fn plan_with_datafusion(
        &self,
        session: &Session,
        stmt: Statement,
    ) -> Result<LogicalPlan, LeaderError> {
        let state = self.state_for(session);
        self.prepare_views(&state, &stmt, &mut vec![]).await?;
        let mut stmt = self.complete_insert(session, stmt)?;
        self.prepare_defaults(&state, &stmt)?;
        let mut tries = 0;
        loop {
            let planned = state
                .statement_to_plan(DfStatement::Statement(Box::new(stmt.clone())))
                .await;
            // Redshift's lateral column aliases, where no column has the name.
            match planned {
                Err(e) if tries < 8 => match lateral_alias::missing_column(&e) {
                    Some(name) if lateral_alias::substitute(&mut stmt, &name) => tries += 1,
                    _ => return Err(e.into()),
                },
                other => return Ok(other?),
            }
        }
    }

    /// The parameter types the planner inferred for a planned statement, `$1`
    /// first; `None` where it could not tell.
    pub fn parameter_types(&self, planned: &Planned) -> Result<Vec<Option<DataType>>, LeaderError> {
        let plan = match planned {
            Planned::Query(p) | Planned::Insert(p) | Planned::Dml(p) => p,
            _ => return Ok(vec![]),
        };
        let mut types = plan.get_parameter_types()?;
        // `$1::bigint`: a placeholder DataFusion left untyped takes its cast's type.
        plan.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    if let datafusion::logical_expr::Expr::Cast(cast) = e
                        && let datafusion::logical_expr::Expr::Placeholder(p) = cast.expr.as_ref()
                        && let Some(slot @ None) = types.get_mut(&p.id)
                    {
                        *slot = Some(cast.field.data_type().clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })?;
        let mut ordered: Vec<(usize, Option<DataType>)> = types
            .into_iter()
            .filter_map(|(id, t)| {
                id.trim_start_matches('$')
                    .parse::<usize>()
                    .ok()
                    .map(|n| (n, t))
            })
            .collect();
        ordered.sort_by_key(|(n, _)| *n);
        let count = ordered.last().map_or(0, |(n, _)| *n);
        Ok((1..=count)
            .map(|n| {
                ordered
                    .iter()
                    .find(|(i, _)| *i == n)
                    .and_then(|(_, t)| t.clone())
            })
            .collect())
    }

    /// The result columns of a planned statement (empty for commands without rows).
    pub fn result_schema(&self, planned: &Planned) -> Arc<Schema> {
        match planned {
            // As the analyzer leaves it: a UNION's columns take the type both
            // sides coerce to, which the rows will have.
            Planned::Query(p) => {
                let state = self.ctx.state();
                let analyzed = state.analyzer().execute_and_check(
                    p.clone(),
                    state.config_options(),
                    |_, _| {},
                );
                let schema = match &analyzed {
                    Ok(a) => a.schema().as_arrow().clone(),
                    Err(_) => p.schema().as_arrow().clone(),
                };
                Arc::new(client_schema(&schema))
            }
            Planned::Command(stmt, _) => match stmt.as_ref() {
                Statement::ShowVariable { variable } => {
                    let name = show_name(variable);
                    if name == "all" {
                        Arc::new(Schema::new(vec![
                            Field::new("name", DataType::Utf8, false),
                            Field::new("setting", DataType::Utf8, false),
                        ]))
                    } else {
                        Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]))
                    }
                }
                _ => Arc::new(Schema::empty()),
            },
            _ => Arc::new(Schema::empty()),
        }
    }

    /// Runs a planned statement. `text` is its SQL, for the query log. In a failed
    /// transaction block only its end runs (25P02 otherwise); a statement that fails
    /// fails its block.
    pub async fn execute(
        &self,
        session: &Session,
        planned: &Planned,
        params: Option<&ParamValues>,
        interrupt: Interrupt,
        text: &str,
    ) -> Result<Outcome, LeaderError> {
        let ends = matches!(planned, Planned::Command(stmt, _) if ends_block(stmt));
        self.in_block(session, ends, async {
            if session.block_read_only() && changes_something(planned) {
                return Err(LeaderError::ReadOnlyTransaction(planned_name(planned)));
            }
            self.authorize(session, planned)?;
            self.execute_statement(session, planned, params, interrupt, text)
                .await
        })
        .await
    }

    async fn execute_statement(
        &self,
        session: &Session,
        planned: &Planned,
        params: Option<&ParamValues>,
        interrupt: Interrupt,
        text: &str,
    ) -> Result<Outcome, LeaderError> {
        // STL_QUERY records queries, INSERTs and CREATE TABLE AS, as Redshift does.
        let logged = match planned {
            Planned::Query(_)
            | Planned::Insert(_)
            | Planned::Dml(_)
            | Planned::Copy(_)
            | Planned::Unload(_)
            | Planned::Refresh(_) => true,
            Planned::Command(stmt, _) => {
                matches!(stmt.as_ref(), Statement::CreateTable(ct) if ct.query.is_some())
            }
            Planned::Empty | Planned::Access(_) => false,
        };
        let entry = logged.then(|| {
            let label = session.show("query_group").unwrap_or_default();
            self.query_log
                .start(session.user_id(), session.pid, &label, text)
        });
        session.set_current_query(entry.as_ref().map_or(0, QueryEntry::query_id));
        match planned {
            Planned::Empty => Ok(Outcome::Empty),
            Planned::Query(plan) => {
                let started = async {
                    let plan = results::bound(plan, params)?;
                    self.admit(session, StatementKind::Query)
                        .await
                        .map(|a| (plan, a))
                };
                match started.await {
                    Ok((plan, (state, guard))) => {
                        let df = DataFrame::new(state, plan);
                        self.rows(df, Some(guard), interrupt, entry).await
                    }
                    Err(e) => record(entry, Err(e)),
                }
            }
            Planned::Insert(plan) => {
                let result = self.insert(session, plan, params, interrupt).await;
                record(entry, result)
            }
            Planned::Dml(plan) => {
                let result = self
                    .delete_or_update(session, plan, params, interrupt)
                    .await;
                record(entry, result)
            }
            Planned::Command(stmt, attrs) => {
                let result = self.command(session, stmt, attrs.as_ref(), interrupt).await;
                record(entry, result)
            }
            Planned::Copy(stmt) if stmt.source == crate::sql::copy::CopySource::Stdin => {
                // The statement ends at the client's CopyDone, in the load task.
                let mut entry = entry;
                let started = self.copy_from_stdin(session, stmt, &mut entry).await;
                match started {
                    Ok(response) => Ok(response),
                    Err(e) => record(entry, Err(e)),
                }
            }
            Planned::Copy(stmt) => {
                let result = self.copy(session, stmt, interrupt).await;
                record(entry, result)
            }
            Planned::Unload(stmt) => {
                let result = self.unload(session, stmt, interrupt).await;
                record(entry, result)
            }
            Planned::Access(stmt) => {
                let result = self.access(session, stmt);
                record(entry, result)
            }
            Planned::Refresh(name) => {
                let result = self.refresh(session, name, interrupt).await;
                record(entry, result)
            }
        }
    }
}
