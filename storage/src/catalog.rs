//! The catalog: schemas, tables, table versions, users and the cluster layout, in sled.
//!
//! Every change is one sled transaction followed by a flush, so after a crash the
//! catalog shows either the state before a statement or the state after it.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_schema::{DataType, Field, Schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

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

/// A user (Redshift: a database user) and its password verifiers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDef {
    pub name: String,
    pub superuser: bool,
    /// SCRAM-SHA-256 salt.
    pub scram_salt: Vec<u8>,
    /// SCRAM-SHA-256 salted password (PBKDF2 of the password).
    pub scram_salted_password: Vec<u8>,
    pub scram_iterations: u32,
    /// PostgreSQL's MD5 verifier: hex md5 of password || user name.
    pub md5_hash: String,
}

const LAYOUT_KEY: &[u8] = b"layout";
const NEXT_TABLE_ID_KEY: &[u8] = b"next_table_id";
const FORMAT_VERSION_KEY: &[u8] = b"format_version";

/// The catalog format this release writes, and the newest it opens: the `meta`
/// record `format_version` (docs/design/0003-catalog-records.md). Version 0 is a
/// catalog made before the record existed (it has none); version 1 has the same
/// trees and records and says so. A release that changes records in a way older
/// releases would misread raises it.
pub const CATALOG_FORMAT_VERSION: u32 = 1;

/// The catalog database.
#[derive(Clone)]
pub struct Catalog {
    db: sled::Db,
    meta: sled::Tree,
    schemas: sled::Tree,
    tables: sled::Tree,
    versions: sled::Tree,
    users: sled::Tree,
    statistics: sled::Tree,
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

fn abort<T>(e: StorageError) -> std::result::Result<T, ConflictableTransactionError<StorageError>> {
    Err(ConflictableTransactionError::Abort(e))
}

fn from_tx(e: TransactionError<StorageError>) -> StorageError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens (or creates) the catalog in `dir`. A new catalog gets `layout` and the
    /// schema `public`; an existing one keeps the layout it was created with.
    pub fn open(dir: &Path, layout: ClusterLayout) -> Result<Self> {
        let db = sled::Config::new().path(dir).open()?;
        let catalog = Catalog {
            meta: db.open_tree("meta")?,
            schemas: db.open_tree("schemas")?,
            tables: db.open_tree("tables")?,
            versions: db.open_tree("versions")?,
            users: db.open_tree("users")?,
            statistics: db.open_tree("statistics")?,
            db,
        };
        if catalog.meta.get(LAYOUT_KEY)?.is_none() {
            let version = encode(&CATALOG_FORMAT_VERSION)?;
            let layout = encode(&layout)?;
            let public = encode(&"public")?;
            (&catalog.meta, &catalog.schemas)
                .transaction(|(meta, schemas)| {
                    meta.insert(FORMAT_VERSION_KEY, version.as_slice())?;
                    meta.insert(LAYOUT_KEY, layout.as_slice())?;
                    schemas.insert("public", public.as_slice())?;
                    Ok::<_, ConflictableTransactionError<StorageError>>(())
                })
                .map_err(from_tx)?;
            catalog.flush()?;
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

    /// The catalog's format version: [`CATALOG_FORMAT_VERSION`] for a catalog this
    /// release created, 0 for one created before catalogs recorded it. Opening a
    /// catalog does not change it.
    pub fn format_version(&self) -> Result<u32> {
        match self.meta.get(FORMAT_VERSION_KEY)? {
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
            .meta
            .get(LAYOUT_KEY)?
            .ok_or_else(|| StorageError::Catalog("cluster layout missing".into()))?;
        decode(LAYOUT_KEY, &bytes)
    }

    /// Schema names, sorted.
    pub fn schemas(&self) -> Result<Vec<String>> {
        self.schemas
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }

    /// Whether the schema exists.
    pub fn schema_exists(&self, name: &str) -> Result<bool> {
        Ok(self.schemas.contains_key(name)?)
    }

    /// Creates a schema.
    pub fn create_schema(&self, name: &str) -> Result<()> {
        let created =
            self.schemas
                .compare_and_swap(name, None as Option<&[u8]>, Some(encode(&name)?))?;
        if created.is_err() {
            return Err(StorageError::SchemaExists(name.to_string()));
        }
        self.flush()
    }

    /// Drops an empty schema.
    pub fn drop_schema(&self, name: &str) -> Result<()> {
        if !self.schema_exists(name)? {
            return Err(StorageError::SchemaNotFound(name.to_string()));
        }
        if !self.tables_in(name)?.is_empty() {
            return Err(StorageError::SchemaNotEmpty(name.to_string()));
        }
        self.schemas.remove(name)?;
        self.flush()
    }

    /// Tables of one schema, sorted by name.
    pub fn tables_in(&self, schema: &str) -> Result<Vec<TableDef>> {
        let prefix = format!("{schema}.");
        self.tables
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Every table.
    pub fn all_tables(&self) -> Result<Vec<TableDef>> {
        self.tables
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// A table by schema and name.
    pub fn table(&self, schema: &str, name: &str) -> Result<Option<TableDef>> {
        let key = table_key(schema, name);
        match self.tables.get(&key)? {
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
        if !self.schema_exists(&def.schema)? {
            return Err(StorageError::SchemaNotFound(def.schema.clone()));
        }
        def.id = self.db.generate_id()? + 1;
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
        (&self.tables, &self.versions, &self.meta)
            .transaction(|(tables, versions, meta)| {
                if tables.get(&key)?.is_some() {
                    return abort(StorageError::TableExists(qualified.clone()));
                }
                tables.insert(key.as_slice(), def_bytes.as_slice())?;
                versions.insert(&id_key, version_bytes.as_slice())?;
                meta.insert(NEXT_TABLE_ID_KEY, &id_key)?;
                Ok(())
            })
            .map_err(from_tx)?;
        self.flush()?;
        Ok(def)
    }

    /// Changes a table's definition (ALTER TABLE) in one transaction: `change` gets the
    /// current definition. A new name moves the table; the new name must be free.
    pub fn alter_table(
        &self,
        schema: &str,
        name: &str,
        change: impl Fn(&mut TableDef) -> Result<()>,
    ) -> Result<TableDef> {
        let key = table_key(schema, name);
        let qualified = format!("{schema}.{name}");
        let def = self
            .tables
            .transaction(|tables| {
                let Some(bytes) = tables.get(&key)? else {
                    return abort(StorageError::TableNotFound(qualified.clone()));
                };
                let mut def: TableDef = match decode(&key, &bytes) {
                    Ok(d) => d,
                    Err(e) => return abort(e),
                };
                if let Err(e) = change(&mut def) {
                    return abort(e);
                }
                let new_key = table_key(&def.schema, &def.name);
                if new_key != key {
                    if tables.get(&new_key)?.is_some() {
                        return abort(StorageError::TableExists(def.qualified_name()));
                    }
                    tables.remove(key.as_slice())?;
                }
                let bytes = match encode(&def) {
                    Ok(b) => b,
                    Err(e) => return abort(e),
                };
                tables.insert(new_key.as_slice(), bytes)?;
                Ok(def)
            })
            .map_err(from_tx)?;
        self.flush()?;
        Ok(def)
    }

    /// Drops a table and its versions; its segments become garbage.
    pub fn drop_table(&self, schema: &str, name: &str) -> Result<TableDef> {
        let key = table_key(schema, name);
        let def: TableDef = match self.tables.get(&key)? {
            Some(v) => decode(&key, &v)?,
            None => return Err(StorageError::TableNotFound(format!("{schema}.{name}"))),
        };
        let id_key = def.id.to_be_bytes();
        (&self.tables, &self.versions, &self.statistics)
            .transaction(|(tables, versions, statistics)| {
                tables.remove(key.as_slice())?;
                versions.remove(&id_key)?;
                statistics.remove(&id_key)?;
                Ok::<_, ConflictableTransactionError<StorageError>>(())
            })
            .map_err(from_tx)?;
        self.flush()?;
        Ok(def)
    }

    /// The committed version of a table.
    pub fn version(&self, table_id: u64) -> Result<TableVersion> {
        let key = table_id.to_be_bytes();
        match self.versions.get(key)? {
            Some(v) => decode(&key, &v),
            None => Err(StorageError::TableNotFound(format!("table id {table_id}"))),
        }
    }

    /// Installs `next(current)` as the table's new version, in one transaction, and
    /// flushes it. The version number is the current one plus one.
    fn update_version(
        &self,
        table_id: u64,
        next: impl Fn(TableVersion) -> Result<TableVersion>,
    ) -> Result<TableVersion> {
        let key = table_id.to_be_bytes();
        let new_version = self
            .versions
            .transaction(|versions| {
                let Some(current) = versions.get(key)? else {
                    return abort(StorageError::TableNotFound(format!("table id {table_id}")));
                };
                let current: TableVersion = match decode(&key, &current) {
                    Ok(v) => v,
                    Err(e) => return abort(e),
                };
                let number = current.version + 1;
                let mut version = match next(current) {
                    Ok(v) => v,
                    Err(e) => return abort(e),
                };
                version.version = number;
                let bytes = match encode(&version) {
                    Ok(b) => b,
                    Err(e) => return abort(e),
                };
                versions.insert(&key, bytes)?;
                Ok(version)
            })
            .map_err(from_tx)?;
        self.flush()?;
        Ok(new_version)
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
    /// table in errors.
    pub fn commit(&self, table_id: u64, table: &str, change: &TableChange) -> Result<TableVersion> {
        crate::fault::crash_point("before_commit");
        let version = self.update_version(table_id, |mut version| {
            version.apply(table, change)?;
            Ok(version)
        })?;
        crate::fault::crash_point("after_commit");
        Ok(version)
    }

    /// Empties a table: a new version with no segments (TRUNCATE). The old segments
    /// become garbage.
    pub fn truncate(&self, table_id: u64) -> Result<TableVersion> {
        self.update_version(table_id, |_| Ok(TableVersion::default()))
    }

    /// Every segment name some table version references, per slice.
    pub fn live_segments(&self) -> Result<BTreeMap<u32, Vec<String>>> {
        let mut live: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for kv in self.versions.iter() {
            let (k, v) = kv?;
            let version: TableVersion = decode(&k, &v)?;
            for (slice, segments) in version.slices {
                live.entry(slice)
                    .or_default()
                    .extend(segments.into_iter().map(|s| s.name));
            }
        }
        Ok(live)
    }

    /// The statistics ANALYZE last recorded for a table.
    pub fn statistics(&self, table_id: u64) -> Result<Option<TableStatistics>> {
        let key = table_id.to_be_bytes();
        match self.statistics.get(key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// Records a table's statistics (ANALYZE).
    pub fn put_statistics(&self, table_id: u64, stats: &TableStatistics) -> Result<()> {
        self.statistics
            .insert(table_id.to_be_bytes(), encode(stats)?)?;
        self.flush()
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Result<Option<UserDef>> {
        match self.users.get(name)? {
            Some(v) => Ok(Some(decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// Creates or replaces a user.
    pub fn put_user(&self, user: &UserDef) -> Result<()> {
        self.users.insert(user.name.as_bytes(), encode(user)?)?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deletes::DeleteVector;

    fn table(name: &str) -> TableDef {
        TableDef {
            id: 0,
            schema: "public".into(),
            name: name.into(),
            columns: vec![ColumnDef {
                id: 0,
                missing_value: None,
                name: "a".into(),
                data_type: DataType::Int32,
                nullable: true,
                declared_type: "integer".into(),
                encoding: None,
            }],
            dist_style: DistStyle::Even,
            dist_key: None,
            sort_key: vec![],
            sort_style: SortStyle::Compound,
            backup: true,
            next_column_id: 1,
            dist_hash: DistHash::RowFormatV0,
        }
    }

    #[test]
    fn tables_and_versions_survive_reopen() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let layout = ClusterLayout {
            nodes: 2,
            slices_per_node: 2,
        };
        let id = {
            let catalog = Catalog::open(dir.path(), layout)?;
            let def = catalog.create_table(table("t"), None)?;
            assert!(matches!(
                catalog.create_table(table("t"), None),
                Err(StorageError::TableExists(_))
            ));
            let mut added = BTreeMap::new();
            added.insert(3, vec![SegmentRef::new("abc".into(), 7, 100)]);
            let v = catalog.append_segments(def.id, &added)?;
            assert_eq!(v.version, 2);
            def.id
        };
        let catalog = Catalog::open(
            dir.path(),
            ClusterLayout {
                nodes: 9,
                slices_per_node: 9,
            },
        )?;
        assert_eq!(catalog.layout()?, layout, "the layout is fixed at creation");
        assert_eq!(catalog.version(id)?.rows(), 7);
        assert_eq!(
            catalog.live_segments()?.get(&3),
            Some(&vec!["abc".to_string()])
        );
        // A delete commits once; the same rows deleted again conflict (40001), and so
        // does a delete from a segment that is no longer where it was read.
        let mut change = TableChange::default();
        change.deleted.insert(
            (3, 0),
            ("abc".to_string(), DeleteVector::from_positions([1, 2])),
        );
        assert_eq!(catalog.commit(id, "t", &change)?.rows(), 5);
        assert!(matches!(
            catalog.commit(id, "t", &change),
            Err(StorageError::Conflict { .. })
        ));
        change.deleted.clear();
        change
            .deleted
            .insert((3, 1), ("abc".into(), DeleteVector::from_positions([0])));
        assert!(matches!(
            catalog.commit(id, "t", &change),
            Err(StorageError::Conflict { .. })
        ));
        assert_eq!(
            catalog.version(id)?.rows(),
            5,
            "a refused commit changes nothing"
        );
        let emptied = catalog.truncate(id)?;
        assert_eq!((emptied.version, emptied.rows()), (4, 0));
        catalog.drop_table("public", "t")?;
        assert!(catalog.table("public", "t")?.is_none());
        assert!(catalog.live_segments()?.is_empty());
        Ok(())
    }

    /// A catalog as the release before `format_version` and `dist_hash` wrote it:
    /// the same trees, no version record, table records without the field.
    fn write_catalog_of_the_previous_release(dir: &Path) -> Result<()> {
        let db = sled::Config::new().path(dir).open()?;
        let meta = db.open_tree("meta")?;
        meta.insert(LAYOUT_KEY, br#"{"nodes":2,"slices_per_node":2}"#.as_slice())?;
        db.open_tree("schemas")?
            .insert("public", br#""public""#.as_slice())?;
        db.open_tree("tables")?.insert(
            "public.old",
            br#"{"id":1,"schema":"public","name":"old","columns":[{"id":0,"name":"k","data_type":"Int64","nullable":true,"declared_type":"bigint","encoding":null}],"dist_style":"Key","dist_key":0,"sort_key":[],"sort_style":"Compound","backup":true,"next_column_id":1}"#.as_slice(),
        )?;
        db.open_tree("versions")?.insert(
            1u64.to_be_bytes(),
            br#"{"version":1,"slices":{}}"#.as_slice(),
        )?;
        meta.insert(NEXT_TABLE_ID_KEY, 1u64.to_be_bytes().as_slice())?;
        db.flush()?;
        Ok(())
    }

    #[test]
    fn an_existing_catalog_opens_as_version_0_with_v0_tables() -> Result<()> {
        let dir = tempfile::tempdir()?;
        write_catalog_of_the_previous_release(dir.path())?;
        let layout = ClusterLayout {
            nodes: 2,
            slices_per_node: 2,
        };
        {
            let catalog = Catalog::open(dir.path(), layout)?;
            assert_eq!(
                catalog.format_version()?,
                0,
                "a missing record is version 0"
            );
            let old = catalog.table("public", "old")?.expect("the old table");
            assert_eq!(old.dist_hash, DistHash::RowFormatV0);
            assert_eq!((old.dist_style, old.dist_key), (DistStyle::Key, Some(0)));
            // A table created now records its hash, next to the old one.
            let mut new = table("new");
            new.dist_hash = DistHash::CanonicalV1;
            catalog.create_table(new, None)?;
        }
        let catalog = Catalog::open(dir.path(), layout)?;
        assert_eq!(catalog.format_version()?, 0, "opening does not upgrade it");
        let hashes: Vec<(String, DistHash)> = catalog
            .all_tables()?
            .into_iter()
            .map(|t| (t.name, t.dist_hash))
            .collect();
        assert_eq!(
            hashes,
            [
                ("new".to_string(), DistHash::CanonicalV1),
                ("old".to_string(), DistHash::RowFormatV0)
            ]
        );
        Ok(())
    }

    #[test]
    fn a_new_catalog_records_its_format_version() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let layout = ClusterLayout {
            nodes: 1,
            slices_per_node: 2,
        };
        {
            let catalog = Catalog::open(dir.path(), layout)?;
            assert_eq!(catalog.format_version()?, CATALOG_FORMAT_VERSION);
            assert!(catalog.schema_exists("public")?);
            let def = catalog.create_table(table("t"), None)?;
            let stored = catalog.tables.get(b"public.t")?.expect("the record");
            let record: serde_json::Value = decode(b"public.t", &stored)?;
            assert_eq!(record["dist_hash"], "RowFormatV0", "{record}");
            assert_eq!(def.dist_hash, DistHash::RowFormatV0);
        }
        let catalog = Catalog::open(dir.path(), layout)?;
        assert_eq!(catalog.format_version()?, CATALOG_FORMAT_VERSION);
        // A catalog from a newer release is refused, not misread.
        catalog.meta.insert(FORMAT_VERSION_KEY, encode(&2u32)?)?;
        catalog.flush()?;
        drop(catalog);
        assert!(matches!(
            Catalog::open(dir.path(), layout),
            Err(StorageError::CatalogVersion {
                found: 2,
                supported: 1
            })
        ));
        Ok(())
    }
}
