//! Materialized views: `CREATE MATERIALIZED VIEW v [BACKUP ...] [DISTSTYLE ...]
//! [DISTKEY (c)] [SORTKEY (...)] [AUTO REFRESH NO] AS query` stores the query's rows
//! in a table of its own, `mv_tbl__v__0` in the view's schema (Redshift's name, which
//! dbt looks for), laid out by those attributes; the view reads that table.
//! `REFRESH MATERIALIZED VIEW v` computes the query again and replaces the rows in one
//! commit (a full recompute). SVV_MV_INFO says whether a view is stale: whether a
//! table it reads has changed since it was refreshed. `AUTO REFRESH YES` is refused
//! (0A000): nothing refreshes a view in the background yet.

use std::collections::BTreeMap;

use blueshift_storage::StorageError;
use blueshift_storage::catalog::{Catalog, Materialized, ViewColumn, ViewDef};

use super::*;
use crate::commit::CommitPoint;
use crate::error::ErrorKind;
use crate::planner::table::SliceSink;

/// The table that holds materialized view `view`'s rows.
pub(super) fn backing_table(view: &str) -> String {
    format!("mv_tbl__{view}__0")
}

/// The version of each table in `reads` (`schema.name`) now.
fn versions(catalog: &Catalog, reads: &[String]) -> Result<BTreeMap<String, u64>, LeaderError> {
    let mut out = BTreeMap::new();
    for key in reads {
        let Some((schema, name)) = key.split_once('.') else {
            continue;
        };
        if let Some(def) = catalog.table(schema, name)? {
            out.insert(key.clone(), catalog.version(def.id)?.version);
        }
    }
    Ok(out)
}

impl Engine {
    /// CREATE MATERIALIZED VIEW.
    pub(super) async fn create_materialized_view(
        &self,
        session: &Session,
        create: &ast::CreateView,
        attrs: Option<&TableAttributes>,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        if attrs.and_then(|a| a.auto_refresh) == Some(true) {
            return Err(LeaderError::Unsupported(
                "AUTO REFRESH YES (materialized views refresh with REFRESH MATERIALIZED VIEW)"
                    .into(),
            ));
        }
        if create.or_replace || create.if_not_exists || !create.columns.is_empty() {
            return Err(LeaderError::Unsupported(statement_name(
                &Statement::CreateView(create.clone()),
            )));
        }
        // Its name and the names its query reads, as search_path finds them now.
        let mut create = create.clone();
        self.qualify_created(session, &mut create.name)?;
        let mut query = Statement::Query(create.query.clone());
        self.qualify_temp_tables(session, &mut query)?;
        if let Statement::Query(q) = query {
            create.query = q;
        }
        let create = &create;
        let (schema, name) = object_reference(&create.name)?;
        let catalog = self.catalog_of(session);
        if catalog.table(&schema, &name)?.is_some() || catalog.view(&schema, &name)?.is_some() {
            return Err(StorageError::TableExists(format!("{schema}.{name}")).into());
        }
        let table = backing_table(&name);
        let ctas = format!(
            "CREATE TABLE {}.{} AS {}",
            quoted(&schema),
            quoted(&table),
            create.query
        );
        let stmt = match self.parse_statements(&ctas)?.pop() {
            Some(Parsed::Sql(stmt, _)) => stmt,
            _ => return Err(LeaderError::Unsupported("this materialized view".into())),
        };
        self.create_table(
            session,
            &stmt,
            attrs.cloned().unwrap_or_default(),
            interrupt,
        )
        .await?;
        let made = async {
            let catalog = self.catalog_of(session);
            let def = catalog
                .table(&schema, &table)?
                .ok_or_else(|| StorageError::TableNotFound(table.clone()))?;
            let state = self.state_for(session);
            let query = Statement::Query(create.query.clone());
            let mut depends_on = vec![format!("{schema}.{table}")];
            for reference in
                state.resolve_table_references(&DfStatement::Statement(Box::new(query.clone())))?
            {
                let (s, n) = resolve(&reference)?;
                let key = format!("{s}.{n}");
                let known = catalog.table(&s, &n)?.is_some() || catalog.view(&s, &n)?.is_some();
                if known && !depends_on.contains(&key) {
                    depends_on.push(key);
                }
            }
            let refreshed = versions(&catalog, &depends_on[1..])?;
            let view = ViewDef {
                id: 0,
                schema: schema.clone(),
                name: name.clone(),
                query: create.query.to_string(),
                column_names: vec![],
                columns: def
                    .columns
                    .iter()
                    .map(|c| ViewColumn {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                        declared_type: Some(c.declared_type.clone()),
                    })
                    .collect(),
                late_binding: false,
                depends_on,
                owner: session.user_id(),
                acl: catalog.initial_acl(session.user_id(), &schema)?,
                materialized: Some(Materialized {
                    table: table.clone(),
                    auto_refresh: false,
                    refreshed,
                }),
            };
            self.commits_of(session).create_view(view, false)?;
            Ok::<(), LeaderError>(())
        }
        .await;
        if let Err(e) = made {
            // The view is not there: neither is its table.
            let _ = self.commits_of(session).drop_table(&schema, &table, true);
            return Err(e);
        }
        Ok(Outcome::done("CREATE MATERIALIZED VIEW"))
    }

    /// REFRESH MATERIALIZED VIEW: the view's query again, its rows replacing the
    /// table's in one commit (with the versions it read, for SVV_MV_INFO).
    pub(super) async fn refresh(
        &self,
        session: &Session,
        name: &ObjectName,
        interrupt: Interrupt,
    ) -> Result<Outcome, LeaderError> {
        let (schema, view) = self.relation_name(session, name)?;
        let catalog = self.catalog_of(session);
        // PostgreSQL's SQLSTATE for a relation that is not a materialized view.
        let not_materialized = || LeaderError::Failure {
            kind: ErrorKind::FeatureNotSupported,
            message: format!("\"{view}\" is not a materialized view"),
        };
        let def = match catalog.view(&schema, &view)? {
            Some(def) => def,
            None if catalog.table(&schema, &view)?.is_some() => return Err(not_materialized()),
            None => return Err(StorageError::TableNotFound(view.clone()).into()),
        };
        let Some(materialized) = &def.materialized else {
            return Err(not_materialized());
        };
        let who = self.principal(session)?;
        if !who.superuser && who.user != def.owner {
            return Err(LeaderError::PermissionDenied(format!(
                "permission denied for relation {}: only its owner can REFRESH it",
                def.qualified_name()
            )));
        }
        let table = catalog
            .table(&schema, &materialized.table)?
            .ok_or_else(|| StorageError::TableNotFound(materialized.table.clone()))?;
        let query = self.parse_view_query(&def.query)?;
        let state = self.state_for(session);
        self.prepare_views(&state, &query, &mut vec![def.qualified_name()])
            .await?;
        let plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(query)))
            .await?;
        // What the view reads is read as its owner.
        let owner = catalog
            .principal(def.owner)?
            .unwrap_or_else(|| Principal::alone(def.owner));
        self.authorize_plan_as(session, &owner, &plan, 0)?;
        let refreshed = versions(&catalog, &def.depends_on[1..])?;
        let (state, _guard) = self.admit(session, StatementKind::CreateTableAs).await?;
        let query = session.current_query().unwrap_or(0);
        let (_, stream) = super::results::start_spilling(state, plan, query).await?;
        // Outside a transaction block the replacement is a block of its own.
        let block = (!catalog.in_transaction()).then(|| catalog.begin());
        let commits = match &block {
            Some(view) => CommitPoint::new(view.clone()),
            None => self.commits_of(session),
        };
        let sink = SliceSink::new(table.clone(), commits.clone(), self.cluster.clone());
        let (_rows, segments) = interrupt.run(sink.stage(stream)).await?;
        commits.truncate(table.id)?;
        if !segments.is_empty() {
            commits.append(table.id, &segments)?;
        }
        commits.alter_view(&schema, &view, |v| {
            if let Some(m) = &mut v.materialized {
                m.refreshed = refreshed.clone();
            }
            Ok(())
        })?;
        if let Some(view) = block {
            view.commit_transaction()?;
        }
        self.collect_garbage_when_idle();
        Ok(Outcome::done("REFRESH"))
    }
}
