//! The catalog as a snapshot holds it ([`CatalogExport`]): every record of every tree
//! as committed at one moment, and the way back into a new catalog for a restore,
//! possibly with another node count (docs/design/0005-snapshots.md).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::overlay::{Overlay, Tree};
use super::{
    CATALOG_FORMAT_VERSION, Catalog, ID_OFFSET_KEY, LAYOUT_KEY, TableDef, TableVersion, decode,
    encode,
};
use crate::distribution::{ClusterLayout, DistStyle};
use crate::error::{Result, StorageError};
use crate::version::SegmentRef;

/// Every record of a catalog at one commit point: per tree (by its name), the keys and
/// values as the catalog stores them, base64-encoded (keys can be binary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogExport {
    /// The catalog's `format_version` (docs/design/0003-catalog-records.md).
    pub format_version: u32,
    pub layout: ClusterLayout,
    pub trees: BTreeMap<String, Vec<(String, String)>>,
    /// Greater than every table, view and constraint id in the export: a restored
    /// catalog's new ids start past it.
    #[serde(default)]
    pub next_id: u64,
}

impl Catalog {
    /// The committed catalog at one moment between commits (transaction blocks' own
    /// changes are not in it). The tables `keep_rows` refuses, and every table made
    /// `BACKUP NO`, are exported with their definition and an empty version (no
    /// segments, no statistics).
    pub fn export(&self, keep_rows: impl Fn(&TableDef) -> bool) -> Result<CatalogExport> {
        let mut records = self.trees.snapshot()?;
        let mut emptied = vec![];
        // Past every table, view and constraint id (taking none from sled's counter:
        // the scheduler exports every minute).
        let mut next_id = 1;
        for ((tree, key), value) in &records {
            if *tree == Tree::Tables {
                let def: TableDef = decode(key, value)?;
                let constraints = def.constraints.iter().map(|c| c.id);
                next_id = constraints
                    .chain([def.id])
                    .fold(next_id, |n, id| n.max(id + 1));
                if !def.backup || !keep_rows(&def) {
                    emptied.push(def.id.to_be_bytes().to_vec());
                }
            } else if *tree == Tree::Views {
                let view: super::ViewDef = decode(key, value)?;
                next_id = next_id.max(view.id + 1);
            }
        }
        for id in emptied {
            records.remove(&(Tree::Statistics, id.clone()));
            if let Some(value) = records.get_mut(&(Tree::Versions, id.clone())) {
                let mut version: TableVersion = decode(&id, value)?;
                version.slices.clear();
                *value = encode(&version)?;
            }
        }
        let mut trees: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for ((tree, key), value) in records {
            trees
                .entry(tree.name().to_string())
                .or_default()
                .push((STANDARD.encode(key), STANDARD.encode(value)));
        }
        Ok(CatalogExport {
            next_id,
            format_version: self.format_version()?,
            layout: self.layout()?,
            trees,
        })
    }

    /// Creates a catalog in `dir` (which must hold none) from `export`, for a cluster
    /// of `layout`: the same slices, spread over `layout.nodes` nodes. A DISTSTYLE ALL
    /// table gets, on the first slice of every node, the copy node 0 held.
    pub fn import(dir: &Path, export: &CatalogExport, layout: ClusterLayout) -> Result<Catalog> {
        if export.format_version > CATALOG_FORMAT_VERSION {
            return Err(StorageError::CatalogVersion {
                found: export.format_version,
                supported: CATALOG_FORMAT_VERSION,
            });
        }
        if layout.slice_count() != export.layout.slice_count() || layout.nodes == 0 {
            return Err(StorageError::Catalog(format!(
                "the snapshot has {} slices; a restore into {} nodes x {} slices cannot hold them",
                export.layout.slice_count(),
                layout.nodes,
                layout.slices_per_node
            )));
        }
        if dir.exists() {
            return Err(StorageError::Catalog(format!(
                "{} exists already: a restore makes a new catalog",
                dir.display()
            )));
        }
        let mut catalog = Catalog::open(dir, layout)?;
        let mut entries: BTreeMap<(Tree, Vec<u8>), Vec<u8>> = BTreeMap::new();
        for name in export.trees.keys() {
            let tree = Tree::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .ok_or_else(|| StorageError::Catalog(format!("unknown catalog tree '{name}'")))?;
            for (key, value) in export.raw(tree)? {
                entries.insert((tree, key), value);
            }
        }
        entries.insert((Tree::Meta, LAYOUT_KEY.to_vec()), encode(&layout)?);
        entries.insert(
            (Tree::Meta, ID_OFFSET_KEY.to_vec()),
            encode(&export.next_id)?,
        );
        let all_tables: Vec<u64> = entries
            .iter()
            .filter(|((tree, _), _)| *tree == Tree::Tables)
            .map(|((_, key), value)| decode::<TableDef>(key, value))
            .filter_map(|def| match def {
                Ok(def) if def.dist_style == DistStyle::All => Some(Ok(def.id)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_>>()?;
        for id in all_tables {
            let key = id.to_be_bytes().to_vec();
            let Some(value) = entries.get_mut(&(Tree::Versions, key.clone())) else {
                continue;
            };
            let mut version: TableVersion = decode(&key, value)?;
            let copy: Vec<SegmentRef> = version
                .slices
                .get(&export.layout.first_slice_of(0))
                .cloned()
                .unwrap_or_default();
            version.slices.clear();
            if !copy.is_empty() {
                for node in 0..layout.nodes {
                    version
                        .slices
                        .insert(layout.first_slice_of(node), copy.clone());
                }
            }
            *value = encode(&version)?;
        }
        let mut records = Overlay::default();
        for ((tree, key), value) in entries {
            records.put(tree, &key, value);
        }
        match records.commit(&catalog.trees) {
            Ok(()) => {
                catalog.flush()?;
                catalog.id_offset = export.next_id;
            }
            Err(super::overlay::CommitError::Storage(e)) => return Err(e),
            Err(super::overlay::CommitError::Changed(_)) => {
                return Err(StorageError::Catalog(
                    "the new catalog changed while it was restored".into(),
                ));
            }
        }
        Ok(catalog)
    }
}

impl CatalogExport {
    /// The segments each slice's tables reference, by slice, each name once per slice.
    pub fn segments(&self) -> Result<BTreeMap<u32, Vec<SegmentRef>>> {
        let mut by_slice: BTreeMap<u32, BTreeMap<String, SegmentRef>> = BTreeMap::new();
        for (key, value) in self.trees.get(Tree::Versions.name()).into_iter().flatten() {
            let bad = |e: base64::DecodeError| StorageError::Catalog(format!("versions: {e}"));
            let key = STANDARD.decode(key).map_err(bad)?;
            let value = STANDARD.decode(value).map_err(bad)?;
            let version: TableVersion = decode(&key, &value)?;
            for (slice, segments) in version.slices {
                let names = by_slice.entry(slice).or_default();
                for segment in segments {
                    names.entry(segment.name.clone()).or_insert(segment);
                }
            }
        }
        Ok(by_slice
            .into_iter()
            .map(|(slice, names)| (slice, names.into_values().collect()))
            .collect())
    }

    /// Every segment the export references, once, with the lowest slice holding it
    /// (a DISTSTYLE ALL table's copies are the same segment on several slices).
    pub fn distinct_segments(&self) -> Result<Vec<(u32, SegmentRef)>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = vec![];
        for (slice, segments) in self.segments()? {
            for segment in segments {
                if seen.insert(segment.name.clone()) {
                    out.push((slice, segment));
                }
            }
        }
        Ok(out)
    }

    /// The table definitions in the export.
    pub fn tables(&self) -> Result<Vec<TableDef>> {
        self.records(Tree::Tables)
    }

    /// The table versions in the export, by table id.
    pub fn versions(&self) -> Result<BTreeMap<u64, TableVersion>> {
        let mut versions = BTreeMap::new();
        for (key, value) in self.raw(Tree::Versions)? {
            let id = <[u8; 8]>::try_from(key.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Catalog("a version key is not a table id".into()))?;
            versions.insert(id, decode(&key, &value)?);
        }
        Ok(versions)
    }

    fn records<T: serde::de::DeserializeOwned>(&self, tree: Tree) -> Result<Vec<T>> {
        self.raw(tree)?.iter().map(|(k, v)| decode(k, v)).collect()
    }

    fn raw(&self, tree: Tree) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let bad = |e: base64::DecodeError| StorageError::Catalog(format!("{}: {e}", tree.name()));
        self.trees
            .get(tree.name())
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                Ok((
                    STANDARD.decode(k).map_err(bad)?,
                    STANDARD.decode(v).map_err(bad)?,
                ))
            })
            .collect()
    }
}
