//! Views in the [`Engine`]: CREATE [OR REPLACE] VIEW (regular and late-binding),
//! DROP VIEW, and the planning of the views a statement reads
//! ([`Engine::prepare_views`]).
//!
//! A view keeps its query's text. A regular view is planned when it is made: its
//! columns and the tables and views it reads are recorded, and those cannot be
//! dropped (or renamed, or lose columns) while it exists. A late-binding view (`WITH
//! NO SCHEMA BINDING`) is only parsed: what it reads is resolved when a query reads
//! it, so its tables may be dropped and made again. Either way a statement that reads
//! a view plans the view's query again, as of the statement's snapshot, and the
//! analyzer puts that plan where the view is named.

use std::collections::HashSet;

use blueshift_storage::StorageError;
use blueshift_storage::catalog::{ViewColumn, ViewDef};
use datafusion::common::Column;
use datafusion::common::metadata::FieldMetadata;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder};

use super::column_names::client_schema;
use super::*;
use crate::error::ErrorKind;
use crate::planner::views::ViewProvider;

/// How deep views may read other views.
const VIEW_DEPTH: usize = 32;

/// The relations (schema, name) `stmt` reads, CTEs left out.
fn relations(state: &SessionState, stmt: &Statement) -> Result<Vec<TableReference>, LeaderError> {
    Ok(state.resolve_table_references(&DfStatement::Statement(Box::new(stmt.clone())))?)
}

/// The relations `stmt` names, as (schema, name).
fn named(state: &SessionState, stmt: &Statement) -> Result<Vec<(String, String)>, LeaderError> {
    Ok(relations(state, stmt)?
        .iter()
        .filter_map(|r| resolve(r).ok())
        .collect())
}

/// Blueshift's catalog provider, as `provider` is.
fn database(provider: &Arc<dyn CatalogProvider>) -> Option<&DatabaseProvider> {
    let any: &dyn std::any::Any = provider.as_ref();
    any.downcast_ref::<DatabaseProvider>()
}

/// The per-statement catalog of `state`.
fn provider(state: &SessionState) -> Option<Arc<dyn CatalogProvider>> {
    state.catalog_list().catalog(DATABASE)
}

impl Engine {
    /// Plans every view `stmt` reads, and the views those read, into the statement's
    /// catalog in `state`, so that planning `stmt` finds them. `stack` holds the views
    /// being planned (a view that reads itself is refused).
    pub(super) async fn prepare_views(
        &self,
        state: &SessionState,
        stmt: &Statement,
        stack: &mut Vec<String>,
    ) -> Result<(), LeaderError> {
        let Some(catalog_provider) = provider(state) else {
            return Ok(());
        };
        let Some(database) = database(&catalog_provider) else {
            return Ok(());
        };
        for (schema, name) in named(state, stmt)? {
            if database.planned_views().get(&schema, &name).is_some() {
                continue;
            }
            let Some(def) = database.catalog().view(&schema, &name)? else {
                continue;
            };
            let qualified = def.qualified_name();
            if stack.contains(&qualified) || stack.len() >= VIEW_DEPTH {
                return Err(LeaderError::Failure {
                    kind: ErrorKind::InvalidObjectDefinition,
                    message: format!("infinite recursion detected in view {qualified}"),
                });
            }
            stack.push(qualified);
            let plan = Box::pin(self.plan_view(state, &def, stack)).await;
            stack.pop();
            database
                .planned_views()
                .insert(ViewProvider::planned(def, plan?));
        }
        Ok(())
    }

    /// Plans the column DEFAULTs of the tables `stmt` names, so that an INSERT that
    /// leaves a column out gives it its default.
    pub(super) fn prepare_defaults(
        &self,
        state: &SessionState,
        stmt: &Statement,
    ) -> Result<(), LeaderError> {
        if !matches!(stmt, Statement::Insert(_)) {
            return Ok(());
        }
        let Some(catalog_provider) = provider(state) else {
            return Ok(());
        };
        let Some(database) = database(&catalog_provider) else {
            return Ok(());
        };
        for (schema, name) in named(state, stmt)? {
            let Some(def) = database.catalog().table(&schema, &name)? else {
                continue;
            };
            let mut defaults = crate::planner::views::ColumnDefaults::new();
            for c in &def.columns {
                if let Some(text) = super::identity::insert_default(c, def.id) {
                    let expr =
                        state.create_logical_expr(&text, &datafusion::common::DFSchema::empty())?;
                    defaults.insert(c.name.clone(), expr);
                }
            }
            if !defaults.is_empty() {
                database
                    .planned_views()
                    .insert_defaults(&schema, &name, defaults);
            }
        }
        Ok(())
    }

    /// The plan of view `def`'s query, its columns named as the view names them.
    async fn plan_view(
        &self,
        state: &SessionState,
        def: &ViewDef,
        stack: &mut Vec<String>,
    ) -> Result<LogicalPlan, LeaderError> {
        // A materialized view reads the table that holds its rows.
        let text = match &def.materialized {
            Some(m) => format!(
                "SELECT * FROM \"{}\".\"{}\"",
                def.schema.replace('"', "\"\""),
                m.table.replace('"', "\"\"")
            ),
            None => def.query.clone(),
        };
        let query = self.parse_view_query(&text)?;
        self.prepare_views(state, &query, stack).await?;
        let plan = self
            .plan_view_query(state, query, &def.column_names)
            .await?;
        if def.late_binding || def.columns.is_empty() {
            return Ok(plan);
        }
        // A regular view keeps the columns it was made with: a `*` over a table that
        // gained columns since gives the new ones after them, which the view leaves out.
        let fields = plan.schema().fields().clone();
        let kept: Vec<Expr> = def
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match fields.get(i) {
                Some(f) if f.name() == &c.name && f.data_type() == &c.data_type => {
                    let (qualifier, field) = plan.schema().qualified_field(i);
                    Ok(Expr::Column(Column::new(qualifier.cloned(), field.name())))
                }
                _ => Err(LeaderError::InvalidDefinition(format!(
                    "view {} no longer matches the tables it reads (column \"{}\"); \
                     create it again",
                    def.qualified_name(),
                    c.name
                ))),
            })
            .collect::<Result<_, _>>()?;
        if kept.len() == fields.len() {
            return Ok(plan);
        }
        Ok(LogicalPlanBuilder::from(plan).project(kept)?.build()?)
    }

    /// A view's query text, parsed.
    pub(super) fn parse_view_query(&self, text: &str) -> Result<Statement, LeaderError> {
        match self.parse_statements(text)?.as_slice() {
            [Parsed::Sql(stmt, _)] if matches!(stmt.as_ref(), Statement::Query(_)) => {
                Ok(stmt.as_ref().clone())
            }
            _ => Err(LeaderError::InvalidDefinition(format!(
                "a view's definition must be one query, not {text}"
            ))),
        }
    }

    /// Plans a view's query, its result columns named as PostgreSQL names them (or
    /// by `names`, first to last), each name once.
    async fn plan_view_query(
        &self,
        state: &SessionState,
        mut query: Statement,
        names: &[String],
    ) -> Result<LogicalPlan, LeaderError> {
        let client = ClientNames::alias_select_lists(&mut query);
        let plan = client.tag(
            state
                .statement_to_plan(DfStatement::Statement(Box::new(query)))
                .await?,
        )?;
        let shown = client_schema(plan.schema().as_arrow());
        if names.len() > shown.fields().len() {
            return Err(LeaderError::InvalidDefinition(format!(
                "CREATE VIEW specifies {} column names, but the query gives {} columns",
                names.len(),
                shown.fields().len()
            )));
        }
        let mut seen = HashSet::new();
        let mut exprs = vec![];
        for (i, field) in shown.fields().iter().enumerate() {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| field.name().clone());
            if !seen.insert(name.clone()) {
                return Err(LeaderError::Failure {
                    kind: ErrorKind::DuplicateColumn,
                    message: format!("column \"{name}\" specified more than once"),
                });
            }
            let (qualifier, planned) = plan.schema().qualified_field(i);
            let column = Expr::Column(Column::new(qualifier.cloned(), planned.name()));
            exprs.push(
                column
                    .alias_with_metadata(name, Some(FieldMetadata::from(field.metadata().clone()))),
            );
        }
        Ok(LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
    }

    /// CREATE [OR REPLACE] VIEW.
    pub(super) async fn create_view(
        &self,
        session: &Session,
        create: &ast::CreateView,
        attrs: Option<&TableAttributes>,
    ) -> Result<Outcome, LeaderError> {
        if create.materialized {
            return Err(LeaderError::Unsupported("CREATE MATERIALIZED VIEW".into()));
        }
        if create.temporary || create.or_alter || create.if_not_exists {
            return Err(LeaderError::Unsupported(statement_name(
                &Statement::CreateView(create.clone()),
            )));
        }
        let mut view_name = create.name.clone();
        self.qualify_created(session, &mut view_name)?;
        let (schema, name) = object_reference(&view_name)?;
        let catalog = self.catalog_of(session);
        if !catalog.schema_exists(&schema)? {
            return Err(StorageError::SchemaNotFound(schema).into());
        }
        let late_binding = attrs.is_some_and(|a| a.late_binding);
        // A regular view reads what its names find now (search_path), as in
        // PostgreSQL; its text keeps those names qualified.
        let mut query = Statement::Query(create.query.clone());
        if !late_binding {
            self.qualify_temp_tables(session, &mut query)?;
        }
        let column_names: Vec<String> = create
            .columns
            .iter()
            .map(|c| c.name.value.clone())
            .collect();
        let state = self.state_for(session);
        let acl = catalog.initial_acl(session.user_id(), &schema)?;
        let mut def = ViewDef {
            id: 0,
            schema,
            name,
            query: match &query {
                Statement::Query(q) => q.to_string(),
                other => other.to_string(),
            },
            column_names,
            columns: vec![],
            late_binding,
            depends_on: vec![],
            owner: session.user_id(),
            acl,
            materialized: None,
        };
        if late_binding {
            if let Some(bare) = relations(&state, &query)?
                .into_iter()
                .find(|r| matches!(r, TableReference::Bare { .. }))
            {
                return Err(LeaderError::InvalidDefinition(format!(
                    "All the relations in a late binding view must be qualified with a \
                     schema name (\"{bare}\" is not)"
                )));
            }
        } else {
            self.prepare_views(&state, &query, &mut vec![def.qualified_name()])
                .await?;
            let plan = self
                .plan_view_query(&state, query.clone(), &def.column_names)
                .await?;
            let declared = crate::planner::views::declared_types(&plan);
            def.columns = plan
                .schema()
                .fields()
                .iter()
                .zip(declared)
                .map(|(f, declared_type)| ViewColumn {
                    name: f.name().clone(),
                    data_type: f.data_type().clone(),
                    declared_type,
                })
                .collect();
            for reference in relations(&state, &query)? {
                let (s, n) = resolve(&reference)?;
                if catalog.table(&s, &n)?.is_some() || catalog.view(&s, &n)?.is_some() {
                    let key = format!("{s}.{n}");
                    if key == def.qualified_name() {
                        return Err(LeaderError::Failure {
                            kind: ErrorKind::InvalidObjectDefinition,
                            message: format!("infinite recursion detected in view {key}"),
                        });
                    }
                    if !def.depends_on.contains(&key) {
                        def.depends_on.push(key);
                    }
                }
            }
        }
        self.commits_of(session)
            .create_view(def, create.or_replace)?;
        Ok(Outcome::done("CREATE VIEW"))
    }

    /// DROP VIEW / DROP MATERIALIZED VIEW [IF EXISTS] names [CASCADE].
    pub(super) fn drop_views(
        &self,
        session: &Session,
        object_type: ast::ObjectType,
        if_exists: bool,
        names: &[ObjectName],
        cascade: bool,
    ) -> Result<Outcome, LeaderError> {
        let materialized = object_type == ast::ObjectType::MaterializedView;
        let tag = if materialized {
            "DROP MATERIALIZED VIEW"
        } else {
            "DROP VIEW"
        };
        for name in names {
            let (schema, view) = self.relation_name(session, name)?;
            let catalog = self.catalog_of(session);
            match catalog.view(&schema, &view)? {
                Some(def) if def.materialized.is_some() != materialized => {
                    return Err(LeaderError::Failure {
                        kind: ErrorKind::WrongObjectType,
                        message: format!(
                            "\"{view}\" is not a{} view",
                            if materialized { " materialized" } else { "" }
                        ),
                    });
                }
                Some(_) => {
                    self.commits_of(session)
                        .drop_view(&schema, &view, cascade)?;
                }
                None if catalog.table(&schema, &view)?.is_some() => {
                    return Err(LeaderError::Failure {
                        kind: ErrorKind::WrongObjectType,
                        message: format!("\"{view}\" is not a view; use DROP TABLE"),
                    });
                }
                None if if_exists => {}
                None => return Err(StorageError::TableNotFound(view).into()),
            }
        }
        self.collect_garbage_when_idle();
        Ok(Outcome::done(tag))
    }

    /// `view`, which reads `schema.old`, reading `schema.new` instead (a rename it
    /// follows, as PostgreSQL's views follow their tables).
    pub(super) fn follow_rename(
        &self,
        view: &ViewDef,
        schema: &str,
        old: &str,
        new: &str,
    ) -> Result<ViewDef, StorageError> {
        use datafusion::sql::sqlparser::ast::{Ident, VisitMut, VisitorMut};
        use std::ops::ControlFlow;
        struct Rename<'a>(&'a str, &'a str, &'a str);
        impl VisitorMut for Rename<'_> {
            type Break = ();
            fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
                if let Ok((s, n)) = object_reference(name)
                    && s == self.0
                    && n == self.1
                    && let Some(last) = name.0.last_mut()
                {
                    *last = datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(
                        Ident::with_quote('"', self.2),
                    );
                }
                ControlFlow::Continue(())
            }
        }
        let mut query = self
            .parse_view_query(&view.query)
            .map_err(|e| StorageError::InvalidDefinition(e.to_string()))?;
        let _ = query.visit(&mut Rename(schema, old, new));
        let Statement::Query(query) = query else {
            return Err(StorageError::InvalidDefinition(format!(
                "view {} is not a query",
                view.qualified_name()
            )));
        };
        let old_name = format!("{schema}.{old}");
        let mut followed = view.clone();
        followed.query = query.to_string();
        for d in &mut followed.depends_on {
            if *d == old_name {
                *d = format!("{schema}.{new}");
            }
        }
        Ok(followed)
    }

    /// Refuses `statement` (for tables) on a view, pointing to `instead`.
    pub(super) fn refuse_view(
        &self,
        session: &Session,
        schema: &str,
        name: &str,
        statement: &str,
        instead: &str,
    ) -> Result<(), LeaderError> {
        if self.catalog_of(session).view(schema, name)?.is_some() {
            return Err(LeaderError::Failure {
                kind: ErrorKind::WrongObjectType,
                message: format!("\"{name}\" is a view: {statement} does not apply; use {instead}"),
            });
        }
        Ok(())
    }
}
