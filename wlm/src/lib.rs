//! Workload management (WLM): which service class a query runs in, when it may
//! start, with how much memory, and what happens when it runs too long.
//!
//! Pure logic with no I/O and no tasks, driven by the caller's clock: the entry
//! point is [`Wlm`]. The leader hands it a [`Submission`] for each statement
//! ([`Wlm::submit`]), runs the statement when a [`Grant`] for it comes back (from
//! that call or a later one), reports its end ([`Wlm::finish`]), and calls
//! [`Wlm::check`] every second with each running query's metrics, stopping what it
//! says to stop.
//!
//! - [`config`]: Redshift's `wlm_json_configuration`, parsed and checked.
//! - [`classify`]: routing by user group and query group, the superuser queue.
//! - [`manager`]: queues, slots, memory grants, priorities, short query
//!   acceleration, query monitoring rules, WLM timeouts and hops.
//! - [`query`]: what the leader and WLM exchange about one query.
//! - [`history`], [`records`]: the rows of the WLM system tables.

pub mod classify;
pub mod config;
pub mod history;
pub mod manager;
pub mod priority;
pub mod query;
pub mod records;
pub mod rules;
#[cfg(test)]
mod tests;

pub use classify::{Requester, Route};
pub use config::{Priority, QueueConfig, SqaConfig, WlmConfig};
pub use manager::Wlm;
pub use query::{Checked, Ending, Grant, QueryKind, Stop, Submission};
pub use rules::QueryMetrics;

use thiserror::Error;

/// WLM's errors.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WlmError {
    /// A query asked for more slots than its queue has.
    #[error("wlm_query_slot_count {asked} is more than the {available} slots of queue \"{queue}\"")]
    TooManySlots {
        queue: String,
        asked: u32,
        available: u32,
    },
    /// The configuration is not one Redshift would take.
    #[error("invalid wlm_json_configuration: {at}{}: {message}", if property.is_empty() { String::new() } else { format!(", property \"{property}\"") })]
    Config {
        at: String,
        property: String,
        message: String,
    },
    /// A setting Blueshift does not support yet.
    #[error("WLM: {0} is not supported yet")]
    Unsupported(String),
    /// A superuser-only change.
    #[error("{0}")]
    NotPermitted(String),
    /// No queued or running query has this id.
    #[error("query {0} is not queued or running")]
    NoSuchQuery(u64),
}
