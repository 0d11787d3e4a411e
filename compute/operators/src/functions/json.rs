//! Redshift's JSON functions over JSON text: `JSON_EXTRACT_PATH_TEXT(json, key
//! [, key ...] [, null_if_invalid])`, `JSON_EXTRACT_ARRAY_ELEMENT_TEXT(json, pos
//! [, null_if_invalid])`, `JSON_ARRAY_LENGTH(json [, null_if_invalid])`,
//! `IS_VALID_JSON`, `IS_VALID_JSON_ARRAY` and `CAN_JSON_PARSE`.
//!
//! Invalid JSON is an error (22023 names the function) unless `null_if_invalid` is
//! true; a path that leads nowhere, a NULL key and a JSON null give NULL, as the
//! reference says. IS_VALID_JSON takes objects; arrays are IS_VALID_JSON_ARRAY's.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

use super::{arity, integer, invalid, row_by_row, text, udf};

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    ExtractPathText,
    ExtractArrayElementText,
    ArrayLength,
    IsValid,
    IsValidArray,
    CanParse,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFunction {
    kind: Kind,
    signature: Signature,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [
        Kind::ExtractPathText,
        Kind::ExtractArrayElementText,
        Kind::ArrayLength,
        Kind::IsValid,
        Kind::IsValidArray,
        Kind::CanParse,
    ]
    .into_iter()
    .map(|kind| {
        udf(JsonFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

/// A JSON value as Redshift's `_TEXT` functions give it: strings without quotes,
/// null as NULL, objects and arrays as compact JSON.
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn flag(v: Option<&ScalarValue>) -> Result<bool> {
    Ok(match v {
        Some(v) => matches!(
            v.cast_to(&DataType::Boolean)?,
            ScalarValue::Boolean(Some(true))
        ),
        None => false,
    })
}

impl JsonFunction {
    fn parse(&self, json: &str, null_if_invalid: bool) -> Result<Option<Value>> {
        match serde_json::from_str::<Value>(json) {
            Ok(v) => Ok(Some(v)),
            Err(_) if null_if_invalid => Ok(None),
            Err(e) => Err(invalid(self.name(), format!("invalid JSON: {e}"))),
        }
    }

    fn row(&self, args: &[ScalarValue]) -> Result<ScalarValue> {
        let name = self.name();
        let Some(json) = text(&args[0])? else {
            return ScalarValue::try_from(self.returns());
        };
        Ok(match self.kind {
            Kind::ExtractPathText => {
                // A trailing boolean is null_if_invalid; the other arguments are keys.
                let (keys, null_if_invalid) = match args.last() {
                    Some(v @ ScalarValue::Boolean(_)) if args.len() > 2 => {
                        (&args[1..args.len() - 1], flag(Some(v))?)
                    }
                    _ => (&args[1..], false),
                };
                // A NULL key gives NULL, whatever the JSON.
                let Some(keys) = keys
                    .iter()
                    .map(text)
                    .collect::<Result<Option<Vec<String>>>>()?
                else {
                    return Ok(ScalarValue::Utf8(None));
                };
                let Some(mut v) = self.parse(&json, null_if_invalid)? else {
                    return Ok(ScalarValue::Utf8(None));
                };
                for key in keys {
                    v = match v {
                        Value::Object(mut map) => match map.remove(&key) {
                            Some(next) => next,
                            None => return Ok(ScalarValue::Utf8(None)),
                        },
                        _ => return Ok(ScalarValue::Utf8(None)),
                    };
                }
                ScalarValue::Utf8(as_text(&v))
            }
            Kind::ExtractArrayElementText => {
                let null_if_invalid = flag(args.get(2))?;
                let Some(pos) = integer(&args[1])? else {
                    return Ok(ScalarValue::Utf8(None));
                };
                let Some(v) = self.parse(&json, null_if_invalid)? else {
                    return Ok(ScalarValue::Utf8(None));
                };
                match v {
                    Value::Array(items) => {
                        match usize::try_from(pos).ok().and_then(|p| items.get(p)) {
                            Some(item) => ScalarValue::Utf8(as_text(item)),
                            None => ScalarValue::Utf8(Some(String::new())),
                        }
                    }
                    _ if null_if_invalid => ScalarValue::Utf8(None),
                    _ => return Err(invalid(name, "the JSON value is not an array")),
                }
            }
            Kind::ArrayLength => {
                let null_if_invalid = flag(args.get(1))?;
                match self.parse(&json, null_if_invalid)? {
                    Some(Value::Array(items)) => ScalarValue::Int32(Some(items.len() as i32)),
                    None => ScalarValue::Int32(None),
                    Some(_) if null_if_invalid => ScalarValue::Int32(None),
                    Some(_) => return Err(invalid(name, "the JSON value is not an array")),
                }
            }
            // An array is valid JSON for IS_VALID_JSON_ARRAY, not for IS_VALID_JSON.
            Kind::IsValid => ScalarValue::Boolean(Some(matches!(
                serde_json::from_str::<Value>(&json),
                Ok(Value::Object(_))
            ))),
            Kind::IsValidArray => ScalarValue::Boolean(Some(matches!(
                serde_json::from_str::<Value>(&json),
                Ok(Value::Array(_))
            ))),
            Kind::CanParse => {
                ScalarValue::Boolean(Some(serde_json::from_str::<Value>(&json).is_ok()))
            }
        })
    }

    fn returns(&self) -> DataType {
        match self.kind {
            Kind::ExtractPathText | Kind::ExtractArrayElementText => DataType::Utf8,
            Kind::ArrayLength => DataType::Int32,
            Kind::IsValid | Kind::IsValidArray | Kind::CanParse => DataType::Boolean,
        }
    }
}

impl ScalarUDFImpl for JsonFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::ExtractPathText => "json_extract_path_text",
            Kind::ExtractArrayElementText => "json_extract_array_element_text",
            Kind::ArrayLength => "json_array_length",
            Kind::IsValid => "is_valid_json",
            Kind::IsValidArray => "is_valid_json_array",
            Kind::CanParse => "can_json_parse",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let (min, max, what) = match self.kind {
            Kind::ExtractPathText => (2, usize::MAX, "a JSON string and at least one key"),
            Kind::ExtractArrayElementText => (2, 3, "2 or 3 arguments"),
            Kind::ArrayLength => (1, 2, "1 or 2 arguments"),
            _ => (1, 1, "1 argument"),
        };
        if args.len() < min || args.len() > max {
            return Err(arity(name, what, args.len()));
        }
        Ok(args
            .iter()
            .enumerate()
            .map(|(i, t)| match (self.kind, i) {
                (_, 0) => DataType::Utf8,
                (Kind::ExtractPathText, _) if i == args.len() - 1 && *t == DataType::Boolean => {
                    DataType::Boolean
                }
                (Kind::ExtractPathText, _) => DataType::Utf8,
                (Kind::ExtractArrayElementText, 1) => DataType::Int64,
                _ => DataType::Boolean,
            })
            .collect())
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        row_by_row(&args, &self.returns(), |values| self.row(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: Kind, args: &[ScalarValue]) -> Result<ScalarValue> {
        JsonFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
        .row(args)
    }

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.into()))
    }

    #[test]
    fn paths_and_elements_as_redshift_documents() {
        let json = s(r#"{"f2":{"f3":1},"f4":{"f5":99,"f6":"star"}}"#);
        assert_eq!(
            call(Kind::ExtractPathText, &[json.clone(), s("f4"), s("f6")]).expect("valid"),
            s("star")
        );
        assert_eq!(
            call(Kind::ExtractPathText, &[json.clone(), s("f2")]).expect("valid"),
            s(r#"{"f3":1}"#)
        );
        assert_eq!(
            call(Kind::ExtractPathText, &[json, s("nope")]).expect("valid"),
            ScalarValue::Utf8(None)
        );
        let bad = s(r#"{"f2":{"f3":1},"f4":{"f5":99,"f6":"star"}"#);
        assert!(call(Kind::ExtractPathText, &[bad.clone(), s("f4")]).is_err());
        assert_eq!(
            call(
                Kind::ExtractPathText,
                &[bad, s("f4"), ScalarValue::Boolean(Some(true))]
            )
            .expect("valid"),
            ScalarValue::Utf8(None)
        );
        let array = s(r#"[111,112,113]"#);
        assert_eq!(
            call(
                Kind::ExtractArrayElementText,
                &[array.clone(), ScalarValue::Int64(Some(2))]
            )
            .expect("valid"),
            s("113")
        );
        assert_eq!(
            call(Kind::ArrayLength, &[array]).expect("valid"),
            ScalarValue::Int32(Some(3))
        );
        // An array is IS_VALID_JSON_ARRAY's, not IS_VALID_JSON's.
        assert_eq!(
            call(Kind::IsValid, &[s("[1]")]).expect("valid"),
            ScalarValue::Boolean(Some(false))
        );
        assert_eq!(
            call(Kind::IsValid, &[s(r#"{"a":[1]}"#)]).expect("valid"),
            ScalarValue::Boolean(Some(true))
        );
        assert_eq!(
            call(Kind::IsValid, &[s("1")]).expect("valid"),
            ScalarValue::Boolean(Some(false))
        );
    }
}
