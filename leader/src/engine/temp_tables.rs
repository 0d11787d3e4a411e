//! Where unqualified names go: temporary tables, then the session's `search_path`.
//!
//! Temporary tables: `CREATE TEMP | TEMPORARY TABLE t ...` makes `t` in the
//! session's own schema, `pg_temp_<pid>`, where unqualified names find it before
//! `public` (for queries, DML, DROP, TRUNCATE, ALTER, VACUUM and ANALYZE). The schema
//! and its tables are dropped when the session ends, and any a crash left are
//! dropped when the leader starts. They are tables like others otherwise: on the
//! slices, in transaction blocks (a ROLLBACK takes them back).
//!
//! `search_path` (`$user` is the user's name; schemas that do not exist are
//! skipped): an unqualified name finds the relation in the first schema of the path
//! that has one, and CREATE TABLE / VIEW makes it in the first schema of the path.
//! Names resolve in `public` when the path reaches it first (or names no schema
//! that has the relation), as they did before `search_path` was read.

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
        if name.0.len() == 1
            && let Some(found) = self.unqualified_schema(session, &table)?
        {
            return Ok((found, table));
        }
        Ok((schema, table))
    }

    /// Where an unqualified `name` is found before `public`: the session's
    /// temporary table, or a relation in a schema of its search_path.
    pub(super) fn unqualified_schema(
        &self,
        session: &Session,
        name: &str,
    ) -> Result<Option<String>, LeaderError> {
        let catalog = self.catalog_of(session);
        let temp = session.temp_schema();
        if catalog.table(&temp, name)?.is_some() {
            return Ok(Some(temp));
        }
        for s in self.search_schemas(session)? {
            if catalog.table(&s, name)?.is_some() || catalog.view(&s, name)?.is_some() {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The schemas of `session`'s search_path that exist, in order, up to (without)
    /// `public`: where an unqualified name is looked for before `public`.
    pub(super) fn search_schemas(&self, session: &Session) -> Result<Vec<String>, LeaderError> {
        let path = session.show("search_path").unwrap_or_default();
        let catalog = self.catalog_of(session);
        let mut out = vec![];
        for entry in path.split(',') {
            let entry = entry.trim();
            let name = if entry == "$user" || entry == "\"$user\"" {
                session.current_user()
            } else if let Some(quoted) = entry.strip_prefix('"').and_then(|e| e.strip_suffix('"')) {
                quoted.to_string()
            } else {
                entry.to_lowercase()
            };
            if name == "public" {
                break;
            }
            if name.is_empty() || name == "pg_catalog" || !catalog.schema_exists(&name)? {
                continue;
            }
            out.push(name);
        }
        Ok(out)
    }

    /// The schema an unqualified CREATE TABLE or VIEW makes its relation in: the first
    /// of the search_path that exists (`public` when that is it, or none is).
    pub(super) fn creation_schema(&self, session: &Session) -> Result<Option<String>, LeaderError> {
        Ok(self.search_schemas(session)?.into_iter().next())
    }

    /// `name`, unqualified, qualified with the schema unqualified creations go in
    /// (unchanged when that is `public`).
    pub(super) fn qualify_created(
        &self,
        session: &Session,
        name: &mut ObjectName,
    ) -> Result<(), LeaderError> {
        use datafusion::sql::sqlparser::ast::{Ident, ObjectNamePart};
        if name.0.len() == 1
            && !object_reference(name)?.1.starts_with('#')
            && let Some(schema) = self.creation_schema(session)?
        {
            name.0.insert(
                0,
                ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
            );
        }
        Ok(())
    }

    /// Qualifies the unqualified names in `stmt` of the session's temporary tables,
    /// and of relations in schemas its search_path names before `public`, with
    /// their schema, so that they find them before `public`'s (a CTE's name is
    /// left alone).
    pub(super) fn qualify_temp_tables(
        &self,
        session: &Session,
        stmt: &mut Statement,
    ) -> Result<(), LeaderError> {
        use datafusion::sql::sqlparser::ast::{Ident, ObjectNamePart, Query, Visit, Visitor};
        use datafusion::sql::sqlparser::ast::{VisitMut, VisitorMut};
        use std::collections::{HashMap, HashSet};
        use std::ops::ControlFlow;
        let catalog = self.catalog_of(session);
        let mut schemas = vec![session.temp_schema()];
        schemas.extend(self.search_schemas(session)?);
        // Each name's schema: the first that has a relation of that name.
        let mut found: HashMap<String, String> = HashMap::new();
        for (i, schema) in schemas.iter().enumerate() {
            if !catalog.schema_exists(schema)? {
                continue;
            }
            let tables = catalog.tables_in(schema)?.into_iter().map(|t| t.name);
            let views: Vec<String> = if i == 0 {
                vec![]
            } else {
                catalog
                    .views_in(schema)?
                    .into_iter()
                    .map(|v| v.name)
                    .collect()
            };
            for name in tables.chain(views) {
                found.entry(name).or_insert_with(|| schema.clone());
            }
        }
        if found.is_empty() {
            return Ok(());
        }
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
            found: &'a HashMap<String, String>,
            ctes: &'a HashSet<String>,
        }
        impl VisitorMut for Qualify<'_> {
            type Break = ();
            fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
                if name.0.len() == 1
                    && let Ok((_, table)) = object_reference(name)
                    && let Some(schema) = self.found.get(&table)
                    && !self.ctes.contains(&table)
                {
                    name.0.insert(
                        0,
                        ObjectNamePart::Identifier(Ident::with_quote('"', schema.as_str())),
                    );
                }
                ControlFlow::Continue(())
            }
        }
        let _ = stmt.visit(&mut Qualify {
            found: &found,
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
