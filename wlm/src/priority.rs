//! [`Priority`]: the levels automatic WLM orders queries by.

/// A queue's priority under automatic WLM (CRITICAL: superusers' queries only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Lowest,
    Low,
    Normal,
    High,
    Highest,
    Critical,
}

impl Priority {
    /// The priority `name` (any case), as the config and `change_query_priority` spell it.
    pub fn parse(name: &str) -> Option<Priority> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "lowest" => Priority::Lowest,
            "low" => Priority::Low,
            "normal" => Priority::Normal,
            "high" => Priority::High,
            "highest" => Priority::Highest,
            "critical" => Priority::Critical,
            _ => return None,
        })
    }

    /// The name the system tables print.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Lowest => "Lowest",
            Priority::Low => "Low",
            Priority::Normal => "Normal",
            Priority::High => "High",
            Priority::Highest => "Highest",
            Priority::Critical => "Critical",
        }
    }

    /// One level up (waiting long enough raises a query's priority), below CRITICAL.
    pub(crate) fn raised(self, levels: u64) -> Priority {
        let order = [
            Priority::Lowest,
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Highest,
        ];
        match order.iter().position(|p| *p == self) {
            Some(i) => order[(i + levels.min(4) as usize).min(order.len() - 1)],
            None => self,
        }
    }
}
