//! Redshift's COPY and UNLOAD statements, parsed by our own pass: sqlparser knows
//! PostgreSQL's COPY, not Redshift's options (IAM_ROLE, MANIFEST, MAXERROR, ...).
//! Options come in any order, each keyword case-insensitive, `AS` optional where
//! Redshift allows it. PostgreSQL's forms (`WITH (FORMAT csv, HEADER)`, `CSV
//! HEADER`) are read too, for `psql \copy` and drivers.

use blueshift_operators::load::{Compression, LoadOptions};
use blueshift_operators::unload::UnloadFormat;
use datafusion::sql::sqlparser::tokenizer::Token;

mod cursor;

use super::cursor::{Cursor, syntax};
use super::redshift_ddl::{is_kw, tokenize, word_name};
use crate::error::LeaderError;

/// How COPY or UNLOAD reaches S3.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Authorization {
    /// `IAM_ROLE 'arn'`; `Some("default")` for `IAM_ROLE default`.
    pub iam_role: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

/// COPY's input format.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyFormat {
    Text,
    Csv {
        quote: char,
    },
    /// `'auto'`, `'auto ignorecase'` or the URL of a JSONPaths file.
    Json(String),
    Parquet,
    Orc,
    /// Like JSON's: `'auto'`, `'auto ignorecase'` or a JSONPaths file.
    Avro(String),
}

impl CopyFormat {
    /// Whether the format is read by its own reader (Parquet, ORC, Avro), which
    /// takes no text options and no GZIP, BZIP2 or ZSTD.
    pub fn is_columnar(&self) -> bool {
        matches!(
            self,
            CopyFormat::Parquet | CopyFormat::Orc | CopyFormat::Avro(_)
        )
    }
}

/// Where COPY reads.
#[derive(Clone, Debug, PartialEq)]
pub enum CopySource {
    /// `s3://bucket/prefix` or `file:///path` (or a manifest there).
    Url(String),
    /// The client, over the wire protocol's copy sub-protocol.
    Stdin,
}

/// A parsed COPY.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyStatement {
    /// Schema-qualified or bare name parts (lower-cased unless quoted).
    pub table: Vec<String>,
    pub columns: Option<Vec<String>>,
    pub source: CopySource,
    pub auth: Authorization,
    pub format: CopyFormat,
    pub compression: Compression,
    pub manifest: bool,
    pub options: LoadOptions,
    /// STATUPDATE: ON analyzes the table after the load, OFF never; without it
    /// (`None`), the load analyzes a table that was empty.
    pub stat_update: Option<bool>,
    /// The statement with secrets replaced, for STL_QUERY.
    pub redacted: String,
}

/// A parsed UNLOAD.
#[derive(Clone, Debug, PartialEq)]
pub struct UnloadStatement {
    pub query: String,
    pub target: String,
    pub auth: Authorization,
    pub format: UnloadFormat,
    pub partition_by: Vec<String>,
    pub include: bool,
    pub manifest: bool,
    pub manifest_verbose: bool,
    pub header: bool,
    pub delimiter: Option<char>,
    pub compression: Compression,
    pub add_quotes: bool,
    pub null_as: Option<String>,
    pub escape: bool,
    pub allow_overwrite: bool,
    pub clean_path: bool,
    pub parallel: bool,
    pub max_file_size: Option<u64>,
    pub row_group_size: Option<u64>,
    pub redacted: String,
}

/// Whether `sql` (one statement) is a COPY or an UNLOAD.
pub fn starts_copy_or_unload(first: &Token) -> bool {
    is_kw(first, "copy") || is_kw(first, "unload")
}

/// Splits `sql` at top-level semicolons: each statement's byte range, and whether it
/// is one Blueshift parses itself (COPY, UNLOAD, or one about users and privileges).
pub fn statement_ranges(sql: &str) -> Result<Vec<(usize, usize, bool)>, LeaderError> {
    let toks = tokenize(sql)?;
    let ours = |toks: &[super::redshift_ddl::Tok]| {
        toks.first()
            .is_some_and(|t| starts_copy_or_unload(&t.token))
            || super::access::starts_access_statement(toks)
            || super::starts_refresh(toks)
    };
    let mut out = Vec::new();
    let mut first: Option<usize> = None;
    let mut end = 0;
    for (i, t) in toks.iter().enumerate() {
        if t.token == Token::SemiColon {
            if let Some(f) = first.take() {
                out.push((toks[f].start, end, ours(&toks[f..i])));
            }
            continue;
        }
        if first.is_none() {
            first = Some(i);
        }
        end = t.end;
    }
    if let Some(f) = first {
        out.push((toks[f].start, end, ours(&toks[f..])));
    }
    Ok(out)
}

/// Parses one COPY or UNLOAD statement (`sql` is the statement alone; positions in
/// errors are made relative to `offset` characters before it).
pub fn parse_copy_or_unload(sql: &str, offset: usize) -> Result<CopyOrUnload, LeaderError> {
    let toks = tokenize(sql)?;
    let mut cursor = Cursor {
        sql,
        toks: &toks,
        at: 0,
        secrets: vec![],
    };
    let result = if cursor.keyword("copy") {
        parse_copy(&mut cursor).map(|c| CopyOrUnload::Copy(Box::new(c)))
    } else if cursor.keyword("unload") {
        parse_unload(&mut cursor).map(|u| CopyOrUnload::Unload(Box::new(u)))
    } else {
        Err(cursor.unexpected("COPY or UNLOAD"))
    };
    result.map_err(|e| match e {
        LeaderError::Syntax { message, position } => LeaderError::Syntax {
            message,
            position: position.map(|p| p + offset),
        },
        other => other,
    })
}

/// A COPY or an UNLOAD.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyOrUnload {
    Copy(Box<CopyStatement>),
    Unload(Box<UnloadStatement>),
}

fn parse_copy(c: &mut Cursor<'_>) -> Result<CopyStatement, LeaderError> {
    let table = c.object_name()?;
    let columns = if c.punct(Token::LParen) {
        Some(c.name_list()?)
    } else {
        None
    };
    c.expect_keyword("from")?;
    let source = if c.keyword("stdin") {
        CopySource::Stdin
    } else {
        CopySource::Url(c.string("source ('s3://bucket/prefix')")?)
    };
    let stdin = source == CopySource::Stdin;
    let mut options = LoadOptions::default();
    let mut stat_update = None;
    let mut auth = Authorization::default();
    let mut format = CopyFormat::Text;
    let mut quote = None;
    let mut delimiter = None;
    let mut compression = Compression::None;
    let mut manifest = false;
    let mut null_as = None;
    c.keyword("with");
    if c.punct(Token::LParen) {
        // PostgreSQL's option list: FORMAT csv, HEADER [true], DELIMITER 'x', ...
        loop {
            let at = c.peek();
            let key = c.name("an option")?;
            match key.as_str() {
                "format" => match c.name("a format")?.as_str() {
                    "csv" => format = CopyFormat::Csv { quote: '"' },
                    "text" => format = CopyFormat::Text,
                    other => {
                        return Err(LeaderError::Unsupported(format!("COPY FORMAT {other}")));
                    }
                },
                "header" => options.ignore_header = u64::from(c.switch().unwrap_or(true)),
                "delimiter" => delimiter = Some(c.single_char("DELIMITER")?),
                "null" => null_as = Some(c.string("NULL string")?),
                "quote" => quote = Some(c.single_char("QUOTE")?),
                "escape" => {
                    c.single_char("ESCAPE")?;
                }
                "encoding" => {
                    let e = c.string("encoding")?;
                    if !e.eq_ignore_ascii_case("utf8") && !e.eq_ignore_ascii_case("utf-8") {
                        return Err(LeaderError::Unsupported(format!("ENCODING '{e}'")));
                    }
                }
                other => {
                    return Err(syntax(
                        c.sql,
                        at,
                        format!("option \"{other}\" not recognized"),
                    ));
                }
            }
            if c.punct(Token::RParen) {
                break;
            }
            if !c.punct(Token::Comma) {
                return Err(c.unexpected("',' or ')'"));
            }
        }
    }
    while let Some(tok) = c.peek() {
        let word = match word_name(&tok.token) {
            Some(w) if !matches!(&tok.token, Token::Word(w) if w.quote_style.is_some()) => w,
            _ => return Err(c.unexpected("a COPY option")),
        };
        if c.authorization(&mut auth)? {
            continue;
        }
        if let Some(z) = c.compression()? {
            compression = z;
            continue;
        }
        c.at += 1;
        match word.as_str() {
            "format" => {
                c.keyword("as");
                continue;
            }
            "csv" => {
                format = CopyFormat::Csv { quote: '"' };
                if c.keyword("quote") {
                    quote = Some(c.single_char("QUOTE")?);
                }
                if c.keyword("header") {
                    options.ignore_header = 1;
                }
            }
            "quote" => quote = Some(c.single_char("QUOTE")?),
            "json" | "avro" => {
                let spec = if matches!(
                    c.peek().map(|t| &t.token),
                    Some(Token::SingleQuotedString(_))
                ) || c.peek().is_some_and(|t| is_kw(&t.token, "as"))
                {
                    c.string(if word == "json" {
                        "JSON option"
                    } else {
                        "AVRO option"
                    })?
                } else {
                    "auto".into()
                };
                format = if word == "json" {
                    CopyFormat::Json(spec)
                } else {
                    CopyFormat::Avro(spec)
                };
            }
            "parquet" => format = CopyFormat::Parquet,
            "orc" => format = CopyFormat::Orc,
            "fixedwidth" | "shapefile" => {
                return Err(LeaderError::Unsupported(format!(
                    "COPY {}",
                    word.to_ascii_uppercase()
                )));
            }
            "binary" => return Err(LeaderError::Unsupported("COPY BINARY".into())),
            "header" => options.ignore_header = 1,
            "delimiter" => delimiter = Some(c.single_char("DELIMITER")?),
            "ignoreheader" => options.ignore_header = c.number("IGNOREHEADER")?,
            "null" => null_as = Some(c.string("NULL AS string")?),
            "manifest" => manifest = true,
            "maxerror" => options.max_error = c.number("MAXERROR")?.min(100_000),
            "dateformat" => options.date_format = Some(c.string("DATEFORMAT")?),
            "timeformat" => options.time_format = Some(c.string("TIMEFORMAT")?),
            "emptyasnull" => options.empty_as_null = true,
            "blanksasnull" => options.blanks_as_null = true,
            "truncatecolumns" => options.truncate_columns = true,
            "acceptinvchars" => {
                let explicit = c.peek().is_some_and(|t| {
                    is_kw(&t.token, "as") || matches!(t.token, Token::SingleQuotedString(_))
                });
                options.accept_inv_chars = Some(if explicit {
                    c.single_char("ACCEPTINVCHARS")?
                } else {
                    '?'
                });
            }
            "removequotes" => options.remove_quotes = true,
            "escape" => options.escape = true,
            "fillrecord" => options.fill_record = true,
            "trimblanks" => options.trim_blanks = true,
            "noload" => options.no_load = true,
            "explicit_ids" => options.explicit_ids = true,
            "acceptanydate" | "roundec" | "ignoreblanklines" => {}
            "compupdate" => {
                c.switch();
            }
            // A bare STATUPDATE is ON.
            "statupdate" => stat_update = Some(c.switch().unwrap_or(true)),
            "encoding" => {
                c.keyword("as");
                let e = c.name("an encoding")?;
                if e != "utf8" {
                    return Err(LeaderError::Unsupported(format!("ENCODING {e}")));
                }
            }
            _ => {
                c.at -= 1;
                return Err(c.unexpected("a COPY option"));
            }
        }
    }
    if let Some(q) = quote {
        match &mut format {
            CopyFormat::Csv { quote } => *quote = q,
            _ => return Err(LeaderError::InvalidParameter("QUOTE requires CSV".into())),
        }
    }
    if format.is_columnar() {
        // Options for text input, which would do nothing here (Redshift refuses them
        // too). MAXERROR also, but for Avro: a bad value fails a Parquet or ORC COPY.
        let text_only = [
            ("GZIP, BZIP2 or ZSTD", compression != Compression::None),
            ("DELIMITER", delimiter.is_some()),
            ("IGNOREHEADER", options.ignore_header > 0),
            ("NULL AS", null_as.is_some()),
            ("EMPTYASNULL", options.empty_as_null),
            ("BLANKSASNULL", options.blanks_as_null),
            ("REMOVEQUOTES", options.remove_quotes),
            ("ESCAPE", options.escape),
            ("TRIMBLANKS", options.trim_blanks),
            ("DATEFORMAT", options.date_format.is_some()),
            ("TIMEFORMAT", options.time_format.is_some()),
            // Avro's bad rows are rejected one by one, up to MAXERROR.
            (
                "MAXERROR",
                options.max_error > 0 && !matches!(format, CopyFormat::Avro(_)),
            ),
        ];
        if let Some((name, _)) = text_only.iter().find(|(_, given)| *given) {
            return Err(LeaderError::Unsupported(format!(
                "the {name} argument for {} based COPY",
                format.name().to_ascii_uppercase()
            )));
        }
    }
    if matches!(format, CopyFormat::Csv { .. }) {
        if options.escape {
            return Err(LeaderError::InvalidParameter(
                "ESCAPE cannot be used with CSV".into(),
            ));
        }
        if options.remove_quotes {
            return Err(LeaderError::InvalidParameter(
                "REMOVEQUOTES cannot be used with CSV".into(),
            ));
        }
    }
    // FROM STDIN speaks PostgreSQL's text format by default: tabs and backslashes.
    options.delimiter = delimiter.unwrap_or(match (&format, stdin) {
        (CopyFormat::Csv { .. }, _) => ',',
        (_, true) => '\t',
        _ => '|',
    });
    if stdin && format == CopyFormat::Text {
        options.escape = true;
        options.postgres_text = true;
    }
    if let Some(n) = null_as {
        options.null_as = n;
    } else if matches!(format, CopyFormat::Csv { .. }) && stdin {
        options.null_as = String::new();
    }
    if manifest && stdin {
        return Err(LeaderError::InvalidParameter(
            "MANIFEST cannot be used with FROM STDIN".into(),
        ));
    }
    Ok(CopyStatement {
        table,
        columns,
        source,
        auth,
        format,
        compression,
        manifest,
        options,
        stat_update,
        redacted: c.redacted(),
    })
}

fn parse_unload(c: &mut Cursor<'_>) -> Result<UnloadStatement, LeaderError> {
    if !c.punct(Token::LParen) {
        return Err(c.unexpected("'(' and a quoted SELECT"));
    }
    let query = c.string("query")?;
    if !c.punct(Token::RParen) {
        return Err(c.unexpected("')'"));
    }
    c.expect_keyword("to")?;
    let target = c.string("target ('s3://bucket/prefix')")?;
    let mut u = UnloadStatement {
        query,
        target,
        auth: Authorization::default(),
        format: UnloadFormat::Text,
        partition_by: vec![],
        include: false,
        manifest: false,
        manifest_verbose: false,
        header: false,
        delimiter: None,
        compression: Compression::None,
        add_quotes: false,
        null_as: None,
        escape: false,
        allow_overwrite: false,
        clean_path: false,
        parallel: true,
        max_file_size: None,
        row_group_size: None,
        redacted: String::new(),
    };
    c.keyword("with");
    while c.peek().is_some() {
        if c.authorization(&mut u.auth)? {
            continue;
        }
        if let Some(z) = c.compression()? {
            u.compression = z;
            continue;
        }
        let word = c.name("an UNLOAD option")?;
        match word.as_str() {
            "format" => {
                c.keyword("as");
                continue;
            }
            "csv" => u.format = UnloadFormat::Csv,
            "json" => u.format = UnloadFormat::Json,
            "parquet" => u.format = UnloadFormat::Parquet,
            "partition" => {
                c.expect_keyword("by")?;
                if !c.punct(Token::LParen) {
                    return Err(c.unexpected("'('"));
                }
                u.partition_by = c.name_list()?;
                if c.keyword("include") {
                    u.include = true;
                }
            }
            "manifest" => {
                u.manifest = true;
                u.manifest_verbose = c.keyword("verbose");
            }
            "header" => u.header = true,
            "delimiter" => u.delimiter = Some(c.single_char("DELIMITER")?),
            "addquotes" => u.add_quotes = true,
            "null" => u.null_as = Some(c.string("NULL AS string")?),
            "escape" => u.escape = true,
            "allowoverwrite" => u.allow_overwrite = true,
            "cleanpath" => u.clean_path = true,
            "parallel" => u.parallel = c.switch().unwrap_or(true),
            "maxfilesize" => u.max_file_size = Some(size_option(c, "MAXFILESIZE")?),
            "rowgroupsize" => u.row_group_size = Some(size_option(c, "ROWGROUPSIZE")?),
            "encrypted" | "kms_key_id" | "extension" => {
                return Err(LeaderError::Unsupported(format!(
                    "UNLOAD {}",
                    word.to_ascii_uppercase()
                )));
            }
            _ => {
                c.at -= 1;
                return Err(c.unexpected("an UNLOAD option"));
            }
        }
    }
    if u.format == UnloadFormat::Parquet
        && (u.header || u.delimiter.is_some() || u.add_quotes || u.compression != Compression::None)
    {
        return Err(LeaderError::InvalidParameter(
            "PARQUET cannot be used with HEADER, DELIMITER, ADDQUOTES or compression".into(),
        ));
    }
    if u.allow_overwrite && u.clean_path {
        return Err(LeaderError::InvalidParameter(
            "ALLOWOVERWRITE and CLEANPATH cannot be used together".into(),
        ));
    }
    u.redacted = c.redacted();
    Ok(u)
}

/// `n MB` or `n GB` (MB by default), in bytes; Redshift allows 5 MB to 6.2 GB.
fn size_option(c: &mut Cursor<'_>, what: &str) -> Result<u64, LeaderError> {
    let at = c.peek();
    let n = c.number(what)?;
    let unit = if c.keyword("gb") {
        1024 * 1024 * 1024
    } else {
        c.keyword("mb");
        1024 * 1024
    };
    let bytes = n * unit;
    if !(5 * 1024 * 1024..=6_657_199_308).contains(&bytes) {
        return Err(syntax(
            c.sql,
            at,
            format!("{what} must be between 5 MB and 6.2 GB"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(sql: &str) -> CopyStatement {
        match parse_copy_or_unload(sql, 0) {
            Ok(CopyOrUnload::Copy(c)) => *c,
            other => panic!("not a COPY: {other:?}"),
        }
    }

    #[test]
    fn redshift_copy_options_in_any_order() {
        let c = copy(
            "copy public.t (a, \"B\") from 's3://b/p' iam_role default csv quote as '''' \
             maxerror 5 gzip ignoreheader 1 dateformat 'auto' region 'eu-west-1'",
        );
        assert_eq!(c.table, vec!["public", "t"]);
        assert_eq!(c.columns, Some(vec!["a".into(), "B".into()]));
        assert_eq!(c.format, CopyFormat::Csv { quote: '\'' });
        assert_eq!(c.options.delimiter, ',');
        assert_eq!(c.options.max_error, 5);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.auth.iam_role.as_deref(), Some("default"));
        assert_eq!(c.auth.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn statupdate_is_on_off_or_left_to_the_table() {
        let with = |options: &str| {
            copy(&format!(
                "copy t from 's3://b/p' iam_role default {options}"
            ))
        };
        assert_eq!(with("").stat_update, None);
        assert_eq!(with("statupdate on compupdate off").stat_update, Some(true));
        assert_eq!(with("statupdate").stat_update, Some(true));
        assert_eq!(with("statupdate false").stat_update, Some(false));
        assert_eq!(
            with("compupdate on statupdate off").stat_update,
            Some(false)
        );
    }

    #[test]
    fn columnar_formats_take_no_text_options() {
        assert_eq!(
            copy("copy t from 's3://b/p' iam_role default format as orc").format,
            CopyFormat::Orc
        );
        assert_eq!(
            copy("copy t from 's3://b/p' iam_role default avro as 'auto ignorecase'").format,
            CopyFormat::Avro("auto ignorecase".into())
        );
        assert_eq!(
            copy("copy t from 's3://b/p' iam_role default format avro").format,
            CopyFormat::Avro("auto".into())
        );
        for sql in [
            "copy t from 's3://b/p' iam_role default orc gzip",
            "copy t from 's3://b/p' iam_role default zstd parquet",
            "copy t from 's3://b/p' iam_role default avro 'auto' bzip2",
            "copy t from 's3://b/p' iam_role default parquet ignoreheader 1",
            "copy t from 's3://b/p' iam_role default orc dateformat 'auto'",
            "copy t from 's3://b/p' iam_role default parquet maxerror 5",
        ] {
            assert!(
                matches!(
                    parse_copy_or_unload(sql, 0),
                    Err(LeaderError::Unsupported(_))
                ),
                "{sql}"
            );
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let c = copy(
            "COPY t FROM 's3://b/p' CREDENTIALS 'aws_access_key_id=AK;aws_secret_access_key=SK'",
        );
        assert_eq!(c.auth.access_key_id.as_deref(), Some("AK"));
        assert_eq!(c.auth.secret_access_key.as_deref(), Some("SK"));
        assert!(!c.redacted.contains("SK"), "{}", c.redacted);
    }

    #[test]
    fn psql_copy_from_stdin() {
        let c = copy("COPY t (a) FROM STDIN WITH (FORMAT csv, HEADER true)");
        assert_eq!(c.source, CopySource::Stdin);
        assert_eq!(c.options.ignore_header, 1);
        let t = copy("COPY t FROM STDIN");
        assert_eq!(t.options.delimiter, '\t');
        assert!(t.options.escape);
    }

    #[test]
    fn bad_option_has_a_position() {
        match parse_copy_or_unload("COPY t FROM 's3://b/p' BOGUS", 10) {
            Err(LeaderError::Syntax { position, .. }) => assert_eq!(position, Some(34)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unload_options() {
        let u = match parse_copy_or_unload(
            "UNLOAD ('select * from t where s = ''x''') TO 's3://b/u/' IAM_ROLE 'arn' \
             FORMAT AS PARQUET PARTITION BY (d) INCLUDE MANIFEST VERBOSE MAXFILESIZE 100 MB \
             PARALLEL OFF CLEANPATH",
            0,
        ) {
            Ok(CopyOrUnload::Unload(u)) => *u,
            other => panic!("{other:?}"),
        };
        assert_eq!(u.query, "select * from t where s = 'x'");
        assert_eq!(u.format, UnloadFormat::Parquet);
        assert_eq!(u.partition_by, vec!["d"]);
        assert!(u.include && u.manifest_verbose && u.clean_path && !u.parallel);
        assert_eq!(u.max_file_size, Some(100 * 1024 * 1024));
    }
}
