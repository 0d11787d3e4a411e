//! Redshift's roles (CREATE / ALTER / DROP ROLE, GRANT ROLE, REVOKE ROLE) and
//! ALTER DEFAULT PRIVILEGES in the engine. A role holds privileges as a user or
//! group does; its members (users, and the members of roles it is granted to) hold
//! them too.

use blueshift_storage::StorageError;
use blueshift_storage::catalog::access::{self, Grantee, Privileges};

use super::access::{denied, named_privileges};
use super::*;
use crate::sql::access::{AccessStatement, AlterRole, GranteeName};

impl Engine {
    /// Runs a statement about roles or default privileges.
    pub(super) fn roles(
        &self,
        session: &Session,
        stmt: &AccessStatement,
    ) -> Result<Outcome, LeaderError> {
        let commits = self.commits_of(session);
        let catalog = self.catalog_of(session);
        match stmt {
            AccessStatement::CreateRole { name } => {
                self.superuser_for(session, "create roles")?;
                commits.create_role(name, session.user_id())?;
                Ok(Outcome::done("CREATE ROLE"))
            }
            AccessStatement::AlterRole { name, change } => {
                self.role_owner_or_superuser(session, name)?;
                match change {
                    AlterRole::Rename(to) => commits.alter_role(name, |r| {
                        r.name = to.clone();
                        Ok(())
                    })?,
                    AlterRole::Owner(user) => {
                        let id = self.user_id(session, user)?;
                        commits.alter_role(name, |r| {
                            r.owner = id;
                            Ok(())
                        })?
                    }
                };
                Ok(Outcome::done("ALTER ROLE"))
            }
            AccessStatement::DropRole { name, force } => {
                self.role_owner_or_superuser(session, name)?;
                commits.drop_role(name, *force)?;
                Ok(Outcome::done("DROP ROLE"))
            }
            AccessStatement::GrantRole {
                roles,
                grantees,
                granting,
            } => {
                for role in roles {
                    self.role_owner_or_superuser(session, role)?;
                    let mut users = vec![];
                    let mut holders = vec![];
                    for g in grantees {
                        match g {
                            GranteeName::Role(r) => holders.push(
                                catalog
                                    .role(r)?
                                    .ok_or_else(|| StorageError::RoleNotFound(r.clone()))?
                                    .id,
                            ),
                            GranteeName::User(u) => users.push(self.user_id(session, u)?),
                            GranteeName::Group(_) | GranteeName::Public => {
                                return Err(LeaderError::Unsupported(
                                    "GRANT ROLE to a group or PUBLIC".into(),
                                ));
                            }
                        }
                    }
                    commits.alter_role(role, |r| {
                        if *granting {
                            r.users.extend(&users);
                            r.roles.extend(&holders);
                        } else {
                            r.users.retain(|u| !users.contains(u));
                            r.roles.retain(|h| !holders.contains(h));
                        }
                        Ok(())
                    })?;
                }
                Ok(Outcome::done(if *granting { "GRANT" } else { "REVOKE" }))
            }
            AccessStatement::DefaultPrivileges {
                users,
                schemas,
                granting,
                grant,
            } => {
                let me = self.principal(session)?;
                let owners = if users.is_empty() {
                    vec![me.user]
                } else {
                    users
                        .iter()
                        .map(|u| self.user_id(session, u))
                        .collect::<Result<Vec<_>, _>>()?
                };
                if !me.superuser && owners.iter().any(|o| *o != me.user) {
                    return Err(denied(
                        "permission denied: only a superuser can alter another user's default privileges",
                    ));
                }
                for schema in schemas {
                    if !catalog.schema_exists(schema)? {
                        return Err(StorageError::SchemaNotFound(schema.clone()).into());
                    }
                }
                let privileges =
                    named_privileges(&grant.privileges, Privileges::ALL_TABLE, "tables")?;
                let grantees = self.grantees(session, &grant.grantees)?;
                if *granting && grant.grant_option && grantees.contains(&Grantee::Public) {
                    return Err(LeaderError::InvalidParameter(
                        "grant options can only be granted to users".into(),
                    ));
                }
                let scopes: Vec<Option<&str>> = if schemas.is_empty() {
                    vec![None]
                } else {
                    schemas.iter().map(|s| Some(s.as_str())).collect()
                };
                for owner in owners {
                    for schema in &scopes {
                        commits.alter_default_acl(owner, *schema, |acl| {
                            for grantee in &grantees {
                                if *granting {
                                    let grantable = if grant.grant_option {
                                        privileges
                                    } else {
                                        Privileges::NONE
                                    };
                                    access::grant(acl, *grantee, privileges, grantable, owner);
                                } else {
                                    access::revoke(acl, *grantee, privileges, grant.grant_option);
                                }
                            }
                            Ok(())
                        })?;
                    }
                }
                Ok(Outcome::done("ALTER DEFAULT PRIVILEGES"))
            }
            _ => Err(LeaderError::Unsupported(stmt.tag().into())),
        }
    }

    /// Checks that the session's user owns role `name` or is a superuser.
    fn role_owner_or_superuser(&self, session: &Session, name: &str) -> Result<(), LeaderError> {
        let me = self.principal(session)?;
        let role = self
            .catalog_of(session)
            .role(name)?
            .ok_or_else(|| StorageError::RoleNotFound(name.to_string()))?;
        if me.superuser || role.owner == me.user {
            return Ok(());
        }
        Err(denied(format!(
            "permission denied for role {name}: only its owner or a superuser can grant, alter or drop it"
        )))
    }
}
