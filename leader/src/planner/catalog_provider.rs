//! The database `dev` as DataFusion sees it: schemas and tables from the Blueshift
//! catalog, plus the Redshift system tables (STV_, STL_, SVV_ ...) and any schema the
//! leader registers in memory (`pg_catalog`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use blueshift_storage::catalog::Catalog;
use blueshift_storage::catalog::access::Principal;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use tracing::warn;

use crate::cluster::ClusterClient;
use crate::error::LeaderError;
use crate::planner::pg_catalog::{PgCatalog, SystemTables};
use crate::planner::table::SliceTable;
use crate::planner::views::{PlannedViews, ViewProvider};
use crate::query_log::QueryLog;
use crate::system_tables;

/// The database catalog.
#[derive(Debug)]
pub struct DatabaseProvider {
    catalog: Catalog,
    /// Who reads the system tables through this provider.
    viewer: Principal,
    cluster: ClusterClient,
    query_log: Arc<QueryLog>,
    in_memory: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
    /// The views the statement planned over this provider reads, planned.
    views: PlannedViews,
}

impl DatabaseProvider {
    /// The database over `catalog`.
    pub fn new(catalog: Catalog, cluster: ClusterClient, query_log: Arc<QueryLog>) -> Self {
        DatabaseProvider {
            catalog,
            viewer: Principal::superuser(blueshift_storage::catalog::access::BOOTSTRAP_USER_ID),
            cluster,
            query_log,
            in_memory: RwLock::new(HashMap::new()),
            views: PlannedViews::default(),
        }
    }

    /// The catalog this provider reads.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The views planned for the statement this provider serves.
    pub fn planned_views(&self) -> &PlannedViews {
        &self.views
    }

    /// The same database over another view of the catalog (a transaction block's,
    /// or the committed one), with the same system schemas, as `viewer` sees it.
    pub fn over(&self, catalog: Catalog, viewer: Principal) -> Self {
        let in_memory = self.in_memory.read().map(|m| m.clone()).unwrap_or_default();
        DatabaseProvider {
            catalog,
            viewer,
            cluster: self.cluster.clone(),
            query_log: Arc::clone(&self.query_log),
            in_memory: RwLock::new(in_memory),
            views: PlannedViews::default(),
        }
    }
}

impl CatalogProvider for DatabaseProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.catalog.schemas().unwrap_or_else(|e| {
            warn!("listing schemas: {e}");
            vec![]
        });
        if let Ok(mem) = self.in_memory.read() {
            names.extend(mem.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.in_memory.read().ok()?.get(name) {
            if name == "pg_catalog" {
                // Its tables about relations read this provider's catalog.
                let system = SystemTables {
                    cluster: self.cluster.clone(),
                    query_log: Arc::clone(&self.query_log),
                    viewer: self.viewer.clone(),
                };
                return Some(Arc::new(PgCatalog::new(
                    Arc::clone(s),
                    self.catalog.clone(),
                    Some(system),
                )));
            }
            return Some(Arc::clone(s));
        }
        match self.catalog.schema_exists(name) {
            Ok(true) => Some(Arc::new(SchemaView {
                name: name.to_string(),
                viewer: self.viewer.clone(),
                catalog: self.catalog.clone(),
                cluster: self.cluster.clone(),
                query_log: Arc::clone(&self.query_log),
                views: self.views.clone(),
            })),
            _ => None,
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        let mut mem = self
            .in_memory
            .write()
            .map_err(|_| DataFusionError::Internal("schema registry poisoned".into()))?;
        Ok(mem.insert(name.to_string(), schema))
    }
}

/// One schema of the catalog.
#[derive(Debug)]
struct SchemaView {
    name: String,
    viewer: Principal,
    catalog: Catalog,
    cluster: ClusterClient,
    query_log: Arc<QueryLog>,
    views: PlannedViews,
}

#[async_trait]
impl SchemaProvider for SchemaView {
    fn table_names(&self) -> Vec<String> {
        let tables = self.catalog.tables_in(&self.name);
        let views = self.catalog.views_in(&self.name);
        match (tables, views) {
            (Ok(tables), Ok(views)) => {
                let mut names: Vec<String> = tables.into_iter().map(|t| t.name).collect();
                names.extend(views.into_iter().map(|v| v.name));
                names.sort();
                names
            }
            (Err(e), _) | (_, Err(e)) => {
                warn!("listing tables of {}: {e}", self.name);
                vec![]
            }
        }
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(def) = self
            .catalog
            .table(&self.name, name)
            .map_err(LeaderError::from)?
        {
            let defaults = self.views.defaults(&def.schema, &def.name);
            return Ok(Some(Arc::new(
                SliceTable::new(def, self.catalog.clone(), self.cluster.clone())
                    .with_defaults(defaults),
            )));
        }
        if let Some(view) = self.views.get(&self.name, name) {
            return Ok(Some(view));
        }
        if let Some(def) = self
            .catalog
            .view(&self.name, name)
            .map_err(LeaderError::from)?
        {
            return Ok(Some(Arc::new(ViewProvider::unplanned(def))));
        }
        if self.name == "public" {
            return system_tables::lookup(
                name,
                &self.catalog,
                &self.cluster,
                &self.query_log,
                &self.viewer,
            )
            .await;
        }
        Ok(None)
    }

    fn table_exist(&self, name: &str) -> bool {
        matches!(self.catalog.table(&self.name, name), Ok(Some(_)))
            || matches!(self.catalog.view(&self.name, name), Ok(Some(_)))
    }
}
