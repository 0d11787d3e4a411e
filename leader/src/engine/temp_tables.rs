//! Temporary tables: `CREATE TEMP | TEMPORARY TABLE t ...` makes `t` in the
//! session's own schema, `pg_temp_<pid>`, where unqualified names find it before
//! `public` (for queries, DML, DROP, TRUNCATE, ALTER, VACUUM and ANALYZE). The schema
//! and its tables are dropped when the session ends, and any a crash left are
//! dropped when the leader starts. They are tables like others otherwise: on the
//! slices, in transaction blocks (a ROLLBACK takes them back).

use blueshift_storage::StorageError;

use super::*;
use crate::session::{TEMP_SCHEMA_PREFIX, TempTablesHook};

/// Drops schema `schema` with its views and tables (each its own commit).
pub(super) fn drop_temp_schema(catalog: &Catalog, schema: &str) -> Result<(), StorageError> {
    if !catalog.schema_exists(schema)? {
        return Ok(());
    }
    for v in catalog.views_in(schema)? {
        match catalog.drop_view(schema, &v.name, true) {
            Ok(_) | Err(StorageError::TableNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    for t in catalog.tables_in(schema)? {
        catalog.drop_table(schema, &t.name, true)?;
    }
    catalog.drop_schema(schema)
}

impl Engine {
    /// Drops the temporary tables a crash left, and makes every session that made
    /// temporary tables drop them when it ends.
    pub(super) fn manage_temp_tables(&self) {
        if let Ok(schemas) = self.catalog.schemas() {
            for schema in schemas.iter().filter(|s| s.starts_with(TEMP_SCHEMA_PREFIX)) {
                if let Err(e) = drop_temp_schema(&self.catalog, schema) {
                    tracing::warn!("dropping the temporary tables of {schema}: {e}");
                }
            }
        }
        let catalog = self.catalog.clone();
        let collect = self.garbage_collector();
        self.sessions
            .on_end_with_temp_tables(TempTablesHook(Arc::new(move |pid| {
                let schema = format!("{TEMP_SCHEMA_PREFIX}{pid}");
                match drop_temp_schema(&catalog, &schema) {
                    Ok(()) => collect(),
                    Err(e) => tracing::warn!("dropping the temporary tables of {schema}: {e}"),
                }
            })));
    }

    /// The schema and name of the table `name` names for `session`: an unqualified
    /// name is the session's temporary table when it has one of that name.
    pub(super) fn relation_name(
        &self,
        session: &Session,
        name: &ObjectName,
    ) -> Result<(String, String), LeaderError> {
        let (schema, table) = object_reference(name)?;
        if name.0.len() == 1 {
            let temp = session.temp_schema();
            if self.catalog_of(session).table(&temp, &table)?.is_some() {
                return Ok((temp, table));
            }
        }
        Ok((schema, table))
    }

    /// Qualifies the unqualified names in `stmt` of the session's temporary tables
    /// with their schema, so that they find them before `public`'s (a CTE's name
    /// is left alone).
    pub(super) fn qualify_temp_tables(
        &self,
        session: &Session,
        stmt: &mut Statement,
    ) -> Result<(), LeaderError> {
        use datafusion::sql::sqlparser::ast::{Ident, ObjectNamePart, Query, Visit, Visitor};
        use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
        use std::collections::HashSet;
        use std::ops::ControlFlow;
        let schema = session.temp_schema();
        let catalog = self.catalog_of(session);
        if !catalog.schema_exists(&schema)? {
            return Ok(());
        }
        let temp: HashSet<String> = catalog
            .tables_in(&schema)?
            .into_iter()
            .map(|t| t.name)
            .collect();
        struct Ctes(HashSet<String>);
        impl Visitor for Ctes {
            type Break = ();
            fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
                for cte in query.with.iter().flat_map(|w| &w.cte_tables) {
                    self.0.insert(cte.alias.name.value.to_lowercase());
                }
                ControlFlow::Continue(())
            }
        }
        let mut ctes = Ctes(HashSet::new());
        let _ = Visit::visit(&*stmt, &mut ctes);
        struct Qualify<'a> {
            schema: &'a str,
            temp: &'a HashSet<String>,
            ctes: &'a HashSet<String>,
        }
        impl VisitorMut for Qualify<'_> {
            type Break = ();
            fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
                if name.0.len() == 1
                    && let Ok((_, table)) = object_reference(name)
                    && self.temp.contains(&table)
                    && !self.ctes.contains(&table)
                {
                    name.0.insert(
                        0,
                        ObjectNamePart::Identifier(Ident::with_quote('"', self.schema)),
                    );
                }
                ControlFlow::Continue(())
            }
        }
        let _ = stmt.visit(&mut Qualify {
            schema: &schema,
            temp: &temp,
            ctes: &ctes.0,
        });
        Ok(())
    }

    /// The schema a CREATE TEMP TABLE `name` goes in, made if the session has none
    /// yet. A temporary table's name has no schema (42P16 otherwise).
    pub(super) fn temp_schema_for(
        &self,
        session: &Session,
        name: &ObjectName,
    ) -> Result<String, LeaderError> {
        if name.0.len() != 1 {
            return Err(LeaderError::InvalidDefinition(format!(
                "cannot create temporary relation {name} in a named schema"
            )));
        }
        let schema = session.temp_schema();
        if !self.catalog_of(session).schema_exists(&schema)? {
            self.commits_of(session)
                .create_schema(&schema, session.user_id())?;
        }
        session.made_temp_table();
        Ok(schema)
    }
}
