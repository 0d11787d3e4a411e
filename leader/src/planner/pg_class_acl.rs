//! `pg_catalog.pg_class` with `relacl`: the emulated pg_catalog
//! (datafusion-pg-catalog) lists Blueshift's tables but knows nothing of their
//! privileges, so its pg_class is wrapped here and each table's ACL added, as
//! PostgreSQL's `aclitem[]` text (`{bob=r/admin,...}`; NULL for a table GRANT never
//! touched), which psql's `\dp` and tools read.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use blueshift_storage::catalog::Catalog;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::LeaderError;
use crate::system_tables::grants::{Names, acl_text};

/// The emulated pg_catalog, whose pg_class carries `relacl`.
#[derive(Debug)]
pub struct PgCatalogWithAcls {
    inner: Arc<dyn SchemaProvider>,
    catalog: Catalog,
}

impl PgCatalogWithAcls {
    pub fn new(inner: Arc<dyn SchemaProvider>, catalog: Catalog) -> Self {
        PgCatalogWithAcls { inner, catalog }
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogWithAcls {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if name != "pg_class" {
            return Ok(Some(table));
        }
        let namespaces =
            self.inner.table("pg_namespace").await?.ok_or_else(|| {
                DataFusionError::Plan("pg_catalog.pg_namespace is missing".into())
            })?;
        let mut fields: Vec<Field> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(
            "relacl",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ));
        Ok(Some(Arc::new(PgClassWithAcl {
            inner: table,
            namespaces,
            catalog: self.catalog.clone(),
            schema: Arc::new(Schema::new(fields)),
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug)]
struct PgClassWithAcl {
    inner: Arc<dyn TableProvider>,
    namespaces: Arc<dyn TableProvider>,
    catalog: Catalog,
    schema: SchemaRef,
}

/// Every row of `table`.
async fn rows(table: &Arc<dyn TableProvider>, state: &dyn Session) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

/// Column `name` of `batch` as text or 64-bit integers.
fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Plan(format!("pg_catalog has no column {name}")))?;
    Ok(arrow::compute::cast(c, to)?)
}

#[async_trait]
impl TableProvider for PgClassWithAcl {
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
        let mut schemas: HashMap<i64, String> = HashMap::new();
        for b in rows(&self.namespaces, state).await? {
            let oids = column(&b, "oid", &DataType::Int64)?;
            let names = column(&b, "nspname", &DataType::Utf8)?;
            let oids = oids.as_any().downcast_ref::<Int64Array>();
            let names = names.as_any().downcast_ref::<StringArray>();
            if let (Some(oids), Some(names)) = (oids, names) {
                for i in 0..b.num_rows() {
                    schemas.insert(oids.value(i), names.value(i).to_string());
                }
            }
        }
        let names = Names::of(&self.catalog)?;
        let tables = self.catalog.all_tables().map_err(LeaderError::from)?;
        let mut batches = vec![];
        for b in rows(&self.inner, state).await? {
            let relnames = column(&b, "relname", &DataType::Utf8)?;
            let namespaces = column(&b, "relnamespace", &DataType::Int64)?;
            let relnames = relnames.as_any().downcast_ref::<StringArray>();
            let namespaces = namespaces.as_any().downcast_ref::<Int64Array>();
            let mut acls = ListBuilder::new(StringBuilder::new());
            for i in 0..b.num_rows() {
                let acl = match (relnames, namespaces) {
                    (Some(r), Some(n)) if !r.is_null(i) && !n.is_null(i) => {
                        schemas.get(&n.value(i)).and_then(|schema| {
                            tables
                                .iter()
                                .find(|t| t.schema == *schema && t.name == r.value(i))
                                .and_then(|t| acl_text(t.owner, &t.acl, &names))
                        })
                    }
                    _ => None,
                };
                match acl {
                    Some(items) => {
                        for item in items {
                            acls.values().append_value(item);
                        }
                        acls.append(true);
                    }
                    None => acls.append_null(),
                }
            }
            let mut columns = b.columns().to_vec();
            columns.push(Arc::new(acls.finish()));
            batches.push(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        }
        MemTable::try_new(Arc::clone(&self.schema), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}
