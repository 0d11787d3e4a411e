//! `pg_catalog` as Blueshift's catalog describes it. The emulated pg_catalog
//! (datafusion-pg-catalog) knows DataFusion's tables: Arrow types, no owners, no
//! privileges, oids of its own. Here its pg_namespace, pg_class, pg_attribute,
//! pg_tables, pg_views and pg_description are replaced, for the schemas, tables and
//! views of the Blueshift catalog, by what PostgreSQL and Redshift would show:
//!
//! - one oid per object: a relation's is [`relation_oid`] (the table id SVV_TABLE_INFO
//!   and STV_TBL_PERM show), a schema's [`namespace_oid`] (`pg_catalog` is 11);
//! - real owners (`relowner`, `nspowner`, `tableowner`, `viewowner`) and ACLs
//!   (`relacl`, `nspacl`);
//! - declared types (`atttypid` and `atttypmod`, so `format_type` gives
//!   `character varying(20)` and `numeric(10,2)`), NOT NULL, and Redshift's
//!   `attisdistkey`, `attsortkeyord` and `attencodingtype`;
//! - views (relkind `v`, their columns, `pg_views.definition`) and COMMENT ON
//!   (pg_description).
//!
//! The rows of pg_catalog's and information_schema's own tables stay the crate's,
//! moved to the namespaces' oids here. The tables read the catalog of the statement
//! (its transaction block's view, or the committed one).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, new_empty_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use blueshift_storage::catalog::{Catalog, CommentTarget, DistStyle, SortStyle};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use blueshift_storage::catalog::access::Principal;

use crate::cluster::ClusterClient;
use crate::error::LeaderError;
use crate::query_log::QueryLog;
use crate::session::TEMP_SCHEMA_PREFIX;
use crate::system_tables::grants::{Names, acl_text};
use crate::system_tables::pg_types::{
    encoding_number, namespace_oid, pg_type, relation_oid, view_definition,
};

mod keys;

/// The pg_catalog tables this module answers.
const REPLACED: &[&str] = &[
    "pg_database",
    "pg_policy",
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_tables",
    "pg_views",
    "pg_description",
    "pg_constraint",
    "pg_index",
    "pg_settings",
    "pg_attrdef",
];

/// The schemas whose tables are the crate's: pg_catalog's own.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

/// `pg_class`'s oid, the `classoid` of a relation's comment.
const PG_CLASS_OID: i64 = 1259;
/// `pg_namespace`'s oid, the `classoid` of a schema's comment.
const PG_NAMESPACE_OID: i64 = 2615;

/// The emulated pg_catalog, with the tables above from the Blueshift catalog.
#[derive(Debug)]
pub struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    catalog: Catalog,
    /// Redshift's system tables, which are in pg_catalog too (`pg_catalog.svv_table_info`).
    system: Option<SystemTables>,
}

/// What the system tables are built from, and who reads them.
#[derive(Debug, Clone)]
pub struct SystemTables {
    pub cluster: ClusterClient,
    pub query_log: Arc<QueryLog>,
    pub viewer: Principal,
}

impl PgCatalog {
    /// `inner` (the crate's pg_catalog) with its tables about relations answered
    /// from `catalog`, and Redshift's system tables from `system`.
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        catalog: Catalog,
        system: Option<SystemTables>,
    ) -> Self {
        PgCatalog {
            inner,
            catalog,
            system,
        }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // Redshift's PG_PROC_INFO: pg_proc with its oid as a column, `prooid`.
        let source = if name == "pg_proc_info" {
            "pg_proc"
        } else {
            name
        };
        let Some(table) = self.inner.table(source).await? else {
            return match &self.system {
                Some(s) => {
                    crate::system_tables::lookup(
                        name,
                        &self.catalog,
                        &s.cluster,
                        &s.query_log,
                        &s.viewer,
                    )
                    .await
                }
                None => Ok(None),
            };
        };
        if !REPLACED.contains(&name) && name != "pg_proc_info" {
            return Ok(Some(table));
        }
        let mut fields: Vec<Field> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        // ACLs are arrays, as psql's `array_to_string` reads them; so are a row
        // security policy's roles (there are no policies: `\dp` reads the table).
        for f in &mut fields {
            if keys::is_int2_array(name, f.name()) {
                *f = Field::new(f.name(), keys::int2_array(), true);
            }
            if f.name() == "nspacl" || f.name() == "attacl" {
                *f = Field::new(f.name(), list.clone(), true);
            }
            if f.name() == "polroles" {
                let oids = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
                *f = Field::new(f.name(), oids, true);
            }
        }
        match name {
            "pg_class" => fields.extend([
                Field::new("relacl", list.clone(), true),
                Field::new("reloptions", list, true),
                Field::new("reldiststyle", DataType::Int32, true),
            ]),
            "pg_proc_info" => {
                let oid = fields.iter().find(|f| f.name() == "oid").cloned();
                fields.extend(oid.map(|f| f.with_name("prooid")));
            }
            "pg_attribute" => fields.extend([
                Field::new("attisdistkey", DataType::Boolean, false),
                Field::new("attsortkeyord", DataType::Int32, false),
                Field::new("attencodingtype", DataType::Int16, false),
            ]),
            // Redshift's (PostgreSQL 8's) pg_attrdef has the default's text.
            "pg_attrdef" if !fields.iter().any(|f| f.name() == "adsrc") => {
                fields.push(Field::new("adsrc", DataType::Utf8, true));
            }
            "pg_views" => {
                fields = ["schemaname", "viewname", "viewowner", "definition"]
                    .iter()
                    .map(|n| Field::new(*n, DataType::Utf8, true))
                    .collect();
            }
            _ => {}
        }
        Ok(Some(Arc::new(CatalogTable {
            name: name.to_string(),
            inner: Arc::clone(&self.inner),
            catalog: self.catalog.clone(),
            schema: Arc::new(Schema::new(fields)),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// One of the replaced tables.
#[derive(Debug)]
struct CatalogTable {
    name: String,
    inner: Arc<dyn SchemaProvider>,
    catalog: Catalog,
    schema: SchemaRef,
}

/// Every row of the crate's table `name`.
async fn crate_rows(
    inner: &Arc<dyn SchemaProvider>,
    name: &str,
    state: &dyn Session,
) -> Result<Vec<RecordBatch>> {
    let Some(table) = inner.table(name).await? else {
        return Ok(vec![]);
    };
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

/// Column `name` of `batch`, cast to `to`.
fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Plan(format!("pg_catalog has no column {name}")))?;
    Ok(arrow::compute::cast(c, to)?)
}

/// Rows built by column name, every column the rows do not name taking its default
/// (NULL where the column allows it, else zero, false or the empty string).
struct Rows {
    schema: SchemaRef,
    columns: Vec<Vec<ScalarValue>>,
}

impl Rows {
    fn new(schema: &SchemaRef) -> Self {
        Rows {
            schema: Arc::clone(schema),
            columns: vec![vec![]; schema.fields().len()],
        }
    }

    fn default_of(field: &Field) -> Result<ScalarValue> {
        if field.is_nullable() {
            return ScalarValue::try_from(field.data_type());
        }
        Ok(match field.data_type() {
            DataType::Boolean => ScalarValue::Boolean(Some(false)),
            DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
            other => ScalarValue::Int64(Some(0)).cast_to(other)?,
        })
    }

    /// Adds a row: `value(column)` for the columns it names.
    fn push(&mut self, value: impl Fn(&str) -> Option<ScalarValue>) -> Result<()> {
        for (i, field) in self.schema.fields().iter().enumerate() {
            let v = match value(field.name()) {
                Some(v) if v.data_type() == *field.data_type() => v,
                Some(v) if v.is_null() => ScalarValue::try_from(field.data_type())?,
                Some(v) => v.cast_to(field.data_type())?,
                None => Self::default_of(field)?,
            };
            self.columns[i].push(v);
        }
        Ok(())
    }

    /// Adds row `row` of the crate's `batch`, with `changed` values in place of its own.
    fn push_from(
        &mut self,
        batch: &RecordBatch,
        row: usize,
        changed: &HashMap<&str, ScalarValue>,
    ) -> Result<()> {
        let mut values = HashMap::new();
        for field in self.schema.fields() {
            let name = field.name().as_str();
            if let Some(v) = changed.get(name) {
                values.insert(name.to_string(), v.clone());
            } else if let Some(c) = batch.column_by_name(name) {
                values.insert(name.to_string(), ScalarValue::try_from_array(c, row)?);
            }
        }
        self.push(|name| values.get(name).cloned())
    }

    fn finish(self) -> Result<RecordBatch> {
        let arrays = self
            .columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(values, field)| {
                if values.is_empty() {
                    Ok(new_empty_array(field.data_type()))
                } else {
                    ScalarValue::iter_to_array(values)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), arrays)?)
    }
}

fn text(s: impl Into<String>) -> Option<ScalarValue> {
    Some(ScalarValue::Utf8(Some(s.into())))
}

fn int(v: i64) -> Option<ScalarValue> {
    Some(ScalarValue::Int64(Some(v)))
}

fn flag(v: bool) -> Option<ScalarValue> {
    Some(ScalarValue::Boolean(Some(v)))
}

/// An ACL as a `List(Utf8)` value (NULL when GRANT never touched it).
fn acl_list(items: Option<Vec<String>>) -> Option<ScalarValue> {
    let items = items?;
    let values: Vec<ScalarValue> = items
        .into_iter()
        .map(|i| ScalarValue::Utf8(Some(i)))
        .collect();
    Some(ScalarValue::List(ScalarValue::new_list_nullable(
        &values,
        &DataType::Utf8,
    )))
}

/// PostgreSQL's oids of the catalogs whose oids drivers compare with
/// (`classoid = 'pg_class'::regclass`); the crate numbers its relations itself.
const CATALOG_OIDS: &[(&str, i64)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", PG_CLASS_OID),
    ("pg_database", 1262),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", PG_NAMESPACE_OID),
    ("pg_trigger", 2620),
];

/// What the crate's pg_class says of pg_catalog's and information_schema's tables:
/// their rows, and the oids of those relations.
struct SystemRelations {
    /// The crate's namespace oid → the namespace's name.
    namespaces: HashMap<i64, String>,
    class: Vec<RecordBatch>,
}

impl SystemRelations {
    async fn read(inner: &Arc<dyn SchemaProvider>, state: &dyn Session) -> Result<Self> {
        let mut namespaces = HashMap::new();
        for b in crate_rows(inner, "pg_namespace", state).await? {
            let oids = column(&b, "oid", &DataType::Int64)?;
            let names = column(&b, "nspname", &DataType::Utf8)?;
            let (Some(oids), Some(names)) = (
                oids.as_any().downcast_ref::<Int64Array>(),
                names.as_any().downcast_ref::<StringArray>(),
            ) else {
                continue;
            };
            for i in 0..b.num_rows() {
                namespaces.insert(oids.value(i), names.value(i).to_string());
            }
        }
        Ok(SystemRelations {
            namespaces,
            class: crate_rows(inner, "pg_class", state).await?,
        })
    }

    /// The crate's oid of each catalog in [`CATALOG_OIDS`] → PostgreSQL's.
    fn remapped(&self) -> Result<HashMap<i64, i64>> {
        let mut out = HashMap::new();
        for (b, i, ns, oid) in self.each()? {
            if ns != "pg_catalog" {
                continue;
            }
            let names = column(b, "relname", &DataType::Utf8)?;
            let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            if let Some((_, pg)) = CATALOG_OIDS.iter().find(|(n, _)| *n == names.value(i)) {
                out.insert(oid, *pg);
            }
        }
        Ok(out)
    }

    /// Each system relation of the crate's pg_class: (batch, row, namespace name, oid).
    fn each(&self) -> Result<Vec<(&RecordBatch, usize, String, i64)>> {
        let mut out = vec![];
        for b in &self.class {
            let oids = column(b, "oid", &DataType::Int64)?;
            let ns = column(b, "relnamespace", &DataType::Int64)?;
            let (Some(oids), Some(ns)) = (
                oids.as_any().downcast_ref::<Int64Array>(),
                ns.as_any().downcast_ref::<Int64Array>(),
            ) else {
                continue;
            };
            for i in 0..b.num_rows() {
                if let Some(name) = self.namespaces.get(&ns.value(i))
                    && SYSTEM_SCHEMAS.contains(&name.as_str())
                {
                    out.push((b, i, name.clone(), oids.value(i)));
                }
            }
        }
        Ok(out)
    }
}

impl CatalogTable {
    async fn build(&self, state: &dyn Session) -> Result<RecordBatch> {
        let failed = |e| DataFusionError::from(LeaderError::from(e));
        let mut rows = Rows::new(&self.schema);
        let names = Names::of(&self.catalog)?;
        let tables = self.catalog.all_tables().map_err(failed)?;
        let views = self.catalog.all_views().map_err(failed)?;
        match self.name.as_str() {
            "pg_database" => {
                let owner = self.catalog.database_access().map_err(failed)?.owner;
                // The cluster has one database.
                for b in crate_rows(&self.inner, "pg_database", state).await? {
                    let names = column(&b, "datname", &DataType::Utf8)?;
                    let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        if names.value(i) != crate::session::DATABASE {
                            continue;
                        }
                        let dba = ScalarValue::Int64(Some(owner.into()));
                        rows.push_from(&b, i, &HashMap::from([("datdba", dba)]))?;
                    }
                }
            }
            "pg_namespace" => {
                let mut schemas: Vec<String> =
                    SYSTEM_SCHEMAS.iter().map(|s| s.to_string()).collect();
                schemas.extend(self.catalog.schemas().map_err(failed)?);
                for schema in schemas {
                    let access = self.catalog.schema_access(&schema).ok();
                    let owner = access.as_ref().map_or(1, |a| a.owner);
                    let acl = acl_list(
                        access
                            .as_ref()
                            .and_then(|a| acl_text(a.owner, &a.acl, &names)),
                    );
                    rows.push(|c| match c {
                        "oid" => int(namespace_oid(&schema).into()),
                        "nspname" => text(&schema),
                        "nspowner" => int(owner.into()),
                        "nspacl" => acl.clone(),
                        _ => None,
                    })?;
                }
            }
            "pg_class" => {
                let system = SystemRelations::read(&self.inner, state).await?;
                let remapped = system.remapped()?;
                for (b, i, ns, oid) in system.each()? {
                    let namespace = ScalarValue::Int64(Some(namespace_oid(&ns).into()));
                    let mut changed = HashMap::from([("relnamespace", namespace)]);
                    if let Some(pg) = remapped.get(&oid) {
                        changed.insert("oid", ScalarValue::Int64(Some(*pg)));
                    }
                    rows.push_from(b, i, &changed)?;
                }
                for t in &tables {
                    let oid = relation_oid(t.id);
                    let rows_now = self
                        .catalog
                        .statistics(t.id)
                        .ok()
                        .flatten()
                        .map_or(0.0, |s| s.rows as f64);
                    let acl = acl_list(acl_text(t.owner, &t.acl, &names));
                    let (has_index, has_triggers) = keys::flags(t, &tables);
                    rows.push(|c| match c {
                        "oid" | "relfilenode" => int(oid.into()),
                        "relhasindex" => flag(has_index),
                        // Redshift's: 0 EVEN, 1 KEY, 8 ALL, 11 AUTO (stored as EVEN).
                        "reldiststyle" => int(match t.dist_style {
                            DistStyle::Even => 0,
                            DistStyle::Key => 1,
                            DistStyle::All => 8,
                            DistStyle::Auto => 11,
                        }),
                        "relhastriggers" => flag(has_triggers),
                        "relname" => text(&t.name),
                        "relnamespace" => int(namespace_oid(&t.schema).into()),
                        "relowner" => int(t.owner.into()),
                        "relkind" => text("r"),
                        "relpersistence" => text(if t.schema.starts_with(TEMP_SCHEMA_PREFIX) {
                            "t"
                        } else {
                            "p"
                        }),
                        "relnatts" => int(t.columns.len() as i64),
                        "reltuples" => Some(ScalarValue::Float64(Some(rows_now))),
                        "relpages" => int(1),
                        "relispopulated" => flag(true),
                        "relreplident" => text("d"),
                        "relacl" => acl.clone(),
                        _ => None,
                    })?;
                }
                keys::index_relations(&mut rows, &tables)?;
                for v in &views {
                    let acl = acl_list(acl_text(v.owner, &v.acl, &names));
                    rows.push(|c| match c {
                        "oid" => int(relation_oid(v.id).into()),
                        "relname" => text(&v.name),
                        "relnamespace" => int(namespace_oid(&v.schema).into()),
                        "relowner" => int(v.owner.into()),
                        "relkind" => text("v"),
                        "relpersistence" => text("p"),
                        "relnatts" => int(v.columns.len() as i64),
                        "relispopulated" => flag(true),
                        "relreplident" => text("n"),
                        "relacl" => acl.clone(),
                        _ => None,
                    })?;
                }
            }
            "pg_attribute" => {
                let system = SystemRelations::read(&self.inner, state).await?;
                let oids: HashSet<i64> = system.each()?.into_iter().map(|r| r.3).collect();
                let remapped = system.remapped()?;
                for b in crate_rows(&self.inner, "pg_attribute", state).await? {
                    let relids = column(&b, "attrelid", &DataType::Int64)?;
                    let Some(relids) = relids.as_any().downcast_ref::<Int64Array>() else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        let relid = relids.value(i);
                        if oids.contains(&relid) {
                            let mut changed = HashMap::new();
                            if let Some(pg) = remapped.get(&relid) {
                                changed.insert("attrelid", ScalarValue::Int64(Some(*pg)));
                            }
                            rows.push_from(&b, i, &changed)?;
                        }
                    }
                }
                for t in &tables {
                    let oid = relation_oid(t.id);
                    for (i, col) in t.columns.iter().enumerate() {
                        let ty = pg_type(&col.declared_type, &col.data_type);
                        let sort_order = t.sort_key.iter().position(|k| *k == i).map_or(0, |p| {
                            match t.sort_style {
                                SortStyle::Compound => p as i64 + 1,
                                SortStyle::Interleaved => -(p as i64 + 1),
                            }
                        });
                        let distkey = t.dist_style == DistStyle::Key && t.dist_key == Some(i);
                        attribute(
                            &mut rows,
                            oid,
                            i,
                            &col.name,
                            &ty,
                            !col.nullable,
                            |c| match c {
                                "atthasmissing" => flag(col.missing_value.is_some()),
                                "atthasdef" => flag(col.shown_default(0, 0).is_some()),
                                "attisdistkey" => flag(distkey),
                                "attsortkeyord" => int(sort_order),
                                "attencodingtype" => {
                                    int(encoding_number(col.encoding.as_deref()).into())
                                }
                                _ => None,
                            },
                        )?;
                    }
                }
                keys::index_attributes(&mut rows, &tables)?;
                for v in &views {
                    for (i, col) in v.columns.iter().enumerate() {
                        let declared = col.declared_type.as_deref().unwrap_or_default();
                        let ty = pg_type(declared, &col.data_type);
                        attribute(
                            &mut rows,
                            relation_oid(v.id),
                            i,
                            &col.name,
                            &ty,
                            false,
                            |_| None,
                        )?;
                    }
                }
            }
            "pg_tables" => {
                for b in crate_rows(&self.inner, "pg_tables", state).await? {
                    let schemas = column(&b, "schemaname", &DataType::Utf8)?;
                    let Some(schemas) = schemas.as_any().downcast_ref::<StringArray>() else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        if SYSTEM_SCHEMAS.contains(&schemas.value(i)) {
                            rows.push_from(&b, i, &HashMap::new())?;
                        }
                    }
                }
                for t in &tables {
                    rows.push(|c| match c {
                        "schemaname" => text(&t.schema),
                        "tablename" => text(&t.name),
                        "tableowner" => text(names.user(t.owner)),
                        _ => None,
                    })?;
                }
            }
            "pg_views" => {
                for v in &views {
                    rows.push(|c| match c {
                        "schemaname" => text(&v.schema),
                        "viewname" => text(&v.name),
                        "viewowner" => text(names.user(v.owner)),
                        "definition" => text(view_definition(v)),
                        _ => None,
                    })?;
                }
            }
            "pg_description" => {
                for b in crate_rows(&self.inner, "pg_description", state).await? {
                    for i in 0..b.num_rows() {
                        rows.push_from(&b, i, &HashMap::new())?;
                    }
                }
                for comment in self.catalog.comments().map_err(failed)? {
                    let (objoid, classoid, subid) = match &comment.target {
                        CommentTarget::Schema(name) => {
                            (i64::from(namespace_oid(name)), PG_NAMESPACE_OID, 0)
                        }
                        CommentTarget::Relation { id, column } => {
                            let subid = match column {
                                None => Some(0),
                                Some(c) => match tables.iter().find(|t| t.id == *id) {
                                    Some(t) => {
                                        t.columns.iter().position(|x| x.id == *c).map(|p| p + 1)
                                    }
                                    None => Some(*c as usize + 1),
                                },
                            };
                            let Some(subid) = subid else { continue };
                            (i64::from(relation_oid(*id)), PG_CLASS_OID, subid as i64)
                        }
                    };
                    rows.push(|c| match c {
                        "objoid" => int(objoid),
                        "classoid" => int(classoid),
                        "objsubid" => int(subid),
                        "description" => text(&comment.text),
                        _ => None,
                    })?;
                }
            }
            "pg_settings" => {
                for b in crate_rows(&self.inner, "pg_settings", state).await? {
                    for i in 0..b.num_rows() {
                        rows.push_from(&b, i, &HashMap::new())?;
                    }
                }
                // The fixed settings drivers read (pgjdbc reads max_index_keys).
                let max_keys = blueshift_storage::catalog::MAX_KEY_COLUMNS.to_string();
                for (name, setting, vartype, desc) in [
                    (
                        "max_index_keys",
                        max_keys.as_str(),
                        "integer",
                        "Shows the maximum number of index keys.",
                    ),
                    (
                        "max_identifier_length",
                        "127",
                        "integer",
                        "Shows the maximum identifier length.",
                    ),
                    (
                        "server_encoding",
                        "UTF8",
                        "string",
                        "Shows the server (database) character set encoding.",
                    ),
                    (
                        "server_version",
                        crate::session::SERVER_VERSION,
                        "string",
                        "Shows the server version.",
                    ),
                ] {
                    rows.push(|c| match c {
                        "name" => text(name),
                        "setting" | "reset_val" | "boot_val" => text(setting),
                        "category" => text("Preset Options"),
                        "short_desc" => text(desc),
                        "context" => text("internal"),
                        "vartype" => text(vartype),
                        "source" => text("default"),
                        "pending_restart" => flag(false),
                        _ => None,
                    })?;
                }
            }
            // DEFAULTs as SQL text in `adbin` (`"identity"(...)` for IDENTITY columns).
            "pg_attrdef" => {
                for t in &tables {
                    for (i, default) in t.shown_defaults(relation_oid(t.id) as u32) {
                        rows.push(|col| match col {
                            "adrelid" => int(relation_oid(t.id).into()),
                            "adnum" => int(i as i64 + 1),
                            "adbin" | "adsrc" => text(&default),
                            _ => None,
                        })?;
                    }
                }
            }
            "pg_proc_info" => {
                for b in crate_rows(&self.inner, "pg_proc", state).await? {
                    let oids = column(&b, "oid", &DataType::Int64)?;
                    let Some(oids) = oids.as_any().downcast_ref::<Int64Array>() else {
                        continue;
                    };
                    for i in 0..b.num_rows() {
                        let oid = ScalarValue::Int64(Some(oids.value(i)));
                        rows.push_from(&b, i, &HashMap::from([("prooid", oid)]))?;
                    }
                }
            }
            "pg_constraint" => keys::constraints(&mut rows, &tables)?,
            "pg_index" => keys::indexes(&mut rows, &tables)?,
            _ => {}
        }
        rows.finish()
    }
}

/// Adds column `i` of relation `oid` to pg_attribute, with `more` of its values.
fn attribute(
    rows: &mut Rows,
    oid: i32,
    i: usize,
    name: &str,
    ty: &crate::system_tables::pg_types::PgType,
    not_null: bool,
    more: impl Fn(&str) -> Option<ScalarValue>,
) -> Result<()> {
    rows.push(|c| match c {
        "attrelid" => int(oid.into()),
        "attname" => text(name),
        "atttypid" => int(ty.oid.into()),
        "attstattarget" => int(-1),
        "attlen" => int(ty.len.into()),
        "attnum" => int(i as i64 + 1),
        "attcacheoff" => int(-1),
        "atttypmod" => int(ty.typmod.into()),
        "attbyval" => flag(matches!(ty.len, 1 | 2 | 4 | 8)),
        "attalign" => text("i"),
        "attstorage" => text(if ty.len < 0 { "x" } else { "p" }),
        "attnotnull" => flag(not_null),
        "attislocal" => flag(true),
        other => more(other),
    })
}

#[async_trait]
impl TableProvider for CatalogTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.build(state).await?;
        MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}
