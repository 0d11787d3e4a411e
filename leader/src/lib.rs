//! The Blueshift leader: the PostgreSQL front end, the catalog, planning and commits.
//!
//! ```text
//!  psql / JDBC / psycopg ──pgwire──▶ wire::Handlers ──▶ engine::Engine
//!                                    (auth, session)     │ parse: sql (Redshift DDL + PostgreSQL)
//!                                                        │ plan:  DataFusion over catalog_provider
//!                                                        │        (SliceTable per table), semi joins
//!                                                        │        pushed down (semi_join), grouped
//!                                                        │        subqueries filtered (aggregate_keys)
//!                                                        │ place: collocate::CollocateJoins (DS_DIST_NONE,
//!                                                        │        DS_DIST_ALL_NONE, DS_BCAST_INNER, DS_DIST_INNER/
//!                                                        │        OUTER joins on slices)
//!                                                        │ ship:  fragment::ShipFragments ──▶ RemoteFragmentExec
//!                                                        │            │  Flight DoGet per slice
//!                                                        ▼            ▼
//!                                              final steps     compute nodes (scan, filter,
//!                                              on the leader   partial aggregate, sort, limit,
//!                                                              joins placed by collocate)
//!  INSERT / CTAS ──▶ table::SliceSink ──route by DISTSTYLE──▶ Flight DoPut per slice (staged
//!                    segments) ──▶ one catalog commit of the new table version
//!  COPY ──▶ engine::copy: list S3 ──▶ LoadExec fragments parse files on the compute
//!           nodes ──▶ LoadWriteExec routes and writes segments there (DoPut to other
//!           nodes) ──▶ segment names back ──▶ commit if within MAXERROR
//! ```
//!
//! The entry points are [`server::Leader`] (a leader process) and
//! [`server::EmbeddedCluster`] (`blueshift up`). Every error reaches clients through
//! [`error::sqlstate`], the one place that maps errors to SQLSTATEs.

pub mod admission;
pub mod aggregate_keys;
pub mod auth;
pub mod catalog_provider;
pub mod cluster;
pub mod collocate;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fragment;
pub mod functions;
pub mod interrupt;
pub mod join_order;
pub mod load_log;
pub mod query_log;
pub mod query_summary;
pub mod s3_config;
pub mod semi_join;
pub mod server;
pub mod session;
pub mod sql;
pub mod system_tables;
pub mod table;
pub mod wire;

pub use error::LeaderError;
pub use server::{EmbeddedCluster, EmbeddedConfig, Leader, LeaderConfig};
