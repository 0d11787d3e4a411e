//! Who was granted what: SVV_RELATION_PRIVILEGES, SVV_SCHEMA_PRIVILEGES,
//! SVV_DEFAULT_PRIVILEGES, SVV_ROLES, SVV_USER_GRANTS and SVV_ROLE_GRANTS. A user who
//! is not a superuser sees the rows of identities it is: itself, its groups, its
//! roles and PUBLIC.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field};
use blueshift_storage::catalog::Catalog;
use blueshift_storage::catalog::access::{AclItem, Grantee, Principal, Privileges};
use datafusion::error::Result;

use super::batch;
use crate::error::LeaderError;

/// Names of users, groups and roles by id.
pub(crate) struct Names {
    users: HashMap<i32, String>,
    groups: HashMap<i32, String>,
    roles: HashMap<i32, String>,
}

impl Names {
    pub(crate) fn of(catalog: &Catalog) -> Result<Names> {
        let failed = |e| LeaderError::from(e);
        Ok(Names {
            users: catalog
                .users()
                .map_err(failed)?
                .into_iter()
                .map(|u| (u.id, u.name))
                .collect(),
            groups: catalog
                .groups()
                .map_err(failed)?
                .into_iter()
                .map(|g| (g.id, g.name))
                .collect(),
            roles: catalog
                .roles()
                .map_err(failed)?
                .into_iter()
                .map(|r| (r.id, r.name))
                .collect(),
        })
    }

    pub(crate) fn user(&self, id: i32) -> String {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// (id, name, type) of a grantee, as Redshift names identity types.
    fn identity(&self, grantee: Grantee) -> (i32, String, &'static str) {
        let named = |m: &HashMap<i32, String>, id: i32| {
            m.get(&id).cloned().unwrap_or_else(|| id.to_string())
        };
        match grantee {
            Grantee::Public => (0, "public".into(), "public"),
            Grantee::User(id) => (id, named(&self.users, id), "user"),
            Grantee::Group(id) => (id, named(&self.groups, id), "group"),
            Grantee::Role(id) => (id, named(&self.roles, id), "role"),
        }
    }
}

/// An ACL as PostgreSQL's `relacl` shows it: `grantee=privileges/grantor` per item
/// (the owner's own item first; PUBLIC's grantee is empty, a group's is `group g`),
/// with the letters of [`Privileges::NAMED`]; None for an ACL GRANT never touched.
pub(crate) fn acl_text(owner: i32, acl: &[AclItem], names: &Names) -> Option<Vec<String>> {
    if acl.is_empty() {
        return None;
    }
    let letters = |p: Privileges, option: Privileges| -> String {
        Privileges::NAMED
            .iter()
            .filter(|(x, _, _)| p.contains(*x))
            .map(|(x, _, c)| {
                if option.contains(*x) {
                    format!("{c}*")
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let owner_name = names.user(owner);
    let mut items = vec![format!(
        "{owner_name}={}/{owner_name}",
        letters(Privileges::ALL_TABLE, Privileges::NONE)
    )];
    for item in acl {
        let grantee = match item.grantee {
            Grantee::Public => String::new(),
            Grantee::Group(_) => format!("group {}", names.identity(item.grantee).1),
            other => names.identity(other).1,
        };
        items.push(format!(
            "{grantee}={}/{}",
            letters(item.privileges, item.grantable),
            names.user(item.grantor)
        ));
    }
    Some(items)
}

/// INFORMATION_SCHEMA.TABLE_PRIVILEGES: one row per privilege an owner holds on its
/// tables and per privilege GRANT gave, that the viewer granted or holds (all for a
/// superuser).
pub(super) fn information_schema_table_privileges(
    catalog: &Catalog,
    viewer: &Principal,
) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    type Row = (String, String, String, String, String, bool);
    let mut rows: Vec<Row> = vec![];
    for t in catalog.all_tables().map_err(LeaderError::from)? {
        let owner = AclItem {
            grantee: Grantee::User(t.owner),
            privileges: Privileges::ALL_TABLE,
            grantable: Privileges::ALL_TABLE,
            grantor: t.owner,
        };
        for item in std::iter::once(&owner).chain(&t.acl) {
            if !(visible(viewer, item.grantee) || item.grantor == viewer.user) {
                continue;
            }
            let grantee = names.identity(item.grantee).1;
            for (p, privilege, _) in Privileges::NAMED {
                if item.privileges.contains(*p) {
                    rows.push((
                        names.user(item.grantor),
                        if item.grantee == Grantee::Public {
                            "PUBLIC".into()
                        } else {
                            grantee.clone()
                        },
                        t.schema.clone(),
                        t.name.clone(),
                        privilege.to_string(),
                        item.grantable.contains(*p),
                    ));
                }
            }
        }
    }
    batch(
        vec![
            Field::new("grantor", DataType::Utf8, false),
            Field::new("grantee", DataType::Utf8, false),
            Field::new("table_catalog", DataType::Utf8, false),
            Field::new("table_schema", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("privilege_type", DataType::Utf8, false),
            Field::new("is_grantable", DataType::Utf8, false),
            Field::new("with_hierarchy", DataType::Utf8, false),
        ],
        vec![
            text(rows.iter().map(|r| r.0.clone())),
            text(rows.iter().map(|r| r.1.clone())),
            text(rows.iter().map(|_| crate::session::DATABASE.to_string())),
            text(rows.iter().map(|r| r.2.clone())),
            text(rows.iter().map(|r| r.3.clone())),
            text(rows.iter().map(|r| r.4.clone())),
            text(
                rows.iter()
                    .map(|r| if r.5 { "YES" } else { "NO" }.to_string()),
            ),
            text(rows.iter().map(|_| "NO".to_string())),
        ],
    )
}

/// Whether `viewer` may see rows about `grantee`.
fn visible(viewer: &Principal, grantee: Grantee) -> bool {
    viewer.superuser
        || match grantee {
            Grantee::Public => true,
            Grantee::User(id) => id == viewer.user,
            Grantee::Group(id) => viewer.groups.contains(&id),
            Grantee::Role(id) => viewer.roles.contains(&id),
        }
}

/// One row per privilege per grantee of an ACL: (privilege, id, name, type, admin).
type Grant = (String, i32, String, &'static str, bool);

fn grants(acl: &[AclItem], names: &Names, viewer: &Principal) -> Vec<Grant> {
    let mut rows = vec![];
    for item in acl.iter().filter(|i| visible(viewer, i.grantee)) {
        let (id, name, kind) = names.identity(item.grantee);
        for (p, privilege, _) in Privileges::NAMED {
            if item.privileges.contains(*p) {
                rows.push((
                    privilege.to_string(),
                    id,
                    name.clone(),
                    kind,
                    item.grantable.contains(*p),
                ));
            }
        }
    }
    rows
}

fn text(values: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn ints(values: impl IntoIterator<Item = i32>) -> ArrayRef {
    Arc::new(Int32Array::from_iter_values(values))
}

fn bools(values: impl IntoIterator<Item = bool>) -> ArrayRef {
    Arc::new(BooleanArray::from_iter(values.into_iter().map(Some)))
}

/// The identity columns of `grants`, after the object's own.
fn grant_fields() -> Vec<Field> {
    vec![
        Field::new("privilege_type", DataType::Utf8, false),
        Field::new("identity_id", DataType::Int32, false),
        Field::new("identity_name", DataType::Utf8, false),
        Field::new("identity_type", DataType::Utf8, false),
        Field::new("admin_option", DataType::Boolean, false),
    ]
}

fn grant_columns(rows: &[Grant]) -> Vec<ArrayRef> {
    vec![
        text(rows.iter().map(|r| r.0.clone())),
        ints(rows.iter().map(|r| r.1)),
        text(rows.iter().map(|r| r.2.clone())),
        text(rows.iter().map(|r| r.3.to_string())),
        bools(rows.iter().map(|r| r.4)),
    ]
}

/// SVV_RELATION_PRIVILEGES: what GRANT gave on tables.
pub(super) fn svv_relation_privileges(
    catalog: &Catalog,
    viewer: &Principal,
) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let (mut schemas, mut tables, mut rows) = (vec![], vec![], vec![]);
    for t in catalog.all_tables().map_err(LeaderError::from)? {
        for row in grants(&t.acl, &names, viewer) {
            schemas.push(t.schema.clone());
            tables.push(t.name.clone());
            rows.push(row);
        }
    }
    let mut fields = vec![
        Field::new("namespace_name", DataType::Utf8, false),
        Field::new("relation_name", DataType::Utf8, false),
    ];
    fields.extend(grant_fields());
    let mut columns = vec![text(schemas), text(tables)];
    columns.extend(grant_columns(&rows));
    batch(fields, columns)
}

/// SVV_SCHEMA_PRIVILEGES: what GRANT gave on schemas (PUBLIC's USAGE and CREATE on
/// `public` included).
pub(super) fn svv_schema_privileges(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let (mut schemas, mut rows) = (vec![], vec![]);
    for s in catalog.schemas().map_err(LeaderError::from)? {
        let access = catalog.schema_access(&s).map_err(LeaderError::from)?;
        for row in grants(&access.acl, &names, viewer) {
            schemas.push(s.clone());
            rows.push(row);
        }
    }
    let mut fields = vec![Field::new("namespace_name", DataType::Utf8, false)];
    fields.extend(grant_fields());
    let mut columns = vec![text(schemas)];
    columns.extend(grant_columns(&rows));
    batch(fields, columns)
}

/// SVV_DATABASE_PRIVILEGES: what GRANT gave on the database (PUBLIC's TEMP included).
pub(super) fn svv_database_privileges(
    catalog: &Catalog,
    viewer: &Principal,
) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let access = catalog.database_access().map_err(LeaderError::from)?;
    let rows = grants(&access.acl, &names, viewer);
    let mut fields = vec![Field::new("database_name", DataType::Utf8, false)];
    fields.extend(grant_fields());
    let mut columns = vec![text(
        rows.iter().map(|_| crate::session::DATABASE.to_string()),
    )];
    columns.extend(grant_columns(&rows));
    batch(fields, columns)
}

/// SVV_DEFAULT_PRIVILEGES: what ALTER DEFAULT PRIVILEGES gives new tables.
pub(super) fn svv_default_privileges(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let (mut schemas, mut owners, mut rows) = (vec![], vec![], vec![]);
    for d in catalog.default_acls().map_err(LeaderError::from)? {
        // A user sees all of its own default privileges.
        let who = if d.owner == viewer.user {
            Principal::superuser(viewer.user)
        } else {
            viewer.clone()
        };
        for row in grants(&d.acl, &names, &who) {
            schemas.push(d.schema.clone());
            owners.push(d.owner);
            rows.push(row);
        }
    }
    batch(
        vec![
            Field::new("schema_name", DataType::Utf8, true),
            Field::new("object_type", DataType::Utf8, false),
            Field::new("owner_id", DataType::Int32, false),
            Field::new("owner_name", DataType::Utf8, false),
            Field::new("owner_type", DataType::Utf8, false),
            Field::new("privilege_type", DataType::Utf8, false),
            Field::new("grantee_id", DataType::Int32, false),
            Field::new("grantee_name", DataType::Utf8, false),
            Field::new("grantee_type", DataType::Utf8, false),
            Field::new("admin_option", DataType::Boolean, false),
        ],
        vec![
            Arc::new(StringArray::from(schemas)),
            text(rows.iter().map(|_| "RELATION".to_string())),
            ints(owners.iter().copied()),
            text(owners.iter().map(|o| names.user(*o))),
            text(rows.iter().map(|_| "user".to_string())),
            text(rows.iter().map(|r| r.0.clone())),
            ints(rows.iter().map(|r| r.1)),
            text(rows.iter().map(|r| r.2.clone())),
            text(rows.iter().map(|r| r.3.to_string())),
            bools(rows.iter().map(|r| r.4)),
        ],
    )
}

/// SVV_ROLES: every role and its owner.
pub(super) fn svv_roles(catalog: &Catalog) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let roles = catalog.roles().map_err(LeaderError::from)?;
    batch(
        vec![
            Field::new("role_id", DataType::Int32, false),
            Field::new("role_name", DataType::Utf8, false),
            Field::new("role_owner", DataType::Utf8, false),
            Field::new("external_id", DataType::Utf8, true),
        ],
        vec![
            ints(roles.iter().map(|r| r.id)),
            text(roles.iter().map(|r| r.name.clone())),
            text(roles.iter().map(|r| names.user(r.owner))),
            Arc::new(StringArray::from(vec![None::<String>; roles.len()])),
        ],
    )
}

/// SVV_USER_GRANTS: the roles granted to users (a regular user sees its own).
pub(super) fn svv_user_grants(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let mut rows: Vec<(i32, i32, String)> = vec![];
    for r in catalog.roles().map_err(LeaderError::from)? {
        for &u in r
            .users
            .iter()
            .filter(|&&u| viewer.superuser || u == viewer.user)
        {
            rows.push((u, r.id, r.name.clone()));
        }
    }
    batch(
        vec![
            Field::new("user_id", DataType::Int32, false),
            Field::new("user_name", DataType::Utf8, false),
            Field::new("role_id", DataType::Int32, false),
            Field::new("role_name", DataType::Utf8, false),
            Field::new("admin_option", DataType::Boolean, false),
        ],
        vec![
            ints(rows.iter().map(|r| r.0)),
            text(rows.iter().map(|r| names.user(r.0))),
            ints(rows.iter().map(|r| r.1)),
            text(rows.iter().map(|r| r.2.clone())),
            bools(rows.iter().map(|_| false)),
        ],
    )
}

/// SVV_ROLE_GRANTS: the roles granted to roles.
pub(super) fn svv_role_grants(catalog: &Catalog) -> Result<RecordBatch> {
    let names = Names::of(catalog)?;
    let mut rows: Vec<(i32, i32)> = vec![];
    for r in catalog.roles().map_err(LeaderError::from)? {
        for &holder in &r.roles {
            rows.push((holder, r.id));
        }
    }
    let role = |id: i32| names.identity(Grantee::Role(id)).1;
    batch(
        vec![
            Field::new("role_id", DataType::Int32, false),
            Field::new("role_name", DataType::Utf8, false),
            Field::new("granted_role_id", DataType::Int32, false),
            Field::new("granted_role_name", DataType::Utf8, false),
        ],
        vec![
            ints(rows.iter().map(|r| r.0)),
            text(rows.iter().map(|r| role(r.0))),
            ints(rows.iter().map(|r| r.1)),
            text(rows.iter().map(|r| role(r.1))),
        ],
    )
}
