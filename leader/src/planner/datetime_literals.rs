//! Date and time literals in the forms Redshift reads (`'8/2/2003'`, `'Jun 1,2008'`,
//! `'2020-01-01 10:00'`, `'04:05 PM'`), cast explicitly (`'8/2/2003'::date`) or by
//! a comparison (`d = '8/2/2003'`): after type coercion, a cast of a text literal to
//! DATE, TIMESTAMP (without a zone) or TIME becomes the value itself, read by
//! `blueshift_operators::functions::datetime_input`. Text that reader does not take
//! keeps its cast, and Arrow's parser reads it (or says what is wrong with it).

use arrow::datatypes::{DataType, TimeUnit};
use chrono::{NaiveDate, Timelike};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, TryCast};
use datafusion::optimizer::AnalyzerRule;

use blueshift_operators::functions::datetime_input::{parse_date, parse_time, parse_timestamp};

/// The analyzer rule (after DataFusion's type coercion).
#[derive(Debug, Default)]
pub struct DatetimeLiterals;

/// `text` as a value of `to`, if it is a date or time type this reader handles.
fn literal(text: &str, to: &DataType) -> Option<ScalarValue> {
    let epoch = NaiveDate::default();
    Some(match to {
        DataType::Date32 => {
            ScalarValue::Date32(Some((parse_date(text)? - epoch).num_days() as i32))
        }
        DataType::Timestamp(unit, None) => {
            let us = parse_timestamp(text)?.and_utc().timestamp_micros();
            match unit {
                TimeUnit::Second => ScalarValue::TimestampSecond(Some(us / 1_000_000), None),
                TimeUnit::Millisecond => ScalarValue::TimestampMillisecond(Some(us / 1_000), None),
                TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(us), None),
                TimeUnit::Nanosecond => {
                    ScalarValue::TimestampNanosecond(Some(us.checked_mul(1_000)?), None)
                }
            }
        }
        DataType::Time64(unit) => {
            let t = parse_time(text)?;
            let nanos =
                t.num_seconds_from_midnight() as i64 * 1_000_000_000 + t.nanosecond() as i64;
            match unit {
                TimeUnit::Nanosecond => ScalarValue::Time64Nanosecond(Some(nanos)),
                _ => ScalarValue::Time64Microsecond(Some(nanos / 1_000)),
            }
        }
        _ => return None,
    })
}

fn text_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => Some(s),
        Expr::Literal(ScalarValue::Utf8View(Some(s)), _) => Some(s),
        _ => None,
    }
}

impl AnalyzerRule for DatetimeLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| {
                    let value = match &e {
                        Expr::Cast(Cast { expr, field })
                        | Expr::TryCast(TryCast { expr, field }) => {
                            text_of(expr).and_then(|t| literal(t, field.data_type()))
                        }
                        _ => None,
                    };
                    Ok(match value {
                        Some(v) => Transformed::yes(Expr::Literal(v, None)),
                        None => Transformed::no(e),
                    })
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "datetime_literals"
    }
}
