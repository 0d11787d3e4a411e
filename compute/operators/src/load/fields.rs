//! Splits a record into fields: delimited text (ESCAPE, REMOVEQUOTES) and CSV.

use std::borrow::Cow;

/// One field of a record.
#[derive(Debug, PartialEq)]
pub struct Field<'a> {
    /// The value, with escapes and quotes resolved.
    pub text: Cow<'a, str>,
    /// The field as it stood in the record.
    pub raw: &'a str,
    /// Whether the field was quoted (CSV, REMOVEQUOTES).
    pub quoted: bool,
    /// Where the field starts in the record, in bytes.
    pub offset: usize,
}

/// How fields are delimited.
#[derive(Clone, Copy, Debug)]
pub enum Splitter {
    Text {
        delimiter: char,
        escape: bool,
        remove_quotes: bool,
        /// PostgreSQL's escapes: `\n` is a newline, `\t` a tab, ...
        control_escapes: bool,
    },
    Csv {
        delimiter: char,
        quote: char,
    },
}

/// A record that cannot be split.
#[derive(Debug, PartialEq)]
pub struct SplitError {
    pub offset: usize,
    pub reason: &'static str,
}

impl Splitter {
    /// Splits `record` into `out` (cleared first).
    pub fn split<'a>(&self, record: &'a str, out: &mut Vec<Field<'a>>) -> Result<(), SplitError> {
        out.clear();
        match *self {
            Splitter::Text {
                delimiter,
                escape,
                remove_quotes,
                control_escapes,
            } => split_text(
                record,
                delimiter,
                escape,
                remove_quotes,
                control_escapes,
                out,
            ),
            Splitter::Csv { delimiter, quote } => split_csv(record, delimiter, quote, out),
        }
    }
}

/// The character `\c` stands for: itself (Redshift), or a control character
/// (PostgreSQL's text format).
fn unescape(c: char, control: bool) -> char {
    if !control {
        return c;
    }
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'v' => '\u{b}',
        other => other,
    }
}

fn split_text<'a>(
    record: &'a str,
    delimiter: char,
    escape: bool,
    remove_quotes: bool,
    control: bool,
    out: &mut Vec<Field<'a>>,
) -> Result<(), SplitError> {
    let simple = !escape && !remove_quotes;
    if simple {
        let mut offset = 0;
        loop {
            let end = find(&record[offset..], delimiter).map(|i| offset + i);
            let part = &record[offset..end.unwrap_or(record.len())];
            out.push(Field {
                text: Cow::Borrowed(part),
                raw: part,
                quoted: false,
                offset,
            });
            match end {
                Some(e) => offset = e + delimiter.len_utf8(),
                None => return Ok(()),
            }
        }
    }
    let mut start = 0;
    let mut chars = record.char_indices().peekable();
    loop {
        let mut value = String::new();
        let mut owned = false;
        let mut quoted = false;
        let mut end = record.len();
        if remove_quotes && record[start..].starts_with('"') {
            quoted = true;
            owned = true;
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                if escape && c == '\\' {
                    if let Some((_, n)) = chars.next() {
                        value.push(unescape(n, control));
                    }
                } else if c == '"' {
                    closed = true;
                    // Up to the delimiter (or the end); anything between is kept.
                    for (j, c) in chars.by_ref() {
                        if c == delimiter {
                            end = j;
                            break;
                        }
                        value.push(c);
                    }
                    break;
                } else {
                    value.push(c);
                }
            }
            if !closed {
                return Err(SplitError {
                    offset: start,
                    reason: "unterminated quoted field",
                });
            }
        } else {
            let mut ended = false;
            while let Some((i, c)) = chars.next() {
                if escape && c == '\\' {
                    owned = true;
                    match chars.next() {
                        Some((_, n)) => value.push(unescape(n, control)),
                        None => value.push('\\'),
                    }
                } else if c == delimiter {
                    end = i;
                    ended = true;
                    break;
                } else {
                    value.push(c);
                }
            }
            if !ended {
                end = record.len();
            }
        }
        let raw = &record[start..end];
        out.push(Field {
            text: if owned {
                Cow::Owned(value)
            } else {
                Cow::Borrowed(raw)
            },
            raw,
            quoted,
            offset: start,
        });
        if end >= record.len() {
            return Ok(());
        }
        start = end + delimiter.len_utf8();
    }
}

/// Whether `s` starts with `c`; a byte compare for ASCII (the usual delimiters and
/// quotes), where `str::starts_with(char)` encodes the char and calls memcmp.
fn starts_with(s: &str, c: char) -> bool {
    if c.is_ascii() {
        s.as_bytes().first() == Some(&(c as u8))
    } else {
        s.starts_with(c)
    }
}

/// Where `c` first occurs in `s`; byte by byte for ASCII (see [`starts_with`]).
fn find(s: &str, c: char) -> Option<usize> {
    if c.is_ascii() {
        let b = c as u8;
        s.bytes().position(|x| x == b)
    } else {
        s.find(c)
    }
}

fn split_csv<'a>(
    record: &'a str,
    delimiter: char,
    quote: char,
    out: &mut Vec<Field<'a>>,
) -> Result<(), SplitError> {
    let q = quote.len_utf8();
    let mut start = 0;
    loop {
        let rest = &record[start..];
        if starts_with(rest, quote) {
            // The value is borrowed unless it has doubled quotes to undo.
            let body = start + q;
            let mut value: Option<String> = None;
            let mut from = body;
            let close = loop {
                let Some(at) = find(&record[from..], quote).map(|i| from + i) else {
                    return Err(SplitError {
                        offset: start,
                        reason: "unterminated quoted field",
                    });
                };
                if starts_with(&record[at + q..], quote) {
                    let owned = value.get_or_insert_with(String::new);
                    owned.push_str(&record[from..at + q]);
                    from = at + 2 * q;
                } else {
                    if let Some(owned) = value.as_mut() {
                        owned.push_str(&record[from..at]);
                    }
                    break at;
                };
            };
            let text = match value {
                Some(owned) => Cow::Owned(owned),
                None => Cow::Borrowed(&record[body..close]),
            };
            let close = close + q;
            // After the closing quote: the delimiter or the end of the record.
            let after_quote = &record[close..];
            let next = if after_quote.is_empty() {
                None
            } else if starts_with(after_quote, delimiter) {
                Some(close + delimiter.len_utf8())
            } else {
                return Err(SplitError {
                    offset: close,
                    reason: "a quoted field must end at a delimiter",
                });
            };
            out.push(Field {
                text,
                raw: &record[start..close],
                quoted: true,
                offset: start,
            });
            match next {
                Some(n) => start = n,
                None => return Ok(()),
            }
        } else {
            let end = find(rest, delimiter).map(|i| start + i);
            let stop = end.unwrap_or(record.len());
            let raw = &record[start..stop];
            out.push(Field {
                text: Cow::Borrowed(raw),
                raw,
                quoted: false,
                offset: start,
            });
            match end {
                Some(e) => start = e + delimiter.len_utf8(),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: Splitter, record: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        s.split(record, &mut out).expect("split");
        out.iter().map(|f| (f.text.to_string(), f.quoted)).collect()
    }

    #[test]
    fn text_escapes_and_quotes() {
        let plain = Splitter::Text {
            delimiter: '|',
            escape: false,
            remove_quotes: false,
            control_escapes: false,
        };
        assert_eq!(
            texts(plain, "a|\\|"),
            vec![
                ("a".into(), false),
                ("\\".into(), false),
                ("".into(), false)
            ]
        );
        let escaped = Splitter::Text {
            delimiter: '|',
            escape: true,
            remove_quotes: true,
            control_escapes: false,
        };
        assert_eq!(
            texts(escaped, "a\\|b|\"c|d\"|"),
            vec![
                ("a|b".into(), false),
                ("c|d".into(), true),
                ("".into(), false)
            ]
        );
        let postgres = Splitter::Text {
            delimiter: '\t',
            escape: true,
            remove_quotes: false,
            control_escapes: true,
        };
        assert_eq!(
            texts(postgres, "a\\tb\tc\\nd\\\\"),
            vec![("a\tb".into(), false), ("c\nd\\".into(), false)]
        );
    }

    #[test]
    fn csv_quotes() {
        let csv = Splitter::Csv {
            delimiter: ',',
            quote: '"',
        };
        assert_eq!(
            texts(csv, "1,\"a,\"\"b\"\"\",,\"\""),
            vec![
                ("1".into(), false),
                ("a,\"b\"".into(), true),
                ("".into(), false),
                ("".into(), true)
            ]
        );
        let wide = Splitter::Csv {
            delimiter: '§',
            quote: '«',
        };
        assert_eq!(
            texts(wide, "1§«a««b«§é"),
            vec![
                ("1".into(), false),
                ("a«b".into(), true),
                ("é".into(), false)
            ]
        );
        let mut out = Vec::new();
        assert!(csv.split("1,\"abc", &mut out).is_err());
        assert!(csv.split("1,\"a\"b", &mut out).is_err());
    }
}
