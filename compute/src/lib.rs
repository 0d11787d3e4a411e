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
//! The entry point is [`server::ComputeNode`]. This crate is a Flight server over the
//! operators of `blueshift-operators` (scan, exchanges, COPY and UNLOAD, the fragment
//! codec), which the leader shares; a compute node holds no catalog state: every
//! request says which slice and which segments (the pinned table version) to read.
//! Its modules form layers: [`server`] over [`flight`] (the Flight service) over
//! [`exchange_registry`] (the exchanges this node produces), [`rewrite`] (VACUUM's
//! segment rewrites), [`snapshot`] (segment uploads to a snapshot store), [`running`] (STV_EXEC_STATE) and [`runtime`] (the threads
//! fragments run on).

pub mod error;
pub mod exchange_registry;
pub mod flight;
pub mod rewrite;
pub mod running;
pub mod runtime;
pub mod server;
pub mod snapshot;

pub use error::ComputeError;
pub use server::{ComputeConfig, ComputeNode};
