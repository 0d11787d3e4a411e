//! Users, groups and privileges in the engine: CREATE / ALTER / DROP USER and GROUP,
//! GRANT and REVOKE, ALTER ... OWNER TO and SET SESSION AUTHORIZATION. Each commits
//! where the session's statements commit (its transaction block, or on its own).
//! The checks every other statement passes are in `privileges.rs`.

use blueshift_storage::StorageError;
use blueshift_storage::catalog::access::{self, Grantee, Principal, Privileges};
use blueshift_storage::catalog::{GroupDef, UserDef};

use super::*;
use crate::error::ErrorKind;
use crate::frontend::auth;
use crate::sql::access::{
    AccessStatement, AlterGroup, AlterUser, GrantObjects, GrantStatement, GranteeName, Password,
    UserOptions,
};

pub(super) fn denied(message: impl Into<String>) -> LeaderError {
    LeaderError::PermissionDenied(message.into())
}

/// `'2030-01-01'` or `'2030-01-01 12:00:00[+01]'` as RFC 3339 (UTC when no zone).
fn valid_until(text: &str) -> Result<String, LeaderError> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let parsed = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%#z").map(|t| t.with_timezone(&Utc))
        })
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map(|t| t.and_utc()))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        })
        .map_err(|_| LeaderError::Failure {
            kind: ErrorKind::InvalidDatetimeFormat,
            message: format!("VALID UNTIL '{text}' is not a timestamp (YYYY-MM-DD [HH:MM:SS])"),
        })?;
    Ok(parsed.to_rfc3339())
}

/// Sets `user`'s verifiers from `password` (no verifier is kept for DISABLE).
fn set_password(user: &mut UserDef, password: &Password) {
    let fresh = match password {
        Password::Text(text) => auth::new_user(&user.name, text, user.superuser),
        Password::Md5(hex) => UserDef {
            md5_hash: hex.clone(),
            ..auth::new_user(&user.name, "", user.superuser)
        },
        Password::Disable => auth::new_user(&user.name, "", user.superuser),
    };
    let (scram, md5) = match password {
        Password::Text(_) => (true, true),
        Password::Md5(_) => (false, true),
        Password::Disable => (false, false),
    };
    user.scram_salt = if scram { fresh.scram_salt } else { vec![] };
    user.scram_salted_password = if scram {
        fresh.scram_salted_password
    } else {
        vec![]
    };
    user.scram_iterations = fresh.scram_iterations;
    user.md5_hash = if md5 { fresh.md5_hash } else { String::new() };
    user.password_disabled = matches!(password, Password::Disable);
}

/// VALID UNTIL as it is stored (`Some(None)`: no limit), checked.
fn resolved_until(o: &UserOptions) -> Result<Option<Option<String>>, LeaderError> {
    o.valid_until
        .as_ref()
        .map(|u| u.as_deref().map(valid_until).transpose())
        .transpose()
}

/// Applies CREATE or ALTER USER's options (not the password nor groups) to `user`,
/// with VALID UNTIL as [`resolved_until`] gave it.
fn apply_options(user: &mut UserDef, o: &UserOptions, until: &Option<Option<String>>) {
    if let Some(createdb) = o.createdb {
        user.createdb = createdb;
    }
    if let Some(createuser) = o.createuser {
        user.superuser = createuser;
    }
    if let Some(until) = until {
        user.valid_until = until.clone();
    }
    if let Some(limit) = o.connection_limit {
        user.connection_limit = limit;
    }
}

/// The privileges a GRANT names, checked against what the object's kind has.
pub(super) fn named_privileges(
    names: &[String],
    all: Privileges,
    kind: &str,
) -> Result<Privileges, LeaderError> {
    if names.is_empty() {
        return Ok(all);
    }
    let mut set = Privileges::NONE;
    for name in names {
        let p = Privileges::named(name).unwrap_or(Privileges::NONE);
        if p.is_empty() || !all.contains(p) {
            return Err(LeaderError::InvalidParameter(format!(
                "invalid privilege type {name} for {kind}"
            )));
        }
        set = set.union(p);
    }
    Ok(set)
}

impl Engine {
    /// The user a statement of `session` runs as, with its groups. A catalog without
    /// users (an engine no server bootstrapped) has no one to check: its sessions
    /// act as a superuser.
    pub(super) fn principal(&self, session: &Session) -> Result<Principal, LeaderError> {
        let catalog = self.catalog_of(session);
        match catalog.principal(session.user_id())? {
            Some(p) => Ok(p),
            None if catalog.users()?.is_empty() => Ok(Principal::superuser(session.user_id())),
            None => Err(LeaderError::Failure {
                kind: ErrorKind::InvalidAuthorizationSpecification,
                message: format!("user \"{}\" no longer exists", session.current_user()),
            }),
        }
    }

    pub(super) fn superuser_for(
        &self,
        session: &Session,
        what: &str,
    ) -> Result<Principal, LeaderError> {
        let me = self.principal(session)?;
        if !me.superuser {
            return Err(denied(format!(
                "permission denied: only a superuser can {what}"
            )));
        }
        Ok(me)
    }

    pub(super) fn user_id(&self, session: &Session, name: &str) -> Result<i32, LeaderError> {
        self.catalog_of(session)
            .user(name)?
            .map(|u| u.id)
            .ok_or_else(|| StorageError::UserNotFound(name.to_string()).into())
    }

    fn user_ids(&self, session: &Session, names: &[String]) -> Result<Vec<i32>, LeaderError> {
        names.iter().map(|n| self.user_id(session, n)).collect()
    }

    /// Runs a statement about users, groups or privileges.
    pub(super) fn access(
        &self,
        session: &Session,
        stmt: &AccessStatement,
    ) -> Result<Outcome, LeaderError> {
        let commits = self.commits_of(session);
        match stmt {
            AccessStatement::CreateUser { name, options } => {
                self.superuser_for(session, "create users")?;
                let Some(password) = &options.password else {
                    return Err(LeaderError::Syntax {
                        message: "CREATE USER needs PASSWORD 'password', PASSWORD 'md5...' or PASSWORD DISABLE".into(),
                        position: None,
                    });
                };
                let catalog = self.catalog_of(session);
                let groups: Vec<GroupDef> = options
                    .in_groups
                    .iter()
                    .map(|g| {
                        catalog
                            .group(g)?
                            .ok_or_else(|| StorageError::GroupNotFound(g.clone()))
                    })
                    .collect::<Result<_, _>>()?;
                let mut user = auth::new_user(name, "", false);
                set_password(&mut user, password);
                apply_options(&mut user, options, &resolved_until(options)?);
                let user = commits.create_user(&user)?;
                for g in groups {
                    commits.alter_group(&g.name, |g| {
                        g.members.push(user.id);
                        Ok(())
                    })?;
                }
                Ok(Outcome::done("CREATE USER"))
            }
            AccessStatement::AlterUser { name, change } => {
                let me = self.principal(session)?;
                let own_password = matches!(change, AlterUser::Options(o)
                    if o.password.is_some() && *o == UserOptions { password: o.password.clone(), ..UserOptions::default() })
                    && self.user_id(session, name)? == me.user;
                if !me.superuser && !own_password {
                    return Err(denied(format!(
                        "permission denied: only a superuser can alter user \"{name}\" (a user may change its own password)"
                    )));
                }
                match change {
                    AlterUser::Options(o) => {
                        let until = resolved_until(o)?;
                        commits.alter_user(name, |u| {
                            if let Some(p) = &o.password {
                                set_password(u, p);
                            }
                            apply_options(u, o, &until);
                            Ok(())
                        })?;
                    }
                    AlterUser::Rename(to) => {
                        if self.user_id(session, name)? == session.login_user_id() {
                            return Err(denied("the session user cannot be renamed"));
                        }
                        commits.alter_user(name, |u| {
                            u.name = to.clone();
                            // The MD5 verifier hashes the name with the password.
                            u.md5_hash.clear();
                            Ok(())
                        })?;
                    }
                    AlterUser::Set(setting, value) => {
                        if let Some(v) = value {
                            // Checked as SET would check it.
                            Session::new(name, 0).set(setting, v)?;
                        }
                        commits.alter_user(name, |u| {
                            match value {
                                Some(v) => u.settings.insert(setting.clone(), v.clone()),
                                None => u.settings.remove(setting),
                            };
                            Ok(())
                        })?;
                    }
                }
                Ok(Outcome::done("ALTER USER"))
            }
            AccessStatement::DropUser { names, if_exists } => {
                self.superuser_for(session, "drop users")?;
                for name in names {
                    let id = match self.user_id(session, name) {
                        Ok(id) => id,
                        Err(_) if *if_exists => continue,
                        Err(e) => return Err(e),
                    };
                    if id == session.login_user_id() || id == session.user_id() {
                        return Err(denied(format!("current user \"{name}\" cannot be dropped")));
                    }
                    if id == access::BOOTSTRAP_USER_ID {
                        return Err(denied(format!(
                            "user \"{name}\" cannot be dropped: the cluster was created with it"
                        )));
                    }
                    commits.drop_user(name)?;
                }
                Ok(Outcome::done("DROP USER"))
            }
            AccessStatement::CreateGroup { name, users } => {
                self.superuser_for(session, "create groups")?;
                let members = self.user_ids(session, users)?;
                commits.create_group(name, &members)?;
                Ok(Outcome::done("CREATE GROUP"))
            }
            AccessStatement::AlterGroup { name, change } => {
                self.superuser_for(session, "alter groups")?;
                match change {
                    AlterGroup::Add(users) | AlterGroup::Drop(users) => {
                        let ids = self.user_ids(session, users)?;
                        let add = matches!(change, AlterGroup::Add(_));
                        commits.alter_group(name, |g| {
                            if add {
                                g.members.extend(&ids);
                            } else {
                                g.members.retain(|m| !ids.contains(m));
                            }
                            Ok(())
                        })?;
                    }
                    AlterGroup::Rename(to) => {
                        commits.alter_group(name, |g| {
                            g.name = to.clone();
                            Ok(())
                        })?;
                    }
                }
                Ok(Outcome::done("ALTER GROUP"))
            }
            AccessStatement::DropGroup { names } => {
                self.superuser_for(session, "drop groups")?;
                for name in names {
                    commits.drop_group(name)?;
                }
                Ok(Outcome::done("DROP GROUP"))
            }
            AccessStatement::Grant(g) => {
                self.grant_or_revoke(session, g, true)?;
                Ok(Outcome::done("GRANT"))
            }
            AccessStatement::Revoke(g) => {
                self.grant_or_revoke(session, g, false)?;
                Ok(Outcome::done("REVOKE"))
            }
            AccessStatement::CreateRole { .. }
            | AccessStatement::AlterRole { .. }
            | AccessStatement::DropRole { .. }
            | AccessStatement::GrantRole { .. }
            | AccessStatement::DefaultPrivileges { .. }
            | AccessStatement::Show { .. } => self.roles(session, stmt),
        }
    }

    pub(super) fn grantees(
        &self,
        session: &Session,
        names: &[GranteeName],
    ) -> Result<Vec<Grantee>, LeaderError> {
        let catalog = self.catalog_of(session);
        names
            .iter()
            .map(|n| match n {
                GranteeName::Public => Ok(Grantee::Public),
                GranteeName::User(u) => Ok(Grantee::User(self.user_id(session, u)?)),
                GranteeName::Group(g) => catalog
                    .group(g)?
                    .map(|g| Grantee::Group(g.id))
                    .ok_or_else(|| StorageError::GroupNotFound(g.clone()).into()),
                GranteeName::Role(r) => catalog
                    .role(r)?
                    .map(|r| Grantee::Role(r.id))
                    .ok_or_else(|| StorageError::RoleNotFound(r.clone()).into()),
            })
            .collect()
    }

    fn grant_or_revoke(
        &self,
        session: &Session,
        g: &GrantStatement,
        granting: bool,
    ) -> Result<(), LeaderError> {
        let me = self.principal(session)?;
        let grantees = self.grantees(session, &g.grantees)?;
        if granting && g.grant_option && grantees.contains(&Grantee::Public) {
            return Err(LeaderError::InvalidParameter(
                "grant options can only be granted to users".into(),
            ));
        }
        let catalog = self.catalog_of(session);
        let commits = self.commits_of(session);
        // Changes one ACL: `who` must hold the grant option for every privilege.
        let change = |owner: i32, acl: &mut Vec<access::AclItem>, all: Privileges, object: &str| {
            let privileges = named_privileges(&g.privileges, all, object)?;
            let may = access::grantable(owner, acl, &me, all);
            if !may.contains(privileges) {
                return Err(denied(format!(
                    "permission denied for {object}: {} cannot grant or revoke {}",
                    session.current_user(),
                    privileges.minus(may).names()
                )));
            }
            for grantee in &grantees {
                if granting {
                    let grantable = if g.grant_option {
                        privileges
                    } else {
                        Privileges::NONE
                    };
                    access::grant(acl, *grantee, privileges, grantable, me.user);
                } else {
                    access::revoke(acl, *grantee, privileges, g.grant_option);
                }
            }
            Ok::<(), LeaderError>(())
        };
        match &g.objects {
            GrantObjects::Tables(_) | GrantObjects::AllTablesInSchema(_) => {
                // Every table and view first, so that a missing one changes none:
                // (schema, name, owner, ACL, whether a view).
                let mut relations = vec![];
                let table = |def: blueshift_storage::catalog::TableDef| {
                    (def.schema, def.name, def.owner, def.acl, false)
                };
                let view = |def: blueshift_storage::catalog::ViewDef| {
                    (def.schema, def.name, def.owner, def.acl, true)
                };
                if let GrantObjects::Tables(names) = &g.objects {
                    for parts in names {
                        let (mut schema, name) = table_name(parts)?;
                        if parts.len() == 1
                            && let Some(found) = self.unqualified_schema(session, &name)?
                        {
                            schema = found;
                        }
                        match (
                            catalog.table(&schema, &name)?,
                            catalog.view(&schema, &name)?,
                        ) {
                            (Some(def), _) => relations.push(table(def)),
                            (None, Some(def)) => relations.push(view(def)),
                            (None, None) => {
                                return Err(StorageError::TableNotFound(format!(
                                    "{schema}.{name}"
                                ))
                                .into());
                            }
                        }
                    }
                }
                if let GrantObjects::AllTablesInSchema(schemas) = &g.objects {
                    for schema in schemas {
                        if !catalog.schema_exists(schema)? {
                            return Err(StorageError::SchemaNotFound(schema.clone()).into());
                        }
                        relations.extend(catalog.tables_in(schema)?.into_iter().map(table));
                        relations.extend(catalog.views_in(schema)?.into_iter().map(view));
                    }
                }
                for (schema, name, owner, acl, is_view) in relations {
                    let mut acl = acl;
                    change(
                        owner,
                        &mut acl,
                        Privileges::ALL_TABLE,
                        &format!("relation {schema}.{name}"),
                    )?;
                    if is_view {
                        commits.alter_view(&schema, &name, |v| {
                            v.acl = acl.clone();
                            Ok(())
                        })?;
                    } else {
                        commits.alter_table(&schema, &name, false, |t| {
                            t.acl = acl.clone();
                            Ok(())
                        })?;
                    }
                }
            }
            GrantObjects::Schemas(schemas) => {
                for schema in schemas {
                    let current = catalog.schema_access(schema)?;
                    if !catalog.schema_exists(schema)? {
                        return Err(StorageError::SchemaNotFound(schema.clone()).into());
                    }
                    let mut acl = current.acl.clone();
                    change(
                        current.owner,
                        &mut acl,
                        Privileges::ALL_SCHEMA,
                        &format!("schema {schema}"),
                    )?;
                    commits.alter_schema_access(schema, |a| {
                        a.acl = acl.clone();
                        Ok(())
                    })?;
                }
            }
            GrantObjects::Databases(names) => {
                for name in names {
                    if name != DATABASE {
                        return Err(LeaderError::Failure {
                            kind: ErrorKind::UndefinedObject,
                            message: format!("database \"{name}\" does not exist"),
                        });
                    }
                    let current = catalog.database_access()?;
                    let mut acl = current.acl.clone();
                    change(
                        current.owner,
                        &mut acl,
                        Privileges::ALL_DATABASE,
                        &format!("database {name}"),
                    )?;
                    commits.alter_database_access(|a| {
                        a.acl = acl.clone();
                        Ok(())
                    })?;
                }
            }
        }
        Ok(())
    }

    /// ALTER TABLE ... OWNER TO and ALTER SCHEMA ... OWNER TO (superusers only).
    pub(super) fn change_owner(
        &self,
        session: &Session,
        schema: &str,
        table: Option<&str>,
        owner: &str,
    ) -> Result<Outcome, LeaderError> {
        self.superuser_for(session, "change an owner")?;
        let id = self.user_id(session, owner)?;
        let commits = self.commits_of(session);
        match table {
            Some(table) if self.catalog_of(session).view(schema, table)?.is_some() => {
                commits.alter_view(schema, table, |v| {
                    v.owner = id;
                    Ok(())
                })?;
                Ok(Outcome::done("ALTER TABLE"))
            }
            Some(table) => {
                commits.alter_table(schema, table, false, |t| {
                    t.owner = id;
                    Ok(())
                })?;
                Ok(Outcome::done("ALTER TABLE"))
            }
            None => {
                commits.alter_schema_access(schema, |a| {
                    a.owner = id;
                    Ok(())
                })?;
                Ok(Outcome::done("ALTER SCHEMA"))
            }
        }
    }

    /// SET SESSION AUTHORIZATION: a superuser who logged in runs statements as
    /// another user (`None`: DEFAULT, back to itself).
    pub(super) fn set_authorization(
        &self,
        session: &Session,
        user: Option<&str>,
    ) -> Result<Outcome, LeaderError> {
        let catalog = self.catalog_of(session);
        let login = catalog.user_by_id(session.login_user_id())?;
        let (id, name) = match user {
            None => (session.login_user_id(), session.user.clone()),
            Some(name) => {
                let target = catalog
                    .user(name)?
                    .ok_or_else(|| StorageError::UserNotFound(name.to_string()))?;
                (target.id, target.name)
            }
        };
        let allowed = id == session.login_user_id()
            || login.as_ref().is_some_and(|u| u.superuser)
            || catalog.users()?.is_empty();
        if !allowed {
            return Err(denied("permission denied to set session authorization"));
        }
        session.set_authorization(id, &name);
        Ok(Outcome::done("SET"))
    }
}

/// `[schema.]table` as (schema, table).
pub(super) fn table_name(parts: &[String]) -> Result<(String, String), LeaderError> {
    match parts {
        [table] => Ok(("public".to_string(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        [db, schema, table] if db == DATABASE => Ok((schema.clone(), table.clone())),
        _ => Err(LeaderError::Unsupported(format!(
            "the name {}",
            parts.join(".")
        ))),
    }
}

/// The catalog's users and groups as pg_catalog's roles (pg_roles, psql's `\du`):
/// users log in, groups do not.
#[derive(Clone, Debug)]
pub(super) struct CatalogRoles(pub Catalog);

#[async_trait::async_trait]
impl datafusion_pg_catalog::pg_catalog::context::PgCatalogContextProvider for CatalogRoles {
    async fn roles(&self) -> Vec<String> {
        let users = self
            .0
            .users()
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.name);
        let groups = self
            .0
            .groups()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.name);
        users.chain(groups).collect()
    }

    async fn role(&self, name: &str) -> Option<datafusion_pg_catalog::pg_catalog::context::Role> {
        use datafusion_pg_catalog::pg_catalog::context::Role;
        let role = |name: String, superuser: bool, login: bool, createdb: bool| Role {
            name,
            is_superuser: superuser,
            can_login: login,
            can_create_db: createdb,
            can_create_role: superuser,
            can_create_user: superuser,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        };
        if let Ok(Some(u)) = self.0.user(name) {
            return Some(role(u.name, u.superuser, !u.password_disabled, u.createdb));
        }
        let g = self.0.group(name).ok().flatten()?;
        Some(role(g.name, false, false, false))
    }
}
