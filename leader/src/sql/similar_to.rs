//! `x [NOT] SIMILAR TO 'pattern' [ESCAPE 'c']` as the regular-expression match it
//! means (DataFusion read the pattern as a plain regular expression: `'abc'
//! SIMILAR TO '_b_'` was false). The pattern is translated as PostgreSQL's
//! `similar_to_escape` does: `%` is any text, `_` any character, `|`, `*`, `+`, `?`,
//! `{m,n}`, `()` and `[...]` keep their meaning, other characters (`.`, `$`, `^`,
//! ...) are themselves, the escape character (by default `\`) makes the next one
//! itself, and the whole value must match.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};

/// The regular expression SIMILAR TO `pattern` means.
pub(super) fn regex(pattern: &str, escape: Option<char>) -> String {
    let escape = escape.unwrap_or('\\');
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_brackets = false;
    while let Some(c) = chars.next() {
        if c == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex::escape(&next.to_string()));
            }
            continue;
        }
        if in_brackets {
            out.push(c);
            if c == ']' {
                in_brackets = false;
            }
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_brackets = true;
                out.push('[');
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// `expr`, if it is a SIMILAR TO with a literal pattern, as a regular-expression
/// match.
pub(super) fn rewrite(expr: &mut Expr) {
    let Expr::SimilarTo {
        negated,
        expr: value,
        pattern,
        escape_char,
    } = expr
    else {
        return;
    };
    let Expr::Value(p) = pattern.as_ref() else {
        return;
    };
    let Value::SingleQuotedString(text) = &p.value else {
        return;
    };
    let escape = match escape_char.as_ref().map(|e| &e.value) {
        None => None,
        Some(Value::SingleQuotedString(e)) => match e.chars().collect::<Vec<_>>().as_slice() {
            [c] => Some(*c),
            // ESCAPE '' : no escape character.
            [] => Some('\u{0}'),
            _ => return,
        },
        Some(_) => return,
    };
    let op = if *negated {
        BinaryOperator::PGRegexNotMatch
    } else {
        BinaryOperator::PGRegexMatch
    };
    *expr = Expr::Nested(Box::new(Expr::BinaryOp {
        left: value.clone(),
        op,
        right: Box::new(Expr::value(Value::SingleQuotedString(regex(text, escape)))),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(value: &str, pattern: &str) -> bool {
        regex::Regex::new(&regex(pattern, None))
            .expect("a regular expression")
            .is_match(value)
    }

    #[test]
    fn patterns_mean_what_postgresql_says() {
        assert!(matches("abc", "abc"));
        assert!(matches("abc", "_b_"));
        assert!(!matches("abc", "_A_"));
        assert!(matches("abc", "%(b|d)%"));
        assert!(!matches("abc", "(b|c)%"));
        assert!(matches(
            "AbcAbcdefgefg12efgefg12",
            "((Ab)?c)+d((efg)+(12))+"
        ));
        assert!(matches("aaaaaab11111xy", "a{6}_[0-9]{5}(x|y){2}"));
        assert!(matches("$0.87", "$[0-9]+(.[0-9][0-9])?"));
        assert!(!matches("$0x87", "$[0-9]+(.[0-9][0-9])?"));
        assert!(matches("a.c", "a\\.c"));
        assert!(!matches("abc", "a\\.c"));
    }
}
