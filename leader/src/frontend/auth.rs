//! Password authentication against the catalog's users: SCRAM-SHA-256 (the default),
//! MD5 or cleartext password, as the leader is configured.

use std::sync::Arc;

use async_trait::async_trait;
use blueshift_storage::catalog::{Catalog, UserDef};
use pgwire::api::auth::sasl::scram::gen_salted_password;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::{PgWireError, PgWireResult};
use rand::RngCore;

/// SCRAM iterations for stored verifiers (PostgreSQL's default).
pub const SCRAM_ITERATIONS: usize = 4096;

/// Which password exchange the server asks clients for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    ScramSha256,
    Md5,
    /// Cleartext password (PostgreSQL's `password` method).
    Password,
}

impl std::str::FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "scram-sha-256" | "scram" => Ok(AuthMethod::ScramSha256),
            "md5" => Ok(AuthMethod::Md5),
            "password" | "cleartext" => Ok(AuthMethod::Password),
            other => Err(format!(
                "unknown authentication method {other:?} (scram-sha-256, md5 or password)"
            )),
        }
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", md5::compute(bytes))
}

/// A user record with verifiers for `password`; the password itself is not kept.
pub fn new_user(name: &str, password: &str, superuser: bool) -> UserDef {
    let mut salt = vec![0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    UserDef {
        name: name.to_string(),
        superuser,
        scram_salted_password: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
        scram_salt: salt,
        scram_iterations: SCRAM_ITERATIONS as u32,
        md5_hash: md5_hex(format!("{password}{name}").as_bytes()),
        id: blueshift_storage::catalog::access::BOOTSTRAP_USER_ID,
        createdb: superuser,
        password_disabled: false,
        valid_until: None,
        connection_limit: None,
        settings: Default::default(),
    }
}

/// Whether `user` may log in now: its password is not DISABLEd and not past VALID
/// UNTIL. A user who may not fails as a wrong password does.
pub fn may_log_in(user: &UserDef) -> bool {
    if user.password_disabled {
        return false;
    }
    match &user.valid_until {
        None => true,
        Some(until) => {
            chrono::DateTime::parse_from_rfc3339(until).is_ok_and(|t| t > chrono::Utc::now())
        }
    }
}

/// Whether `password` is `user`'s password.
/// The comparison takes the same time wherever the bytes differ (`subtle`), so its
/// timing tells nothing about the stored verifier.
pub fn verify_password(user: &UserDef, password: &str) -> bool {
    use subtle::ConstantTimeEq;
    let salted = gen_salted_password(password, &user.scram_salt, user.scram_iterations as usize);
    salted.ct_eq(&user.scram_salted_password).into()
}

/// Looks users up in the catalog for pgwire's authenticators.
#[derive(Debug, Clone)]
pub struct CatalogAuthSource {
    catalog: Catalog,
    method: AuthMethod,
}

impl CatalogAuthSource {
    /// A source over `catalog` for `method`.
    pub fn new(catalog: Catalog, method: AuthMethod) -> Arc<Self> {
        Arc::new(CatalogAuthSource { catalog, method })
    }
}

fn auth_failed(user: &str) -> PgWireError {
    PgWireError::InvalidPassword(user.to_string())
}

#[async_trait]
impl AuthSource for CatalogAuthSource {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        let user = match self.catalog.user(name) {
            Ok(Some(u)) if may_log_in(&u) => u,
            Ok(Some(_)) => return Err(auth_failed(name)),
            // An unknown user fails exactly like a wrong password.
            Ok(None) => return Err(auth_failed(name)),
            Err(e) => {
                tracing::warn!("reading user {name}: {e}");
                return Err(auth_failed(name));
            }
        };
        match self.method {
            AuthMethod::ScramSha256 => Ok(Password::new(
                Some(user.scram_salt.clone()),
                user.scram_salted_password.clone(),
            )),
            AuthMethod::Md5 => {
                let mut salt = vec![0u8; 4];
                rand::rng().fill_bytes(&mut salt);
                let mut inner = user.md5_hash.clone().into_bytes();
                inner.extend_from_slice(&salt);
                let expected = format!("md5{}", md5_hex(&inner));
                Ok(Password::new(Some(salt), expected.into_bytes()))
            }
            // Cleartext passwords are checked by `wire::CleartextStartup`.
            AuthMethod::Password => Err(auth_failed(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_check_the_password() {
        let u = new_user("admin", "s3cret", true);
        assert!(verify_password(&u, "s3cret"));
        assert!(!verify_password(&u, "wrong"));
        assert_eq!(u.md5_hash, md5_hex(b"s3cretadmin"));
    }
}
