//! Redshift's SHOW commands for the catalog, each as the query over the catalog
//! views that answers it, in Redshift's result shapes: SHOW DATABASES, SHOW SCHEMAS
//! FROM DATABASE, SHOW TABLES FROM SCHEMA, SHOW COLUMNS FROM TABLE, SHOW CONSTRAINTS
//! {PRIMARY KEYS | FOREIGN KEYS [EXPORTED]} FROM TABLE, SHOW FUNCTIONS FROM SCHEMA,
//! SHOW TABLE and SHOW VIEW. Each but SHOW CONSTRAINTS, SHOW TABLE and SHOW VIEW
//! takes `[LIKE 'pattern']`; all but SHOW TABLE and SHOW VIEW take `[LIMIT n]`.

use super::grants::literal;
use super::*;

/// The words after SHOW that start one of these commands.
pub(super) const WORDS: &[&str] = &[
    "databases",
    "schemas",
    "tables",
    "columns",
    "constraints",
    "functions",
    "table",
    "view",
];

/// `[LIKE 'p']` as ` and column like 'p'`.
fn like(c: &mut Cursor<'_>, column: &str) -> Result<String, LeaderError> {
    if c.keyword("like") {
        let pattern = c.string("a LIKE pattern")?;
        return Ok(format!(" and {column} like {}", literal(&pattern)));
    }
    Ok(String::new())
}

/// `[LIMIT n]` (Redshift's limit is 10000).
fn limit(c: &mut Cursor<'_>) -> Result<String, LeaderError> {
    if c.keyword("limit") {
        let n = c.number("LIMIT")?;
        if n > 10_000 {
            return Err(c.error("LIMIT of SHOW is at most 10000"));
        }
        return Ok(format!(" limit {n}"));
    }
    Ok(String::new())
}

/// `[database.]schema`: the schema, and a filter on the database when named.
fn schema_name(c: &mut Cursor<'_>) -> Result<(String, String), LeaderError> {
    let parts = c.object_name()?;
    match parts.as_slice() {
        [s] => Ok((s.clone(), String::new())),
        [d, s] => Ok((s.clone(), format!(" and database_name = {}", literal(d)))),
        _ => Err(c.error("expected [database.]schema")),
    }
}

/// `[[database.]schema.]table`: (schema, table), `public` when no schema is named.
fn table_name(c: &mut Cursor<'_>) -> Result<(String, String), LeaderError> {
    let parts = c.object_name()?;
    match parts.as_slice() {
        [t] => Ok(("public".into(), t.clone())),
        [s, t] | [_, s, t] => Ok((s.clone(), t.clone())),
        _ => Err(c.error("expected [[database.]schema.]table")),
    }
}

/// After SHOW: the query that answers one of the commands above.
pub(super) fn show_catalog(c: &mut Cursor<'_>) -> Result<AccessStatement, LeaderError> {
    let query = if c.keyword("databases") {
        let filter = like(c, "database_name")?;
        format!(
            "select database_name, database_owner, database_type, database_acl, \
             database_options as parameters, database_isolation_level \
             from svv_redshift_databases where true{filter} order by database_name{}",
            limit(c)?
        )
    } else if c.keyword("schemas") {
        c.expect_keyword("from")?;
        c.expect_keyword("database")?;
        let database = c.name("a database name")?;
        let filter = like(c, "schema_name")?;
        format!(
            "select * from svv_all_schemas where database_name = {}{filter} \
             order by schema_name{}",
            literal(&database),
            limit(c)?
        )
    } else if c.keyword("tables") {
        c.expect_keyword("from")?;
        c.expect_keyword("schema")?;
        let (schema, database) = schema_name(c)?;
        let filter = like(c, "table_name")?;
        format!(
            "select * from show_tables where schema_name = {}{database}{filter} \
             order by table_name{}",
            literal(&schema),
            limit(c)?
        )
    } else if c.keyword("columns") {
        c.expect_keyword("from")?;
        c.expect_keyword("table")?;
        let (schema, table) = table_name(c)?;
        let filter = like(c, "column_name")?;
        format!(
            "select * from show_columns where schema_name = {} and table_name = {}{filter} \
             order by ordinal_position{}",
            literal(&schema),
            literal(&table),
            limit(c)?
        )
    } else if c.keyword("constraints") {
        let (source, order) = if c.keyword("primary") {
            c.expect_keyword("keys")?;
            ("show_primary_keys", "key_seq")
        } else {
            c.expect_keyword("foreign")?;
            c.expect_keyword("keys")?;
            if c.keyword("exported") {
                (
                    "show_exported_keys",
                    "fk_schema_name, fk_table_name, fk_name, key_seq",
                )
            } else {
                (
                    "show_foreign_keys",
                    "pk_schema_name, pk_table_name, fk_name, key_seq",
                )
            }
        };
        c.expect_keyword("from")?;
        c.expect_keyword("table")?;
        let (schema, table) = table_name(c)?;
        let (s, t) = if source == "show_exported_keys" {
            ("pk_schema_name", "pk_table_name")
        } else if source == "show_foreign_keys" {
            ("fk_schema_name", "fk_table_name")
        } else {
            ("schema_name", "table_name")
        };
        let from = if source == "show_exported_keys" {
            "show_foreign_keys"
        } else {
            source
        };
        format!(
            "select * from {from} where {s} = {} and {t} = {} order by {order}{}",
            literal(&schema),
            literal(&table),
            limit(c)?
        )
    } else if c.keyword("functions") {
        // Blueshift has no user-defined functions: the list is empty.
        c.expect_keyword("from")?;
        c.expect_keyword("schema")?;
        schema_name(c)?;
        like(c, "function_name")?;
        limit(c)?;
        "select cast(null as varchar) as database_name, cast(null as varchar) as schema_name, \
         cast(null as varchar) as function_name, cast(null as integer) as number_of_arguments, \
         cast(null as varchar) as argument_list, cast(null as varchar) as return_type, \
         cast(null as varchar) as remarks where false"
            .to_string()
    } else if c.keyword("table") {
        let (schema, table) = table_name(c)?;
        format!(
            "select show_table_ddl({}, {}) as \"Show Table DDL statement\"",
            literal(&schema),
            literal(&table)
        )
    } else {
        c.expect_keyword("view")?;
        let (schema, view) = table_name(c)?;
        format!(
            "select show_view_ddl({}, {}) as \"Show View DDL statement\"",
            literal(&schema),
            literal(&view)
        )
    };
    Ok(AccessStatement::Show { query })
}
