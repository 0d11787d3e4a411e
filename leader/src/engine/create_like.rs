//! `CREATE TABLE t (LIKE parent [INCLUDING | EXCLUDING DEFAULTS])`, as Redshift
//! makes it: the parent's column names, declared types, NOT NULL and ENCODE, its
//! DEFAULTs and IDENTITY columns only with INCLUDING DEFAULTS, and its DISTSTYLE, DISTKEY and SORTKEY
//! unless the statement gives its own. Constraints are not copied.

use blueshift_storage::catalog::{DistStyle, TableDef};
use datafusion::sql::sqlparser::ast::{CreateTableLikeDefaults, CreateTableLikeKind};

use super::*;
use crate::sql::redshift_ddl::TableAttributes;
use crate::system_tables::constraints::{identity_clause, quote_ident, sort_key_clause};

/// The column list and attributes of a table like `parent`, as CREATE TABLE text.
fn like_text(parent: &TableDef, defaults: bool) -> String {
    let columns: Vec<String> = parent
        .columns
        .iter()
        .map(|c| {
            let mut text = format!("{} {}", quote_ident(&c.name), c.declared_type);
            if !c.nullable {
                text.push_str(" NOT NULL");
            }
            if let (true, Some(d)) = (defaults, &c.default) {
                text.push_str(&format!(" DEFAULT {d}"));
            }
            if let (true, Some(i)) = (defaults, &c.identity) {
                text.push_str(&identity_clause(i));
            }
            if let Some(e) = &c.encoding {
                text.push_str(&format!(" ENCODE {e}"));
            }
            text
        })
        .collect();
    let mut attrs = String::new();
    match (parent.dist_style, parent.dist_key) {
        (DistStyle::Key, Some(k)) => {
            attrs.push_str(&format!(
                " DISTSTYLE KEY DISTKEY({})",
                quote_ident(&parent.columns[k].name)
            ));
        }
        (DistStyle::All, _) => attrs.push_str(" DISTSTYLE ALL"),
        (DistStyle::Even, _) => attrs.push_str(" DISTSTYLE EVEN"),
        _ => {}
    }
    if let Some(sort_key) = sort_key_clause(parent) {
        attrs.push(' ');
        attrs.push_str(&sort_key);
    }
    format!("({}){attrs}", columns.join(", "))
}

impl Engine {
    /// `stmt` and `attrs` with a LIKE clause replaced by the parent's columns and
    /// (where `attrs` has none) its distribution and sort key; others as they are.
    pub(super) fn expand_like(
        &self,
        session: &Session,
        stmt: &Statement,
        attrs: TableAttributes,
    ) -> Result<(Statement, TableAttributes), LeaderError> {
        let Statement::CreateTable(ct) = stmt else {
            return Ok((stmt.clone(), attrs));
        };
        let Some(CreateTableLikeKind::Parenthesized(like) | CreateTableLikeKind::Plain(like)) =
            &ct.like
        else {
            return Ok((stmt.clone(), attrs));
        };
        if !ct.columns.is_empty() || ct.query.is_some() {
            return Err(LeaderError::Unsupported(
                "CREATE TABLE ... LIKE with other columns or AS".into(),
            ));
        }
        let (schema, name) = resolve(&TableReference::from(name_key(&like.name)))?;
        let parent = self
            .catalog_of(session)
            .table(&schema, &name)?
            .ok_or_else(|| blueshift_storage::StorageError::TableNotFound(name_key(&like.name)))?;
        let defaults = matches!(like.defaults, Some(CreateTableLikeDefaults::Including));
        let temp = if ct.temporary { "TEMP " } else { "" };
        let sql = format!(
            "CREATE {temp}TABLE {} {}",
            ct.name,
            like_text(&parent, defaults)
        );
        let mut parsed = self.parser.parse(&sql)?;
        let Some(crate::sql::ParsedStatement::Sql(expanded)) = parsed.statements.pop() else {
            return Err(LeaderError::Unsupported(format!(
                "CREATE TABLE ... LIKE: {sql}"
            )));
        };
        let inherited = parsed.attributes.into_values().next().unwrap_or_default();
        let own_distribution = attrs.dist_style.is_some() || attrs.dist_key.is_some();
        let own_sort = !attrs.sort_key.is_empty() || attrs.sort_auto;
        let mut merged = attrs;
        if !own_distribution {
            merged.dist_style = inherited.dist_style;
            merged.dist_key = inherited.dist_key;
        }
        if !own_sort {
            merged.sort_key = inherited.sort_key;
            merged.sort_style = inherited.sort_style;
        }
        merged.identities.extend(inherited.identities);
        for (column, encoding) in inherited.encodings {
            merged.encodings.entry(column).or_insert(encoding);
        }
        Ok((*expanded, merged))
    }
}
