//! Redshift's `REGEXP_SUBSTR(source, pattern [, position [, occurrence [,
//! parameters]]])`: the `occurrence`th match of `pattern` in `source` from
//! character `position` (both from 1), or the empty string when there is none.
//! Parameters: `c` case-sensitive (the default), `i` case-insensitive, `e` the
//! first subexpression's match instead of the whole match, `p` (Perl syntax, which
//! is the syntax here anyway).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The `REGEXP_SUBSTR` function.
pub fn regexp_substr() -> ScalarUDF {
    ScalarUDF::new_from_impl(RegexpSubstr {
        signature: Signature::variadic_any(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpSubstr {
    signature: Signature,
}

fn text(v: &ScalarValue) -> Result<Option<String>> {
    match v.cast_to(&DataType::Utf8)? {
        ScalarValue::Utf8(s) => Ok(s),
        _ => Ok(None),
    }
}

fn number(v: &ScalarValue, what: &str) -> Result<Option<i64>> {
    match v.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(Some(n)) if n >= 1 => Ok(Some(n)),
        ScalarValue::Int64(None) => Ok(None),
        _ => Err(DataFusionError::Execution(format!(
            "REGEXP_SUBSTR: {what} must be 1 or more"
        ))),
    }
}

/// One row: None when an argument is NULL.
fn substr(args: &[ScalarValue]) -> Result<Option<String>> {
    let (Some(source), Some(pattern)) = (text(&args[0])?, text(&args[1])?) else {
        return Ok(None);
    };
    let position = match args.get(2) {
        Some(v) => match number(v, "position")? {
            Some(n) => n,
            None => return Ok(None),
        },
        None => 1,
    };
    let occurrence = match args.get(3) {
        Some(v) => match number(v, "occurrence")? {
            Some(n) => n,
            None => return Ok(None),
        },
        None => 1,
    };
    let parameters = match args.get(4) {
        Some(v) => text(v)?.unwrap_or_default(),
        None => String::new(),
    };
    let mut case_insensitive = false;
    for c in parameters.chars() {
        match c {
            'i' => case_insensitive = true,
            'c' => case_insensitive = false,
            'e' | 'p' => {}
            other => {
                return Err(DataFusionError::Execution(format!(
                    "REGEXP_SUBSTR: unknown parameter '{other}' (c, i, e or p)"
                )));
            }
        }
    }
    let regex = regex::RegexBuilder::new(&pattern)
        .case_insensitive(case_insensitive)
        .build()
        .map_err(|e| {
            DataFusionError::Execution(format!("REGEXP_SUBSTR: invalid pattern '{pattern}': {e}"))
        })?;
    let start = source
        .char_indices()
        .nth((position - 1) as usize)
        .map_or(source.len(), |(i, _)| i);
    let found = regex
        .captures_iter(&source[start..])
        .nth((occurrence - 1) as usize);
    let Some(captures) = found else {
        return Ok(Some(String::new()));
    };
    let group = if parameters.contains('e') && captures.len() > 1 {
        1
    } else {
        0
    };
    Ok(Some(
        captures
            .get(group)
            .map_or(String::new(), |m| m.as_str().to_string()),
    ))
}

impl ScalarUDFImpl for RegexpSubstr {
    fn name(&self) -> &str {
        "regexp_substr"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !(2..=5).contains(&args.len()) {
            return Err(DataFusionError::Plan(
                "REGEXP_SUBSTR takes 2 to 5 arguments: source, pattern [, position [, \
                 occurrence [, parameters]]]"
                    .into(),
            ));
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        blueshift_operators::functions::row_by_row(&args, &DataType::Utf8, |values| {
            Ok(ScalarValue::Utf8(substr(values)?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[ScalarValue]) -> Option<String> {
        substr(args).expect("valid call")
    }

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.into()))
    }

    #[test]
    fn matches_as_redshift_documents() {
        assert_eq!(
            call(&[s("varchar(256)"), s("[0-9]+")]).as_deref(),
            Some("256")
        );
        assert_eq!(
            call(&[s("numeric(10,2)"), s("[0-9,]+")]).as_deref(),
            Some("10,2")
        );
        assert_eq!(call(&[s("no digits"), s("[0-9]+")]).as_deref(), Some(""));
        let third = [
            s("a1b22c333"),
            s("[0-9]+"),
            ScalarValue::Int64(Some(1)),
            ScalarValue::Int64(Some(3)),
        ];
        assert_eq!(call(&third).as_deref(), Some("333"));
        let from = [s("a1b22"), s("[0-9]+"), ScalarValue::Int64(Some(3))];
        assert_eq!(call(&from).as_deref(), Some("22"));
        let case = [
            s("HELLO"),
            s("hel+"),
            ScalarValue::Int64(Some(1)),
            ScalarValue::Int64(Some(1)),
            s("i"),
        ];
        assert_eq!(call(&case).as_deref(), Some("HELL"));
        let group = [
            s("key=value"),
            s("key=(\\w+)"),
            ScalarValue::Int64(Some(1)),
            ScalarValue::Int64(Some(1)),
            s("e"),
        ];
        assert_eq!(call(&group).as_deref(), Some("value"));
        assert_eq!(call(&[ScalarValue::Utf8(None), s("x")]), None);
    }
}
