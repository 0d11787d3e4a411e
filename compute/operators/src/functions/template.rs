//! `TO_CHAR`, `TO_DATE`, `TO_TIMESTAMP` and `TO_NUMBER` with PostgreSQL's (and
//! Redshift's) format templates: `YYYY-MM-DD HH24:MI:SS`, `Month DD, YYYY`,
//! `FMDay`, `DDth`, `999,999D99`, `S9999`, `9999PR` ... (the datetime patterns in
//! [`datetime_template`], the numeric ones in [`number_template`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use blueshift_proto::error_kind::ErrorKind;

use super::{arity, invalid, row_by_row, text, udf, value_error};

mod datetime_template;
mod number_template;

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
#[allow(clippy::enum_variant_names)] // named after the functions
enum Kind {
    ToChar,
    ToDate,
    ToTimestamp,
    ToNumber,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TemplateFunction {
    kind: Kind,
    signature: Signature,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [
        Kind::ToChar,
        Kind::ToDate,
        Kind::ToTimestamp,
        Kind::ToNumber,
    ]
    .into_iter()
    .map(|kind| {
        udf(TemplateFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

const TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);
const TSTZ_ZONE: &str = "+00:00";

fn tstz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TSTZ_ZONE.into()))
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// A number as its sign and exact decimal digits (`-12.50` is `(true, "12", "50")`).
fn decimal_digits(v: &ScalarValue) -> Option<(bool, String, String)> {
    match v {
        ScalarValue::Decimal128(Some(x), _, s) => {
            let negative = *x < 0;
            let digits = x.unsigned_abs().to_string();
            let s = *s as usize;
            let padded = format!("{digits:0>width$}", width = s + 1);
            let (int, frac) = padded.split_at(padded.len() - s);
            Some((negative, int.to_string(), frac.to_string()))
        }
        ScalarValue::Int64(Some(x)) => Some((*x < 0, x.unsigned_abs().to_string(), String::new())),
        ScalarValue::Float64(Some(x)) if x.is_finite() => {
            let text = format!("{}", x.abs());
            let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
            Some((*x < 0.0, int.to_string(), frac.to_string()))
        }
        _ => None,
    }
}

impl TemplateFunction {
    fn row(&self, args: &[ScalarValue]) -> Result<ScalarValue> {
        let name = self.name();
        let template = match args.get(1) {
            Some(t) => match text(t)? {
                Some(t) => Some(t),
                None => return ScalarValue::try_from(self.returns(args.len())),
            },
            None => None,
        };
        if args[0].is_null() {
            return ScalarValue::try_from(self.returns(args.len()));
        }
        Ok(match self.kind {
            Kind::ToChar => {
                let template = template.unwrap_or_default();
                if is_temporal(&args[0].data_type()) {
                    let zoned = matches!(args[0].data_type(), DataType::Timestamp(_, Some(_)));
                    let t = match args[0].cast_to(&TS)? {
                        ScalarValue::TimestampMicrosecond(Some(us), _) => {
                            DateTime::from_timestamp_micros(us).map(|t| t.naive_utc())
                        }
                        _ => None,
                    };
                    let Some(t) = t else {
                        return Ok(ScalarValue::Utf8(None));
                    };
                    let tokens = datetime_template::parse(&template);
                    ScalarValue::Utf8(Some(datetime_template::format(&tokens, &t, zoned)))
                } else {
                    let Some((negative, int, frac)) = decimal_digits(&args[0]) else {
                        return Ok(ScalarValue::Utf8(None));
                    };
                    ScalarValue::Utf8(Some(number_template::format(
                        &template, negative, &int, &frac,
                    )))
                }
            }
            Kind::ToDate | Kind::ToTimestamp => {
                let Some(input) = text(&args[0])? else {
                    return ScalarValue::try_from(self.returns(args.len()));
                };
                let t: NaiveDateTime = match template {
                    Some(template) => {
                        let tokens = datetime_template::parse(&template);
                        // TO_DATE's third argument, is_strict: by default (FALSE)
                        // a day past the month's end carries over, as on Redshift.
                        let strict = match args.get(2) {
                            Some(v) => matches!(
                                v.cast_to(&DataType::Boolean)?,
                                ScalarValue::Boolean(Some(true))
                            ),
                            None => false,
                        };
                        datetime_template::read(&tokens, &input, strict).map_err(|e| {
                            let kind = if e.contains("out of range") {
                                ErrorKind::DatetimeFieldOverflow
                            } else {
                                ErrorKind::InvalidDatetimeFormat
                            };
                            value_error(kind, name, format!("{e} (in \"{input}\")"))
                        })?
                    }
                    None if self.kind == Kind::ToTimestamp && args[0].data_type().is_numeric() => {
                        let secs = match args[0].cast_to(&DataType::Float64)? {
                            ScalarValue::Float64(Some(f)) => f,
                            _ => return ScalarValue::try_from(self.returns(1)),
                        };
                        DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
                            .ok_or_else(|| invalid(name, "timestamp out of range"))?
                            .naive_utc()
                    }
                    None => {
                        let cast = ScalarValue::Utf8(Some(input)).cast_to(&TS)?;
                        match cast {
                            ScalarValue::TimestampMicrosecond(Some(us), _) => {
                                DateTime::from_timestamp_micros(us)
                                    .map(|t| t.naive_utc())
                                    .ok_or_else(|| invalid(name, "timestamp out of range"))?
                            }
                            _ => return ScalarValue::try_from(self.returns(1)),
                        }
                    }
                };
                if self.kind == Kind::ToDate {
                    ScalarValue::Date32(Some((t.date() - NaiveDate::default()).num_days() as i32))
                } else {
                    ScalarValue::TimestampMicrosecond(
                        Some(t.and_utc().timestamp_micros()),
                        Some(TSTZ_ZONE.into()),
                    )
                }
            }
            Kind::ToNumber => {
                let input = text(&args[0])?.unwrap_or_default();
                let template = template.unwrap_or_default();
                let (value, scale) = number_template::read(&template, &input)
                    .map_err(|e| invalid(name, format!("{e} (in \"{input}\")")))?;
                ScalarValue::Decimal128(Some(value), 38, scale)
            }
        })
    }

    fn returns(&self, _args: usize) -> DataType {
        match self.kind {
            Kind::ToChar => DataType::Utf8,
            Kind::ToDate => DataType::Date32,
            Kind::ToTimestamp => tstz(),
            Kind::ToNumber => DataType::Decimal128(38, 10),
        }
    }
}

impl ScalarUDFImpl for TemplateFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::ToChar => "to_char",
            Kind::ToDate => "to_date",
            Kind::ToTimestamp => "to_timestamp",
            Kind::ToNumber => "to_number",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let (min, max, what) = match self.kind {
            Kind::ToChar | Kind::ToNumber => (2, 2, "2 arguments (a value and a format)"),
            Kind::ToDate => (
                1,
                3,
                "1 to 3 arguments (a string [, a format [, is_strict]])",
            ),
            Kind::ToTimestamp => (1, 2, "1 or 2 arguments (a string [, a format])"),
        };
        if args.len() < min || args.len() > max {
            return Err(arity(name, what, args.len()));
        }
        let first = match (self.kind, &args[0]) {
            (Kind::ToChar, t) if is_temporal(t) => match t {
                DataType::Date32 => DataType::Date32,
                DataType::Timestamp(_, Some(_)) => tstz(),
                _ => TS,
            },
            (Kind::ToChar, DataType::Decimal128(p, s)) => DataType::Decimal128(*p, *s),
            (
                Kind::ToChar,
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32,
            ) => DataType::Int64,
            (Kind::ToChar, _) => DataType::Float64,
            (Kind::ToTimestamp, t) if args.len() == 1 && t.is_numeric() => DataType::Float64,
            _ => DataType::Utf8,
        };
        let mut out = vec![first];
        if args.len() >= 2 {
            out.push(DataType::Utf8);
        }
        if args.len() == 3 {
            out.push(DataType::Boolean);
        }
        Ok(out)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(self.returns(args.len()))
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let mut returns = self.returns(args.arg_fields.len());
        // TO_NUMBER's scale is its format's (a format that is not a constant: 10).
        if self.kind == Kind::ToNumber {
            let scale = match args.scalar_arguments.get(1) {
                Some(Some(format)) => match text(format)? {
                    Some(f) => number_template::scale(&f),
                    None => 0,
                },
                _ => 10,
            };
            returns = DataType::Decimal128(38, scale);
        }
        super::returned_field(self.name(), returns)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let returns = args.return_field.data_type().clone();
        row_by_row(&args, &returns, |values| self.row(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_exact_digits() {
        assert_eq!(
            decimal_digits(&ScalarValue::Decimal128(Some(-1250), 10, 2)),
            Some((true, "12".into(), "50".into()))
        );
        assert_eq!(
            decimal_digits(&ScalarValue::Decimal128(Some(5), 10, 2)),
            Some((false, "0".into(), "05".into()))
        );
        assert_eq!(
            decimal_digits(&ScalarValue::Float64(Some(125.8))),
            Some((false, "125".into(), "8".into()))
        );
    }
}
