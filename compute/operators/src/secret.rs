//! The cluster secret: every Flight call between the leader and the compute nodes,
//! and between compute nodes, carries it, and a compute node answers no call without
//! it. So a process that reaches a compute node's port but does not hold the secret
//! can neither run a fragment nor read or write a segment.
//!
//! The secret is 32 random bytes, hex-encoded, kept in a file readable by its owner
//! only (`cluster.secret` in the data directory; see docs/operations.md).
//!
//! Between hosts the calls can also go over TLS ([`NodeTls`]): each process holds a
//! certificate and key signed by the cluster's CA, compute nodes accept only clients
//! that present one (mutual TLS), and every client checks the node's certificate
//! against the CA. Every channel to a compute node is opened by
//! [`ClusterSecret::connect`].

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_flight::flight_service_client::FlightServiceClient;
use blueshift_proto::MAX_MESSAGE_BYTES;
use rand::RngCore;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The gRPC metadata key that carries the secret.
pub const SECRET_METADATA_KEY: &str = "x-blueshift-cluster-secret";

/// The secret shared by a cluster's leader and compute nodes, and the TLS material
/// of calls between hosts when the cluster uses TLS.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>, Option<Arc<NodeTls>>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed: a log line must not hand it out.
        f.write_str("ClusterSecret(..)")
    }
}

/// A process's TLS material for calls between the leader and compute nodes: the
/// cluster's CA certificate, and this process's certificate chain and key (PEM).
pub struct NodeTls {
    ca: String,
    cert: String,
    key: String,
}

impl NodeTls {
    /// Reads the CA certificate, certificate chain and key from their PEM files.
    pub fn read(ca: &Path, cert: &Path, key: &Path) -> Result<Self, String> {
        let read = |what: &str, path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading the node TLS {what} {}: {e}", path.display()))
                .and_then(|text| {
                    if text.contains("-----BEGIN") {
                        Ok(text)
                    } else {
                        Err(format!("the node TLS {what} {} is not PEM", path.display()))
                    }
                })
        };
        Ok(NodeTls {
            ca: read("CA certificate", ca)?,
            cert: read("certificate", cert)?,
            key: read("key", key)?,
        })
    }

    fn identity(&self) -> tonic::transport::Identity {
        tonic::transport::Identity::from_pem(&self.cert, &self.key)
    }

    fn ca(&self) -> tonic::transport::Certificate {
        tonic::transport::Certificate::from_pem(&self.ca)
    }

    /// What a compute node serves with: its certificate, and the CA its clients'
    /// certificates must be signed by.
    pub fn server_config(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(self.ca())
    }
}

/// A client of a compute node's Flight service that sends the cluster secret.
pub type NodeClient = FlightServiceClient<InterceptedService<Channel, ClusterSecret>>;

impl ClusterSecret {
    /// The secret in `text` (surrounding white space ignored), which must be at least
    /// 32 characters of visible ASCII.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < 32 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "a cluster secret is at least 32 characters of visible ASCII (as generated)"
                    .to_string(),
            );
        }
        Ok(ClusterSecret(Arc::from(text), None))
    }

    /// The secret, with calls between hosts over TLS with `tls`.
    pub fn with_tls(self, tls: NodeTls) -> Self {
        ClusterSecret(self.0, Some(Arc::new(tls)))
    }

    /// The cluster's TLS material, when calls between hosts use TLS.
    pub fn tls(&self) -> Option<&NodeTls> {
        self.1.as_deref()
    }

    /// A client of the compute node at `addr` (`host:port`) that sends the secret,
    /// over TLS when the cluster uses it. The connection is made at the first call;
    /// a node that stops answering mid-stream fails the call within seconds.
    pub fn connect(&self, addr: &str) -> Result<NodeClient, String> {
        use std::time::Duration;
        use tonic::transport::{ClientTlsConfig, Endpoint};
        let scheme = if self.1.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("compute address {addr}: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(10));
        if let Some(tls) = &self.1 {
            endpoint = endpoint
                .tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(tls.ca())
                        .identity(tls.identity()),
                )
                .map_err(|e| format!("TLS to compute node {addr}: {e}"))?;
        }
        Ok(self.client(endpoint.connect_lazy()))
    }

    /// A new random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        ClusterSecret(Arc::from(hex), None)
    }

    /// The secret in the file at `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the cluster secret {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("the cluster secret {}: {e}", path.display()))
    }

    /// The secret in the file at `path`, generated and written there (mode 0600)
    /// when the file does not exist.
    pub fn read_or_create(path: &Path) -> Result<Self, String> {
        if path.exists() {
            return Self::read(path);
        }
        let secret = Self::generate();
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(secret.0.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        write().map_err(|e| format!("writing the cluster secret {}: {e}", path.display()))?;
        Ok(secret)
    }

    /// Whether a call's metadata carries this secret (compared in constant time).
    pub fn admits(&self, metadata: &tonic::metadata::MetadataMap) -> bool {
        use subtle::ConstantTimeEq;
        metadata
            .get(SECRET_METADATA_KEY)
            .is_some_and(|v| v.as_bytes().ct_eq(self.0.as_bytes()).into())
    }

    /// A server interceptor that lets through only calls carrying this secret, and
    /// refuses the others as unauthenticated with `refusal`.
    pub fn gate(
        &self,
        refusal: &'static str,
    ) -> impl Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let secret = self.clone();
        move |request: tonic::Request<()>| {
            if secret.admits(request.metadata()) {
                Ok(request)
            } else {
                Err(tonic::Status::unauthenticated(refusal))
            }
        }
    }

    /// A Flight client over `channel` that sends the secret with every call.
    fn client(&self, channel: Channel) -> NodeClient {
        FlightServiceClient::with_interceptor(channel, self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

impl Interceptor for ClusterSecret {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value = MetadataValue::try_from(self.0.as_ref())
            .map_err(|_| tonic::Status::internal("the cluster secret is not valid metadata"))?;
        request.metadata_mut().insert(SECRET_METADATA_KEY, value);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_kept_read_back_and_checked() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("cluster.secret");
        let made = ClusterSecret::read_or_create(&path)?;
        let again = ClusterSecret::read_or_create(&path)?;
        assert_eq!(made.0, again.0, "a second start reads the same secret");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(ClusterSecret::parse("short").is_err());
        assert_eq!(format!("{made:?}"), "ClusterSecret(..)");

        let mut metadata = tonic::metadata::MetadataMap::new();
        assert!(!made.admits(&metadata), "no secret");
        let request = made
            .clone()
            .call(tonic::Request::new(()))
            .map_err(|e| e.to_string())?;
        assert!(made.admits(request.metadata()));
        let other = ClusterSecret::generate();
        assert!(
            !other.admits(request.metadata()),
            "another cluster's secret"
        );
        metadata.insert(
            SECRET_METADATA_KEY,
            MetadataValue::from_static("0000000000000000000000000000000000000000"),
        );
        assert!(!made.admits(&metadata));
        Ok(())
    }
}
