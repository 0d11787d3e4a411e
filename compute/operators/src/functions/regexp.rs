//! Redshift's regular-expression functions, with their optional arguments:
//! - `REGEXP_SUBSTR(source, pattern [, position [, occurrence [, parameters]]])`:
//!   the `occurrence`th match from character `position`, or `''`;
//! - `REGEXP_COUNT(source, pattern [, position [, parameters]])`: the matches;
//! - `REGEXP_INSTR(source, pattern [, position [, occurrence [, option [,
//!   parameters]]]])`: the match's first character (option 0) or the one after it
//!   (option 1), from 1, or 0 when there is none;
//! - `REGEXP_REPLACE(source, pattern [, replace [, position [, parameters]]])`:
//!   every match from `position` replaced (`replace` defaults to `''`; `\1`..`\9`
//!   are the groups' matches). PostgreSQL's form with flags as the fourth argument
//!   (`regexp_replace(s, p, r, 'g')`) keeps its meaning: without `g` only the
//!   first match is replaced.
//!
//! Positions and occurrences count characters from 1. Parameters: `c`
//! case-sensitive (the default), `i` case-insensitive, `e` the first group's match
//! (SUBSTR, INSTR), `p` Perl syntax (the syntax here anyway). A NULL argument gives
//! NULL; a bad position, occurrence, option, parameter or pattern is 22023 naming
//! the function.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use regex::Regex;

use super::{integer, invalid, row_by_row, text, udf};

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    Substr,
    Count,
    Instr,
    Replace,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Substr => "regexp_substr",
            Kind::Count => "regexp_count",
            Kind::Instr => "regexp_instr",
            Kind::Replace => "regexp_replace",
        }
    }

    fn arguments(self) -> (usize, usize, &'static str) {
        match self {
            Kind::Substr => (
                2,
                5,
                "source, pattern [, position [, occurrence [, parameters]]]",
            ),
            Kind::Count => (2, 4, "source, pattern [, position [, parameters]]"),
            Kind::Instr => (
                2,
                6,
                "source, pattern [, position [, occurrence [, option [, parameters]]]]",
            ),
            Kind::Replace => (
                2,
                5,
                "source, pattern [, replace [, position [, parameters]]]",
            ),
        }
    }

    fn returns(self) -> DataType {
        match self {
            Kind::Substr | Kind::Replace => DataType::Utf8,
            Kind::Count | Kind::Instr => DataType::Int32,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpFunction {
    kind: Kind,
    signature: Signature,
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    [Kind::Substr, Kind::Count, Kind::Instr, Kind::Replace]
        .into_iter()
        .map(|kind| {
            udf(RegexpFunction {
                kind,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

/// What the parameters argument asks for.
#[derive(Default)]
struct Parameters {
    case_insensitive: bool,
    group: bool,
    /// PostgreSQL's `g` (REGEXP_REPLACE's flags form).
    global: bool,
}

fn parameters(kind: Kind, flags: &str, postgres: bool) -> Result<Parameters> {
    let mut p = Parameters::default();
    for c in flags.chars() {
        match c {
            'i' => p.case_insensitive = true,
            'c' => p.case_insensitive = false,
            'e' if !postgres => p.group = true,
            'p' if !postgres => {}
            'g' if postgres => p.global = true,
            other => {
                let known = if postgres {
                    "c, i or g"
                } else {
                    "c, i, e or p"
                };
                return Err(invalid(
                    kind.name(),
                    format!("unknown parameter '{other}' ({known})"),
                ));
            }
        }
    }
    Ok(p)
}

/// Why a call has no answer but NULL (an argument is NULL), or its answer.
enum Row<T> {
    Null,
    Value(T),
}

fn whole_number(kind: Kind, v: Option<&ScalarValue>, what: &str, default: i64) -> Result<Row<i64>> {
    let Some(v) = v else {
        return Ok(Row::Value(default));
    };
    match integer(v).map_err(|_| invalid(kind.name(), format!("{what} must be an integer")))? {
        Some(n) => Ok(Row::Value(n)),
        None => Ok(Row::Null),
    }
}

/// The byte offset of character `position` (from 1) in `s`, or None past its end.
fn char_offset(s: &str, position: i64) -> Option<usize> {
    let skip = usize::try_from(position.max(1) - 1).ok()?;
    if skip == 0 {
        return Some(0);
    }
    s.char_indices().nth(skip).map(|(i, _)| i)
}

fn compile(kind: Kind, pattern: &str, p: &Parameters) -> Result<Regex> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(p.case_insensitive)
        .build()
        .map_err(|e| invalid(kind.name(), format!("invalid pattern '{pattern}': {e}")))
}

/// `replace` with PostgreSQL's and Redshift's `\1`..`\9` (and `\&`, the whole
/// match) in the regex crate's form, its `$` taken literally.
fn replacement(replace: &str) -> String {
    let mut out = String::with_capacity(replace.len());
    let mut chars = replace.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d @ '0'..='9') => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some('&') => {
                    out.push_str("${0}");
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

impl RegexpFunction {
    fn row(&self, args: &[ScalarValue]) -> Result<ScalarValue> {
        let kind = self.kind;
        let null = ScalarValue::try_from(kind.returns())?;
        let (Some(source), Some(pattern)) = (text(&args[0])?, text(&args[1])?) else {
            return Ok(null);
        };
        let optional_text =
            |n: usize| -> Result<Option<Option<String>>> { args.get(n).map(text).transpose() };
        match kind {
            Kind::Replace => {
                let replace = match optional_text(2)? {
                    Some(Some(r)) => r,
                    Some(None) => return Ok(null),
                    None => String::new(),
                };
                // PostgreSQL's flags form: a text fourth argument that is not a number.
                let postgres_flags = match args.get(3) {
                    Some(v)
                        if !matches!(
                            v,
                            ScalarValue::Utf8(_)
                                | ScalarValue::LargeUtf8(_)
                                | ScalarValue::Utf8View(_)
                        ) =>
                    {
                        None
                    }
                    Some(v) => match text(v)? {
                        Some(t) if t.trim().parse::<i64>().is_err() => Some(t),
                        _ => None,
                    },
                    None => None,
                };
                let (position, flags, postgres) = match postgres_flags {
                    Some(flags) if args.len() == 4 => (1, flags, true),
                    _ => {
                        let Row::Value(position) = whole_number(kind, args.get(3), "position", 1)?
                        else {
                            return Ok(null);
                        };
                        let Some(flags) = optional_text(4)?.unwrap_or(Some(String::new())) else {
                            return Ok(null);
                        };
                        (position, flags, false)
                    }
                };
                let p = parameters(kind, &flags, postgres)?;
                let regex = compile(kind, &pattern, &p)?;
                let Some(start) = char_offset(&source, position) else {
                    return Ok(ScalarValue::Utf8(Some(source)));
                };
                let with = replacement(&replace);
                let limit = if postgres && !p.global { 1 } else { 0 };
                let tail = regex.replacen(&source[start..], limit, with.as_str());
                Ok(ScalarValue::Utf8(Some(format!(
                    "{}{tail}",
                    &source[..start]
                ))))
            }
            Kind::Count => {
                let Row::Value(position) = whole_number(kind, args.get(2), "position", 1)? else {
                    return Ok(null);
                };
                let Some(flags) = optional_text(3)?.unwrap_or(Some(String::new())) else {
                    return Ok(null);
                };
                check_position(kind, position)?;
                let regex = compile(kind, &pattern, &parameters(kind, &flags, false)?)?;
                let count = match char_offset(&source, position) {
                    Some(start) => regex.find_iter(&source[start..]).count(),
                    None => 0,
                };
                Ok(ScalarValue::Int32(Some(
                    i32::try_from(count).unwrap_or(i32::MAX),
                )))
            }
            Kind::Substr | Kind::Instr => {
                let Row::Value(position) = whole_number(kind, args.get(2), "position", 1)? else {
                    return Ok(null);
                };
                let Row::Value(occurrence) = whole_number(kind, args.get(3), "occurrence", 1)?
                else {
                    return Ok(null);
                };
                let (option, flags_at) = match kind {
                    Kind::Instr => match whole_number(kind, args.get(4), "option", 0)? {
                        Row::Value(o @ (0 | 1)) => (o, 5),
                        Row::Value(_) => {
                            return Err(invalid(kind.name(), "option must be 0 or 1"));
                        }
                        Row::Null => return Ok(null),
                    },
                    _ => (0, 4),
                };
                let Some(flags) = optional_text(flags_at)?.unwrap_or(Some(String::new())) else {
                    return Ok(null);
                };
                check_position(kind, position)?;
                if occurrence < 1 {
                    return Err(invalid(kind.name(), "occurrence must be 1 or more"));
                }
                let p = parameters(kind, &flags, false)?;
                let regex = compile(kind, &pattern, &p)?;
                let found = char_offset(&source, position).and_then(|start| {
                    let captures = regex
                        .captures_iter(&source[start..])
                        .nth(usize::try_from(occurrence - 1).ok()?)?;
                    let group = if p.group && captures.len() > 1 { 1 } else { 0 };
                    let m = captures.get(group)?;
                    Some((start + m.start(), start + m.end()))
                });
                Ok(match kind {
                    Kind::Substr => ScalarValue::Utf8(Some(
                        found.map_or(String::new(), |(s, e)| source[s..e].to_string()),
                    )),
                    _ => {
                        let at = found.map_or(0, |(s, e)| {
                            let byte = if option == 0 { s } else { e };
                            source[..byte].chars().count() + 1
                        });
                        ScalarValue::Int32(Some(i32::try_from(at).unwrap_or(i32::MAX)))
                    }
                })
            }
        }
    }
}

fn check_position(kind: Kind, position: i64) -> Result<()> {
    if position < 1 {
        return Err(invalid(kind.name(), "position must be 1 or more"));
    }
    Ok(())
}

impl ScalarUDFImpl for RegexpFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let (min, max, form) = self.kind.arguments();
        if !(min..=max).contains(&args.len()) {
            return Err(super::arity(
                self.kind.name(),
                &format!("{min} to {max} arguments ({form})"),
                args.len(),
            ));
        }
        Ok(self.kind.returns())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        row_by_row(&args, &self.kind.returns(), |values| self.row(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: Kind, args: &[ScalarValue]) -> ScalarValue {
        RegexpFunction {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
        .row(args)
        .expect("valid call")
    }

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.into()))
    }

    fn n(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    #[test]
    fn substr_as_redshift_documents() {
        assert_eq!(
            call(Kind::Substr, &[s("varchar(256)"), s("[0-9]+")]),
            s("256")
        );
        assert_eq!(call(Kind::Substr, &[s("no digits"), s("[0-9]+")]), s(""));
        let third = [s("a1b22c333"), s("[0-9]+"), n(1), n(3)];
        assert_eq!(call(Kind::Substr, &third), s("333"));
        assert_eq!(
            call(Kind::Substr, &[s("a1b22"), s("[0-9]+"), n(3)]),
            s("22")
        );
        let case = [s("HELLO"), s("hel+"), n(1), n(1), s("i")];
        assert_eq!(call(Kind::Substr, &case), s("HELL"));
        let group = [s("key=value"), s("key=(\\w+)"), n(1), n(1), s("e")];
        assert_eq!(call(Kind::Substr, &group), s("value"));
        assert_eq!(
            call(Kind::Substr, &[ScalarValue::Utf8(None), s("x")]),
            ScalarValue::Utf8(None)
        );
    }

    #[test]
    fn count_instr_and_replace_take_their_extra_arguments() {
        let i = |v: i32| ScalarValue::Int32(Some(v));
        assert_eq!(
            call(Kind::Count, &[s("abcabc"), s("B"), n(1), s("i")]),
            i(2)
        );
        assert_eq!(call(Kind::Count, &[s("abcabc"), s("b"), n(3)]), i(1));
        assert_eq!(call(Kind::Instr, &[s("abcabc"), s("c"), n(1), n(2)]), i(6));
        assert_eq!(
            call(Kind::Instr, &[s("abcabc"), s("bc"), n(1), n(1), n(1)]),
            i(4)
        );
        assert_eq!(call(Kind::Instr, &[s("abc"), s("x")]), i(0));
        assert_eq!(
            call(Kind::Replace, &[s("abcabc"), s("b"), s("X")]),
            s("aXcaXc")
        );
        assert_eq!(
            call(Kind::Replace, &[s("abcabc"), s("b"), s("X"), n(3)]),
            s("abcaXc")
        );
        assert_eq!(
            call(
                Kind::Replace,
                &[s("the fox"), s("FOX"), s("quick brown fox"), n(1), s("i")]
            ),
            s("the quick brown fox")
        );
        assert_eq!(call(Kind::Replace, &[s("a1b22"), s("[0-9]+")]), s("ab"));
        assert_eq!(
            call(
                Kind::Replace,
                &[s("john smith"), s("(\\w+) (\\w+)"), s("\\2, \\1 $")]
            ),
            s("smith, john $")
        );
        // PostgreSQL's flags form.
        assert_eq!(
            call(Kind::Replace, &[s("abab"), s("b"), s("X"), s("g")]),
            s("aXaX")
        );
        assert_eq!(
            call(Kind::Replace, &[s("abab"), s("B"), s("X"), s("i")]),
            s("aXab")
        );
        assert_eq!(
            call(Kind::Replace, &[s("ab"), s("b"), s("X"), n(9)]),
            s("ab")
        );
    }
}
