//! Datetime format templates: `YYYY`, `YYY`, `YY`, `Y`, `Y,YYY`, `IYYY`, `MM`,
//! `MONTH` / `Month` / `month`, `MON` / `Mon` / `mon`, `DD`, `DDD`, `D`, `ID`,
//! `DAY` / `Day` / `day`, `DY` / `Dy` / `dy`, `W`, `WW`, `IW`, `Q`, `CC`, `J`,
//! `HH`, `HH12`, `HH24`, `MI`, `SS`, `MS`, `US`, `SSSS`, `AM` / `PM` (and `A.M.`,
//! lower case), `RM`, `TZ`, `OF`; `FM` before a pattern drops its padding, `TH` /
//! `th` after a number adds its ordinal suffix; `"text"` and `\x` are literal.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Case {
    Upper,
    Capital,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Field {
    Hour24,
    Hour12,
    Minute,
    Second,
    Milli,
    Micro,
    SecondsOfDay,
    Meridian(Case, bool),
    YearComma,
    Year(usize),
    IsoYear(usize),
    MonthName(Case),
    MonthAbbr(Case),
    Month,
    DayName(Case),
    DayAbbr(Case),
    DayOfYear,
    Day,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    Julian,
    Quarter,
    Roman(Case),
    Zone(Case),
    Offset,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Field {
        field: Field,
        fill: bool,
        ordinal: Option<Case>,
    },
    Literal(String),
}

/// Patterns, longest first where one is a prefix of another; matched without case
/// (the case of a name's pattern picks the case of the name).
const PATTERNS: &[&str] = &[
    "HH24", "HH12", "HH", "MI", "SSSS", "SS", "MS", "US", "A.M.", "P.M.", "AM", "PM", "Y,YYY",
    "YYYY", "YYY", "YY", "IYYY", "IYY", "IY", "MONTH", "MON", "MM", "DAY", "DY", "DDD", "DD", "D",
    "IDDD", "ID", "I", "Y", "WW", "W", "IW", "CC", "J", "Q", "RM", "TZ", "OF",
];

fn case_of(text: &str) -> Case {
    let mut letters = text.chars().filter(|c| c.is_ascii_alphabetic());
    match (letters.next(), letters.next()) {
        (Some(a), Some(b)) if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Case::Upper,
        (Some(a), _) if a.is_ascii_uppercase() => Case::Capital,
        _ => Case::Lower,
    }
}

fn field(pattern: &str, text: &str) -> Field {
    let case = case_of(text);
    match pattern {
        "HH24" => Field::Hour24,
        "HH12" | "HH" => Field::Hour12,
        "MI" => Field::Minute,
        "SS" => Field::Second,
        "SSSS" => Field::SecondsOfDay,
        "MS" => Field::Milli,
        "US" => Field::Micro,
        "A.M." | "P.M." => Field::Meridian(case, true),
        "AM" | "PM" => Field::Meridian(case, false),
        "Y,YYY" => Field::YearComma,
        "YYYY" => Field::Year(4),
        "YYY" => Field::Year(3),
        "YY" => Field::Year(2),
        "Y" => Field::Year(1),
        "IYYY" => Field::IsoYear(4),
        "IYY" => Field::IsoYear(3),
        "IY" => Field::IsoYear(2),
        "I" => Field::IsoYear(1),
        "MONTH" => Field::MonthName(case),
        "MON" => Field::MonthAbbr(case),
        "MM" => Field::Month,
        "DAY" => Field::DayName(case),
        "DY" => Field::DayAbbr(case),
        "DDD" | "IDDD" => Field::DayOfYear,
        "DD" => Field::Day,
        "D" => Field::DayOfWeek,
        "ID" => Field::IsoDayOfWeek,
        "W" => Field::WeekOfMonth,
        "WW" => Field::WeekOfYear,
        "IW" => Field::IsoWeek,
        "CC" => Field::Century,
        "J" => Field::Julian,
        "Q" => Field::Quarter,
        "RM" => Field::Roman(case),
        "TZ" => Field::Zone(case),
        _ => Field::Offset,
    }
}

/// A template's tokens.
pub(super) fn parse(template: &str) -> Vec<Token> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    let starts = |at: usize, p: &str| {
        let n = p.chars().count();
        at + n <= chars.len()
            && chars[at..at + n]
                .iter()
                .zip(p.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                literal.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '\\' && i + 1 < chars.len() {
            literal.push(chars[i + 1]);
            i += 2;
            continue;
        }
        let fill = starts(i, "FM");
        let at = if fill { i + 2 } else { i };
        // The longest pattern that matches (`IW` before `I`, `DDD` before `DD`).
        let Some(pattern) = PATTERNS
            .iter()
            .filter(|p| starts(at, p))
            .max_by_key(|p| p.len())
        else {
            literal.push(c);
            i += 1;
            continue;
        };
        if !literal.is_empty() {
            out.push(Token::Literal(std::mem::take(&mut literal)));
        }
        let n = pattern.chars().count();
        let text: String = chars[at..at + n].iter().collect();
        i = at + n;
        let ordinal = if starts(i, "TH") {
            let case = if chars[i] == 'T' {
                Case::Upper
            } else {
                Case::Lower
            };
            i += 2;
            Some(case)
        } else {
            None
        };
        out.push(Token::Field {
            field: field(pattern, &text),
            fill,
            ordinal,
        });
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

fn cased(name: &str, case: Case) -> String {
    match case {
        Case::Upper => name.to_uppercase(),
        Case::Lower => name.to_lowercase(),
        Case::Capital => name.to_string(),
    }
}

fn ordinal_suffix(n: i64, case: Case) -> String {
    let suffix = match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    };
    cased(
        suffix,
        if case == Case::Lower {
            Case::Lower
        } else {
            Case::Upper
        },
    )
}

/// `t` in `tokens`' form; `zoned` for a TIMESTAMPTZ (printed in UTC).
pub(super) fn format(tokens: &[Token], t: &NaiveDateTime, zoned: bool) -> String {
    let mut out = String::new();
    for token in tokens {
        let (field, fill, ordinal) = match token {
            Token::Literal(s) => {
                out.push_str(s);
                continue;
            }
            Token::Field {
                field,
                fill,
                ordinal,
            } => (*field, *fill, *ordinal),
        };
        let number = |n: i64, width: usize| {
            if fill {
                n.to_string()
            } else {
                format!("{n:0width$}")
            }
        };
        let name = |n: &str, case: Case, width: usize| {
            let n = cased(n, case);
            if fill { n } else { format!("{n:width$}") }
        };
        let hour12 = (t.hour() + 11) % 12 + 1;
        let (value, text) = match field {
            Field::Hour24 => (Some(t.hour() as i64), number(t.hour() as i64, 2)),
            Field::Hour12 => (Some(hour12 as i64), number(hour12 as i64, 2)),
            Field::Minute => (Some(t.minute() as i64), number(t.minute() as i64, 2)),
            Field::Second => (Some(t.second() as i64), number(t.second() as i64, 2)),
            Field::Milli => {
                let ms = (t.nanosecond() / 1_000_000) as i64;
                (Some(ms), number(ms, 3))
            }
            Field::Micro => {
                let us = (t.nanosecond() / 1_000) as i64;
                (Some(us), number(us, 6))
            }
            Field::SecondsOfDay => {
                let s = t.num_seconds_from_midnight() as i64;
                (Some(s), s.to_string())
            }
            Field::Meridian(case, dots) => {
                let m = if t.hour() < 12 { "am" } else { "pm" };
                let m = if dots {
                    format!("{}.{}.", &m[..1], &m[1..])
                } else {
                    m.to_string()
                };
                let case = if case == Case::Lower {
                    Case::Lower
                } else {
                    Case::Upper
                };
                (None, cased(&m, case))
            }
            Field::YearComma => {
                let y = t.year();
                (
                    Some(y as i64),
                    format!("{},{:03}", y / 1000, (y % 1000).abs()),
                )
            }
            Field::Year(digits) | Field::IsoYear(digits) => {
                let y = if matches!(field, Field::IsoYear(_)) {
                    t.iso_week().year()
                } else {
                    t.year()
                } as i64;
                let y = if digits == 4 {
                    y
                } else {
                    y % 10i64.pow(digits as u32)
                };
                (Some(y), number(y, digits))
            }
            Field::MonthName(case) => (None, name(MONTHS[t.month0() as usize], case, 9)),
            Field::MonthAbbr(case) => (None, cased(&MONTHS[t.month0() as usize][..3], case)),
            Field::Month => (Some(t.month() as i64), number(t.month() as i64, 2)),
            Field::DayName(case) => (
                None,
                name(DAYS[t.weekday().num_days_from_sunday() as usize], case, 9),
            ),
            Field::DayAbbr(case) => (
                None,
                cased(
                    &DAYS[t.weekday().num_days_from_sunday() as usize][..3],
                    case,
                ),
            ),
            Field::DayOfYear => (Some(t.ordinal() as i64), number(t.ordinal() as i64, 3)),
            Field::Day => (Some(t.day() as i64), number(t.day() as i64, 2)),
            Field::DayOfWeek => {
                let d = t.weekday().number_from_sunday() as i64;
                (Some(d), d.to_string())
            }
            Field::IsoDayOfWeek => {
                let d = t.weekday().number_from_monday() as i64;
                (Some(d), d.to_string())
            }
            Field::WeekOfMonth => {
                let w = (t.day() as i64 - 1) / 7 + 1;
                (Some(w), w.to_string())
            }
            Field::WeekOfYear => {
                let w = (t.ordinal() as i64 - 1) / 7 + 1;
                (Some(w), number(w, 2))
            }
            Field::IsoWeek => {
                let w = t.iso_week().week() as i64;
                (Some(w), number(w, 2))
            }
            Field::Century => {
                let y = t.year() as i64;
                let c = if y > 0 {
                    (y - 1) / 100 + 1
                } else {
                    y / 100 - 1
                };
                (Some(c), number(c, 2))
            }
            Field::Julian => {
                // Julian day 2440588 is 1970-01-01.
                let j = (t.date() - NaiveDate::default()).num_days() + 2_440_588;
                (Some(j), j.to_string())
            }
            Field::Quarter => {
                let q = t.month0() as i64 / 3 + 1;
                (Some(q), q.to_string())
            }
            Field::Roman(case) => (None, name(ROMAN[t.month0() as usize], case, 4)),
            Field::Zone(case) => (
                None,
                if zoned {
                    cased("utc", case)
                } else {
                    String::new()
                },
            ),
            Field::Offset => (None, if zoned { "+00".into() } else { String::new() }),
        };
        out.push_str(&text);
        if let (Some(case), Some(v)) = (ordinal, value) {
            out.push_str(&ordinal_suffix(v, case));
        }
    }
    out
}

/// Reads `input` as `tokens` describe it (TO_DATE, TO_TIMESTAMP). Separators need
/// not match: each literal character of the template skips one character of the
/// input, and spaces before a field are skipped. Unless `strict`, a day past its
/// month's end carries into the next month (TO_DATE's `is_strict` FALSE: June 31
/// is July 1).
pub(super) fn read(tokens: &[Token], input: &str, strict: bool) -> Result<NaiveDateTime, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let (mut year, mut month, mut day) = (None::<i64>, 1u32, 1u32);
    let (mut hour, mut minute, mut second, mut micro) = (0u32, 0u32, 0u32, 0u32);
    let mut pm = None::<bool>;
    let mut day_of_year = None::<u32>;
    let mut julian = None::<i64>;
    for (n, token) in tokens.iter().enumerate() {
        let (field, fill) = match token {
            Token::Literal(s) => {
                for c in s.chars() {
                    if i < chars.len() && (chars[i] == c || !chars[i].is_alphanumeric()) {
                        i += 1;
                    }
                }
                continue;
            }
            Token::Field { field, fill, .. } => (*field, *fill),
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        // Digits: at most the field's width, unless the next token is a literal or
        // none follows (then as many as there are).
        let followed_by_field = matches!(tokens.get(n + 1), Some(Token::Field { .. }));
        let width = |w: usize| {
            if followed_by_field && !fill {
                w
            } else {
                usize::MAX
            }
        };
        match field {
            Field::Hour24 => hour = take_digits(&chars, &mut i, width(2), "HH24")? as u32,
            Field::Hour12 => hour = take_digits(&chars, &mut i, width(2), "HH12")? as u32,
            Field::Minute => minute = take_digits(&chars, &mut i, width(2), "MI")? as u32,
            Field::Second => second = take_digits(&chars, &mut i, width(2), "SS")? as u32,
            Field::Milli => micro = take_digits(&chars, &mut i, width(3), "MS")? as u32 * 1_000,
            Field::Micro => micro = take_digits(&chars, &mut i, width(6), "US")? as u32,
            Field::SecondsOfDay => {
                let s = take_digits(&chars, &mut i, width(5), "SSSS")?;
                hour = (s / 3600) as u32;
                minute = (s / 60 % 60) as u32;
                second = (s % 60) as u32;
            }
            Field::Meridian(_, dots) => {
                let names: &[&str] = if dots {
                    &["a.m.", "p.m."]
                } else {
                    &["am", "pm"]
                };
                pm = Some(take_word(&chars, &mut i, names, None, "AM")? == 1);
            }
            Field::YearComma => {
                let thousands = take_digits(&chars, &mut i, width(3), "Y,YYY")?;
                if i < chars.len() && chars[i] == ',' {
                    i += 1;
                }
                year = Some(thousands * 1000 + take_digits(&chars, &mut i, width(3), "Y,YYY")?);
            }
            Field::Year(places) | Field::IsoYear(places) => {
                let y = take_digits(&chars, &mut i, width(places), "YYYY")?;
                year = Some(match places {
                    // PostgreSQL's nearest-to-2020 rule for short years.
                    2 if y < 70 => 2000 + y,
                    2 => 1900 + y,
                    3 => 2000 + y,
                    1 => 2000 + y,
                    _ => y,
                });
            }
            Field::MonthName(_) => {
                month = take_word(&chars, &mut i, &MONTHS, None, "MONTH")? as u32 + 1
            }
            Field::MonthAbbr(_) => {
                month = take_word(&chars, &mut i, &MONTHS, Some(3), "MON")? as u32 + 1
            }
            Field::Month => month = take_digits(&chars, &mut i, width(2), "MM")? as u32,
            Field::Roman(_) => {
                let mut order: Vec<(usize, &str)> = ROMAN.iter().copied().enumerate().collect();
                order.sort_by_key(|(_, r)| std::cmp::Reverse(r.len()));
                let names: Vec<&str> = order.iter().map(|(_, r)| *r).collect();
                month = order[take_word(&chars, &mut i, &names, None, "RM")?].0 as u32 + 1;
            }
            Field::Day => day = take_digits(&chars, &mut i, width(2), "DD")? as u32,
            Field::DayOfYear => {
                day_of_year = Some(take_digits(&chars, &mut i, width(3), "DDD")? as u32)
            }
            Field::Julian => julian = Some(take_digits(&chars, &mut i, width(7), "J")?),
            Field::DayName(_) => {
                take_word(&chars, &mut i, &DAYS, None, "DAY")?;
            }
            Field::DayAbbr(_) => {
                take_word(&chars, &mut i, &DAYS, Some(3), "DY")?;
            }
            Field::DayOfWeek
            | Field::IsoDayOfWeek
            | Field::WeekOfMonth
            | Field::WeekOfYear
            | Field::IsoWeek
            | Field::Century
            | Field::Quarter => {
                take_digits(&chars, &mut i, width(2), "a date field")?;
            }
            Field::Zone(_) | Field::Offset => {
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
            }
        }
    }
    if let Some(pm) = pm {
        if hour > 12 || hour == 0 {
            return Err(format!("hour \"{hour}\" is invalid for the 12-hour clock"));
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
    }
    let date = if let Some(j) = julian {
        NaiveDate::default().checked_add_signed(chrono::TimeDelta::days(j - 2_440_588))
    } else if let Some(doy) = day_of_year {
        NaiveDate::from_yo_opt(year.unwrap_or(1970) as i32, doy)
    } else {
        let y = year.unwrap_or(1) as i32;
        match NaiveDate::from_ymd_opt(y, month, day) {
            None if !strict && (29..=31).contains(&day) => NaiveDate::from_ymd_opt(y, month, 1)
                .and_then(|first| {
                    first.checked_add_signed(chrono::TimeDelta::days(day as i64 - 1))
                }),
            other => other,
        }
    }
    .ok_or_else(|| {
        format!(
            "date out of range: year {}, month {month}, day {day}",
            year.unwrap_or(1)
        )
    })?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micro)
        .ok_or_else(|| format!("time out of range: {hour}:{minute}:{second}"))?;
    Ok(date.and_time(time))
}

/// Up to `limit` digits (with a sign) from `chars[*i..]`.
fn take_digits(chars: &[char], i: &mut usize, limit: usize, what: &str) -> Result<i64, String> {
    let start = *i;
    if *i < chars.len() && (chars[*i] == '-' || chars[*i] == '+') {
        *i += 1;
    }
    while *i < chars.len() && chars[*i].is_ascii_digit() && *i - start < limit {
        *i += 1;
    }
    let text: String = chars[start..*i].iter().collect();
    text.parse::<i64>()
        .map_err(|_| format!("invalid value \"{}\" for \"{what}\"", rest(chars, start)))
}

/// Which of `names` (or their first `len` letters) `chars[*i..]` starts with.
fn take_word(
    chars: &[char],
    i: &mut usize,
    names: &[&str],
    len: Option<usize>,
    what: &str,
) -> Result<usize, String> {
    let rest_text: String = chars[*i..].iter().collect::<String>().to_lowercase();
    for (k, name) in names.iter().enumerate() {
        let name = name.to_lowercase();
        let candidate = match len {
            Some(l) => name[..l].to_string(),
            None => name,
        };
        if rest_text.starts_with(&candidate) {
            *i += candidate.chars().count();
            return Ok(k);
        }
    }
    Err(format!(
        "invalid value \"{}\" for \"{what}\"",
        rest(chars, *i)
    ))
}

fn rest(chars: &[char], from: usize) -> String {
    chars[from.min(chars.len())..].iter().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").expect(s)
    }

    fn fmt(template: &str, at: &str) -> String {
        format(&parse(template), &t(at), false)
    }

    #[test]
    fn formats_as_postgresql() {
        let at = "2008-06-05 14:05:09.123456";
        assert_eq!(fmt("YYYY-MM-DD HH24:MI:SS", at), "2008-06-05 14:05:09");
        assert_eq!(fmt("yyyy-mm-dd", at), "2008-06-05");
        assert_eq!(fmt("Month DD, YYYY", at), "June      05, 2008");
        assert_eq!(fmt("FMMonth FMDDth, YYYY", at), "June 5th, 2008");
        assert_eq!(fmt("DAY Dy dy", at), "THURSDAY  Thu thu");
        assert_eq!(fmt("HH12:MI AM", at), "02:05 PM");
        assert_eq!(fmt("MS US", at), "123 123456");
        assert_eq!(fmt("Q WW IW D J", at), "2 23 23 5 2454623");
        assert_eq!(fmt("\"Year\" YYYY", at), "Year 2008");
        assert_eq!(fmt("MON-YY", at), "JUN-08");
        assert_eq!(fmt("RM", at), "VI  ");
    }

    #[test]
    fn reads_as_postgresql() {
        let read = |s: &str, template: &str| read(&parse(template), s, true).expect(s);
        assert_eq!(read("05 Dec 2000", "DD Mon YYYY"), t("2000-12-05 00:00:00"));
        assert_eq!(read("2000/12/05", "YYYY-MM-DD"), t("2000-12-05 00:00:00"));
        assert_eq!(read("20001205", "YYYYMMDD"), t("2000-12-05 00:00:00"));
        assert_eq!(
            read("04/08/2013 12:05:09 PM", "MM/DD/YYYY HH12:MI:SS PM"),
            t("2013-04-08 12:05:09")
        );
        let bad =
            |s: &str, template: &str| super::read(&parse(template), s, true).expect_err("fails");
        assert!(bad("2000-13-01", "YYYY-MM-DD").contains("out of range"));
        assert!(bad("20010631", "YYYYMMDD").contains("out of range"));
        assert_eq!(
            super::read(&parse("YYYYMMDD"), "20010631", false).expect("lenient"),
            t("2001-07-01 00:00:00")
        );
        assert!(bad("x", "YYYY").contains("\"YYYY\""));
    }
}
