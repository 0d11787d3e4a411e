//! [`Wlm`]: the live state of WLM: which queries wait in which service class, which
//! run with which slots and memory, and what happened to the ones that ended.
//!
//! Every call takes `now` (microseconds of wall-clock time, from the caller's clock),
//! so the same calls give the same answers in a test.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::WlmError;
use crate::classify::Route;
use crate::config::{Priority, WlmConfig};
use crate::history::{HistoryRow, RuleActionRow};
pub use crate::query::{Checked, Ending, Grant, QueryKind, Stop, Submission};
use crate::rules::{Action, QueryMetrics, most_severe};

/// The superuser queue's service class.
pub const SUPERUSER_CLASS: i32 = 5;
/// Short query acceleration's service class.
pub const SQA_CLASS: i32 = 14;
/// Slots of the short-query queue.
pub const SQA_SLOTS: u32 = 3;
/// Share of query memory one superuser or short-query slot holds (1/16).
pub const RESERVED_SLOT_SHARE: u64 = 16;
/// Under automatic WLM, the smallest grant is this fraction of the user queues'
/// memory (1/16), and a query that arrives to an idle cluster gets half of it.
pub const AUTO_MIN_SHARE: u64 = 16;
/// Under automatic WLM, a query that waits this long is raised one priority level
/// (so lower priorities still progress).
pub const AGING_MICROS: i64 = 30_000_000;
/// Records kept for STL_WLM_QUERY and STL_WLM_RULE_ACTION.
pub const HISTORY_CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Class {
    pub(crate) service_class: i32,
    pub(crate) name: String,
    /// The user queue it serves (None: superuser and short-query classes).
    pub(crate) queue: Option<usize>,
    pub(crate) slots: u32,
    pub(crate) memory_bytes: u64,
    pub(crate) used_slots: u32,
    pub(crate) used_memory: u64,
    pub(crate) waiting: VecDeque<u64>,
    pub(crate) serviced: u64,
    pub(crate) executed: u64,
    pub(crate) evicted: u64,
    /// Run times of recent queries, for estimated start times.
    pub(crate) recent_micros: VecDeque<i64>,
}

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) sub: Submission,
    pub(crate) class: usize,
    /// The user queue it was routed to (where an evicted short query goes).
    pub(crate) queue: usize,
    pub(crate) priority: Priority,
    pub(crate) queued_at: i64,
    /// When it started running, and when it started in its current class.
    pub(crate) started_at: Option<i64>,
    pub(crate) class_started_at: i64,
    pub(crate) grant: Option<Grant>,
    pub(crate) predicted_ms: Option<u64>,
    pub(crate) logged: BTreeSet<String>,
}

/// WLM's state.
#[derive(Debug)]
pub struct Wlm {
    pub(crate) config: WlmConfig,
    pub(crate) memory_bytes: u64,
    pub(crate) classes: Vec<Class>,
    pub(crate) entries: BTreeMap<u64, Entry>,
    /// Automatic WLM: memory of the user queues' pool in use.
    pub(crate) auto_used: u64,
    pub(crate) history: VecDeque<HistoryRow>,
    pub(crate) rule_actions: VecDeque<RuleActionRow>,
    /// Recent run times of read-only queries (the dynamic short-query limit).
    pub(crate) read_only_ms: VecDeque<u64>,
    /// Recent run times per statement fingerprint (the predictions).
    pub(crate) by_fingerprint: HashMap<u64, VecDeque<u64>>,
    pub(crate) user_priorities: HashMap<String, Priority>,
}

fn push_bounded<T>(list: &mut VecDeque<T>, item: T, capacity: usize) {
    if list.len() >= capacity {
        list.pop_front();
    }
    list.push_back(item);
}

impl Wlm {
    /// WLM over `config`, sharing `memory_bytes` of query memory.
    pub fn new(config: WlmConfig, memory_bytes: u64) -> Self {
        let mut wlm = Wlm {
            classes: Vec::new(),
            config,
            memory_bytes,
            entries: BTreeMap::new(),
            auto_used: 0,
            history: VecDeque::new(),
            rule_actions: VecDeque::new(),
            read_only_ms: VecDeque::new(),
            by_fingerprint: HashMap::new(),
            user_priorities: HashMap::new(),
        };
        wlm.classes = wlm.build_classes();
        wlm
    }

    /// The configuration in force.
    pub fn config(&self) -> &WlmConfig {
        &self.config
    }

    /// Query memory of all classes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes
    }

    fn reserved_slot(&self) -> u64 {
        self.memory_bytes / RESERVED_SLOT_SHARE
    }

    /// Memory the user queues share (what the superuser and short-query slots leave).
    pub(crate) fn user_memory(&self) -> u64 {
        let reserved = 1 + self.config.sqa.as_ref().map_or(0, |_| SQA_SLOTS);
        self.memory_bytes
            .saturating_sub(self.reserved_slot() * u64::from(reserved))
    }

    fn build_classes(&self) -> Vec<Class> {
        let class = |service_class, name: &str, queue, slots, memory_bytes| Class {
            service_class,
            name: name.into(),
            queue,
            slots,
            memory_bytes,
            used_slots: 0,
            used_memory: 0,
            waiting: VecDeque::new(),
            serviced: 0,
            executed: 0,
            evicted: 0,
            recent_micros: VecDeque::new(),
        };
        let mut classes = vec![class(
            SUPERUSER_CLASS,
            "Superuser queue",
            None,
            1,
            self.reserved_slot(),
        )];
        let user = self.user_memory();
        let named: u32 = self
            .config
            .queues
            .iter()
            .filter_map(|q| q.memory_percent_to_use)
            .sum();
        let unnamed = self
            .config
            .queues
            .iter()
            .filter(|q| q.memory_percent_to_use.is_none())
            .count() as u64;
        for (i, q) in self.config.queues.iter().enumerate() {
            let (slots, memory) = if self.config.auto {
                (u32::MAX, user)
            } else {
                let share = match q.memory_percent_to_use {
                    Some(p) => user * u64::from(p) / 100,
                    None => user * u64::from(100 - named.min(100)) / 100 / unnamed.max(1),
                };
                (q.query_concurrency, share)
            };
            classes.push(class(
                self.config.service_class(i),
                &q.name,
                Some(i),
                slots,
                memory,
            ));
        }
        if self.config.sqa.is_some() {
            classes.push(class(
                SQA_CLASS,
                "Short query queue",
                None,
                SQA_SLOTS,
                self.reserved_slot() * u64::from(SQA_SLOTS),
            ));
        }
        classes
    }

    fn class_of(&self, service_class: i32) -> Option<usize> {
        self.classes
            .iter()
            .position(|c| c.service_class == service_class)
    }

    fn queue_class(&self, queue: usize) -> usize {
        self.classes
            .iter()
            .position(|c| c.queue == Some(queue))
            .unwrap_or(self.classes.len() - 1)
    }

    /// The queries running now, by id.
    pub fn running(&self) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| e.started_at.is_some())
            .map(|(q, _)| *q)
            .collect()
    }

    /// The task (session pid) of a queued or running query.
    pub fn task_of(&self, query: u64) -> Option<i32> {
        self.entries.get(&query).map(|e| e.sub.task)
    }

    /// The short-query limit in force, in milliseconds: the configured one, or the
    /// 70th percentile of recent read-only run times (1 to 20 s; 5 s until 20 are known).
    pub fn short_query_limit_ms(&self) -> Option<u64> {
        let sqa = self.config.sqa.as_ref()?;
        if sqa.max_execution_time_ms > 0 {
            return Some(sqa.max_execution_time_ms);
        }
        if self.read_only_ms.len() < 20 {
            return Some(5_000);
        }
        let mut times: Vec<u64> = self.read_only_ms.iter().copied().collect();
        times.sort_unstable();
        Some(times[times.len() * 7 / 10].clamp(1_000, 20_000))
    }

    /// The predicted run time of a statement, in milliseconds: the median of its
    /// recent runs, else the leader's estimate.
    pub fn predict_ms(&self, fingerprint: u64, estimated_ms: Option<u64>) -> Option<u64> {
        match self.by_fingerprint.get(&fingerprint) {
            Some(runs) if !runs.is_empty() => {
                let mut runs: Vec<u64> = runs.iter().copied().collect();
                runs.sort_unstable();
                Some(runs[runs.len() / 2])
            }
            _ => estimated_ms,
        }
    }

    /// Queues `sub` in the class it routes to and admits whatever can start now
    /// (`sub` among them when its class has room).
    pub fn submit(&mut self, sub: Submission, now: i64) -> Result<Vec<Grant>, WlmError> {
        let slots = sub.slots.max(1);
        let route = self.config.route(&sub.who);
        let queue = match route {
            Route::Queue(i) => i,
            Route::Superuser => self.config.queues.len() - 1,
        };
        let mut class = match route {
            Route::Superuser => 0,
            Route::Queue(i) => self.queue_class(i),
        };
        let config = &self.classes[class];
        if !self.config.auto && slots > config.slots {
            return Err(WlmError::TooManySlots {
                queue: config.name.clone(),
                asked: slots,
                available: config.slots,
            });
        }
        let mut predicted_ms = None;
        if route != Route::Superuser
            && sub.kind.hops()
            && slots == 1
            && let Some(limit) = self.short_query_limit_ms()
        {
            predicted_ms = self.predict_ms(sub.fingerprint, sub.estimated_ms);
            if predicted_ms.is_some_and(|p| p < limit)
                && let Some(sqa) = self.class_of(SQA_CLASS)
            {
                class = sqa;
            }
        }
        let priority = if route == Route::Superuser {
            Priority::Critical
        } else {
            sub.priority
                .or_else(|| self.user_priorities.get(&sub.who.user).copied())
                .unwrap_or(self.config.queues[queue].priority)
        };
        let query = sub.query;
        self.entries.insert(
            query,
            Entry {
                sub: Submission { slots, ..sub },
                class,
                queue,
                priority,
                queued_at: now,
                started_at: None,
                class_started_at: now,
                grant: None,
                predicted_ms,
                logged: BTreeSet::new(),
            },
        );
        self.classes[class].waiting.push_back(query);
        Ok(self.schedule(now))
    }

    /// The memory a query of `class` gets if it starts now, or None when it must wait.
    fn fits(&self, class: usize, slots: u32) -> Option<u64> {
        let c = &self.classes[class];
        if c.queue.is_some() && self.config.auto {
            let pool = self.user_memory();
            let free = pool.saturating_sub(self.auto_used);
            let least = pool / AUTO_MIN_SHARE;
            // `wlm_query_slot_count` n asks for n times the usual grant, and waits
            // until n sixteenths are free.
            let n = u64::from(slots.clamp(1, AUTO_MIN_SHARE as u32));
            return (free >= least * n && free > 0).then(|| ((free / 2).max(least) * n).min(free));
        }
        (c.used_slots + slots <= c.slots)
            .then(|| c.memory_bytes * u64::from(slots) / u64::from(c.slots.max(1)))
    }

    fn effective_priority(&self, entry: &Entry, now: i64) -> Priority {
        let waited = (now - entry.queued_at).max(0) / AGING_MICROS;
        entry.priority.raised(waited as u64)
    }

    /// Admits waiting queries while their classes have room: each manual class in
    /// arrival order, the automatic queues together by priority, then arrival.
    pub fn schedule(&mut self, now: i64) -> Vec<Grant> {
        let mut granted = Vec::new();
        for class in 0..self.classes.len() {
            if self.config.auto && self.classes[class].queue.is_some() {
                continue;
            }
            while let Some(&query) = self.classes[class].waiting.front() {
                let slots = self.entries.get(&query).map_or(1, |e| e.sub.slots);
                let Some(memory) = self.fits(class, slots) else {
                    break;
                };
                self.classes[class].waiting.pop_front();
                granted.extend(self.start(query, class, memory, now));
            }
        }
        if self.config.auto {
            loop {
                let best = self
                    .classes
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.queue.is_some())
                    .flat_map(|(i, c)| c.waiting.iter().map(move |q| (i, *q)))
                    .filter_map(|(i, q)| self.entries.get(&q).map(|e| (i, q, e)))
                    .max_by(|(_, qa, a), (_, qb, b)| {
                        self.effective_priority(a, now)
                            .cmp(&self.effective_priority(b, now))
                            .then(b.queued_at.cmp(&a.queued_at))
                            .then(qb.cmp(qa))
                    })
                    .map(|(i, q, _)| (i, q));
                let Some((class, query)) = best else { break };
                let slots = self.entries.get(&query).map_or(1, |e| e.sub.slots);
                let Some(memory) = self.fits(class, slots) else {
                    break;
                };
                self.classes[class].waiting.retain(|q| *q != query);
                granted.extend(self.start(query, class, memory, now));
            }
        }
        granted
    }

    fn start(&mut self, query: u64, class: usize, memory: u64, now: i64) -> Option<Grant> {
        let auto = self.config.auto && self.classes[class].queue.is_some();
        let entry = self.entries.get_mut(&query)?;
        let slots = entry.sub.slots;
        let grant = Grant {
            query,
            service_class: self.classes[class].service_class,
            slots,
            memory_bytes: memory,
        };
        entry.started_at = Some(now);
        entry.class_started_at = now;
        entry.grant = Some(grant.clone());
        let c = &mut self.classes[class];
        c.used_slots += slots;
        c.used_memory += memory;
        c.serviced += 1;
        if auto {
            self.auto_used += memory;
        }
        Some(grant)
    }

    fn free(&mut self, entry: &Entry) {
        let Some(grant) = &entry.grant else { return };
        let auto = self.config.auto && self.classes[entry.class].queue.is_some();
        let c = &mut self.classes[entry.class];
        c.used_slots = c.used_slots.saturating_sub(grant.slots);
        c.used_memory = c.used_memory.saturating_sub(grant.memory_bytes);
        if auto {
            self.auto_used = self.auto_used.saturating_sub(grant.memory_bytes);
        }
    }

    /// Ends `query` (queued or running): frees its slots and memory, records it, and
    /// admits whatever can start now. Unknown queries are ignored.
    pub fn finish(&mut self, query: u64, ending: Ending, now: i64) -> Vec<Grant> {
        let Some(entry) = self.entries.remove(&query) else {
            return Vec::new();
        };
        self.classes[entry.class].waiting.retain(|q| *q != query);
        self.free(&entry);
        if let Some(started) = entry.started_at {
            let micros = (now - started).max(0);
            let c = &mut self.classes[entry.class];
            c.executed += 1;
            push_bounded(&mut c.recent_micros, micros, 50);
            if ending == Ending::Completed && entry.sub.kind.hops() {
                let ms = (micros / 1000) as u64;
                push_bounded(&mut self.read_only_ms, ms, 200);
                if self.by_fingerprint.len() > 10_000 {
                    self.by_fingerprint.clear();
                }
                push_bounded(
                    self.by_fingerprint
                        .entry(entry.sub.fingerprint)
                        .or_default(),
                    ms,
                    5,
                );
            }
        }
        self.record(&entry, ending.name(), now);
        self.schedule(now)
    }

    fn record(&mut self, entry: &Entry, final_state: &str, now: i64) {
        let c = &self.classes[entry.class];
        let started = entry.started_at;
        let row = HistoryRow {
            user_id: entry.sub.who.user_id,
            query: entry.sub.query,
            task: entry.sub.task,
            service_class: c.service_class,
            service_class_name: c.name.clone(),
            slot_count: entry.sub.slots,
            queue_start: entry.queued_at,
            queue_end: started.unwrap_or(now),
            exec_start: started.map(|_| entry.class_started_at),
            exec_end: started.map(|_| now),
            final_state: final_state.into(),
            priority: entry.priority,
            memory_bytes: entry.grant.as_ref().map_or(0, |g| g.memory_bytes),
            predicted_ms: entry.predicted_ms,
        };
        push_bounded(&mut self.history, row, HISTORY_CAPACITY);
    }

    fn record_rule(&mut self, query: u64, rule: &str, action: &str, now: i64) {
        let Some(entry) = self.entries.get(&query) else {
            return;
        };
        let row = RuleActionRow {
            user_id: entry.sub.who.user_id,
            query,
            service_class: self.classes[entry.class].service_class,
            rule: rule.into(),
            action: action.into(),
            recordtime: now,
        };
        push_bounded(&mut self.rule_actions, row, HISTORY_CAPACITY);
    }

    /// Moves running `query` to `class`, keeping its grant (the target may go over its
    /// slots until queries there end: the query keeps its progress).
    fn move_to(&mut self, query: u64, class: usize, final_state: &str, now: i64) {
        let Some(entry) = self.entries.remove(&query) else {
            return;
        };
        self.free(&entry);
        self.record(&entry, final_state, now);
        if final_state == "Evicted" {
            self.classes[entry.class].evicted += 1;
        }
        let mut entry = entry;
        entry.class = class;
        entry.class_started_at = now;
        if let Some(grant) = entry.grant.as_mut() {
            grant.service_class = self.classes[class].service_class;
            let auto = self.config.auto && self.classes[class].queue.is_some();
            let c = &mut self.classes[class];
            c.used_slots += grant.slots;
            c.used_memory += grant.memory_bytes;
            c.serviced += 1;
            if auto {
                self.auto_used += grant.memory_bytes;
            }
        }
        self.entries.insert(query, entry);
    }

    /// Checks the running queries against their queues' rules, WLM timeouts and the
    /// short-query limit, given each one's metrics.
    pub fn check(&mut self, now: i64, metrics: &dyn Fn(u64) -> QueryMetrics) -> Checked {
        let mut out = Checked::default();
        for query in self.running() {
            let Some(entry) = self.entries.get(&query) else {
                continue;
            };
            let class = &self.classes[entry.class];
            let exec = now - entry.class_started_at;
            let kind = entry.sub.kind;
            let task = entry.sub.task;
            if class.service_class == SQA_CLASS {
                let limit = self.short_query_limit_ms().unwrap_or(0) as i64 * 1000;
                if exec > limit {
                    let target = self.queue_class(entry.queue);
                    self.move_to(query, target, "Evicted", now);
                }
                continue;
            }
            let Some(queue) = class.queue else { continue };
            if kind.exempt() {
                continue;
            }
            let config = self.config.queues[queue].clone();
            let timeout = config.max_execution_time_ms as i64 * 1000;
            let queue_micros = entry.started_at.unwrap_or(now) - entry.queued_at;
            let measured = metrics(query);
            let acting = most_severe(
                config
                    .rules
                    .iter()
                    .filter(|r| r.matches(&measured, queue_micros, exec)),
            )
            .cloned();
            if let Some(rule) = acting {
                match rule.action {
                    Action::Log | Action::ChangePriority(_) => {
                        let entry = self.entries.get_mut(&query).expect("checked above");
                        if entry.logged.insert(rule.name.clone()) {
                            if let Action::ChangePriority(p) = rule.action {
                                entry.priority = p;
                            }
                            self.record_rule(query, &rule.name, rule.action.name(), now);
                        }
                    }
                    Action::Hop => {
                        let action = self.hop(query, now);
                        self.record_rule(query, &rule.name, action, now);
                        if action == "hop(cancel)" {
                            self.entries
                                .get_mut(&query)
                                .map(|e| e.logged.insert(rule.name.clone()));
                            out.stops.push(Stop {
                                query,
                                task,
                                message: format!(
                                    "Query ({query}) cancelled by WLM hop action of Query Monitoring Rule \"{}\": no other queue matches it.",
                                    rule.name
                                ),
                            });
                        }
                    }
                    Action::Abort => {
                        if self
                            .entries
                            .get_mut(&query)
                            .is_some_and(|e| e.logged.insert(rule.name.clone()))
                        {
                            self.record_rule(query, &rule.name, "abort", now);
                            out.stops.push(Stop {
                                query,
                                task,
                                message: format!(
                                    "Query ({query}) cancelled by WLM abort action of Query Monitoring Rule \"{}\".",
                                    rule.name
                                ),
                            });
                        }
                    }
                }
                if rule.action.severity() >= Action::Hop.severity() {
                    continue;
                }
            }
            if timeout > 0 && exec > timeout {
                let cancel = if kind.hops() {
                    self.hop(query, now) == "hop(cancel)"
                } else {
                    true
                };
                if cancel
                    && self
                        .entries
                        .get_mut(&query)
                        .is_some_and(|e| e.logged.insert("wlm timeout".into()))
                {
                    out.stops.push(Stop {
                        query,
                        task,
                        message: format!(
                            "Query ({query}) cancelled on user's request or by WLM timeout ({} ms) of queue \"{}\".",
                            config.max_execution_time_ms, config.name
                        ),
                    });
                }
            }
        }
        out.granted = self.schedule(now);
        out
    }

    /// Hops running `query` to the next queue after its own that it matches; the
    /// action's name, `hop(cancel)` when no queue matches.
    fn hop(&mut self, query: u64, now: i64) -> &'static str {
        let Some(entry) = self.entries.get(&query) else {
            return "none";
        };
        let Some(current) = self.classes[entry.class].queue else {
            return "none";
        };
        let next = self
            .config
            .matching_queues(&entry.sub.who, Some(current))
            .first()
            .copied();
        match next {
            Some(q) => {
                let target = self.queue_class(q);
                self.move_to(query, target, "Hopped", now);
                if let Some(e) = self.entries.get_mut(&query) {
                    e.queue = q;
                }
                "hop(reassign)"
            }
            None => "hop(cancel)",
        }
    }

    /// `change_query_priority`: sets a queued or running query's priority (automatic
    /// WLM only; CRITICAL only for superusers).
    pub fn change_query_priority(
        &mut self,
        query: u64,
        priority: Priority,
        by_superuser: bool,
    ) -> Result<(), WlmError> {
        if !self.config.auto {
            return Err(WlmError::Unsupported(
                "query priorities under manual WLM (they need auto_wlm)".into(),
            ));
        }
        if priority == Priority::Critical && !by_superuser {
            return Err(WlmError::NotPermitted(
                "only a superuser can give a query CRITICAL priority".into(),
            ));
        }
        let entry = self
            .entries
            .get_mut(&query)
            .ok_or(WlmError::NoSuchQuery(query))?;
        entry.priority = priority;
        Ok(())
    }

    /// `change_user_priority`: the priority of `user`'s queries from now on (None:
    /// their queues' again).
    pub fn change_user_priority(&mut self, user: &str, priority: Option<Priority>) {
        match priority {
            Some(p) => self.user_priorities.insert(user.into(), p),
            None => self.user_priorities.remove(user),
        };
    }

    /// Takes `config` in place of the one in force: queues keep their queries
    /// (matched by name; a removed queue's go to the default queue) and running
    /// queries keep their grants; slots added or removed take effect as they end.
    pub fn reconfigure(&mut self, config: WlmConfig, now: i64) -> Vec<Grant> {
        let old: Vec<(i32, String)> = self
            .classes
            .iter()
            .map(|c| (c.service_class, c.name.clone()))
            .collect();
        let mut entries = std::mem::take(&mut self.entries);
        let order: Vec<u64> = self
            .classes
            .iter()
            .flat_map(|c| c.waiting.clone())
            .collect();
        self.config = config;
        self.classes = self.build_classes();
        self.auto_used = 0;
        let default = self.queue_class(self.config.queues.len() - 1);
        for entry in entries.values_mut() {
            let (service_class, name) = &old[entry.class];
            entry.class = self
                .classes
                .iter()
                .position(|c| {
                    c.service_class == *service_class && c.queue.is_none()
                        || c.queue.is_some() && c.name.eq_ignore_ascii_case(name)
                })
                .unwrap_or(default);
            entry.queue = self.classes[entry.class]
                .queue
                .unwrap_or(self.config.queues.len() - 1);
            if let Some(grant) = entry.grant.as_mut() {
                let auto = self.config.auto && self.classes[entry.class].queue.is_some();
                grant.service_class = self.classes[entry.class].service_class;
                let c = &mut self.classes[entry.class];
                c.used_slots += grant.slots;
                c.used_memory += grant.memory_bytes;
                if auto {
                    self.auto_used += grant.memory_bytes;
                }
            }
        }
        for query in order {
            if let Some(e) = entries.get(&query) {
                self.classes[e.class].waiting.push_back(query);
            }
        }
        self.entries = entries;
        self.schedule(now)
    }
}
