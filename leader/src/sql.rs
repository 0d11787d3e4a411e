//! Parsing Blueshift's SQL: Redshift table attributes first ([`redshift_ddl`]), then
//! the PostgreSQL grammar with the rewrites that let psql's and drivers' catalog
//! queries run on DataFusion.

pub mod access;
mod ast_build;
mod catalog_queries;
pub mod copy;
mod cursor;
mod redshift_dateparts;
pub mod redshift_ddl;
mod redshift_exprs;
mod redshift_functions;
mod redshift_types;
mod similar_to;

use std::collections::HashMap;

use datafusion::sql::sqlparser::ast::{ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::dialect::{Dialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{self as pg, SqlStatementRewriteRule};
use std::sync::{Arc, LazyLock};

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
    /// A statement about users, groups or privileges, parsed by [`access`], with its
    /// text without passwords.
    Access(Box<access::AccessStatement>, String),
    /// `REFRESH MATERIALIZED VIEW name` (which sqlparser does not parse).
    Refresh(ObjectName),
}

/// Whether the statement whose tokens start with `toks` is `REFRESH MATERIALIZED VIEW`.
pub(crate) fn starts_refresh(toks: &[redshift_ddl::Tok]) -> bool {
    ["refresh", "materialized", "view"]
        .iter()
        .enumerate()
        .all(|(i, w)| {
            toks.get(i)
                .is_some_and(|t| redshift_ddl::is_kw(&t.token, w))
        })
}

/// `REFRESH MATERIALIZED VIEW name` (`text` is the statement alone, `offset` its
/// position in characters).
fn parse_refresh(text: &str, offset: usize) -> Result<ObjectName, LeaderError> {
    let dialect = BlueshiftDialect::default();
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| syntax_error(text, e))?;
    for keyword in [Keyword::REFRESH, Keyword::MATERIALIZED, Keyword::VIEW] {
        parser
            .expect_keyword_is(keyword)
            .map_err(|e| syntax_error(text, e))?;
    }
    let name = parser
        .parse_object_name(false)
        .map_err(|e| syntax_error(text, e))?;
    if parser.peek_token().token != datafusion::sql::sqlparser::tokenizer::Token::EOF {
        return Err(LeaderError::Syntax {
            message: format!(
                "syntax error at or near \"{}\" (expected the end of REFRESH MATERIALIZED VIEW)",
                parser.peek_token().token
            ),
            position: Some(offset + 1),
        });
    }
    Ok(name)
}

/// Statements of one query string, and the Redshift attributes of its CREATE TABLEs.
#[derive(Debug, Default)]
pub struct ParsedSql {
    pub statements: Vec<ParsedStatement>,
    pub attributes: HashMap<String, TableAttributes>,
}

// PostgreSQL's grammar as sqlparser has it (the parser still sees a
// `PostgreSqlDialect`), without function arguments named by an expression
// (`f(a + b : c)`), which neither PostgreSQL nor Redshift has. With them, sqlparser
// 0.62 parses nested function calls in time that doubles with each level
// (`md5(md5(...))` 24 deep took a minute: apache/datafusion-sqlparser-rs#2392).
// Every method sqlparser's `PostgreSqlDialect` defines is passed on to it, but that one.
#[derive(Debug, Default)]
struct BlueshiftDialect(PostgreSqlDialect);

/// Methods of `Dialect` that return what `PostgreSqlDialect`'s do.
macro_rules! as_postgresql {
    ($(fn $name:ident(&self) -> bool;)*) => {
        $(fn $name(&self) -> bool {
            self.0.$name()
        })*
    };
}

impl Dialect for BlueshiftDialect {
    fn dialect(&self) -> std::any::TypeId {
        self.0.dialect()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        false
    }

    /// `ABORT [WORK | TRANSACTION]` is PostgreSQL's and Redshift's ROLLBACK;
    /// `RESET SESSION AUTHORIZATION` is `SET SESSION AUTHORIZATION DEFAULT`.
    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        if parser.parse_keyword(Keyword::ABORT) {
            return Some(parser.parse_rollback());
        }
        // Redshift's `CANCEL pid`: KILL QUERY, as sqlparser has it.
        if matches!(&parser.peek_token_ref().token,
            datafusion::sql::sqlparser::tokenizer::Token::Word(w) if w.value.eq_ignore_ascii_case("cancel"))
        {
            parser.next_token();
            return Some(parse_cancel(parser));
        }
        if parser.parse_keywords(&[Keyword::RESET, Keyword::SESSION, Keyword::AUTHORIZATION]) {
            use datafusion::sql::sqlparser::ast::{
                ContextModifier, Set, SetSessionAuthorizationParam,
                SetSessionAuthorizationParamKind,
            };
            return Some(Ok(Statement::Set(Set::SetSessionAuthorization(
                SetSessionAuthorizationParam {
                    scope: ContextModifier::Session,
                    kind: SetSessionAuthorizationParamKind::Default,
                },
            ))));
        }
        self.0.parse_statement(parser)
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.0.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.0.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.0.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.0.get_next_precedence(parser)
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.0.prec_value(prec)
    }

    as_postgresql! {
        fn supports_unicode_string_literal(&self) -> bool;
        fn supports_filter_during_aggregation(&self) -> bool;
        fn supports_group_by_expr(&self) -> bool;
        fn allow_extract_custom(&self) -> bool;
        fn allow_extract_single_quotes(&self) -> bool;
        fn supports_create_index_with_clause(&self) -> bool;
        fn supports_explain_with_utility_options(&self) -> bool;
        fn supports_listen_notify(&self) -> bool;
        fn supports_factorial_operator(&self) -> bool;
        fn supports_bitwise_shift_operators(&self) -> bool;
        fn supports_comment_on(&self) -> bool;
        fn supports_load_extension(&self) -> bool;
        fn supports_named_fn_args_with_colon_operator(&self) -> bool;
        fn supports_empty_projections(&self) -> bool;
        fn supports_nested_comments(&self) -> bool;
        fn supports_string_escape_constant(&self) -> bool;
        fn supports_numeric_literal_underscores(&self) -> bool;
        fn supports_array_typedef_with_brackets(&self) -> bool;
        fn supports_geometric_types(&self) -> bool;
        fn supports_set_names(&self) -> bool;
        fn supports_alter_column_type_using(&self) -> bool;
        fn supports_notnull_operator(&self) -> bool;
        fn supports_interval_options(&self) -> bool;
        fn supports_insert_table_alias(&self) -> bool;
        fn supports_create_table_like_parenthesized(&self) -> bool;
        fn supports_select_wildcard_with_alias(&self) -> bool;
        fn supports_comma_separated_trim(&self) -> bool;
        fn supports_xml_expressions(&self) -> bool;
        fn supports_comment_optimizer_hint(&self) -> bool;
    }
}

/// Whether `sql` may hold one of the catalog queries (psql's, pgcli's, drivers')
/// that datafusion-pg-catalog replaces before parsing: they all name `pg_` tables
/// or functions. It also turns `ABORT` into `ROLLBACK`.
fn may_need_replacing(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("pg_") || lower.contains("abort")
}

/// Parses SQL text.
#[derive(Debug, Default)]
pub struct SqlParser {
    compat: PostgresCompatibilityParser,
}

/// The compatibility parser's rewrites, in its order, but one: its
/// `RemoveSubqueryFromProjection` turns a select-list subquery it takes for correlated
/// into NULL (and adds LIMIT 1 to the others), which answers user queries wrongly.
/// psql's and drivers' catalog queries need it, so [`rewrite`] applies it to those
/// alone.
static REWRITES: LazyLock<Vec<Arc<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Arc::new(pg::AliasDuplicatedProjectionRewrite),
        Arc::new(pg::ResolveUnqualifiedIdentifier),
        Arc::new(pg::RewriteArrayAnyAllOperation),
        Arc::new(pg::PrependUnqualifiedPgTableName),
        Arc::new(pg::StripCallableQualifier),
        Arc::new(pg::FixArrayLiteral),
        Arc::new(pg::CurrentUserVariableToSessionUserFunctionCall),
        Arc::new(pg::StripCollate),
        Arc::new(pg::RewritePgCatalogOperator),
        Arc::new(pg::RewriteRegCastToSubquery::new()),
        Arc::new(pg::FixVersionColumnName),
    ]
});

/// `stmt` rewritten for DataFusion: [`REWRITES`], then, for a statement that reads
/// the catalog, the removal of select-list subqueries DataFusion cannot plan.
fn rewrite(stmt: Statement) -> Statement {
    let stmt = REWRITES.iter().fold(stmt, |s, rule| rule.rewrite(s));
    if reads_catalog(&stmt) {
        pg::RemoveSubqueryFromProjection.rewrite(stmt)
    } else {
        stmt
    }
}

/// `information_schema.table_privileges` (which DataFusion's information_schema does
/// not have) and `information_schema.views` (which has other columns there) as
/// Blueshift's system tables of those names.
fn table_privileges(mut stmt: Statement) -> Statement {
    use datafusion::sql::sqlparser::ast::{Ident, ObjectName, VisitMut, VisitorMut};
    use std::ops::ControlFlow;
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| i.value.to_ascii_lowercase())
                .collect();
            let ours = match parts.as_slice() {
                [schema, table] | [_, schema, table] if schema == "information_schema" => {
                    crate::system_tables::INFORMATION_SCHEMA_TABLES
                        .iter()
                        .chain(crate::system_tables::constraints::TABLES)
                        .find(|t| t.strip_prefix("information_schema.") == Some(table))
                }
                _ => None,
            };
            if let Some(ours) = ours {
                *name = ObjectName::from(vec![Ident::new("public"), Ident::with_quote('"', *ours)]);
            }
            ControlFlow::Continue(())
        }
    }
    /// `FROM pg_catalog.unnest(...)` (psql's `\d+` has one) as `FROM unnest(...)`:
    /// DataFusion finds table functions by their bare names.
    struct TableFunctions;
    impl VisitorMut for TableFunctions {
        type Break = ();
        fn pre_visit_table_factor(
            &mut self,
            factor: &mut datafusion::sql::sqlparser::ast::TableFactor,
        ) -> ControlFlow<()> {
            if let datafusion::sql::sqlparser::ast::TableFactor::Table {
                name,
                args: Some(_),
                ..
            } = factor
                && name.0.len() == 2
                && name.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
            {
                name.0.remove(0);
            }
            ControlFlow::Continue(())
        }
    }
    /// psql's `\d+` adds a table's TOAST options to its options,
    /// `c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)`;
    /// tables here have no TOAST table, so that is `c.reloptions`.
    struct ToastOptions;
    impl VisitorMut for ToastOptions {
        type Break = ();
        fn post_visit_expr(
            &mut self,
            expr: &mut datafusion::sql::sqlparser::ast::Expr,
        ) -> ControlFlow<()> {
            use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr};
            if let Expr::BinaryOp {
                left,
                op: BinaryOperator::StringConcat,
                right,
            } = expr
                && right.to_string().contains("unnest(tc.reloptions)")
            {
                *expr = left.as_ref().clone();
                return ControlFlow::Continue(());
            }
            // `polroles <> '{0}'` (`\dp`): an oid array against an array literal,
            // compared as text.
            if let Expr::BinaryOp { left, right, .. } = expr
                && left.to_string().ends_with("polroles")
                && let Expr::Value(v) = right.as_mut()
                && let datafusion::sql::sqlparser::ast::Value::SingleQuotedString(text) =
                    &mut v.value
                && text.starts_with('{')
            {
                *text = text.trim_matches(|c| c == '{' || c == '}').to_string();
                let text = format!("array_to_string({left}, ',')");
                if let Ok(call) = Parser::new(&BlueshiftDialect::default())
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_expr())
                {
                    **left = call;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Names);
    let _ = stmt.visit(&mut ToastOptions);
    let _ = stmt.visit(&mut TableFunctions);
    stmt
}

/// `ARRAY(SELECT e FROM ...)` (psql's `\du` has one) as the scalar subquery
/// `(SELECT array_agg(e) FROM ...)`, which DataFusion plans; it is NULL rather than
/// an empty array when the subquery has no rows.
fn array_subqueries(mut stmt: Statement) -> Statement {
    use datafusion::sql::sqlparser::ast::{
        Expr, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
        ObjectName, SelectItem, SetExpr, VisitMut, VisitorMut,
    };
    use std::ops::ControlFlow;
    struct Arrays;
    impl VisitorMut for Arrays {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Expr::Function(f) = expr else {
                return ControlFlow::Continue(());
            };
            if !f.name.to_string().eq_ignore_ascii_case("array") {
                return ControlFlow::Continue(());
            }
            let FunctionArguments::Subquery(query) = &f.args else {
                return ControlFlow::Continue(());
            };
            let mut query = query.clone();
            let element = match query.body.as_ref() {
                SetExpr::Select(select) => match select.projection.as_slice() {
                    [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] => {
                        e.clone()
                    }
                    _ => return ControlFlow::Continue(()),
                },
                _ => return ControlFlow::Continue(()),
            };
            // The subquery's ORDER BY orders the array (`ORDER BY 1` is the element).
            let mut clauses = vec![];
            if let Some(order) = query.order_by.take()
                && let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(mut keys) =
                    order.kind
            {
                for key in &mut keys {
                    if key.expr.to_string() == "1" {
                        key.expr = element.clone();
                    }
                }
                clauses
                    .push(datafusion::sql::sqlparser::ast::FunctionArgumentClause::OrderBy(keys));
            }
            let SetExpr::Select(select) = query.body.as_mut() else {
                return ControlFlow::Continue(());
            };
            let [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] =
                select.projection.as_mut_slice()
            else {
                return ControlFlow::Continue(());
            };
            let mut agg = f.clone();
            agg.name = ObjectName::from(vec![Ident::new("array_agg")]);
            agg.args = FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(e.clone()))],
                clauses,
            });
            *e = Expr::Function(agg);
            *expr = Expr::Subquery(query);
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Arrays);
    stmt
}

/// Whether `stmt` reads a `pg_catalog` or `information_schema` table (or a bare
/// `pg_...` name, which resolves to one).
fn reads_catalog(stmt: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{ObjectName, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| i.value.to_ascii_lowercase())
                .collect();
            let catalog = match parts.as_slice() {
                [.., schema, _] if schema == "pg_catalog" || schema == "information_schema" => true,
                [table] => table.starts_with("pg_"),
                _ => false,
            };
            if catalog {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    stmt.visit(&mut Find).is_break()
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
        // COPY, UNLOAD and the statements about users and privileges are ours: blank them (one space per character, so
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
                let text = &sql[start..end];
                let lower = text.get(..6).unwrap_or(text).to_ascii_lowercase();
                statements.push(
                    if lower.starts_with("copy") || lower.starts_with("unload") {
                        ParsedStatement::CopyOrUnload(copy::parse_copy_or_unload(text, offset)?)
                    } else if lower.starts_with("refres") {
                        ParsedStatement::Refresh(parse_refresh(text, offset)?)
                    } else {
                        match access::parse_access(text, offset)? {
                            (access::AccessStatement::Show { query }, _) => {
                                let mut parsed = self.parse_sql(&query)?.0;
                                match (parsed.pop(), parsed.is_empty()) {
                                    (Some(stmt), true) => ParsedStatement::Sql(Box::new(stmt)),
                                    _ => {
                                        return Err(LeaderError::Unsupported("this SHOW".into()));
                                    }
                                }
                            }
                            (statement, redacted) => {
                                ParsedStatement::Access(Box::new(statement), redacted)
                            }
                        }
                    },
                );
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
        // parser replaces known catalog queries (losing positions) and rewrites
        // statements for DataFusion. It parses with sqlparser's own PostgreSQL
        // dialect, so it gets only what may be such a catalog query; the rest is
        // parsed once, with `BlueshiftDialect`, and rewritten.
        let plain = Parser::new(&BlueshiftDialect::default())
            .try_with_sql(&stripped.sql)
            .and_then(|mut p| p.parse_statements());
        let statements = match plain {
            Err(e) => return Err(syntax_error(sql, e)),
            Ok(parsed) if !may_need_replacing(&stripped.sql) => {
                parsed.into_iter().map(rewrite).collect()
            }
            Ok(parsed) => {
                let replaced = self
                    .compat
                    .parse(&stripped.sql)
                    .map_err(|e| syntax_error(sql, e))?;
                // Keep the compatibility parser's statement only where it reads the
                // catalog (it may be a canned replacement of a driver's query);
                // a user's statement that merely names `pg_...` gets our rewrites.
                if replaced.len() == parsed.len() {
                    parsed
                        .into_iter()
                        .zip(replaced)
                        .map(|(ours, theirs)| {
                            if reads_catalog(&ours) || reads_catalog(&theirs) {
                                theirs
                            } else {
                                rewrite(ours)
                            }
                        })
                        .collect()
                } else {
                    replaced
                }
            }
        };
        Ok((
            statements
                .into_iter()
                .map(|s| {
                    table_privileges(array_subqueries(catalog_queries::rewrite(
                        redshift_functions::rewrite(redshift_types::rewrite(
                            redshift_exprs::rewrite(s),
                        )),
                    )))
                })
                .collect(),
            stripped.tables,
        ))
    }
}

/// `sql`'s first statement, as PostgreSQL's grammar reads it, after `rewrite`
/// (the rewrite modules' tests).
/// `CANCEL pid`, after its keyword. The message form (`CANCEL pid 'message'`) is
/// refused by the engine, which sees it as a KILL CONNECTION.
fn parse_cancel(parser: &mut Parser) -> Result<Statement, ParserError> {
    use datafusion::sql::sqlparser::ast::KillType;
    let id = parser.parse_literal_uint()?;
    let with_message = parser.parse_literal_string().is_ok();
    Ok(Statement::Kill {
        modifier: Some(if with_message {
            KillType::Connection
        } else {
            KillType::Query
        }),
        id,
    })
}

#[cfg(test)]
pub(crate) fn rewritten_by(sql: &str, rewrite: fn(Statement) -> Statement) -> String {
    let stmt = Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        sql,
    )
    .expect(sql)
    .remove(0);
    rewrite(stmt).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subquery in the select list stays a subquery (the compatibility parser's rule
    /// would have made `o.cust` look correlated and the subquery NULL), unless the
    /// statement reads the catalog.
    #[test]
    fn select_list_subqueries_are_kept() {
        let parser = SqlParser::default();
        for sql in [
            "select (select count(*) from o where o.cust = 'a')",
            "select c.cust, (select count(*) from o where o.cust = c.cust) as n from c",
            "select (select max(id) from o where id > $1)",
            "select (select count(*) from o where o.note = 'pg_x')",
        ] {
            let parsed = parser.parse(sql).expect(sql);
            let ParsedStatement::Sql(stmt) = &parsed.statements[0] else {
                panic!("{sql}: not SQL");
            };
            let text = stmt.to_string().to_lowercase();
            assert!(text.contains("(select "), "{sql} became {text}");
            assert!(!text.contains("limit 1"), "{sql} became {text}");
        }
        let catalog = "select a.attname, (select d.adbin from pg_catalog.pg_attrdef d \
                       where d.adrelid = a.attrelid) from pg_catalog.pg_attribute a";
        let parsed = parser.parse(catalog).expect("catalog query");
        let ParsedStatement::Sql(stmt) = &parsed.statements[0] else {
            panic!("not SQL");
        };
        assert!(
            !stmt.to_string().to_lowercase().contains("(select d.adbin"),
            "a catalog query's correlated subquery is still removed"
        );
    }

    /// Nested function calls parse in time linear in their depth (sqlparser's
    /// PostgreSQL dialect doubles the time per level: 30 levels would take hours).
    #[test]
    fn nested_function_calls_parse_quickly() {
        let mut expr = "v".to_string();
        for _ in 0..40 {
            expr = format!("md5({expr})");
        }
        let sql = format!("select {expr} from t where {expr} like '%a%'");
        let parsed = SqlParser::default().parse(&sql).expect("parses");
        assert_eq!(parsed.statements.len(), 1);
    }

    /// The same statements as sqlparser's PostgreSQL dialect and the catalog
    /// rewrites give.
    #[test]
    fn parses_as_postgresql_does() {
        let compat = PostgresCompatibilityParser::new();
        for sql in [
            "select a::int, b || 'x', count(*) filter (where c > 1) from t group by 1, 2",
            "select * from t where x = any(array[1, 2]) and y ~ 'a.*' and z is not null",
            "select f(a => 1), g(b := 2), e'\\n', $1, x::text[] from t",
            "with q as (select 1 as a) select a from q union all select 2 order by 1 limit 3",
            "select current_user, session_user, extract(epoch from now())",
            "insert into t (a, b) values (1, 'x'), (2, null)",
            "update t set a = a + 1 where b in (select b from u)",
        ] {
            let ours = SqlParser::default().parse(sql).expect(sql);
            let expected = compat.parse(sql).expect(sql);
            let ours: Vec<String> = ours
                .statements
                .iter()
                .map(|s| match s {
                    ParsedStatement::Sql(s) => s.to_string(),
                    ParsedStatement::CopyOrUnload(c) => format!("{c:?}"),
                    ParsedStatement::Access(a, _) => format!("{a:?}"),
                    ParsedStatement::Refresh(name) => format!("REFRESH {name}"),
                })
                .collect();
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            assert_eq!(ours, expected, "{sql}");
        }
    }

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
