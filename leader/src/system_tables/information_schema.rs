//! The information_schema tables Blueshift answers from its catalog, with
//! PostgreSQL's columns: VIEWS and COLUMNS (declared types: `character varying` with
//! its `character_maximum_length`, `numeric` with its precision and scale). A user who
//! is not a superuser sees the relations it owns or holds a privilege on.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use blueshift_storage::catalog::access::{self, Principal, Privileges};
use blueshift_storage::catalog::{Catalog, ViewDef};
use datafusion::error::Result;

use super::batch;
use super::pg_types::{self, PgType};
use crate::error::LeaderError;
use crate::session::DATABASE;

/// INFORMATION_SCHEMA.VIEWS: the views the viewer owns or holds a privilege on
/// (every view for a superuser), with their definitions as `pg_get_viewdef` gives
/// them. Views are not updatable.
pub(super) fn views(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let views: Vec<_> = catalog
        .all_views()
        .map_err(LeaderError::from)?
        .into_iter()
        .filter(|v| !access::effective(v.owner, &v.acl, viewer, Privileges::ALL_TABLE).is_empty())
        .collect();
    let text = |f: &dyn Fn(&ViewDef) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(views.iter().map(f)))
    };
    let mut fields = vec![];
    let mut columns = vec![];
    for (name, values) in [
        ("table_catalog", text(&|_| DATABASE.to_string())),
        ("table_schema", text(&|v| v.schema.clone())),
        ("table_name", text(&|v| v.name.clone())),
        ("view_definition", text(&pg_types::view_definition)),
        ("check_option", text(&|_| "NONE".to_string())),
        ("is_updatable", text(&|_| "NO".to_string())),
        ("is_insertable_into", text(&|_| "NO".to_string())),
        ("is_trigger_updatable", text(&|_| "NO".to_string())),
        ("is_trigger_deletable", text(&|_| "NO".to_string())),
        ("is_trigger_insertable_into", text(&|_| "NO".to_string())),
    ] {
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(values);
    }
    batch(fields, columns)
}

/// One column as information_schema.columns shows it.
struct ColumnRow {
    schema: String,
    table: String,
    name: String,
    position: i32,
    nullable: bool,
    default: Option<String>,
    ty: PgType,
}

/// What information_schema names a type by (`data_type`, `udt_name`), and its sizes:
/// (character_maximum_length, numeric_precision, numeric_precision_radix,
/// numeric_scale, datetime_precision).
pub(super) fn describe(ty: &PgType) -> (&'static str, &'static str, [Option<i32>; 5]) {
    let modifier = ty.typmod - 4;
    match ty.oid {
        1043 => (
            "character varying",
            "varchar",
            [(ty.typmod >= 4).then_some(modifier), None, None, None, None],
        ),
        1042 => (
            "character",
            "bpchar",
            [(ty.typmod >= 4).then_some(modifier), None, None, None, None],
        ),
        1700 => (
            "numeric",
            "numeric",
            [
                None,
                (ty.typmod >= 4).then_some(modifier >> 16),
                Some(10),
                (ty.typmod >= 4).then_some(modifier & 0xffff),
                None,
            ],
        ),
        21 => ("smallint", "int2", [None, Some(16), Some(2), Some(0), None]),
        23 => ("integer", "int4", [None, Some(32), Some(2), Some(0), None]),
        20 => ("bigint", "int8", [None, Some(64), Some(2), Some(0), None]),
        700 => ("real", "float4", [None, Some(24), Some(2), None, None]),
        701 => (
            "double precision",
            "float8",
            [None, Some(53), Some(2), None, None],
        ),
        16 => ("boolean", "bool", [None; 5]),
        1082 => ("date", "date", [None, None, None, None, Some(0)]),
        1114 => (
            "timestamp without time zone",
            "timestamp",
            [None, None, None, None, Some(6)],
        ),
        1184 => (
            "timestamp with time zone",
            "timestamptz",
            [None, None, None, None, Some(6)],
        ),
        1083 => (
            "time without time zone",
            "time",
            [None, None, None, None, Some(6)],
        ),
        1266 => (
            "time with time zone",
            "timetz",
            [None, None, None, None, Some(6)],
        ),
        1186 => ("interval", "interval", [None, None, None, None, Some(6)]),
        17 => ("bytea", "bytea", [None; 5]),
        _ => ("text", "text", [None; 5]),
    }
}

/// INFORMATION_SCHEMA.COLUMNS: the columns of the tables and regular views the
/// viewer may see (a late-binding view's are listed by
/// `pg_get_late_binding_view_cols()`, as on Redshift).
pub(super) fn columns(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let failed = |e| LeaderError::from(e);
    let visible = |owner: i32, acl: &[access::AclItem]| {
        !access::effective(owner, acl, viewer, Privileges::ALL_TABLE).is_empty()
    };
    let mut rows: Vec<ColumnRow> = vec![];
    for t in catalog.all_tables().map_err(failed)? {
        if !visible(t.owner, &t.acl) {
            continue;
        }
        for (i, c) in t.columns.iter().enumerate() {
            rows.push(ColumnRow {
                schema: t.schema.clone(),
                table: t.name.clone(),
                name: c.name.clone(),
                position: i as i32 + 1,
                nullable: c.nullable,
                default: c.shown_default(pg_types::relation_oid(t.id) as u32, i),
                ty: pg_types::pg_type(&c.declared_type, &c.data_type),
            });
        }
    }
    for v in catalog.all_views().map_err(failed)? {
        if !visible(v.owner, &v.acl) {
            continue;
        }
        for (i, c) in v.columns.iter().enumerate() {
            rows.push(ColumnRow {
                schema: v.schema.clone(),
                table: v.name.clone(),
                name: c.name.clone(),
                position: i as i32 + 1,
                nullable: true,
                default: None,
                ty: pg_types::pg_type(c.declared_type.as_deref().unwrap_or_default(), &c.data_type),
            });
        }
    }
    let text = |f: &dyn Fn(&ColumnRow) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let int = |f: &dyn Fn(&ColumnRow) -> Option<i32>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int32Array>())
    };
    let size = |k: usize| move |r: &ColumnRow| -> Option<i32> { describe(&r.ty).2[k] };
    let mut fields = vec![];
    let mut columns = vec![];
    let mut add = |name: &str, ty: DataType, values: ArrayRef| {
        fields.push(Field::new(name, ty, true));
        columns.push(values);
    };
    add(
        "table_catalog",
        DataType::Utf8,
        text(&|_| Some(DATABASE.into())),
    );
    add(
        "table_schema",
        DataType::Utf8,
        text(&|r| Some(r.schema.clone())),
    );
    add(
        "table_name",
        DataType::Utf8,
        text(&|r| Some(r.table.clone())),
    );
    add(
        "column_name",
        DataType::Utf8,
        text(&|r| Some(r.name.clone())),
    );
    add(
        "ordinal_position",
        DataType::Int32,
        int(&|r| Some(r.position)),
    );
    add(
        "column_default",
        DataType::Utf8,
        text(&|r| r.default.clone()),
    );
    add(
        "is_nullable",
        DataType::Utf8,
        text(&|r| Some(if r.nullable { "YES" } else { "NO" }.into())),
    );
    add(
        "data_type",
        DataType::Utf8,
        text(&|r| Some(describe(&r.ty).0.into())),
    );
    add("character_maximum_length", DataType::Int32, int(&size(0)));
    add("character_octet_length", DataType::Int32, int(&size(0)));
    add("numeric_precision", DataType::Int32, int(&size(1)));
    add("numeric_precision_radix", DataType::Int32, int(&size(2)));
    add("numeric_scale", DataType::Int32, int(&size(3)));
    add("datetime_precision", DataType::Int32, int(&size(4)));
    add("interval_type", DataType::Utf8, text(&|_| None));
    add("interval_precision", DataType::Int32, int(&|_| None));
    add(
        "udt_catalog",
        DataType::Utf8,
        text(&|_| Some(DATABASE.into())),
    );
    add(
        "udt_schema",
        DataType::Utf8,
        text(&|_| Some("pg_catalog".into())),
    );
    add(
        "udt_name",
        DataType::Utf8,
        text(&|r| Some(describe(&r.ty).1.into())),
    );
    add("domain_name", DataType::Utf8, text(&|_| None));
    add("collation_name", DataType::Utf8, text(&|_| None));
    add("is_identity", DataType::Utf8, text(&|_| Some("NO".into())));
    add(
        "is_generated",
        DataType::Utf8,
        text(&|_| Some("NEVER".into())),
    );
    add(
        "is_updatable",
        DataType::Utf8,
        text(&|_| Some("YES".into())),
    );
    batch(fields, columns)
}

/// Redshift's SVV_EXTERNAL_SCHEMAS, SVV_EXTERNAL_TABLES and SVV_EXTERNAL_COLUMNS, with
/// their columns and no rows: Blueshift has no external (Spectrum) tables.
pub(super) fn svv_external(name: &str) -> Option<Result<RecordBatch>> {
    let columns: &[(&str, DataType)] = match name {
        "svv_external_schemas" => &[
            ("esoid", DataType::Int32),
            ("eskind", DataType::Int32),
            ("schemaname", DataType::Utf8),
            ("esowner", DataType::Int32),
            ("databasename", DataType::Utf8),
            ("esoptions", DataType::Utf8),
        ],
        "svv_external_tables" => &[
            ("redshift_database_name", DataType::Utf8),
            ("schemaname", DataType::Utf8),
            ("tablename", DataType::Utf8),
            ("location", DataType::Utf8),
            ("input_format", DataType::Utf8),
            ("output_format", DataType::Utf8),
            ("serialization_lib", DataType::Utf8),
            ("serde_parameters", DataType::Utf8),
            ("compressed", DataType::Int32),
            ("parameters", DataType::Utf8),
            ("tabletype", DataType::Utf8),
        ],
        "svv_external_columns" => &[
            ("redshift_database_name", DataType::Utf8),
            ("schemaname", DataType::Utf8),
            ("tablename", DataType::Utf8),
            ("columnname", DataType::Utf8),
            ("external_type", DataType::Utf8),
            ("columnnum", DataType::Int32),
            ("part_key", DataType::Int32),
            ("is_nullable", DataType::Utf8),
        ],
        _ => return None,
    };
    let fields = columns
        .iter()
        .map(|(n, t)| Field::new(*n, t.clone(), true))
        .collect();
    let arrays = columns
        .iter()
        .map(|(_, t)| arrow::array::new_empty_array(t))
        .collect();
    Some(batch(fields, arrays))
}

/// SVV_MV_INFO: each materialized view, whether it is stale (a table it reads has a
/// newer version than it read at its last refresh), its state (0: refreshed by a
/// full recompute) and its AUTO REFRESH (`f`: refreshed by REFRESH only).
pub(super) fn svv_mv_info(catalog: &Catalog) -> Result<RecordBatch> {
    let failed = |e| LeaderError::from(e);
    let names = super::grants::Names::of(catalog)?;
    /// (schema, owner, name, stale)
    type MvRow = (String, String, String, bool);
    let mut rows: Vec<MvRow> = vec![];
    for v in catalog.all_views().map_err(failed)? {
        let Some(m) = &v.materialized else { continue };
        let mut stale = false;
        for (key, version) in &m.refreshed {
            let Some((schema, name)) = key.split_once('.') else {
                continue;
            };
            stale |= match catalog.table(schema, name).map_err(failed)? {
                Some(def) => catalog.version(def.id).map_err(failed)?.version != *version,
                None => true,
            };
        }
        rows.push((v.schema.clone(), names.user(v.owner), v.name.clone(), stale));
    }
    let text = |f: &dyn Fn(&MvRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    batch(
        vec![
            Field::new("database_name", DataType::Utf8, false),
            Field::new("schema_name", DataType::Utf8, false),
            Field::new("user_name", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("is_stale", DataType::Utf8, false),
            Field::new("state", DataType::Int32, false),
            Field::new("autorewrite", DataType::Utf8, false),
            Field::new("autorefresh", DataType::Utf8, false),
        ],
        vec![
            text(&|_| DATABASE.to_string()),
            text(&|r| r.0.clone()),
            text(&|r| r.1.clone()),
            text(&|r| r.2.clone()),
            text(&|r| if r.3 { "t" } else { "f" }.to_string()),
            Arc::new(Int32Array::from(vec![0; rows.len()])),
            text(&|_| "f".to_string()),
            text(&|_| "f".to_string()),
        ],
    )
}
