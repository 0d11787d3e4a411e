//! GRANT, REVOKE, ALTER DEFAULT PRIVILEGES and SHOW GRANTS.

use super::*;

/// `'text'` as an SQL literal.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `SHOW GRANTS ON {TABLE [s.]t | SCHEMA s | DATABASE d} [FOR {u | ROLE r | PUBLIC}]
/// [LIMIT n]` or `SHOW GRANTS FOR {u | ROLE r | PUBLIC} [LIMIT n]`, after `SHOW
/// GRANTS`: the rows of SVV_RELATION_PRIVILEGES, SVV_SCHEMA_PRIVILEGES and
/// SVV_DATABASE_PRIVILEGES they name, in Redshift's SHOW GRANTS columns.
pub(super) fn show_grants(c: &mut Cursor<'_>) -> Result<AccessStatement, LeaderError> {
    const ID: &str = "privilege_type, identity_id, identity_name, identity_type, admin_option";
    let table = |filter: &str| {
        format!(
            "select 'dev' as database_name, namespace_name as schema_name, relation_name as object_name, \
             'TABLE' as object_type, {ID} from svv_relation_privileges{filter}"
        )
    };
    let schema = |filter: &str| {
        format!(
            "select 'dev' as database_name, namespace_name as schema_name, namespace_name as object_name, \
             'SCHEMA' as object_type, {ID} from svv_schema_privileges{filter}"
        )
    };
    let database = |filter: &str| {
        format!(
            "select database_name, cast(null as varchar) as schema_name, database_name as object_name, \
             'DATABASE' as object_type, {ID} from svv_database_privileges{filter}"
        )
    };
    let mut parts: Vec<String>;
    if c.keyword("on") {
        if c.keyword("table") {
            let name = c.object_name()?;
            let (s, t) = match name.as_slice() {
                [t] => ("public".to_string(), t.clone()),
                [s, t] | [_, s, t] => (s.clone(), t.clone()),
                _ => return Err(c.error("SHOW GRANTS ON TABLE takes [database.][schema.]table")),
            };
            parts = vec![table(&format!(
                " where namespace_name = {} and relation_name = {}",
                literal(&s),
                literal(&t)
            ))];
        } else if c.keyword("schema") {
            let name = c.object_name()?;
            let s = name.last().cloned().unwrap_or_default();
            parts = vec![schema(&format!(" where namespace_name = {}", literal(&s)))];
        } else if c.keyword("database") {
            let d = c.name("a database name")?;
            parts = vec![database(&format!(" where database_name = {}", literal(&d)))];
        } else {
            return Err(c.unexpected("TABLE, SCHEMA or DATABASE"));
        }
    } else {
        parts = vec![table(""), schema(""), database("")];
    }
    if c.keyword("for") {
        let (name, kind) = if c.keyword("public") {
            ("public".to_string(), "public")
        } else if c.keyword("role") {
            (c.name("a role name")?, "role")
        } else {
            c.keyword("user");
            (c.name("a user name")?, "user")
        };
        let and_where = |p: String| {
            let join = if p.contains(" where ") {
                " and"
            } else {
                " where"
            };
            format!(
                "{p}{join} identity_name = {} and identity_type = '{kind}'",
                literal(&name)
            )
        };
        parts = parts.into_iter().map(and_where).collect();
    } else if !c.peek().is_some_and(|t| is_kw(&t.token, "limit")) && parts.len() == 3 {
        return Err(c.unexpected("ON or FOR"));
    }
    let mut query = format!(
        "select * from ({}) as grants order by object_type, schema_name, object_name, identity_name, privilege_type",
        parts.join(" union all ")
    );
    if c.keyword("limit") {
        query.push_str(&format!(" limit {}", c.number("LIMIT")?));
    }
    Ok(AccessStatement::Show { query })
}

/// `ALL [PRIVILEGES]` (empty) or `p [, ...]`, upper case. A privilege list not
/// followed by ON grants system privileges (Redshift's RBAC), which are refused.
fn privilege_list(c: &mut Cursor<'_>) -> Result<Vec<String>, LeaderError> {
    const KNOWN: &[&str] = &[
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "REFERENCES",
        "TRUNCATE",
        "DROP",
        "ALTER",
        "USAGE",
        "CREATE",
        "TEMP",
        "TEMPORARY",
    ];
    let mut privileges = vec![];
    if c.keyword("all") {
        c.keyword("privileges");
    } else {
        loop {
            let at = c.peek();
            let name = c.name("a privilege")?.to_ascii_uppercase();
            if !KNOWN.contains(&name.as_str()) {
                return Err(crate::sql::cursor::syntax(
                    c.sql,
                    at,
                    format!("unrecognized privilege type \"{}\"", name.to_lowercase()),
                ));
            }
            privileges.push(name);
            if !c.punct(Token::Comma) {
                break;
            }
        }
    }
    if !c.peek().is_some_and(|t| is_kw(&t.token, "on")) {
        return Err(LeaderError::Unsupported(
            "GRANT and REVOKE of system privileges (CREATE USER, ... TO ROLE)".into(),
        ));
    }
    Ok(privileges)
}

/// `{[USER] u | GROUP g | ROLE r | PUBLIC} [, ...]`.
fn grantee_list(c: &mut Cursor<'_>) -> Result<Vec<GranteeName>, LeaderError> {
    let mut grantees = vec![];
    loop {
        grantees.push(if c.keyword("public") {
            GranteeName::Public
        } else if c.keyword("group") {
            GranteeName::Group(c.name("a group name")?)
        } else if c.keyword("role") {
            GranteeName::Role(c.name("a role name")?)
        } else {
            c.keyword("user");
            GranteeName::User(c.name("a user name")?)
        });
        if !c.punct(Token::Comma) {
            return Ok(grantees);
        }
    }
}

/// `WITH GRANT OPTION` (GRANT) and `RESTRICT | CASCADE` (REVOKE: dependent grants
/// are not tracked apart).
fn grant_tail(c: &mut Cursor<'_>, grant_option: bool) -> Result<bool, LeaderError> {
    let mut grant_option = grant_option;
    if c.keyword("with") {
        c.expect_keyword("grant")?;
        c.expect_keyword("option")?;
        grant_option = true;
    }
    let _ = c.keyword("restrict") || c.keyword("cascade");
    Ok(grant_option)
}

/// `TO` for GRANT, `FROM` for REVOKE.
fn to_or_from(c: &mut Cursor<'_>, granting: bool) -> Result<(), LeaderError> {
    c.expect_keyword(if granting { "to" } else { "from" })
}

pub(super) fn grant(
    c: &mut Cursor<'_>,
    granting: bool,
    grant_option_for: bool,
) -> Result<AccessStatement, LeaderError> {
    if c.keyword("role") {
        let roles = names(c, "a role name")?;
        to_or_from(c, granting)?;
        let mut grantees = vec![];
        loop {
            grantees.push(if c.keyword("role") {
                GranteeName::Role(c.name("a role name")?)
            } else {
                c.keyword("user");
                GranteeName::User(c.name("a user name")?)
            });
            if !c.punct(Token::Comma) {
                break;
            }
        }
        if c.keyword("with") {
            return Err(LeaderError::Unsupported(
                "GRANT ROLE ... WITH ADMIN OPTION".into(),
            ));
        }
        let _ = c.keyword("restrict") || c.keyword("cascade");
        return Ok(AccessStatement::GrantRole {
            roles,
            grantees,
            granting,
        });
    }
    let privileges = privilege_list(c)?;
    c.expect_keyword("on")?;
    let objects = if c.keyword("all") {
        c.expect_keyword("tables")?;
        c.expect_keyword("in")?;
        c.expect_keyword("schema")?;
        GrantObjects::AllTablesInSchema(names(c, "a schema name")?)
    } else if c.keyword("schema") {
        GrantObjects::Schemas(names(c, "a schema name")?)
    } else if c.keyword("database") {
        GrantObjects::Databases(names(c, "a database name")?)
    } else {
        c.keyword("table");
        let mut tables = vec![c.object_name()?];
        while c.punct(Token::Comma) {
            tables.push(c.object_name()?);
        }
        GrantObjects::Tables(tables)
    };
    to_or_from(c, granting)?;
    let grantees = grantee_list(c)?;
    let grant = GrantStatement {
        privileges,
        objects,
        grantees,
        grant_option: grant_tail(c, grant_option_for)?,
    };
    Ok(if granting {
        AccessStatement::Grant(grant)
    } else {
        AccessStatement::Revoke(grant)
    })
}

/// `ALTER DEFAULT PRIVILEGES [FOR USER u, ...] [IN SCHEMA s, ...] {GRANT | REVOKE}
/// ... ON TABLES {TO | FROM} ...`, after `ALTER DEFAULT`.
pub(super) fn default_privileges(c: &mut Cursor<'_>) -> Result<AccessStatement, LeaderError> {
    c.expect_keyword("privileges")?;
    let mut users = vec![];
    let mut schemas = vec![];
    loop {
        if c.keyword("for") {
            if !c.keyword("user") && !c.keyword("role") {
                return Err(c.unexpected("USER"));
            }
            users.extend(names(c, "a user name")?);
        } else if c.keyword("in") {
            c.expect_keyword("schema")?;
            schemas.extend(names(c, "a schema name")?);
        } else {
            break;
        }
    }
    let granting = c.keyword("grant");
    let mut option = false;
    if !granting {
        c.expect_keyword("revoke")?;
        if c.keyword("grant") {
            c.expect_keyword("option")?;
            c.expect_keyword("for")?;
            option = true;
        }
    }
    let privileges = privilege_list(c)?;
    c.expect_keyword("on")?;
    if c.keyword("functions") || c.keyword("procedures") {
        return Err(LeaderError::Unsupported(
            "ALTER DEFAULT PRIVILEGES ... ON FUNCTIONS or PROCEDURES".into(),
        ));
    }
    c.expect_keyword("tables")?;
    to_or_from(c, granting)?;
    let grantees = grantee_list(c)?;
    Ok(AccessStatement::DefaultPrivileges {
        users,
        schemas,
        granting,
        grant: GrantStatement {
            privileges,
            objects: GrantObjects::Tables(vec![]),
            grantees,
            grant_option: grant_tail(c, option)?,
        },
    })
}
