//! The admin API: an Arrow Flight service on `--admin-port` that `blueshift snapshot
//! create`, `restore-table`, `enable-copy` and `disable-copy` call. Every call must carry the cluster secret (as calls between the
//! leader and compute nodes do), and goes over TLS when the cluster's node TLS is set.
//! Its actions are in `blueshift_proto` (`ACTION_CREATE_SNAPSHOT`,
//! `ACTION_ENABLE_SNAPSHOT_COPY`, `ACTION_DISABLE_SNAPSHOT_COPY`, `ACTION_RESTORE_TABLE`); an error comes
//! back as a status whose message starts with its SQLSTATE.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use blueshift_operators::secret::ClusterSecret;
use blueshift_proto::{
    ACTION_CREATE_SNAPSHOT, ACTION_DISABLE_SNAPSHOT_COPY, ACTION_ENABLE_SNAPSHOT_COPY,
    ACTION_RESTORE_TABLE, CreateSnapshot, EnableSnapshotCopy, ErrorKind, RestoreTable,
};
use futures::{Stream, StreamExt};
use prost::Message;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status, Streaming};

use crate::engine::Engine;
use crate::error::{LeaderError, sqlstate};

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The admin Flight service over the leader's engine.
struct AdminService {
    engine: Arc<Engine>,
}

/// A running admin API.
pub struct AdminServer {
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl AdminServer {
    /// Serves the admin API on `listen` until [`AdminServer::stop`].
    pub async fn start(
        listen: SocketAddr,
        secret: &ClusterSecret,
        engine: Arc<Engine>,
    ) -> Result<Self, LeaderError> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let service = tonic::service::interceptor::InterceptedService::new(
            FlightServiceServer::new(AdminService { engine }),
            secret.gate(
                "the admin API answers only callers holding the cluster secret \
                 (blueshift snapshot --cluster-secret-file)",
            ),
        );
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = secret.tls() {
            builder = builder
                .tls_config(tls.server_config())
                .map_err(|e| LeaderError::Config(format!("admin API TLS: {e}")))?;
        }
        let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
            incoming,
            async {
                let _ = rx.await;
            },
        ));
        Ok(AdminServer {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops serving.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

/// The status of a failed admin call: its SQLSTATE, then its message.
fn status_of(e: &LeaderError) -> Status {
    let (state, message) = sqlstate(e);
    let code = match e.kind() {
        ErrorKind::InvalidParameterValue => tonic::Code::InvalidArgument,
        ErrorKind::DuplicateObject => tonic::Code::AlreadyExists,
        ErrorKind::UndefinedObject | ErrorKind::UndefinedTable => tonic::Code::NotFound,
        ErrorKind::DuplicateTable => tonic::Code::AlreadyExists,
        ErrorKind::InsufficientPrivilege => tonic::Code::PermissionDenied,
        _ => tonic::Code::Internal,
    };
    Status::new(code, format!("{state}: {message}"))
}

fn unsupported<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not part of the Blueshift admin API"
    )))
}

#[tonic::async_trait]
impl FlightService for AdminService {
    type HandshakeStream = BoxedStream<HandshakeResponse>;
    type ListFlightsStream = BoxedStream<FlightInfo>;
    type DoGetStream = BoxedStream<FlightData>;
    type DoPutStream = BoxedStream<PutResult>;
    type DoExchangeStream = BoxedStream<FlightData>;
    type DoActionStream = BoxedStream<arrow_flight::Result>;
    type ListActionsStream = BoxedStream<ActionType>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }

    async fn do_get(
        &self,
        _request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        unsupported("DoGet")
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        unsupported("DoPut")
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            ACTION_CREATE_SNAPSHOT => {
                let request = CreateSnapshot::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                self.engine
                    .create_snapshot(request)
                    .await
                    .map_err(|e| status_of(&e))?
                    .encode_to_vec()
            }
            ACTION_RESTORE_TABLE => {
                let request = RestoreTable::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                self.engine
                    .restore_table(request)
                    .await
                    .map_err(|e| status_of(&e))?
                    .encode_to_vec()
            }
            ACTION_ENABLE_SNAPSHOT_COPY => {
                let request = EnableSnapshotCopy::decode(action.body)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                self.engine
                    .enable_snapshot_copy(request)
                    .map_err(|e| status_of(&e))?
                    .encode_to_vec()
            }
            ACTION_DISABLE_SNAPSHOT_COPY => self
                .engine
                .disable_snapshot_copy()
                .map_err(|e| status_of(&e))?
                .encode_to_vec(),
            other => return unsupported(&format!("action {other}")),
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(
            futures::stream::once(async { Ok(result) }).boxed(),
        ))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }
}
