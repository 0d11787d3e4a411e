//! Workload management (WLM): which queue a query runs in, and whether it may start.
//!
//! Pure logic with no I/O and no tasks: the leader asks [`Admission::try_admit`] for a
//! [`QueueGrant`] before it runs a statement, waits when there is none, and gives the
//! grant back with [`Admission::release`] when the statement's results are sent.
//!
//! Today there is one queue, Redshift's default queue of manual WLM: 5 slots sharing
//! the memory given to queries. `wlm_query_slot_count` lets one query take several
//! slots. Routing by user group and query group, several queues, SQA, priorities and
//! query monitoring rules come with the WLM work.

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
}

/// One queue's configuration (a `wlm_json_configuration` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    /// Slots: queries that may run at once (1 to 50).
    pub query_concurrency: u32,
    /// Share of query memory for this queue, in percent.
    pub memory_percent_to_use: u32,
}

impl QueueConfig {
    /// Redshift's default queue under manual WLM.
    pub fn default_queue() -> Self {
        QueueConfig {
            name: "default".into(),
            query_concurrency: 5,
            memory_percent_to_use: 100,
        }
    }
}

/// Permission to run one query: its queue, slots and memory budget.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueGrant {
    pub queue: usize,
    pub slots: u32,
    /// Bytes of working memory the query may use.
    pub memory_bytes: u64,
}

/// Slots in use per queue.
#[derive(Debug)]
pub struct Admission {
    queues: Vec<QueueConfig>,
    query_memory_bytes: u64,
    used: Vec<u32>,
}

impl Admission {
    /// Admission over `queues` (the last is the default queue), sharing
    /// `query_memory_bytes` among them by their memory percentages.
    pub fn new(queues: Vec<QueueConfig>, query_memory_bytes: u64) -> Self {
        let queues = if queues.is_empty() {
            vec![QueueConfig::default_queue()]
        } else {
            queues
        };
        Admission {
            used: vec![0; queues.len()],
            queues,
            query_memory_bytes,
        }
    }

    /// The queue a query goes to. With one queue, every query goes to it.
    pub fn route(&self) -> usize {
        self.queues.len() - 1
    }

    /// The queues.
    pub fn queues(&self) -> &[QueueConfig] {
        &self.queues
    }

    /// A grant of `slots` slots of `queue` when that many are free, `Ok(None)` when
    /// the query must wait.
    pub fn try_admit(&mut self, queue: usize, slots: u32) -> Result<Option<QueueGrant>, WlmError> {
        let config = &self.queues[queue.min(self.queues.len() - 1)];
        let slots = slots.max(1);
        if slots > config.query_concurrency {
            return Err(WlmError::TooManySlots {
                queue: config.name.clone(),
                asked: slots,
                available: config.query_concurrency,
            });
        }
        if self.used[queue] + slots > config.query_concurrency {
            return Ok(None);
        }
        self.used[queue] += slots;
        let memory = u128::from(self.query_memory_bytes)
            * u128::from(config.memory_percent_to_use.min(100))
            * u128::from(slots)
            / (100 * u128::from(config.query_concurrency));
        Ok(Some(QueueGrant {
            queue,
            slots,
            memory_bytes: u64::try_from(memory).unwrap_or(u64::MAX),
        }))
    }

    /// Gives a grant's slots back.
    pub fn release(&mut self, grant: QueueGrant) {
        if let Some(used) = self.used.get_mut(grant.queue) {
            *used = used.saturating_sub(grant.slots);
        }
    }

    /// Slots in use in `queue`.
    pub fn slots_in_use(&self, queue: usize) -> u32 {
        self.used.get(queue).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_queue_admits_five_then_waits() {
        let mut a = Admission::new(vec![], 5 * 1024);
        let q = a.route();
        let grants: Vec<_> = (0..5)
            .map(|_| a.try_admit(q, 1).expect("valid").expect("a free slot"))
            .collect();
        assert_eq!(grants[0].memory_bytes, 1024);
        assert_eq!(a.try_admit(q, 1), Ok(None));
        for g in grants {
            a.release(g);
        }
        let big = a.try_admit(q, 3).expect("valid").expect("free");
        assert_eq!(big.memory_bytes, 3 * 1024);
        assert_eq!(a.try_admit(q, 3), Ok(None));
        assert!(matches!(
            a.try_admit(q, 6),
            Err(WlmError::TooManySlots { .. })
        ));
    }
}
