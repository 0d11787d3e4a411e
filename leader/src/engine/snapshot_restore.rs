//! Table restore (`blueshift snapshot restore-table`): one table of a snapshot, of
//! this cluster or another one with the same slice count, into the running cluster
//! under a new name. The compute nodes download the table's segments (each checked
//! against its hash) while the restore holds a WLM slot, so garbage collection cannot
//! remove them before the commit that makes the table exist.

use std::collections::BTreeMap;

use blueshift_proto::{RestoreTable, TableRestored};
use blueshift_storage::StorageError;
use blueshift_storage::catalog::{ConstraintKind, DistStyle, SegmentRef, TableVersion};
use blueshift_storage::snapshot::SnapshotStore;
use tracing::info;

use super::Engine;
use super::admission::{StatementDescription, StatementKind};
use crate::commit::CommitPoint;
use crate::error::LeaderError;
use crate::server::ADMIN_USER;

impl Engine {
    /// Restores `request`'s table; fails without a trace when the new name exists,
    /// the table is not in the snapshot, or the slice counts differ.
    pub async fn restore_table(&self, request: RestoreTable) -> Result<TableRestored, LeaderError> {
        let (url, store_config) = if request.store_url.is_empty() {
            let settings = self.snapshot_settings()?;
            (settings.url.clone(), settings.store.clone())
        } else {
            (
                request.store_url.clone(),
                self.s3.store_for_role(request.iam_role.as_deref())?,
            )
        };
        let store = SnapshotStore::open(&url, &store_config)?;
        let manifest = store.manifest(&request.snapshot).await?;
        let source = format!("{}.{}", request.source_schema, request.source_table);
        let mut def = manifest
            .catalog
            .tables()?
            .into_iter()
            .find(|t| t.schema == request.source_schema && t.name == request.source_table)
            .ok_or_else(|| {
                LeaderError::Storage(StorageError::TableNotFound(format!(
                    "{source} in snapshot {}",
                    request.snapshot
                )))
            })?;
        let layout = self.catalog.layout()?;
        let theirs = manifest.catalog.layout;
        if theirs.slice_count() != layout.slice_count() {
            return Err(LeaderError::Unsupported(format!(
                "restoring a table of a snapshot of {} slices into a cluster of {} slices \
                 (its rows would have to be redistributed)",
                theirs.slice_count(),
                layout.slice_count()
            )));
        }
        if !self.catalog.schema_exists(&request.target_schema)? {
            return Err(StorageError::SchemaNotFound(request.target_schema.clone()).into());
        }
        if self
            .catalog
            .table(&request.target_schema, &request.new_table)?
            .is_some()
        {
            return Err(StorageError::TableExists(format!(
                "{}.{}",
                request.target_schema, request.new_table
            ))
            .into());
        }
        let mut version: TableVersion = manifest
            .catalog
            .versions()?
            .remove(&def.id)
            .unwrap_or_default();
        if def.dist_style == DistStyle::All {
            // The copy of the snapshot's node 0, on the first slice of every node here.
            let copy = version
                .slices
                .remove(&theirs.first_slice_of(0))
                .unwrap_or_default();
            version.slices = (0..layout.nodes)
                .filter(|_| !copy.is_empty())
                .map(|n| (layout.first_slice_of(n), copy.clone()))
                .collect();
        }
        let segments: Vec<(u32, SegmentRef)> = version
            .slices
            .iter()
            .flat_map(|(slice, segments)| segments.iter().map(|s| (*slice, s.clone())))
            .collect();

        let _slot = self
            .gate
            .admit(StatementDescription::internal(
                StatementKind::Copy,
                ADMIN_USER,
            ))
            .await?;
        let transfer = self
            .transfer_by_node(&url, &store_config, &segments, true)
            .await?;
        // The definition as it was, under its new name, owned by the superuser: the
        // snapshot's grants and foreign keys name objects of its own catalog.
        def.schema = request.target_schema.clone();
        def.name = request.new_table.clone();
        def.owner = blueshift_storage::catalog::access::BOOTSTRAP_USER_ID;
        def.acl.clear();
        def.constraints
            .retain(|c| !matches!(c.kind, ConstraintKind::ForeignKey { .. }));
        for constraint in &mut def.constraints {
            constraint.id = self.catalog.new_object_id()?;
        }
        let rows = match def.dist_style {
            DistStyle::All => version
                .slices
                .get(&layout.first_slice_of(0))
                .map_or(0, |s| s.iter().map(SegmentRef::live_rows).sum()),
            _ => version.rows(),
        };
        let created = CommitPoint::new(self.catalog.clone()).create_table(def, Some(version))?;
        info!(
            snapshot = request.snapshot,
            source,
            table = created.qualified_name(),
            downloaded_bytes = transfer.uploaded_bytes,
            "table restored"
        );
        let distinct: BTreeMap<&str, u64> = segments
            .iter()
            .map(|(_, s)| (s.name.as_str(), s.bytes))
            .collect();
        Ok(TableRestored {
            schema: created.schema,
            name: created.name,
            rows,
            segments: distinct.len() as u64,
            bytes: distinct.values().sum(),
        })
    }
}
