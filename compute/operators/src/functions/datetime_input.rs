//! Date and time text in the forms PostgreSQL and Redshift read (DateStyle `ISO,
//! MDY`): `2008-06-05`, `6/5/2008`, `6/5/08`, `20080605`, `Jun 5, 2008`, `June 5
//! 2008`, `5 Jun 2008`, `2008-Jun-05`, with a time `14:05`, `14:05:09.5`, `2:05
//! PM`, and `T` between date and time. Text with a zone (`+02`, `Z`) is left to
//! Arrow's parser, which applies it.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

#[derive(Debug, PartialEq)]
enum Token {
    Number(String),
    Word(String),
    Time {
        hour: u32,
        minute: u32,
        second: u32,
        micro: u32,
    },
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let word = if word == "sept" { "sep" } else { word };
    MONTHS
        .iter()
        .position(|m| m.starts_with(word))
        .map(|i| i as u32 + 1)
}

/// `hh:mm[:ss[.ffffff]]` at the start of `s`, and the bytes it took.
fn time_at(s: &str) -> Option<(Token, usize)> {
    let bytes = s.as_bytes();
    let mut parts = [0u32; 3];
    let mut at = 0;
    let mut part = 0;
    loop {
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() && at - start < 2 {
            at += 1;
        }
        if at == start {
            return None;
        }
        parts[part] = s[start..at].parse().ok()?;
        part += 1;
        if part < 3 && at < bytes.len() && bytes[at] == b':' {
            at += 1;
            continue;
        }
        break;
    }
    if part < 2 {
        return None;
    }
    let mut micro = 0;
    if part == 3 && at < bytes.len() && bytes[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let digits = &s[start..at];
        let six: String = digits
            .chars()
            .chain(std::iter::repeat('0'))
            .take(6)
            .collect();
        micro = six.parse().ok()?;
    }
    Some((
        Token::Time {
            hour: parts[0],
            minute: parts[1],
            second: parts[2],
            micro,
        },
        at,
    ))
}

/// The text's tokens; None for a form this parser leaves to Arrow's (a zone).
fn tokens(text: &str) -> Option<Vec<Token>> {
    let s = text.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let mut i = 0;
    let bytes = s.as_bytes();
    let mut seen_time = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            if let Some((time, n)) = time_at(&s[i..]) {
                out.push(time);
                seen_time = true;
                i += n;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Number(s[start..i].to_string()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'.') {
                i += 1;
            }
            let word = s[start..i].trim_end_matches('.').replace('.', "");
            if word == "t" {
                continue;
            }
            if word == "z" || word == "utc" || word == "gmt" {
                return None;
            }
            out.push(Token::Word(word));
        } else if (c == b'+' || c == b'-') && seen_time {
            // A zone offset after the time.
            return None;
        } else if matches!(c, b'-' | b'/' | b',' | b' ' | b'.' | b'\t') {
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

fn year_of(digits: &str) -> Option<i32> {
    let y: i32 = digits.parse().ok()?;
    Some(match digits.len() {
        1 | 2 if y < 70 => 2000 + y,
        1 | 2 => 1900 + y,
        _ => y,
    })
}

/// The date and the time (midnight when none) `text` names.
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let tokens = tokens(text)?;
    let mut numbers = Vec::new();
    let mut month_word = None;
    let mut time = None;
    let mut pm = None;
    for token in tokens {
        match token {
            Token::Number(n) => numbers.push(n),
            Token::Word(w) if w == "am" || w == "pm" => pm = Some(w == "pm"),
            Token::Word(w) => {
                let m = month_of(&w);
                if m.is_some() && month_word.is_none() {
                    month_word = m;
                } else if is_weekday(&w) {
                    continue;
                } else {
                    return None;
                }
            }
            Token::Time {
                hour,
                minute,
                second,
                micro,
            } => time = Some((hour, minute, second, micro)),
        }
    }
    // 20080215 040506: the time as HHMMSS digits after the date's.
    if time.is_none()
        && let [d, t] = numbers.as_slice()
        && d.len() == 8
        && t.len() == 6
    {
        time = Some(hhmmss(t)?);
        numbers.truncate(1);
    }
    let date = date_of(&numbers, month_word)?;
    Some(date.and_time(clock(time.unwrap_or((0, 0, 0, 0)), pm)?))
}

fn is_weekday(word: &str) -> bool {
    [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    .iter()
    .any(|d| word.len() >= 3 && d.starts_with(word))
}

fn date_of(numbers: &[String], month_word: Option<u32>) -> Option<NaiveDate> {
    match (numbers, month_word) {
        // 20080605
        ([n], None) if n.len() == 8 => NaiveDate::from_ymd_opt(
            n[..4].parse().ok()?,
            n[4..6].parse().ok()?,
            n[6..].parse().ok()?,
        ),
        // 080605 (YYMMDD)
        ([n], None) if n.len() == 6 => NaiveDate::from_ymd_opt(
            year_of(&n[..2])?,
            n[2..4].parse().ok()?,
            n[4..].parse().ok()?,
        ),
        // 2008.157 (the year and the day of the year)
        ([y, doy], None) if y.len() == 4 && doy.len() == 3 => {
            NaiveDate::from_yo_opt(y.parse().ok()?, doy.parse().ok()?)
        }
        // Jun 5, 2008 / 5 Jun 2008 / 2008-Jun-05
        ([a, b], Some(month)) => {
            let (day, year) = if a.len() >= 3 { (b, a) } else { (a, b) };
            NaiveDate::from_ymd_opt(year_of(year)?, month, day.parse().ok()?)
        }
        // 2008-06-05
        ([y, m, d], None) if y.len() >= 3 => {
            NaiveDate::from_ymd_opt(year_of(y)?, m.parse().ok()?, d.parse().ok()?)
        }
        // 6/5/2008 (MDY)
        ([m, d, y], None) => NaiveDate::from_ymd_opt(year_of(y)?, m.parse().ok()?, d.parse().ok()?),
        _ => None,
    }
}

/// The date `text` names (a time in it must be midnight-free text: it is ignored,
/// as PostgreSQL ignores it for a DATE).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    parse_timestamp(text).map(|t| t.date())
}

/// The time of day `text` names (`04:05 PM`, `14:05:09.5`).
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    let tokens = tokens(text)?;
    let mut time = None;
    let mut pm = None;
    for token in tokens {
        match token {
            Token::Time {
                hour,
                minute,
                second,
                micro,
            } => time = Some((hour, minute, second, micro)),
            Token::Word(w) if w == "am" || w == "pm" => pm = Some(w == "pm"),
            // 040506 (HHMMSS) and 0405 (HHMM)
            Token::Number(n) if (n.len() == 6 || n.len() == 4) && time.is_none() => {
                time = Some(hhmmss(&format!("{n:0<6}"))?)
            }
            _ => return None,
        }
    }
    clock(time?, pm)
}

/// The fields of a time written as HHMMSS digits.
fn hhmmss(digits: &str) -> Option<(u32, u32, u32, u32)> {
    Some((
        digits.get(..2)?.parse().ok()?,
        digits.get(2..4)?.parse().ok()?,
        digits.get(4..6)?.parse().ok()?,
        0,
    ))
}

/// A time of day from its fields, on the 12-hour clock when `pm` says AM or PM.
fn clock(
    (hour, minute, second, micro): (u32, u32, u32, u32),
    pm: Option<bool>,
) -> Option<NaiveTime> {
    let hour = match pm {
        Some(_) if hour == 0 || hour > 12 => return None,
        Some(pm) => hour % 12 + if pm { 12 } else { 0 },
        None => hour,
    };
    NaiveTime::from_hms_micro_opt(hour, minute, second, micro)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").expect(s)
    }

    #[test]
    fn reads_redshift_forms() {
        let day = ts("2003-08-02 00:00:00");
        for text in [
            "2003-08-02",
            "8/2/2003",
            "08/02/03",
            "20030802",
            "Aug 2, 2003",
            "Aug 2,2003",
            "August 2 2003",
            "2 Aug 2003",
            "2003-Aug-02",
            "Sat Aug 2 2003",
        ] {
            assert_eq!(parse_timestamp(text), Some(day), "{text}");
        }
        assert_eq!(
            parse_timestamp("2020-01-01 10:00"),
            Some(ts("2020-01-01 10:00:00"))
        );
        assert_eq!(
            parse_timestamp("Jun 1,2008  09:59:59.5 PM"),
            Some(ts("2008-06-01 21:59:59.5"))
        );
        assert_eq!(
            parse_timestamp("2008-06-05T14:05:09"),
            Some(ts("2008-06-05 14:05:09"))
        );
        assert_eq!(parse_timestamp("2008-06-05 14:05:09+02"), None);
        assert_eq!(parse_timestamp("2008-02-30"), None);
        assert_eq!(parse_timestamp("hello"), None);
        assert_eq!(parse_time("04:05 PM"), NaiveTime::from_hms_opt(16, 5, 0));
        assert_eq!(parse_time("12:00 AM"), NaiveTime::from_hms_opt(0, 0, 0));
        // The reference's digits-only forms.
        assert_eq!(parse_timestamp("080215"), Some(ts("2008-02-15 00:00:00")));
        assert_eq!(parse_timestamp("2008.366"), Some(ts("2008-12-31 00:00:00")));
        assert_eq!(
            parse_timestamp("20080215 040506"),
            Some(ts("2008-02-15 04:05:06"))
        );
        assert_eq!(parse_time("040506"), NaiveTime::from_hms_opt(4, 5, 6));
        assert_eq!(parse_time("046006"), None);
        assert_eq!(parse_time("1205"), NaiveTime::from_hms_opt(12, 5, 0));
    }
}
