//! The privilege checks every statement passes before it runs ([`Engine::authorize`]):
//! SELECT on every table a query reads (through subqueries, joins and CTEs), INSERT,
//! UPDATE or DELETE on the table a statement writes, USAGE on each table's schema,
//! CREATE on the schema of a new table, and the owner (or the DROP, ALTER or TRUNCATE
//! privilege) for DDL. Superusers pass every check. A failed check is 42501, naming
//! the object and the privilege.

use blueshift_storage::catalog::TableDef;
use blueshift_storage::catalog::access::{self, Principal, Privileges};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::WriteOp;

use super::*;
use crate::planner::table::SliceTable;
use crate::planner::views::ViewProvider;

/// The error of `who` lacking `need` on `def`.
fn relation_denied(def: &TableDef, need: Privileges) -> LeaderError {
    LeaderError::PermissionDenied(format!(
        "permission denied for relation {} (needs {})",
        def.qualified_name(),
        need.names()
    ))
}

/// Whether `who` owns `def` (superusers count as owners).
pub(super) fn owns(who: &Principal, def: &TableDef) -> bool {
    who.superuser || who.user == def.owner
}

/// Whether the input of an UPDATE or DELETE reads column values: a filter or a join
/// on them, or (UPDATE) a new value computed from them. The projection of an UPDATE
/// that keeps a column as it is (`c AS c`) reads nothing.
fn reads_columns(input: &LogicalPlan) -> bool {
    use datafusion::logical_expr::Expr;
    let keeps = |e: &Expr| match e {
        Expr::Column(_) => true,
        Expr::Alias(a) => matches!(a.expr.as_ref(), Expr::Column(c) if c.name == a.name),
        _ => false,
    };
    let mut reads = false;
    let _ = input.apply_with_subqueries(|node| {
        reads = match node {
            LogicalPlan::Filter(f) => !f.predicate.column_refs().is_empty(),
            LogicalPlan::Join(_) | LogicalPlan::Subquery(_) => true,
            LogicalPlan::Projection(p) => p
                .expr
                .iter()
                .any(|e| !keeps(e) && !e.column_refs().is_empty()),
            _ => false,
        };
        Ok(if reads {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    reads
}

/// The table a scan or a DML target reads or writes, if it is one of ours.
fn slice_table(source: &Arc<dyn datafusion::logical_expr::TableSource>) -> Option<TableDef> {
    let provider = source_as_provider(source).ok()?;
    provider
        .downcast_ref::<SliceTable>()
        .map(|t| t.def().clone())
}

impl Engine {
    /// Checks that `who` may use schema `schema` (USAGE) and has `need` on `def`, as
    /// the catalog of `session` says now.
    pub(super) fn check_table(
        &self,
        session: &Session,
        who: &Principal,
        def: &TableDef,
        need: Privileges,
    ) -> Result<(), LeaderError> {
        if who.superuser {
            return Ok(());
        }
        let catalog = self.catalog_of(session);
        // The definition as it is now: a prepared statement's may be older than a
        // REVOKE.
        let def = catalog
            .table(&def.schema, &def.name)?
            .unwrap_or_else(|| def.clone());
        self.check_schema(session, who, &def.schema, Privileges::USAGE)?;
        let has = access::effective(def.owner, &def.acl, who, Privileges::ALL_TABLE);
        if !has.contains(need) {
            return Err(relation_denied(&def, need.minus(has)));
        }
        Ok(())
    }

    /// Checks that `who` has `need` on schema `schema`.
    pub(super) fn check_schema(
        &self,
        session: &Session,
        who: &Principal,
        schema: &str,
        need: Privileges,
    ) -> Result<(), LeaderError> {
        let a = self.catalog_of(session).schema_access(schema)?;
        let has = access::effective(a.owner, &a.acl, who, Privileges::ALL_SCHEMA);
        if !has.contains(need) {
            return Err(LeaderError::PermissionDenied(format!(
                "permission denied for schema {schema} (needs {})",
                need.minus(has).names()
            )));
        }
        Ok(())
    }

    /// Checks every table `plan` reads (SELECT) and the one it writes (INSERT,
    /// UPDATE, DELETE). The table an UPDATE or DELETE changes needs SELECT as well
    /// only when the statement reads its columns (a WHERE, a join, a SET value
    /// computed from them), as in PostgreSQL.
    ///
    /// A view needs SELECT (and USAGE on its schema); what the view reads is checked
    /// as its owner, as in PostgreSQL and Redshift.
    pub(super) fn authorize_plan(
        &self,
        session: &Session,
        plan: &LogicalPlan,
    ) -> Result<(), LeaderError> {
        let who = self.principal(session)?;
        self.authorize_plan_as(session, &who, plan, 0)
    }

    pub(super) fn authorize_plan_as(
        &self,
        session: &Session,
        who: &Principal,
        plan: &LogicalPlan,
        depth: usize,
    ) -> Result<(), LeaderError> {
        if who.superuser {
            return Ok(());
        }
        let mut needs: Vec<(TableDef, Privileges)> = vec![];
        let mut views: Vec<Arc<dyn datafusion::catalog::TableProvider>> = vec![];
        let mut target = None;
        plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::Dml(dml) => {
                    if let Some(def) = slice_table(&dml.target) {
                        let need = match dml.op {
                            WriteOp::Update => Privileges::UPDATE,
                            WriteOp::Delete => Privileges::DELETE,
                            _ => Privileges::INSERT,
                        };
                        if matches!(dml.op, WriteOp::Update | WriteOp::Delete)
                            && !reads_columns(&dml.input)
                        {
                            target = Some(def.id);
                        }
                        needs.push((def, need));
                    }
                }
                LogicalPlan::TableScan(scan) => {
                    if let Some(def) = slice_table(&scan.source) {
                        needs.push((def, Privileges::SELECT));
                    } else if let Ok(provider) = source_as_provider(&scan.source)
                        && provider.downcast_ref::<ViewProvider>().is_some()
                    {
                        views.push(provider);
                    }
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        for (def, need) in needs {
            if need == Privileges::SELECT && Some(def.id) == target {
                continue;
            }
            self.check_table(session, who, &def, need)?;
        }
        for provider in views {
            let Some(view) = provider.downcast_ref::<ViewProvider>() else {
                continue;
            };
            let def = view.def();
            self.check_schema(session, who, &def.schema, Privileges::USAGE)?;
            let has = access::effective(def.owner, &def.acl, who, Privileges::ALL_TABLE);
            if !has.contains(Privileges::SELECT) {
                return Err(LeaderError::PermissionDenied(format!(
                    "permission denied for relation {} (needs SELECT)",
                    def.qualified_name()
                )));
            }
            if let Some(plan) = view.plan()
                && depth < 32
            {
                let owner = self
                    .catalog_of(session)
                    .principal(def.owner)?
                    .unwrap_or_else(|| Principal::alone(def.owner));
                self.authorize_plan_as(session, &owner, plan, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Checks that `session` may run `planned`; statements whose objects are known
    /// only as they run (CTAS's query, UNLOAD's, VACUUM and ANALYZE of every table,
    /// GRANT) check there.
    pub(super) fn authorize(
        &self,
        session: &Session,
        planned: &Planned,
    ) -> Result<(), LeaderError> {
        let who = self.principal(session)?;
        if who.superuser {
            return Ok(());
        }
        match planned {
            Planned::Query(plan) | Planned::Insert(plan) | Planned::Dml(plan) => {
                self.authorize_plan(session, plan)
            }
            Planned::Copy(copy) => {
                let def = self.copy_target(session, copy)?;
                self.check_table(session, &who, &def, Privileges::INSERT)
            }
            Planned::Command(stmt, _) => self.authorize_command(session, &who, stmt),
            // REFRESH checks its view's owner as it runs.
            Planned::Unload(_) | Planned::Access(_) | Planned::Refresh(_) | Planned::Empty => {
                Ok(())
            }
        }
    }

    fn table_named(&self, session: &Session, name: &ObjectName) -> Result<TableDef, LeaderError> {
        let (schema, table) = self.relation_name(session, name)?;
        self.catalog_of(session)
            .table(&schema, &table)?
            .ok_or_else(|| blueshift_storage::StorageError::TableNotFound(table).into())
    }

    /// Checks that `who` owns the table `name` or holds `privilege` on it (`None`:
    /// only the owner may), for `what` (a statement's name). A missing table is left
    /// to the statement (IF EXISTS, its own error).
    fn check_owner(
        &self,
        session: &Session,
        who: &Principal,
        name: &ObjectName,
        privilege: Option<Privileges>,
        what: &str,
    ) -> Result<(), LeaderError> {
        let Ok(def) = self.table_named(session, name) else {
            return Ok(());
        };
        if owns(who, &def) {
            return Ok(());
        }
        match privilege {
            Some(p) => self.check_table(session, who, &def, p),
            None => Err(LeaderError::PermissionDenied(format!(
                "permission denied for relation {}: only its owner can {what} it",
                def.qualified_name()
            ))),
        }
    }

    fn authorize_command(
        &self,
        session: &Session,
        who: &Principal,
        stmt: &Statement,
    ) -> Result<(), LeaderError> {
        match stmt {
            // A temporary table goes in the session's own schema.
            Statement::CreateTable(ct) if ct.temporary => Ok(()),
            Statement::CreateTable(ct) => {
                let (schema, _) = object_reference(&ct.name)?;
                if self.catalog_of(session).schema_exists(&schema)? {
                    self.check_schema(session, who, &schema, Privileges::CREATE)?;
                }
                Ok(())
            }
            Statement::CreateView(cv) => {
                let (schema, name) = object_reference(&cv.name)?;
                let catalog = self.catalog_of(session);
                if catalog.schema_exists(&schema)? {
                    self.check_schema(session, who, &schema, Privileges::CREATE)?;
                }
                match catalog.view(&schema, &name)? {
                    Some(v) if cv.or_replace && v.owner != who.user => {
                        Err(LeaderError::PermissionDenied(format!(
                            "permission denied for relation {}: only its owner can replace it",
                            v.qualified_name()
                        )))
                    }
                    _ => Ok(()),
                }
            }
            Statement::Drop {
                object_type: ast::ObjectType::View | ast::ObjectType::MaterializedView,
                names,
                ..
            } => names.iter().try_for_each(|n| {
                let (schema, name) = self.relation_name(session, n)?;
                let Some(v) = self.catalog_of(session).view(&schema, &name)? else {
                    return Ok(());
                };
                let has = access::effective(v.owner, &v.acl, who, Privileges::ALL_TABLE);
                if v.owner != who.user && !has.contains(Privileges::DROP) {
                    return Err(LeaderError::PermissionDenied(format!(
                        "permission denied for relation {}: only its owner can DROP it",
                        v.qualified_name()
                    )));
                }
                Ok(())
            }),
            Statement::CreateSchema { .. } => {
                let db = self.catalog_of(session).database_access()?;
                let has = access::effective(db.owner, &db.acl, who, Privileges::ALL_DATABASE);
                if !has.contains(Privileges::CREATE) {
                    return Err(LeaderError::PermissionDenied(format!(
                        "permission denied for database {DATABASE} (needs CREATE)"
                    )));
                }
                Ok(())
            }
            Statement::Drop {
                object_type: ast::ObjectType::Table,
                names,
                ..
            } => names.iter().try_for_each(|n| {
                self.check_owner(session, who, n, Some(Privileges::DROP), "DROP")
            }),
            Statement::Drop {
                object_type: ast::ObjectType::Schema,
                names,
                ..
            } => names.iter().try_for_each(|n| {
                let schema = name_key(n);
                let a = self.catalog_of(session).schema_access(&schema)?;
                if a.owner != who.user {
                    return Err(LeaderError::PermissionDenied(format!(
                        "permission denied for schema {schema}: only its owner can DROP it"
                    )));
                }
                Ok(())
            }),
            Statement::AlterTable(alter) => {
                let owner_to = alter
                    .operations
                    .iter()
                    .any(|o| matches!(o, ast::AlterTableOperation::OwnerTo { .. }));
                if owner_to {
                    // Superusers only: checked as it runs.
                    return Ok(());
                }
                self.check_owner(session, who, &alter.name, Some(Privileges::ALTER), "ALTER")
            }
            Statement::Truncate(t) => t.table_names.iter().try_for_each(|n| {
                self.check_owner(
                    session,
                    who,
                    &n.name,
                    Some(Privileges::TRUNCATE),
                    "TRUNCATE",
                )
            }),
            _ => Ok(()),
        }
    }

    /// The tables VACUUM or ANALYZE of `session` may work on: the named one, which
    /// `who` must own, or, without a name, the ones it owns (Redshift skips the rest).
    pub(super) fn maintainable(
        &self,
        session: &Session,
        tables: Vec<TableDef>,
        named: bool,
        what: &str,
    ) -> Result<Vec<TableDef>, LeaderError> {
        let who = self.principal(session)?;
        if named && let Some(def) = tables.iter().find(|d| !owns(&who, d)) {
            return Err(LeaderError::PermissionDenied(format!(
                "permission denied for relation {}: only its owner can {what} it",
                def.qualified_name()
            )));
        }
        Ok(tables.into_iter().filter(|d| owns(&who, d)).collect())
    }
}
