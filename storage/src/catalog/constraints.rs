//! Table constraints: PRIMARY KEY, UNIQUE and FOREIGN KEY. As on Redshift they are
//! stored and listed (pg_constraint, information_schema) but not enforced: a load
//! may hold duplicate keys. They live in their table's record and name columns by
//! id, so renaming a column or a table keeps them. What they protect is the
//! catalog's shape: a key another table's foreign key references cannot go away
//! unless CASCADE drops that foreign key too, as in PostgreSQL.

use serde::{Deserialize, Serialize};

use super::overlay::Tree;
use super::{Catalog, TableDef, View, decode, encode};
use crate::error::{Result, StorageError};

/// The most columns a key has (PostgreSQL's INDEX_MAX_KEYS; pg_settings'
/// `max_index_keys`, which drivers read).
pub const MAX_KEY_COLUMNS: usize = 32;

/// One constraint of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// Unique among the catalog's objects ([`Catalog::new_object_id`]): the
    /// constraint's oid derives from it as a relation's does from its id.
    pub id: u64,
    pub name: String,
    pub kind: ConstraintKind,
    /// The ids of the table's columns it names, in the order written.
    pub columns: Vec<u32>,
}

/// What a constraint says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    /// The columns reference `columns` (ids) of table `table` (id), which are that
    /// table's primary key or a unique constraint.
    ForeignKey {
        table: u64,
        columns: Vec<u32>,
    },
}

impl Constraint {
    /// pg_constraint.contype: `p`, `u` or `f`.
    pub fn contype(&self) -> &'static str {
        match self.kind {
            ConstraintKind::PrimaryKey => "p",
            ConstraintKind::Unique => "u",
            ConstraintKind::ForeignKey { .. } => "f",
        }
    }

    /// Whether this foreign key references the key `columns` of table `table`.
    fn references(&self, table: u64, columns: &[u32]) -> bool {
        matches!(&self.kind, ConstraintKind::ForeignKey { table: t, columns: c }
            if *t == table && same_set(c, columns))
    }

    /// Whether this foreign key references any of `columns` of table `table`.
    fn references_any(&self, table: u64, columns: &[u32]) -> bool {
        matches!(&self.kind, ConstraintKind::ForeignKey { table: t, columns: c }
            if *t == table && c.iter().any(|x| columns.contains(x)))
    }
}

fn same_set(a: &[u32], b: &[u32]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl Catalog {
    /// A new id, unique among tables, views and constraints: sled's counter, past
    /// the ids a restored snapshot brought (the `meta` record `id_offset`).
    pub fn new_object_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()? + 1 + self.id_offset)
    }
}

/// A new table's foreign keys that reference table id 0 reference the table
/// itself (its id is assigned when it is created).
pub(super) fn refer_to_itself(def: &mut TableDef) {
    for c in &mut def.constraints {
        if let ConstraintKind::ForeignKey { table, .. } = &mut c.kind
            && *table == 0
        {
            *table = def.id;
        }
    }
}

/// The foreign keys of tables other than `except` that `matches`: (table, constraint).
fn foreign_keys(
    tx: &mut View<'_>,
    except: u64,
    matches: impl Fn(&Constraint) -> bool,
) -> Result<Vec<(TableDef, Constraint)>> {
    let mut found = vec![];
    for (k, v) in tx.scan(Tree::Tables, b"")? {
        let def: TableDef = decode(&k, &v)?;
        if def.id == except {
            continue;
        }
        for c in def.constraints.iter().filter(|c| matches(c)) {
            found.push((def.clone(), c.clone()));
        }
    }
    Ok(found)
}

/// Refuses (`cascade` false) or drops the foreign keys of other tables in `found`;
/// `what` names what they depend on (`table public.u`).
fn drop_foreign_keys(
    tx: &mut View<'_>,
    what: &str,
    found: Vec<(TableDef, Constraint)>,
    cascade: bool,
) -> Result<()> {
    if found.is_empty() {
        return Ok(());
    }
    if !cascade {
        return Err(StorageError::Dependents {
            what: what.to_string(),
            objects: found
                .iter()
                .map(|(t, c)| {
                    format!(
                        "constraint {} on table {} depends on {what}",
                        c.name,
                        t.qualified_name()
                    )
                })
                .collect(),
        });
    }
    for (table, constraint) in found {
        let key = super::table_key(&table.schema, &table.name);
        let Some(bytes) = tx.get(Tree::Tables, &key)? else {
            continue;
        };
        let mut def: TableDef = decode(&key, &bytes)?;
        def.constraints.retain(|c| c.id != constraint.id);
        tx.put(Tree::Tables, &key, encode(&def)?);
    }
    Ok(())
}

/// Before table `def` is dropped: the foreign keys of other tables that reference
/// it keep it (`cascade` false) or go with it.
pub(super) fn on_drop(tx: &mut View<'_>, def: &TableDef, cascade: bool) -> Result<()> {
    let found = foreign_keys(tx, def.id, |c| c.references_any(def.id, &all_ids(def)))?;
    drop_foreign_keys(
        tx,
        &format!("table {}", def.qualified_name()),
        found,
        cascade,
    )
}

fn all_ids(def: &TableDef) -> Vec<u32> {
    def.columns.iter().map(|c| c.id).collect()
}

/// When `old` becomes `new` (ALTER TABLE): constraints on dropped columns go (a
/// column dropped that another table's foreign key references keeps the table as
/// it is), and a key dropped that another table's foreign key references goes
/// only with `cascade`.
pub(super) fn on_alter(
    tx: &mut View<'_>,
    old: &TableDef,
    new: &mut TableDef,
    cascade: bool,
) -> Result<()> {
    let dropped: Vec<u32> = all_ids(old)
        .into_iter()
        .filter(|id| !new.columns.iter().any(|c| c.id == *id))
        .collect();
    if !dropped.is_empty() {
        let what = format!("a column of table {}", old.qualified_name());
        let found = foreign_keys(tx, old.id, |c| c.references_any(old.id, &dropped))?;
        drop_foreign_keys(tx, &what, found, false)?;
        new.constraints.retain(|c| {
            !c.columns.iter().any(|x| dropped.contains(x)) && !c.references_any(old.id, &dropped)
        });
    }
    let gone: Vec<Constraint> = old
        .constraints
        .iter()
        .filter(|c| !new.constraints.iter().any(|n| n.id == c.id))
        .cloned()
        .collect();
    for gone in gone {
        if matches!(gone.kind, ConstraintKind::ForeignKey { .. }) {
            continue;
        }
        let what = format!("constraint {} on table {}", gone.name, old.qualified_name());
        let found = foreign_keys(tx, old.id, |c| c.references(old.id, &gone.columns))?;
        drop_foreign_keys(tx, &what, found, cascade)?;
        // The table's own foreign keys that reference the key go with it, or keep it.
        let own = |c: &Constraint| c.references(old.id, &gone.columns);
        if let Some(c) = new.constraints.iter().find(|c| own(c))
            && !cascade
        {
            return Err(StorageError::Dependents {
                what: what.clone(),
                objects: vec![format!(
                    "constraint {} on table {} depends on {what}",
                    c.name,
                    old.qualified_name()
                )],
            });
        }
        new.constraints.retain(|c| !own(c));
    }
    Ok(())
}
