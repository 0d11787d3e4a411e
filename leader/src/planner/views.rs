//! [`ViewProvider`]: a view as DataFusion sees it on the leader.
//!
//! Before a statement is planned, the engine plans the query of every view it reads
//! (and of the views those read) and registers the plans with the statement's
//! catalog ([`PlannedViews`]). The statement's plan keeps a scan of the view, so that
//! the privilege checks see it (SELECT on the view; what the view reads is checked as
//! the view's owner); the [`InlineViews`] analyzer rule puts the view's plan in its
//! place before the plan is optimized. Outside a statement's planning (the catalog
//! listings of pg_class and information_schema) a view resolves to its definition
//! alone: its recorded columns, and no plan.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use blueshift_storage::catalog::ViewDef;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Column;
use datafusion::common::tree_node::Transformed;
use datafusion::config::ConfigOptions;
use datafusion::datasource::TableType;
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_plan::ExecutionPlan;

use crate::planner::table::SliceTable;

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

/// Puts each planned view's plan where the plan scans the view (as DataFusion's plan
/// builder inlines a view whose plan it is given), views inside views too.
#[derive(Debug, Default)]
pub struct InlineViews;

/// `plan` with its view scans replaced by the views' plans.
fn inline(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Ok(provider) = source_as_provider(&scan.source) else {
            return Ok(Transformed::no(node));
        };
        let Some(view_plan) = provider
            .downcast_ref::<ViewProvider>()
            .and_then(ViewProvider::plan)
        else {
            return Ok(Transformed::no(node));
        };
        if !scan.filters.is_empty() {
            return Err(DataFusionError::Internal(format!(
                "a scan of view {} with filters before the views were inlined",
                scan.table_name
            )));
        }
        let sub_plan = inline(view_plan.clone())?;
        let builder = match &scan.projection {
            Some(projection) => {
                let columns: Vec<Expr> = projection
                    .iter()
                    .map(|i| Expr::Column(Column::from(sub_plan.schema().qualified_field(*i))))
                    .collect();
                LogicalPlanBuilder::from(sub_plan).project(columns)?
            }
            None => LogicalPlanBuilder::from(sub_plan),
        };
        Ok(Transformed::yes(
            builder.alias(scan.table_name.clone())?.build()?,
        ))
    })
    .map(|t| t.data)
}

impl AnalyzerRule for InlineViews {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        inline(plan)
    }

    fn name(&self) -> &str {
        "inline_views"
    }
}

/// Planned views by schema and name.
type ViewsByName = HashMap<(String, String), Arc<ViewProvider>>;

/// The declared type of each result column of `plan` that shows a table's (or a
/// view's) column as it is, through projections, aliases, filters, sorts, limits and
/// joins; None for a computed column.
pub fn declared_types(plan: &LogicalPlan) -> Vec<Option<String>> {
    (0..plan.schema().fields().len())
        .map(|i| declared_type(plan, i))
        .collect()
}

fn declared_type(plan: &LogicalPlan, i: usize) -> Option<String> {
    use datafusion::logical_expr::{Distinct, JoinType};
    match plan {
        LogicalPlan::Projection(p) => {
            let Expr::Column(column) = p.expr.get(i)?.clone().unalias_nested().data else {
                return None;
            };
            let index = p.input.schema().index_of_column(&column).ok()?;
            declared_type(&p.input, index)
        }
        LogicalPlan::SubqueryAlias(a) => declared_type(&a.input, i),
        LogicalPlan::Filter(f) => declared_type(&f.input, i),
        LogicalPlan::Sort(s) => declared_type(&s.input, i),
        LogicalPlan::Limit(l) => declared_type(&l.input, i),
        LogicalPlan::Distinct(Distinct::All(input)) => declared_type(input, i),
        LogicalPlan::Join(j)
            if matches!(
                j.join_type,
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full
            ) =>
        {
            let left = j.left.schema().fields().len();
            if i < left {
                declared_type(&j.left, i)
            } else {
                declared_type(&j.right, i - left)
            }
        }
        LogicalPlan::TableScan(scan) => {
            let name = scan.projected_schema.field(i).name().clone();
            let provider = source_as_provider(&scan.source).ok()?;
            if let Some(table) = provider.downcast_ref::<SliceTable>() {
                let column = table.def().columns.iter().find(|c| c.name == name)?;
                return Some(column.declared_type.clone());
            }
            let view = provider.downcast_ref::<ViewProvider>()?;
            let column = view.def().columns.iter().find(|c| c.name == name)?;
            column.declared_type.clone()
        }
        _ => None,
    }
}

pub use crate::planner::table::ColumnDefaults;

/// The views planned for one statement, by schema and name, and the column defaults
/// of the tables it inserts into.
#[derive(Debug, Default, Clone)]
pub struct PlannedViews(
    Arc<RwLock<ViewsByName>>,
    Arc<RwLock<HashMap<(String, String), ColumnDefaults>>>,
);

impl PlannedViews {
    /// The planned view `schema.name`, if planned.
    pub fn get(&self, schema: &str, name: &str) -> Option<Arc<ViewProvider>> {
        self.0
            .read()
            .ok()?
            .get(&(schema.to_string(), name.to_string()))
            .cloned()
    }

    /// The planned column defaults of table `schema.name` (none when not planned).
    pub fn defaults(&self, schema: &str, name: &str) -> ColumnDefaults {
        self.1
            .read()
            .ok()
            .and_then(|m| m.get(&(schema.to_string(), name.to_string())).cloned())
            .unwrap_or_default()
    }

    /// Registers the planned column defaults of table `schema.name`.
    pub fn insert_defaults(&self, schema: &str, name: &str, defaults: ColumnDefaults) {
        if let Ok(mut map) = self.1.write() {
            map.insert((schema.to_string(), name.to_string()), defaults);
        }
    }

    /// Registers a planned view.
    pub fn insert(&self, view: ViewProvider) {
        if let Ok(mut map) = self.0.write() {
            let key = (view.def.schema.clone(), view.def.name.clone());
            map.insert(key, Arc::new(view));
        }
    }
}
