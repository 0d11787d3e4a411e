//! Redshift's statements about users, groups and privileges, parsed by our own pass
//! (sqlparser has no Redshift CREATE USER, and reads `TO GROUP g, u` as two groups):
//! CREATE / ALTER / DROP USER, GROUP and ROLE here; GRANT, REVOKE, ALTER DEFAULT
//! PRIVILEGES and SHOW GRANTS in [`grants`]. Names are folded to lower case unless
//! quoted, as everywhere.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::cursor::Cursor;
use super::redshift_ddl::{Tok, is_kw, tokenize};
use crate::error::LeaderError;

mod grants;
mod show;
use grants::{default_privileges, grant, show_grants};

/// A password as CREATE USER or ALTER USER gives it.
#[derive(Clone, PartialEq)]
pub enum Password {
    /// The password itself: only its verifiers are kept.
    Text(String),
    /// `'md5<32 hex digits>'`: md5 of the password and the user name.
    Md5(String),
    /// PASSWORD DISABLE: the user cannot log in.
    Disable,
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Password::Text(_) => "Text(***)",
            Password::Md5(_) => "Md5(***)",
            Password::Disable => "Disable",
        })
    }
}

/// The options of CREATE USER and ALTER USER; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserOptions {
    pub password: Option<Password>,
    pub createdb: Option<bool>,
    pub createuser: Option<bool>,
    pub in_groups: Vec<String>,
    /// VALID UNTIL 'timestamp' (`Some(None)`: 'infinity').
    pub valid_until: Option<Option<String>>,
    /// CONNECTION LIMIT n (`Some(None)`: UNLIMITED).
    pub connection_limit: Option<Option<u32>>,
}

/// What ALTER USER changes.
#[derive(Clone, Debug, PartialEq)]
pub enum AlterUser {
    Options(UserOptions),
    Rename(String),
    /// `SET name TO value` (`None`: RESET name).
    Set(String, Option<String>),
}

/// What ALTER GROUP changes.
#[derive(Clone, Debug, PartialEq)]
pub enum AlterGroup {
    Add(Vec<String>),
    Drop(Vec<String>),
    Rename(String),
}

/// What GRANT and REVOKE are about.
#[derive(Clone, Debug, PartialEq)]
pub enum GrantObjects {
    /// `[TABLE] t, s.u`.
    Tables(Vec<Vec<String>>),
    /// `ALL TABLES IN SCHEMA s, ...`.
    AllTablesInSchema(Vec<String>),
    Schemas(Vec<String>),
    Databases(Vec<String>),
}

/// Who GRANT gives to or REVOKE takes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GranteeName {
    Public,
    User(String),
    Group(String),
    Role(String),
}

/// What ALTER ROLE changes.
#[derive(Clone, Debug, PartialEq)]
pub enum AlterRole {
    Rename(String),
    Owner(String),
}

/// GRANT or REVOKE.
#[derive(Clone, Debug, PartialEq)]
pub struct GrantStatement {
    /// The privileges named, upper case; empty for ALL.
    pub privileges: Vec<String>,
    pub objects: GrantObjects,
    pub grantees: Vec<GranteeName>,
    /// GRANT ... WITH GRANT OPTION; REVOKE GRANT OPTION FOR.
    pub grant_option: bool,
}

/// A statement about users, groups or privileges.
#[derive(Clone, Debug, PartialEq)]
pub enum AccessStatement {
    CreateUser {
        name: String,
        options: UserOptions,
    },
    AlterUser {
        name: String,
        change: AlterUser,
    },
    DropUser {
        names: Vec<String>,
        if_exists: bool,
    },
    CreateGroup {
        name: String,
        users: Vec<String>,
    },
    AlterGroup {
        name: String,
        change: AlterGroup,
    },
    DropGroup {
        names: Vec<String>,
    },
    Grant(GrantStatement),
    Revoke(GrantStatement),
    CreateRole {
        name: String,
    },
    AlterRole {
        name: String,
        change: AlterRole,
    },
    DropRole {
        name: String,
        force: bool,
    },
    /// GRANT ROLE r TO {u | ROLE r2}, or REVOKE ROLE (`granting` false); grantees
    /// are users and roles.
    GrantRole {
        roles: Vec<String>,
        grantees: Vec<GranteeName>,
        granting: bool,
    },
    /// SHOW GRANTS and the SHOW commands of [`show`], as the query over the catalog
    /// views that answers it.
    Show {
        query: String,
    },
    /// ALTER DEFAULT PRIVILEGES: `users` empty means the current user, `schemas`
    /// empty every schema; `grant.objects` is unused.
    DefaultPrivileges {
        users: Vec<String>,
        schemas: Vec<String>,
        granting: bool,
        grant: GrantStatement,
    },
}

impl AccessStatement {
    /// The statement's command tag.
    pub fn tag(&self) -> &'static str {
        match self {
            AccessStatement::CreateUser { .. } => "CREATE USER",
            AccessStatement::AlterUser { .. } => "ALTER USER",
            AccessStatement::DropUser { .. } => "DROP USER",
            AccessStatement::CreateGroup { .. } => "CREATE GROUP",
            AccessStatement::AlterGroup { .. } => "ALTER GROUP",
            AccessStatement::DropGroup { .. } => "DROP GROUP",
            AccessStatement::Grant(_) => "GRANT",
            AccessStatement::Revoke(_) => "REVOKE",
            AccessStatement::CreateRole { .. } => "CREATE ROLE",
            AccessStatement::AlterRole { .. } => "ALTER ROLE",
            AccessStatement::DropRole { .. } => "DROP ROLE",
            AccessStatement::GrantRole { granting: true, .. } => "GRANT",
            AccessStatement::GrantRole { .. } => "REVOKE",
            AccessStatement::DefaultPrivileges { .. } => "ALTER DEFAULT PRIVILEGES",
            AccessStatement::Show { .. } => "SHOW",
        }
    }
}

/// Whether the statement whose tokens start with `toks` is one of ours.
pub(crate) fn starts_access_statement(toks: &[Tok]) -> bool {
    let kw = |i: usize, w: &str| toks.get(i).is_some_and(|t| is_kw(&t.token, w));
    kw(0, "grant")
        || kw(0, "revoke")
        || (kw(0, "show") && (kw(1, "grants") || show::WORDS.iter().any(|w| kw(1, w))))
        || (kw(0, "alter") && kw(1, "default"))
        || ((kw(0, "create") || kw(0, "alter") || kw(0, "drop"))
            && (kw(1, "user") || kw(1, "group") || kw(1, "role")))
}

/// Parses one statement of ours (`sql` is the statement alone; positions in errors
/// are made relative to `offset` characters before it). Returns it with its text,
/// passwords blanked, for logs.
pub fn parse_access(sql: &str, offset: usize) -> Result<(AccessStatement, String), LeaderError> {
    let toks = tokenize(sql)?;
    let mut c = Cursor {
        sql,
        toks: &toks,
        at: 0,
        secrets: vec![],
    };
    let parsed = statement(&mut c).and_then(|s| {
        if c.peek().is_some() {
            Err(c.unexpected("the end of the statement"))
        } else {
            Ok((s, c.redacted()))
        }
    });
    parsed.map_err(|e| match e {
        LeaderError::Syntax { message, position } => LeaderError::Syntax {
            message,
            position: position.map(|p| p + offset),
        },
        other => other,
    })
}

fn statement(c: &mut Cursor<'_>) -> Result<AccessStatement, LeaderError> {
    if c.keyword("show") {
        if c.keyword("grants") {
            return show_grants(c);
        }
        return show::show_catalog(c);
    }
    if c.keyword("grant") {
        return grant(c, true, false);
    }
    if c.keyword("revoke") {
        let option = c.keyword("grant");
        if option {
            c.expect_keyword("option")?;
            c.expect_keyword("for")?;
        } else if c.keyword("admin") {
            return Err(LeaderError::Unsupported("REVOKE ADMIN OPTION FOR".into()));
        }
        return grant(c, false, option);
    }
    if c.keyword("alter") {
        if c.keyword("default") {
            return default_privileges(c);
        }
        c.at -= 1;
    }
    let verb = if c.keyword("create") {
        "create"
    } else if c.keyword("alter") {
        "alter"
    } else {
        c.expect_keyword("drop")?;
        "drop"
    };
    if c.keyword("role") {
        return role(c, verb);
    }
    let user = c.keyword("user");
    if !user {
        c.expect_keyword("group")?;
    }
    match (verb, user) {
        ("create", true) => {
            let name = c.name("a user name")?;
            c.keyword("with");
            let options = user_options(c)?;
            Ok(AccessStatement::CreateUser { name, options })
        }
        ("alter", true) => {
            let name = c.name("a user name")?;
            let change = if c.keyword("rename") {
                c.expect_keyword("to")?;
                AlterUser::Rename(c.name("a user name")?)
            } else if c.keyword("set") {
                let setting = c.name("a setting name")?;
                if !c.keyword("to") && !c.punct(Token::Eq) {
                    return Err(c.unexpected("TO or ="));
                }
                AlterUser::Set(setting, Some(setting_value(c)?))
            } else if c.keyword("reset") {
                AlterUser::Set(c.name("a setting name")?, None)
            } else {
                c.keyword("with");
                let options = user_options(c)?;
                if options == UserOptions::default() {
                    return Err(c.unexpected("an ALTER USER option"));
                }
                if !options.in_groups.is_empty() {
                    return Err(c.error("ALTER USER has no IN GROUP: use ALTER GROUP ... ADD USER"));
                }
                AlterUser::Options(options)
            };
            Ok(AccessStatement::AlterUser { name, change })
        }
        ("drop", true) => {
            let if_exists = c.keyword("if");
            if if_exists {
                c.expect_keyword("exists")?;
            }
            let names = names(c, "a user name")?;
            Ok(AccessStatement::DropUser { names, if_exists })
        }
        ("create", false) => {
            let name = c.name("a group name")?;
            let with = c.keyword("with");
            let users = if c.keyword("user") {
                names(c, "a user name")?
            } else if with {
                return Err(c.unexpected("USER"));
            } else {
                vec![]
            };
            Ok(AccessStatement::CreateGroup { name, users })
        }
        ("alter", false) => {
            let name = c.name("a group name")?;
            let change = if c.keyword("add") {
                c.expect_keyword("user")?;
                AlterGroup::Add(names(c, "a user name")?)
            } else if c.keyword("drop") {
                c.expect_keyword("user")?;
                AlterGroup::Drop(names(c, "a user name")?)
            } else if c.keyword("rename") {
                c.expect_keyword("to")?;
                AlterGroup::Rename(c.name("a group name")?)
            } else {
                return Err(c.unexpected("ADD USER, DROP USER or RENAME TO"));
            };
            Ok(AccessStatement::AlterGroup { name, change })
        }
        _ => Ok(AccessStatement::DropGroup {
            names: names(c, "a group name")?,
        }),
    }
}

/// CREATE ROLE, ALTER ROLE, DROP ROLE, after the verb and `ROLE`.
fn role(c: &mut Cursor<'_>, verb: &str) -> Result<AccessStatement, LeaderError> {
    let name = c.name("a role name")?;
    match verb {
        "create" => {
            if c.keyword("externalid") {
                return Err(LeaderError::Unsupported(
                    "CREATE ROLE ... EXTERNALID".into(),
                ));
            }
            Ok(AccessStatement::CreateRole { name })
        }
        "alter" => {
            let change = if c.keyword("rename") {
                c.expect_keyword("to")?;
                AlterRole::Rename(c.name("a role name")?)
            } else if c.keyword("owner") {
                c.expect_keyword("to")?;
                AlterRole::Owner(c.name("a user name")?)
            } else {
                return Err(c.unexpected("RENAME TO or OWNER TO"));
            };
            Ok(AccessStatement::AlterRole { name, change })
        }
        _ => {
            let force = c.keyword("force");
            if !force {
                c.keyword("restrict");
            }
            Ok(AccessStatement::DropRole { name, force })
        }
    }
}

/// `a, b, c`.
fn names(c: &mut Cursor<'_>, what: &str) -> Result<Vec<String>, LeaderError> {
    let mut names = vec![c.name(what)?];
    while c.punct(Token::Comma) {
        names.push(c.name(what)?);
    }
    Ok(names)
}

/// A setting's value: a word, a quoted string or a number.
fn setting_value(c: &mut Cursor<'_>) -> Result<String, LeaderError> {
    let value = match c.peek().map(|t| &t.token) {
        Some(Token::SingleQuotedString(s)) => s.clone(),
        Some(Token::Number(n, _)) => n.clone(),
        Some(Token::Word(w)) => w.value.to_lowercase(),
        _ => return Err(c.unexpected("a value")),
    };
    c.at += 1;
    Ok(value)
}

fn user_options(c: &mut Cursor<'_>) -> Result<UserOptions, LeaderError> {
    let mut o = UserOptions::default();
    loop {
        if c.keyword("password") {
            o.password = Some(if c.keyword("disable") {
                Password::Disable
            } else {
                let at = c.peek();
                let text = c.secret("password")?;
                password(&text).map_err(|m| super::cursor::syntax(c.sql, at, m))?
            });
        } else if c.keyword("createdb") {
            o.createdb = Some(true);
        } else if c.keyword("nocreatedb") {
            o.createdb = Some(false);
        } else if c.keyword("createuser") {
            o.createuser = Some(true);
        } else if c.keyword("nocreateuser") {
            o.createuser = Some(false);
        } else if c.keyword("in") {
            c.expect_keyword("group")?;
            o.in_groups.extend(names(c, "a group name")?);
        } else if c.keyword("valid") {
            c.expect_keyword("until")?;
            let until = c.string("timestamp")?;
            o.valid_until = Some((!until.eq_ignore_ascii_case("infinity")).then_some(until));
        } else if c.keyword("connection") {
            c.expect_keyword("limit")?;
            o.connection_limit = Some(if c.keyword("unlimited") {
                None
            } else {
                match c.peek().map(|t| &t.token) {
                    // PostgreSQL's spelling of unlimited.
                    Some(Token::Minus) => {
                        c.at += 1;
                        let n = c.number("CONNECTION LIMIT")?;
                        if n != 1 {
                            return Err(
                                c.error("CONNECTION LIMIT must be UNLIMITED, -1 or at least 0")
                            );
                        }
                        None
                    }
                    _ => Some(
                        u32::try_from(c.number("CONNECTION LIMIT")?)
                            .map_err(|_| c.error("CONNECTION LIMIT is too large"))?,
                    ),
                }
            });
        } else if c.keyword("session") {
            c.expect_keyword("timeout")?;
            return Err(LeaderError::Unsupported(
                "CREATE USER ... SESSION TIMEOUT".into(),
            ));
        } else if c.keyword("syslog") {
            return Err(LeaderError::Unsupported(
                "CREATE USER ... SYSLOG ACCESS".into(),
            ));
        } else {
            return Ok(o);
        }
    }
}

/// A PASSWORD's text: the password, or an MD5 hash.
fn password(text: &str) -> Result<Password, String> {
    if let Some(hex) = text.strip_prefix("md5")
        && hex.len() == 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Ok(Password::Md5(hex.to_ascii_lowercase()));
    }
    if let Some(rest) = text.strip_prefix("sha256|") {
        if rest.contains('|') {
            return Err(
                "a SHA-256 password digest ('sha256|digest|salt') cannot be checked by the PostgreSQL password exchanges Blueshift offers: give the password, 'sha256|password' or an MD5 hash".into(),
            );
        }
        return checked(rest);
    }
    checked(text)
}

/// Redshift's password rules: 8 to 64 characters, with an upper-case letter, a
/// lower-case letter and a digit.
fn checked(text: &str) -> Result<Password, String> {
    let len = text.chars().count();
    if !(8..=64).contains(&len) {
        return Err("a password must be 8 to 64 characters long".into());
    }
    if !text.chars().any(|c| c.is_ascii_uppercase())
        || !text.chars().any(|c| c.is_ascii_lowercase())
        || !text.chars().any(|c| c.is_ascii_digit())
    {
        return Err(
            "a password must contain an upper-case letter, a lower-case letter and a digit".into(),
        );
    }
    Ok(Password::Text(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> AccessStatement {
        parse_access(sql, 0)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .0
    }

    #[test]
    fn redshift_user_statements() {
        let AccessStatement::CreateUser { name, options } = parse(
            "CREATE USER Bob WITH PASSWORD 'Bob12345' CREATEDB IN GROUP g1, g2 VALID UNTIL '2030-01-01' CONNECTION LIMIT 5",
        ) else {
            panic!("not CREATE USER");
        };
        assert_eq!(name, "bob");
        assert_eq!(options.password, Some(Password::Text("Bob12345".into())));
        assert_eq!(options.createdb, Some(true));
        assert_eq!(options.in_groups, vec!["g1", "g2"]);
        assert_eq!(options.valid_until, Some(Some("2030-01-01".into())));
        assert_eq!(options.connection_limit, Some(Some(5)));
        let md5 = format!("md5{:x}", md5::compute("Secret123bob"));
        let AccessStatement::CreateUser { options, .. } =
            parse(&format!("create user bob password '{md5}'"))
        else {
            panic!("not CREATE USER");
        };
        assert!(matches!(options.password, Some(Password::Md5(_))));
        assert_eq!(
            parse("alter user bob rename to robert"),
            AccessStatement::AlterUser {
                name: "bob".into(),
                change: AlterUser::Rename("robert".into())
            }
        );
        assert_eq!(
            parse("alter user bob set search_path to 'x'"),
            AccessStatement::AlterUser {
                name: "bob".into(),
                change: AlterUser::Set("search_path".into(), Some("x".into()))
            }
        );
        assert_eq!(
            parse("drop user if exists a, b"),
            AccessStatement::DropUser {
                names: vec!["a".into(), "b".into()],
                if_exists: true
            }
        );
        assert_eq!(
            parse("alter group g add user a, b"),
            AccessStatement::AlterGroup {
                name: "g".into(),
                change: AlterGroup::Add(vec!["a".into(), "b".into()])
            }
        );
    }

    #[test]
    fn passwords_follow_redshift_rules_and_are_not_printed() {
        let e = parse_access("create user bob password 'short'", 10).expect_err("refused");
        assert!(e.to_string().contains("8 to 64"), "{e}");
        assert!(
            matches!(
                e,
                LeaderError::Syntax {
                    position: Some(36),
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse_access("create user bob password 'alllowercase1'", 0).expect_err("refused");
        assert!(e.to_string().contains("upper-case"), "{e}");
        let (s, redacted) =
            parse_access("create user bob password 'sha256|Secret123'", 0).expect("parses");
        assert!(!format!("{s:?}").contains("Secret123"));
        assert_eq!(redacted, "create user bob password '***'");
    }

    #[test]
    fn grants_name_groups_and_users_each() {
        assert_eq!(
            parse("grant select, insert on table s.t, u to group g, bob with grant option"),
            AccessStatement::Grant(GrantStatement {
                privileges: vec!["SELECT".into(), "INSERT".into()],
                objects: GrantObjects::Tables(vec![vec!["s".into(), "t".into()], vec!["u".into()]]),
                grantees: vec![
                    GranteeName::Group("g".into()),
                    GranteeName::User("bob".into())
                ],
                grant_option: true,
            })
        );
        assert_eq!(
            parse("revoke grant option for all on all tables in schema s from public"),
            AccessStatement::Revoke(GrantStatement {
                privileges: vec![],
                objects: GrantObjects::AllTablesInSchema(vec!["s".into()]),
                grantees: vec![GranteeName::Public],
                grant_option: true,
            })
        );
        let e = parse_access("grant fly on t to bob", 0).expect_err("refused");
        assert!(e.to_string().contains("unrecognized privilege"), "{e}");
    }
}
