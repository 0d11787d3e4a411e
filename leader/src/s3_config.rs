//! [`S3Config`]: how the cluster reaches S3 for COPY and UNLOAD: an endpoint for
//! S3-compatible stores, and the credentials each IAM role stands for.
//!
//! Blueshift does not call AWS STS: `IAM_ROLE 'arn'` names credentials the operator
//! mapped to that ARN in a JSON file (`--iam-roles`), and `IAM_ROLE default` the ones
//! under `"default"`:
//!
//! ```json
//! { "default": { "access_key_id": "AK...", "secret_access_key": "..." },
//!   "arn:aws:iam::123456789012:role/loader": { "access_key_id": "...",
//!     "secret_access_key": "...", "session_token": "..." } }
//! ```

use std::collections::HashMap;
use std::path::Path;

use blueshift_operators::load::StoreConfig;
use serde::Deserialize;

use crate::error::{ErrorKind, LeaderError};
use crate::sql::copy::Authorization;

/// Credentials an IAM role maps to.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub session_token: Option<String>,
}

/// The cluster's S3 settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct S3Config {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); AWS when `None`.
    pub endpoint: Option<String>,
    /// The region when a statement gives none (`us-east-1` when unset).
    pub region: Option<String>,
    pub allow_http: bool,
    pub path_style: bool,
    /// Role ARN (or `default`) → credentials.
    pub iam_roles: HashMap<String, RoleCredentials>,
}

impl S3Config {
    /// Reads the IAM role mapping from `path`.
    pub fn load_iam_roles(&mut self, path: &Path) -> Result<(), LeaderError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| LeaderError::Config(format!("reading {}: {e}", path.display())))?;
        self.iam_roles = serde_json::from_str(&text)
            .map_err(|e| LeaderError::Config(format!("{}: {e}", path.display())))?;
        Ok(())
    }

    /// The store settings of the snapshot store: `role`'s credentials, else the
    /// `default` role's when one is mapped, else unsigned requests.
    pub fn store_for_role(&self, role: Option<&str>) -> Result<StoreConfig, LeaderError> {
        let iam_role = role.map(str::to_string).or_else(|| {
            self.iam_roles
                .contains_key("default")
                .then(|| "default".into())
        });
        self.store_for(&Authorization {
            iam_role,
            ..Authorization::default()
        })
    }

    /// The store settings for a statement's authorization.
    pub fn store_for(&self, auth: &Authorization) -> Result<StoreConfig, LeaderError> {
        let mut store = StoreConfig {
            region: auth.region.clone().or_else(|| self.region.clone()),
            endpoint: self.endpoint.clone(),
            allow_http: self.allow_http,
            path_style: self.path_style,
            ..StoreConfig::default()
        };
        match (&auth.iam_role, &auth.access_key_id, &auth.secret_access_key) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(LeaderError::InvalidParameter(
                    "give either IAM_ROLE or access keys, not both".into(),
                ));
            }
            (Some(role), None, None) => {
                let creds = self
                    .iam_roles
                    .get(role)
                    .ok_or_else(|| LeaderError::Failure {
                        kind: ErrorKind::InsufficientPrivilege,
                        message: if role == "default" {
                            "IAM_ROLE default: the cluster has no default IAM role (--iam-roles)"
                                .to_string()
                        } else {
                            format!("IAM_ROLE '{role}' is not associated with the cluster")
                        },
                    })?;
                store.access_key_id = Some(creds.access_key_id.clone());
                store.secret_access_key = Some(creds.secret_access_key.clone());
                store.session_token = creds.session_token.clone();
            }
            (None, Some(key), Some(secret)) => {
                store.access_key_id = Some(key.clone());
                store.secret_access_key = Some(secret.clone());
                store.session_token = auth.session_token.clone();
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(LeaderError::InvalidParameter(
                    "ACCESS_KEY_ID and SECRET_ACCESS_KEY must be given together".into(),
                ));
            }
            (None, None, None) => {}
        }
        Ok(store)
    }
}
