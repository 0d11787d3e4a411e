//! `blueshift node-tls DIR`: a CA for a cluster and one certificate it signed for
//! the leader and compute nodes to present to each other (mutual TLS), and the flags
//! that give a process those files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use blueshift_operators::secret::{ClusterSecret, NodeTls};
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

/// TLS for the calls between the leader and compute nodes (all three or none).
#[derive(Args, Debug)]
pub struct NodeTlsArgs {
    /// The cluster's CA certificate (PEM): with --node-tls-cert and --node-tls-key,
    /// calls between the leader and compute nodes go over mutual TLS.
    #[arg(long, env = "BLUESHIFT_NODE_TLS_CA")]
    node_tls_ca: Option<PathBuf>,
    /// This process's certificate chain (PEM), signed by the CA.
    #[arg(long, env = "BLUESHIFT_NODE_TLS_CERT")]
    node_tls_cert: Option<PathBuf>,
    /// The private key of --node-tls-cert (PEM).
    #[arg(long, env = "BLUESHIFT_NODE_TLS_KEY")]
    node_tls_key: Option<PathBuf>,
}

impl NodeTlsArgs {
    /// `secret`, with node TLS when the three files are given.
    pub fn apply(&self, secret: ClusterSecret) -> Result<ClusterSecret> {
        match (&self.node_tls_ca, &self.node_tls_cert, &self.node_tls_key) {
            (None, None, None) => Ok(secret),
            (Some(ca), Some(cert), Some(key)) => {
                Ok(secret.with_tls(NodeTls::read(ca, cert, key).map_err(anyhow::Error::msg)?))
            }
            _ => bail!(
                "node TLS needs --node-tls-ca, --node-tls-cert and --node-tls-key together \
                 (`blueshift node-tls DIR` makes them)"
            ),
        }
    }
}

/// The files `blueshift node-tls` writes in its directory.
pub const FILES: [&str; 4] = ["ca.pem", "ca.key", "node.pem", "node.key"];

/// Writes a new CA (`ca.pem`, `ca.key`) and a certificate it signed for `hosts`
/// (`node.pem`, `node.key`) into `dir`; keys are readable by their owner only. Refuses
/// to overwrite any of them.
pub fn generate(dir: &Path, hosts: &[String]) -> Result<()> {
    for file in FILES {
        if dir.join(file).exists() {
            bail!("{} exists already; kept it", dir.join(file).display());
        }
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Blueshift cluster CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);
    // IP addresses become IP subject names, other names DNS names.
    let mut node_params = CertificateParams::new(hosts.to_vec())?;
    node_params
        .distinguished_name
        .push(DnType::CommonName, "Blueshift node");
    node_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let node_key = KeyPair::generate()?;
    let node = node_params.signed_by(&node_key, &issuer)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write(&dir.join("ca.pem"), &ca.pem(), 0o644)?;
    write(&dir.join("ca.key"), &ca_key_pem, 0o600)?;
    write(&dir.join("node.pem"), &node.pem(), 0o644)?;
    write(&dir.join("node.key"), &node_key.serialize_pem(), 0o600)?;
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}
