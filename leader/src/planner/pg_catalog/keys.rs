//! pg_constraint and pg_index rows of the tables' PRIMARY KEY, UNIQUE and FOREIGN
//! KEY constraints. A primary key or unique constraint is also its own index (one
//! oid for both, as `conindid` says), so psql's `\d` and pgjdbc's `getPrimaryKeys`,
//! which read pg_index, find it; its pg_class row has relkind `i`.

use std::sync::Arc;

use arrow::datatypes::DataType;
use blueshift_storage::catalog::{Constraint, ConstraintKind, TableDef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;

use super::{Rows, flag, int, text};
use crate::system_tables::constraints::referenced_key;
use crate::system_tables::pg_types::{namespace_oid, pg_type, relation_oid};

/// The btree access method's oid (`pg_am`), an index's `relam`.
const BTREE_OID: i64 = 403;

/// Column ids of `table` as attnums (1-based positions), an int2 array.
fn attnums(table: &TableDef, ids: &[u32]) -> Option<ScalarValue> {
    let values: Vec<ScalarValue> = ids
        .iter()
        .map(|id| {
            let n = table
                .columns
                .iter()
                .position(|c| c.id == *id)
                .map_or(0, |p| p + 1);
            ScalarValue::Int16(Some(n as i16))
        })
        .collect();
    Some(ScalarValue::List(ScalarValue::new_list_nullable(
        &values,
        &DataType::Int16,
    )))
}

/// Whether `c` is a key, which is its own index.
fn is_index(c: &Constraint) -> bool {
    !matches!(c.kind, ConstraintKind::ForeignKey { .. })
}

/// A table's pg_class `relhasindex` (it has a key) and `relhastriggers` (a foreign
/// key is on it or references it: PostgreSQL's are triggers, and psql's `\d` lists
/// them when the flag is set).
pub(super) fn flags(table: &TableDef, tables: &[TableDef]) -> (bool, bool) {
    let has_index = table.constraints.iter().any(is_index);
    let references = |t: &TableDef| {
        t.constraints.iter().any(
            |c| matches!(&c.kind, ConstraintKind::ForeignKey { table: id, .. } if *id == table.id),
        )
    };
    let has_triggers =
        table.constraints.iter().any(|c| !is_index(c)) || tables.iter().any(references);
    (has_index, has_triggers)
}

/// pg_constraint's rows.
pub(super) fn constraints(rows: &mut Rows, tables: &[TableDef]) -> Result<()> {
    for t in tables {
        for c in &t.constraints {
            // A key's index is itself; a foreign key's, the key it references.
            let (confrelid, confkey, index) = match &c.kind {
                ConstraintKind::ForeignKey { table, columns } => {
                    let target = tables.iter().find(|x| x.id == *table);
                    let key = target.and_then(|x| referenced_key(x, columns));
                    (
                        int(relation_oid(*table).into()),
                        target.and_then(|x| attnums(x, columns)),
                        key.map_or(0, |k| relation_oid(k.id)),
                    )
                }
                _ => (int(0), None, relation_oid(c.id)),
            };
            let fk = !is_index(c);
            rows.push(|col| match col {
                "oid" => int(relation_oid(c.id).into()),
                "conname" => text(&c.name),
                "connamespace" => int(namespace_oid(&t.schema).into()),
                "contype" => text(c.contype()),
                "condeferrable" | "condeferred" => flag(false),
                "convalidated" | "conislocal" | "connoinherit" => flag(true),
                "conrelid" => int(relation_oid(t.id).into()),
                "conindid" => int(index.into()),
                "confrelid" => confrelid.clone(),
                "confupdtype" | "confdeltype" => text(if fk { "a" } else { " " }),
                "confmatchtype" => text(if fk { "s" } else { " " }),
                "conkey" => attnums(t, &c.columns),
                "confkey" => confkey.clone(),
                _ => None,
            })?;
        }
    }
    Ok(())
}

/// pg_index's rows: one per primary key and unique constraint.
pub(super) fn indexes(rows: &mut Rows, tables: &[TableDef]) -> Result<()> {
    for t in tables {
        for c in t.constraints.iter().filter(|c| is_index(c)) {
            let n = c.columns.len() as i64;
            rows.push(|col| match col {
                "indexrelid" => int(relation_oid(c.id).into()),
                "indrelid" => int(relation_oid(t.id).into()),
                "indnatts" | "indnkeyatts" => int(n),
                "indisunique" | "indimmediate" | "indisvalid" | "indisready" | "indislive" => {
                    flag(true)
                }
                "indisprimary" => flag(c.kind == ConstraintKind::PrimaryKey),
                "indkey" => attnums(t, &c.columns),
                // Ascending, NULLS LAST: no option bits.
                "indoption" => Some(ScalarValue::List(ScalarValue::new_list_nullable(
                    &vec![ScalarValue::Int16(Some(0)); c.columns.len()],
                    &DataType::Int16,
                ))),
                _ => None,
            })?;
        }
    }
    Ok(())
}

/// pg_class's rows for the keys' indexes.
pub(super) fn index_relations(rows: &mut Rows, tables: &[TableDef]) -> Result<()> {
    for t in tables {
        for c in t.constraints.iter().filter(|c| is_index(c)) {
            rows.push(|col| match col {
                "oid" | "relfilenode" => int(relation_oid(c.id).into()),
                "relname" => text(&c.name),
                "relnamespace" => int(namespace_oid(&t.schema).into()),
                "relowner" => int(t.owner.into()),
                "relam" => int(BTREE_OID),
                "relkind" => text("i"),
                "relpersistence" => text("p"),
                "relnatts" => int(c.columns.len() as i64),
                "relispopulated" => flag(true),
                "relreplident" => text("n"),
                _ => None,
            })?;
        }
    }
    Ok(())
}

/// pg_attribute's rows for the keys' indexes: a key's columns, numbered in key
/// order (the Amazon Redshift drivers' primary key query reads them).
pub(super) fn index_attributes(rows: &mut Rows, tables: &[TableDef]) -> Result<()> {
    for t in tables {
        for c in t.constraints.iter().filter(|c| is_index(c)) {
            for (k, id) in c.columns.iter().enumerate() {
                let Some(col) = t.columns.iter().find(|x| x.id == *id) else {
                    continue;
                };
                let ty = pg_type(&col.declared_type, &col.data_type);
                super::attribute(
                    rows,
                    relation_oid(c.id),
                    k,
                    &col.name,
                    &ty,
                    !col.nullable,
                    |_| None,
                )?;
            }
        }
    }
    Ok(())
}

/// The int2 array columns of pg_constraint and pg_index.
pub(super) fn is_int2_array(table: &str, column: &str) -> bool {
    matches!(
        (table, column),
        ("pg_constraint", "conkey" | "confkey") | ("pg_index", "indkey" | "indoption")
    )
}

pub(super) fn int2_array() -> DataType {
    DataType::List(Arc::new(arrow::datatypes::Field::new(
        "item",
        DataType::Int16,
        true,
    )))
}
