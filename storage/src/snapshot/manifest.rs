//! A snapshot's manifest: what it holds, with a checksum and a format version.
//!
//! The object is one header line, `BLUESHIFT-SNAPSHOT-MANIFEST <version> sha256=<hex>`,
//! then the manifest as JSON; the hash covers the JSON bytes exactly as stored, so a
//! reader checks them before it parses them, and a later release that adds fields
//! still verifies what an older one wrote.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::CatalogExport;

use super::Transfer;

/// The manifest format this release writes, and the newest it reads.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

const MAGIC: &str = "BLUESHIFT-SNAPSHOT-MANIFEST";

/// Who took a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    Manual,
    Automated,
}

/// One segment a snapshot references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// The SHA-256 of its bytes: its key is `segments/<name>`.
    pub name: String,
    pub bytes: u64,
    /// Rows in the file, deleted ones included.
    pub rows: u64,
}

/// One table in a snapshot, for listings (the catalog export is the authority).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    pub id: u64,
    pub schema: String,
    pub name: String,
    /// Live rows (deleted ones excluded); 0 for a table restored without rows.
    pub rows: u64,
    /// False for `BACKUP NO` (and temporary) tables: restored with no rows.
    pub backup: bool,
}

/// A snapshot: a catalog export at one commit point and the segments it references.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub kind: SnapshotKind,
    /// When the catalog was exported, RFC 3339 in UTC.
    pub created_at: String,
    /// Days to keep it; `None`: until deleted.
    pub retention_days: Option<u32>,
    /// The release that wrote it.
    pub blueshift_version: String,
    pub catalog: CatalogExport,
    /// Every segment the catalog export references, each once, by name.
    pub segments: Vec<SegmentEntry>,
    pub tables: Vec<TableEntry>,
    /// What this snapshot uploaded, and what the store had already.
    pub uploaded: Transfer,
    pub skipped: Transfer,
    /// Milliseconds from the export to the manifest.
    pub elapsed_ms: u64,
    /// The store this snapshot was copied from (`blueshift snapshot copy`); none for
    /// the cluster's own snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<String>,
}

impl Manifest {
    /// Bytes of all the segments it references.
    pub fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// The object's bytes: the header line, then the JSON.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let body = serde_json::to_vec(self).map_err(|e| format!("encoding the manifest: {e}"))?;
        let mut out = format!(
            "{MAGIC} {MANIFEST_FORMAT_VERSION} sha256={}\n",
            hex::encode(Sha256::digest(&body))
        )
        .into_bytes();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a manifest object; the error says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("it has no header line")?;
        let header =
            std::str::from_utf8(&bytes[..newline]).map_err(|_| "its header is not text")?;
        let body = &bytes[newline + 1..];
        let mut parts = header.split(' ');
        if parts.next() != Some(MAGIC) {
            return Err("it is not a Blueshift snapshot manifest".into());
        }
        let version: u32 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or("its header has no format version")?;
        if version > MANIFEST_FORMAT_VERSION {
            return Err(format!(
                "it is in manifest format {version}, newer than this release reads \
                 ({MANIFEST_FORMAT_VERSION})"
            ));
        }
        let expected = parts
            .next()
            .and_then(|h| h.strip_prefix("sha256="))
            .ok_or("its header has no checksum")?;
        if hex::encode(Sha256::digest(body)) != expected {
            return Err("its checksum does not match its contents".into());
        }
        serde_json::from_slice(body).map_err(|e| format!("it does not parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::ClusterLayout;

    fn manifest() -> Manifest {
        Manifest {
            id: "nightly-1".into(),
            kind: SnapshotKind::Manual,
            created_at: "2026-12-07T20:00:00Z".into(),
            retention_days: Some(7),
            blueshift_version: "0.1.0".into(),
            catalog: CatalogExport {
                format_version: 1,
                layout: ClusterLayout {
                    nodes: 2,
                    slices_per_node: 2,
                },
                trees: Default::default(),
                next_id: 9,
            },
            segments: vec![SegmentEntry {
                name: "ab".repeat(32),
                bytes: 10,
                rows: 3,
            }],
            tables: vec![],
            uploaded: Transfer {
                segments: 1,
                bytes: 10,
            },
            skipped: Transfer::default(),
            elapsed_ms: 5,
            copied_from: None,
        }
    }

    #[test]
    fn manifests_round_trip_and_refuse_damage() -> Result<(), String> {
        let m = manifest();
        let bytes = m.encode()?;
        assert!(bytes.starts_with(b"BLUESHIFT-SNAPSHOT-MANIFEST 1 sha256="));
        assert_eq!(Manifest::decode(&bytes)?, m);
        assert_eq!(m.total_bytes(), 10);

        let refusal = |b: &[u8]| Manifest::decode(b).err().unwrap_or_default();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        assert!(refusal(&flipped).contains("checksum"));
        let newer = String::from_utf8_lossy(&bytes).replacen(" 1 ", " 2 ", 1);
        assert!(refusal(newer.as_bytes()).contains("format 2"));
        assert!(refusal(b"{}").contains("header"));
        assert!(refusal(b"PAR1\n").contains("not a Blueshift"));
        Ok(())
    }
}
