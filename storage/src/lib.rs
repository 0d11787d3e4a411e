//! Blueshift's storage: slices, segments, table versions and the catalog they live in.
//!
//! - A **slice** is the unit of placement: every table's rows are split over the
//!   cluster's slices by its distribution ([`distribution::SliceRouter`]); a KEY
//!   table's rows by a DISTKEY hash defined byte by byte ([`distribution::DistHash`]).
//! - A **segment** ([`segment`]) is an immutable Parquet file of one table's rows on
//!   one slice, each column encoded and compressed as its ENCODE says ([`encoding`]),
//!   sorted by the table's sort key and named by the hash of its bytes; every read
//!   verifies that hash.
//! - A **table version** ([`catalog::TableVersion`]) lists each slice's segments. A
//!   commit installs a new version in one catalog transaction ([`catalog::Catalog`]), so
//!   a statement's rows on all slices become visible together or not at all.
//! - A **delete vector** ([`deletes`]) marks the rows of a segment that DELETE or
//!   UPDATE removed; VACUUM rewrites segments without them.
//! - A **column cache** ([`column_cache`]) keeps the blocks a compute node decoded
//!   (a column of a row group, as Arrow arrays) for later scans, up to a byte budget.
//! - **Object stores** ([`objects`]): S3 and local files, opened one way for COPY's
//!   sources, UNLOAD's targets and snapshots, with a fault-injecting wrapper for tests
//!   ([`objects::faults`]); crash points for tests are in [`fault`].
//!
//! - **Snapshots** ([`snapshot`]): a catalog export at one commit point and the
//!   segments it references, in an object store where every segment is stored once by
//!   its content hash; restored into a new data directory, with any node count that
//!   spreads the slices evenly.
//!
//! The entry point is [`catalog::Catalog`] on the leader and [`segment::SliceStore`] on
//! a compute node. This crate knows neither SQL nor the protocols between Blueshift's
//! processes; the only network it reaches is object stores.

pub mod catalog;
pub mod column_cache;
pub mod deletes;
pub mod distribution;
pub mod encoding;
pub mod error;
pub mod fault;
pub mod objects;
pub mod segment;
pub mod snapshot;
pub mod sort_key;
pub mod version;

pub use error::{Result, StorageError};
