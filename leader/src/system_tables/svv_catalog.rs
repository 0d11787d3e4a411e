//! Redshift's catalog views over the Blueshift catalog, with the columns Redshift
//! documents: SVV_REDSHIFT_DATABASES, SVV_ALL_SCHEMAS and SVV_REDSHIFT_SCHEMAS,
//! SVV_TABLES, SVV_ALL_TABLES and SVV_REDSHIFT_TABLES, SVV_COLUMNS, SVV_ALL_COLUMNS
//! and SVV_REDSHIFT_COLUMNS; and the rows SHOW TABLES and SHOW COLUMNS answer
//! (`show_tables`, `show_columns`). A user who is not a superuser sees the schemas
//! and relations it owns or holds a privilege on.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use blueshift_storage::catalog::access::{self, Principal, Privileges};
use blueshift_storage::catalog::{Catalog, CommentTarget, DistStyle, SortStyle};
use datafusion::error::Result;

use super::batch;
use super::grants::{Names, acl_text};
use super::information_schema::describe;
use super::pg_types::{PgType, pg_type};
use crate::error::LeaderError;
use crate::session::{DATABASE, TEMP_SCHEMA_PREFIX};

/// A column's type in a table built from text values.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Text,
    Int,
    Bool,
}

/// A table of `columns` from rows of text values (`None` is NULL; an `Int` column's
/// values are numbers, a `Bool`'s `true` or `false`).
pub(super) fn text_rows(
    columns: &[(&str, Kind)],
    rows: &[Vec<Option<String>>],
) -> Result<RecordBatch> {
    let mut fields = vec![];
    let mut arrays: Vec<ArrayRef> = vec![];
    for (i, (name, kind)) in columns.iter().enumerate() {
        let values = rows.iter().map(|r| r.get(i).cloned().flatten());
        let (ty, array): (DataType, ArrayRef) = match kind {
            Kind::Text => (DataType::Utf8, Arc::new(values.collect::<StringArray>())),
            Kind::Int => (
                DataType::Int32,
                Arc::new(
                    values
                        .map(|v| v.and_then(|v| v.parse::<i32>().ok()))
                        .collect::<Int32Array>(),
                ),
            ),
            Kind::Bool => (
                DataType::Boolean,
                Arc::new(
                    values
                        .map(|v| v.map(|v| v == "true"))
                        .collect::<BooleanArray>(),
                ),
            ),
        };
        fields.push(Field::new(*name, ty, true));
        arrays.push(array);
    }
    batch(fields, arrays)
}

/// One column of a relation.
struct Column {
    name: String,
    ty: PgType,
    nullable: bool,
    default: Option<String>,
    encoding: Option<String>,
    distkey: bool,
    /// Position in the sort key (1-based; negative for INTERLEAVED), 0 when not in it.
    sortkey: i32,
    remarks: Option<String>,
}

/// A table or view the viewer may see.
struct Relation {
    schema: String,
    name: String,
    view: bool,
    /// SHOW TABLES' `table_subtype`.
    subtype: &'static str,
    owner: String,
    acl: Option<String>,
    remarks: Option<String>,
    dist_style: Option<String>,
    sort_style: Option<&'static str>,
    columns: Vec<Column>,
}

/// Redshift joins ACL items with `~`.
fn acl_string(items: Option<Vec<String>>) -> Option<String> {
    items.map(|i| i.join("~"))
}

/// The schemas the viewer may see: (name, owner id, ACL).
fn schemas(catalog: &Catalog, viewer: &Principal) -> Result<Vec<(String, i32, Option<String>)>> {
    let names = Names::of(catalog)?;
    let mut out = vec![
        ("pg_catalog".to_string(), 1, None),
        ("information_schema".to_string(), 1, None),
    ];
    for schema in catalog.schemas().map_err(LeaderError::from)? {
        if schema.starts_with(TEMP_SCHEMA_PREFIX) {
            continue;
        }
        let a = catalog.schema_access(&schema).map_err(LeaderError::from)?;
        if !access::effective(a.owner, &a.acl, viewer, Privileges::ALL_SCHEMA).is_empty()
            || a.owner == viewer.user
        {
            out.push((
                schema,
                a.owner,
                acl_string(acl_text(a.owner, &a.acl, &names)),
            ));
        }
    }
    Ok(out)
}

fn relations(catalog: &Catalog, viewer: &Principal) -> Result<Vec<Relation>> {
    let failed = |e| LeaderError::from(e);
    let names = Names::of(catalog)?;
    let visible = |owner: i32, acl: &[access::AclItem]| {
        !access::effective(owner, acl, viewer, Privileges::ALL_TABLE).is_empty()
    };
    let comment = |id: u64, column: Option<u32>| {
        catalog
            .comment(&CommentTarget::Relation { id, column })
            .ok()
            .flatten()
    };
    let views = catalog.all_views().map_err(failed)?;
    let backing: Vec<(String, String)> = views
        .iter()
        .filter_map(|v| Some((v.schema.clone(), v.materialized.as_ref()?.table.clone())))
        .collect();
    let mut out = vec![];
    for t in catalog.all_tables().map_err(failed)? {
        if !visible(t.owner, &t.acl)
            || t.schema.starts_with(TEMP_SCHEMA_PREFIX)
            || backing.contains(&(t.schema.clone(), t.name.clone()))
        {
            continue;
        }
        let columns = t
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| Column {
                name: c.name.clone(),
                ty: pg_type(&c.declared_type, &c.data_type),
                nullable: c.nullable,
                default: c.shown_default(super::pg_types::relation_oid(t.id) as u32, i),
                encoding: Some(c.encoding.clone().unwrap_or_else(|| "none".into())),
                distkey: t.dist_style == DistStyle::Key && t.dist_key == Some(i),
                sortkey: t.sort_key.iter().position(|k| *k == i).map_or(0, |p| {
                    match t.sort_style {
                        SortStyle::Compound => p as i32 + 1,
                        SortStyle::Interleaved => -(p as i32 + 1),
                    }
                }),
                remarks: comment(t.id, Some(c.id)),
            })
            .collect();
        out.push(Relation {
            schema: t.schema.clone(),
            name: t.name.clone(),
            view: false,
            subtype: "REGULAR TABLE",
            owner: names.user(t.owner),
            acl: acl_string(acl_text(t.owner, &t.acl, &names)),
            remarks: comment(t.id, None),
            dist_style: Some(match (t.dist_style, t.dist_key) {
                (DistStyle::Key, Some(k)) => format!("KEY({})", t.columns[k].name),
                (style, _) => style.name().to_string(),
            }),
            sort_style: (!t.sort_key.is_empty()).then_some(match t.sort_style {
                SortStyle::Compound => "COMPOUND",
                SortStyle::Interleaved => "INTERLEAVED",
            }),
            columns,
        });
    }
    for v in &views {
        if !visible(v.owner, &v.acl) {
            continue;
        }
        let columns = v
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                ty: pg_type(c.declared_type.as_deref().unwrap_or_default(), &c.data_type),
                nullable: true,
                default: None,
                encoding: None,
                distkey: false,
                sortkey: 0,
                remarks: None,
            })
            .collect();
        out.push(Relation {
            schema: v.schema.clone(),
            name: v.name.clone(),
            view: true,
            subtype: if v.materialized.is_some() {
                "MATERIALIZED VIEW"
            } else if v.late_binding {
                "LATE BINDING VIEW"
            } else {
                "REGULAR VIEW"
            },
            owner: names.user(v.owner),
            acl: acl_string(acl_text(v.owner, &v.acl, &names)),
            remarks: comment(v.id, None),
            dist_style: None,
            sort_style: None,
            columns,
        });
    }
    out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(out)
}

/// The catalog views this module answers.
pub(super) const TABLES: &[&str] = &[
    "svv_redshift_databases",
    "svv_all_schemas",
    "svv_redshift_schemas",
    "svv_tables",
    "svv_all_tables",
    "svv_redshift_tables",
    "show_tables",
    "svv_columns",
    "svv_all_columns",
    "svv_redshift_columns",
    "show_columns",
];

/// The catalog view `name`, one of [`TABLES`].
pub(super) fn build(name: &str, catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    use Kind::{Bool, Int, Text};
    let s = |v: &str| Some(v.to_string());
    let n = |v: i64| Some(v.to_string());
    let db = || s(DATABASE);
    let mut rows: Vec<Vec<Option<String>>> = vec![];
    if name == "svv_redshift_databases" {
        let owner = catalog.database_access().map_err(LeaderError::from)?.owner;
        rows.push(vec![
            db(),
            n(owner.into()),
            s("local"),
            None,
            None,
            s("Snapshot Isolation"),
        ]);
        return text_rows(
            &[
                ("database_name", Text),
                ("database_owner", Int),
                ("database_type", Text),
                ("database_acl", Text),
                ("database_options", Text),
                ("database_isolation_level", Text),
            ],
            &rows,
        );
    }
    if name.ends_with("_schemas") {
        let all = name == "svv_all_schemas";
        for (schema, owner, acl) in schemas(catalog, viewer)? {
            let mut row = vec![db(), s(&schema), n(owner.into()), s("local"), acl];
            if all {
                row.push(None);
            }
            row.push(None);
            rows.push(row);
        }
        let mut columns = vec![
            ("database_name", Text),
            ("schema_name", Text),
            ("schema_owner", Int),
            ("schema_type", Text),
            ("schema_acl", Text),
        ];
        if all {
            columns.push(("source_database", Text));
        }
        columns.push(("schema_option", Text));
        return text_rows(&columns, &rows);
    }
    let relations = relations(catalog, viewer)?;
    if name.ends_with("_tables") {
        const ALL: &[(&str, Kind)] = &[
            ("database_name", Text),
            ("schema_name", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("table_acl", Text),
            ("remarks", Text),
        ];
        for r in &relations {
            if name == "svv_tables" {
                let ty = if r.view { "VIEW" } else { "BASE TABLE" };
                rows.push(vec![
                    db(),
                    s(&r.schema),
                    s(&r.name),
                    s(ty),
                    r.remarks.clone(),
                ]);
                continue;
            }
            // SVV_ALL_TABLES' columns, and after them SVV_REDSHIFT_TABLES' owner
            // or SHOW TABLES' columns.
            let ty = if r.view { "VIEW" } else { "TABLE" };
            let mut row = vec![
                db(),
                s(&r.schema),
                s(&r.name),
                s(ty),
                r.acl.clone(),
                r.remarks.clone(),
            ];
            match name {
                "svv_redshift_tables" => row.push(s(&r.owner)),
                "show_tables" => {
                    row.extend([s(&r.owner), None, None, r.dist_style.clone(), s(r.subtype)])
                }
                _ => {}
            }
            rows.push(row);
        }
        let columns: Vec<(&str, Kind)> = match name {
            "svv_tables" => vec![
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
                ("table_type", Text),
                ("remarks", Text),
            ],
            "svv_redshift_tables" => [ALL, &[("table_owner", Text)]].concat(),
            "show_tables" => [
                ALL,
                &[
                    ("owner", Text),
                    ("last_altered_time", Text),
                    ("last_modified_time", Text),
                    ("dist_style", Text),
                    ("table_subtype", Text),
                ],
            ]
            .concat(),
            _ => ALL.to_vec(),
        };
        return text_rows(&columns, &rows);
    }
    for r in &relations {
        for (i, c) in r.columns.iter().enumerate() {
            let (data_type, _, sizes) = describe(&c.ty);
            let size = |k: usize| sizes[k].map(|v| v.to_string());
            let (schema, table, column) = (s(&r.schema), s(&r.name), s(&c.name));
            let position = n(i as i64 + 1);
            let nullable = s(if c.nullable { "YES" } else { "NO" });
            let row = match name {
                // information_schema.columns' columns and the remarks.
                "svv_columns" => {
                    let mut row = vec![db(), schema, table, column, position];
                    row.extend([c.default.clone(), nullable, s(data_type)]);
                    row.extend((0..5).map(size));
                    row.extend(vec![None; 9]);
                    row.push(c.remarks.clone());
                    row
                }
                "svv_redshift_columns" => vec![
                    db(),
                    schema,
                    table,
                    column,
                    position,
                    s(&c.ty.name),
                    c.default.clone(),
                    nullable,
                    c.encoding.clone(),
                    s(if c.distkey { "true" } else { "false" }),
                    n(c.sortkey.into()),
                    None,
                    c.remarks.clone(),
                ],
                // SVV_ALL_COLUMNS' columns, and after them SHOW COLUMNS'.
                _ => {
                    let mut row = vec![db(), schema, table, column, position];
                    row.extend([c.default.clone(), nullable, s(data_type)]);
                    row.extend([size(0), size(1), size(3), c.remarks.clone()]);
                    if name == "show_columns" {
                        let sort_type = r.sort_style.unwrap_or_default().to_string();
                        row.extend([
                            (c.sortkey != 0).then_some(sort_type),
                            n(c.sortkey.into()),
                            c.distkey.then(|| "1".to_string()),
                            c.encoding.clone(),
                            matches!(c.ty.oid, 1042 | 1043 | 25).then(|| "default".to_string()),
                        ]);
                    }
                    row
                }
            };
            rows.push(row);
        }
    }
    const NAMED: &[(&str, Kind)] = &[
        ("column_name", Text),
        ("ordinal_position", Int),
        ("column_default", Text),
        ("is_nullable", Text),
        ("data_type", Text),
        ("character_maximum_length", Int),
        ("numeric_precision", Int),
    ];
    const ALL: &[(&str, Kind)] = &[
        ("database_name", Text),
        ("schema_name", Text),
        ("table_name", Text),
    ];
    let columns: Vec<(&str, Kind)> = match name {
        "svv_columns" => [
            &[
                ("table_catalog", Text),
                ("table_schema", Text),
                ("table_name", Text),
            ],
            NAMED,
            &[
                ("numeric_precision_radix", Int),
                ("numeric_scale", Int),
                ("datetime_precision", Int),
                ("interval_type", Text),
                ("interval_precision", Text),
                ("character_set_catalog", Text),
                ("character_set_schema", Text),
                ("character_set_name", Text),
                ("collation_catalog", Text),
                ("collation_schema", Text),
                ("collation_name", Text),
                ("domain_name", Text),
                ("remarks", Text),
            ],
        ]
        .concat(),
        "svv_redshift_columns" => [
            ALL,
            &[
                ("column_name", Text),
                ("ordinal_position", Int),
                ("data_type", Text),
                ("column_default", Text),
                ("is_nullable", Text),
                ("encoding", Text),
                ("distkey", Bool),
                ("sortkey", Int),
                ("column_acl", Text),
                ("remarks", Text),
            ],
        ]
        .concat(),
        "show_columns" => [
            ALL,
            NAMED,
            &[
                ("numeric_scale", Int),
                ("remarks", Text),
                ("sort_key_type", Text),
                ("sort_key", Int),
                ("dist_key", Int),
                ("encoding", Text),
                ("collation", Text),
            ],
        ]
        .concat(),
        _ => [ALL, NAMED, &[("numeric_scale", Int), ("remarks", Text)]].concat(),
    };
    text_rows(&columns, &rows)
}
