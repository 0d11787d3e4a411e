//! [`ComputeNode`]: starts a compute node's Flight server.

use std::net::SocketAddr;
use std::path::PathBuf;

use arrow_flight::flight_service_server::FlightServiceServer;
use blueshift_proto::MAX_MESSAGE_BYTES;
use blueshift_storage::segment::SliceStore;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;

use crate::error::ComputeError;
use crate::flight::ComputeService;
use blueshift_operators::secret::ClusterSecret;

/// How to run a compute node.
#[derive(Clone, Debug)]
pub struct ComputeConfig {
    /// The node's number in the cluster.
    pub node: u32,
    /// Where its slices live.
    pub data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Bytes of decoded blocks the node keeps in memory between scans (0: none).
    pub column_cache_bytes: u64,
    /// Bytes of temporary files the node's queries may hold at once (they spill in
    /// `<data_dir>/spill`).
    pub spill_limit_bytes: u64,
    /// The cluster's secret: the node answers only calls that carry it, and sends
    /// it with its own calls to other nodes.
    pub secret: ClusterSecret,
}

/// A running compute node.
pub struct ComputeNode {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ComputeNode {
    /// Opens the node's store and starts serving.
    pub async fn start(config: ComputeConfig) -> Result<Self, ComputeError> {
        let store =
            SliceStore::open(&config.data_dir)?.with_column_cache(config.column_cache_bytes);
        let runtime =
            blueshift_operators::spill::runtime(&config.data_dir, config.spill_limit_bytes)
                .map_err(|e| ComputeError::Server(format!("spill directory: {e}")))?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let tls = config.secret.tls().map(|t| t.server_config());
        // Every call, of the leader or of another node, must carry the secret.
        let admit = config.secret.gate(
            "this compute node answers only its cluster's leader and nodes: \
             the call did not carry the cluster secret",
        );
        let service = tonic::service::interceptor::InterceptedService::new(
            FlightServiceServer::new(ComputeService::new(
                config.node,
                store,
                config.secret,
                runtime,
            ))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
            admit,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // Small Flight messages (a fragment's last batch, an action's answer) must
        // not wait for Nagle's algorithm: without TCP_NODELAY each costs ~40 ms.
        let incoming = TcpListenerStream::new(listener).map(|socket| {
            if let Ok(s) = &socket {
                let _ = s.set_nodelay(true);
            }
            socket
        });
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| ComputeError::Server(format!("node TLS: {e}")))?;
        }
        let task = tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
            incoming,
            async {
                let _ = rx.await;
            },
        ));
        Ok(ComputeNode {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The address the node serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server to end.
    pub async fn stop(mut self) -> Result<(), ComputeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ComputeError::Server(e.to_string())),
            Err(e) => Err(ComputeError::Server(e.to_string())),
        }
    }

    /// Waits until the server ends on its own (an error).
    pub async fn wait(&mut self) -> Result<(), ComputeError> {
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ComputeError::Server(e.to_string())),
            Err(e) => Err(ComputeError::Server(e.to_string())),
        }
    }
}
