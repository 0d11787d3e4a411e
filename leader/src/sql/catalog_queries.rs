//! Rewrites of what catalog queries (psql's `\d`, drivers') send that DataFusion
//! cannot plan as written, each exact for Blueshift's catalog:
//!
//! - a select-list `expr::regclass`, and `expr::regclass::text` anywhere, is the
//!   relation's name, as PostgreSQL prints a regclass (`regclassout(expr)`);
//!   elsewhere a regclass stays its oid;
//! - `information_schema._pg_expandarray(a)` is `unnest(_pg_expandarray(a))`;
//! - `(composite).field` is `get_field(composite, 'field')`;
//! - a list of pg_policy's rows (`\dp`) is NULL: there are no policies;
//! - `pg_partition_ancestors(rel)` is `rel` alone: no table here is partitioned, and
//!   a scalar subquery that lists a trigger's partition ancestors (psql's `\d`) is
//!   NULL: no trigger has a parent.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    Query, Select, SelectItem, Statement, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};

/// The last part of `name`, lower-cased (`pg_catalog.regclass` is `regclass`).
fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_regclass(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Custom(name, _) if last_part(name) == "regclass")
        || data_type.to_string().eq_ignore_ascii_case("regclass")
}

fn call(name: &str, arg: Expr) -> Expr {
    super::ast_build::call(name, vec![arg])
}

/// The only argument of a call `f(arg)`.
fn only_argument(args: &FunctionArguments) -> Option<&Expr> {
    let FunctionArguments::List(list) = args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
        _ => None,
    }
}

/// Whether `query` reads relation `relation` in a FROM clause, as a table
/// (`function` false) or a table function (`function` true).
fn reads(query: &Query, relation: &str, function: bool) -> bool {
    struct Finder<'a>(&'a str, bool, bool);
    impl Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, args, .. } = factor
                && last_part(name) == self.0
                && args.is_some() == self.1
            {
                self.2 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(relation, function, false);
    let _ = query.visit(&mut finder);
    finder.2
}

/// `n.nspname = current_schema()` as `n.nspname IN ('pg_catalog', current_schema())`.
struct CatalogFirst;

impl VisitorMut for CatalogFirst {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
            right,
        } = expr
            && left.to_string().eq_ignore_ascii_case("n.nspname")
            && right.to_string().eq_ignore_ascii_case("current_schema()")
        {
            *expr = Expr::InList {
                expr: left.clone(),
                list: vec![
                    Expr::Value(Value::SingleQuotedString("pg_catalog".into()).into()),
                    right.as_ref().clone(),
                ],
                negated: false,
            };
        }
        ControlFlow::Continue(())
    }
}

/// The function a `'name'::regproc` lookup (`SELECT oid FROM pg_catalog.pg_proc
/// WHERE proname = 'name'`) names, without its schema.
fn regproc_name(query: &Query) -> Option<String> {
    let text = query.to_string();
    let at = text.find("pg_proc WHERE proname = '")? + "pg_proc WHERE proname = '".len();
    let name = text[at..].split('\'').next()?;
    Some(name.rsplit('.').next().unwrap_or(name).to_string())
}

struct Rewrites;

impl VisitorMut for Rewrites {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) if last_part(&f.name) == "pg_partition_ancestors" => {
                if let Some(arg) = only_argument(&f.args) {
                    *expr = Expr::Cast {
                        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                        expr: Box::new(arg.clone()),
                        data_type: DataType::Custom(
                            ObjectName::from(vec![Ident::new("regclass")]),
                            vec![],
                        ),
                        format: None,
                        array: false,
                    };
                }
            }
            // `x::regclass::text` is the relation's name.
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } if data_type.to_string().eq_ignore_ascii_case("text")
                || data_type
                    .to_string()
                    .eq_ignore_ascii_case("pg_catalog.text") =>
            {
                if let Expr::Cast {
                    expr: operand,
                    data_type: to,
                    ..
                } = inner.as_ref()
                    && is_regclass(to)
                    && !matches!(operand.as_ref(), Expr::Value(_))
                {
                    *expr = call("regclassout", operand.as_ref().clone());
                }
            }
            // `information_schema._pg_expandarray(a)`, a set-returning function, as
            // the unnest of the array of its rows.
            Expr::Function(f) if last_part(&f.name) == "_pg_expandarray" => {
                if let Some(arg) = only_argument(&f.args) {
                    *expr = call("unnest", call("_pg_expandarray", arg.clone()));
                }
            }
            // `(composite).field`: the field of a struct.
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(root.as_ref(), Expr::Nested(_))
                    && matches!(
                        access_chain.as_slice(),
                        [AccessExpr::Dot(Expr::Identifier(_))]
                    ) =>
            {
                if let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() {
                    let Expr::Nested(inner) = root.as_ref() else {
                        return ControlFlow::Continue(());
                    };
                    let mut get = call("get_field", inner.as_ref().clone());
                    if let Expr::Function(f) = &mut get
                        && let FunctionArguments::List(list) = &mut f.args
                    {
                        list.args
                            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(
                                Value::SingleQuotedString(field.value.to_lowercase()).into(),
                            ))));
                    }
                    *expr = get;
                }
            }
            // `typinput = 'pg_catalog.array_in'::regproc` (pgjdbc's type cache): the
            // catalog's regproc columns hold the function's name.
            Expr::BinaryOp { left, right, .. }
                if left.to_string().to_ascii_lowercase().ends_with("typinput") =>
            {
                if let Expr::Subquery(q) = right.as_ref()
                    && let Some(name) = regproc_name(q)
                {
                    **right = Expr::Value(Value::SingleQuotedString(name).into());
                }
            }
            // `ARRAY(SELECT ... FROM pg_policy ...)` (psql's `\dp`): there is no
            // row-level security, so no policy; the list is a NULL text[].
            Expr::Function(f)
                if last_part(&f.name) == "array"
                    && matches!(&f.args, FunctionArguments::Subquery(q) if reads(q, "pg_policy", false)) =>
            {
                *expr = Expr::Cast {
                    kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
                    expr: Box::new(Expr::Value(Value::Null.into())),
                    data_type: DataType::Array(
                        datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                            Box::new(DataType::Text),
                            None,
                        ),
                    ),
                    format: None,
                    array: false,
                };
            }
            Expr::Subquery(query) if reads(query, "pg_partition_ancestors", true) => {
                *expr = Expr::Value(Value::Null.into());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // `'name'::regclass` (the compatibility parser's lookup by `parse_ident`)
        // finds an unqualified name in pg_catalog too, as PostgreSQL's search does.
        if query.to_string().contains("parse_ident(") {
            let _ = VisitMut::visit(query, &mut CatalogFirst);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            let (SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) = item
            else {
                continue;
            };
            if let Expr::Cast {
                expr: inner,
                data_type,
                ..
            } = e
                && is_regclass(data_type)
                && !matches!(inner.as_ref(), Expr::Value(_))
            {
                *e = call("regclassout", inner.as_ref().clone());
            }
        }
        ControlFlow::Continue(())
    }
}

/// `stmt` with the rewrites above, when it reads the catalog.
pub(crate) fn rewrite(mut stmt: Statement) -> Statement {
    if !super::reads_catalog(&stmt) {
        return stmt;
    }
    let _ = VisitMut::visit(&mut stmt, &mut Rewrites);
    stmt
}

#[cfg(test)]
mod tests {
    use crate::sql::{ParsedStatement, SqlParser};

    fn rewritten(sql: &str) -> String {
        let parsed = SqlParser::default().parse(sql).expect(sql);
        let ParsedStatement::Sql(stmt) = &parsed.statements[0] else {
            panic!("{sql}: not SQL");
        };
        stmt.to_string()
    }

    /// psql's `\d` queries: a regclass in the select list shows its name; partition
    /// ancestors are the relation itself, and a trigger's parent is NULL.
    #[test]
    fn psql_describe_queries_plan() {
        let text = rewritten(
            "SELECT conname, conrelid::pg_catalog.regclass AS ontable FROM pg_catalog.pg_constraint c \
             WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors('100003') \
             UNION ALL VALUES ('100003'::pg_catalog.regclass))",
        );
        assert!(text.contains("regclassout(conrelid) AS ontable"), "{text}");
        assert!(!text.contains("pg_partition_ancestors"), "{text}");
        let text = rewritten(
            "SELECT t.tgname, CASE WHEN t.tgparentid != 0 THEN (SELECT u.tgrelid::pg_catalog.regclass \
             FROM pg_catalog.pg_trigger AS u, pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth) \
             WHERE u.tgname = t.tgname ORDER BY a.depth LIMIT 1) END AS parent FROM pg_catalog.pg_trigger t",
        );
        assert!(!text.contains("pg_partition_ancestors"), "{text}");
    }
}
