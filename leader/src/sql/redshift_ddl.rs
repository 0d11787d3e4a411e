//! Redshift's table attributes, lifted out of `CREATE TABLE` text before parsing.
//!
//! sqlparser knows only some of Redshift's table attributes, in one fixed order, and
//! none of the column-level ones. This pass tokenizes the statement, records
//! `DISTSTYLE`, `DISTKEY`, `[COMPOUND|INTERLEAVED] SORTKEY`, `SORTKEY AUTO`,
//! `ENCODE`, `BACKUP` wherever Redshift allows them, and blanks them out of the text
//! with spaces, so positions in later syntax errors still point into the user's SQL.

use std::collections::HashMap;

use blueshift_storage::catalog::{DistStyle, Identity, SortStyle};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::LeaderError;

mod identity;

/// Redshift's column encodings (ENCODE), all accepted.
pub const ENCODINGS: &[&str] = &[
    "raw",
    "az64",
    "bytedict",
    "delta",
    "delta32k",
    "lzo",
    "mostly8",
    "mostly16",
    "mostly32",
    "runlength",
    "text255",
    "text32k",
    "zstd",
    "auto",
];

/// The Redshift attributes of one `CREATE TABLE`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableAttributes {
    pub dist_style: Option<DistStyle>,
    /// DISTKEY column, lower-cased unless quoted.
    pub dist_key: Option<String>,
    pub sort_key: Vec<String>,
    pub sort_style: Option<SortStyle>,
    /// `SORTKEY AUTO`.
    pub sort_auto: bool,
    pub backup: Option<bool>,
    /// Column name → declared encoding.
    pub encodings: HashMap<String, String>,
    /// A view's `WITH NO SCHEMA BINDING`.
    pub late_binding: bool,
    /// A materialized view's `AUTO REFRESH YES | NO`.
    pub auto_refresh: Option<bool>,
    /// Column name → its `IDENTITY(seed, step)`.
    pub identities: HashMap<String, Identity>,
}

/// SQL with Redshift table attributes blanked out, and the attributes of each
/// `CREATE TABLE`, keyed by the table name as written (lower-cased unless quoted).
#[derive(Debug, Default)]
pub struct Stripped {
    pub sql: String,
    pub tables: HashMap<String, TableAttributes>,
}

pub(crate) struct Tok {
    pub(crate) token: Token,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) fn word_name(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_some() => Some(w.value.clone()),
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

pub(crate) fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

pub(crate) fn tokenize(sql: &str) -> Result<Vec<Tok>, LeaderError> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| LeaderError::Syntax {
            message: e.message.clone(),
            position: None,
        })?;
    // Line/column (1-based, in characters) to byte offsets.
    let mut line_starts = vec![0usize];
    for (i, c) in sql.char_indices() {
        if c == '\n' {
            line_starts.push(i + 1);
        }
    }
    let offset = |line: u64, col: u64| -> usize {
        let start = line_starts
            .get((line.max(1) - 1) as usize)
            .copied()
            .unwrap_or(sql.len());
        sql[start..]
            .char_indices()
            .nth((col.max(1) - 1) as usize)
            .map(|(i, _)| start + i)
            .unwrap_or(sql.len())
    };
    Ok(tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .map(|t| Tok {
            start: offset(t.span.start.line, t.span.start.column),
            end: offset(t.span.end.line, t.span.end.column),
            token: t.token,
        })
        .collect())
}

/// Redshift's temporary table names (`#name`: `#` right before a word) as quoted
/// identifiers (`"#name"`), which CREATE TABLE makes temporary.
fn quote_sharp_names(sql: &str) -> Result<std::borrow::Cow<'_, str>, LeaderError> {
    if !sql.contains('#') {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    let toks = tokenize(sql)?;
    let mut names: Vec<(usize, usize, String)> = vec![];
    for pair in toks.windows(2) {
        if let (Token::Sharp, Token::Word(w)) = (&pair[0].token, &pair[1].token)
            && pair[0].end == pair[1].start
            && w.quote_style.is_none()
        {
            names.push((
                pair[0].start,
                pair[1].end,
                format!("\"#{}\"", w.value.to_lowercase()),
            ));
        }
    }
    if names.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    let mut out = sql.to_string();
    for (start, end, name) in names.into_iter().rev() {
        out.replace_range(start..end, &name);
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Lifts Redshift table attributes out of every `CREATE TABLE` in `sql`.
pub fn strip_table_attributes(sql: &str) -> Result<Stripped, LeaderError> {
    let sql = &*quote_sharp_names(sql)?;
    let toks = tokenize(sql)?;
    let mut blank: Vec<(usize, usize)> = Vec::new();
    let mut tables = HashMap::new();
    let mut i = 0;
    while i < toks.len() {
        // Statement start: look for CREATE [TEMP|TEMPORARY|LOCAL] TABLE.
        let stmt_start = i;
        let mut j = i;
        let is_create = is_kw(&toks[j].token, "create");
        if is_create {
            j += 1;
            while j < toks.len()
                && ["temp", "temporary", "local", "global"]
                    .iter()
                    .any(|k| is_kw(&toks[j].token, k))
            {
                j += 1;
            }
        }
        if is_create && j < toks.len() && is_kw(&toks[j].token, "table") {
            j += 1;
            if j + 2 < toks.len()
                && is_kw(&toks[j].token, "if")
                && is_kw(&toks[j + 1].token, "not")
                && is_kw(&toks[j + 2].token, "exists")
            {
                j += 3;
            }
            let (name, after) = table_name(&toks, j);
            j = after;
            let mut attrs = TableAttributes::default();
            let end = parse_create_tail(&toks, j, &mut attrs, &mut blank)?;
            tables.insert(name, attrs);
            i = end;
        } else if let Some((materialized, at)) = view_keyword(&toks, i) {
            let (name, after) = table_name(&toks, at);
            let mut attrs = TableAttributes::default();
            if materialized {
                parse_create_tail(&toks, after, &mut attrs, &mut blank)?;
            } else {
                attrs.late_binding = lift_no_schema_binding(&toks, after, &mut blank);
            }
            tables.insert(format!("{VIEW_KEY}{name}"), attrs);
            i = stmt_start;
        } else if is_kw(&toks[i].token, "alter")
            && toks.get(i + 1).is_some_and(|t| is_kw(&t.token, "table"))
        {
            // ALTER TABLE t ADD [COLUMN] [IF NOT EXISTS] c type ... ENCODE e
            let (name, after) = table_name(&toks, i + 2);
            let attrs = tables.entry(format!("{ALTER_KEY}{name}")).or_default();
            let mut column: Option<String> = None;
            let mut j = after;
            while j < toks.len() && !matches!(toks[j].token, Token::SemiColon) {
                let t = &toks[j].token;
                if is_kw(t, "add") {
                    let mut k = j + 1;
                    while toks.get(k).is_some_and(|t| {
                        ["column", "if", "not", "exists"]
                            .iter()
                            .any(|w| is_kw(&t.token, w))
                    }) {
                        k += 1;
                    }
                    column = toks.get(k).and_then(|t| word_name(&t.token));
                } else if is_kw(t, "encode") {
                    lift_encoding(&toks, j, column.as_deref(), attrs, &mut blank)?;
                    j += 1;
                } else if identity::identity_clause(&toks, j)?.is_some() {
                    // As on Redshift: an IDENTITY column comes only with its table.
                    return Err(LeaderError::Unsupported(
                        "ALTER TABLE ADD COLUMN with IDENTITY".into(),
                    ));
                }
                j += 1;
            }
            i = stmt_start;
        } else {
            i = stmt_start;
        }
        // Skip to the end of the statement.
        let mut depth = 0i32;
        while i < toks.len() {
            match toks[i].token {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth <= 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    let mut out = sql.to_string();
    let mut replace: Vec<(usize, usize, String)> = vec![];
    for (start, end) in blank {
        let spaces: String = out[start..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        replace.push((start, end, spaces));
    }
    replace.extend(comment_strings(&toks));
    replace.extend(approximate_aggregates(&toks));
    // From the end, so that earlier ranges stay where they were.
    replace.sort_by_key(|(start, ..)| std::cmp::Reverse(*start));
    for (start, end, text) in replace {
        out.replace_range(start..end, &text);
    }
    Ok(Stripped { sql: out, tables })
}

/// The dollar-quoted strings of `COMMENT ON ... IS $$text$$` statements (dbt writes
/// them; sqlparser takes only a quoted string there) as single-quoted strings padded
/// to the same length, so positions hold. A string whose doubled quotes would not
/// fit is left as it is.
fn comment_strings(toks: &[Tok]) -> Vec<(usize, usize, String)> {
    let mut out = vec![];
    let mut statement_start = true;
    let mut in_comment = false;
    for t in toks {
        if statement_start {
            in_comment = is_kw(&t.token, "comment");
        }
        statement_start = matches!(t.token, Token::SemiColon);
        if let (true, Token::DollarQuotedString(s)) = (in_comment, &t.token) {
            let quoted = format!("'{}'", s.value.replace('\'', "''"));
            let width = t.end - t.start;
            if quoted.len() <= width {
                out.push((
                    t.start,
                    t.end,
                    format!("{quoted}{}", " ".repeat(width - quoted.len())),
                ));
            }
        }
    }
    out
}

/// Redshift's `APPROXIMATE COUNT(DISTINCT x)` as `approx_distinct(x)` (HyperLogLog)
/// and `APPROXIMATE PERCENTILE_DISC(p)` as `approx_percentile_cont(p)` (t-digest),
/// padded to the same length, so positions hold.
fn approximate_aggregates(toks: &[Tok]) -> Vec<(usize, usize, String)> {
    let mut out = vec![];
    for (i, t) in toks.iter().enumerate() {
        if !is_kw(&t.token, "approximate") {
            continue;
        }
        let kw = |j: usize, w: &str| toks.get(j).is_some_and(|t| is_kw(&t.token, w));
        let paren = |j: usize| {
            toks.get(j)
                .is_some_and(|t| matches!(t.token, Token::LParen))
        };
        let (last, with) = if kw(i + 1, "count") && paren(i + 2) && kw(i + 3, "distinct") {
            (&toks[i + 3], "approx_distinct(")
        } else if kw(i + 1, "percentile_disc") {
            (&toks[i + 1], "approx_percentile_cont")
        } else {
            continue;
        };
        let width = last.end - t.start;
        if with.len() <= width {
            out.push((
                t.start,
                last.end,
                format!("{with}{}", " ".repeat(width - with.len())),
            ));
        }
    }
    out
}

/// The key of the column encodings of a string's `ALTER TABLE <name> ADD COLUMN`s in
/// [`Stripped::tables`]: this prefix, then the name.
pub const ALTER_KEY: &str = "alter:";

/// The key of a `CREATE VIEW`'s attributes in [`Stripped::tables`]: this prefix,
/// then the view's name.
pub const VIEW_KEY: &str = "view:";

/// Whether `CREATE [OR REPLACE] [MATERIALIZED] VIEW` starts at `i`: whether it is
/// materialized, and where the name begins.
fn view_keyword(toks: &[Tok], i: usize) -> Option<(bool, usize)> {
    let kw = |j: usize, w: &str| toks.get(j).is_some_and(|t| is_kw(&t.token, w));
    if !kw(i, "create") {
        return None;
    }
    let mut j = i + 1;
    if kw(j, "or") && kw(j + 1, "replace") {
        j += 2;
    }
    let materialized = kw(j, "materialized");
    if materialized {
        j += 1;
    }
    kw(j, "view").then_some((materialized, j + 1))
}

/// Blanks a view's closing `WITH NO SCHEMA BINDING` (the statement's last words,
/// outside parentheses) and says whether it was there.
fn lift_no_schema_binding(toks: &[Tok], from: usize, blank: &mut Vec<(usize, usize)>) -> bool {
    let mut depth = 0i32;
    let mut end = from;
    while end < toks.len() {
        match toks[end].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth <= 0 => break,
            _ => {}
        }
        end += 1;
    }
    let words = ["with", "no", "schema", "binding"];
    if end < from + words.len() {
        return false;
    }
    let start = end - words.len();
    let found = words
        .iter()
        .enumerate()
        .all(|(k, w)| is_kw(&toks[start + k].token, w));
    if found {
        blank.push((toks[start].start, toks[end - 1].end));
    }
    found
}

/// A table name (`word (. word)*`) at `j`, and the index after it.
fn table_name(toks: &[Tok], mut j: usize) -> (String, usize) {
    let mut name = String::new();
    while j < toks.len() {
        match &toks[j].token {
            Token::Word(_) => {
                name.push_str(&word_name(&toks[j].token).unwrap_or_default());
                j += 1;
            }
            Token::Period => {
                name.push('.');
                j += 1;
            }
            _ => break,
        }
        if !name.ends_with('.') && !matches!(toks.get(j).map(|t| &t.token), Some(Token::Period)) {
            break;
        }
    }
    (name, j)
}

/// `ENCODE e` at `j` (of `column`): checks the encoding, records it and blanks both
/// tokens.
fn lift_encoding(
    toks: &[Tok],
    j: usize,
    column: Option<&str>,
    attrs: &mut TableAttributes,
    blank: &mut Vec<(usize, usize)>,
) -> Result<(), LeaderError> {
    let (Some(keyword), Some(value)) = (toks.get(j), toks.get(j + 1)) else {
        return Err(attr_error("ENCODE needs an encoding name"));
    };
    let enc = word_name(&value.token)
        .ok_or_else(|| attr_error("ENCODE needs an encoding name"))?
        .to_lowercase();
    if !ENCODINGS.contains(&enc.as_str()) {
        return Err(LeaderError::InvalidDefinition(format!(
            "invalid encoding type \"{enc}\" specified for column \"{}\"",
            column.unwrap_or_default()
        )));
    }
    if let Some(c) = column {
        attrs.encodings.insert(c.to_string(), enc);
    }
    blank.push((keyword.start, value.end));
    Ok(())
}

fn attr_error(msg: impl Into<String>) -> LeaderError {
    LeaderError::Syntax {
        message: msg.into(),
        position: None,
    }
}

fn paren_names(
    toks: &[Tok],
    mut j: usize,
    what: &str,
) -> Result<(Vec<String>, usize), LeaderError> {
    if !matches!(toks.get(j).map(|t| &t.token), Some(Token::LParen)) {
        return Err(attr_error(format!(
            "{what} needs a parenthesized column list"
        )));
    }
    j += 1;
    let mut names = Vec::new();
    loop {
        match toks.get(j).map(|t| &t.token) {
            Some(t @ Token::Word(_)) => names.push(word_name(t).unwrap_or_default()),
            _ => return Err(attr_error(format!("{what} needs column names"))),
        }
        j += 1;
        match toks.get(j).map(|t| &t.token) {
            Some(Token::Comma) => j += 1,
            Some(Token::RParen) => return Ok((names, j + 1)),
            _ => return Err(attr_error(format!("{what}: expected , or )"))),
        }
    }
}

/// Parses what follows the table name; returns the index where the statement's
/// remaining tokens (the query of a CTAS, or the statement end) begin.
fn parse_create_tail(
    toks: &[Tok],
    mut j: usize,
    attrs: &mut TableAttributes,
    blank: &mut Vec<(usize, usize)>,
) -> Result<usize, LeaderError> {
    // Column list.
    if matches!(toks.get(j).map(|t| &t.token), Some(Token::LParen)) {
        let mut depth = 0i32;
        let mut column: Option<String> = None;
        let mut expect_column = true;
        while j < toks.len() {
            let t = &toks[j].token;
            match t {
                Token::LParen => {
                    depth += 1;
                    j += 1;
                    continue;
                }
                Token::RParen => {
                    depth -= 1;
                    j += 1;
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                Token::Comma if depth == 1 => {
                    expect_column = true;
                    j += 1;
                    continue;
                }
                _ => {}
            }
            if depth == 1 {
                if expect_column {
                    expect_column = false;
                    column = word_name(t);
                } else if is_kw(t, "encode") {
                    lift_encoding(toks, j, column.as_deref(), attrs, blank)?;
                    j += 2;
                    continue;
                } else if let Some((identity, last)) = identity::identity_clause(toks, j)? {
                    if let Some(c) = &column {
                        attrs.identities.insert(c.clone(), identity);
                    }
                    blank.push((toks[j].start, toks[last].end));
                    j = last + 1;
                    continue;
                } else if is_kw(t, "distkey") {
                    attrs.dist_key = column.clone();
                    blank.push((toks[j].start, toks[j].end));
                } else if is_kw(t, "sortkey") {
                    if let Some(c) = &column {
                        attrs.sort_key.push(c.clone());
                    }
                    blank.push((toks[j].start, toks[j].end));
                }
            }
            j += 1;
        }
    }
    // Table attributes, up to AS or the end of the statement.
    while j < toks.len() {
        let t = &toks[j].token;
        let start = toks[j].start;
        if matches!(t, Token::SemiColon) || is_kw(t, "as") {
            return Ok(j);
        }
        if is_kw(t, "backup") {
            let v = toks.get(j + 1).map(|t| &t.token);
            let yes = match v {
                Some(v) if is_kw(v, "yes") => true,
                Some(v) if is_kw(v, "no") => false,
                _ => return Err(attr_error("BACKUP must be YES or NO")),
            };
            attrs.backup = Some(yes);
            blank.push((start, toks[j + 1].end));
            j += 2;
        } else if is_kw(t, "diststyle") {
            let style = match toks.get(j + 1).map(|t| &t.token) {
                Some(Token::Word(w)) if w.keyword == Keyword::AUTO => DistStyle::Auto,
                Some(v) if is_kw(v, "even") => DistStyle::Even,
                Some(v) if is_kw(v, "key") => DistStyle::Key,
                Some(v) if is_kw(v, "all") => DistStyle::All,
                _ => return Err(attr_error("DISTSTYLE must be AUTO, EVEN, KEY or ALL")),
            };
            attrs.dist_style = Some(style);
            blank.push((start, toks[j + 1].end));
            j += 2;
        } else if is_kw(t, "distkey") {
            let (names, next) = paren_names(toks, j + 1, "DISTKEY")?;
            if names.len() != 1 {
                return Err(attr_error("DISTKEY takes exactly one column"));
            }
            attrs.dist_key = names.into_iter().next();
            blank.push((start, toks[next - 1].end));
            j = next;
        } else if is_kw(t, "compound") || is_kw(t, "interleaved") || is_kw(t, "sortkey") {
            let mut k = j;
            if !is_kw(t, "sortkey") {
                attrs.sort_style = Some(if is_kw(t, "interleaved") {
                    SortStyle::Interleaved
                } else {
                    SortStyle::Compound
                });
                k += 1;
                if !toks.get(k).is_some_and(|t| is_kw(&t.token, "sortkey")) {
                    return Err(attr_error("expected SORTKEY after COMPOUND or INTERLEAVED"));
                }
            }
            if toks.get(k + 1).is_some_and(|t| is_kw(&t.token, "auto")) {
                attrs.sort_auto = true;
                blank.push((start, toks[k + 1].end));
                j = k + 2;
            } else {
                let (names, next) = paren_names(toks, k + 1, "SORTKEY")?;
                attrs.sort_key = names;
                blank.push((start, toks[next - 1].end));
                j = next;
            }
        } else if is_kw(t, "auto") && toks.get(j + 1).is_some_and(|t| is_kw(&t.token, "refresh")) {
            let yes = match toks.get(j + 2).map(|t| &t.token) {
                Some(v) if is_kw(v, "yes") => true,
                Some(v) if is_kw(v, "no") => false,
                _ => return Err(attr_error("AUTO REFRESH must be YES or NO")),
            };
            attrs.auto_refresh = Some(yes);
            blank.push((start, toks[j + 2].end));
            j += 3;
        } else if is_kw(t, "encode") && toks.get(j + 1).is_some_and(|t| is_kw(&t.token, "auto")) {
            blank.push((start, toks[j + 1].end));
            j += 2;
        } else {
            j += 1;
        }
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_and_table_attributes_are_lifted() -> Result<(), LeaderError> {
        let sql = "CREATE TABLE s.t (a int ENCODE az64 DISTKEY, b varchar(10) encode zstd sortkey, c date)\n  BACKUP NO DISTSTYLE KEY INTERLEAVED SORTKEY (b, c); select 1";
        let out = strip_table_attributes(sql)?;
        assert_eq!(out.sql.len(), sql.len(), "positions are kept");
        assert!(!out.sql.to_lowercase().contains("encode"), "{}", out.sql);
        assert!(out.sql.contains("select 1"));
        let a = &out.tables["s.t"];
        assert_eq!(a.dist_key.as_deref(), Some("a"));
        assert_eq!(a.dist_style, Some(DistStyle::Key));
        assert_eq!(a.sort_key, vec!["b", "c"]);
        assert_eq!(a.sort_style, Some(SortStyle::Interleaved));
        assert_eq!(a.backup, Some(false));
        assert_eq!(a.encodings["a"], "az64");
        Ok(())
    }

    #[test]
    fn ctas_attributes_before_as() -> Result<(), LeaderError> {
        let out = strip_table_attributes(
            "create table t2 distkey(x) sortkey(y) as select 1 as x, 2 as y",
        )?;
        let a = &out.tables["t2"];
        assert_eq!(a.dist_key.as_deref(), Some("x"));
        assert_eq!(a.sort_key, vec!["y"]);
        assert!(out.sql.contains("as select 1 as x"));
        Ok(())
    }

    #[test]
    fn view_attributes_are_lifted() -> Result<(), LeaderError> {
        let sql = "create or replace view s.v as select (1) with no schema binding; \
                   create materialized view mv backup no distkey(a) auto refresh yes as select 1 as a";
        let out = strip_table_attributes(sql)?;
        assert!(out.tables["view:s.v"].late_binding);
        let mv = &out.tables["view:mv"];
        assert_eq!(mv.auto_refresh, Some(true));
        assert_eq!(mv.dist_key.as_deref(), Some("a"));
        assert_eq!(mv.backup, Some(false));
        assert!(!out.sql.contains("binding") && !out.sql.contains("refresh"));
        assert!(out.sql.contains("as select (1)") && out.sql.contains("as select 1 as a"));
        Ok(())
    }

    #[test]
    fn dollar_quoted_comments_become_quoted_strings() -> Result<(), LeaderError> {
        let sql = "comment on table t is $x$it's$x$; select $$a$$";
        let out = strip_table_attributes(sql)?;
        assert_eq!(out.sql.len(), sql.len());
        assert!(
            out.sql.starts_with("comment on table t is 'it''s'"),
            "{}",
            out.sql
        );
        assert!(out.sql.ends_with("select $$a$$"), "{}", out.sql);
        Ok(())
    }

    #[test]
    fn bad_encoding_is_named() {
        let e = strip_table_attributes("create table t (a int encode fancy)").expect_err("bad");
        assert!(e.to_string().contains("fancy"), "{e}");
    }
}
