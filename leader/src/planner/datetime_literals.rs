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

/// The analyzer rule (before type coercion) that keeps the time of `date +
/// interval`: DataFusion's DATE plus an interval with hours, minutes or seconds is a
/// DATE, dropping them (`date '2008-12-31' + interval '1 second'` was
/// `2008-12-31`); as in PostgreSQL and Redshift the date is a TIMESTAMP then.
#[derive(Debug, Default)]
pub struct DateIntervals;

/// Whether `e` is an interval literal with a part shorter than a day.
fn sub_day_interval(e: &Expr) -> bool {
    match e {
        Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(v)), _) => v.nanoseconds != 0,
        Expr::Literal(ScalarValue::IntervalDayTime(Some(v)), _) => v.milliseconds != 0,
        Expr::Negative(inner) => sub_day_interval(inner),
        _ => false,
    }
}

impl AnalyzerRule for DateIntervals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        use datafusion::logical_expr::{BinaryExpr, ExprSchemable, Operator};
        use datafusion::optimizer::utils::NamePreserver;
        plan.transform_up_with_subqueries(|node| {
            let mut schema = datafusion::common::DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let saved = names.save(&e);
                let done = e.transform_up(|e| {
                    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
                        return Ok(Transformed::no(e));
                    };
                    let is_date = |x: &Expr| {
                        matches!(x.get_type(&schema), Ok(DataType::Date32 | DataType::Date64))
                    };
                    let timestamp = |x: &Expr| {
                        Expr::Cast(Cast::new(
                            Box::new(x.clone()),
                            DataType::Timestamp(TimeUnit::Microsecond, None),
                        ))
                    };
                    let rewritten = match op {
                        Operator::Plus | Operator::Minus
                            if is_date(left) && sub_day_interval(right) =>
                        {
                            Some(BinaryExpr::new(
                                Box::new(timestamp(left)),
                                *op,
                                right.clone(),
                            ))
                        }
                        Operator::Plus if sub_day_interval(left) && is_date(right) => Some(
                            BinaryExpr::new(left.clone(), *op, Box::new(timestamp(right))),
                        ),
                        _ => None,
                    };
                    Ok(match rewritten {
                        Some(b) => Transformed::yes(Expr::BinaryExpr(b)),
                        None => Transformed::no(e),
                    })
                })?;
                Ok(done.update_data(|e| saved.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "date_intervals"
    }
}
