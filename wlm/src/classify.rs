//! Routing: which queue a query goes to, from its user's groups and its session's
//! query group, as Redshift's WLM classifies.

use crate::config::WlmConfig;

/// Who sends a query, as routing needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requester {
    pub user: String,
    pub user_id: i32,
    /// The user's groups.
    pub groups: Vec<String>,
    pub superuser: bool,
    /// The session's `query_group` (empty: none).
    pub query_group: String,
}

/// Where a query is routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The superuser queue (service class 5).
    Superuser,
    /// User queue `i` of the config.
    Queue(usize),
}

/// Whether `name` matches `pattern`, with `*` (any run of characters) and `?` (one
/// character) when `wild` is on; plain equality otherwise. Case-insensitive, as
/// group names are.
pub fn matches(pattern: &str, name: &str, wild: bool) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let name: Vec<char> = name.to_lowercase().chars().collect();
    if !wild {
        return pattern == name;
    }
    // Iterative glob with one backtrack point: the last `*` seen.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

impl WlmConfig {
    /// The queues that `who` matches by user group or query group, in config order,
    /// starting after queue `after` (for a hop); the default queue matches anyone.
    pub fn matching_queues(&self, who: &Requester, after: Option<usize>) -> Vec<usize> {
        let last = self.queues.len() - 1;
        let start = after.map_or(0, |a| a + 1);
        (start..self.queues.len())
            .filter(|&i| {
                let q = &self.queues[i];
                i == last
                    || q.user_groups.iter().any(|pattern| {
                        who.groups
                            .iter()
                            .any(|g| matches(pattern, g, q.user_group_wild_card))
                    })
                    || (!who.query_group.is_empty()
                        && q.query_groups.iter().any(|pattern| {
                            matches(pattern, &who.query_group, q.query_group_wild_card)
                        }))
            })
            .collect()
    }

    /// Where a query of `who` goes: the superuser queue for a superuser whose query
    /// group is `superuser`; else the first matching queue (the default queue last).
    pub fn route(&self, who: &Requester) -> Route {
        if who.superuser && who.query_group.eq_ignore_ascii_case("superuser") {
            return Route::Superuser;
        }
        Route::Queue(
            self.matching_queues(who, None)
                .first()
                .copied()
                .unwrap_or(self.queues.len() - 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_redshift_documents() {
        assert!(matches("dba_*", "dba_admin", true));
        assert!(!matches("dba_*", "dba_admin", false));
        assert!(matches("dba_*", "DBA_", true));
        assert!(matches("rep?rt", "report", true));
        assert!(!matches("rep?rt", "repoort", true));
        assert!(matches("*load*", "nightly_loads", true));
        assert!(!matches("a*b", "acbd", true));
        assert!(matches("a*b*c", "aXbYbc", true));
        assert!(matches("etl", "ETL", false));
    }
}
