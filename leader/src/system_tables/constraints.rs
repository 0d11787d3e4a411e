//! Table constraints as the catalog lists them: `pg_get_constraintdef`'s text and
//! information_schema's TABLE_CONSTRAINTS, KEY_COLUMN_USAGE,
//! REFERENTIAL_CONSTRAINTS and CONSTRAINT_COLUMN_USAGE, with PostgreSQL's columns.
//! A user who is not a superuser sees the constraints of the tables it owns or
//! holds a privilege on.

use arrow::array::RecordBatch;
use blueshift_storage::catalog::access::{self, Principal, Privileges};
use blueshift_storage::catalog::{Catalog, Constraint, ConstraintKind, SortStyle, TableDef};
use datafusion::error::Result;

use super::svv_catalog::{Kind, text_rows};
use crate::error::LeaderError;
use crate::session::DATABASE;

/// An identifier as PostgreSQL prints it (quoted unless it needs no quotes).
pub use blueshift_operators::functions::string::quote_ident;

fn column_name(t: &TableDef, id: u32) -> String {
    t.columns
        .iter()
        .find(|c| c.id == id)
        .map_or_else(|| format!("#{id}"), |c| c.name.clone())
}

/// A constraint as `pg_get_constraintdef` shows it: `PRIMARY KEY (a, b)`,
/// `UNIQUE (b)`, `FOREIGN KEY (x) REFERENCES u(a)` (the referenced table
/// schema-qualified outside `public`).
pub fn constraint_definition(tables: &[TableDef], table: &TableDef, c: &Constraint) -> String {
    let names = |t: &TableDef, ids: &[u32]| {
        ids.iter()
            .map(|id| quote_ident(&column_name(t, *id)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let own = names(table, &c.columns);
    match &c.kind {
        ConstraintKind::PrimaryKey => format!("PRIMARY KEY ({own})"),
        ConstraintKind::Unique => format!("UNIQUE ({own})"),
        ConstraintKind::ForeignKey { table: id, columns } => {
            let Some(target) = tables.iter().find(|t| t.id == *id) else {
                return format!("FOREIGN KEY ({own})");
            };
            let name = if target.schema == "public" {
                quote_ident(&target.name)
            } else {
                format!(
                    "{}.{}",
                    quote_ident(&target.schema),
                    quote_ident(&target.name)
                )
            };
            format!(
                "FOREIGN KEY ({own}) REFERENCES {name}({})",
                names(target, columns)
            )
        }
    }
}

/// The key (primary or unique) of `target` that foreign key `columns` references.
pub fn referenced_key<'a>(target: &'a TableDef, columns: &[u32]) -> Option<&'a Constraint> {
    target.constraints.iter().find(|c| {
        matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
            && c.columns.len() == columns.len()
            && c.columns.iter().all(|x| columns.contains(x))
    })
}

/// The tables this module answers: information_schema's, and what SHOW
/// CONSTRAINTS reads.
pub const TABLES: &[&str] = &[
    "information_schema.table_constraints",
    "information_schema.key_column_usage",
    "information_schema.referential_constraints",
    "information_schema.constraint_column_usage",
    "show_primary_keys",
    "show_foreign_keys",
];

/// The first columns of TABLE_CONSTRAINTS and KEY_COLUMN_USAGE.
const CONSTRAINT_AND_TABLE: &[(&str, bool)] = &[
    ("constraint_catalog", false),
    ("constraint_schema", false),
    ("constraint_name", false),
    ("table_catalog", false),
    ("table_schema", false),
    ("table_name", false),
];

/// The foreign keys of `tables`: (table, constraint, referenced table id, referenced
/// column ids).
fn foreign_keys<'a>(
    tables: impl Iterator<Item = &'a TableDef>,
) -> impl Iterator<Item = (&'a TableDef, &'a Constraint, u64, &'a [u32])> {
    tables.flat_map(|t| {
        t.constraints.iter().filter_map(move |c| match &c.kind {
            ConstraintKind::ForeignKey { table, columns } => {
                Some((t, c, *table, columns.as_slice()))
            }
            _ => None,
        })
    })
}

/// Table `name` of [`TABLES`].
pub(super) fn build(name: &str, catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let all = catalog.all_tables().map_err(LeaderError::from)?;
    let visible = all
        .iter()
        .filter(|t| !access::effective(t.owner, &t.acl, viewer, Privileges::ALL_TABLE).is_empty());
    let db = || Some(DATABASE.to_string());
    let s = |v: &str| Some(v.to_string());
    let n = |v: usize| Some((v + 1).to_string());
    // The constraint's and its table's catalog, schema and name.
    let constraint_and_table = |t: &TableDef, c: &Constraint| {
        vec![
            db(),
            s(&t.schema),
            s(&c.name),
            db(),
            s(&t.schema),
            s(&t.name),
        ]
    };
    let mut rows: Vec<Vec<Option<String>>> = vec![];
    let columns: Vec<(&str, bool)> = match name {
        "information_schema.table_constraints" => {
            for t in visible {
                for c in &t.constraints {
                    let ty = match c.kind {
                        ConstraintKind::PrimaryKey => "PRIMARY KEY",
                        ConstraintKind::Unique => "UNIQUE",
                        ConstraintKind::ForeignKey { .. } => "FOREIGN KEY",
                    };
                    let nulls = (!matches!(c.kind, ConstraintKind::ForeignKey { .. }))
                        .then(|| "YES".to_string());
                    let mut row = constraint_and_table(t, c);
                    row.extend([s(ty), s("NO"), s("NO"), s("YES"), nulls]);
                    rows.push(row);
                }
            }
            [
                CONSTRAINT_AND_TABLE,
                &[
                    ("constraint_type", false),
                    ("is_deferrable", false),
                    ("initially_deferred", false),
                    ("enforced", false),
                    ("nulls_distinct", false),
                ],
            ]
            .concat()
        }
        "information_schema.key_column_usage" => {
            for t in visible {
                for c in &t.constraints {
                    let referenced = match &c.kind {
                        ConstraintKind::ForeignKey { table, columns } => all
                            .iter()
                            .find(|x| x.id == *table)
                            .and_then(|x| referenced_key(x, columns))
                            .map(|k| (columns, k)),
                        _ => None,
                    };
                    for (i, id) in c.columns.iter().enumerate() {
                        let position = referenced.and_then(|(to, key)| {
                            let target = to.get(i)?;
                            key.columns.iter().position(|k| k == target).and_then(n)
                        });
                        let mut row = constraint_and_table(t, c);
                        row.extend([s(&column_name(t, *id)), n(i), position]);
                        rows.push(row);
                    }
                }
            }
            [
                CONSTRAINT_AND_TABLE,
                &[
                    ("column_name", false),
                    ("ordinal_position", true),
                    ("position_in_unique_constraint", true),
                ],
            ]
            .concat()
        }
        "show_primary_keys" => {
            for t in visible {
                for c in t
                    .constraints
                    .iter()
                    .filter(|c| c.kind == ConstraintKind::PrimaryKey)
                {
                    for (i, id) in c.columns.iter().enumerate() {
                        rows.push(vec![
                            db(),
                            s(&t.schema),
                            s(&t.name),
                            s(&c.name),
                            s(&column_name(t, *id)),
                            n(i),
                        ]);
                    }
                }
            }
            vec![
                ("database_name", false),
                ("schema_name", false),
                ("table_name", false),
                ("pk_name", false),
                ("column_name", false),
                ("key_seq", true),
            ]
        }
        "show_foreign_keys" => {
            // Redshift leaves the rules and deferrability empty (drivers read NO
            // ACTION and NOT DEFERRABLE).
            for (t, c, table, columns) in foreign_keys(visible) {
                let Some(target) = all.iter().find(|x| x.id == table) else {
                    continue;
                };
                let key = referenced_key(target, columns).map(|k| k.name.clone());
                for (i, (from, to)) in c.columns.iter().zip(columns).enumerate() {
                    let (pk_schema, pk_table) = (s(&target.schema), s(&target.name));
                    let mut row = vec![db(), pk_schema, pk_table, s(&column_name(target, *to))];
                    row.extend([db(), s(&t.schema), s(&t.name), s(&column_name(t, *from))]);
                    row.extend([n(i), s(&c.name), key.clone(), None, None, None]);
                    rows.push(row);
                }
            }
            vec![
                ("pk_database_name", false),
                ("pk_schema_name", false),
                ("pk_table_name", false),
                ("pk_column_name", false),
                ("fk_database_name", false),
                ("fk_schema_name", false),
                ("fk_table_name", false),
                ("fk_column_name", false),
                ("key_seq", true),
                ("fk_name", false),
                ("pk_name", false),
                ("update_rule", true),
                ("delete_rule", true),
                ("deferrability", true),
            ]
        }
        "information_schema.referential_constraints" => {
            for (t, c, table, columns) in foreign_keys(visible) {
                let target = all.iter().find(|x| x.id == table);
                let key = target.and_then(|x| referenced_key(x, columns));
                rows.push(vec![
                    db(),
                    s(&t.schema),
                    s(&c.name),
                    db(),
                    target.map(|x| x.schema.clone()),
                    key.map(|k| k.name.clone()),
                    s("NONE"),
                    s("NO ACTION"),
                    s("NO ACTION"),
                ]);
            }
            vec![
                ("constraint_catalog", false),
                ("constraint_schema", false),
                ("constraint_name", false),
                ("unique_constraint_catalog", false),
                ("unique_constraint_schema", false),
                ("unique_constraint_name", false),
                ("match_option", false),
                ("update_rule", false),
                ("delete_rule", false),
            ]
        }
        _ => {
            // CONSTRAINT_COLUMN_USAGE: the columns a constraint uses, a foreign key's
            // being those it references.
            for t in visible {
                for c in &t.constraints {
                    let (table, ids) = match &c.kind {
                        ConstraintKind::ForeignKey { table, columns } => {
                            match all.iter().find(|x| x.id == *table) {
                                Some(x) => (x, columns),
                                None => continue,
                            }
                        }
                        _ => (t, &c.columns),
                    };
                    for id in ids {
                        rows.push(vec![
                            db(),
                            s(&table.schema),
                            s(&table.name),
                            s(&column_name(table, *id)),
                            db(),
                            s(&t.schema),
                            s(&c.name),
                        ]);
                    }
                }
            }
            vec![
                ("table_catalog", false),
                ("table_schema", false),
                ("table_name", false),
                ("column_name", false),
                ("constraint_catalog", false),
                ("constraint_schema", false),
                ("constraint_name", false),
            ]
        }
    };
    let columns: Vec<(&str, Kind)> = columns
        .into_iter()
        .map(|(name, number)| (name, if number { Kind::Int } else { Kind::Text }))
        .collect();
    text_rows(&columns, &rows)
}

/// A table's CREATE TABLE statement as Redshift's `SHOW TABLE` gives it: a line per
/// column (declared type, NOT NULL, IDENTITY, ENCODE, DISTKEY), its constraints, then its
/// distribution, sort key and BACKUP NO.
pub fn table_ddl(tables: &[TableDef], t: &TableDef) -> String {
    use blueshift_storage::catalog::DistStyle;
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let ty = super::pg_types::pg_type(&c.declared_type, &c.data_type).name;
            let mut line = format!("{} {ty}", quote_ident(&c.name));
            if !c.nullable {
                line.push_str(" NOT NULL");
            }
            if let Some(identity) = &c.identity {
                line.push_str(&identity_clause(identity));
            }
            if let Some(e) = &c.encoding {
                line.push_str(&format!(" ENCODE {e}"));
            }
            if t.dist_style == DistStyle::Key && t.dist_key == Some(i) {
                line.push_str(" distkey");
            }
            line
        })
        .collect();
    lines.extend(
        t.constraints
            .iter()
            .map(|c| constraint_definition(tables, t, c)),
    );
    let mut ddl = format!(
        "CREATE TABLE {}.{} (\n{}\n)\n",
        quote_ident(&t.schema),
        quote_ident(&t.name),
        lines.join(",\n")
    );
    if !t.backup {
        ddl.push_str("BACKUP NO ");
    }
    ddl.push_str(&format!("DISTSTYLE {}", t.dist_style.name()));
    if let Some(sort_key) = sort_key_clause(t) {
        ddl.push(' ');
        ddl.push_str(&sort_key);
    }
    ddl.push(';');
    ddl
}

/// An IDENTITY column's clause, with a space before it: ` IDENTITY(1, 1)` or
/// ` GENERATED BY DEFAULT AS IDENTITY(1, 1)`.
pub fn identity_clause(identity: &blueshift_storage::catalog::Identity) -> String {
    let kind = if identity.by_default {
        "GENERATED BY DEFAULT AS IDENTITY"
    } else {
        "IDENTITY"
    };
    format!(" {kind}({}, {})", identity.seed, identity.step)
}

/// `t`'s sort key as DDL (`SORTKEY ( a, b )`, `INTERLEAVED SORTKEY ( a )`), if
/// it has one.
pub fn sort_key_clause(t: &TableDef) -> Option<String> {
    if t.sort_key.is_empty() {
        return None;
    }
    let style = match t.sort_style {
        SortStyle::Compound => "",
        SortStyle::Interleaved => "INTERLEAVED ",
    };
    let keys: Vec<String> = t
        .sort_key
        .iter()
        .map(|&k| quote_ident(&t.columns[k].name))
        .collect();
    Some(format!("{style}SORTKEY ( {} )", keys.join(", ")))
}
