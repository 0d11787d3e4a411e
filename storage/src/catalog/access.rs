//! Who may do what: users' groups, object owners and access control lists.
//!
//! An object (a table, a schema, the database) has an owner and an ACL: items that
//! give privileges to a user, a group or PUBLIC, each with the privileges the grantee
//! may grant on. What a user may do with the object ([`effective`]) is everything for
//! a superuser and for the owner, otherwise the union of the items for the user, the
//! groups the user is in and PUBLIC, as in PostgreSQL and Redshift.

use serde::{Deserialize, Serialize};

/// The id of the user the cluster was created with (`admin`), who owns everything
/// created before objects recorded owners (Redshift's first user is 100 too).
pub const BOOTSTRAP_USER_ID: i32 = 100;

pub(crate) fn bootstrap_user_id() -> i32 {
    BOOTSTRAP_USER_ID
}

/// A set of privileges, one bit each (the catalog stores the bits: the numbering is
/// part of the format, docs/design/0003-catalog-records.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Privileges(pub u16);

impl Privileges {
    pub const NONE: Privileges = Privileges(0);
    pub const SELECT: Privileges = Privileges(1);
    pub const INSERT: Privileges = Privileges(1 << 1);
    pub const UPDATE: Privileges = Privileges(1 << 2);
    pub const DELETE: Privileges = Privileges(1 << 3);
    pub const REFERENCES: Privileges = Privileges(1 << 4);
    pub const TRUNCATE: Privileges = Privileges(1 << 5);
    pub const DROP: Privileges = Privileges(1 << 6);
    pub const ALTER: Privileges = Privileges(1 << 7);
    pub const USAGE: Privileges = Privileges(1 << 8);
    pub const CREATE: Privileges = Privileges(1 << 9);
    pub const TEMP: Privileges = Privileges(1 << 10);

    /// Everything `GRANT ALL` gives on a table.
    pub const ALL_TABLE: Privileges = Privileges(0xff);
    /// Everything `GRANT ALL` gives on a schema.
    pub const ALL_SCHEMA: Privileges = Privileges((1 << 8) | (1 << 9) | (1 << 7));
    /// Everything `GRANT ALL` gives on the database.
    pub const ALL_DATABASE: Privileges = Privileges((1 << 9) | (1 << 10));

    /// The privileges by name, in the order PostgreSQL's ACL text lists them, with
    /// their ACL letters.
    pub const NAMED: &[(Privileges, &'static str, char)] = &[
        (Privileges::INSERT, "INSERT", 'a'),
        (Privileges::SELECT, "SELECT", 'r'),
        (Privileges::UPDATE, "UPDATE", 'w'),
        (Privileges::DELETE, "DELETE", 'd'),
        (Privileges::TRUNCATE, "TRUNCATE", 'D'),
        (Privileges::REFERENCES, "REFERENCES", 'x'),
        (Privileges::DROP, "DROP", 'P'),
        (Privileges::ALTER, "ALTER", 'A'),
        (Privileges::USAGE, "USAGE", 'U'),
        (Privileges::CREATE, "CREATE", 'C'),
        (Privileges::TEMP, "TEMP", 'T'),
    ];

    pub fn contains(self, other: Privileges) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Privileges) -> Privileges {
        Privileges(self.0 | other.0)
    }

    pub fn minus(self, other: Privileges) -> Privileges {
        Privileges(self.0 & !other.0)
    }

    pub fn intersect(self, other: Privileges) -> Privileges {
        Privileges(self.0 & other.0)
    }

    /// The privilege named `name` (upper or lower case; TEMPORARY is TEMP).
    pub fn named(name: &str) -> Option<Privileges> {
        let upper = name.to_ascii_uppercase();
        let upper = if upper == "TEMPORARY" {
            "TEMP".into()
        } else {
            upper
        };
        Privileges::NAMED
            .iter()
            .find(|(_, n, _)| *n == upper)
            .map(|(p, _, _)| *p)
    }

    /// The names of the privileges in the set, comma separated.
    pub fn names(self) -> String {
        Privileges::NAMED
            .iter()
            .filter(|(p, _, _)| self.contains(*p))
            .map(|(_, n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Who an ACL item is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Grantee {
    Public,
    User(i32),
    Group(i32),
    /// One of Redshift's roles (RBAC).
    Role(i32),
}

/// One grantee's privileges on an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclItem {
    pub grantee: Grantee,
    pub privileges: Privileges,
    /// The privileges the grantee may grant to others (WITH GRANT OPTION).
    #[serde(default)]
    pub grantable: Privileges,
    /// The user who granted them.
    pub grantor: i32,
}

/// An object's owner and ACL (schemas and the database; tables keep theirs in their
/// definition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAccess {
    pub owner: i32,
    #[serde(default)]
    pub acl: Vec<AclItem>,
}

/// What a user is for privilege checks: the user, the groups it is in, and whether it
/// is a superuser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user: i32,
    pub groups: Vec<i32>,
    /// The roles granted to the user, directly or through other roles.
    pub roles: Vec<i32>,
    pub superuser: bool,
}

impl Principal {
    /// User `user` with every privilege (a catalog no server bootstrapped has no
    /// users to check).
    pub fn superuser(user: i32) -> Principal {
        Principal {
            user,
            groups: vec![],
            roles: vec![],
            superuser: true,
        }
    }

    /// User `user` with no group or role: only what PUBLIC and `user` were given.
    pub fn alone(user: i32) -> Principal {
        Principal {
            superuser: false,
            ..Principal::superuser(user)
        }
    }

    fn is(&self, grantee: Grantee) -> bool {
        match grantee {
            Grantee::Public => true,
            Grantee::User(id) => id == self.user,
            Grantee::Group(id) => self.groups.contains(&id),
            Grantee::Role(id) => self.roles.contains(&id),
        }
    }
}

/// ALTER DEFAULT PRIVILEGES: what tables `owner` creates (in `schema`, or in any
/// schema when None) give others from the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultAcl {
    pub owner: i32,
    pub schema: Option<String>,
    pub acl: Vec<AclItem>,
}

/// What `who` may do with an object of `owner` and `acl`, out of `all` (the
/// privileges the object's kind has).
pub fn effective(owner: i32, acl: &[AclItem], who: &Principal, all: Privileges) -> Privileges {
    if who.superuser || who.user == owner {
        return all;
    }
    acl.iter()
        .filter(|item| who.is(item.grantee))
        .fold(Privileges::NONE, |p, item| p.union(item.privileges))
        .intersect(all)
}

/// What `who` may grant on an object: everything for a superuser and the owner,
/// otherwise what it holds WITH GRANT OPTION.
pub fn grantable(owner: i32, acl: &[AclItem], who: &Principal, all: Privileges) -> Privileges {
    if who.superuser || who.user == owner {
        return all;
    }
    acl.iter()
        .filter(|item| who.is(item.grantee))
        .fold(Privileges::NONE, |p, item| p.union(item.grantable))
        .intersect(all)
}

/// GRANT: adds `privileges` (and `grantable` of them, WITH GRANT OPTION) to the item
/// of `grantee` granted by `grantor`.
pub fn grant(
    acl: &mut Vec<AclItem>,
    grantee: Grantee,
    privileges: Privileges,
    grantable: Privileges,
    grantor: i32,
) {
    match acl
        .iter_mut()
        .find(|i| i.grantee == grantee && i.grantor == grantor)
    {
        Some(item) => {
            item.privileges = item.privileges.union(privileges);
            item.grantable = item.grantable.union(grantable);
        }
        None => acl.push(AclItem {
            grantee,
            privileges,
            grantable,
            grantor,
        }),
    }
}

/// REVOKE: takes `privileges` from every item of `grantee` (or, with `option_only`,
/// only the right to grant them); items left with nothing go.
pub fn revoke(acl: &mut Vec<AclItem>, grantee: Grantee, privileges: Privileges, option_only: bool) {
    for item in acl.iter_mut().filter(|i| i.grantee == grantee) {
        item.grantable = item.grantable.minus(privileges);
        if !option_only {
            item.privileges = item.privileges.minus(privileges);
        }
    }
    acl.retain(|i| !i.privileges.is_empty());
}

/// Whether `acl` gives anything to `grantee`.
pub fn mentions(acl: &[AclItem], grantee: Grantee) -> bool {
    acl.iter().any(|i| i.grantee == grantee)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i32, groups: &[i32]) -> Principal {
        Principal {
            user: id,
            groups: groups.to_vec(),
            roles: vec![],
            superuser: false,
        }
    }

    #[test]
    fn owners_superusers_groups_and_public() {
        let mut acl = vec![];
        grant(
            &mut acl,
            Grantee::User(101),
            Privileges::SELECT,
            Privileges::NONE,
            100,
        );
        grant(
            &mut acl,
            Grantee::Group(100),
            Privileges::INSERT,
            Privileges::NONE,
            100,
        );
        grant(
            &mut acl,
            Grantee::Public,
            Privileges::REFERENCES,
            Privileges::NONE,
            100,
        );
        let all = Privileges::ALL_TABLE;
        assert_eq!(effective(100, &acl, &user(100, &[]), all), all);
        let su = Principal {
            superuser: true,
            ..user(105, &[])
        };
        assert_eq!(effective(100, &acl, &su, all), all);
        assert_eq!(
            effective(100, &acl, &user(101, &[100]), all),
            Privileges::SELECT
                .union(Privileges::INSERT)
                .union(Privileges::REFERENCES)
        );
        assert_eq!(
            effective(100, &acl, &user(102, &[]), all),
            Privileges::REFERENCES
        );
        revoke(&mut acl, Grantee::User(101), Privileges::SELECT, false);
        assert!(!mentions(&acl, Grantee::User(101)));
    }

    #[test]
    fn grant_option_is_its_own_right() {
        let mut acl = vec![];
        let select = Privileges::SELECT;
        grant(&mut acl, Grantee::User(101), select, select, 100);
        assert_eq!(
            grantable(100, &acl, &user(101, &[]), Privileges::ALL_TABLE),
            select
        );
        revoke(&mut acl, Grantee::User(101), select, true);
        assert!(grantable(100, &acl, &user(101, &[]), Privileges::ALL_TABLE).is_empty());
        assert_eq!(
            effective(100, &acl, &user(101, &[]), Privileges::ALL_TABLE),
            select
        );
        assert_eq!(Privileges::named("temporary"), Some(Privileges::TEMP));
        assert_eq!(select.union(Privileges::INSERT).names(), "INSERT, SELECT");
    }
}
