//! Parsing Blueshift's SQL: Redshift table attributes first ([`redshift_ddl`]), then
//! the PostgreSQL grammar with the rewrites that let psql's and drivers' catalog
//! queries run on DataFusion.

pub mod copy;
pub mod redshift_ddl;

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::LeaderError;
use copy::CopyOrUnload;
use redshift_ddl::{TableAttributes, strip_table_attributes};

/// One statement of a query string.
#[derive(Debug)]
pub enum ParsedStatement {
    /// A statement of the PostgreSQL grammar.
    Sql(Box<Statement>),
    /// Redshift's COPY or UNLOAD, parsed by [`copy`].
    CopyOrUnload(CopyOrUnload),
}

/// Statements of one query string, and the Redshift attributes of its CREATE TABLEs.
#[derive(Debug, Default)]
pub struct ParsedSql {
    pub statements: Vec<ParsedStatement>,
    pub attributes: HashMap<String, TableAttributes>,
}

/// Parses SQL text.
#[derive(Debug, Default)]
pub struct SqlParser {
    compat: PostgresCompatibilityParser,
}

/// The 1-based character position of a sqlparser error ("... at Line: l, Column: c").
fn error_position(sql: &str, message: &str) -> Option<usize> {
    let at = message.rfind("Line: ")?;
    let rest = &message[at + "Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let line: usize = line.trim().parse().ok()?;
    let col: usize = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()?;
    let mut pos = 0;
    for (i, l) in sql.split('\n').enumerate() {
        if i + 1 == line {
            return Some(pos + col);
        }
        pos += l.chars().count() + 1;
    }
    None
}

fn syntax_error(sql: &str, e: ParserError) -> LeaderError {
    let message = match &e {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement is nested too deeply".to_string(),
    };
    let position = error_position(sql, &message);
    let message = match message.find(" at Line: ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    // PostgreSQL's wording, with sqlparser's expectation as the detail.
    let message = match message.split_once(", found: ") {
        Some((expected, "EOF")) => {
            format!("syntax error at end of input ({expected})")
        }
        Some((expected, found)) => format!("syntax error at or near \"{found}\" ({expected})"),
        None => format!("syntax error: {message}"),
    };
    LeaderError::Syntax { message, position }
}

impl SqlParser {
    /// Parses `sql` into statements.
    pub fn parse(&self, sql: &str) -> Result<ParsedSql, LeaderError> {
        let ranges = copy::statement_ranges(sql)?;
        if !ranges.iter().any(|&(_, _, special)| special) {
            let parsed = self.parse_sql(sql)?;
            return Ok(ParsedSql {
                statements: parsed
                    .0
                    .into_iter()
                    .map(|s| ParsedStatement::Sql(Box::new(s)))
                    .collect(),
                attributes: parsed.1,
            });
        }
        // COPY and UNLOAD are ours: blank them (one space per character, so
        // positions hold) and parse the rest, then put the statements back in order.
        let mut rest = String::with_capacity(sql.len());
        let mut last = 0;
        for &(start, end, special) in &ranges {
            if special {
                rest.push_str(&sql[last..start]);
                rest.extend(
                    sql[start..end]
                        .chars()
                        .map(|c| if c == '\n' { c } else { ' ' }),
                );
                last = end;
            }
        }
        rest.push_str(&sql[last..]);
        let (others, attributes) = self.parse_sql(&rest)?;
        let mut others = others.into_iter();
        let mut statements = Vec::with_capacity(ranges.len());
        for (start, end, special) in ranges {
            if special {
                let offset = sql[..start].chars().count();
                statements.push(ParsedStatement::CopyOrUnload(copy::parse_copy_or_unload(
                    &sql[start..end],
                    offset,
                )?));
            } else if let Some(stmt) = others.next() {
                statements.push(ParsedStatement::Sql(Box::new(stmt)));
            }
        }
        statements.extend(others.map(|s| ParsedStatement::Sql(Box::new(s))));
        Ok(ParsedSql {
            statements,
            attributes,
        })
    }

    /// Parses SQL of the PostgreSQL grammar (with Redshift table attributes).
    fn parse_sql(
        &self,
        sql: &str,
    ) -> Result<(Vec<Statement>, HashMap<String, TableAttributes>), LeaderError> {
        let stripped = strip_table_attributes(sql)?;
        // The plain parser keeps positions for error messages; the compatibility
        // parser rewrites catalog queries but loses them.
        let plain = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&stripped.sql)
            .and_then(|mut p| p.parse_statements());
        let statements = match plain {
            Err(e) => return Err(syntax_error(sql, e)),
            Ok(_) => self
                .compat
                .parse(&stripped.sql)
                .map_err(|e| syntax_error(sql, e))?,
        };
        Ok((statements, stripped.tables))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_carry_the_position() {
        let e = SqlParser::default()
            .parse("SELECT 1;\nSELEC 2")
            .expect_err("bad sql");
        match e {
            LeaderError::Syntax { position, .. } => assert_eq!(position, Some(11)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
