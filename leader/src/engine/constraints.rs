//! PRIMARY KEY, UNIQUE and FOREIGN KEY in CREATE TABLE and ALTER TABLE ... ADD /
//! DROP CONSTRAINT. Redshift stores them and does not enforce them; so does
//! Blueshift (storage/src/catalog/constraints.rs). They are checked as PostgreSQL
//! checks them when declared: the columns exist, a table has one primary key, a
//! foreign key references the primary key or a unique constraint of a table. A
//! primary key's columns are NOT NULL when CREATE TABLE declares it.

use blueshift_storage::catalog::{Catalog, Constraint, ConstraintKind, MAX_KEY_COLUMNS, TableDef};
use datafusion::sql::sqlparser::ast::{
    ColumnDef as AstColumn, ColumnOption, Expr, Ident, ObjectName, TableConstraint,
};

use super::Engine;
use crate::error::{ErrorKind, LeaderError};
use crate::session::{Session, TEMP_SCHEMA_PREFIX};

/// A constraint as written, its names not yet resolved.
#[derive(Debug, Clone)]
pub(super) struct Declared {
    name: Option<String>,
    kind: DeclaredKind,
    /// The constrained columns (empty for a column constraint: that column).
    columns: Vec<String>,
}

#[derive(Debug, Clone)]
enum DeclaredKind {
    PrimaryKey,
    Unique,
    ForeignKey {
        table: ObjectName,
        columns: Vec<String>,
    },
}

/// A name as written: quoted names keep their case.
fn ident(i: &Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}

fn failure(kind: ErrorKind, message: String) -> LeaderError {
    LeaderError::Failure { kind, message }
}

/// The declared form of a table constraint, or `None` for one DataFusion handles.
fn declared(c: &TableConstraint) -> Result<Option<Declared>, LeaderError> {
    let index_columns = |cols: &[datafusion::sql::sqlparser::ast::IndexColumn]| {
        cols.iter()
            .map(|c| match &c.column.expr {
                Expr::Identifier(i) => Ok(ident(i)),
                other => Err(LeaderError::Unsupported(format!(
                    "a key on the expression {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(Some(match c {
        TableConstraint::PrimaryKey(pk) => Declared {
            name: pk.name.as_ref().map(ident),
            kind: DeclaredKind::PrimaryKey,
            columns: index_columns(&pk.columns)?,
        },
        TableConstraint::Unique(u) => Declared {
            name: u.name.as_ref().map(ident),
            kind: DeclaredKind::Unique,
            columns: index_columns(&u.columns)?,
        },
        TableConstraint::ForeignKey(fk) => Declared {
            name: fk.name.as_ref().map(ident),
            kind: DeclaredKind::ForeignKey {
                table: fk.foreign_table.clone(),
                columns: fk.referred_columns.iter().map(ident).collect(),
            },
            columns: fk.columns.iter().map(ident).collect(),
        },
        _ => return Ok(None),
    }))
}

/// Takes a column's PRIMARY KEY, UNIQUE and REFERENCES out of its definition.
pub(super) fn take_column_constraints(
    column: &mut AstColumn,
) -> Result<Vec<Declared>, LeaderError> {
    let name = ident(&column.name);
    let mut found = vec![];
    let mut kept = vec![];
    for option in std::mem::take(&mut column.options) {
        let as_table = match &option.option {
            ColumnOption::PrimaryKey(c) => Some(TableConstraint::PrimaryKey(c.clone())),
            ColumnOption::Unique(c) => Some(TableConstraint::Unique(c.clone())),
            ColumnOption::ForeignKey(c) => Some(TableConstraint::ForeignKey(c.clone())),
            _ => None,
        };
        match as_table.as_ref().map(declared).transpose()?.flatten() {
            Some(mut d) => {
                d.name = d.name.or_else(|| option.name.as_ref().map(ident));
                d.columns = vec![name.clone()];
                found.push(d);
            }
            None => kept.push(option),
        }
    }
    column.options = kept;
    Ok(found)
}

/// Takes the key constraints out of a CREATE TABLE (DataFusion plans the rest).
pub(super) fn take_constraints(
    columns: &mut [AstColumn],
    constraints: &mut Vec<TableConstraint>,
) -> Result<Vec<Declared>, LeaderError> {
    let mut found = vec![];
    for column in columns {
        found.extend(take_column_constraints(column)?);
    }
    let mut kept = vec![];
    for c in std::mem::take(constraints) {
        match declared(&c)? {
            Some(d) => found.push(d),
            None => kept.push(c),
        }
    }
    *constraints = kept;
    Ok(found)
}

/// The declared form of ALTER TABLE ... ADD `constraint`.
pub(super) fn declared_one(constraint: &TableConstraint) -> Result<Declared, LeaderError> {
    declared(constraint)?
        .ok_or_else(|| LeaderError::Unsupported(format!("ALTER TABLE ... ADD {constraint}")))
}

fn column_id(def: &TableDef, name: &str, what: &str) -> Result<u32, LeaderError> {
    def.columns
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.id)
        .ok_or_else(|| {
            failure(
                ErrorKind::UndefinedColumn,
                format!("column \"{name}\" {what} does not exist"),
            )
        })
}

/// PostgreSQL's name for a constraint it names: `t_pkey`, `t_a_b_key`, `t_a_fkey`,
/// with a number added when the table has one of that name.
fn generated_name(
    def: &TableDef,
    taken: &[Constraint],
    kind: &DeclaredKind,
    cols: &[String],
) -> String {
    let base = match kind {
        DeclaredKind::PrimaryKey => format!("{}_pkey", def.name),
        DeclaredKind::Unique => format!("{}_{}_key", def.name, cols.join("_")),
        DeclaredKind::ForeignKey { .. } => format!("{}_{}_fkey", def.name, cols.join("_")),
    };
    let free = |n: &str| !taken.iter().any(|c| c.name == n);
    if free(&base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| free(n))
        .unwrap_or(base)
}

impl Engine {
    /// `declared` resolved against table `def` (being created, id 0, or altered):
    /// `def` with them added. Keys first, so a foreign key may reference a key
    /// declared beside it.
    pub(super) fn add_constraints(
        &self,
        session: &Session,
        def: &mut TableDef,
        declared: Vec<Declared>,
        creating: bool,
    ) -> Result<(), LeaderError> {
        let catalog = self.catalog_of(session);
        let (keys, foreign): (Vec<Declared>, Vec<Declared>) = declared
            .into_iter()
            .partition(|d| !matches!(d.kind, DeclaredKind::ForeignKey { .. }));
        for d in keys.into_iter().chain(foreign) {
            let columns = d
                .columns
                .iter()
                .map(|c| column_id(def, c, "named in key"))
                .collect::<Result<Vec<_>, _>>()?;
            if columns.len() > MAX_KEY_COLUMNS {
                return Err(LeaderError::InvalidDefinition(format!(
                    "a key has at most {MAX_KEY_COLUMNS} columns"
                )));
            }
            let kind = match &d.kind {
                DeclaredKind::PrimaryKey => {
                    if def
                        .constraints
                        .iter()
                        .any(|c| c.kind == ConstraintKind::PrimaryKey)
                    {
                        return Err(LeaderError::InvalidDefinition(format!(
                            "multiple primary keys for table \"{}\" are not allowed",
                            def.name
                        )));
                    }
                    if creating {
                        for c in def.columns.iter_mut().filter(|c| columns.contains(&c.id)) {
                            c.nullable = false;
                        }
                    }
                    ConstraintKind::PrimaryKey
                }
                DeclaredKind::Unique => ConstraintKind::Unique,
                DeclaredKind::ForeignKey { table, columns: to } => {
                    self.foreign_key(session, &catalog, def, table, to, columns.len())?
                }
            };
            let name = match d.name {
                Some(name) => {
                    if def.constraints.iter().any(|c| c.name == name) {
                        return Err(failure(
                            ErrorKind::DuplicateObject,
                            format!(
                                "constraint \"{name}\" for relation \"{}\" already exists",
                                def.name
                            ),
                        ));
                    }
                    name
                }
                None => generated_name(def, &def.constraints, &d.kind, &d.columns),
            };
            def.constraints.push(Constraint {
                id: catalog.new_object_id()?,
                name,
                kind,
                columns,
            });
        }
        Ok(())
    }

    /// What a foreign key of `def` with `count` columns references: table `table`'s
    /// columns `to` (its primary key when none are named), which must be its
    /// primary key or a unique constraint.
    fn foreign_key(
        &self,
        session: &Session,
        catalog: &Catalog,
        def: &TableDef,
        table: &ObjectName,
        to: &[String],
        count: usize,
    ) -> Result<ConstraintKind, LeaderError> {
        let (schema, name) = self.relation_name(session, table)?;
        let target = if (schema.as_str(), name.as_str()) == (def.schema.as_str(), def.name.as_str())
        {
            def.clone()
        } else {
            match catalog.table(&schema, &name)? {
                Some(t) => t,
                None if catalog.view(&schema, &name)?.is_some() => {
                    return Err(failure(
                        ErrorKind::WrongObjectType,
                        format!("referenced relation \"{name}\" is not a table"),
                    ));
                }
                None => {
                    return Err(blueshift_storage::StorageError::TableNotFound(name).into());
                }
            }
        };
        let temp = |s: &str| s.starts_with(TEMP_SCHEMA_PREFIX);
        if temp(&def.schema) != temp(&target.schema) {
            let kind = if temp(&def.schema) {
                "temporary"
            } else {
                "permanent"
            };
            return Err(LeaderError::InvalidDefinition(format!(
                "constraints on {kind} tables may reference only {kind} tables"
            )));
        }
        let invalid = |m: String| failure(ErrorKind::InvalidForeignKey, m);
        let referenced: Vec<u32> = if to.is_empty() {
            target
                .constraints
                .iter()
                .find(|c| c.kind == ConstraintKind::PrimaryKey)
                .map(|c| c.columns.clone())
                .ok_or_else(|| {
                    failure(
                        ErrorKind::UndefinedObject,
                        format!(
                            "there is no primary key for referenced table \"{}\"",
                            target.name
                        ),
                    )
                })?
        } else {
            to.iter()
                .map(|c| column_id(&target, c, "referenced in foreign key constraint"))
                .collect::<Result<_, _>>()?
        };
        if referenced.len() != count {
            return Err(invalid(
                "number of referencing and referenced columns for foreign key disagree".into(),
            ));
        }
        let is_key = target.constraints.iter().any(|c| {
            matches!(c.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique)
                && c.columns.len() == referenced.len()
                && c.columns.iter().all(|x| referenced.contains(x))
        });
        if !is_key {
            return Err(invalid(format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                target.name
            )));
        }
        Ok(ConstraintKind::ForeignKey {
            table: target.id,
            columns: referenced,
        })
    }
}
