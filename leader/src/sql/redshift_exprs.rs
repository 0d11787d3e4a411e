//! Redshift's expressions that DataFusion takes otherwise:
//!
//! - an integer literal where a condition goes (`WHERE 1`, `1 AND x`, `NOT 0`) is
//!   true when it is not zero;
//! - `REGEXP_REPLACE(source, pattern)` removes every match of the pattern;
//! - `CHARINDEX(substring, string)` is `STRPOS(string, substring)`;
//! - in `CASE <condition> WHEN 'false' ...` the strings are booleans;
//! - `LIKE pattern ESCAPE 'c'` with an escape character other than backslash, which
//!   DataFusion's LIKE does not take: a literal pattern (literals joined by `||` are
//!   one) is rewritten with backslash escapes (`a#%b` ESCAPE `#` is `a\%b`), and
//!   with `ESCAPE ''` (no escape character) to one whose backslashes match
//!   themselves. A pattern that is not a literal keeps its ESCAPE, which DataFusion
//!   refuses.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, VisitMut, VisitorMut};

/// `pattern` with escape character `escape` (`None`: none) in backslash form.
fn to_backslash(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                // A trailing escape character: PostgreSQL refuses it; keep it as is.
                None => out.push(c),
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
        _ => None,
    }
}

/// The text of a literal, or of literals joined by `||` (`'pg/_' || '%'`, as
/// SQLAlchemy writes `startswith`).
fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => text(&v.value).map(str::to_string),
        Expr::Nested(inner) => literal_text(inner),
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::StringConcat,
            right,
        } => Some(literal_text(left)? + &literal_text(right)?),
        _ => None,
    }
}

/// An integer literal as a condition: `n <> 0`.
fn as_condition(e: &mut Expr) {
    if let Expr::Value(v) = e
        && let Value::Number(n, _) = &v.value
        && let Ok(n) = n.parse::<i64>()
    {
        *e = Expr::Value(Value::Boolean(n != 0).into());
    }
}

/// Whether `e` is a condition by its form (a comparison, AND, OR, NOT, IS ...).
fn is_condition(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::BinaryOperator as B;
    match e {
        Expr::Nested(inner) => is_condition(inner),
        Expr::BinaryOp { op, .. } => matches!(
            op,
            B::And | B::Or | B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq
        ),
        Expr::UnaryOp {
            op: datafusion::sql::sqlparser::ast::UnaryOperator::Not,
            ..
        } => true,
        Expr::IsNull(_) | Expr::IsNotNull(_) | Expr::IsTrue(_) | Expr::IsFalse(_) => true,
        _ => false,
    }
}

/// PostgreSQL's boolean input: `true`, `false`, `t`, `f`, `yes`, `no`, `on`, `off`,
/// `1`, `0`.
fn boolean_text(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

struct Escapes;

impl VisitorMut for Escapes {
    type Break = ();

    fn post_visit_select(
        &mut self,
        select: &mut datafusion::sql::sqlparser::ast::Select,
    ) -> ControlFlow<()> {
        if let Some(selection) = select.selection.as_mut() {
            as_condition(selection);
        }
        if let Some(having) = select.having.as_mut() {
            as_condition(having);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::{BinaryOperator, UnaryOperator};
        super::similar_to::rewrite(expr);
        match expr {
            // PostgreSQL's and Redshift's `|/ x` and `||/ x`: SQRT and CBRT.
            Expr::UnaryOp {
                op: op @ (UnaryOperator::PGSquareRoot | UnaryOperator::PGCubeRoot),
                expr: operand,
            } => {
                let function = if matches!(op, UnaryOperator::PGSquareRoot) {
                    "sqrt"
                } else {
                    "cbrt"
                };
                *expr = super::ast_build::named(
                    "?column?",
                    super::ast_build::call(function, vec![operand.as_ref().clone()]),
                );
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And | BinaryOperator::Or,
                right,
            } => {
                as_condition(left);
                as_condition(right);
            }
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: operand,
            } => as_condition(operand),
            // `CASE <condition> WHEN 'false' ...`: the strings are booleans, as
            // PostgreSQL reads an untyped literal.
            Expr::Case {
                operand: Some(operand),
                conditions,
                ..
            } if is_condition(operand) => {
                for when in conditions {
                    if let Expr::Value(v) = &mut when.condition
                        && let Some(b) = text(&v.value).and_then(boolean_text)
                    {
                        v.value = Value::Boolean(b);
                    }
                }
            }
            // CHARINDEX(substring, string) is STRPOS(string, substring).
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("charindex") => {
                if let datafusion::sql::sqlparser::ast::FunctionArguments::List(list) = &mut f.args
                    && list.args.len() == 2
                {
                    list.args.swap(0, 1);
                    f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                        datafusion::sql::sqlparser::ast::Ident::new("strpos"),
                    ]);
                }
            }
            _ => {}
        }
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let Some(escape) = escape_char.as_ref().and_then(|e| text(&e.value)) else {
            return ControlFlow::Continue(());
        };
        let mut chars = escape.chars();
        let escape = match (chars.next(), chars.next()) {
            (Some('\\'), None) => return ControlFlow::Continue(()),
            (Some(c), None) => Some(c),
            (None, _) => None,
            _ => return ControlFlow::Continue(()),
        };
        if let Some(p) = literal_text(pattern) {
            **pattern = Expr::Value(Value::SingleQuotedString(to_backslash(&p, escape)).into());
            *escape_char = None;
        }
        ControlFlow::Continue(())
    }
}

/// `stmt` with integer conditions as booleans and its literal LIKE patterns in
/// backslash form.
pub(crate) fn rewrite(mut stmt: Statement) -> Statement {
    let _ = stmt.visit(&mut Escapes);
    stmt
}

#[cfg(test)]
mod tests {
    use super::to_backslash;

    #[test]
    fn escapes_become_backslashes() {
        assert_eq!(to_backslash("a#%b", Some('#')), "a\\%b");
        assert_eq!(to_backslash("a##b", Some('#')), "a\\#b");
        assert_eq!(to_backslash("a\\b%", Some('#')), "a\\\\b%");
        assert_eq!(to_backslash("a\\b", None), "a\\\\b");
    }
}
