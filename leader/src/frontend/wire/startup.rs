//! The startup of a connection: the password exchange the server asks each client
//! for, `require_ssl`, CONNECTION LIMIT, and the session opened once a client is in.

use super::*;
/// The authentication exchange of one connection (each has its own state).
pub enum Startup {
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    Md5(Md5PasswordAuthStartupHandler<CatalogAuthSource, DefaultServerParameterProvider>),
    Cleartext(CleartextStartup),
}

/// Cleartext password authentication, checked against the stored SCRAM verifier
/// (pgwire's own cleartext handler needs the password itself, which is not kept).
pub struct CleartextStartup {
    pub(super) catalog: Catalog,
    pub(super) params: Arc<DefaultServerParameterProvider>,
    pub(super) connections: Arc<ConnectionManager>,
    pub(super) pids: Arc<RandomPidSecretKeyGenerator>,
}

#[async_trait]
impl StartupHandler for CleartextStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        use pgwire::api::auth::{
            finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
        };
        use pgwire::messages::startup::Authentication;
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(pgwire::api::PgWireConnectionState::AuthenticationInProgress);
                client
                    .send(PgWireBackendMessage::Authentication(
                        Authentication::CleartextPassword,
                    ))
                    .await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let pwd = pwd.into_password()?;
                let name = client.metadata().get("user").cloned().unwrap_or_default();
                let ok = matches!(
                    self.catalog.user(&name),
                    Ok(Some(user)) if crate::frontend::auth::may_log_in(&user) && verify_password(&user, &pwd.password)
                );
                if !ok {
                    return Err(PgWireError::InvalidPassword(name));
                }
                let (pid, secret_key) = self.pids.generate(client);
                client.set_pid_and_secret_key(pid, secret_key.clone());
                let (handle, guard) = self.connections.register(pid, secret_key);
                client.session_extensions().insert(handle);
                client.session_extensions().insert(guard);
                finish_authentication(client, self.params.as_ref()).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The startup of a connection: with `require_ssl`, a client that did not negotiate
/// TLS is refused before the password exchange (as Redshift's `require_ssl` and a
/// PostgreSQL `hostssl` line do). Amazon's Redshift drivers (redshift_connector, which
/// dbt-redshift uses, and the Redshift JDBC driver) announce themselves with the
/// startup parameter `client_protocol_version`; Redshift offers them MD5 (they read a
/// SCRAM mechanism list wrongly), so when the server's exchange is SCRAM those
/// connections get the MD5 exchange instead, checked against the stored MD5 verifier;
/// so do users whose password was given as an MD5 hash (they have no SCRAM
/// verifier). A user at its CONNECTION LIMIT is refused (53300) before the exchange.
/// Once the client is in, its session is opened, so that it counts.
pub struct StartupGate {
    pub(super) exchange: Startup,
    /// The MD5 exchange for Redshift's drivers and MD5-only users, when `exchange`
    /// is SCRAM.
    pub(super) md5: Option<Startup>,
    /// Whether this connection uses `md5`.
    pub(super) use_md5: std::sync::atomic::AtomicBool,
    pub(super) require_ssl: bool,
    pub(super) catalog: Catalog,
    pub(super) sessions: Arc<SessionRegistry>,
}

/// The startup parameter only Amazon's Redshift drivers send.
const REDSHIFT_DRIVER_PARAMETER: &str = "client_protocol_version";

#[async_trait]
impl StartupHandler for StartupGate {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use std::sync::atomic::Ordering;
        if let PgWireFrontendMessage::Startup(startup) = &message {
            if self.require_ssl && !client.is_secure() {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".to_string(),
                    ErrorKind::InvalidAuthorizationSpecification
                        .sqlstate()
                        .to_string(),
                    format!(
                        "the server requires SSL (require_ssl): connect with sslmode=require or \
                         stronger; this connection from {} is not encrypted",
                        client.socket_addr().ip()
                    ),
                ))));
            }
            let name = startup.parameters.get("user").cloned().unwrap_or_default();
            let user = self.catalog.user(&name).ok().flatten();
            if let Some(limit) = user.as_ref().and_then(|u| u.connection_limit)
                && self.sessions.sessions_of(&name) >= limit as usize
            {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".to_string(),
                    ErrorKind::TooManyConnections.sqlstate().to_string(),
                    format!("too many connections for user \"{name}\" (CONNECTION LIMIT {limit})"),
                ))));
            }
            let md5_only = user
                .as_ref()
                .is_some_and(|u| u.scram_salted_password.is_empty() && !u.md5_hash.is_empty());
            let redshift_driver = startup.parameters.contains_key(REDSHIFT_DRIVER_PARAMETER);
            self.use_md5
                .store(redshift_driver || md5_only, Ordering::Relaxed);
        }
        let result = match &self.md5 {
            Some(md5) if self.use_md5.load(Ordering::Relaxed) => {
                md5.on_startup(client, message).await
            }
            _ => self.exchange.on_startup(client, message).await,
        };
        if result.is_ok() && matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            session_of(&self.sessions, client);
        }
        result
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Md5(h) => h.on_startup(client, message).await,
            Startup::Cleartext(h) => h.on_startup(client, message).await,
        }
    }
}
