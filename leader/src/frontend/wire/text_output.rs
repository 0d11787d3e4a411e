//! Values in PostgreSQL's (and Redshift's) text output where pgwire's differs:
//! DOUBLE PRECISION and REAL as `%g` with `extra_float_digits` (`5`, `1e+20`,
//! `0.3`), TIMESTAMP and TIME without trailing zeros (`2023-11-14 23:03:19`,
//! `10:00:00.5`), TIMESTAMPTZ in the session's time zone with its offset
//! (`2023-11-14 23:03:19+00`). Columns sent in binary keep their arrays.

use std::str::FromStr;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{
    DataType, Field, Float32Type, Float64Type, Schema, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit,
};
use arrow::temporal_conversions::{as_datetime, as_datetime_with_timezone, as_time};
use chrono::{NaiveDateTime, NaiveTime, Offset, Timelike};
use pgwire::api::results::{FieldFormat, FieldInfo};

/// How a session's text output looks: its `extra_float_digits` and `timezone`.
#[derive(Debug, Clone)]
pub struct TextStyle {
    pub extra_float_digits: i32,
    pub time_zone: Option<Tz>,
}

impl TextStyle {
    /// The style of settings `extra_float_digits` and `timezone` (as SET gave them).
    pub fn new(extra_float_digits: &str, time_zone: &str) -> Self {
        TextStyle {
            extra_float_digits: extra_float_digits.trim().parse().unwrap_or(0).clamp(-15, 3),
            time_zone: zone(time_zone),
        }
    }
}

/// A session's `timezone` as arrow's zone (`UTC`, `America/New_York`, `+05:30`).
fn zone(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('\'');
    if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("gmt") {
        return Tz::from_str("+00:00").ok();
    }
    Tz::from_str(name).ok()
}

/// `batch` with its text-format columns of the types above turned into their text.
pub fn pg_text(batch: RecordBatch, fields: &[FieldInfo], style: &TextStyle) -> RecordBatch {
    let schema = batch.schema();
    let mut changed = false;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut out_fields: Vec<Arc<Field>> = Vec::with_capacity(batch.num_columns());
    for (i, column) in batch.columns().iter().enumerate() {
        let text = fields
            .get(i)
            .is_some_and(|f| f.format() == FieldFormat::Text);
        match text.then(|| to_text(column.as_ref(), style)).flatten() {
            Some(strings) => {
                changed = true;
                out_fields.push(Arc::new(Field::new(
                    schema.field(i).name(),
                    DataType::Utf8,
                    true,
                )));
                columns.push(Arc::new(strings));
            }
            None => {
                out_fields.push(Arc::new(schema.field(i).clone()));
                columns.push(Arc::clone(column));
            }
        }
    }
    if !changed {
        return batch;
    }
    RecordBatch::try_new(Arc::new(Schema::new(out_fields)), columns).unwrap_or(batch)
}

fn strings(array: &dyn Array, value: impl Fn(usize) -> Option<String>) -> StringArray {
    (0..array.len())
        .map(|i| if array.is_null(i) { None } else { value(i) })
        .collect()
}

/// `array` as PostgreSQL prints it, for the types pgwire prints otherwise.
fn to_text(array: &dyn Array, style: &TextStyle) -> Option<StringArray> {
    let efd = style.extra_float_digits;
    Some(match array.data_type() {
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            strings(array, |i| Some(float_text(a.value(i), 15, efd)))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            strings(array, |i| Some(float32_text(a.value(i), efd)))
        }
        DataType::Timestamp(unit, zone) => {
            let micros = timestamp_micros(array, *unit)?;
            let target = zone.as_ref().map(|_| style.time_zone.unwrap_or_else(utc));
            strings(array, |i| {
                let us = micros(i);
                match target {
                    None => as_datetime::<arrow::datatypes::TimestampMicrosecondType>(us)
                        .map(|t| timestamp_text(&t)),
                    Some(tz) => as_datetime_with_timezone::<
                        arrow::datatypes::TimestampMicrosecondType,
                    >(us, tz)
                    .map(|t| {
                        let offset = t.offset().fix().local_minus_utc();
                        format!(
                            "{}{}",
                            timestamp_text(&t.naive_local()),
                            offset_text(offset)
                        )
                    }),
                }
            })
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let a = array.as_primitive::<Time64MicrosecondType>();
            strings(array, |i| {
                as_time::<Time64MicrosecondType>(a.value(i)).map(|t| time_text(&t))
            })
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            let a = array.as_primitive::<Time64NanosecondType>();
            strings(array, |i| {
                as_time::<Time64NanosecondType>(a.value(i)).map(|t| time_text(&t))
            })
        }
        DataType::Time32(TimeUnit::Second) => {
            let a = array.as_primitive::<Time32SecondType>();
            strings(array, |i| {
                as_time::<Time32SecondType>(a.value(i) as i64).map(|t| time_text(&t))
            })
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            let a = array.as_primitive::<Time32MillisecondType>();
            strings(array, |i| {
                as_time::<Time32MillisecondType>(a.value(i) as i64).map(|t| time_text(&t))
            })
        }
        _ => return None,
    })
}

fn utc() -> Tz {
    Tz::from_str("+00:00").expect("UTC is a zone")
}

/// A timestamp array's values in microseconds (nanoseconds truncated, as
/// PostgreSQL keeps microseconds).
fn timestamp_micros(array: &dyn Array, unit: TimeUnit) -> Option<Box<dyn Fn(usize) -> i64 + '_>> {
    use arrow::datatypes::{
        TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
        TimestampNanosecondType as Ns, TimestampSecondType as S,
    };
    Some(match unit {
        TimeUnit::Second => {
            let a = array.as_primitive_opt::<S>()?;
            Box::new(move |i| a.value(i).saturating_mul(1_000_000))
        }
        TimeUnit::Millisecond => {
            let a = array.as_primitive_opt::<Ms>()?;
            Box::new(move |i| a.value(i).saturating_mul(1_000))
        }
        TimeUnit::Microsecond => {
            let a = array.as_primitive_opt::<Us>()?;
            Box::new(move |i| a.value(i))
        }
        TimeUnit::Nanosecond => {
            let a = array.as_primitive_opt::<Ns>()?;
            Box::new(move |i| a.value(i).div_euclid(1_000))
        }
    })
}

/// `.5`, `.123456` or nothing: the microseconds without trailing zeros.
fn fraction(nanos: u32) -> String {
    let micros = nanos / 1_000;
    if micros == 0 {
        return String::new();
    }
    let digits = format!(".{micros:06}");
    digits.trim_end_matches('0').to_string()
}

/// `2023-11-14 23:03:19` or `2023-11-14 23:03:19.5`; years before 1 end in ` BC`.
fn timestamp_text(t: &NaiveDateTime) -> String {
    use chrono::Datelike;
    let frac = fraction(t.nanosecond());
    if t.year() <= 0 {
        let year = 1 - t.year();
        return format!("{year:04}-{} BC", t.format("%m-%d %H:%M:%S")).replacen(
            " BC",
            &format!("{frac} BC"),
            1,
        );
    }
    format!("{}{frac}", t.format("%Y-%m-%d %H:%M:%S"))
}

fn time_text(t: &NaiveTime) -> String {
    format!("{}{}", t.format("%H:%M:%S"), fraction(t.nanosecond()))
}

/// `+00`, `-08`, `+05:30`: an offset as PostgreSQL prints it.
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    match (m, sec) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{sec:02}"),
    }
}

fn float32_text(v: f32, efd: i32) -> String {
    if efd > 0 {
        // The shortest text that reads back as the same float4.
        shortest(&format!("{v:e}"), 6).unwrap_or_else(|| v.to_string())
    } else {
        float_text(v as f64, 6, efd)
    }
}

/// A float8 (`digits` 15) or float4 (6) as PostgreSQL's float8out prints it: with
/// `extra_float_digits` above 0 the shortest exact text, else `%g` with `digits +
/// extra_float_digits` significant digits.
fn float_text(v: f64, digits: i32, efd: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    if efd > 0 {
        return shortest(&format!("{v:e}"), digits).unwrap_or_else(|| v.to_string());
    }
    let precision = (digits + efd).max(1) as usize;
    let sci = format!("{:.*e}", precision - 1, v);
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return v.to_string();
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits_only: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits_only = digits_only.trim_end_matches('0');
    let digits_only = if digits_only.is_empty() {
        "0"
    } else {
        digits_only
    };
    layout(negative, digits_only, exponent, precision as i32)
}

/// Rust's shortest `{:e}` text (`1.2345e-7`) laid out as PostgreSQL does, with
/// exponent notation below 1e-4 and from 10^`digits`.
fn shortest(sci: &str, digits: i32) -> Option<String> {
    let (mantissa, exponent) = sci.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let negative = mantissa.starts_with('-');
    let digits_only: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    Some(layout(negative, &digits_only, exponent, digits))
}

/// Significant `digits` (no trailing zeros) times 10^`exponent` (of the first digit),
/// in fixed notation when -4 <= exponent < `limit`, else as `d.ddde+XX`.
fn layout(negative: bool, digits: &str, exponent: i32, limit: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exponent < -4 || exponent >= limit {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{sign}{:02}", exponent.abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            out.push_str(digits);
            for _ in digits.len()..whole {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..whole]);
            out.push('.');
            out.push_str(&digits[whole..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_postgresql_prints_them() {
        // extra_float_digits 1 (PostgreSQL 12+'s default): the shortest exact text.
        for (v, text) in [
            (5.0, "5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1.5e-7, "1.5e-07"),
        ] {
            assert_eq!(float_text(v, 15, 1), text, "{v}");
        }
        // extra_float_digits 0 (Redshift's default): %.15g.
        for (v, text) in [
            (5.0, "5"),
            (0.1 + 0.2, "0.3"),
            (1e20, "1e+20"),
            (2.0 / 3.0, "0.666666666666667"),
            (100.0, "100"),
            (0.00001, "1e-05"),
        ] {
            assert_eq!(float_text(v, 15, 0), text, "{v}");
        }
        assert_eq!(float32_text(1.5, 0), "1.5");
        assert_eq!(float32_text(0.1, 1), "0.1");
        assert_eq!(float32_text(1e6, 1), "1e+06");
        assert_eq!(float32_text(123456.0, 0), "123456");
        assert_eq!(float32_text(1234567.0, 0), "1.23457e+06");
    }

    #[test]
    fn times_print_without_trailing_zeros() {
        let t = chrono::NaiveDate::from_ymd_opt(2023, 11, 14)
            .expect("valid")
            .and_hms_micro_opt(23, 3, 19, 500_000)
            .expect("valid");
        assert_eq!(timestamp_text(&t), "2023-11-14 23:03:19.5");
        let t = chrono::NaiveDate::from_ymd_opt(2023, 11, 14)
            .expect("valid")
            .and_hms_opt(23, 3, 19)
            .expect("valid");
        assert_eq!(timestamp_text(&t), "2023-11-14 23:03:19");
        assert_eq!(offset_text(0), "+00");
        assert_eq!(offset_text(-8 * 3600), "-08");
        assert_eq!(offset_text(5 * 3600 + 1800), "+05:30");
    }
}
