//! Views in the catalog: regular views (bound to the tables and views they read,
//! which cannot be dropped while the view exists), late-binding views (`WITH NO
//! SCHEMA BINDING`: resolved each time a query reads them), and materialized views
//! (a view over a table that holds its rows, recomputed by REFRESH).
//!
//! A view keeps its query as the user wrote it; the leader plans it again each time a
//! statement reads the view. Views and tables share one namespace per schema, and one
//! id space (a view's id is its pg_class oid).

use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use super::access::{AclItem, bootstrap_user_id};
use super::overlay::Tree;
use super::{Catalog, TableDef, View, decode, encode, table_key};
use crate::error::{Result, StorageError};

/// One column of a view, as the view resolved when it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewColumn {
    pub name: String,
    pub data_type: DataType,
    /// The type the column it shows was declared with (`varchar(20)`), when it
    /// shows a table's column as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_type: Option<String>,
}

/// What makes a view materialized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Materialized {
    /// The table (in the view's schema) that holds the rows.
    pub table: String,
    /// AUTO REFRESH YES: refreshed after the tables it reads change.
    pub auto_refresh: bool,
    /// The version of each table it reads (`schema.name`) when it was last
    /// refreshed: it is stale when one has changed since.
    #[serde(default)]
    pub refreshed: std::collections::BTreeMap<String, u64>,
}

/// A view's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewDef {
    /// Unique among tables and views: the view's oid.
    pub id: u64,
    pub schema: String,
    pub name: String,
    /// The query, as written after `AS`.
    pub query: String,
    /// The column names the statement listed (`CREATE VIEW v (a, b) AS ...`); the
    /// query's own names follow for the columns it did not name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_names: Vec<String>,
    /// A regular view's columns when it was made (a late-binding view has none: its
    /// columns are what its query gives when it is read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ViewColumn>,
    /// `WITH NO SCHEMA BINDING`.
    #[serde(default)]
    pub late_binding: bool,
    /// The tables and views (`schema.name`) a regular view reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(default = "bootstrap_user_id")]
    pub owner: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<AclItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized: Option<Materialized>,
}

impl ViewDef {
    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// What the view is called in messages: `view s.v` or `materialized view s.v`.
    pub fn described(&self) -> String {
        match self.materialized {
            Some(_) => format!("materialized view {}", self.qualified_name()),
            None => format!("view {}", self.qualified_name()),
        }
    }
}

/// The views in `tx` that read `key` (`schema.name`), directly or through other
/// views, those that read others after them.
fn dependents(tx: &mut View<'_>, key: &str) -> Result<Vec<ViewDef>> {
    let mut all: Vec<ViewDef> = vec![];
    for (k, v) in tx.scan(Tree::Views, b"")? {
        all.push(decode(&k, &v)?);
    }
    let mut found: Vec<ViewDef> = vec![];
    let mut frontier = vec![key.to_string()];
    while let Some(next) = frontier.pop() {
        for view in &all {
            if view.depends_on.contains(&next)
                && !found.iter().any(|f| f.id == view.id)
                && view.qualified_name() != key
            {
                frontier.push(view.qualified_name());
                found.push(view.clone());
            }
        }
    }
    Ok(found)
}

/// Refuses to drop `what` (`table s.t`, keyed `key`) while views read it, or, with
/// `cascade`, drops them (and the tables of materialized ones).
pub(super) fn drop_dependents(
    tx: &mut View<'_>,
    what: &str,
    key: &str,
    cascade: bool,
) -> Result<Vec<ViewDef>> {
    let views = dependents(tx, key)?;
    if views.is_empty() {
        return Ok(views);
    }
    if !cascade {
        return Err(StorageError::Dependents {
            what: what.to_string(),
            objects: views
                .iter()
                .map(|v| format!("{} depends on {what}", v.described()))
                .collect(),
        });
    }
    for v in &views {
        remove_view(tx, v)?;
    }
    Ok(views)
}

/// Removes a view's record (and a materialized view's table and comments).
fn remove_view(tx: &mut View<'_>, view: &ViewDef) -> Result<()> {
    tx.remove(Tree::Views, &table_key(&view.schema, &view.name));
    super::comments::remove_all(tx, view.id)?;
    if let Some(m) = &view.materialized {
        super::remove_table(tx, &view.schema, &m.table)?;
    }
    Ok(())
}

/// Whether `schema.name` names a view in `tx`.
pub(super) fn is_view(tx: &mut View<'_>, schema: &str, name: &str) -> Result<bool> {
    Ok(tx.get(Tree::Views, &table_key(schema, name))?.is_some())
}

/// Why a replacing view's columns do not fit the view it replaces (PostgreSQL's
/// rules: columns may be added at the end, none renamed, retyped or removed).
fn replacement_error(old: &ViewDef, new: &ViewDef) -> Option<String> {
    if old.late_binding || new.late_binding {
        return None;
    }
    if new.columns.len() < old.columns.len() {
        return Some("cannot drop columns from view".into());
    }
    old.columns.iter().zip(&new.columns).find_map(|(o, n)| {
        if o.name != n.name {
            Some(format!(
                "cannot change name of view column \"{}\" to \"{}\"",
                o.name, n.name
            ))
        } else if o.data_type != n.data_type {
            Some(format!(
                "cannot change data type of view column \"{}\" from {} to {}",
                o.name, o.data_type, n.data_type
            ))
        } else {
            None
        }
    })
}

impl Catalog {
    /// CREATE [OR REPLACE] VIEW: the id is assigned here, and a replaced view keeps
    /// its id, owner and grants. With `replace`, an existing view's columns must be
    /// kept (22023 otherwise); a table of the name is never replaced.
    pub fn create_view(&self, def: ViewDef, replace: bool) -> Result<ViewDef> {
        let key = table_key(&def.schema, &def.name);
        let new_id = self.new_object_id()?;
        self.write(|tx| {
            if tx.get(Tree::Schemas, def.schema.as_bytes())?.is_none() {
                return Err(StorageError::SchemaNotFound(def.schema.clone()));
            }
            if tx.get(Tree::Tables, &key)?.is_some() {
                return Err(StorageError::TableExists(def.qualified_name()));
            }
            let mut view = def.clone();
            view.id = new_id;
            if let Some(bytes) = tx.get(Tree::Views, &key)? {
                let old: ViewDef = decode(&key, &bytes)?;
                if !replace || old.materialized.is_some() != view.materialized.is_some() {
                    return Err(StorageError::TableExists(def.qualified_name()));
                }
                if let Some(reason) = replacement_error(&old, &view) {
                    return Err(StorageError::InvalidDefinition(reason));
                }
                view.id = old.id;
                view.owner = old.owner;
                view.acl = old.acl;
            }
            tx.put(Tree::Views, &key, encode(&view)?);
            Ok(view)
        })
    }

    /// A view by schema and name.
    pub fn view(&self, schema: &str, name: &str) -> Result<Option<ViewDef>> {
        let key = table_key(schema, name);
        match self.get(Tree::Views, &key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// The views of one schema, sorted by name.
    pub fn views_in(&self, schema: &str) -> Result<Vec<ViewDef>> {
        self.scan(Tree::Views, format!("{schema}.").as_bytes())
    }

    /// Every view.
    pub fn all_views(&self) -> Result<Vec<ViewDef>> {
        self.scan(Tree::Views, b"")
    }

    /// DROP VIEW [CASCADE]: drops the view (a materialized view with its table) and,
    /// with `cascade`, the views that read it; without, refuses while any does.
    /// Returns the dropped views, this one first.
    pub fn drop_view(&self, schema: &str, name: &str, cascade: bool) -> Result<Vec<ViewDef>> {
        let key = table_key(schema, name);
        self.write(|tx| {
            let view: ViewDef = match tx.get(Tree::Views, &key)? {
                Some(v) => decode(&key, &v)?,
                None => return Err(StorageError::TableNotFound(format!("{schema}.{name}"))),
            };
            let mut dropped =
                drop_dependents(tx, &view.described(), &view.qualified_name(), cascade)?;
            remove_view(tx, &view)?;
            dropped.insert(0, view);
            Ok(dropped)
        })
    }

    /// ALTER TABLE ... RENAME TO of a table or a view, within its schema: the views
    /// that read it follow it, each rewritten by `follow` (which gets the view as it
    /// was and returns it naming the new name), in the same commit.
    pub fn rename_relation(
        &self,
        schema: &str,
        old: &str,
        new: &str,
        follow: impl Fn(&ViewDef) -> Result<ViewDef>,
    ) -> Result<()> {
        let old_key = table_key(schema, old);
        let new_key = table_key(schema, new);
        let old_name = format!("{schema}.{old}");
        self.write(|tx| {
            if tx.get(Tree::Tables, &new_key)?.is_some() || tx.get(Tree::Views, &new_key)?.is_some()
            {
                return Err(StorageError::TableExists(format!("{schema}.{new}")));
            }
            if let Some(bytes) = tx.get(Tree::Tables, &old_key)? {
                let mut def: TableDef = decode(&old_key, &bytes)?;
                def.name = new.to_string();
                tx.remove(Tree::Tables, &old_key);
                tx.put(Tree::Tables, &new_key, encode(&def)?);
            } else if let Some(bytes) = tx.get(Tree::Views, &old_key)? {
                let mut view: ViewDef = decode(&old_key, &bytes)?;
                view.name = new.to_string();
                tx.remove(Tree::Views, &old_key);
                tx.put(Tree::Views, &new_key, encode(&view)?);
            } else {
                return Err(StorageError::TableNotFound(old_name.clone()));
            }
            for (key, bytes) in tx.scan(Tree::Views, b"")? {
                let view: ViewDef = decode(&key, &bytes)?;
                if view.depends_on.contains(&old_name) {
                    tx.put(Tree::Views, &key, encode(&follow(&view)?)?);
                }
            }
            Ok(())
        })
    }

    /// Changes a view's record (owner, grants, name): `change` gets the current one.
    /// A new name must be free; views that read the view keep its old name, so a
    /// view others read cannot be renamed.
    pub fn alter_view(
        &self,
        schema: &str,
        name: &str,
        change: impl Fn(&mut ViewDef) -> Result<()>,
    ) -> Result<ViewDef> {
        let key = table_key(schema, name);
        self.write(|tx| {
            let Some(bytes) = tx.get(Tree::Views, &key)? else {
                return Err(StorageError::TableNotFound(format!("{schema}.{name}")));
            };
            let mut view: ViewDef = decode(&key, &bytes)?;
            change(&mut view)?;
            let new_key = table_key(&view.schema, &view.name);
            if new_key != key {
                if tx.get(Tree::Views, &new_key)?.is_some()
                    || tx.get(Tree::Tables, &new_key)?.is_some()
                {
                    return Err(StorageError::TableExists(view.qualified_name()));
                }
                let what = format!("view {schema}.{name}");
                drop_dependents(tx, &what, &format!("{schema}.{name}"), false)?;
                tx.remove(Tree::Views, &key);
            }
            tx.put(Tree::Views, &new_key, encode(&view)?);
            Ok(view)
        })
    }
}
