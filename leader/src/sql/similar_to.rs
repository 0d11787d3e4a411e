//! `x [NOT] SIMILAR TO 'pattern' [ESCAPE 'c']` as the regular-expression match it
//! means (DataFusion read the pattern as a plain regular expression: `'abc'
//! SIMILAR TO '_b_'` was false). The pattern is translated as PostgreSQL's
//! `similar_to_escape` does: `%` is any text, `_` any character, `|`, `*`, `+`, `?`,
//! `{m,n}`, `()` and `[...]` keep their meaning, other characters (`.`, `$`, `^`,
//! ...) are themselves, the escape character (by default `\`) makes the next one
//! itself, and the whole value must match.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value};

/// `expr`, if it is a SIMILAR TO, as a regular-expression match: against the
/// regular expression a constant pattern means, or against `similar_to_escape` of
/// the pattern for each row.
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
    let op = if *negated {
        BinaryOperator::PGRegexNotMatch
    } else {
        BinaryOperator::PGRegexMatch
    };
    let constant = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let escape = match escape_char.as_ref().map(|e| &e.value) {
        None => Some(None),
        Some(Value::SingleQuotedString(e)) => match e.chars().collect::<Vec<_>>().as_slice() {
            [c] => Some(Some(*c)),
            // ESCAPE '' : no escape character.
            [] => Some(Some('\u{0}')),
            // Neither: similar_to_escape says so (22025).
            _ => None,
        },
        Some(_) => None,
    };
    let regex = match (constant(pattern), escape) {
        // A constant pattern: its regular expression, once.
        (Some(text), Some(escape)) => Expr::value(Value::SingleQuotedString(
            blueshift_operators::functions::string::similar_to_regex(&text, escape),
        )),
        // Else each row's, made as it runs.
        _ => {
            let mut args = vec![pattern.as_ref().clone()];
            if let Some(e) = escape_char {
                args.push(Expr::value(e.value.clone()));
            }
            super::ast_build::call("similar_to_escape", args)
        }
    };
    *expr = Expr::Nested(Box::new(Expr::BinaryOp {
        left: value.clone(),
        op,
        right: Box::new(regex),
    }));
}

#[cfg(test)]
mod tests {

    fn matches(value: &str, pattern: &str) -> bool {
        regex::Regex::new(&blueshift_operators::functions::string::similar_to_regex(
            pattern, None,
        ))
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
