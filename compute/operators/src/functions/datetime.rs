//! Redshift's date and time functions: `DATEADD(part, n, t)`, `DATEDIFF(part, a,
//! b)` (the number of `part` boundaries crossed from `a` to `b`), `ADD_MONTHS`,
//! `LAST_DAY`, `MONTHS_BETWEEN`, `NEXT_DAY`, `CONVERT_TIMEZONE([source,] target,
//! t)` and `TRUNC` (of a timestamp: its date; of a number: toward zero, keeping the
//! number's type).
//!
//! Dateparts are named as Redshift names them, with its abbreviations
//! ([`canonical_datepart`]). Weeks start on Monday, as DATE_TRUNC's do. DATEADD
//! and DATEDIFF also take TIMEs (DATEADD's result wraps past midnight).

use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Weekday};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use blueshift_proto::error_kind::ErrorKind;

use super::{arity, integer, invalid, row_by_row, text, udf, value_error};

/// A datepart's name as Redshift accepts it (`yr`, `mons`, `dow`, `ms` ...) in its
/// canonical form (`year`, `month`, `dayofweek`, `millisecond` ...).
pub fn canonical_datepart(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase();
    Some(match name.as_str() {
        "millennium" | "millennia" | "mil" | "mils" => "millennium",
        "century" | "centuries" | "c" | "cent" | "cents" => "century",
        "decade" | "decades" | "dec" | "decs" => "decade",
        "epoch" => "epoch",
        "year" | "years" | "y" | "yr" | "yrs" => "year",
        "quarter" | "quarters" | "qtr" | "qtrs" => "quarter",
        "month" | "months" | "mon" | "mons" => "month",
        "week" | "weeks" | "w" => "week",
        "day of week" | "dayofweek" | "dow" | "dw" | "weekday" => "dayofweek",
        "day of year" | "dayofyear" | "doy" | "dy" | "yearday" => "dayofyear",
        "day" | "days" | "d" => "day",
        "hour" | "hours" | "h" | "hr" | "hrs" => "hour",
        "minute" | "minutes" | "m" | "min" | "mins" => "minute",
        "second" | "seconds" | "s" | "sec" | "secs" => "second",
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds"
        | "millisec" | "millisecs" | "millisecon" => "millisecond",
        "microsecond" | "microseconds" | "microsec" | "microsecs" | "microsecon" | "usecond"
        | "useconds" | "us" | "usec" | "usecs" => "microsecond",
        "nanosecond" | "nanoseconds" | "ns" | "nsec" | "nsecs" => "nanosecond",
        "timezone" => "timezone",
        "timezone_hour" => "timezone_hour",
        "timezone_minute" => "timezone_minute",
        "isoyear" => "isoyear",
        "isodow" => "isodow",
        _ => return None,
    })
}

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    DateAdd,
    DateDiff,
    AddMonths,
    LastDay,
    MonthsBetween,
    NextDay,
    Trunc,
    ConvertTimezone,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFunction {
    kind: Kind,
    signature: Signature,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [
        Kind::DateAdd,
        Kind::DateDiff,
        Kind::AddMonths,
        Kind::LastDay,
        Kind::MonthsBetween,
        Kind::NextDay,
        Kind::Trunc,
        Kind::ConvertTimezone,
    ]
    .into_iter()
    .map(|kind| {
        udf(DateFunction {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

/// Timestamps are handled in microseconds without a zone.
const TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// Times of day (DATEADD and DATEDIFF of a TIME), in microseconds.
const TIME: DataType = DataType::Time64(TimeUnit::Microsecond);

fn is_time(t: &DataType) -> bool {
    matches!(t, DataType::Time32(_) | DataType::Time64(_))
}

/// A TIME's or a timestamp's moment: a TIME is taken on 1970-01-01.
fn moment(v: &ScalarValue) -> Result<Option<NaiveDateTime>> {
    if is_time(&v.data_type()) {
        return match v.cast_to(&TIME)? {
            ScalarValue::Time64Microsecond(Some(us)) => {
                Ok(DateTime::from_timestamp_micros(us).map(|t| t.naive_utc()))
            }
            _ => Ok(None),
        };
    }
    timestamp(v)
}

/// The time of day of `t`, as a TIME (DATEADD of a TIME wraps past midnight).
fn time_value(t: Option<NaiveDateTime>) -> ScalarValue {
    ScalarValue::Time64Microsecond(t.map(|t| {
        let midnight = t.date().and_hms_opt(0, 0, 0).unwrap_or(t);
        (t - midnight).num_microseconds().unwrap_or(0)
    }))
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

fn timestamp(v: &ScalarValue) -> Result<Option<NaiveDateTime>> {
    match v.cast_to(&TS)? {
        ScalarValue::TimestampMicrosecond(Some(us), _) => {
            Ok(DateTime::from_timestamp_micros(us).map(|t| t.naive_utc()))
        }
        _ => Ok(None),
    }
}

fn timestamp_value(function: &str, t: Option<NaiveDateTime>) -> Result<ScalarValue> {
    match t {
        None => Ok(ScalarValue::TimestampMicrosecond(None, None)),
        Some(t) => Ok(ScalarValue::TimestampMicrosecond(
            Some(t.and_utc().timestamp_micros()),
            None,
        ))
        .and_then(|v| {
            if t.year() > 294_000 {
                Err(value_error(
                    ErrorKind::DatetimeFieldOverflow,
                    function,
                    "timestamp out of range",
                ))
            } else {
                Ok(v)
            }
        }),
    }
}

fn date_value(d: Option<NaiveDate>) -> ScalarValue {
    ScalarValue::Date32(d.map(|d| (d - NaiveDate::default()).num_days() as i32))
}

fn datepart(function: &str, v: &ScalarValue) -> Result<Option<&'static str>> {
    let Some(name) = text(v)? else {
        return Ok(None);
    };
    canonical_datepart(&name)
        .map(Some)
        .ok_or_else(|| invalid(function, format!("unknown datepart \"{name}\"")))
}

/// `t` plus `n` months, the day kept unless the month is shorter.
fn plus_months(t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
    let n32 = i32::try_from(n).ok()?;
    if n32 >= 0 {
        t.checked_add_months(Months::new(n32 as u32))
    } else {
        t.checked_sub_months(Months::new(n32.unsigned_abs()))
    }
}

fn last_day_of(d: NaiveDate) -> NaiveDate {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    first_next.and_then(|f| f.pred_opt()).unwrap_or(d)
}

fn dateadd(part: &str, n: i64, t: NaiveDateTime) -> Result<NaiveDateTime> {
    let months = |m: i64| {
        n.checked_mul(m)
            .and_then(|months| plus_months(t, months))
            .ok_or_else(|| {
                value_error(
                    ErrorKind::DatetimeFieldOverflow,
                    "dateadd",
                    "result out of range",
                )
            })
    };
    let micros = |unit: i64| {
        n.checked_mul(unit)
            .map(TimeDelta::microseconds)
            .and_then(|d| t.checked_add_signed(d))
            .ok_or_else(|| {
                value_error(
                    ErrorKind::DatetimeFieldOverflow,
                    "dateadd",
                    "result out of range",
                )
            })
    };
    // Whole years from February 29 land on March 1 of a year without one, as
    // Redshift's DATEADD does (`dateadd(year, 1, '2016-02-29')` is 2017-03-01).
    let years = |y: i64| {
        let out = months(y)?;
        Ok(if (t.month(), t.day(), out.day()) == (2, 29, 28) {
            out + TimeDelta::days(1)
        } else {
            out
        })
    };
    match part {
        "millennium" => years(12_000),
        "century" => years(1_200),
        "decade" => years(120),
        "year" => years(12),
        "quarter" => months(3),
        "month" => months(1),
        "week" => micros(7 * 86_400_000_000),
        "day" => micros(86_400_000_000),
        "hour" => micros(3_600_000_000),
        "minute" => micros(60_000_000),
        "second" => micros(1_000_000),
        "millisecond" => micros(1_000),
        "microsecond" => micros(1),
        other => Err(invalid(
            "dateadd",
            format!("datepart \"{other}\" is not supported"),
        )),
    }
}

/// How many `part` boundaries lie between `a` and `b` (negative when `b` is
/// earlier).
fn datediff(part: &str, a: NaiveDateTime, b: NaiveDateTime) -> Result<i64> {
    let us = |t: NaiveDateTime| t.and_utc().timestamp_micros();
    let by = |unit: i64| us(b).div_euclid(unit) - us(a).div_euclid(unit);
    let days = |t: NaiveDateTime| (t.date() - NaiveDate::default()).num_days();
    let month_index = |t: NaiveDateTime| t.year() as i64 * 12 + t.month0() as i64;
    let year = |t: NaiveDateTime| t.year() as i64;
    Ok(match part {
        "millennium" => (year(b) - 1).div_euclid(1000) - (year(a) - 1).div_euclid(1000),
        "century" => (year(b) - 1).div_euclid(100) - (year(a) - 1).div_euclid(100),
        "decade" => year(b).div_euclid(10) - year(a).div_euclid(10),
        "year" => year(b) - year(a),
        "quarter" => month_index(b).div_euclid(3) - month_index(a).div_euclid(3),
        "month" => month_index(b) - month_index(a),
        // 1970-01-01 was a Thursday: shifted by 3 days, weeks start on Monday.
        "week" => (days(b) + 3).div_euclid(7) - (days(a) + 3).div_euclid(7),
        "day" => days(b) - days(a),
        "hour" => by(3_600_000_000),
        "minute" => by(60_000_000),
        "second" => by(1_000_000),
        "millisecond" => by(1_000),
        "microsecond" => by(1),
        other => {
            return Err(invalid(
                "datediff",
                format!("datepart \"{other}\" is not supported"),
            ));
        }
    })
}

/// Oracle's and Redshift's MONTHS_BETWEEN: whole months when the days of the month
/// are the same or both are the last, else a fraction of a 31-day month.
fn months_between(a: NaiveDate, b: NaiveDate) -> f64 {
    let whole =
        (a.year() as i64 * 12 + a.month0() as i64) - (b.year() as i64 * 12 + b.month0() as i64);
    if a.day() == b.day() || (a == last_day_of(a) && b == last_day_of(b)) {
        return whole as f64;
    }
    whole as f64 + (a.day() as f64 - b.day() as f64) / 31.0
}

fn weekday(name: &str) -> Option<Weekday> {
    let name = name.trim().to_ascii_lowercase();
    if name.len() < 2 {
        return None;
    }
    [
        ("sunday", Weekday::Sun),
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
    ]
    .into_iter()
    .find(|(full, _)| full.starts_with(&name))
    .map(|(_, d)| d)
}

/// TRUNC of a number toward zero at `places` decimal places (negative: left of the
/// point), in the number's own type.
fn trunc_number(v: &ScalarValue, places: i64) -> Result<ScalarValue> {
    fn cut(x: i128, digits: i64) -> i128 {
        if digits <= 0 {
            return x;
        }
        match 10i128.checked_pow(digits.min(38) as u32) {
            Some(p) => x / p * p,
            None => 0,
        }
    }
    Ok(match v {
        ScalarValue::Decimal128(Some(x), p, s) => {
            ScalarValue::Decimal128(Some(cut(*x, *s as i64 - places)), *p, *s)
        }
        ScalarValue::Float64(Some(x)) => {
            let f = 10f64.powi(places.clamp(-308, 308) as i32);
            ScalarValue::Float64(Some((x * f).trunc() / f))
        }
        ScalarValue::Int64(Some(x)) => ScalarValue::Int64(Some(cut(*x as i128, -places) as i64)),
        other => other.clone(),
    })
}

/// A time zone by name (`UTC`, `America/New_York`, `EST`) or offset (`+05:30`).
fn zone(name: &str) -> Result<Tz> {
    let trimmed = name.trim();
    let canonical = if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("gmt") {
        "+00:00"
    } else {
        trimmed
    };
    Tz::from_str(canonical).map_err(|_| {
        invalid(
            "convert_timezone",
            format!("time zone \"{name}\" not recognized"),
        )
    })
}

/// `t`, a wall-clock time in zone `source`, as the wall-clock time in `target`.
fn convert_timezone(source: &str, target: &str, t: NaiveDateTime) -> Result<NaiveDateTime> {
    let (source, target) = (zone(source)?, zone(target)?);
    let at = source
        .from_local_datetime(&t)
        .earliest()
        .ok_or_else(|| invalid("convert_timezone", format!("{t} does not exist there")))?;
    Ok(at.with_timezone(&target).naive_local())
}

impl DateFunction {
    fn row(&self, args: &[ScalarValue]) -> Result<ScalarValue> {
        let name = self.name();
        Ok(match self.kind {
            Kind::DateAdd => {
                let of_time = is_time(&args[2].data_type());
                let (Some(part), Some(n), Some(t)) = (
                    datepart(name, &args[0])?,
                    integer(&args[1])?,
                    moment(&args[2])?,
                ) else {
                    return Ok(if of_time {
                        time_value(None)
                    } else {
                        timestamp_value(name, None)?
                    });
                };
                let out = dateadd(part, n, t)?;
                if of_time {
                    time_value(Some(out))
                } else {
                    timestamp_value(name, Some(out))?
                }
            }
            Kind::DateDiff => {
                let (Some(part), Some(a), Some(b)) = (
                    datepart(name, &args[0])?,
                    moment(&args[1])?,
                    moment(&args[2])?,
                ) else {
                    return Ok(ScalarValue::Int64(None));
                };
                ScalarValue::Int64(Some(datediff(part, a, b)?))
            }
            Kind::AddMonths => {
                let (Some(t), Some(n)) = (timestamp(&args[0])?, integer(&args[1])?) else {
                    return timestamp_value(name, None);
                };
                let mut out = plus_months(t, n).ok_or_else(|| {
                    value_error(
                        ErrorKind::DatetimeFieldOverflow,
                        name,
                        "result out of range",
                    )
                })?;
                if t.date() == last_day_of(t.date()) {
                    out = last_day_of(out.date()).and_time(out.time());
                }
                timestamp_value(name, Some(out))?
            }
            Kind::LastDay => date_value(timestamp(&args[0])?.map(|t| last_day_of(t.date()))),
            Kind::MonthsBetween => {
                let (Some(a), Some(b)) = (timestamp(&args[0])?, timestamp(&args[1])?) else {
                    return Ok(ScalarValue::Float64(None));
                };
                ScalarValue::Float64(Some(months_between(a.date(), b.date())))
            }
            Kind::NextDay => {
                let (Some(t), Some(day)) = (timestamp(&args[0])?, text(&args[1])?) else {
                    return Ok(date_value(None));
                };
                let target = weekday(&day)
                    .ok_or_else(|| invalid(name, format!("\"{day}\" is not a day of the week")))?;
                let mut d = t.date();
                loop {
                    d = d
                        .succ_opt()
                        .ok_or_else(|| invalid(name, "date out of range"))?;
                    if d.weekday() == target {
                        break;
                    }
                }
                date_value(Some(d))
            }
            Kind::ConvertTimezone => {
                let (source, target, t) = match args {
                    [target, t] => (Some("UTC".to_string()), text(target)?, timestamp(t)?),
                    [source, target, t] => (text(source)?, text(target)?, timestamp(t)?),
                    _ => return timestamp_value(name, None),
                };
                let (Some(source), Some(target), Some(t)) = (source, target, t) else {
                    return timestamp_value(name, None);
                };
                timestamp_value(name, Some(convert_timezone(&source, &target, t)?))?
            }
            Kind::Trunc => {
                if is_temporal(&args[0].data_type()) {
                    date_value(timestamp(&args[0])?.map(|t| t.date()))
                } else {
                    let places = match args.get(1) {
                        Some(p) => match integer(p)? {
                            Some(p) => p,
                            None => return ScalarValue::try_from(args[0].data_type()),
                        },
                        None => 0,
                    };
                    if args[0].is_null() {
                        return Ok(args[0].clone());
                    }
                    trunc_number(&args[0], places)?
                }
            }
        })
    }
}

impl ScalarUDFImpl for DateFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::DateAdd => "dateadd",
            Kind::DateDiff => "datediff",
            Kind::AddMonths => "add_months",
            Kind::LastDay => "last_day",
            Kind::MonthsBetween => "months_between",
            Kind::NextDay => "next_day",
            Kind::Trunc => "trunc",
            Kind::ConvertTimezone => "convert_timezone",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let want = |n: usize, what: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(arity(name, what, args.len()))
            }
        };
        let when = |t: &DataType| match t {
            DataType::Date32 => DataType::Date32,
            _ => TS,
        };
        Ok(match self.kind {
            Kind::DateAdd => {
                want(
                    3,
                    "3 arguments (datepart, interval, date, time or timestamp)",
                )?;
                let t = if is_time(&args[2]) { TIME } else { TS };
                vec![DataType::Utf8, DataType::Int64, t]
            }
            Kind::DateDiff => {
                want(3, "3 arguments (datepart, start, end)")?;
                let t = if is_time(&args[1]) && is_time(&args[2]) {
                    TIME
                } else {
                    TS
                };
                vec![DataType::Utf8, t.clone(), t]
            }
            Kind::AddMonths => {
                want(2, "2 arguments (date or timestamp, months)")?;
                vec![TS, DataType::Int64]
            }
            Kind::LastDay => {
                want(1, "1 argument (a date or timestamp)")?;
                vec![when(&args[0])]
            }
            Kind::MonthsBetween => {
                want(2, "2 arguments (two dates)")?;
                vec![when(&args[0]), when(&args[1])]
            }
            Kind::NextDay => {
                want(2, "2 arguments (a date and a day's name)")?;
                vec![when(&args[0]), DataType::Utf8]
            }
            Kind::ConvertTimezone => match args.len() {
                2 => vec![DataType::Utf8, TS],
                3 => vec![DataType::Utf8, DataType::Utf8, TS],
                n => {
                    return Err(arity(
                        name,
                        "2 or 3 arguments ([source zone,] target zone, timestamp)",
                        n,
                    ));
                }
            },
            Kind::Trunc => {
                if args.is_empty() || args.len() > 2 {
                    return Err(arity(name, "1 or 2 arguments", args.len()));
                }
                let first = match &args[0] {
                    t if is_temporal(t) => return Ok(vec![when(t)]),
                    DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
                    DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32 => DataType::Int64,
                    _ => DataType::Float64,
                };
                let mut out = vec![first];
                if args.len() == 2 {
                    out.push(DataType::Int64);
                }
                out
            }
        })
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::DateAdd if args.get(2).is_some_and(is_time) => TIME,
            Kind::DateAdd | Kind::AddMonths | Kind::ConvertTimezone => TS,
            Kind::DateDiff => DataType::Int64,
            Kind::LastDay | Kind::NextDay => DataType::Date32,
            Kind::MonthsBetween => DataType::Float64,
            Kind::Trunc => match args.first() {
                Some(t) if is_temporal(t) => DataType::Date32,
                Some(t @ (DataType::Decimal128(_, _) | DataType::Int64)) => t.clone(),
                _ => DataType::Float64,
            },
        })
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let mut returns = self.return_type(&types)?;
        // TRUNC of a DECIMAL has the scale of its places, as in PostgreSQL
        // (`trunc(111.86)` is 111, `trunc(111.86, 1)` 111.8).
        if let (Kind::Trunc, DataType::Decimal128(p, s)) = (self.kind, &returns) {
            let scale = match args.scalar_arguments.get(1) {
                None => 0,
                Some(Some(places)) => integer(places)?.unwrap_or(0).clamp(0, *s as i64) as i8,
                Some(None) => *s,
            };
            returns = DataType::Decimal128(*p, scale);
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

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect(s)
    }

    #[test]
    fn dateadd_keeps_the_day_unless_the_month_is_shorter() {
        let jan31 = ts("2008-01-31 00:00:00");
        assert_eq!(
            dateadd("month", 1, jan31).expect("valid"),
            ts("2008-02-29 00:00:00")
        );
        assert_eq!(
            dateadd("day", 30, ts("2008-02-01 00:00:00")).expect("valid"),
            ts("2008-03-02 00:00:00")
        );
        assert_eq!(
            dateadd("quarter", -1, jan31).expect("valid"),
            ts("2007-10-31 00:00:00")
        );
        assert!(dateadd("month", i64::MAX, jan31).is_err());
        assert!(dateadd("dayofweek", 1, jan31).is_err());
    }

    #[test]
    fn datediff_counts_boundaries() {
        let (a, b) = (ts("2008-12-31 23:59:59"), ts("2009-01-01 00:00:00"));
        assert_eq!(datediff("year", a, b).expect("valid"), 1);
        assert_eq!(datediff("month", a, b).expect("valid"), 1);
        assert_eq!(datediff("day", a, b).expect("valid"), 1);
        assert_eq!(datediff("second", a, b).expect("valid"), 1);
        assert_eq!(datediff("hour", b, a).expect("valid"), -1);
        assert_eq!(
            datediff("week", ts("2009-01-01 00:00:00"), ts("2009-12-31 00:00:00")).expect("valid"),
            52
        );
        // Sunday to Monday crosses a week boundary.
        assert_eq!(
            datediff("week", ts("2024-01-07 00:00:00"), ts("2024-01-08 00:00:00")).expect("valid"),
            1
        );
        assert_eq!(
            datediff(
                "quarter",
                ts("1998-07-01 00:00:00"),
                ts("2008-12-01 00:00:00")
            )
            .expect("valid"),
            41
        );
    }

    #[test]
    fn months_between_and_next_day() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("valid");
        assert_eq!(months_between(d("1969-03-18"), d("1969-02-18")), 1.0);
        assert_eq!(months_between(d("1969-03-31"), d("1969-02-28")), 1.0);
        assert!((months_between(d("1969-03-18"), d("1969-02-19")) - (30.0 / 31.0)).abs() < 1e-12);
        assert_eq!(weekday("tu"), Some(Weekday::Tue));
        assert_eq!(weekday("t"), None);
        assert_eq!(last_day_of(d("2008-02-03")), d("2008-02-29"));
        assert_eq!(canonical_datepart("YRS"), Some("year"));
        assert_eq!(canonical_datepart("dw"), Some("dayofweek"));
    }

    #[test]
    fn convert_timezone_moves_the_wall_clock() {
        assert_eq!(
            convert_timezone("UTC", "America/New_York", ts("2008-03-05 12:25:29")).expect("valid"),
            ts("2008-03-05 07:25:29")
        );
        assert_eq!(
            convert_timezone("America/New_York", "+05:30", ts("2008-07-05 12:00:00"))
                .expect("valid"),
            ts("2008-07-05 21:30:00")
        );
        assert!(convert_timezone("UTC", "Mars/Olympus", ts("2008-03-05 12:25:29")).is_err());
    }

    #[test]
    fn trunc_keeps_the_numbers_type() {
        assert_eq!(
            trunc_number(&ScalarValue::Decimal128(Some(11119), 10, 2), 1).expect("valid"),
            ScalarValue::Decimal128(Some(11110), 10, 2)
        );
        assert_eq!(
            trunc_number(&ScalarValue::Int64(Some(1999)), -2).expect("valid"),
            ScalarValue::Int64(Some(1900))
        );
        assert_eq!(
            trunc_number(&ScalarValue::Float64(Some(-2.57)), 1).expect("valid"),
            ScalarValue::Float64(Some(-2.5))
        );
    }
}
