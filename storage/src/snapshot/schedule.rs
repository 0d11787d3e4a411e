//! When to take an automated snapshot and which snapshots have expired: pure
//! decisions over a given time (`now`), so tests drive the clock.
//!
//! Redshift's rules: an automated snapshot about every 8 hours or every 5 GB of changed
//! data per node, whichever comes first, never more often than every 15 minutes;
//! automated snapshots are kept 1 to 35 days (default 1), and the newest one always;
//! manual ones until deleted or for the days they were given.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::{Manifest, SnapshotKind};

/// The shortest time between two automated snapshots.
pub const MIN_INTERVAL: Duration = Duration::minutes(15);

/// The longest automated retention Redshift allows, in days.
pub const MAX_AUTOMATED_RETENTION_DAYS: u32 = 35;

/// How automated snapshots are taken and kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// Take one when the last is this old...
    pub every: Duration,
    /// ... or when this many bytes of segments are not in the last one.
    pub changed_bytes: u64,
    /// Days to keep automated snapshots; 0 turns them off.
    pub retention_days: u32,
}

impl SchedulePolicy {
    /// Redshift's defaults for a cluster of `nodes` nodes: 8 hours or 5 GB per node,
    /// kept 1 day.
    pub fn default_for(nodes: u32) -> Self {
        SchedulePolicy {
            every: Duration::hours(8),
            changed_bytes: 5 * (1 << 30) * u64::from(nodes.max(1)),
            retention_days: 1,
        }
    }

    /// Whether automated snapshots are on.
    pub fn enabled(&self) -> bool {
        self.retention_days > 0
    }

    /// Whether an automated snapshot is due at `now`, when the last automated one
    /// was taken at `last` (none yet: as soon as there is data to keep) and
    /// `changed_bytes` of the cluster's segments are not in it.
    pub fn due(&self, now: DateTime<Utc>, last: Option<DateTime<Utc>>, changed_bytes: u64) -> bool {
        if !self.enabled() {
            return false;
        }
        let Some(last) = last else {
            return changed_bytes > 0;
        };
        let since = now - last;
        since >= MIN_INTERVAL
            && (since >= self.every || (changed_bytes > 0 && changed_bytes >= self.changed_bytes))
    }

    /// The snapshots of `manifests` that have expired at `now`: automated ones older
    /// than the retention (never the newest automated one), manual ones older than
    /// their own retention. Manifests whose time does not parse are kept.
    pub fn expired(&self, manifests: &[Manifest], now: DateTime<Utc>) -> Vec<String> {
        let created = |m: &Manifest| DateTime::parse_from_rfc3339(&m.created_at).ok();
        let newest_automated = manifests
            .iter()
            .filter(|m| m.kind == SnapshotKind::Automated)
            .filter_map(|m| created(m).map(|t| (t, m.id.clone())))
            .max()
            .map(|(_, id)| id);
        let mut expired = BTreeSet::new();
        for m in manifests {
            let Some(at) = created(m) else { continue };
            let days = match m.kind {
                SnapshotKind::Automated if Some(&m.id) == newest_automated.as_ref() => continue,
                // Retention 0 (automated snapshots turned off) keeps the ones taken.
                SnapshotKind::Automated if self.retention_days == 0 => continue,
                SnapshotKind::Automated => self.retention_days,
                SnapshotKind::Manual => match m.retention_days {
                    Some(days) => days,
                    None => continue,
                },
            };
            if now - at.with_timezone(&Utc) >= Duration::days(i64::from(days)) {
                expired.insert(m.id.clone());
            }
        }
        expired.into_iter().collect()
    }
}

/// The id of an automated snapshot taken at `at`.
pub fn automated_id(at: DateTime<Utc>) -> String {
    format!("auto-{}", at.format("%Y-%m-%d-%H-%M-%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogExport, ClusterLayout};
    use crate::snapshot::Transfer;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(hours)
    }

    fn snapshot(id: &str, kind: SnapshotKind, hours: i64, days: Option<u32>) -> Manifest {
        Manifest {
            id: id.into(),
            kind,
            created_at: at(hours).to_rfc3339(),
            retention_days: days,
            blueshift_version: "test".into(),
            catalog: CatalogExport {
                format_version: 1,
                layout: ClusterLayout {
                    nodes: 1,
                    slices_per_node: 1,
                },
                trees: Default::default(),
                next_id: 1,
            },
            segments: vec![],
            tables: vec![],
            uploaded: Transfer::default(),
            skipped: Transfer::default(),
            elapsed_ms: 0,
            copied_from: None,
        }
    }

    #[test]
    fn snapshots_are_due_by_time_or_change_but_not_within_15_minutes() {
        let policy = SchedulePolicy::default_for(2);
        assert_eq!(policy.changed_bytes, 10 << 30);
        assert!(!policy.due(at(0), None, 0), "nothing to keep yet");
        assert!(policy.due(at(0), None, 1));
        let last = Some(at(0));
        assert!(!policy.due(at(7), last, 0));
        assert!(policy.due(at(8), last, 0));
        assert!(policy.due(at(1), last, 10 << 30));
        assert!(!policy.due(at(1), last, (10 << 30) - 1));
        let soon = at(0) + Duration::minutes(14);
        assert!(
            !policy.due(soon, last, 100 << 30),
            "at most every 15 minutes"
        );
        assert!(policy.due(soon + Duration::minutes(1), last, 100 << 30));
        let off = SchedulePolicy {
            retention_days: 0,
            ..policy
        };
        assert!(!off.due(at(100), last, 100 << 30));
    }

    #[test]
    fn expiry_keeps_the_newest_automated_and_unexpired_manual_snapshots() {
        let policy = SchedulePolicy::default_for(1);
        let manifests = [
            snapshot("auto-old", SnapshotKind::Automated, 0, None),
            snapshot("auto-new", SnapshotKind::Automated, 8, None),
            snapshot("keep-forever", SnapshotKind::Manual, 0, None),
            snapshot("week", SnapshotKind::Manual, 0, Some(7)),
        ];
        assert!(policy.expired(&manifests, at(23)).is_empty());
        assert_eq!(policy.expired(&manifests, at(24)), ["auto-old"]);
        // Long after: the newest automated one stays, and the manual one kept forever.
        assert_eq!(
            policy.expired(&manifests, at(24 * 30)),
            ["auto-old", "week"]
        );
        let longer = SchedulePolicy {
            retention_days: 35,
            ..policy
        };
        assert_eq!(longer.expired(&manifests, at(24 * 30)), ["week"]);
        assert_eq!(automated_id(at(0)), "auto-2024-10-04-00-00-00");
    }
}
