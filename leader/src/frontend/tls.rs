//! TLS on the PostgreSQL port (rustls): the operator's certificate and key, or a
//! self-signed pair generated at the first start and kept in the data directory.
//!
//! Clients ask for TLS with an SSLRequest (psql's `sslmode=prefer`, the default,
//! does); with `require_ssl` a client that does not is refused at startup (28000).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::info;

use crate::error::LeaderError;

/// How the PostgreSQL port serves TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// A PEM certificate chain (the server's certificate first); with `key`.
    pub cert: Option<PathBuf>,
    /// The PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// Refuse clients that do not use TLS (Redshift's `require_ssl`).
    pub require_ssl: bool,
}

/// Where the generated self-signed pair lives, under the leader's data directory.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("server.crt"), dir.join("server.key"))
}

fn config_error(path: &Path, what: &str, e: impl std::fmt::Display) -> LeaderError {
    LeaderError::Config(format!("{what} {}: {e}", path.display()))
}

/// The acceptor for `settings`: the certificate and key it names, or (with neither)
/// the pair in `<data_dir>/tls`, generated when missing for `localhost`, 127.0.0.1,
/// ::1 and `host`.
pub fn acceptor(
    settings: &TlsSettings,
    data_dir: &Path,
    host: &str,
) -> Result<TlsAcceptor, LeaderError> {
    let (cert, key) = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            let (cert, key) = generated_paths(data_dir);
            if !cert.exists() || !key.exists() {
                generate_self_signed(&cert, &key, host)?;
            }
            (cert, key)
        }
        _ => {
            return Err(LeaderError::Config(
                "--tls-cert and --tls-key go together: give both or neither".into(),
            ));
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| config_error(&cert, "reading the TLS certificate", e))?
        .collect::<Result<_, _>>()
        .map_err(|e| config_error(&cert, "reading the TLS certificate", e))?;
    if chain.is_empty() {
        return Err(config_error(
            &cert,
            "reading the TLS certificate",
            "no PEM certificate in the file",
        ));
    }
    let private = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| config_error(&key, "reading the TLS key", e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| LeaderError::Config(format!("TLS: {e}")))?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(|e| config_error(&cert, "the TLS certificate and key do not fit", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Writes a self-signed certificate and its key (readable by the owner only).
fn generate_self_signed(cert: &Path, key: &Path, host: &str) -> Result<(), LeaderError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !names.iter().any(|n| n == host) && !host.is_empty() && host != "0.0.0.0" && host != "::" {
        names.push(host.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| LeaderError::Config(format!("generating a TLS certificate: {e}")))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| config_error(dir, "creating", e))?;
    }
    write_private(key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert, generated.cert.pem()).map_err(|e| config_error(cert, "writing", e))?;
    info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LeaderError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| config_error(path, "writing", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| config_error(path, "writing", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_pair_is_kept_and_reused() -> Result<(), LeaderError> {
        let dir = tempfile::tempdir().map_err(|e| LeaderError::Config(e.to_string()))?;
        let settings = TlsSettings::default();
        acceptor(&settings, dir.path(), "127.0.0.1")?;
        let (cert, key) = generated_paths(dir.path());
        let first = std::fs::read(&cert).map_err(|e| LeaderError::Config(e.to_string()))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)
            .map_err(|e| LeaderError::Config(e.to_string()))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        acceptor(&settings, dir.path(), "127.0.0.1")?;
        let again = std::fs::read(&cert).map_err(|e| LeaderError::Config(e.to_string()))?;
        assert_eq!(first, again, "a second start reuses the pair");
        // Half a configuration, or a file that is not PEM, is a clear error.
        let half = TlsSettings {
            cert: Some(cert.clone()),
            ..TlsSettings::default()
        };
        assert!(matches!(
            acceptor(&half, dir.path(), "x"),
            Err(LeaderError::Config(_))
        ));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate")
            .map_err(|e| LeaderError::Config(e.to_string()))?;
        let bad = TlsSettings {
            cert: Some(garbage),
            key: Some(key),
            require_ssl: false,
        };
        match acceptor(&bad, dir.path(), "x") {
            Err(LeaderError::Config(m)) => assert!(m.contains("garbage.pem"), "{m}"),
            Err(other) => panic!("expected a configuration error, got {other:?}"),
            Ok(_) => panic!("a file that is not PEM must be refused"),
        }
        Ok(())
    }
}
