//! Messages exchanged between the Blueshift leader and its compute nodes.
//!
//! The leader talks to every compute node over Arrow Flight (see `blueshift-compute`):
//! a [`FragmentTicket`] in a Flight `DoGet` runs one plan fragment over one slice and
//! streams its record batches back; a [`WriteSegment`] descriptor on a Flight `DoPut`
//! turns the batches that follow into one staged segment of one slice, and the server
//! answers with a [`SegmentWritten`]. Segments become visible only when the leader
//! commits a table version that names them.
//!
//! The messages are protobuf (prost derive), so their field numbers are the wire
//! contract: never renumber a field, only add new ones.
//!
//! [`error_kind`] holds the kinds of failure both servers name and the one table from
//! kinds to SQLSTATEs; a failed fragment's kind crosses Flight as an [`ErrorDetail`] in
//! the status's details. This crate depends on no other Blueshift crate.

use prost::Message;

pub mod error_kind;

pub use error_kind::{ErrorDetail, ErrorKind};

/// The largest Flight message a node accepts or sends (leader and compute nodes alike).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Runs a serialized physical plan fragment on one slice of a compute node.
#[derive(Clone, PartialEq, Message)]
pub struct FragmentTicket {
    /// The fragment: a `datafusion-proto` `PhysicalPlanNode`, encoded with the compute
    /// crate's extension codec (which knows the slice scan).
    #[prost(bytes = "bytes", tag = "1")]
    pub plan: bytes::Bytes,
    /// Which output partition of the fragment to run; it is the slice the fragment reads.
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    /// Leader-assigned query id, for logs and cancellation.
    #[prost(uint64, tag = "3")]
    pub query_id: u64,
    /// This partition's working-memory budget in bytes (its share of the query's WLM
    /// grant); past it, joins, sorts and aggregates spill, and what cannot spill fails
    /// with out of memory. 0: no budget.
    #[prost(uint64, tag = "4")]
    pub memory_bytes: u64,
    /// The rows of the fragment's broadcasts (its `LeaderRowsExec`s), by id.
    #[prost(message, repeated, tag = "5")]
    pub leader_rows: Vec<LeaderRows>,
    /// Set for a read of an exchange: `plan` is then the exchange's producing fragment,
    /// whose partitions on this node run once for all the exchange's readers, and the
    /// stream carries the rows meant for one of them.
    #[prost(message, optional, tag = "6")]
    pub exchange: Option<ExchangeRead>,
}

/// One reader's share of an exchange's rows, asked of one producing node.
#[derive(Clone, PartialEq, Message)]
pub struct ExchangeRead {
    /// The exchange, with `nonce`, unique within the query.
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(uint64, tag = "2")]
    pub nonce: u64,
    /// The producing fragment's partitions this node runs.
    #[prost(uint32, repeated, tag = "3")]
    pub partitions: Vec<u32>,
    /// The reading partition, and how many read.
    #[prost(uint32, tag = "4")]
    pub target: u32,
    #[prost(uint32, tag = "5")]
    pub targets: u32,
    #[prost(message, optional, tag = "6")]
    pub delivery: Option<ExchangeDelivery>,
}

/// Which readers of an exchange get which rows.
#[derive(Clone, PartialEq, Message)]
pub struct ExchangeDelivery {
    /// Every reader gets every row; else a row goes to the reader of the slice its
    /// key column hashes to (as a DISTKEY places it).
    #[prost(bool, tag = "1")]
    pub broadcast: bool,
    #[prost(uint32, tag = "2")]
    pub column: u32,
    #[prost(uint32, tag = "3")]
    pub nodes: u32,
    #[prost(uint32, tag = "4")]
    pub slices_per_node: u32,
    /// Reader *i* reads for `slices[i]`.
    #[prost(uint32, repeated, tag = "5")]
    pub slices: Vec<u32>,
    /// The DISTKEY hash that places the rows: 0 for `RowFormatV0`, 1 for
    /// `CanonicalV1` (docs/design/0001-distkey-hash.md).
    #[prost(uint32, tag = "6")]
    pub dist_hash: u32,
}

/// An exchange in a plan fragment, as the extension codec serializes it.
#[derive(Clone, PartialEq, Message)]
pub struct ExchangeNode {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(uint64, tag = "2")]
    pub nonce: u64,
    /// Readers (the partitions of the fragment the exchange is in).
    #[prost(uint32, tag = "3")]
    pub partitions: u32,
    /// A `datafusion-proto` `Schema`.
    #[prost(bytes = "vec", tag = "4")]
    pub schema: Vec<u8>,
    /// The producing fragment, encoded as a [`FragmentTicket`]'s plan.
    #[prost(bytes = "bytes", tag = "5")]
    pub producer: bytes::Bytes,
    /// The node that runs each partition of the producing fragment.
    #[prost(uint32, repeated, tag = "6")]
    pub producer_nodes: Vec<u32>,
    /// Each node's Flight address, by node number.
    #[prost(string, repeated, tag = "7")]
    pub addrs: Vec<String>,
    #[prost(message, optional, tag = "8")]
    pub delivery: Option<ExchangeDelivery>,
}

/// Rows the leader sends whole to every slice of a fragment.
#[derive(Clone, PartialEq, Message)]
pub struct LeaderRows {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    /// An Arrow IPC stream (schema, then the batches). Shared, not copied, between
    /// the tickets of a fragment's slices, and decoded in place on the node.
    #[prost(bytes = "bytes", tag = "2")]
    pub ipc: bytes::Bytes,
}

/// A broadcast in a plan fragment, as the extension codec serializes it.
#[derive(Clone, PartialEq, Message)]
pub struct LeaderRowsNode {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(uint32, tag = "2")]
    pub partitions: u32,
    /// A `datafusion-proto` `Schema`.
    #[prost(bytes = "vec", tag = "3")]
    pub schema: Vec<u8>,
}

/// Describes the batches of a `DoPut`: they become one segment of one slice.
#[derive(Clone, PartialEq, Message)]
pub struct WriteSegment {
    /// The slice the rows belong to.
    #[prost(uint32, tag = "1")]
    pub slice: u32,
    /// Column indices of the compound sort key, in order; empty when unsorted.
    #[prost(uint32, repeated, tag = "2")]
    pub sort_columns: Vec<u32>,
    /// Table id, for logs and error messages.
    #[prost(uint64, tag = "3")]
    pub table_id: u64,
    /// An INTERLEAVED sort key: z-order over `sort_columns`.
    #[prost(bool, tag = "4")]
    pub interleaved: bool,
}

/// The answer to a [`WriteSegment`]: the staged segment, or nothing when no rows came.
#[derive(Clone, PartialEq, Message)]
pub struct SegmentWritten {
    /// Content hash of the segment file (its name).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Rows in the segment.
    #[prost(uint64, tag = "2")]
    pub rows: u64,
    /// Size of the file in bytes.
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
}

/// Flight action type that removes segment files no table version references.
pub const ACTION_COLLECT_GARBAGE: &str = "collect_garbage";

/// Body of an [`ACTION_COLLECT_GARBAGE`] action: every segment still referenced on
/// the given slices; any other segment file there is deleted.
#[derive(Clone, PartialEq, Message)]
pub struct CollectGarbage {
    /// Slices the list is complete for.
    #[prost(uint32, repeated, tag = "1")]
    pub slices: Vec<u32>,
    /// Names of live segments.
    #[prost(string, repeated, tag = "2")]
    pub live_segments: Vec<String>,
}

/// The answer to a [`CollectGarbage`].
#[derive(Clone, PartialEq, Message)]
pub struct GarbageCollected {
    /// Files removed.
    #[prost(uint64, tag = "1")]
    pub removed: u64,
}

/// Flight action type that answers with a [`NodeInfo`]: a liveness and identity check.
pub const ACTION_NODE_INFO: &str = "node_info";

/// Who a compute node is.
#[derive(Clone, PartialEq, Message)]
pub struct NodeInfo {
    /// The node's number in the cluster.
    #[prost(uint32, tag = "1")]
    pub node: u32,
    /// Blueshift version of the node.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// The slice scan of a plan fragment, as the extension codec serializes it.
#[derive(Clone, PartialEq, Message)]
pub struct SliceScanNode {
    /// Table id (logs and errors).
    #[prost(uint64, tag = "1")]
    pub table_id: u64,
    /// Qualified table name (errors).
    #[prost(string, tag = "2")]
    pub table_name: String,
    /// The table's full Arrow schema as a `datafusion-proto` `Schema`.
    #[prost(bytes = "vec", tag = "3")]
    pub schema: Vec<u8>,
    /// Projected column indices; empty with `project_all` means every column.
    #[prost(uint32, repeated, tag = "4")]
    pub projection: Vec<u32>,
    /// True when there is no projection.
    #[prost(bool, tag = "5")]
    pub project_all: bool,
    /// One entry per output partition: the slice it reads and the segments there.
    #[prost(message, repeated, tag = "6")]
    pub partitions: Vec<SliceSegments>,
    /// The zone-map filter as a `datafusion-proto` `PhysicalExprNode`; empty for none.
    #[prost(bytes = "vec", tag = "7")]
    pub zone_map_filter: Vec<u8>,
    /// Adds the row-id column after the table's columns (DELETE and UPDATE read it).
    #[prost(bool, tag = "8")]
    pub row_id: bool,
    /// Table column indices each partition's rows are sorted by (empty: unknown).
    #[prost(uint32, repeated, tag = "9")]
    pub sort_order: Vec<u32>,
    /// Each table column's id: its name in segment files is `c<id>`.
    #[prost(uint32, repeated, tag = "10")]
    pub column_ids: Vec<u32>,
    /// Each table column's value (as text) in segments written before it was added;
    /// meaningful where `has_missing_value` is true, else NULL.
    #[prost(string, repeated, tag = "11")]
    pub missing_values: Vec<String>,
    #[prost(bool, repeated, tag = "12")]
    pub has_missing_value: Vec<bool>,
}

/// The segments of one slice that a scan reads (the table version the query pinned).
#[derive(Clone, PartialEq, Message)]
pub struct SliceSegments {
    #[prost(uint32, tag = "1")]
    pub slice: u32,
    #[prost(string, repeated, tag = "2")]
    pub segments: Vec<String>,
    /// Rows in each segment file (deleted included), parallel to `segments`.
    #[prost(uint64, repeated, tag = "3")]
    pub rows: Vec<u64>,
    /// Each segment's delete vector (Roaring's portable bytes; empty for none),
    /// parallel to `segments`.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub deleted: Vec<Vec<u8>>,
}

/// What the scans of one fragment partition read, sent by the compute node as the
/// `app_metadata` of the last message of a `DoGet` stream (STL_SCAN).
#[derive(Clone, PartialEq, Message)]
pub struct FragmentReport {
    #[prost(message, repeated, tag = "1")]
    pub scans: Vec<ScanStats>,
    /// The files a COPY partition read (STL_LOAD_COMMITS). Sent with every message
    /// of a load, so the leader sees its progress (STV_LOAD_STATE).
    #[prost(message, repeated, tag = "2")]
    pub load_files: Vec<LoadFileStats>,
    /// Rows a COPY partition rejected (STL_LOAD_ERRORS), sent once, at the end.
    #[prost(message, repeated, tag = "3")]
    pub load_errors: Vec<LoadErrorRecord>,
    /// What each step of the fragment did on this slice (SVL_QUERY_SUMMARY), bottom
    /// step first; sent once, at the end.
    #[prost(message, repeated, tag = "4")]
    pub steps: Vec<StepStats>,
    /// The steps of the fragments whose rows reached this one through its exchanges,
    /// one entry per producing node; sent once, at the end.
    #[prost(message, repeated, tag = "5")]
    pub exchanges: Vec<ExchangeSteps>,
}

/// What one node's partitions of an exchange's producing fragment did.
#[derive(Clone, PartialEq, Message)]
pub struct ExchangeSteps {
    /// The exchange (its id in the plan).
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(message, repeated, tag = "2")]
    pub steps: Vec<StepStats>,
}

/// One step (operator) of a fragment on one slice.
#[derive(Clone, PartialEq, Message)]
pub struct StepStats {
    /// The step's number in the fragment, counting from the bottom (post-order).
    #[prost(uint32, tag = "1")]
    pub step: u32,
    /// The operator (`HashJoinExec`, `SliceScanExec`, ...).
    #[prost(string, tag = "2")]
    pub operator: String,
    /// For scans: the table's id and name.
    #[prost(uint64, tag = "3")]
    pub table_id: u64,
    #[prost(string, tag = "4")]
    pub table_name: String,
    #[prost(uint64, tag = "5")]
    pub rows: u64,
    /// Bytes of the rows the step produced (Arrow memory size).
    #[prost(uint64, tag = "6")]
    pub bytes: u64,
    /// CPU time the step spent, in microseconds.
    #[prost(uint64, tag = "7")]
    pub micros: u64,
    /// Whether the step spilled to disk.
    #[prost(bool, tag = "8")]
    pub spilled: bool,
    /// For scans: rows in the row groups read, and whether zone maps skipped some.
    #[prost(uint64, tag = "9")]
    pub rows_pre_filter: u64,
    #[prost(bool, tag = "10")]
    pub is_rrscan: bool,
    /// The most memory the step held at once (its hash table, sort buffer or
    /// aggregation state), in bytes; 0 for steps that hold none.
    #[prost(uint64, tag = "11")]
    pub peak_memory_bytes: u64,
}

/// One input file of a COPY, as far as it has been read.
#[derive(Clone, PartialEq, Message)]
pub struct LoadFileStats {
    #[prost(uint32, tag = "1")]
    pub slice: u32,
    #[prost(string, tag = "2")]
    pub url: String,
    /// Compressed bytes of the file.
    #[prost(uint64, tag = "3")]
    pub size: u64,
    /// Compressed bytes read so far.
    #[prost(uint64, tag = "4")]
    pub bytes_read: u64,
    #[prost(uint64, tag = "5")]
    pub lines_scanned: u64,
    #[prost(uint64, tag = "6")]
    pub rows_loaded: u64,
    #[prost(uint64, tag = "7")]
    pub errors: u64,
    #[prost(bool, tag = "8")]
    pub complete: bool,
    #[prost(int64, tag = "9")]
    pub end_micros: i64,
    /// For part of a split file: its byte offset (text) or first row group (Parquet).
    #[prost(uint64, tag = "10")]
    pub offset: u64,
    #[prost(bool, tag = "11")]
    pub partial: bool,
    /// For a byte range of a file: where its first record starts (a byte offset
    /// into the file), as the range found it.
    #[prost(uint64, tag = "12")]
    pub first_record: u64,
    /// For a byte range read to its end: where the record after its last one
    /// starts. The leader checks that each range starts where the one before it
    /// ended.
    #[prost(uint64, optional, tag = "13")]
    pub next_record: Option<u64>,
}

/// A row COPY rejected.
#[derive(Clone, PartialEq, Message)]
pub struct LoadErrorRecord {
    #[prost(uint32, tag = "1")]
    pub slice: u32,
    #[prost(string, tag = "2")]
    pub url: String,
    #[prost(uint64, tag = "3")]
    pub line_number: u64,
    #[prost(string, tag = "4")]
    pub colname: String,
    /// The column's type.
    #[prost(string, tag = "5")]
    pub column_type: String,
    #[prost(int64, tag = "6")]
    pub col_length: i64,
    /// Byte offset in the line where the field starts.
    #[prost(uint64, tag = "7")]
    pub position: u64,
    #[prost(string, tag = "8")]
    pub raw_line: String,
    #[prost(string, tag = "9")]
    pub raw_field_value: String,
    #[prost(int32, tag = "10")]
    pub err_code: i32,
    #[prost(string, tag = "11")]
    pub err_reason: String,
    #[prost(int64, tag = "12")]
    pub micros: i64,
    #[prost(uint64, tag = "13")]
    pub table_id: u64,
    /// The row came from part of a split file starting at this byte offset; its
    /// `line_number` counts from there (as Redshift's `is_partial`/`start_offset`).
    #[prost(bool, tag = "14")]
    pub partial: bool,
    #[prost(uint64, tag = "15")]
    pub start_offset: u64,
}

/// One slice scan's work.
#[derive(Clone, PartialEq, Message)]
pub struct ScanStats {
    #[prost(uint64, tag = "1")]
    pub table_id: u64,
    #[prost(string, tag = "2")]
    pub table_name: String,
    #[prost(uint32, tag = "3")]
    pub slice: u32,
    /// Rows the scan returned (deleted rows not counted).
    #[prost(uint64, tag = "4")]
    pub rows: u64,
    /// Rows in the row groups read, deleted rows included.
    #[prost(uint64, tag = "5")]
    pub rows_pre_filter: u64,
    /// Compressed bytes of the column chunks read.
    #[prost(uint64, tag = "6")]
    pub bytes: u64,
    /// Blocks (one column of one row group) read, and in the scanned columns.
    #[prost(uint64, tag = "7")]
    pub blocks_read: u64,
    #[prost(uint64, tag = "8")]
    pub blocks_total: u64,
    /// Whether zone maps restricted the scan: some row groups were skipped.
    #[prost(bool, tag = "9")]
    pub is_rrscan: bool,
    /// Start and end, microseconds since the Unix epoch.
    #[prost(int64, tag = "10")]
    pub start_micros: i64,
    #[prost(int64, tag = "11")]
    pub end_micros: i64,
}

/// Flight action type that rewrites segments of one slice (VACUUM): answers with a
/// [`SegmentsWritten`].
pub const ACTION_REWRITE_SEGMENTS: &str = "rewrite_segments";

/// Body of an [`ACTION_REWRITE_SEGMENTS`] action: read the segments (without their
/// deleted rows), merge them in sort-key order, and write them as new segments.
#[derive(Clone, PartialEq, Message)]
pub struct RewriteSegments {
    /// What to read: one partition per segment, all of one slice.
    #[prost(message, optional, tag = "1")]
    pub scan: Option<SliceScanNode>,
    /// Column indices of the compound sort key; empty to concatenate.
    #[prost(uint32, repeated, tag = "2")]
    pub sort_columns: Vec<u32>,
    /// Rows per new segment (the last may have fewer).
    #[prost(uint64, tag = "3")]
    pub segment_rows: u64,
    /// Each column's Redshift encoding (ENCODE), lower case; empty for AUTO.
    #[prost(string, repeated, tag = "4")]
    pub encodings: Vec<String>,
    /// An INTERLEAVED sort key: segments are concatenated and each new one is
    /// z-ordered, rather than merged by a compound key.
    #[prost(bool, tag = "5")]
    pub interleaved: bool,
}

/// The segments a rewrite wrote, in sort-key order.
#[derive(Clone, PartialEq, Message)]
pub struct SegmentsWritten {
    #[prost(message, repeated, tag = "1")]
    pub segments: Vec<SegmentWritten>,
}

/// Flight action type that lists the blocks of segments (STV_BLOCKLIST): answers
/// with a [`BlockList`].
pub const ACTION_BLOCK_LIST: &str = "block_list";

/// Body of an [`ACTION_BLOCK_LIST`] action.
#[derive(Clone, PartialEq, Message)]
pub struct BlockListRequest {
    #[prost(message, repeated, tag = "1")]
    pub segments: Vec<SegmentOfTable>,
}

/// A segment of a table on a slice.
#[derive(Clone, PartialEq, Message)]
pub struct SegmentOfTable {
    #[prost(uint64, tag = "1")]
    pub table_id: u64,
    #[prost(uint32, tag = "2")]
    pub slice: u32,
    #[prost(string, tag = "3")]
    pub segment: String,
}

/// The blocks of the segments asked for: one per column of each row group.
#[derive(Clone, PartialEq, Message)]
pub struct BlockList {
    #[prost(message, repeated, tag = "1")]
    pub blocks: Vec<Block>,
}

/// One block: a column chunk of one row group of a segment, with its zone map.
#[derive(Clone, PartialEq, Message)]
pub struct Block {
    #[prost(uint64, tag = "1")]
    pub table_id: u64,
    #[prost(uint32, tag = "2")]
    pub slice: u32,
    #[prost(string, tag = "3")]
    pub segment: String,
    /// The column's id (its file name is `c<id>`).
    #[prost(uint32, tag = "4")]
    pub column_id: u32,
    /// The row group's index in the segment.
    #[prost(uint32, tag = "5")]
    pub row_group: u32,
    #[prost(uint64, tag = "6")]
    pub num_values: u64,
    /// Minimum and maximum as text; absent when unknown (all NULL).
    #[prost(string, optional, tag = "7")]
    pub min_value: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub max_value: Option<String>,
    /// Compressed bytes of the column chunk.
    #[prost(uint64, tag = "9")]
    pub bytes: u64,
}

/// Flight action type that lists the fragments running on a compute node
/// (STV_EXEC_STATE): answers with an [`ExecState`]. The body is empty.
pub const ACTION_EXEC_STATE: &str = "exec_state";

/// The fragments a compute node is running.
#[derive(Clone, PartialEq, Message)]
pub struct ExecState {
    #[prost(message, repeated, tag = "1")]
    pub fragments: Vec<RunningFragment>,
}

/// One partition of a fragment, while its `DoGet` stream is open.
#[derive(Clone, PartialEq, Message)]
pub struct RunningFragment {
    #[prost(uint64, tag = "1")]
    pub query_id: u64,
    /// The slice it reads.
    #[prost(uint32, tag = "2")]
    pub slice: u32,
    /// When the node started it, in microseconds since the Unix epoch.
    #[prost(int64, tag = "3")]
    pub start_micros: i64,
    /// Its steps so far, bottom step first, as in a [`FragmentReport`].
    #[prost(message, repeated, tag = "4")]
    pub steps: Vec<StepStats>,
}

/// Flight action type that uploads segments of this node's slices to a snapshot
/// store, skipping those the store has: body an [`UploadSegments`], answer a
/// [`SegmentsUploaded`].
pub const ACTION_UPLOAD_SEGMENTS: &str = "upload_segments";

/// Body of an [`ACTION_UPLOAD_SEGMENTS`] action.
#[derive(Clone, PartialEq, Message)]
pub struct UploadSegments {
    /// The snapshot store's URL (`s3://bucket/prefix`, `file:///path`).
    #[prost(string, tag = "1")]
    pub store_url: String,
    /// How to reach it: the storage crate's `StoreConfig` as JSON (credentials
    /// included; the call carries the cluster secret and may go over TLS).
    #[prost(string, tag = "2")]
    pub store_config_json: String,
    #[prost(message, repeated, tag = "3")]
    pub segments: Vec<SegmentToUpload>,
}

/// One segment of one slice to upload.
#[derive(Clone, PartialEq, Message)]
pub struct SegmentToUpload {
    #[prost(uint32, tag = "1")]
    pub slice: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint64, tag = "3")]
    pub rows: u64,
    #[prost(uint64, tag = "4")]
    pub bytes: u64,
}

/// The answer to an [`UploadSegments`] (and, on the admin API, part of a
/// [`SnapshotCreated`]).
#[derive(Clone, PartialEq, Message)]
pub struct SegmentsUploaded {
    #[prost(uint64, tag = "1")]
    pub uploaded_segments: u64,
    #[prost(uint64, tag = "2")]
    pub uploaded_bytes: u64,
    /// Segments the store had already.
    #[prost(uint64, tag = "3")]
    pub skipped_segments: u64,
    #[prost(uint64, tag = "4")]
    pub skipped_bytes: u64,
}

/// Admin API (the leader's admin Flight service, used by `blueshift snapshot`):
/// action type that takes a manual snapshot; body a [`CreateSnapshot`], answer a
/// [`SnapshotCreated`].
pub const ACTION_CREATE_SNAPSHOT: &str = "create_snapshot";

/// Body of an [`ACTION_CREATE_SNAPSHOT`] action.
#[derive(Clone, PartialEq, Message)]
pub struct CreateSnapshot {
    /// The snapshot's id; empty: `manual-<UTC date and time>`.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Days to keep it; absent: until deleted.
    #[prost(uint32, optional, tag = "2")]
    pub retention_days: Option<u32>,
}

/// The answer to a [`CreateSnapshot`]: the snapshot exists.
#[derive(Clone, PartialEq, Message)]
pub struct SnapshotCreated {
    #[prost(string, tag = "1")]
    pub id: String,
    /// The store it is in.
    #[prost(string, tag = "2")]
    pub store_url: String,
    #[prost(string, tag = "3")]
    pub created_at: String,
    #[prost(uint64, tag = "4")]
    pub tables: u64,
    /// Segments and bytes the snapshot references.
    #[prost(uint64, tag = "5")]
    pub segments: u64,
    #[prost(uint64, tag = "6")]
    pub bytes: u64,
    #[prost(message, optional, tag = "7")]
    pub transfer: Option<SegmentsUploaded>,
    #[prost(uint64, tag = "8")]
    pub elapsed_ms: u64,
    /// The store a copy went to, when copying is enabled and it succeeded.
    #[prost(string, optional, tag = "9")]
    pub copied_to: Option<String>,
    /// Why the copy failed (the snapshot itself exists).
    #[prost(string, optional, tag = "10")]
    pub copy_error: Option<String>,
}

/// Admin API action type: from now on, copy every new snapshot to another store
/// (`blueshift snapshot enable-copy`); body an [`EnableSnapshotCopy`], answer a
/// [`SnapshotCopyState`].
pub const ACTION_ENABLE_SNAPSHOT_COPY: &str = "enable_snapshot_copy";

/// Admin API action type: stop copying snapshots; empty body, answer a
/// [`SnapshotCopyState`].
pub const ACTION_DISABLE_SNAPSHOT_COPY: &str = "disable_snapshot_copy";

/// Body of an [`ACTION_ENABLE_SNAPSHOT_COPY`] action.
#[derive(Clone, PartialEq, Message)]
pub struct EnableSnapshotCopy {
    /// The destination store: `s3://bucket/prefix` or `file:///path`.
    #[prost(string, tag = "1")]
    pub url: String,
    /// Its region and endpoint (default: the cluster's S3 settings).
    #[prost(string, optional, tag = "2")]
    pub region: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub endpoint: Option<String>,
    /// The IAM role (of the cluster's role mapping) whose keys reach it.
    #[prost(string, optional, tag = "4")]
    pub iam_role: Option<String>,
    /// Days to keep copied automated snapshots there (default 7).
    #[prost(uint32, tag = "5")]
    pub retention_days: u32,
}

/// Whether snapshots are copied, and where.
#[derive(Clone, PartialEq, Message)]
pub struct SnapshotCopyState {
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    #[prost(string, tag = "2")]
    pub url: String,
    #[prost(uint32, tag = "3")]
    pub retention_days: u32,
}

/// Flight action type that downloads segments of this node's slices from a snapshot
/// store (a table restore), skipping those the node has: body an [`UploadSegments`]
/// (the same list), answer a [`SegmentsUploaded`] (its `uploaded_*` fields count the
/// segments downloaded).
pub const ACTION_DOWNLOAD_SEGMENTS: &str = "download_segments";

/// Admin API action type: restore one table of a snapshot into the running cluster
/// under a new name; body a [`RestoreTable`], answer a [`TableRestored`].
pub const ACTION_RESTORE_TABLE: &str = "restore_table";

/// Body of an [`ACTION_RESTORE_TABLE`] action.
#[derive(Clone, PartialEq, Message)]
pub struct RestoreTable {
    /// The snapshot's store; empty: the cluster's own.
    #[prost(string, tag = "1")]
    pub store_url: String,
    /// The IAM role whose keys reach `store_url` (default: `default` when mapped).
    #[prost(string, optional, tag = "2")]
    pub iam_role: Option<String>,
    #[prost(string, tag = "3")]
    pub snapshot: String,
    #[prost(string, tag = "4")]
    pub source_schema: String,
    #[prost(string, tag = "5")]
    pub source_table: String,
    #[prost(string, tag = "6")]
    pub target_schema: String,
    /// The new table's name, which must not exist.
    #[prost(string, tag = "7")]
    pub new_table: String,
}

/// The answer to a [`RestoreTable`].
#[derive(Clone, PartialEq, Message)]
pub struct TableRestored {
    #[prost(string, tag = "1")]
    pub schema: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint64, tag = "3")]
    pub rows: u64,
    #[prost(uint64, tag = "4")]
    pub segments: u64,
    #[prost(uint64, tag = "5")]
    pub bytes: u64,
}
