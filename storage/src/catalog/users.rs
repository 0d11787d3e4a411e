//! The catalog's users, groups, and the owners and ACLs of schemas and the database
//! (tables keep theirs in their definitions).

use super::*;

/// A user (Redshift: a database user) and its password verifiers. A verifier that is
/// empty is not there: a user created with an MD5 hash has no SCRAM verifier, and a
/// user whose password is DISABLEd has neither.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDef {
    pub name: String,
    pub superuser: bool,
    /// SCRAM-SHA-256 salt.
    pub scram_salt: Vec<u8>,
    /// SCRAM-SHA-256 salted password (PBKDF2 of the password).
    pub scram_salted_password: Vec<u8>,
    pub scram_iterations: u32,
    /// PostgreSQL's MD5 verifier: hex md5 of password || user name.
    pub md5_hash: String,
    /// The user's id (usesysid). The first user, made before ids were recorded, is 100.
    #[serde(default = "bootstrap_user_id")]
    pub id: i32,
    /// CREATEDB.
    #[serde(default)]
    pub createdb: bool,
    /// PASSWORD DISABLE: the user cannot log in.
    #[serde(default)]
    pub password_disabled: bool,
    /// VALID UNTIL, RFC 3339: the password stops working then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// CONNECTION LIMIT (None: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
    /// ALTER USER ... SET: the user's session defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
}

/// One of Redshift's roles: granted to users and to other roles (whose members then
/// hold it too), and given privileges like a user or group. Ids from 100000.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    pub id: i32,
    pub name: String,
    /// The user who created it.
    pub owner: i32,
    /// The users it is granted to.
    pub users: Vec<i32>,
    /// The roles it is granted to.
    pub roles: Vec<i32>,
}

/// A group of users (Redshift's CREATE GROUP; grosysid from 100).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDef {
    pub id: i32,
    pub name: String,
    /// Member user ids.
    pub members: Vec<i32>,
}

impl Catalog {
    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserDef>> {
        self.scan(Tree::Users, b"")
    }

    /// A user by name.
    pub fn user(&self, name: &str) -> Result<Option<UserDef>> {
        match self.get(Tree::Users, name.as_bytes())? {
            Some(v) => Ok(Some(decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// A user by id.
    pub fn user_by_id(&self, id: i32) -> Result<Option<UserDef>> {
        Ok(self.users()?.into_iter().find(|u| u.id == id))
    }

    /// Creates or replaces a user, keeping its id (the bootstrap superuser).
    pub fn put_user(&self, user: &UserDef) -> Result<()> {
        let bytes = encode(user)?;
        self.write(|tx| {
            tx.put(Tree::Users, user.name.as_bytes(), bytes.clone());
            Ok(())
        })
    }

    /// CREATE USER: `user` with the next free id (from 101).
    pub fn create_user(&self, user: &UserDef) -> Result<UserDef> {
        self.write(|tx| {
            if tx.get(Tree::Users, user.name.as_bytes())?.is_some() {
                return Err(StorageError::UserExists(user.name.clone()));
            }
            let users: Vec<UserDef> = decode_all(tx.scan(Tree::Users, b"")?)?;
            let id = users
                .iter()
                .map(|u| u.id)
                .max()
                .unwrap_or(access::BOOTSTRAP_USER_ID)
                .max(access::BOOTSTRAP_USER_ID)
                + 1;
            let user = UserDef { id, ..user.clone() };
            tx.put(Tree::Users, user.name.as_bytes(), encode(&user)?);
            Ok(user)
        })
    }

    /// ALTER USER: `change` gets the user; a new name must be free.
    pub fn alter_user(
        &self,
        name: &str,
        change: impl Fn(&mut UserDef) -> Result<()>,
    ) -> Result<UserDef> {
        self.write(|tx| alter_named(tx, name, &change))
    }

    /// DROP USER: refused while the user owns a table or schema or holds a privilege
    /// (each named); the user leaves its groups.
    pub fn drop_user(&self, name: &str) -> Result<UserDef> {
        self.write(|tx| {
            let Some(bytes) = tx.get(Tree::Users, name.as_bytes())? else {
                return Err(StorageError::UserNotFound(name.to_string()));
            };
            let user: UserDef = decode(name.as_bytes(), &bytes)?;
            let dependents = dependents(tx, Some(user.id), access::Grantee::User(user.id))?;
            if !dependents.is_empty() {
                return Err(StorageError::Dependents {
                    what: format!("user \"{name}\""),
                    objects: dependents,
                });
            }
            for (key, bytes) in tx.scan(Tree::Groups, b"")? {
                let mut group: GroupDef = decode(&key, &bytes)?;
                if group.members.contains(&user.id) {
                    group.members.retain(|m| *m != user.id);
                    tx.put(Tree::Groups, &key, encode(&group)?);
                }
            }
            for (key, bytes) in tx.scan(Tree::Roles, b"")? {
                let mut role: RoleDef = decode(&key, &bytes)?;
                if role.users.contains(&user.id) {
                    role.users.retain(|m| *m != user.id);
                    tx.put(Tree::Roles, &key, encode(&role)?);
                }
            }
            tx.remove(Tree::Users, name.as_bytes());
            Ok(user)
        })
    }

    /// Every group, by name.
    pub fn groups(&self) -> Result<Vec<GroupDef>> {
        self.scan(Tree::Groups, b"")
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Result<Option<GroupDef>> {
        match self.get(Tree::Groups, name.as_bytes())? {
            Some(v) => Ok(Some(decode(name.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// CREATE GROUP, with its first members.
    pub fn create_group(&self, name: &str, members: &[i32]) -> Result<GroupDef> {
        self.write(|tx| {
            if tx.get(Tree::Groups, name.as_bytes())?.is_some() {
                return Err(StorageError::GroupExists(name.to_string()));
            }
            let groups: Vec<GroupDef> = decode_all(tx.scan(Tree::Groups, b"")?)?;
            let id = groups.iter().map(|g| g.id + 1).max().unwrap_or(100);
            let mut members = members.to_vec();
            members.sort_unstable();
            members.dedup();
            let group = GroupDef {
                id,
                name: name.to_string(),
                members,
            };
            tx.put(Tree::Groups, name.as_bytes(), encode(&group)?);
            Ok(group)
        })
    }

    /// ALTER GROUP: `change` gets the group; a new name must be free.
    pub fn alter_group(
        &self,
        name: &str,
        change: impl Fn(&mut GroupDef) -> Result<()>,
    ) -> Result<GroupDef> {
        self.write(|tx| alter_named(tx, name, &change))
    }

    /// DROP GROUP: refused while the group holds a privilege (each named).
    pub fn drop_group(&self, name: &str) -> Result<GroupDef> {
        self.write(|tx| {
            let Some(bytes) = tx.get(Tree::Groups, name.as_bytes())? else {
                return Err(StorageError::GroupNotFound(name.to_string()));
            };
            let group: GroupDef = decode(name.as_bytes(), &bytes)?;
            let dependents = dependents(tx, None, access::Grantee::Group(group.id))?;
            if !dependents.is_empty() {
                return Err(StorageError::Dependents {
                    what: format!("group \"{name}\""),
                    objects: dependents,
                });
            }
            tx.remove(Tree::Groups, name.as_bytes());
            Ok(group)
        })
    }

    /// A schema's owner and ACL. Schemas made before owners were recorded belong to
    /// the first user; `public` lets everyone use it and create in it (Redshift).
    pub fn schema_access(&self, schema: &str) -> Result<ObjectAccess> {
        match self.get(Tree::SchemaAccess, schema.as_bytes())? {
            Some(v) => decode(schema.as_bytes(), &v),
            None => Ok(default_schema_access(schema)),
        }
    }

    /// Changes a schema's owner or ACL (GRANT, REVOKE, ALTER SCHEMA ... OWNER TO).
    pub fn alter_schema_access(
        &self,
        schema: &str,
        change: impl Fn(&mut ObjectAccess) -> Result<()>,
    ) -> Result<ObjectAccess> {
        self.write(|tx| {
            if tx.get(Tree::Schemas, schema.as_bytes())?.is_none() {
                return Err(StorageError::SchemaNotFound(schema.to_string()));
            }
            let mut access = match tx.get(Tree::SchemaAccess, schema.as_bytes())? {
                Some(v) => decode(schema.as_bytes(), &v)?,
                None => default_schema_access(schema),
            };
            change(&mut access)?;
            tx.put(Tree::SchemaAccess, schema.as_bytes(), encode(&access)?);
            Ok(access)
        })
    }

    /// The database's owner and ACL (CREATE and TEMP): the first user owns it and
    /// everyone may make temporary tables, as in Redshift.
    pub fn database_access(&self) -> Result<ObjectAccess> {
        match self.get(Tree::Meta, DATABASE_ACCESS_KEY)? {
            Some(v) => decode(DATABASE_ACCESS_KEY, &v),
            None => Ok(default_database_access()),
        }
    }

    /// Changes the database's ACL (GRANT ... ON DATABASE).
    pub fn alter_database_access(
        &self,
        change: impl Fn(&mut ObjectAccess) -> Result<()>,
    ) -> Result<ObjectAccess> {
        self.write(|tx| {
            let mut access = match tx.get(Tree::Meta, DATABASE_ACCESS_KEY)? {
                Some(v) => decode(DATABASE_ACCESS_KEY, &v)?,
                None => default_database_access(),
            };
            change(&mut access)?;
            tx.put(Tree::Meta, DATABASE_ACCESS_KEY, encode(&access)?);
            Ok(access)
        })
    }
}

/// A record kept under its name (users, groups, roles): a new name moves it.
pub(super) trait Named: Serialize + DeserializeOwned {
    const TREE: Tree;
    fn name(&self) -> &str;
    /// The error for no record called `name`.
    fn missing(name: &str) -> StorageError;
    /// The error for a record called `name` already there.
    fn taken(name: &str) -> StorageError;
    /// Puts the record in its stored form (member lists sorted, without repeats).
    fn normalize(&mut self) {}
}

fn sorted(ids: &mut Vec<i32>) {
    ids.sort_unstable();
    ids.dedup();
}

impl Named for UserDef {
    const TREE: Tree = Tree::Users;
    fn name(&self) -> &str {
        &self.name
    }
    fn missing(name: &str) -> StorageError {
        StorageError::UserNotFound(name.to_string())
    }
    fn taken(name: &str) -> StorageError {
        StorageError::UserExists(name.to_string())
    }
}

impl Named for GroupDef {
    const TREE: Tree = Tree::Groups;
    fn name(&self) -> &str {
        &self.name
    }
    fn missing(name: &str) -> StorageError {
        StorageError::GroupNotFound(name.to_string())
    }
    fn taken(name: &str) -> StorageError {
        StorageError::GroupExists(name.to_string())
    }
    fn normalize(&mut self) {
        sorted(&mut self.members);
    }
}

impl Named for RoleDef {
    const TREE: Tree = Tree::Roles;
    fn name(&self) -> &str {
        &self.name
    }
    fn missing(name: &str) -> StorageError {
        StorageError::RoleNotFound(name.to_string())
    }
    fn taken(name: &str) -> StorageError {
        StorageError::RoleExists(name.to_string())
    }
    fn normalize(&mut self) {
        sorted(&mut self.users);
        sorted(&mut self.roles);
    }
}

/// ALTER USER, GROUP or ROLE within `tx`: `change` gets the record called `name`; a
/// new name moves it, and must be free.
pub(super) fn alter_named<T: Named>(
    tx: &mut View<'_>,
    name: &str,
    change: &impl Fn(&mut T) -> Result<()>,
) -> Result<T> {
    let Some(bytes) = tx.get(T::TREE, name.as_bytes())? else {
        return Err(T::missing(name));
    };
    let mut record: T = decode(name.as_bytes(), &bytes)?;
    change(&mut record)?;
    record.normalize();
    if record.name() != name {
        if tx.get(T::TREE, record.name().as_bytes())?.is_some() {
            return Err(T::taken(record.name()));
        }
        tx.remove(T::TREE, name.as_bytes());
    }
    tx.put(T::TREE, record.name().as_bytes(), encode(&record)?);
    Ok(record)
}

pub(super) fn decode_all<T: DeserializeOwned>(records: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<T>> {
    records.iter().map(|(k, v)| decode(k, v)).collect()
}

fn default_schema_access(schema: &str) -> ObjectAccess {
    let acl = if schema == "public" {
        vec![AclItem {
            grantee: access::Grantee::Public,
            privileges: Privileges::USAGE.union(Privileges::CREATE),
            grantable: Privileges::NONE,
            grantor: access::BOOTSTRAP_USER_ID,
        }]
    } else {
        vec![]
    };
    ObjectAccess {
        owner: access::BOOTSTRAP_USER_ID,
        acl,
    }
}

fn default_database_access() -> ObjectAccess {
    ObjectAccess {
        owner: access::BOOTSTRAP_USER_ID,
        acl: vec![AclItem {
            grantee: access::Grantee::Public,
            privileges: Privileges::TEMP,
            grantable: Privileges::NONE,
            grantor: access::BOOTSTRAP_USER_ID,
        }],
    }
}

/// What depends on a user, group or role: the tables and schemas `owner` owns, the
/// objects whose ACL names `grantee`, and default privileges of or for it.
pub(super) fn dependents(
    tx: &mut View<'_>,
    owner: Option<i32>,
    grantee: access::Grantee,
) -> Result<Vec<String>> {
    let mut found = vec![];
    for (key, bytes) in tx.scan(Tree::Schemas, b"")? {
        let name: String = decode(&key, &bytes)?;
        let access = match tx.get(Tree::SchemaAccess, name.as_bytes())? {
            Some(v) => decode(name.as_bytes(), &v)?,
            None => default_schema_access(&name),
        };
        if Some(access.owner) == owner {
            found.push(format!("owner of schema {name}"));
        }
        if access::mentions(&access.acl, grantee) {
            found.push(format!("privileges for schema {name}"));
        }
    }
    for (key, bytes) in tx.scan(Tree::Tables, b"")? {
        let table: TableDef = decode(&key, &bytes)?;
        if Some(table.owner) == owner {
            found.push(format!("owner of table {}", table.qualified_name()));
        }
        if access::mentions(&table.acl, grantee) {
            found.push(format!("privileges for table {}", table.qualified_name()));
        }
    }
    let database = match tx.get(Tree::Meta, DATABASE_ACCESS_KEY)? {
        Some(v) => decode(DATABASE_ACCESS_KEY, &v)?,
        None => default_database_access(),
    };
    if access::mentions(&database.acl, grantee) {
        found.push("privileges for database dev".to_string());
    }
    for (key, bytes) in tx.scan(Tree::DefaultAcls, b"")? {
        let default: access::DefaultAcl = decode(&key, &bytes)?;
        let scope = default
            .schema
            .as_ref()
            .map_or_else(|| "every schema".to_string(), |s| format!("schema {s}"));
        if Some(default.owner) == owner {
            found.push(format!("default privileges of its new tables in {scope}"));
        }
        if access::mentions(&default.acl, grantee) {
            found.push(format!("default privileges for new tables in {scope}"));
        }
    }
    Ok(found)
}
