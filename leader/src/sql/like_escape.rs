//! `LIKE pattern ESCAPE 'c'` with an escape character other than backslash, which
//! DataFusion's LIKE does not take: a literal pattern is rewritten to the same
//! pattern with backslash escapes (`a#%b` ESCAPE `#` is `a\%b`), and `ESCAPE ''`
//! (no escape character) to one whose backslashes match themselves. A pattern that
//! is not a literal keeps its ESCAPE, which DataFusion refuses.

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

struct Escapes;

impl VisitorMut for Escapes {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
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
        if let Expr::Value(v) = pattern.as_mut()
            && let Some(p) = text(&v.value)
        {
            v.value = Value::SingleQuotedString(to_backslash(p, escape));
            *escape_char = None;
        }
        ControlFlow::Continue(())
    }
}

/// `stmt` with its literal LIKE patterns in backslash form.
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
