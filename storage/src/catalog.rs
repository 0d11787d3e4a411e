//! The catalog: schemas, tables, table versions, users and the cluster layout, in sled.
//!
//! Every commit is one sled transaction followed by a flush, so after a crash the
//! catalog shows either the state before a statement (or a transaction block) or the
//! state after it. A transaction block's view ([`Catalog::begin`]) keeps its changes
//! until it commits them all at once.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_schema::{DataType, Field, Schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, Weak};

pub mod access;
mod comments;
mod constraints;
mod declared;
mod export;
mod identity;
mod overlay;
mod roles;
mod users;
mod views;

pub use comments::{Comment, CommentTarget};
pub use constraints::{Constraint, ConstraintKind, MAX_KEY_COLUMNS};
pub use declared::declared_bytes;
pub use export::CatalogExport;
pub use identity::Identity;
pub use users::{GroupDef, RoleDef, UserDef};
pub use views::{Materialized, ViewColumn, ViewDef};

use access::{AclItem, ObjectAccess, Privileges, bootstrap_user_id};
use overlay::{Changed, CommitError, Merge, Overlay, Tree, Trees, View};

pub use crate::distribution::{ClusterLayout, DistHash, DistStyle};
use crate::encoding::ENCODING_METADATA_KEY;
use crate::error::{Result, StorageError};
use crate::segment::file_column_name;
pub use crate::version::{Rewrite, SegmentRef, TableChange, TableVersion};

/// Compound or interleaved sort key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortStyle {
    Compound,
    Interleaved,
}

/// One column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// The column's id within its table: segment files name the column by it
    /// ([`file_column_name`]), so renaming or dropping a column, or
    /// adding one, rewrites no segment.
    #[serde(default)]
    pub id: u32,
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
    /// The type as the user declared it (for PG_TABLE_DEF and `\d`).
    pub declared_type: String,
    /// The declared column encoding (ENCODE), lower case; `None` means AUTO.
    pub encoding: Option<String>,
    /// For a column added by ALTER TABLE ... DEFAULT: its value (as text) in the rows
    /// of segments written before the column existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_value: Option<String>,
    /// The column's DEFAULT, as SQL text: what an INSERT or COPY that leaves the
    /// column out gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// An IDENTITY column's seed and step: INSERT gives it the next values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

/// A table's definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub id: u64,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub dist_style: DistStyle,
    /// Index of the DISTKEY column (DISTSTYLE KEY only).
    pub dist_key: Option<usize>,
    /// Indices of the sort key columns, in order.
    pub sort_key: Vec<usize>,
    pub sort_style: SortStyle,
    /// BACKUP YES (the default) or NO.
    pub backup: bool,
    /// The id the next added column gets.
    #[serde(default)]
    pub next_column_id: u32,
    /// The hash that places the table's DISTKEY rows on slices
    /// (docs/design/0001-distkey-hash.md). It must not change while the table holds
    /// rows: they stay where the recorded hash put them. Records written before the
    /// field existed read as [`DistHash::RowFormatV0`], the hash their rows were placed
    /// with. [`Catalog::create_table`] stores the value it is given; the leader creates
    /// tables with [`DistHash::CanonicalV1`], and every router (INSERT, COPY, the rows
    /// a join moves to a table's slices) places rows with the table's own hash.
    #[serde(default = "placed_before_dist_hash_was_recorded")]
    pub dist_hash: DistHash,
    /// The user who owns the table: its creator, or whom `ALTER TABLE ... OWNER TO`
    /// named. Tables made before owners were recorded belong to the first user.
    #[serde(default = "bootstrap_user_id")]
    pub owner: i32,
    /// What GRANT gave others on the table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<AclItem>,
    /// PRIMARY KEY, UNIQUE and FOREIGN KEY constraints (stored, not enforced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
}

/// The hash of tables whose records have no `dist_hash`.
fn placed_before_dist_hash_was_recorded() -> DistHash {
    DistHash::RowFormatV0
}

impl TableDef {
    /// The Arrow schema of the table's rows.
    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
                .collect::<Vec<_>>(),
        )
    }

    /// The Arrow schema of the table's segment files: the same columns, named by id.
    pub fn file_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    let field = Field::new(file_column_name(c.id), c.data_type.clone(), c.nullable);
                    match &c.encoding {
                        Some(e) => field
                            .with_metadata([(ENCODING_METADATA_KEY.to_string(), e.clone())].into()),
                        None => field,
                    }
                })
                .collect::<Vec<_>>(),
        )
    }

    /// The index of the column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// What ANALYZE recorded about a table, for the planner and SVV_TABLE_INFO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableStatistics {
    /// Rows (not deleted) when ANALYZE ran.
    pub rows: u64,
    /// The table version ANALYZE read.
    pub version: u64,
    /// When ANALYZE ran (RFC 3339).
    pub analyzed_at: String,
    /// Per column, in the table's column order at the time.
    pub columns: Vec<ColumnStatistics>,
}

/// One column's statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnStatistics {
    pub name: String,
    pub nulls: u64,
    /// Smallest and largest value as text (NULL when the column has no values).
    pub min: Option<String>,
    pub max: Option<String>,
    /// Estimated distinct values.
    pub distinct: u64,
}

impl TableStatistics {
    /// How far the statistics are off, Redshift's `stats_off`: the percentage by which
    /// the row count has changed since ANALYZE (0 = current, at most 100).
    pub fn staleness(&self, rows_now: u64) -> f64 {
        let base = rows_now.max(self.rows);
        if base == 0 {
            return 0.0;
        }
        (rows_now.abs_diff(self.rows) as f64 * 100.0 / base as f64).min(100.0)
    }
}

const LAYOUT_KEY: &[u8] = b"layout";
const NEXT_TABLE_ID_KEY: &[u8] = b"next_table_id";
const ID_OFFSET_KEY: &[u8] = b"id_offset";
const FORMAT_VERSION_KEY: &[u8] = b"format_version";
const DATABASE_ACCESS_KEY: &[u8] = b"database_access";

/// The catalog format this release writes, and the newest it opens: the `meta`
/// record `format_version` (docs/design/0003-catalog-records.md). Version 0 is a
/// catalog made before the record existed (it has none); version 1 has the same
/// trees and records and says so. A release that changes records in a way older
/// releases would misread raises it.
pub const CATALOG_FORMAT_VERSION: u32 = 1;

/// The catalog database, or one transaction's view of it ([`Catalog::begin`]).
///
/// Every change commits through one path: a statement outside a transaction block
/// commits on its own (one sled transaction, flushed, retried when a concurrent
/// commit changed what it read); inside a block the change stays in the block's
/// view until [`Catalog::commit_transaction`] commits all of it at once, or the view
/// is dropped (ROLLBACK).
#[derive(Clone)]
pub struct Catalog {
    db: sled::Db,
    trees: Trees,
    /// The transaction this view belongs to; None for the committed catalog.
    transaction: Option<Arc<Mutex<Overlay>>>,
    /// The open transactions, whose segments are live until they end.
    open: Arc<Mutex<Vec<Weak<Mutex<Overlay>>>>>,
    /// Added to sled's id counter: in a catalog restored from a snapshot, past every
    /// id the snapshot holds (`meta.id_offset`; 0 when absent).
    id_offset: u64,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StorageError::Catalog(e.to_string()))
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::CorruptRecord {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn table_key(schema: &str, name: &str) -> Vec<u8> {
    format!("{schema}.{name}").into_bytes()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How often a statement's commit is retried when concurrent commits keep changing
/// what it read.
const COMMIT_ATTEMPTS: usize = 100;

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("in_transaction", &self.transaction.is_some())
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens (or creates) the catalog in `dir`. A new catalog gets `layout` and the
    /// schema `public`; an existing one keeps the layout it was created with.
    pub fn open(dir: &Path, layout: ClusterLayout) -> Result<Self> {
        let db = sled::Config::new().path(dir).open()?;
        let opened = Tree::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let trees = Trees(
            opened
                .try_into()
                .map_err(|_| StorageError::Catalog("a catalog tree is missing".into()))?,
            Arc::default(),
        );
        let mut catalog = Catalog {
            db,
            trees,
            transaction: None,
            open: Arc::default(),
            id_offset: 0,
        };
        if catalog.trees.get(Tree::Meta).get(LAYOUT_KEY)?.is_none() {
            let version = encode(&CATALOG_FORMAT_VERSION)?;
            let layout = encode(&layout)?;
            let public = encode(&"public")?;
            let mut first = Overlay::default();
            first.put(Tree::Meta, FORMAT_VERSION_KEY, version);
            first.put(Tree::Meta, LAYOUT_KEY, layout);
            first.put(Tree::Schemas, b"public", public);
            match first.commit(&catalog.trees) {
                Ok(()) => catalog.flush()?,
                Err(CommitError::Storage(e)) => return Err(e),
                Err(CommitError::Changed(_)) => {
                    return Err(StorageError::Catalog(
                        "another process created the catalog at the same time".into(),
                    ));
                }
            }
        }
        if let Some(bytes) = catalog.trees.get(Tree::Meta).get(ID_OFFSET_KEY)? {
            catalog.id_offset = decode(ID_OFFSET_KEY, &bytes)?;
        }
        let found = catalog.format_version()?;
        if found > CATALOG_FORMAT_VERSION {
            return Err(StorageError::CatalogVersion {
                found,
                supported: CATALOG_FORMAT_VERSION,
            });
        }
        Ok(catalog)
    }

    /// A view of this catalog for a new transaction block: it reads the catalog as
    /// committed at its first read (one snapshot, for every table) and its own
    /// changes, and commits them all at once with [`Catalog::commit_transaction`];
    /// dropping it rolls them back.
    pub fn begin(&self) -> Catalog {
        let overlay = Arc::new(Mutex::new(Overlay::for_block()));
        let mut open = lock(&self.open);
        open.retain(|o| o.strong_count() > 0);
        open.push(Arc::downgrade(&overlay));
        Catalog {
            transaction: Some(overlay),
            ..self.clone()
        }
    }

    /// Whether this is a transaction's view.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Whether this transaction's view has changes to commit.
    pub fn has_changes(&self) -> bool {
        self.transaction.as_ref().is_some_and(|t| lock(t).wrote())
    }

    /// COMMIT: the transaction's changes, every table and schema it touched, become
    /// visible at once, or, when another transaction changed a table or definition
    /// this one read, none do (a [`StorageError::Conflict`], SQLSTATE 40001). The view
    /// reads the committed catalog afresh afterwards.
    pub fn commit_transaction(&self) -> Result<()> {
        let Some(txn) = &self.transaction else {
            return Ok(());
        };
        let overlay = std::mem::replace(&mut *lock(txn), Overlay::for_block());
        if !overlay.wrote() {
            return Ok(());
        }
        crate::fault::crash_point("before_commit");
        match overlay.commit(&self.trees) {
            Ok(()) => {}
            Err(CommitError::Storage(e)) => return Err(e),
            Err(CommitError::Changed(changed)) => return Err(self.conflict(&changed)),
        }
        self.flush()?;
        crate::fault::crash_point("after_commit");
        Ok(())
    }

    /// The serialization failure of a commit whose reads changed, naming the object.
    fn conflict(&self, changed: &Changed) -> StorageError {
        let committed = Catalog {
            transaction: None,
            ..self.clone()
        };
        let key = String::from_utf8_lossy(&changed.key).into_owned();
        let table = match changed.tree {
            Tree::Versions | Tree::Statistics => {
                let id = <[u8; 8]>::try_from(changed.key.as_slice())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                committed
                    .all_tables()
                    .ok()
                    .and_then(|all| all.into_iter().find(|t| t.id == id))
                    .map_or_else(|| format!("table id {id}"), |t| t.qualified_name())
            }
            _ => key,
        };
        StorageError::Conflict {
            table,
            reason: "a concurrent transaction changed it after this transaction read it".into(),
        }
    }

    /// Runs `op` over this view: inside a transaction its changes stay there; outside
    /// one they commit at once, and `op` runs again when a concurrent commit changed
    /// what it read.
    fn write<T>(&self, op: impl Fn(&mut View<'_>) -> Result<T>) -> Result<T> {
        if let Some(txn) = &self.transaction {
            let mut overlay = lock(txn);
            return op(&mut View {
                overlay: &mut overlay,
                trees: &self.trees,
            });
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut overlay = Overlay::default();
            let value = op(&mut View {
                overlay: &mut overlay,
                trees: &self.trees,
            })?;
            crate::fault::crash_point("before_commit");
            match overlay.commit(&self.trees) {
                Ok(()) => {
                    self.flush()?;
                    crate::fault::crash_point("after_commit");
                    return Ok(value);
                }
                Err(CommitError::Storage(e)) => return Err(e),
                Err(CommitError::Changed(changed)) if attempt >= COMMIT_ATTEMPTS => {
                    return Err(self.conflict(&changed));
                }
                Err(CommitError::Changed(_)) => {}
            }
        }
    }

    /// The value of `key` in this view.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match &self.transaction {
            Some(txn) => lock(txn).get(&self.trees, tree, key),
            None => Ok(self.trees.get(tree).get(key)?.map(|v| v.to_vec())),
        }
    }

    /// The records under `prefix` in this view, decoded, sorted by key.
    fn scan<T: DeserializeOwned>(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<T>> {
        let records = match &self.transaction {
            Some(txn) => lock(txn).scan(&self.trees, tree, prefix)?,
            None => self
                .trees
                .get(tree)
                .scan_prefix(prefix)
                .map(|kv| {
                    let (k, v) = kv?;
                    Ok((k.to_vec(), v.to_vec()))
                })
                .collect::<Result<_>>()?,
        };
        records.iter().map(|(k, v)| decode(k, v)).collect()
    }

    /// The catalog's format version: [`CATALOG_FORMAT_VERSION`] for a catalog this
    /// release created, 0 for one created before catalogs recorded it. Opening a
    /// catalog does not change it.
    pub fn format_version(&self) -> Result<u32> {
        match self.get(Tree::Meta, FORMAT_VERSION_KEY)? {
            Some(bytes) => decode(FORMAT_VERSION_KEY, &bytes),
            None => Ok(0),
        }
    }

    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The layout the cluster was created with.
    pub fn layout(&self) -> Result<ClusterLayout> {
        let bytes = self
            .get(Tree::Meta, LAYOUT_KEY)?
            .ok_or_else(|| StorageError::Catalog("cluster layout missing".into()))?;
        decode(LAYOUT_KEY, &bytes)
    }

    /// Schema names, sorted.
    pub fn schemas(&self) -> Result<Vec<String>> {
        self.scan(Tree::Schemas, b"")
    }

    /// Whether the schema exists.
    pub fn schema_exists(&self, name: &str) -> Result<bool> {
        Ok(self.get(Tree::Schemas, name.as_bytes())?.is_some())
    }

    /// Creates a schema owned by `owner`.
    pub fn create_schema(&self, name: &str, owner: i32) -> Result<()> {
        let value = encode(&name)?;
        let access = encode(&ObjectAccess { owner, acl: vec![] })?;
        self.write(|tx| {
            if tx.get(Tree::Schemas, name.as_bytes())?.is_some() {
                return Err(StorageError::SchemaExists(name.to_string()));
            }
            tx.put(Tree::Schemas, name.as_bytes(), value.clone());
            tx.put(Tree::SchemaAccess, name.as_bytes(), access.clone());
            Ok(())
        })
    }

    /// Drops an empty schema.
    pub fn drop_schema(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            if tx.get(Tree::Schemas, name.as_bytes())?.is_none() {
                return Err(StorageError::SchemaNotFound(name.to_string()));
            }
            let prefix = format!("{name}.");
            if !tx.scan(Tree::Tables, prefix.as_bytes())?.is_empty()
                || !tx.scan(Tree::Views, prefix.as_bytes())?.is_empty()
            {
                return Err(StorageError::SchemaNotEmpty(name.to_string()));
            }
            tx.remove(Tree::Schemas, name.as_bytes());
            tx.remove(Tree::SchemaAccess, name.as_bytes());
            comments::remove_schema(tx, name);
            Ok(())
        })
    }

    /// Tables of one schema, sorted by name.
    pub fn tables_in(&self, schema: &str) -> Result<Vec<TableDef>> {
        self.scan(Tree::Tables, format!("{schema}.").as_bytes())
    }

    /// Every table.
    pub fn all_tables(&self) -> Result<Vec<TableDef>> {
        self.scan(Tree::Tables, b"")
    }

    /// A table by schema and name.
    pub fn table(&self, schema: &str, name: &str) -> Result<Option<TableDef>> {
        let key = table_key(schema, name);
        match self.get(Tree::Tables, &key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// Creates a table (id assigned here) with an empty version, or with `version`
    /// when given (CREATE TABLE AS commits its rows in the same transaction).
    pub fn create_table(
        &self,
        mut def: TableDef,
        version: Option<TableVersion>,
    ) -> Result<TableDef> {
        def.id = self.new_object_id()?;
        constraints::refer_to_itself(&mut def);
        let key = table_key(&def.schema, &def.name);
        let id_key = def.id.to_be_bytes();
        let mut version = version.unwrap_or_default();
        version.version = 1;
        for segments in version.slices.values_mut() {
            if let [only] = segments.as_mut_slice() {
                only.sorted = true;
            }
        }
        let def_bytes = encode(&def)?;
        let version_bytes = encode(&version)?;
        let qualified = def.qualified_name();
        self.write(|tx| {
            if tx.get(Tree::Schemas, def.schema.as_bytes())?.is_none() {
                return Err(StorageError::SchemaNotFound(def.schema.clone()));
            }
            if tx.get(Tree::Tables, &key)?.is_some() || views::is_view(tx, &def.schema, &def.name)?
            {
                return Err(StorageError::TableExists(qualified.clone()));
            }
            tx.put(Tree::Tables, &key, def_bytes.clone());
            tx.put(Tree::Versions, &id_key, version_bytes.clone());
            tx.put(Tree::Meta, NEXT_TABLE_ID_KEY, id_key.to_vec());
            Ok(())
        })?;
        Ok(def)
    }

    /// Changes a table's definition (ALTER TABLE): `change` gets the current
    /// definition. A new name moves the table; the new name must be free. A table
    /// that regular views read keeps its name and columns (columns may be added):
    /// the views name them. A key that other tables' foreign keys reference is
    /// dropped only with `cascade`, which drops them.
    pub fn alter_table(
        &self,
        schema: &str,
        name: &str,
        cascade: bool,
        change: impl Fn(&mut TableDef) -> Result<()>,
    ) -> Result<TableDef> {
        let key = table_key(schema, name);
        self.write(|tx| {
            let Some(bytes) = tx.get(Tree::Tables, &key)? else {
                return Err(StorageError::TableNotFound(format!("{schema}.{name}")));
            };
            let old: TableDef = decode(&key, &bytes)?;
            let mut def = old.clone();
            change(&mut def)?;
            constraints::on_alter(tx, &old, &mut def, cascade)?;
            let new_key = table_key(&def.schema, &def.name);
            let kept = |c: &ColumnDef| def.columns.iter().any(|n| n.id == c.id && n.name == c.name);
            if new_key != key || !old.columns.iter().all(kept) {
                let what = format!("table {}", old.qualified_name());
                views::drop_dependents(tx, &what, &old.qualified_name(), false)?;
            }
            if new_key != key {
                if tx.get(Tree::Tables, &new_key)?.is_some()
                    || views::is_view(tx, &def.schema, &def.name)?
                {
                    return Err(StorageError::TableExists(def.qualified_name()));
                }
                tx.remove(Tree::Tables, &key);
            }
            tx.put(Tree::Tables, &new_key, encode(&def)?);
            Ok(def)
        })
    }

    /// Drops a table and its versions; its segments become garbage. Views that read
    /// it are dropped with it (`cascade`), or keep it from being dropped. A
    /// materialized view's table goes with its view only.
    pub fn drop_table(&self, schema: &str, name: &str, cascade: bool) -> Result<TableDef> {
        let key = table_key(schema, name);
        self.write(|tx| {
            let def: TableDef = match tx.get(Tree::Tables, &key)? {
                Some(v) => decode(&key, &v)?,
                None => return Err(StorageError::TableNotFound(format!("{schema}.{name}"))),
            };
            let what = format!("table {schema}.{name}");
            views::drop_dependents(tx, &what, &def.qualified_name(), cascade)?;
            constraints::on_drop(tx, &def, cascade)?;
            // A materialized view dropped with it took its own table along.
            if tx.get(Tree::Tables, &key)?.is_some() {
                remove_table(tx, schema, name)?;
            }
            Ok(def)
        })
    }

    /// The version of a table in this view.
    pub fn version(&self, table_id: u64) -> Result<TableVersion> {
        let key = table_id.to_be_bytes();
        match self.get(Tree::Versions, &key)? {
            Some(v) => decode(&key, &v),
            None => Err(StorageError::TableNotFound(format!("table id {table_id}"))),
        }
    }

    /// Makes `next(current)` the table's new version, numbered the current one plus
    /// one. It applies to the version committed when the change commits, without
    /// reading it first: appends from concurrent transactions all land.
    fn update_version(
        &self,
        table_id: u64,
        next: impl Fn(TableVersion) -> Result<TableVersion> + Send + Sync + 'static,
    ) -> Result<()> {
        let key = table_id.to_be_bytes();
        let next = Arc::new(next);
        self.write(|tx| {
            let next = Arc::clone(&next);
            let merge: Merge = Arc::new(move |current: Option<&[u8]>| {
                let Some(current) = current else {
                    return Err(StorageError::TableNotFound(format!("table id {table_id}")));
                };
                let current: TableVersion = decode(&key, current)?;
                let number = current.version + 1;
                let mut version = next(current)?;
                version.version = number;
                encode(&version)
            });
            tx.merge(Tree::Versions, &key, merge)
        })
    }

    /// Appends staged segments to a table's current version, as one new version.
    /// Appends do not conflict with each other, so concurrent inserts all land.
    pub fn append_segments(
        &self,
        table_id: u64,
        added: &BTreeMap<u32, Vec<SegmentRef>>,
    ) -> Result<TableVersion> {
        let change = TableChange {
            added: added.clone(),
            ..TableChange::default()
        };
        self.commit(table_id, &format!("table id {table_id}"), &change)
    }

    /// Commits one statement's `change` to a table as one new version (see
    /// [`TableVersion::apply`] for the conflicts that refuse it). `table` names the
    /// table in errors. Returns the version as this view sees it afterwards.
    pub fn commit(&self, table_id: u64, table: &str, change: &TableChange) -> Result<TableVersion> {
        let (table, change) = (table.to_string(), change.clone());
        self.update_version(table_id, move |mut version| {
            version.apply(&table, &change)?;
            Ok(version)
        })?;
        self.version_after_write(table_id)
    }

    /// Empties a table: a new version with no segments (TRUNCATE). The old segments
    /// become garbage.
    pub fn truncate(&self, table_id: u64) -> Result<TableVersion> {
        self.update_version(table_id, |_| Ok(TableVersion::default()))?;
        self.version_after_write(table_id)
    }

    /// A table's version right after this view changed it: the transaction's view of
    /// it, or, outside one, what is committed now.
    fn version_after_write(&self, table_id: u64) -> Result<TableVersion> {
        let key = table_id.to_be_bytes();
        let bytes = match &self.transaction {
            Some(txn) => lock(txn).get_unrecorded(&self.trees, Tree::Versions, &key)?,
            None => self.trees.get(Tree::Versions).get(key)?.map(|v| v.to_vec()),
        };
        match bytes {
            Some(v) => decode(&key, &v),
            None => Err(StorageError::TableNotFound(format!("table id {table_id}"))),
        }
    }

    /// Every segment name some table version references, per slice: the committed
    /// versions', and those open transaction blocks wrote or read.
    pub fn live_segments(&self) -> Result<BTreeMap<u32, Vec<String>>> {
        let mut versions: Vec<(Vec<u8>, Vec<u8>)> = vec![];
        for kv in self.trees.get(Tree::Versions).iter() {
            let (k, v) = kv?;
            versions.push((k.to_vec(), v.to_vec()));
        }
        let open: Vec<Arc<Mutex<Overlay>>> =
            lock(&self.open).iter().filter_map(Weak::upgrade).collect();
        for overlay in open {
            let mut overlay = lock(&overlay);
            // What the block wrote, and the versions of its snapshot, which it may
            // still read after a concurrent VACUUM replaced them.
            let mut seen = overlay.written(&self.trees, Tree::Versions)?;
            seen.extend(overlay.snapshot_values(Tree::Versions));
            versions.extend(seen.into_iter().filter_map(|(k, v)| Some((k, v?))));
        }
        let mut live: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for (k, v) in versions {
            let version: TableVersion = decode(&k, &v)?;
            for (slice, segments) in version.slices {
                live.entry(slice)
                    .or_default()
                    .extend(segments.into_iter().map(|s| s.name));
            }
        }
        for names in live.values_mut() {
            names.sort();
            names.dedup();
        }
        Ok(live)
    }

    /// The statistics ANALYZE last recorded for a table.
    pub fn statistics(&self, table_id: u64) -> Result<Option<TableStatistics>> {
        let key = table_id.to_be_bytes();
        match self.get(Tree::Statistics, &key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// Records a table's statistics (ANALYZE).
    pub fn put_statistics(&self, table_id: u64, stats: &TableStatistics) -> Result<()> {
        let bytes = encode(stats)?;
        self.write(|tx| {
            tx.put(Tree::Statistics, &table_id.to_be_bytes(), bytes.clone());
            Ok(())
        })
    }
}

/// Removes table `schema.name`, its versions, statistics and comments.
fn remove_table(tx: &mut View<'_>, schema: &str, name: &str) -> Result<TableDef> {
    let key = table_key(schema, name);
    let def: TableDef = match tx.get(Tree::Tables, &key)? {
        Some(v) => decode(&key, &v)?,
        None => return Err(StorageError::TableNotFound(format!("{schema}.{name}"))),
    };
    let id_key = def.id.to_be_bytes();
    tx.remove(Tree::Tables, &key);
    tx.remove(Tree::Versions, &id_key);
    tx.remove(Tree::Statistics, &id_key);
    comments::remove_all(tx, def.id)?;
    Ok(def)
}

#[cfg(test)]
pub(crate) mod tests;
