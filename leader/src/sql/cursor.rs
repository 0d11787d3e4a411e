//! [`Cursor`]: reading the tokens of the statements Blueshift parses itself (COPY,
//! UNLOAD, and the statements about users, groups and privileges).

use datafusion::sql::sqlparser::tokenizer::Token;

use super::redshift_ddl::{Tok, is_kw, word_name};
use crate::error::LeaderError;

/// A statement's tokens, read one option at a time.
pub(crate) struct Cursor<'a> {
    pub(crate) sql: &'a str,
    pub(crate) toks: &'a [Tok],
    pub(crate) at: usize,
    /// Byte ranges of secrets, blanked in the redacted text.
    pub(crate) secrets: Vec<(usize, usize)>,
}

pub(crate) fn syntax(sql: &str, at: Option<&Tok>, message: String) -> LeaderError {
    LeaderError::Syntax {
        message,
        position: at.map(|t| sql[..t.start].chars().count() + 1),
    }
}

impl<'a> Cursor<'a> {
    pub(crate) fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.at)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> LeaderError {
        syntax(self.sql, self.peek(), message.into())
    }

    pub(crate) fn unexpected(&self, expected: &str) -> LeaderError {
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

    pub(crate) fn keyword(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| is_kw(&t.token, kw)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_keyword(&mut self, kw: &str) -> Result<(), LeaderError> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&kw.to_ascii_uppercase()))
        }
    }

    pub(crate) fn punct(&mut self, token: Token) -> bool {
        if self.peek().is_some_and(|t| t.token == token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn string(&mut self, what: &str) -> Result<String, LeaderError> {
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

    pub(crate) fn secret(&mut self, what: &str) -> Result<String, LeaderError> {
        self.keyword("as");
        let start = self.peek().map(|t| (t.start, t.end));
        let value = self.string(what)?;
        if let Some(range) = start {
            self.secrets.push(range);
        }
        Ok(value)
    }

    pub(crate) fn number(&mut self, what: &str) -> Result<u64, LeaderError> {
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

    /// One character, as COPY's DELIMITER, QUOTE and ESCAPE take it: itself, or a
    /// backslash escape as Redshift reads them there (`'\t'`, `'\n'`, `'\r'`,
    /// `'\\'`, octal `'\001'`, hex `'\x01'`).
    pub(crate) fn single_char(&mut self, what: &str) -> Result<char, LeaderError> {
        let at = self.peek();
        let s = self.string(what)?;
        if let Some(c) = escaped_char(&s) {
            return Ok(c);
        }
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

    pub(crate) fn name(&mut self, what: &str) -> Result<String, LeaderError> {
        match self.peek().and_then(|t| word_name(&t.token)) {
            Some(n) => {
                self.at += 1;
                Ok(n)
            }
            None => Err(self.unexpected(what)),
        }
    }

    /// `name[.name[.name]]`.
    pub(crate) fn object_name(&mut self) -> Result<Vec<String>, LeaderError> {
        let mut parts = vec![self.name("a table name")?];
        while self.punct(Token::Period) {
            parts.push(self.name("a name")?);
        }
        Ok(parts)
    }

    /// `(a, b, c)`.
    pub(crate) fn name_list(&mut self) -> Result<Vec<String>, LeaderError> {
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
    pub(crate) fn switch(&mut self) -> Option<bool> {
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

    pub(crate) fn redacted(&self) -> String {
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
}

/// The character a backslash escape names (`\t`, `\001`, `\x01`), if `s` is one.
fn escaped_char(s: &str) -> Option<char> {
    let rest = s.strip_prefix('\\')?;
    match rest {
        "t" => Some('\t'),
        "n" => Some('\n'),
        "r" => Some('\r'),
        "\\" => Some('\\'),
        "'" => Some('\''),
        _ => {
            let code = if let Some(hex) = rest.strip_prefix('x').or_else(|| rest.strip_prefix('X'))
            {
                u32::from_str_radix(hex, 16).ok()?
            } else if (1..=3).contains(&rest.len())
                && rest.chars().all(|c| ('0'..='7').contains(&c))
            {
                u32::from_str_radix(rest, 8).ok()?
            } else {
                return None;
            };
            char::from_u32(code).filter(|c| c.is_ascii())
        }
    }
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn copy_takes_escaped_delimiters() {
        use super::escaped_char;
        assert_eq!(escaped_char("\\t"), Some('\t'));
        assert_eq!(escaped_char("\\001"), Some('\u{1}'));
        assert_eq!(escaped_char("\\x7c"), Some('|'));
        assert_eq!(escaped_char("\\q"), None);
        assert_eq!(escaped_char("t"), None);
    }
}
