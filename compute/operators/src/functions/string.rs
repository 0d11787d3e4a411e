//! Redshift's string functions that DataFusion lacks or answers otherwise:
//! `QUOTE_IDENT` and `QUOTE_LITERAL` (PostgreSQL's), `FNV_HASH` (64-bit FNV-1a of
//! the value's bytes), `SHA1` / `FUNC_SHA1` / `SHA` (the
//! digest as 40 hex digits), `CRC32` (CRC-32C, as Redshift's, as 8 hex digits), and
//! `varchar_fit`, which a cast to `VARCHAR(n)` or `CHAR(n)` becomes: the text cut to
//! at most n bytes (Redshift's lengths are bytes), never inside a character.

use std::sync::Arc;

use datafusion::arrow::array::{Array, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::cast::as_string_array;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use sha1::Digest;

use super::{arity, integer, invalid, row_by_row, text, udf};
use blueshift_proto::error_kind::ErrorKind;

/// The name of the function a cast to a character type with a length becomes.
pub const VARCHAR_FIT: &str = "varchar_fit";

#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Kind {
    Sha1,
    Crc32,
    VarcharFit,
    QuoteIdent,
    QuoteLiteral,
    FnvHash,
    /// PostgreSQL's `similar_to_escape(pattern [, escape])`: the regular expression a
    /// SIMILAR TO pattern means (the leader's SIMILAR TO with a pattern that is not
    /// a constant matches against it).
    SimilarToEscape,
}

/// FNV-1a (64 bits) of `bytes`, from the hash state `seed`.
pub fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    bytes.iter().fold(seed, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a's starting state.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The bytes FNV_HASH hashes for `v`, as Redshift's: an integer's little-endian
/// bytes in its own width, a string's UTF-8 bytes (the forms the reference's
/// examples confirm; other types are refused rather than guessed).
fn fnv_bytes(v: &ScalarValue) -> Result<Option<Vec<u8>>> {
    Ok(match v {
        ScalarValue::Int16(n) => n.map(|n| n.to_le_bytes().to_vec()),
        ScalarValue::Int32(n) => n.map(|n| n.to_le_bytes().to_vec()),
        ScalarValue::Int64(n) => n.map(|n| n.to_le_bytes().to_vec()),
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
            s.as_ref().map(|s| s.as_bytes().to_vec())
        }
        ScalarValue::Null => None,
        other => {
            return Err(super::value_error(
                ErrorKind::FeatureNotSupported,
                "fnv_hash",
                format!("a value of type {} is not supported", other.data_type()),
            ));
        }
    })
}

/// The keywords PostgreSQL's QUOTE_IDENT quotes (its reserved, column-name and
/// type-or-function-name keywords; unreserved ones need no quotes).
const QUOTED_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// `name` as PostgreSQL's QUOTE_IDENT gives it: in double quotes (doubled inside)
/// unless it is a lower-case name that needs none.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !QUOTED_KEYWORDS.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `value` as PostgreSQL's QUOTE_LITERAL gives it: in single quotes (doubled
/// inside), as an `E'...'` string with doubled backslashes when it has any.
pub fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StringFunction {
    kind: Kind,
    aliases: Vec<String>,
    signature: Signature,
}

/// The functions of this module.
/// The regular expression SIMILAR TO `pattern` means, as PostgreSQL's
/// `similar_to_escape` makes it: `%` is any text, `_` any character, `|`, `*`, `+`,
/// `?`, `{m,n}`, `()` and `[...]` keep their meaning, other characters are
/// themselves, `escape` (by default `\`; `'\0'` for none) makes the next one
/// itself, and the whole value must match.
pub fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let escape = escape.unwrap_or('\\');
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_brackets = false;
    while let Some(c) = chars.next() {
        if c == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex::escape(&next.to_string()));
            }
            continue;
        }
        if in_brackets {
            out.push(c);
            if c == ']' {
                in_brackets = false;
            }
            continue;
        }
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '[' => {
                in_brackets = true;
                out.push('[');
            }
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

pub fn functions() -> Vec<ScalarUDF> {
    let text = || TypeSignature::Exact(vec![DataType::Utf8]);
    vec![
        udf(StringFunction {
            kind: Kind::Sha1,
            aliases: vec!["func_sha1".to_string(), "sha".to_string()],
            signature: Signature::one_of(vec![text()], Volatility::Immutable),
        }),
        udf(StringFunction {
            kind: Kind::Crc32,
            aliases: vec![],
            signature: Signature::one_of(vec![text()], Volatility::Immutable),
        }),
        udf(StringFunction {
            kind: Kind::QuoteIdent,
            aliases: vec![],
            signature: Signature::one_of(vec![text()], Volatility::Immutable),
        }),
        udf(StringFunction {
            kind: Kind::QuoteLiteral,
            aliases: vec![],
            signature: Signature::any(1, Volatility::Immutable),
        }),
        udf(StringFunction {
            kind: Kind::SimilarToEscape,
            aliases: vec![],
            signature: Signature::one_of(
                vec![
                    text(),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                ],
                Volatility::Immutable,
            ),
        }),
        udf(StringFunction {
            kind: Kind::FnvHash,
            aliases: vec![],
            signature: Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }),
        udf(StringFunction {
            kind: Kind::VarcharFit,
            aliases: vec![],
            signature: Signature::one_of(
                vec![TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64])],
                Volatility::Immutable,
            ),
        }),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `s` cut to at most `bytes` bytes, at a character boundary.
pub fn fit(s: &str, bytes: usize) -> &str {
    if s.len() <= bytes {
        return s;
    }
    let mut end = bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl StringFunction {
    fn fit_column(&self, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, length] = args.args.as_slice() else {
            return Err(arity(VARCHAR_FIT, "2 arguments", args.args.len()));
        };
        let ColumnarValue::Scalar(length) = length else {
            return Err(invalid(VARCHAR_FIT, "the length must be a constant"));
        };
        let bytes = integer(length)?
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| invalid(VARCHAR_FIT, "the length must be a positive integer"))?;
        match value {
            ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
                text(s)?.map(|s| fit(&s, bytes).to_string()),
            ))),
            ColumnarValue::Array(a) => {
                let a = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
                let strings = as_string_array(&a)?;
                let mut out = StringBuilder::with_capacity(strings.len(), bytes * strings.len());
                for s in strings.iter() {
                    out.append_option(s.map(|s| fit(s, bytes)));
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
        }
    }
}

impl ScalarUDFImpl for StringFunction {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Sha1 => "sha1",
            Kind::Crc32 => "crc32",
            Kind::VarcharFit => VARCHAR_FIT,
            Kind::QuoteIdent => "quote_ident",
            Kind::QuoteLiteral => "quote_literal",
            Kind::FnvHash => "fnv_hash",
            Kind::SimilarToEscape => "similar_to_escape",
        }
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::FnvHash => DataType::Int64,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.kind {
            Kind::VarcharFit => self.fit_column(&args),
            Kind::Sha1 => row_by_row(&args, &DataType::Utf8, |v| {
                Ok(ScalarValue::Utf8(
                    text(&v[0])?.map(|s| hex(&sha1::Sha1::digest(s.as_bytes()))),
                ))
            }),
            // FNV_HASH(value [, seed]): the seed is an earlier FNV_HASH, the state the
            // hash goes on from.
            Kind::FnvHash => row_by_row(&args, &DataType::Int64, |v| {
                let seed = match v.get(1) {
                    Some(seed) => match integer(seed)? {
                        Some(s) => s as u64,
                        None => return Ok(ScalarValue::Int64(None)),
                    },
                    None => FNV_OFFSET,
                };
                Ok(ScalarValue::Int64(
                    fnv_bytes(&v[0])?.map(|bytes| fnv1a(&bytes, seed) as i64),
                ))
            }),
            Kind::SimilarToEscape => row_by_row(&args, &DataType::Utf8, |v| {
                let escape = match v.get(1) {
                    None => None,
                    Some(e) => match text(e)? {
                        None => return Ok(ScalarValue::Utf8(None)),
                        Some(e) => match e.chars().collect::<Vec<_>>().as_slice() {
                            [] => Some('\u{0}'),
                            [c] => Some(*c),
                            _ => {
                                return Err(super::value_error(
                                    ErrorKind::InvalidEscapeSequence,
                                    "similar_to_escape",
                                    "invalid escape string: it must be empty or one character",
                                ));
                            }
                        },
                    },
                };
                Ok(ScalarValue::Utf8(
                    text(&v[0])?.map(|p| similar_to_regex(&p, escape)),
                ))
            }),
            Kind::QuoteIdent => row_by_row(&args, &DataType::Utf8, |v| {
                Ok(ScalarValue::Utf8(text(&v[0])?.map(|s| quote_ident(&s))))
            }),
            Kind::QuoteLiteral => row_by_row(&args, &DataType::Utf8, |v| {
                Ok(ScalarValue::Utf8(text(&v[0])?.map(|s| quote_literal(&s))))
            }),
            Kind::Crc32 => row_by_row(&args, &DataType::Utf8, |v| {
                Ok(ScalarValue::Utf8(
                    text(&v[0])?.map(|s| format!("{:08x}", crc32c::crc32c(s.as_bytes()))),
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_redshifts() {
        // The Redshift reference's example: SELECT CRC32('Amazon Redshift') is f2726906;
        // the SHA-1 digest is coreutils' `printf 'Amazon Redshift' | sha1sum`.
        assert_eq!(
            format!("{:08x}", crc32c::crc32c(b"Amazon Redshift")),
            "f2726906"
        );
        assert_eq!(
            hex(&sha1::Sha1::digest(b"Amazon Redshift")),
            "eeac5ed1e11cda66032c30ad77b25071b5487f55"
        );
    }

    #[test]
    fn fnv_hash_is_redshifts() {
        // The reference's examples: fnv_hash(1) (an INTEGER), of a SMALLINT and a
        // BIGINT 1, of text, and chained with a seed.
        let hash = |v: ScalarValue| {
            fnv1a(&fnv_bytes(&v).expect("bytes").expect("a value"), FNV_OFFSET) as i64
        };
        assert_eq!(hash(ScalarValue::Int32(Some(1))), -5968735742475085980);
        assert_eq!(hash(ScalarValue::Int16(Some(1))), 589727492704079044);
        assert_eq!(hash(ScalarValue::Int64(Some(1))), -8517097267634966620);
        assert_eq!(
            hash(ScalarValue::Utf8(Some("abcd".into()))),
            -281581062704388899
        );
        assert_eq!(
            fnv1a(b"cd", fnv1a(b"ab", FNV_OFFSET)) as i64,
            -281581062704388899
        );
    }

    #[test]
    fn quoting_is_postgresqls() {
        assert_eq!(quote_ident("cat"), "cat");
        assert_eq!(quote_ident("\"CAT\""), "\"\"\"CAT\"\"\"");
        assert_eq!(quote_ident("Cat"), "\"Cat\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_literal("'CAT'"), "'''CAT'''");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn fit_cuts_at_a_character() {
        assert_eq!(fit("abcdef", 3), "abc");
        assert_eq!(fit("ab", 3), "ab");
        assert_eq!(fit("aé", 2), "a");
        assert_eq!(fit("aé", 3), "aé");
    }
}
