//! Redshift's lateral column alias: a select-list alias used later in the same
//! select list or in its WHERE clause (`SELECT a + 1 AS b, b * 2 AS c FROM t WHERE
//! b > 1`). PostgreSQL has no such thing and a table's column of the same name
//! comes first, so the alias is only put in where planning found no column of that
//! name: the planner's "column not found" names it, and every use of it after its
//! alias, in the select list and WHERE of the SELECT that defines it, becomes the
//! aliased expression.

use std::ops::ControlFlow;

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Select, SelectItem, Statement, VisitMut, VisitorMut,
};

/// The unqualified column name a planning error says is missing.
pub(super) fn missing_column(e: &DataFusionError) -> Option<String> {
    match e.find_root() {
        DataFusionError::SchemaError(err, _) => match err.as_ref() {
            SchemaError::FieldNotFound { field, .. } if field.relation.is_none() => {
                Some(field.name.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether identifier `i` names `name` (unquoted names fold to lower case).
fn names(i: &Ident, name: &str) -> bool {
    match i.quote_style {
        Some(_) => i.value == name,
        None => i.value.to_lowercase() == name,
    }
}

/// Replaces `name` in `expr` by `with`.
fn replace(expr: &mut Expr, name: &str, with: &Expr) -> bool {
    struct Replace<'a> {
        name: &'a str,
        with: &'a Expr,
        done: bool,
    }
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Identifier(i) = expr
                && names(i, self.name)
            {
                *expr = Expr::Nested(Box::new(self.with.clone()));
                self.done = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut r = Replace {
        name,
        with,
        done: false,
    };
    let _ = expr.visit(&mut r);
    r.done
}

struct Lateral<'a> {
    name: &'a str,
    done: bool,
}

impl VisitorMut for Lateral<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        self.select(select);
        ControlFlow::Continue(())
    }
}

impl Lateral<'_> {
    fn select(&mut self, select: &mut Select) {
        let mut alias: Option<Expr> = None;
        for item in &mut select.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    if let Some(with) = &alias {
                        self.done |= replace(e, self.name, with);
                    }
                }
                SelectItem::ExprWithAlias { expr, alias: a } => {
                    if let Some(with) = &alias {
                        self.done |= replace(expr, self.name, with);
                    }
                    if alias.is_none() && names(a, self.name) {
                        alias = Some(expr.clone());
                    }
                }
                _ => {}
            }
        }
        if let (Some(with), Some(selection)) = (&alias, select.selection.as_mut()) {
            self.done |= replace(selection, self.name, with);
        }
    }
}

/// Puts the aliased expression where `stmt` uses select-list alias `name` after
/// defining it; whether it did.
pub(super) fn substitute(stmt: &mut Statement, name: &str) -> bool {
    let mut lateral = Lateral { name, done: false };
    let _ = stmt.visit(&mut lateral);
    lateral.done
}
