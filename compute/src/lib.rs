//! The Blueshift compute node: it holds slices and runs plan fragments over them.
//!
//! ```text
//!  leader ──Flight DoGet(FragmentTicket)──▶ ComputeService ──▶ decode fragment (codec)
//!                                                │                 │
//!                                                │           SliceScanExec (local
//!                                                │           segments of one slice)
//!                                                │           or LoadExec (COPY: files
//!                                                │           from S3, parsed) under
//!                                                │           LoadWriteExec (routes the
//!                                                │           rows, writes segments), or
//!                                                │           UnloadExec (UNLOAD files)
//!                                                ◀── Arrow record batches ──┘
//!  leader or another node ──Flight DoPut(WriteSegment + batches)──▶ SliceStore::write_segment
//!                                                ◀── SegmentWritten (staged, not yet visible)
//!  another node's fragment ──Flight DoGet(FragmentTicket + ExchangeRead)──▶ ExchangeRegistry
//!    (an ExchangeExec reading its share)         │ runs this node's producer partitions once
//!                                                ◀── the rows for that reader (by key or all)
//! ```
//!
//! The entry point is [`server::ComputeNode`]; [`scan::SliceScanExec`] and
//! [`codec::FragmentCodec`] are shared with the leader, which builds fragments that
//! contain the scan and ships them here. A compute node holds no catalog state: every
//! request says which slice and which segments (the pinned table version) to read.
//! [`load`] holds COPY's readers, parsers and writer, [`route`] the routing of rows to
//! slices (shared with the leader's INSERT), [`unload`] and [`unload_exec`] UNLOAD's
//! writers, [`exchange`] the rows fragments send each other between nodes, and
//! [`leader_rows`] those the leader sends.

pub mod codec;
pub mod error;
pub mod exchange;
pub mod flight;
pub mod leader_rows;
pub mod load;
pub mod rewrite;
pub mod route;
pub mod running;
pub mod scan;
pub mod server;
pub mod steps;
pub mod unload;
pub mod unload_exec;
pub mod zone_map;

pub use codec::FragmentCodec;
pub use error::ComputeError;
pub use scan::SliceScanExec;
pub use server::{ComputeConfig, ComputeNode};
