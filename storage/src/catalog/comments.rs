//! COMMENT ON: the descriptions of tables, views, their columns and schemas
//! (pg_description, `obj_description`, `col_description`, psql's `\d+`).
//!
//! A relation's comment is keyed by its id, so it follows the relation through
//! renames; a table column's by the column's id, a view column's by its position.

use serde::{Deserialize, Serialize};

use super::overlay::Tree;
use super::{Catalog, View, decode, encode};
use crate::error::Result;

/// What a comment describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommentTarget {
    /// A table or view (`column` None) or one of its columns: a table column by its
    /// id, a view column by its position (0-based).
    Relation { id: u64, column: Option<u32> },
    /// A schema, by name.
    Schema(String),
}

/// One stored comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub target: CommentTarget,
    pub text: String,
}

fn relation_prefix(id: u64) -> Vec<u8> {
    let mut key = b"r".to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn key(target: &CommentTarget) -> Vec<u8> {
    match target {
        CommentTarget::Relation { id, column } => {
            let mut key = relation_prefix(*id);
            if let Some(c) = column {
                key.extend_from_slice(&c.to_be_bytes());
            }
            key
        }
        CommentTarget::Schema(name) => {
            let mut key = b"n".to_vec();
            key.extend_from_slice(name.as_bytes());
            key
        }
    }
}

/// Removes every comment on relation `id` and its columns.
pub(super) fn remove_all(tx: &mut View<'_>, id: u64) -> Result<()> {
    for (k, _) in tx.scan(Tree::Comments, &relation_prefix(id))? {
        tx.remove(Tree::Comments, &k);
    }
    Ok(())
}

/// Removes the comment of schema `name`.
pub(super) fn remove_schema(tx: &mut View<'_>, name: &str) {
    tx.remove(Tree::Comments, &key(&CommentTarget::Schema(name.into())));
}

impl Catalog {
    /// COMMENT ON: sets (or, with `None` or an empty text, removes) the comment on
    /// `target`. The caller checks that the object exists.
    pub fn set_comment(&self, target: &CommentTarget, text: Option<&str>) -> Result<()> {
        let key = key(target);
        let record = match text {
            Some(t) if !t.is_empty() => Some(encode(&Comment {
                target: target.clone(),
                text: t.to_string(),
            })?),
            _ => None,
        };
        self.write(|tx| {
            match &record {
                Some(r) => tx.put(Tree::Comments, &key, r.clone()),
                None => tx.remove(Tree::Comments, &key),
            }
            Ok(())
        })
    }

    /// Every comment.
    pub fn comments(&self) -> Result<Vec<Comment>> {
        self.scan(Tree::Comments, b"")
    }

    /// The comment on `target`, if any.
    pub fn comment(&self, target: &CommentTarget) -> Result<Option<String>> {
        let key = key(target);
        match self.get(Tree::Comments, &key)? {
            Some(v) => Ok(Some(decode::<Comment>(&key, &v)?.text)),
            None => Ok(None),
        }
    }
}
