//! The PostgreSQL wire protocol front end (pgwire): startup and authentication, the
//! simple query protocol and the extended one (Parse/Bind/Describe/Execute).

use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::DataType;
use arrow_pg::datatypes::df::deserialize_parameters;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use futures::{Sink, StreamExt};
use pgwire::api::PgWireConnectionState;
use pgwire::api::auth::md5pass::Md5PasswordAuthStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{DefaultServerParameterProvider, StartupHandler};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, PgWireServerHandlers, Type,
};
use pgwire::api::{PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::engine::{Completion, Engine, Outcome, Planned};
use crate::error::{ErrorKind, LeaderError};
use crate::frontend::auth::{AuthMethod, CatalogAuthSource, SCRAM_ITERATIONS, verify_password};
use crate::frontend::client_error::client_error;
use crate::interrupt::Interrupt;
use crate::session::{SERVER_VERSION, Session, SessionRegistry};
use blueshift_storage::catalog::Catalog;

mod startup;
mod text_output;
pub use startup::{CleartextStartup, Startup, StartupGate};
use text_output::TextStyle;

/// A prepared statement: the plan and its parameter types.
#[derive(Debug, Clone)]
pub struct Prepared {
    planned: Planned,
    parameter_types: Vec<Type>,
    /// The SQL text, for the query log.
    text: String,
    /// The SQL the client sent, to plan again.
    sql: String,
    /// The session's block generation when it was planned: a plan made in another
    /// transaction block (or outside one) reads another view of the catalog, so it
    /// is planned again before it runs.
    block_generation: u64,
}

/// The interrupt of the statement a session is about to run: a CancelRequest or its
/// statement timeout.
fn interrupt_for(session: &Arc<Session>) -> Interrupt {
    Interrupt::new(Some(Arc::clone(session)), session.statement_timeout_ms())
}

/// Routes CancelRequests to the session they name (and to pgwire's own handling).
#[derive(Debug)]
pub struct CancelRouter {
    sessions: Arc<SessionRegistry>,
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl CancelHandler for CancelRouter {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.sessions
            .cancel(request.pid, Some(&request.secret_key.to_bytes()));
        self.connections
            .cancel(request.pid, &request.secret_key)
            .await;
    }
}

/// Answers queries of every connection.
#[derive(Debug)]
pub struct QueryHandler {
    engine: Arc<Engine>,
    sessions: Arc<SessionRegistry>,
}

/// The session of `client`, created and registered on first use.
fn session_of<C: ClientInfo + ?Sized>(sessions: &SessionRegistry, client: &C) -> Arc<Session> {
    if let Some(session) = client.session_extensions().get::<Session>() {
        return session;
    }
    let user = client.metadata().get("user").cloned().unwrap_or_default();
    let (pid, secret) = client.pid_and_secret_key();
    let session = client
        .session_extensions()
        .get_or_insert_with(|| sessions.open(&user, pid));
    sessions.register(pid, secret.to_bytes(), &session);
    session
}

impl QueryHandler {
    async fn prepare(
        &self,
        session: &Session,
        sql: &str,
        declared: &[Option<Type>],
    ) -> Result<Prepared, LeaderError> {
        let block_generation = session.block_generation();
        let mut statements = self.engine.parse(session, sql)?;
        let mut text = sql.to_string();
        let planned = match statements.len() {
            0 => Planned::Empty,
            1 => {
                let parsed = statements.remove(0);
                text = parsed.log_text(sql, true);
                self.engine.plan(session, parsed).await?
            }
            _ => {
                return Err(LeaderError::Syntax {
                    message: "cannot insert multiple commands into a prepared statement".into(),
                    position: None,
                });
            }
        };
        let inferred = self.engine.parameter_types(&planned)?;
        let parameter_types = parameter_types(declared, inferred)?;
        Ok(Prepared {
            planned,
            parameter_types,
            text,
            sql: sql.to_string(),
            block_generation,
        })
    }
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(&self.sessions, client);
        let statements = match self.engine.parse(&session, query) {
            Ok(s) => s,
            // As an error response (not a failed call), so the client's transaction
            // status shows the block the error failed.
            Err(e) => match client_error(e, None) {
                PgWireError::UserError(info) => return Ok(vec![Response::Error(info)]),
                other => return Err(other),
            },
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let single = statements.len() == 1;
        let count = statements.len();
        for (n, parsed) in statements.into_iter().enumerate() {
            // The log shows what the client sent when it sent one statement.
            let text = parsed.log_text(query, single);
            let result = match self.engine.plan(&session, parsed).await {
                Ok(planned) => {
                    let interrupt = interrupt_for(&session);
                    let mut ran = self
                        .engine
                        .execute(&session, &planned, None, interrupt, &text)
                        .await;
                    // Every statement but the last runs to its end before the next
                    // starts (Rows::buffered says why).
                    if n + 1 < count
                        && let Ok(Outcome::Rows(rows)) = ran
                    {
                        ran = rows.buffered().await.map(Outcome::Rows);
                        if ran.is_err() {
                            self.engine.block_failer(Arc::clone(&session))();
                        }
                    }
                    let query = session.current_query();
                    ran.map_err(|e| client_error(e, query)).and_then(|outcome| {
                        let failed = self.engine.block_failer(Arc::clone(&session));
                        response(
                            outcome,
                            &Format::UnifiedText,
                            text_style(&session),
                            query,
                            failed,
                        )
                    })
                }
                Err(e) => Err(client_error(e, None)),
            };
            match result {
                Ok(r) => responses.push(r),
                Err(e) => {
                    // PostgreSQL stops at the first failing statement.
                    if let PgWireError::UserError(info) = e {
                        responses.push(Response::Error(info));
                    }
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// The parameter types a prepared statement describes: those the client declared in
/// Parse, else those the planner inferred, else text.
fn parameter_types(
    declared: &[Option<Type>],
    inferred: Vec<Option<DataType>>,
) -> Result<Vec<Type>, LeaderError> {
    let count = inferred.len().max(declared.len());
    let mut inferred = inferred.into_iter();
    (0..count)
        .map(|n| {
            match (
                declared.get(n).cloned().flatten(),
                inferred.next().flatten(),
            ) {
                (Some(t), _) => Ok(t),
                (None, Some(dt)) => into_pg_type(&dt).map_err(|e| {
                    LeaderError::Unsupported(format!("a parameter of type {dt}: {e}"))
                }),
                (None, None) => Ok(Type::TEXT),
            }
        })
        .collect()
}

fn tag(done: Completion) -> Tag {
    let mut tag = Tag::new(done.name);
    if let Some(oid) = done.oid {
        tag = tag.with_oid(oid);
    }
    if let Some(rows) = done.rows {
        tag = tag.with_rows(rows as usize);
    }
    tag
}

/// A statement's outcome as pgwire's response, rows encoded in `format`; `query` is
/// the statement's query id, for the errors its rows meet.
/// `failed` runs when the rows meet an error after the statement started (it fails
/// the session's transaction block, as any failed statement does).
fn response(
    outcome: Outcome,
    format: &Format,
    style: TextStyle,
    query: Option<u64>,
    failed: impl Fn() + Send + Sync + 'static,
) -> PgWireResult<Response> {
    Ok(match outcome {
        Outcome::Empty => Response::EmptyQuery,
        Outcome::Done(done) => Response::Execution(tag(done)),
        Outcome::Began(done) => Response::TransactionStart(tag(done)),
        Outcome::Ended(done) => Response::TransactionEnd(tag(done)),
        Outcome::CopyIn { columns } => {
            Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
        }
        Outcome::Rows(rows) => {
            let fields = match arrow_schema_to_pg_fields(rows.schema(), format, None) {
                Ok(f) => Arc::new(f),
                Err(e) => {
                    let refused = rows.refuse(LeaderError::Unsupported(format!(
                        "a result column type: {e}"
                    )));
                    return Err(client_error(refused, query));
                }
            };
            let row_fields = Arc::clone(&fields);
            let encoded = rows
                .into_stream()
                .map(move |batch| {
                    let rows: Box<dyn Iterator<Item = PgWireResult<_>> + Send + Sync> = match batch
                    {
                        Ok(batch) => encode_recordbatch(
                            Arc::clone(&row_fields),
                            text_output::pg_text(batch, &row_fields, &style),
                        ),
                        Err(e) => {
                            failed();
                            Box::new(std::iter::once(Err(client_error(e, query))))
                        }
                    };
                    futures::stream::iter(rows)
                })
                .flatten();
            Response::Query(QueryResponse::new(fields, encoded))
        }
    })
}

/// How `session`'s settings say its text output looks.
fn text_style(session: &Session) -> TextStyle {
    let setting = |name: &str| session.show(name).unwrap_or_default();
    TextStyle::new(&setting("extra_float_digits"), &setting("timezone"))
}

/// Parses statements for the extended protocol.
#[derive(Debug)]
pub struct StatementParser {
    handler: Arc<QueryHandler>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = session_of(&self.handler.sessions, client);
        let prepared = self.handler.prepare(&session, sql, types).await?;
        Ok(Some(prepared))
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(stmt.parameter_types.clone())
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let schema = self.handler.engine.result_schema(&stmt.planned);
        arrow_schema_to_pg_fields(&schema, column_format.unwrap_or(&Format::UnifiedText), None)
    }
}

/// The extended protocol, sharing the query handler.
#[derive(Debug)]
pub struct ExtendedHandler {
    handler: Arc<QueryHandler>,
    parser: Arc<StatementParser>,
}

fn arrow_type_of(ty: &Type) -> Option<DataType> {
    Some(match *ty {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::DATE => DataType::Date32,
        _ => return None,
    })
}

#[async_trait]
impl ExtendedQueryHandler for ExtendedHandler {
    type Statement = Prepared;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(&self.handler.sessions, client);
        let mut prepared = &portal.statement.statement;
        // Planned in another transaction block (or outside one): plan it again
        // against the catalog this block sees, with the types it was described with.
        let replanned;
        if prepared.block_generation != session.block_generation() {
            let declared: Vec<Option<Type>> =
                prepared.parameter_types.iter().cloned().map(Some).collect();
            replanned = self
                .handler
                .prepare(&session, &prepared.sql, &declared)
                .await
                .map_err(|e| client_error(e, None))?;
            prepared = &replanned;
        }
        let types: Vec<Option<DataType>> =
            prepared.parameter_types.iter().map(arrow_type_of).collect();
        let type_refs: Vec<Option<&DataType>> = types.iter().map(|t| t.as_ref()).collect();
        let params = if prepared.parameter_types.is_empty() {
            None
        } else {
            Some(deserialize_parameters(portal, &type_refs)?)
        };
        let interrupt = interrupt_for(&session);
        let ran = self
            .handler
            .engine
            .execute(
                &session,
                &prepared.planned,
                params.as_ref(),
                interrupt,
                &prepared.text,
            )
            .await;
        let query = session.current_query();
        let failed = self.handler.engine.block_failer(Arc::clone(&session));
        response(
            ran.map_err(|e| client_error(e, query))?,
            &portal.result_column_format,
            text_style(&session),
            query,
            failed,
        )
    }
}

/// Serves one client connection until it ends.
pub async fn serve(
    socket: tokio::net::TcpStream,
    tls: pgwire::tokio::TlsAcceptor,
    handlers: Arc<Handlers>,
) -> std::io::Result<()> {
    pgwire::tokio::process_socket(socket, Some(tls), handlers).await
}

/// Everything pgwire needs to serve one connection.
#[derive(Debug)]
pub struct Handlers {
    /// Refuse clients that did not ask for TLS.
    require_ssl: bool,
    query: Arc<QueryHandler>,
    extended: Arc<ExtendedHandler>,
    auth_source: Arc<CatalogAuthSource>,
    /// MD5 verifiers, for Amazon's Redshift drivers (see [`StartupGate`]).
    md5_source: Arc<CatalogAuthSource>,
    catalog: Catalog,
    method: AuthMethod,
    connections: Arc<ConnectionManager>,
    /// One generator for every connection, so backend pids are unique.
    pids: Arc<RandomPidSecretKeyGenerator>,
}

impl Handlers {
    /// Handlers over `engine`, authenticating with `method` against the catalog;
    /// with `require_ssl` only connections that use TLS get as far as that.
    pub fn new(
        engine: Arc<Engine>,
        catalog: Catalog,
        method: AuthMethod,
        require_ssl: bool,
    ) -> Self {
        let auth_source = CatalogAuthSource::new(catalog.clone(), method);
        let md5_source = CatalogAuthSource::new(catalog.clone(), AuthMethod::Md5);
        let query = Arc::new(QueryHandler {
            sessions: engine.sessions(),
            engine,
        });
        let parser = Arc::new(StatementParser {
            handler: Arc::clone(&query),
        });
        Handlers {
            require_ssl,
            extended: Arc::new(ExtendedHandler {
                handler: Arc::clone(&query),
                parser,
            }),
            query,
            auth_source,
            md5_source,
            catalog,
            method,
            connections: Arc::new(ConnectionManager::new()),
            pids: Arc::new(RandomPidSecretKeyGenerator::default()),
        }
    }
}

fn server_parameters() -> Arc<DefaultServerParameterProvider> {
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = SERVER_VERSION.to_string();
    p.scram_iterations = SCRAM_ITERATIONS;
    p.search_path = "$user, public".to_string();
    Arc::new(p)
}

/// Gives protocol-level errors PostgreSQL's wording.
#[derive(Debug)]
pub struct PostgresErrors;

impl ErrorHandler for PostgresErrors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        if let PgWireError::InvalidPassword(_) = error {
            let user = client.metadata().get("user").cloned().unwrap_or_default();
            *error = PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                ErrorKind::InvalidPassword.sqlstate().to_string(),
                format!("password authentication failed for user \"{user}\""),
            )));
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.query)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.extended)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let params = server_parameters();
        let startup = match self.method {
            AuthMethod::Md5 => Startup::Md5(
                Md5PasswordAuthStartupHandler::new(Arc::clone(&self.auth_source), params)
                    .with_pid_secret_key_generator(self.pids.clone())
                    .with_connection_manager(Arc::clone(&self.connections)),
            ),
            AuthMethod::Password => Startup::Cleartext(CleartextStartup {
                catalog: self.catalog.clone(),
                params,
                connections: Arc::clone(&self.connections),
                pids: Arc::clone(&self.pids),
            }),
            AuthMethod::ScramSha256 => {
                let mut scram = ScramAuth::new(self.auth_source.clone());
                scram.set_iterations(SCRAM_ITERATIONS);
                Startup::Scram(
                    SASLAuthStartupHandler::new(params)
                        .with_scram(scram)
                        .with_pid_secret_key_generator(self.pids.clone())
                        .with_connection_manager(Arc::clone(&self.connections)),
                )
            }
        };
        let md5 = (self.method == AuthMethod::ScramSha256).then(|| {
            Startup::Md5(
                Md5PasswordAuthStartupHandler::new(
                    Arc::clone(&self.md5_source),
                    server_parameters(),
                )
                .with_pid_secret_key_generator(self.pids.clone())
                .with_connection_manager(Arc::clone(&self.connections)),
            )
        });
        Arc::new(StartupGate {
            exchange: startup,
            md5,
            use_md5: std::sync::atomic::AtomicBool::new(false),
            require_ssl: self.require_ssl,
            catalog: self.catalog.clone(),
            sessions: Arc::clone(&self.query.sessions),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(PostgresErrors)
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::new(CopyInHandler {
            sessions: self.query.engine.sessions(),
            engine: Arc::clone(&self.query.engine),
        })
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(CancelRouter {
            sessions: Arc::clone(&self.query.sessions),
            connections: Arc::clone(&self.connections),
        })
    }
}

/// The copy sub-protocol: CopyData feeds the session's COPY FROM STDIN, CopyDone
/// waits for its commit and answers `COPY n`, CopyFail abandons it.
#[derive(Debug)]
pub struct CopyInHandler {
    sessions: Arc<SessionRegistry>,
    /// A COPY that fails fails the session's transaction block.
    engine: Arc<Engine>,
}

#[async_trait]
impl CopyHandler for CopyInHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(&self.sessions, client);
        if let Some(data) = session.copy_in_data() {
            // A load that stopped early (an error) reports it at CopyDone.
            let _ = data.send(copy_data.data).await;
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        let session = session_of(&self.sessions, client);
        let Some(copy) = session.take_copy_in() else {
            return Err(LeaderError::Syntax {
                message: "CopyDone without a COPY in progress".into(),
                position: None,
            }
            .into());
        };
        drop(copy.data);
        let loaded = match copy.load.await {
            Ok(result) => result,
            Err(e) => Err(LeaderError::Failure {
                kind: ErrorKind::InternalError,
                message: format!("COPY FROM STDIN stopped: {e}"),
            }),
        };
        let rows = loaded.inspect_err(|_| self.engine.fail_block(&session))?;
        if let Some(def) = copy.analyze.as_ref().filter(|_| rows > 0) {
            self.engine.analyze_after_copy_in(&session, def).await;
        }
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = session_of(&self.sessions, client);
        if let Some(copy) = session.take_copy_in() {
            copy.load.abort();
        }
        self.engine.fail_block(&session);
        LeaderError::Failure {
            kind: ErrorKind::QueryCanceled,
            message: format!("COPY from stdin failed: {}", fail.message),
        }
        .into()
    }
}
