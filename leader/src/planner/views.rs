//! [`ViewProvider`]: a view as DataFusion sees it on the leader.
//!
//! Before a statement is planned, the engine plans the query of every view it reads
//! (and of the views those read) and registers the plans with the statement's
//! catalog ([`PlannedViews`]); the view then resolves to its plan, which DataFusion's
//! analyzer inlines where the view is named. Outside a statement's planning (the
//! catalog listings of pg_class and information_schema) a view resolves to its
//! definition alone: its recorded columns, and no plan.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use blueshift_storage::catalog::ViewDef;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;

/// A view: its definition, and its plan once the engine planned it for a statement.
#[derive(Debug)]
pub struct ViewProvider {
    def: ViewDef,
    schema: SchemaRef,
    planned: Option<ViewTable>,
}

impl ViewProvider {
    /// The view `def` as its definition describes it, without a plan.
    pub fn unplanned(def: ViewDef) -> Self {
        let fields: Vec<Field> = def
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.data_type.clone(), true))
            .collect();
        ViewProvider {
            def,
            schema: Arc::new(Schema::new(fields)),
            planned: None,
        }
    }

    /// The view `def`, reading `plan`.
    pub fn planned(def: ViewDef, plan: LogicalPlan) -> Self {
        let table = ViewTable::new(plan, Some(def.query.clone()));
        ViewProvider {
            schema: table.schema(),
            def,
            planned: Some(table),
        }
    }

    /// The view's definition.
    pub fn def(&self) -> &ViewDef {
        &self.def
    }

    /// The plan of the view's query, when planned.
    pub fn plan(&self) -> Option<&LogicalPlan> {
        self.planned.as_ref().map(ViewTable::logical_plan)
    }
}

#[async_trait]
impl TableProvider for ViewProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.planned.as_ref().and_then(|t| t.get_logical_plan())
    }

    fn get_table_definition(&self) -> Option<&str> {
        Some(&self.def.query)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match &self.planned {
            Some(table) => table.scan(state, projection, filters, limit).await,
            None => Err(DataFusionError::Internal(format!(
                "view {} was read without being planned",
                self.def.qualified_name()
            ))),
        }
    }
}

/// The views planned for one statement, by schema and name.
#[derive(Debug, Default, Clone)]
pub struct PlannedViews(Arc<RwLock<HashMap<(String, String), Arc<ViewProvider>>>>);

impl PlannedViews {
    /// The planned view `schema.name`, if planned.
    pub fn get(&self, schema: &str, name: &str) -> Option<Arc<ViewProvider>> {
        self.0
            .read()
            .ok()?
            .get(&(schema.to_string(), name.to_string()))
            .cloned()
    }

    /// Registers a planned view.
    pub fn insert(&self, view: ViewProvider) {
        if let Ok(mut map) = self.0.write() {
            let key = (view.def.schema.clone(), view.def.name.clone());
            map.insert(key, Arc::new(view));
        }
    }
}
