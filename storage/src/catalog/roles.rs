//! Redshift's roles (CREATE ROLE, GRANT ROLE), the default privileges of new tables
//! (ALTER DEFAULT PRIVILEGES), and what privilege checks see of a user (its groups
//! and roles: [`Catalog::principal`]).

use super::users::{alter_named, decode_all, dependents};
use super::*;
use access::DefaultAcl;

/// The first role id (role ids are apart from user and group ids).
const FIRST_ROLE_ID: i32 = 100_000;

/// The key of a default ACL: the owner and the schema ('' for every schema).
fn default_acl_key(owner: i32, schema: Option<&str>) -> Vec<u8> {
    format!("{owner}/{}", schema.unwrap_or_default()).into_bytes()
}

impl Catalog {
    /// The user `id` as privilege checks see it; None when there is no such user
    /// (dropped while a session of it ran).
    pub fn principal(&self, id: i32) -> Result<Option<access::Principal>> {
        let Some(user) = self.user_by_id(id)? else {
            return Ok(None);
        };
        let groups = self
            .groups()?
            .into_iter()
            .filter(|g| g.members.contains(&id))
            .map(|g| g.id)
            .collect();
        Ok(Some(access::Principal {
            user: id,
            groups,
            roles: roles_of(&self.roles()?, id),
            superuser: user.superuser,
        }))
    }

    /// Every role, by name.
    pub fn roles(&self) -> Result<Vec<RoleDef>> {
        self.scan(Tree::Roles, b"")
    }

    /// A role by name.
    pub fn role(&self, name: &str) -> Result<Option<RoleDef>> {
        match self.get(Tree::Roles, name.as_bytes())? {
            Some(v) => Ok(Some(decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// CREATE ROLE, owned by `owner`.
    pub fn create_role(&self, name: &str, owner: i32) -> Result<RoleDef> {
        self.write(|tx| {
            if tx.get(Tree::Roles, name.as_bytes())?.is_some() {
                return Err(StorageError::RoleExists(name.to_string()));
            }
            let roles: Vec<RoleDef> = decode_all(tx.scan(Tree::Roles, b"")?)?;
            let id = roles
                .iter()
                .map(|r| r.id + 1)
                .max()
                .unwrap_or(FIRST_ROLE_ID);
            let role = RoleDef {
                id,
                name: name.to_string(),
                owner,
                users: vec![],
                roles: vec![],
            };
            tx.put(Tree::Roles, name.as_bytes(), encode(&role)?);
            Ok(role)
        })
    }

    /// GRANT ROLE, REVOKE ROLE, ALTER ROLE: `change` gets the role; a new name must
    /// be free. A role granted to itself, directly or through others, is refused.
    pub fn alter_role(
        &self,
        name: &str,
        change: impl Fn(&mut RoleDef) -> Result<()>,
    ) -> Result<RoleDef> {
        self.write(|tx| {
            let role: RoleDef = alter_named(tx, name, &change)?;
            // The statement fails as a whole (and with it its transaction block), so
            // the change above never commits when this refuses it.
            let all: Vec<RoleDef> = decode_all(tx.scan(Tree::Roles, b"")?)?;
            if holders(&all, role.id).contains(&role.id) {
                return Err(StorageError::InvalidGrant(format!(
                    "granting role \"{}\" would make it a member of itself",
                    role.name
                )));
            }
            Ok(role)
        })
    }

    /// DROP ROLE: refused while it holds a privilege, or (without `force`) while it
    /// is granted to a user or role; with `force` those grants go with it.
    pub fn drop_role(&self, name: &str, force: bool) -> Result<RoleDef> {
        self.write(|tx| {
            let Some(bytes) = tx.get(Tree::Roles, name.as_bytes())? else {
                return Err(StorageError::RoleNotFound(name.to_string()));
            };
            let role: RoleDef = decode(name.as_bytes(), &bytes)?;
            let mut objects = dependents(tx, None, access::Grantee::Role(role.id))?;
            let granted = !role.users.is_empty() || !role.roles.is_empty();
            if granted && !force {
                objects.push(
                    "grants of the role to users or roles (DROP ROLE ... FORCE revokes them)"
                        .into(),
                );
            }
            if !objects.is_empty() {
                return Err(StorageError::Dependents {
                    what: format!("role \"{name}\""),
                    objects,
                });
            }
            for (key, bytes) in tx.scan(Tree::Roles, b"")? {
                let mut other: RoleDef = decode(&key, &bytes)?;
                if other.roles.contains(&role.id) {
                    other.roles.retain(|r| *r != role.id);
                    tx.put(Tree::Roles, &key, encode(&other)?);
                }
            }
            tx.remove(Tree::Roles, name.as_bytes());
            Ok(role)
        })
    }

    /// Every default ACL.
    pub fn default_acls(&self) -> Result<Vec<DefaultAcl>> {
        self.scan(Tree::DefaultAcls, b"")
    }

    /// ALTER DEFAULT PRIVILEGES: `change` gets the default ACL of tables `owner`
    /// creates in `schema` (None: in any schema).
    pub fn alter_default_acl(
        &self,
        owner: i32,
        schema: Option<&str>,
        change: impl Fn(&mut Vec<AclItem>) -> Result<()>,
    ) -> Result<()> {
        let key = default_acl_key(owner, schema);
        self.write(|tx| {
            let mut acl = match tx.get(Tree::DefaultAcls, &key)? {
                Some(v) => decode::<DefaultAcl>(&key, &v)?.acl,
                None => vec![],
            };
            change(&mut acl)?;
            if acl.is_empty() {
                tx.remove(Tree::DefaultAcls, &key);
            } else {
                let record = DefaultAcl {
                    owner,
                    schema: schema.map(str::to_string),
                    acl,
                };
                tx.put(Tree::DefaultAcls, &key, encode(&record)?);
            }
            Ok(())
        })
    }

    /// The ACL a table `owner` creates in `schema` starts with: its default
    /// privileges for every schema and for that one.
    pub fn initial_acl(&self, owner: i32, schema: &str) -> Result<Vec<AclItem>> {
        let mut acl = vec![];
        for key in [
            default_acl_key(owner, None),
            default_acl_key(owner, Some(schema)),
        ] {
            if let Some(v) = self.get(Tree::DefaultAcls, &key)? {
                for item in decode::<DefaultAcl>(&key, &v)?.acl {
                    access::grant(
                        &mut acl,
                        item.grantee,
                        item.privileges,
                        item.grantable,
                        owner,
                    );
                }
            }
        }
        Ok(acl)
    }
}

/// The roles whose privileges reach holders of role `id`'s grants: every role `id`
/// is granted to, directly or through others (not `id` itself, unless it is in a
/// circle).
fn holders(roles: &[RoleDef], id: i32) -> Vec<i32> {
    let mut found: Vec<i32> = vec![];
    let mut next = vec![id];
    while let Some(r) = next.pop() {
        if let Some(role) = roles.iter().find(|x| x.id == r) {
            for &granted in &role.roles {
                if !found.contains(&granted) {
                    found.push(granted);
                    next.push(granted);
                }
            }
        }
    }
    found
}

/// The roles user `user` holds: those granted to it, and those granted to roles it
/// holds.
pub(super) fn roles_of(roles: &[RoleDef], user: i32) -> Vec<i32> {
    let mut held: Vec<i32> = roles
        .iter()
        .filter(|r| r.users.contains(&user))
        .map(|r| r.id)
        .collect();
    let mut i = 0;
    while i < held.len() {
        // A role granted to a role the user holds: its `roles` lists the holder.
        let holder = held[i];
        for r in roles {
            if r.roles.contains(&holder) && !held.contains(&r.id) {
                held.push(r.id);
            }
        }
        i += 1;
    }
    held
}
