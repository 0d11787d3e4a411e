//! COPY's and UNLOAD's own options on the shared [`Cursor`].

use blueshift_operators::load::Compression;

use super::Authorization;
use crate::error::LeaderError;
use crate::sql::cursor::{Cursor, syntax};
use crate::sql::redshift_ddl::is_kw;

impl Cursor<'_> {
    /// An authorization option at the cursor; false if there is none.
    pub(super) fn authorization(&mut self, auth: &mut Authorization) -> Result<bool, LeaderError> {
        if self.keyword("iam_role") {
            auth.iam_role = Some(if self.keyword("default") {
                "default".into()
            } else {
                self.string("role ARN")?
            });
        } else if self.keyword("access_key_id") {
            auth.access_key_id = Some(self.string("access key id")?);
        } else if self.keyword("secret_access_key") {
            auth.secret_access_key = Some(self.secret("secret access key")?);
        } else if self.keyword("session_token") {
            auth.session_token = Some(self.secret("session token")?);
        } else if self.keyword("credentials") || self.keyword("with_credentials") {
            let at = self.peek();
            let text = self.secret("credentials string")?;
            for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let (key, value) = part.split_once('=').ok_or_else(|| {
                    syntax(
                        self.sql,
                        at,
                        format!("CREDENTIALS: '{part}' is not key=value"),
                    )
                })?;
                match key.trim().to_ascii_lowercase().as_str() {
                    "aws_access_key_id" => auth.access_key_id = Some(value.trim().into()),
                    "aws_secret_access_key" => auth.secret_access_key = Some(value.trim().into()),
                    "token" => auth.session_token = Some(value.trim().into()),
                    "aws_iam_role" => auth.iam_role = Some(value.trim().into()),
                    other => {
                        return Err(syntax(
                            self.sql,
                            at,
                            format!("CREDENTIALS: unknown key '{other}'"),
                        ));
                    }
                }
            }
        } else if self.keyword("region") {
            auth.region = Some(self.string("region")?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    pub(super) fn compression(&mut self) -> Result<Option<Compression>, LeaderError> {
        Ok(if self.keyword("gzip") {
            Some(Compression::Gzip)
        } else if self.keyword("bzip2") {
            Some(Compression::Bzip2)
        } else if self.keyword("zstd") {
            Some(Compression::Zstd)
        } else if self.peek().is_some_and(|t| is_kw(&t.token, "lzop")) {
            return Err(LeaderError::Unsupported("LZOP compression".into()));
        } else {
            None
        })
    }
}
