//! The users' system tables: PG_USER, PG_GROUP, PG_SHADOW (superusers only) and
//! SVV_USER_INFO; and who sees which rows of the query and load logs.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int32Builder, ListBuilder, RecordBatch, StringArray,
};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field};
use blueshift_storage::catalog::access::Principal;
use blueshift_storage::catalog::{Catalog, UserDef};
use datafusion::error::Result;

use super::batch;
use crate::error::LeaderError;

/// VALID UNTIL as PostgreSQL shows it (NULL: no limit).
fn valid_until(users: &[UserDef]) -> ArrayRef {
    Arc::new(StringArray::from(
        users
            .iter()
            .map(|u| u.valid_until.clone())
            .collect::<Vec<_>>(),
    ))
}

/// `useconfig`: the user's ALTER USER ... SET defaults as `name=value`.
fn useconfig(users: &[UserDef]) -> ArrayRef {
    let mut b = ListBuilder::new(arrow::array::StringBuilder::new());
    for u in users {
        if u.settings.is_empty() {
            b.append_null();
        } else {
            for (k, v) in &u.settings {
                b.values().append_value(format!("{k}={v}"));
            }
            b.append(true);
        }
    }
    Arc::new(b.finish())
}

/// The columns every user table starts with: name, id, CREATEDB, superuser.
fn user_columns(users: &[UserDef]) -> Vec<ArrayRef> {
    vec![
        Arc::new(StringArray::from_iter_values(
            users.iter().map(|u| u.name.clone()),
        )),
        Arc::new(Int32Array::from_iter_values(users.iter().map(|u| u.id))),
        Arc::new(BooleanArray::from_iter(
            users.iter().map(|u| Some(u.createdb)),
        )),
        Arc::new(BooleanArray::from_iter(
            users.iter().map(|u| Some(u.superuser)),
        )),
    ]
}

fn users_batch(catalog: &Catalog, shadow: bool) -> Result<RecordBatch> {
    let users = catalog.users().map_err(LeaderError::from)?;
    // PG_USER hides the password; PG_SHADOW shows the MD5 verifier (or nothing).
    let passwd: Vec<Option<String>> = users
        .iter()
        .map(|u| {
            if !shadow {
                Some("********".to_string())
            } else if u.md5_hash.is_empty() {
                None
            } else {
                Some(format!("md5{}", u.md5_hash))
            }
        })
        .collect();
    batch(
        vec![
            Field::new("usename", DataType::Utf8, false),
            Field::new("usesysid", DataType::Int32, false),
            Field::new("usecreatedb", DataType::Boolean, false),
            Field::new("usesuper", DataType::Boolean, false),
            Field::new("usecatupd", DataType::Boolean, false),
            Field::new("passwd", DataType::Utf8, true),
            Field::new("valuntil", DataType::Utf8, true),
            Field::new(
                "useconfig",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ],
        user_columns(&users)
            .into_iter()
            .chain([
                Arc::new(BooleanArray::from_iter(
                    users.iter().map(|u| Some(u.superuser)),
                )) as ArrayRef,
                Arc::new(StringArray::from(passwd)),
                valid_until(&users),
                useconfig(&users),
            ])
            .collect(),
    )
}

/// PG_USER: every user, the password shown as `********`.
pub(super) fn pg_user(catalog: &Catalog) -> Result<RecordBatch> {
    users_batch(catalog, false)
}

/// PG_SHADOW: PG_USER with the stored MD5 verifiers, for superusers only.
pub(super) fn pg_shadow(catalog: &Catalog, viewer: &Principal) -> Result<RecordBatch> {
    if !viewer.superuser {
        return Err(LeaderError::PermissionDenied(
            "permission denied for relation pg_shadow (superusers only)".into(),
        )
        .into());
    }
    users_batch(catalog, true)
}

/// PG_GROUP: every group with its members' ids.
pub(super) fn pg_group(catalog: &Catalog) -> Result<RecordBatch> {
    let groups = catalog.groups().map_err(LeaderError::from)?;
    let mut grolist = ListBuilder::new(Int32Builder::new());
    for g in &groups {
        grolist.values().append_slice(&g.members);
        grolist.append(true);
    }
    batch(
        vec![
            Field::new("groname", DataType::Utf8, false),
            Field::new("grosysid", DataType::Int32, false),
            Field::new(
                "grolist",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                groups.iter().map(|g| g.name.clone()),
            )),
            Arc::new(Int32Array::from_iter_values(groups.iter().map(|g| g.id))),
            Arc::new(grolist.finish()),
        ],
    )
}

/// SVV_USER_INFO: Redshift's view of users.
pub(super) fn svv_user_info(catalog: &Catalog) -> Result<RecordBatch> {
    let users = catalog.users().map_err(LeaderError::from)?;
    let n = users.len();
    batch(
        vec![
            Field::new("user_name", DataType::Utf8, false),
            Field::new("user_id", DataType::Int32, false),
            Field::new("createdb", DataType::Boolean, false),
            Field::new("superuser", DataType::Boolean, false),
            Field::new("catalog_update", DataType::Boolean, false),
            Field::new("connection_limit", DataType::Utf8, false),
            Field::new("syslog_access", DataType::Utf8, false),
            Field::new("last_ddl_ts", DataType::Utf8, true),
            Field::new("session_timeout", DataType::Int32, false),
            Field::new("external_user_id", DataType::Utf8, true),
        ],
        user_columns(&users)
            .into_iter()
            .chain([
                Arc::new(BooleanArray::from_iter(
                    users.iter().map(|u| Some(u.superuser)),
                )) as ArrayRef,
                Arc::new(StringArray::from_iter_values(users.iter().map(|u| {
                    u.connection_limit
                        .map_or_else(|| "UNLIMITED".to_string(), |l| l.to_string())
                }))),
                Arc::new(StringArray::from_iter_values(users.iter().map(|u| {
                    if u.superuser {
                        "UNRESTRICTED"
                    } else {
                        "RESTRICTED"
                    }
                }))),
                Arc::new(StringArray::from(vec![None::<String>; n])),
                Arc::new(Int32Array::from(vec![0; n])),
                Arc::new(StringArray::from(vec![None::<String>; n])),
            ])
            .collect(),
    )
}

/// The rows of a query or load log `viewer` may see: a superuser all of them, any
/// other user its own (the column `userid` or `user_id`).
pub(super) fn visible_to(batch: RecordBatch, viewer: &Principal) -> Result<RecordBatch> {
    if viewer.superuser {
        return Ok(batch);
    }
    let column = batch
        .column_by_name("userid")
        .or_else(|| batch.column_by_name("user_id"))
        .and_then(|c| c.as_any().downcast_ref::<Int32Array>().cloned());
    let Some(ids) = column else {
        return Ok(batch);
    };
    let mine: BooleanArray = ids.iter().map(|id| Some(id == Some(viewer.user))).collect();
    Ok(filter_record_batch(&batch, &mine)?)
}
