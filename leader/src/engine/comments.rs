//! COMMENT ON TABLE, VIEW, MATERIALIZED VIEW, COLUMN and SCHEMA: the owner of the
//! object (or a superuser) sets or, with `IS NULL` or `IS ''`, removes its comment.

use blueshift_storage::StorageError;
use blueshift_storage::catalog::CommentTarget;
use datafusion::sql::sqlparser::ast::CommentObject;

use super::*;
use crate::error::ErrorKind;

impl Engine {
    /// COMMENT ON `object_type` `name` IS `text`.
    pub(super) fn comment(
        &self,
        session: &Session,
        object_type: &CommentObject,
        name: &ObjectName,
        text: Option<&str>,
    ) -> Result<Outcome, LeaderError> {
        let who = self.principal(session)?;
        let catalog = self.catalog_of(session);
        let owner_only = |owner: i32, what: String| {
            if who.superuser || who.user == owner {
                Ok(())
            } else {
                Err(LeaderError::PermissionDenied(format!(
                    "permission denied for {what}: only its owner can COMMENT ON it"
                )))
            }
        };
        let key = name_key(name);
        let target = match object_type {
            CommentObject::Schema => {
                if !catalog.schema_exists(&key)? {
                    return Err(StorageError::SchemaNotFound(key).into());
                }
                owner_only(catalog.schema_access(&key)?.owner, format!("schema {key}"))?;
                CommentTarget::Schema(key)
            }
            CommentObject::Table | CommentObject::View | CommentObject::MaterializedView => {
                let (schema, relation) = self.relation_name(session, name)?;
                match (
                    catalog.table(&schema, &relation)?,
                    catalog.view(&schema, &relation)?,
                ) {
                    (Some(t), _) => {
                        owner_only(t.owner, format!("relation {}", t.qualified_name()))?;
                        CommentTarget::Relation {
                            id: t.id,
                            column: None,
                        }
                    }
                    (None, Some(v)) => {
                        owner_only(v.owner, format!("relation {}", v.qualified_name()))?;
                        CommentTarget::Relation {
                            id: v.id,
                            column: None,
                        }
                    }
                    (None, None) => return Err(StorageError::TableNotFound(relation).into()),
                }
            }
            CommentObject::Column => {
                let parts: Vec<String> = key.split('.').map(str::to_string).collect();
                let (schema, relation, column) = match parts.as_slice() {
                    [t, c] => ("public".to_string(), t.clone(), c.clone()),
                    [s, t, c] => (s.clone(), t.clone(), c.clone()),
                    [db, s, t, c] if db == crate::session::DATABASE => {
                        (s.clone(), t.clone(), c.clone())
                    }
                    _ => {
                        return Err(LeaderError::InvalidParameter(format!(
                            "column name \"{key}\" must be qualified by its table"
                        )));
                    }
                };
                let missing = || LeaderError::Failure {
                    kind: ErrorKind::UndefinedColumn,
                    message: format!(
                        "column \"{column}\" of relation \"{relation}\" does not exist"
                    ),
                };
                match (
                    catalog.table(&schema, &relation)?,
                    catalog.view(&schema, &relation)?,
                ) {
                    (Some(t), _) => {
                        owner_only(t.owner, format!("relation {}", t.qualified_name()))?;
                        let c = t.columns.iter().find(|c| c.name == column);
                        CommentTarget::Relation {
                            id: t.id,
                            column: Some(c.ok_or_else(missing)?.id),
                        }
                    }
                    (None, Some(v)) => {
                        owner_only(v.owner, format!("relation {}", v.qualified_name()))?;
                        let p = v.columns.iter().position(|c| c.name == column);
                        CommentTarget::Relation {
                            id: v.id,
                            column: Some(p.ok_or_else(missing)? as u32),
                        }
                    }
                    (None, None) => return Err(StorageError::TableNotFound(relation).into()),
                }
            }
            other => return Err(LeaderError::Unsupported(format!("COMMENT ON {other}"))),
        };
        self.commits_of(session).set_comment(&target, text)?;
        Ok(Outcome::done("COMMENT"))
    }
}
