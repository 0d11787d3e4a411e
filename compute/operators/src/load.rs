//! COPY loaders: read files from S3 or the local file system, parse them as Redshift
//! does (text, CSV, JSON; gzip, bzip2 or zstd), or read them with their own readers
//! (Parquet, ORC, Avro: [`columnar`]), convert fields to the table's types and
//! produce record batches.
//!
//! The leader lists the source and spreads its files over the slices in a
//! [`LoadSpec`]; [`LoadExec`] runs one partition per slice on the compute node
//! holding that slice. Bad rows do not fail the stream: each is recorded with its
//! file, line and column, and a partition stops reading once it has seen more than
//! MAXERROR of them. The leader adds the partitions' counts up and commits, or not.
//!
//! A large file may come in parts ([`FilePart`]): Parquet row groups, or byte ranges
//! of text, CSV, JSON, ORC and Avro. An ORC or Avro range loads the stripes or
//! blocks that start in it. A text byte range loads the records that start after the first
//! line end in it and reports where its first record started and where the record
//! after its last starts, so the leader can check that the ranges line up (a
//! record may span lines) before it commits.

mod columnar;
mod convert;
mod exec;
mod fields;
mod json;
mod parquet;
mod records;
pub mod spec;
/// The object stores COPY reads (the storage crate's module, shared with UNLOAD and
/// snapshots).
pub use blueshift_storage::objects as store;
mod write;

pub use convert::{DateTimeFormat, TargetColumn};
pub use exec::{LoadExec, Reader, STDIN};
pub use parquet::parquet_row_groups;
pub use spec::{
    Compression, FilePart, JsonPaths, LoadColumn, LoadFile, LoadFormat, LoadOptions, LoadPartition,
    LoadSpec, StoreConfig,
};
pub use write::{LoadWriteExec, WriteTarget, written_schema};
