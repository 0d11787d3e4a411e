//! The plan operators and codecs that the Blueshift leader and its compute nodes share.
//!
//! The leader builds fragments out of these operators and ships them; a compute node
//! (the `blueshift-compute` crate, a Flight server over this one) decodes and runs
//! them. Neither server owns this crate, and it knows neither the catalog nor the
//! PostgreSQL protocol.
//!
//! ```text
//!   codec::FragmentCodec           (encodes and decodes every operator below)
//!        │
//!   steps, leader_rows::moved_rows (what a run plan did; how its rows moved)
//!        │
//!   scan::SliceScanExec   exchange::ExchangeExec   leader_rows::LeaderRowsExec
//!   load::{LoadExec, LoadWriteExec}   unload_exec::UnloadExec
//!        │                    │
//!   zone_map, route           delivery (Delivery, Splitter, IPC), schema_bytes
//! ```
//!
//! The entry point is [`codec::FragmentCodec`]: the leader encodes fragments with it and
//! a compute node decodes them with its own slice store. [`scan::SliceScanExec`] reads a
//! slice's segments, pruned by zone maps ([`zone_map`]); [`exchange::ExchangeExec`] and
//! [`leader_rows::LeaderRowsExec`] bring rows moved from other nodes or from the
//! leader, cut as a [`delivery::Delivery`] says; [`load`] holds COPY's readers, parsers
//! and writer, [`route`] the routing of rows to slices (COPY and INSERT), [`unload`] and
//! [`unload_exec`] UNLOAD's writers. Modules import only those drawn below them.

pub mod codec;
pub mod delivery;
pub mod error;
pub mod exchange;
pub mod functions;
pub mod leader_rows;
pub mod load;
pub mod route;
pub mod scan;
pub mod schema_bytes;
pub mod secret;
pub mod spill;
pub mod steps;
pub mod unload;
pub mod unload_exec;
pub mod zone_map;

pub use codec::FragmentCodec;
pub use scan::SliceScanExec;
