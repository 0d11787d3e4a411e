//! The Blueshift leader: the PostgreSQL front end, the catalog, planning and commits.
//!
//! ```text
//!  psql / JDBC / psycopg ──pgwire──▶ frontend::wire ──▶ engine::Engine
//!                                    (frontend::auth,    │ parse: sql (Redshift DDL + PostgreSQL)
//!                                     session)           │ plan:  DataFusion over planner::catalog_provider
//!                                                        │        (SliceTable per table), logical rules
//!                                                        │        (planner::{join_order, semi_join,
//!                                                        │        aggregate_keys})
//!                                                        │ admit: engine::admission (WLM)
//!                                                        │ place: planner::collocate (DS_DIST_NONE,
//!                                                        │        DS_DIST_ALL_NONE, DS_BCAST_INNER,
//!                                                        │        DS_DIST_INNER/OUTER/BOTH)
//!                                                        │ ship:  planner::fragment ──▶ RemoteFragmentExec
//!                                                        │            │  cluster: Flight DoGet per slice
//!                                                        ▼            ▼
//!                                              final steps     compute nodes (scan, filter,
//!                                              on the leader   partial aggregate, sort, limit,
//!                                                              joins placed by collocate)
//!  INSERT / CTAS ──▶ planner::table::SliceSink ──route by DISTSTYLE──▶ Flight DoPut per
//!                    slice (staged segments) ──▶ one catalog commit of the new table version
//!  COPY ──▶ engine::copy: list S3 ──▶ LoadExec fragments parse files on the compute
//!           nodes ──▶ LoadWriteExec routes and writes segments there (DoPut to other
//!           nodes) ──▶ segment names back ──▶ commit if within MAXERROR
//! ```
//!
//! Its module trees form layers, each importing only those below it: `server` over
//! `frontend` (the only tree that names pgwire types) over `engine` (which answers with
//! its own `engine::Outcome`: a command tag, or rows as Arrow batches) over `planner` over
//! `system_tables`, `commit` (the one place where data and the catalog change),
//! `cluster` and `query_log`, with `session`, `interrupt`, `sql` and
//! `error` at the bottom (docs/architecture.md draws them).
//!
//! The entry point is [`server::Leader`] (a leader process; `blueshift up` runs one
//! with its compute nodes in the same process). Every error reaches clients through
//! [`error::sqlstate`], the one place that maps errors to SQLSTATEs.

pub mod cluster;
pub mod commit;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod interrupt;
pub mod planner;
pub mod query_log;
pub mod s3_config;
pub mod server;
pub mod session;
pub mod sql;
pub mod stopper;
pub mod system_tables;

pub use engine::WlmSettings;
pub use error::LeaderError;
pub use server::{Leader, LeaderConfig};
