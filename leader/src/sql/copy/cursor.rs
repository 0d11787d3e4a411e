//! [`Cursor`]: reading a COPY or UNLOAD statement's tokens.

use blueshift_operators::load::Compression;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::super::redshift_ddl::{Tok, is_kw, word_name};
use super::Authorization;
use crate::error::LeaderError;

/// A COPY or UNLOAD statement's tokens, read one option at a time.
pub(super) struct Cursor<'a> {
    pub(super) sql: &'a str,
    pub(super) toks: &'a [Tok],
    pub(super) at: usize,
    /// Byte ranges of secrets, blanked in the redacted text.
    pub(super) secrets: Vec<(usize, usize)>,
}

pub(super) fn syntax(sql: &str, at: Option<&Tok>, message: String) -> LeaderError {
    LeaderError::Syntax {
        message,
        position: at.map(|t| sql[..t.start].chars().count() + 1),
    }
}

impl<'a> Cursor<'a> {
    pub(super) fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.at)
    }

    pub(super) fn error(&self, message: impl Into<String>) -> LeaderError {
        syntax(self.sql, self.peek(), message.into())
    }

    pub(super) fn unexpected(&self, expected: &str) -> LeaderError {
        match self.peek() {
            Some(t) => self.error(format!(
                "syntax error at or near \"{}\" (expected {expected})",
                &self.sql[t.start..t.end]
            )),
            None => self.error(format!(
                "syntax error at end of input (expected {expected})"
            )),
        }
    }

    pub(super) fn keyword(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| is_kw(&t.token, kw)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect_keyword(&mut self, kw: &str) -> Result<(), LeaderError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&kw.to_ascii_uppercase()))
        }
    }

    pub(super) fn punct(&mut self, token: Token) -> bool {
        if self.peek().is_some_and(|t| t.token == token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn string(&mut self, what: &str) -> Result<String, LeaderError> {
        self.keyword("as");
        match self.peek().map(|t| &t.token) {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => {
                let s = s.clone();
                self.at += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(&format!("a quoted {what}"))),
        }
    }

    pub(super) fn secret(&mut self, what: &str) -> Result<String, LeaderError> {
        self.keyword("as");
        let start = self.peek().map(|t| (t.start, t.end));
        let value = self.string(what)?;
        if let Some(range) = start {
            self.secrets.push(range);
        }
        Ok(value)
    }

    pub(super) fn number(&mut self, what: &str) -> Result<u64, LeaderError> {
        self.keyword("as");
        match self.peek().map(|t| &t.token) {
            Some(Token::Number(n, _)) => {
                let value = n
                    .parse()
                    .map_err(|_| self.error(format!("{what} must be a whole number, not {n}")))?;
                self.at += 1;
                Ok(value)
            }
            _ => Err(self.unexpected(&format!("a number for {what}"))),
        }
    }

    pub(super) fn single_char(&mut self, what: &str) -> Result<char, LeaderError> {
        let at = self.peek();
        let s = self.string(what)?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(syntax(
                self.sql,
                at,
                format!("{what} must be a single character, not '{s}'"),
            )),
        }
    }

    pub(super) fn name(&mut self, what: &str) -> Result<String, LeaderError> {
        match self.peek().and_then(|t| word_name(&t.token)) {
            Some(n) => {
                self.at += 1;
                Ok(n)
            }
            None => Err(self.unexpected(what)),
        }
    }

    /// `name[.name[.name]]`.
    pub(super) fn object_name(&mut self) -> Result<Vec<String>, LeaderError> {
        let mut parts = vec![self.name("a table name")?];
        while self.punct(Token::Period) {
            parts.push(self.name("a name")?);
        }
        Ok(parts)
    }

    /// `(a, b, c)`.
    pub(super) fn name_list(&mut self) -> Result<Vec<String>, LeaderError> {
        let mut names = Vec::new();
        loop {
            names.push(self.name("a column name")?);
            if self.punct(Token::RParen) {
                return Ok(names);
            }
            if !self.punct(Token::Comma) {
                return Err(self.unexpected("',' or ')'"));
            }
        }
    }

    /// ON/OFF/TRUE/FALSE/PRESET after COMPUPDATE, STATUPDATE, PARALLEL, HEADER.
    pub(super) fn switch(&mut self) -> Option<bool> {
        for (word, value) in [
            ("on", true),
            ("true", true),
            ("preset", true),
            ("off", false),
            ("false", false),
        ] {
            if self.keyword(word) {
                return Some(value);
            }
        }
        None
    }

    pub(super) fn redacted(&self) -> String {
        let mut out = self.sql.trim().to_string();
        let trim = self.sql.len() - self.sql.trim_start().len();
        let mut secrets = self.secrets.clone();
        secrets.sort();
        for (start, end) in secrets.into_iter().rev() {
            if start >= trim && end - trim <= out.len() {
                out.replace_range(start - trim..end - trim, "'***'");
            }
        }
        out
    }

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
