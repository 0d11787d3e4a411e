//! Converts text fields to the table's column types, as Redshift's COPY does:
//! NULL AS, EMPTYASNULL, BLANKSASNULL, TRUNCATECOLUMNS, TRIMBLANKS, DATEFORMAT and
//! TIMEFORMAT. A field that does not convert is a [`ConvertError`] with Redshift's
//! load error code.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
};
use arrow::compute::kernels::cast_utils::parse_decimal;
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::spec::{LoadColumn, LoadOptions};

/// A rejected record: (column, raw field, position, error code, reason).
pub(super) type Rejection = (Option<usize>, String, usize, i32, String);

/// Rows per output batch.
pub(super) const BATCH_ROWS: usize = 8192;

/// A field that does not fit its column.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvertError {
    /// Redshift's load error code (STL_LOAD_ERRORS.err_code).
    pub code: i32,
    pub reason: String,
}

fn err(code: i32, reason: impl Into<String>) -> ConvertError {
    ConvertError {
        code,
        reason: reason.into(),
    }
}

/// How DATEFORMAT or TIMEFORMAT reads a value.
#[derive(Clone, Debug, PartialEq)]
pub enum DateTimeFormat {
    /// Redshift's default (`YYYY-MM-DD`, `YYYY-MM-DD HH:MI:SS` with optional
    /// fractional seconds).
    Default,
    /// `'auto'`: the common formats.
    Auto,
    EpochSecs,
    EpochMillis,
    /// A Redshift format string, as a chrono pattern.
    Pattern(String),
}

impl DateTimeFormat {
    /// Reads a DATEFORMAT or TIMEFORMAT option (`None`: not given).
    pub fn parse(option: Option<&str>, time: bool) -> Result<DateTimeFormat, String> {
        let Some(text) = option else {
            return Ok(DateTimeFormat::Default);
        };
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(DateTimeFormat::Auto),
            "epochsecs" if time => Ok(DateTimeFormat::EpochSecs),
            "epochmillisecs" if time => Ok(DateTimeFormat::EpochMillis),
            "epochsecs" | "epochmillisecs" => {
                Err(format!("'{text}' is a TIMEFORMAT, not a DATEFORMAT"))
            }
            _ => redshift_pattern(text).map(DateTimeFormat::Pattern),
        }
    }
}

/// A Redshift datetime format (`YYYY-MM-DD HH24:MI:SS`) as a chrono pattern.
fn redshift_pattern(format: &str) -> Result<String, String> {
    const TOKENS: &[(&str, &str)] = &[
        ("YYYY", "%Y"),
        ("MONTH", "%B"),
        ("MON", "%b"),
        ("HH24", "%H"),
        ("HH12", "%I"),
        ("YY", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("HH", "%H"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("AM", "%p"),
        ("PM", "%p"),
    ];
    let mut out = String::new();
    let mut rest = format;
    let mut fields = 0;
    'outer: while !rest.is_empty() {
        let upper = rest.to_ascii_uppercase();
        for (token, chrono) in TOKENS {
            if upper.starts_with(token) {
                out.push_str(chrono);
                rest = &rest[token.len()..];
                fields += 1;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_ascii_alphabetic() {
            return Err(format!("'{format}' has an unknown field at '{rest}'"));
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    if fields == 0 {
        return Err(format!("'{format}' has no date or time fields"));
    }
    Ok(out)
}

const AUTO_DATES: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%m/%d/%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%Y.%m.%d",
    "%d.%m.%Y",
];

const AUTO_TIMES: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y%m%d %H:%M:%S%.f",
    "%d-%b-%Y %H:%M:%S%.f",
];

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

/// `YYYY-MM-DD` read digit by digit: the default DATEFORMAT's common case, without
/// interpreting a chrono pattern for every field. `None` for any other form.
fn iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..])?)
}

fn parse_date(text: &str, format: &DateTimeFormat) -> Option<NaiveDate> {
    match format {
        DateTimeFormat::Default => {
            iso_date(text).or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        }
        DateTimeFormat::Auto => AUTO_DATES
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
            .or_else(|| parse_time(text, &DateTimeFormat::Auto, true).map(|t| t.date_naive())),
        DateTimeFormat::Pattern(p) => NaiveDate::parse_from_str(text, p).ok().or_else(|| {
            NaiveDateTime::parse_from_str(text, p)
                .ok()
                .map(|t| t.date())
        }),
        DateTimeFormat::EpochSecs | DateTimeFormat::EpochMillis => None,
    }
}

fn with_fraction(pattern: &str) -> Option<String> {
    pattern
        .contains("%S")
        .then(|| pattern.replace("%S", "%S%.f"))
}

fn naive(text: &str, pattern: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, pattern)
        .ok()
        .or_else(|| {
            with_fraction(pattern).and_then(|p| NaiveDateTime::parse_from_str(text, &p).ok())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(text, pattern)
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })
}

/// A timestamp; values without an offset are UTC. `tz`: the column has a time zone,
/// so an offset in the text is honoured.
fn parse_time(text: &str, format: &DateTimeFormat, tz: bool) -> Option<DateTime<Utc>> {
    let utc = |t: NaiveDateTime| Utc.from_utc_datetime(&t);
    match format {
        DateTimeFormat::EpochSecs => {
            let secs: f64 = text.parse().ok()?;
            DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
        }
        DateTimeFormat::EpochMillis => {
            let millis: i64 = text.parse().ok()?;
            DateTime::from_timestamp_millis(millis)
        }
        DateTimeFormat::Pattern(p) => naive(text, p).map(utc),
        // The default format first, then the others 'auto' reads (ISO 8601 with a
        // `T`, as JSON and Parquet writers give).
        DateTimeFormat::Default => naive(text, "%Y-%m-%d %H:%M:%S")
            .map(utc)
            .or_else(|| parse_time(text, &DateTimeFormat::Auto, tz)),
        DateTimeFormat::Auto => AUTO_TIMES
            .iter()
            .find_map(|f| naive(text, f))
            .or_else(|| {
                AUTO_DATES
                    .iter()
                    .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
                    .map(|d| d.and_time(NaiveTime::MIN))
            })
            .map(utc)
            .or_else(|| with_offset(text, tz)),
    }
}

fn with_offset(text: &str, tz: bool) -> Option<DateTime<Utc>> {
    if !tz {
        return None;
    }
    DateTime::<FixedOffset>::parse_from_rfc3339(text)
        .ok()
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").ok())
        .map(|t| t.with_timezone(&Utc))
}

/// How one column is built.
enum Builder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Bool(BooleanBuilder),
    Str(StringBuilder),
    Date(Date32Builder),
    /// Timestamps as integers in the column's unit, cast at the end.
    Time(Int64Builder, TimeUnit),
    /// Any other type: text, cast at the end (each value is checked as it comes).
    Other(StringBuilder),
}

/// A converted value, held until the whole row has converted.
#[derive(Debug)]
enum Value<'a> {
    Null,
    Int(i64),
    Float(f64),
    Decimal(i128),
    Bool(bool),
    /// Text borrowed from the record where it can be: no allocation per field.
    Str(std::borrow::Cow<'a, str>),
    Date(i32),
}

impl Value<'_> {
    fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(v) => Value::Int(v),
            Value::Float(v) => Value::Float(v),
            Value::Decimal(v) => Value::Decimal(v),
            Value::Bool(v) => Value::Bool(v),
            Value::Str(v) => Value::Str(std::borrow::Cow::Owned(v.into_owned())),
            Value::Date(v) => Value::Date(v),
        }
    }
}

/// Builds one column of the target table from text fields.
pub struct TargetColumn {
    pub def: LoadColumn,
    builder: Builder,
    /// The value of rows whose input does not have this column (DEFAULT or NULL).
    missing: Option<String>,
    /// CHAR/VARCHAR (empty fields are empty strings, not NULL).
    is_char: bool,
}

/// A field as seen by the conversion.
pub struct Input<'a> {
    /// The value text, or `None` for NULL.
    pub text: Option<&'a str>,
    /// Whether NULL AS / empty checks apply (unquoted fields of text and CSV).
    pub checks: bool,
    /// The field as it stood in the record.
    pub raw: &'a str,
}

fn builder_for(data_type: &DataType) -> Builder {
    const CAP: usize = 8192;
    match data_type {
        DataType::Int16 => Builder::I16(Int16Builder::with_capacity(CAP)),
        DataType::Int32 => Builder::I32(Int32Builder::with_capacity(CAP)),
        DataType::Int64 => Builder::I64(Int64Builder::with_capacity(CAP)),
        DataType::Float32 => Builder::F32(Float32Builder::with_capacity(CAP)),
        DataType::Float64 => Builder::F64(Float64Builder::with_capacity(CAP)),
        DataType::Decimal128(p, s) => Builder::Decimal(
            Decimal128Builder::with_capacity(CAP).with_data_type(data_type.clone()),
            *p,
            *s,
        ),
        DataType::Boolean => Builder::Bool(BooleanBuilder::with_capacity(CAP)),
        DataType::Utf8 => Builder::Str(StringBuilder::with_capacity(CAP, CAP * 16)),
        DataType::Date32 => Builder::Date(Date32Builder::with_capacity(CAP)),
        DataType::Timestamp(unit, _) => Builder::Time(Int64Builder::with_capacity(CAP), *unit),
        _ => Builder::Other(StringBuilder::new()),
    }
}

fn type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Int16 => "Short Integer",
        DataType::Int32 => "Integer",
        DataType::Int64 => "Long",
        DataType::Float32 | DataType::Float64 => "Double",
        DataType::Decimal128(..) => "Decimal",
        DataType::Boolean => "Boolean",
        DataType::Utf8 => "Varchar",
        DataType::Date32 => "Date",
        DataType::Timestamp(..) => "Timestamp",
        _ => "Other",
    }
}

/// The first byte of `text` that is not part of a number, for error messages.
fn invalid_digit(text: &str) -> String {
    let pos = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+'))))
        .map_or(0, |(i, _)| i);
    format!(
        "Invalid digit, Value '{}', Pos {pos}",
        text.get(pos..pos + 1).unwrap_or("")
    )
}

impl TargetColumn {
    pub fn new(def: LoadColumn) -> Self {
        let builder = builder_for(&def.data_type);
        TargetColumn {
            missing: def.default.clone(),
            is_char: def.data_type == DataType::Utf8,
            builder,
            def,
        }
    }

    /// The text the column takes in rows whose input lacks it.
    pub fn missing_text(&self) -> Option<&str> {
        self.missing.as_deref()
    }

    /// Converts one field; nothing is appended until [`Self::push`].
    fn convert<'a>(
        &self,
        input: &Input<'a>,
        options: &LoadOptions,
        date: &DateTimeFormat,
        time: &DateTimeFormat,
    ) -> Result<Value<'a>, ConvertError> {
        let value = match input.text {
            None => None,
            Some(_) if input.checks && input.raw == options.null_as => None,
            Some(t) => Some(t),
        };
        let value = match value {
            Some(t) if self.is_char => {
                let t = if options.trim_blanks {
                    t.trim_matches(' ')
                } else {
                    t
                };
                if (t.is_empty() && options.empty_as_null && input.checks)
                    || (options.blanks_as_null && !t.is_empty() && t.trim_matches(' ').is_empty())
                {
                    None
                } else {
                    Some(t)
                }
            }
            Some(t) => {
                let t = t.trim_matches(|c: char| c == ' ' || c == '\t');
                (!t.is_empty()).then_some(t)
            }
            None => None,
        };
        let Some(text) = value else {
            if !self.def.nullable {
                return Err(err(
                    1213,
                    format!("Missing data for not-null field {}", self.def.name),
                ));
            }
            return Ok(Value::Null);
        };
        let kind = type_name(&self.def.data_type);
        Ok(match &self.builder {
            Builder::I16(_) | Builder::I32(_) | Builder::I64(_) => {
                let v: i64 = text
                    .parse()
                    .map_err(|_| err(1207, format!("{}, Type: {kind}", invalid_digit(text))))?;
                let fits = match self.builder {
                    Builder::I16(_) => i16::try_from(v).is_ok(),
                    Builder::I32(_) => i32::try_from(v).is_ok(),
                    _ => true,
                };
                if !fits {
                    return Err(err(1204, format!("Overflow, Value '{text}', Type: {kind}")));
                }
                Value::Int(v)
            }
            Builder::F32(_) | Builder::F64(_) => Value::Float(
                text.parse()
                    .map_err(|_| err(1208, format!("Invalid float value '{text}'")))?,
            ),
            Builder::Decimal(_, p, s) => Value::Decimal(
                parse_decimal::<Decimal128Type>(text, *p, *s)
                    .map_err(|e| err(1209, format!("Invalid decimal value '{text}': {e}")))?,
            ),
            Builder::Bool(_) => Value::Bool(match text.to_ascii_lowercase().as_str() {
                "t" | "true" | "1" | "y" | "yes" | "on" => true,
                "f" | "false" | "0" | "n" | "no" | "off" => false,
                _ => return Err(err(1210, format!("Invalid boolean value '{text}'"))),
            }),
            Builder::Str(_) => {
                let mut s = text;
                if let Some(max) = self.def.max_bytes
                    && s.len() > max
                {
                    if !options.truncate_columns {
                        return Err(err(
                            1204,
                            format!("String length exceeds DDL length: {} > {max}", s.len()),
                        ));
                    }
                    s = cut_to(s, max);
                }
                Value::Str(s.into())
            }
            Builder::Date(_) => {
                let d = parse_date(text, date)
                    .ok_or_else(|| err(1205, format!("Invalid Date Format - length must be 10 or more, or the value '{text}' does not match the DATEFORMAT")))?;
                Value::Date(days_since_epoch(d))
            }
            Builder::Time(_, unit) => {
                let tz = matches!(&self.def.data_type, DataType::Timestamp(_, Some(_)));
                let t = parse_time(text, time, tz).ok_or_else(|| {
                    err(1206, format!("Invalid timestamp format or value '{text}'"))
                })?;
                let micros = t.timestamp_micros();
                Value::Int(match unit {
                    TimeUnit::Second => t.timestamp(),
                    TimeUnit::Millisecond => t.timestamp_millis(),
                    TimeUnit::Microsecond => micros,
                    TimeUnit::Nanosecond => t
                        .timestamp_nanos_opt()
                        .ok_or_else(|| err(1206, format!("Timestamp out of range '{text}'")))?,
                })
            }
            Builder::Other(_) => {
                let one = arrow::array::StringArray::from(vec![text]);
                let options = arrow::compute::CastOptions {
                    safe: false,
                    ..Default::default()
                };
                arrow::compute::cast_with_options(&one, &self.def.data_type, &options).map_err(
                    |e| {
                        err(
                            1200,
                            format!("Invalid value '{text}' for {}: {e}", self.def.data_type),
                        )
                    },
                )?;
                Value::Str(text.into())
            }
        })
    }

    fn push(&mut self, value: Value<'_>) {
        match (&mut self.builder, value) {
            (Builder::I16(b), Value::Int(v)) => b.append_value(v as i16),
            (Builder::I32(b), Value::Int(v)) => b.append_value(v as i32),
            (Builder::I64(b), Value::Int(v)) => b.append_value(v),
            (Builder::F32(b), Value::Float(v)) => b.append_value(v as f32),
            (Builder::F64(b), Value::Float(v)) => b.append_value(v),
            (Builder::Decimal(b, ..), Value::Decimal(v)) => b.append_value(v),
            (Builder::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Builder::Str(b), Value::Str(v)) | (Builder::Other(b), Value::Str(v)) => {
                b.append_value(&v)
            }
            (Builder::Date(b), Value::Date(v)) => b.append_value(v),
            (Builder::Time(b, _), Value::Int(v)) => b.append_value(v),
            (builder, _) => builder.append_null(),
        }
    }

    /// The column built so far; the builder starts again empty.
    pub fn finish(&mut self) -> Result<ArrayRef, arrow::error::ArrowError> {
        Ok(match &mut self.builder {
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Decimal(b, ..) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b, _) => arrow::compute::cast(&b.finish(), &self.def.data_type)?,
            Builder::Other(b) => arrow::compute::cast(&b.finish(), &self.def.data_type)?,
        })
    }
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::I16(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Decimal(b, ..) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Str(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b, _) => b.append_null(),
            Builder::Other(b) => b.append_null(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Builder::I16(b) => b.len(),
            Builder::I32(b) => b.len(),
            Builder::I64(b) => b.len(),
            Builder::F32(b) => b.len(),
            Builder::F64(b) => b.len(),
            Builder::Decimal(b, ..) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Str(b) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Time(b, _) => b.len(),
            Builder::Other(b) => b.len(),
        }
    }
}

/// A row's field that failed, by column.
#[derive(Debug)]
pub struct RowError {
    /// Index of the column in the table.
    pub column: usize,
    pub error: ConvertError,
}

/// Converts whole rows into the table's columns.
pub struct RowConverter {
    pub columns: Vec<TargetColumn>,
    options: LoadOptions,
    date: DateTimeFormat,
    time: DateTimeFormat,
    /// A row's values until all have converted; empty between rows (it only keeps
    /// its allocation).
    values: Vec<Value<'static>>,
}

impl RowConverter {
    pub fn try_new(columns: &[LoadColumn], options: &LoadOptions) -> Result<Self, String> {
        Ok(RowConverter {
            columns: columns.iter().cloned().map(TargetColumn::new).collect(),
            date: DateTimeFormat::parse(options.date_format.as_deref(), false)?,
            time: DateTimeFormat::parse(options.time_format.as_deref(), true)?,
            options: options.clone(),
            values: Vec::with_capacity(columns.len()),
        })
    }

    /// Converts one row: `field(i)` is input field `i` (`None`: missing, for
    /// FILLRECORD). Appends nothing unless every column converts.
    pub fn push_row<'a>(
        &mut self,
        mut field: impl FnMut(usize) -> Option<Input<'a>>,
    ) -> Result<(), RowError> {
        // The same allocation, for values that borrow this row's text.
        let mut values: Vec<Value<'a>> = std::mem::take(&mut self.values)
            .into_iter()
            .map(|_| Value::Null)
            .collect();
        values.clear();
        for (i, column) in self.columns.iter().enumerate() {
            let value = match column.def.input {
                Some(at) => match field(at) {
                    Some(input) => column.convert(&input, &self.options, &self.date, &self.time),
                    None => column.convert(
                        &Input {
                            text: None,
                            checks: false,
                            raw: "",
                        },
                        &self.options,
                        &self.date,
                        &self.time,
                    ),
                },
                None => {
                    // The column's default lives in the column, which is appended
                    // to below: the value gets its own copy.
                    let text = column.missing_text();
                    column
                        .convert(
                            &Input {
                                text,
                                checks: false,
                                raw: text.unwrap_or(""),
                            },
                            &self.options,
                            &self.date,
                            &self.time,
                        )
                        .map(Value::into_owned)
                }
            };
            match value {
                Ok(v) => values.push(v),
                Err(error) => return Err(RowError { column: i, error }),
            }
        }
        for (column, value) in self.columns.iter_mut().zip(values.drain(..)) {
            column.push(value);
        }
        self.values = values.into_iter().map(|_| Value::Null).collect();
        Ok(())
    }

    /// Rows converted since the last [`Self::finish`].
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.builder.len())
    }

    /// The converted rows as columns, in table order.
    pub fn finish(&mut self) -> Result<Vec<ArrayRef>, arrow::error::ArrowError> {
        self.columns.iter_mut().map(TargetColumn::finish).collect()
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a character
/// boundary (TRUNCATECOLUMNS).
pub(super) fn cut_to(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_formats_become_chrono_patterns() {
        assert_eq!(
            redshift_pattern("YYYY-MM-DD HH24:MI:SS").as_deref(),
            Ok("%Y-%m-%d %H:%M:%S")
        );
        assert_eq!(redshift_pattern("MM/DD/YYYY").as_deref(), Ok("%m/%d/%Y"));
        assert!(redshift_pattern("QQQ").is_err());
    }

    #[test]
    fn the_default_date_format_reads_as_chrono_does() {
        for text in [
            "2024-02-29",
            "2023-02-29",
            "1998-12-01",
            "0001-01-01",
            "9999-12-31",
            "2024-13-01",
            "2024-00-10",
            "2024-1-05",
            "2024-01-5",
            "2024/01/05",
            "20a4-01-05",
            "2024-01-05 ",
            "",
        ] {
            assert_eq!(
                parse_date(text, &DateTimeFormat::Default),
                NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
                "{text:?}"
            );
        }
        assert!(iso_date("2024-1-05").is_none(), "other forms go to chrono");
    }

    #[test]
    fn dates_and_times_parse_by_format() {
        let d = DateTimeFormat::Default;
        assert!(parse_date("2024-02-29", &d).is_some());
        assert!(parse_date("02/29/2024", &d).is_none());
        assert!(parse_date("02/29/2024", &DateTimeFormat::Auto).is_some());
        let t = parse_time("2024-02-29 10:11:12.5", &d, false).expect("fraction");
        assert_eq!(t.timestamp_micros() % 1_000_000, 500_000);
        let e = parse_time("1700000000", &DateTimeFormat::EpochSecs, false).expect("epoch");
        assert_eq!(e.timestamp(), 1_700_000_000);
        let p = DateTimeFormat::parse(Some("DD.MM.YYYY HH:MI"), true).expect("pattern");
        assert!(parse_time("01.02.2024 10:30", &p, false).is_some());
    }
}
