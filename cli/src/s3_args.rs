//! How the cluster (COPY, UNLOAD, snapshots) and the snapshot CLI reach S3: the
//! endpoint, region and addressing flags, and the IAM role mapping.

use std::path::PathBuf;

use anyhow::Result;
use blueshift_leader::s3_config::S3Config;
use clap::Args;

/// How COPY and UNLOAD reach S3.
#[derive(Args, Debug)]
pub struct S3Args {
    /// An S3-compatible endpoint instead of AWS (`http://127.0.0.1:9000`).
    #[arg(long, env = "BLUESHIFT_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The region when a statement gives no REGION (default us-east-1).
    #[arg(long, env = "BLUESHIFT_S3_REGION")]
    s3_region: Option<String>,
    /// Allow http:// endpoints.
    #[arg(long, env = "BLUESHIFT_S3_ALLOW_HTTP")]
    s3_allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), as most S3-compatible stores want.
    #[arg(long, env = "BLUESHIFT_S3_PATH_STYLE")]
    s3_path_style: bool,
    /// A JSON file mapping IAM role ARNs (and "default") to access keys.
    #[arg(long, env = "BLUESHIFT_IAM_ROLES")]
    iam_roles: Option<PathBuf>,
}

impl S3Args {
    pub fn config(&self) -> Result<S3Config> {
        let mut config = S3Config {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            allow_http: self.s3_allow_http,
            path_style: self.s3_path_style,
            ..S3Config::default()
        };
        if let Some(path) = &self.iam_roles {
            config.load_iam_roles(path)?;
        }
        Ok(config)
    }
}
