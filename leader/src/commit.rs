//! [`CommitPoint`]: the one place where statements change table data or the catalog.
//!
//! Every DDL statement, every write (INSERT, COPY, DELETE, UPDATE, VACUUM's rewrites,
//! TRUNCATE) and every stored statistic commits through here, each as one catalog
//! transaction. Statements read the catalog directly; they never write it directly.
//! Real transactions (BEGIN ... COMMIT holding changes until the end) will hook in
//! here.

use std::collections::BTreeMap;

use blueshift_storage::Result;
use blueshift_storage::catalog::access::{AclItem, ObjectAccess};
use blueshift_storage::catalog::{
    Catalog, CommentTarget, GroupDef, RoleDef, SegmentRef, TableChange, TableDef, TableStatistics,
    TableVersion, UserDef, ViewDef,
};

/// Commits changes to one catalog.
#[derive(Clone, Debug)]
pub struct CommitPoint {
    catalog: Catalog,
}

impl CommitPoint {
    /// The commit point of `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        CommitPoint { catalog }
    }

    /// CREATE SCHEMA, owned by `owner`.
    pub fn create_schema(&self, name: &str, owner: i32) -> Result<()> {
        self.catalog.create_schema(name, owner)
    }

    /// DROP SCHEMA (of an empty schema).
    pub fn drop_schema(&self, name: &str) -> Result<()> {
        self.catalog.drop_schema(name)
    }

    /// CREATE TABLE, with its first version for CREATE TABLE AS.
    pub fn create_table(&self, def: TableDef, version: Option<TableVersion>) -> Result<TableDef> {
        self.catalog.create_table(def, version)
    }

    /// ALTER TABLE: `change` gets the current definition; `cascade` drops the
    /// foreign keys that reference a key it drops.
    pub fn alter_table(
        &self,
        schema: &str,
        name: &str,
        cascade: bool,
        change: impl Fn(&mut TableDef) -> Result<()>,
    ) -> Result<TableDef> {
        self.catalog.alter_table(schema, name, cascade, change)
    }

    /// DROP TABLE [CASCADE].
    pub fn drop_table(&self, schema: &str, name: &str, cascade: bool) -> Result<TableDef> {
        self.catalog.drop_table(schema, name, cascade)
    }

    /// CREATE [OR REPLACE] VIEW.
    pub fn create_view(&self, def: ViewDef, replace: bool) -> Result<ViewDef> {
        self.catalog.create_view(def, replace)
    }

    /// DROP VIEW [CASCADE]: the dropped views.
    pub fn drop_view(&self, schema: &str, name: &str, cascade: bool) -> Result<Vec<ViewDef>> {
        self.catalog.drop_view(schema, name, cascade)
    }

    /// ALTER VIEW, GRANT and REVOKE on a view.
    pub fn alter_view(
        &self,
        schema: &str,
        name: &str,
        change: impl Fn(&mut ViewDef) -> Result<()>,
    ) -> Result<ViewDef> {
        self.catalog.alter_view(schema, name, change)
    }

    /// ALTER TABLE ... RENAME TO of a table or view; `follow` rewrites the views that
    /// read it.
    pub fn rename_relation(
        &self,
        schema: &str,
        old: &str,
        new: &str,
        follow: impl Fn(&ViewDef) -> Result<ViewDef>,
    ) -> Result<()> {
        self.catalog.rename_relation(schema, old, new, follow)
    }

    /// COMMENT ON.
    pub fn set_comment(&self, target: &CommentTarget, text: Option<&str>) -> Result<()> {
        self.catalog.set_comment(target, text)
    }

    /// INSERT or COPY: staged segments become part of the table.
    pub fn append(
        &self,
        table_id: u64,
        added: &BTreeMap<u32, Vec<SegmentRef>>,
    ) -> Result<TableVersion> {
        self.catalog.append_segments(table_id, added)
    }

    /// DELETE, UPDATE or VACUUM: `change` (delete vectors, new and replaced segments)
    /// applies to the version the statement read, or fails with a conflict.
    pub fn apply(&self, table_id: u64, table: &str, change: &TableChange) -> Result<TableVersion> {
        self.catalog.commit(table_id, table, change)
    }

    /// TRUNCATE.
    pub fn truncate(&self, table_id: u64) -> Result<TableVersion> {
        self.catalog.truncate(table_id)
    }

    /// ANALYZE's statistics.
    pub fn put_statistics(&self, table_id: u64, stats: &TableStatistics) -> Result<()> {
        self.catalog.put_statistics(table_id, stats)
    }

    /// A user (the bootstrap superuser).
    pub fn put_user(&self, user: &UserDef) -> Result<()> {
        self.catalog.put_user(user)
    }

    /// CREATE USER.
    pub fn create_user(&self, user: &UserDef) -> Result<UserDef> {
        self.catalog.create_user(user)
    }

    /// ALTER USER.
    pub fn alter_user(
        &self,
        name: &str,
        change: impl Fn(&mut UserDef) -> Result<()>,
    ) -> Result<UserDef> {
        self.catalog.alter_user(name, change)
    }

    /// DROP USER.
    pub fn drop_user(&self, name: &str) -> Result<UserDef> {
        self.catalog.drop_user(name)
    }

    /// CREATE GROUP.
    pub fn create_group(&self, name: &str, members: &[i32]) -> Result<GroupDef> {
        self.catalog.create_group(name, members)
    }

    /// ALTER GROUP.
    pub fn alter_group(
        &self,
        name: &str,
        change: impl Fn(&mut GroupDef) -> Result<()>,
    ) -> Result<GroupDef> {
        self.catalog.alter_group(name, change)
    }

    /// DROP GROUP.
    pub fn drop_group(&self, name: &str) -> Result<GroupDef> {
        self.catalog.drop_group(name)
    }

    /// GRANT, REVOKE or a new owner on a schema.
    pub fn alter_schema_access(
        &self,
        schema: &str,
        change: impl Fn(&mut ObjectAccess) -> Result<()>,
    ) -> Result<ObjectAccess> {
        self.catalog.alter_schema_access(schema, change)
    }

    /// CREATE ROLE.
    pub fn create_role(&self, name: &str, owner: i32) -> Result<RoleDef> {
        self.catalog.create_role(name, owner)
    }

    /// GRANT ROLE, REVOKE ROLE, ALTER ROLE.
    pub fn alter_role(
        &self,
        name: &str,
        change: impl Fn(&mut RoleDef) -> Result<()>,
    ) -> Result<RoleDef> {
        self.catalog.alter_role(name, change)
    }

    /// DROP ROLE.
    pub fn drop_role(&self, name: &str, force: bool) -> Result<RoleDef> {
        self.catalog.drop_role(name, force)
    }

    /// ALTER DEFAULT PRIVILEGES.
    pub fn alter_default_acl(
        &self,
        owner: i32,
        schema: Option<&str>,
        change: impl Fn(&mut Vec<AclItem>) -> Result<()>,
    ) -> Result<()> {
        self.catalog.alter_default_acl(owner, schema, change)
    }

    /// GRANT or REVOKE on the database.
    pub fn alter_database_access(
        &self,
        change: impl Fn(&mut ObjectAccess) -> Result<()>,
    ) -> Result<ObjectAccess> {
        self.catalog.alter_database_access(change)
    }
}
