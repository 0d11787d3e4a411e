//! [`WlmConfig`]: Redshift's `wlm_json_configuration`, parsed and checked.
//!
//! The JSON array is taken verbatim: one object per queue (the last is the default
//! queue) and an optional trailing object with `short_query_queue`. A config that
//! Redshift would refuse is refused here, with the queue and the property at fault.

use serde_json::{Map, Value};

use crate::WlmError;
pub use crate::priority::Priority;
use crate::rules::{Action, Metric, Predicate, Rule, RuleOp};

/// User queues at most (service classes 6-13 or 100-107).
pub const MAX_USER_QUEUES: usize = 8;
/// Slots of all manual queues together.
pub const MAX_MANUAL_SLOTS: u32 = 50;
/// Query monitoring rules of all queues together.
pub const MAX_RULES: usize = 25;
/// Predicates of one rule.
pub const MAX_PREDICATES: usize = 3;

/// One user queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    pub name: String,
    /// Manual WLM: queries that may run at once (1 to 50). Automatic WLM decides.
    pub query_concurrency: u32,
    /// Manual WLM: the queue's share of query memory in percent; `None` shares what
    /// the queues that name one leave.
    pub memory_percent_to_use: Option<u32>,
    pub user_groups: Vec<String>,
    pub user_group_wild_card: bool,
    pub query_groups: Vec<String>,
    pub query_group_wild_card: bool,
    /// The WLM timeout in milliseconds (0: none).
    pub max_execution_time_ms: u64,
    /// Automatic WLM's priority of the queue's queries.
    pub priority: Priority,
    pub rules: Vec<Rule>,
}

impl QueueConfig {
    /// A queue named `name` with Redshift's defaults (5 slots, no groups).
    pub fn named(name: &str) -> Self {
        QueueConfig {
            name: name.into(),
            query_concurrency: 5,
            memory_percent_to_use: None,
            user_groups: vec![],
            user_group_wild_card: false,
            query_groups: vec![],
            query_group_wild_card: false,
            max_execution_time_ms: 0,
            priority: Priority::Normal,
            rules: vec![],
        }
    }
}

/// Short query acceleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqaConfig {
    /// Queries predicted to run for less than this many milliseconds are short
    /// (1000 to 20000); 0 learns the limit from recent queries.
    pub max_execution_time_ms: u64,
}

/// The whole WLM configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WlmConfig {
    /// Automatic WLM: concurrency and memory from the load, queues by priority.
    pub auto: bool,
    /// The user queues; the last is the default queue.
    pub queues: Vec<QueueConfig>,
    pub sqa: Option<SqaConfig>,
}

impl Default for WlmConfig {
    /// Redshift's default: automatic WLM, one queue, short query acceleration on.
    fn default() -> Self {
        WlmConfig {
            auto: true,
            queues: vec![QueueConfig::named("Default queue")],
            sqa: Some(SqaConfig {
                max_execution_time_ms: 0,
            }),
        }
    }
}

fn bad(at: &str, property: &str, message: impl Into<String>) -> WlmError {
    WlmError::Config {
        at: at.into(),
        property: property.into(),
        message: message.into(),
    }
}

impl WlmConfig {
    /// Parses `wlm_json_configuration` text.
    pub fn parse_json(text: &str) -> Result<WlmConfig, WlmError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad(
                "the configuration",
                "",
                format!(
                    "is not JSON: {e} (at line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        WlmConfig::from_json(&value)
    }

    /// The configuration of a parsed `wlm_json_configuration` array.
    pub fn from_json(value: &Value) -> Result<WlmConfig, WlmError> {
        let Value::Array(items) = value else {
            return Err(bad(
                "the configuration",
                "",
                "must be a JSON array of queues",
            ));
        };
        let mut queues = Vec::new();
        let mut sqa = None;
        let mut auto = None;
        for (i, item) in items.iter().enumerate() {
            let at = format!("queue {}", i + 1);
            let Value::Object(map) = item else {
                return Err(bad(&at, "", "must be a JSON object"));
            };
            if map.contains_key("short_query_queue") {
                if i + 1 != items.len() {
                    return Err(bad(
                        &at,
                        "short_query_queue",
                        "goes in the last object of the array",
                    ));
                }
                sqa = parse_sqa(map)?;
                continue;
            }
            let queue = parse_queue(map, &at, &mut auto)?;
            queues.push(queue);
        }
        let auto = auto.unwrap_or(false);
        check(&queues, auto)?;
        if queues.is_empty() {
            queues.push(QueueConfig::named("Default queue"));
        }
        Ok(WlmConfig { auto, queues, sqa })
    }

    /// The service class of user queue `index`: 6-13 under manual WLM, 100-107 under
    /// automatic WLM.
    pub fn service_class(&self, index: usize) -> i32 {
        let base = if self.auto { 100 } else { 6 };
        base + index as i32
    }
}

fn parse_sqa(map: &Map<String, Value>) -> Result<Option<SqaConfig>, WlmError> {
    let at = "the short_query_queue object";
    let mut on = false;
    let mut max = 0;
    for (key, value) in map {
        match key.as_str() {
            "short_query_queue" => {
                on = flag(value).ok_or_else(|| bad(at, key, "is true or false"))?
            }
            "max_execution_time" => {
                max = value
                    .as_u64()
                    .filter(|v| *v == 0 || (1000..=20_000).contains(v))
                    .ok_or_else(|| {
                        bad(
                            at,
                            key,
                            format!("is 0 (dynamic) or 1000 to 20000 ms, not {value}"),
                        )
                    })?
            }
            other => {
                return Err(bad(
                    at,
                    other,
                    "is not a property of short query acceleration",
                ));
            }
        }
    }
    Ok(on.then_some(SqaConfig {
        max_execution_time_ms: max,
    }))
}

/// `true`/`false`, or Redshift's 1/0 for wild card switches.
fn flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn strings(value: &Value, at: &str, key: &str) -> Result<Vec<String>, WlmError> {
    let list = match value {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        Value::String(_) => vec![value],
        _ => return Err(bad(at, key, "is a list of names")),
    };
    list.into_iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(at, key, format!("lists names, not {v}")))
        })
        .collect()
}

fn parse_queue(
    map: &Map<String, Value>,
    at: &str,
    auto: &mut Option<bool>,
) -> Result<QueueConfig, WlmError> {
    let mut queue = QueueConfig::named("");
    let mut at = at.to_string();
    if let Some(name) = map.get("name") {
        queue.name = name
            .as_str()
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| bad(&at, "name", "is a non-empty string"))?
            .to_string();
        at = format!("{at} (\"{}\")", queue.name);
    }
    for (key, value) in map {
        let number = || {
            value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| bad(&at, key, format!("is a whole number, not {value}")))
        };
        match key.as_str() {
            "name" => {}
            "auto_wlm" => {
                let on = flag(value).ok_or_else(|| bad(&at, key, "is true or false"))?;
                if auto.is_some_and(|a| a != on) {
                    return Err(bad(&at, key, "differs from an earlier queue's"));
                }
                *auto = Some(on);
            }
            "query_concurrency" => {
                let n = number()?;
                if !(1..=50).contains(&n) {
                    return Err(bad(&at, key, format!("is 1 to 50, not {n}")));
                }
                queue.query_concurrency = n as u32;
            }
            "memory_percent_to_use" => {
                let n = number()?;
                if !(1..=100).contains(&n) {
                    return Err(bad(&at, key, format!("is 1 to 100, not {n}")));
                }
                queue.memory_percent_to_use = Some(n as u32);
            }
            "max_execution_time" => queue.max_execution_time_ms = number()?,
            "user_group" => queue.user_groups = strings(value, &at, key)?,
            "query_group" => queue.query_groups = strings(value, &at, key)?,
            "user_group_wild_card" => {
                queue.user_group_wild_card =
                    flag(value).ok_or_else(|| bad(&at, key, "is 0 or 1"))?
            }
            "query_group_wild_card" => {
                queue.query_group_wild_card =
                    flag(value).ok_or_else(|| bad(&at, key, "is 0 or 1"))?
            }
            "priority" => {
                queue.priority = value
                    .as_str()
                    .and_then(Priority::parse)
                    .filter(|p| *p != Priority::Critical)
                    .ok_or_else(|| {
                        bad(
                            &at,
                            key,
                            format!("is highest, high, normal, low or lowest, not {value}"),
                        )
                    })?
            }
            "queue_type" => match value.as_str() {
                Some("auto") | Some("manual") => {}
                _ => return Err(bad(&at, key, "is auto or manual")),
            },
            "concurrency_scaling" => match value.as_str() {
                Some("off") => {}
                Some("auto") => {
                    return Err(WlmError::Unsupported(format!(
                        "{at}: concurrency_scaling \"auto\" (there are no scaling clusters)"
                    )));
                }
                _ => return Err(bad(&at, key, "is auto or off")),
            },
            "rules" => {
                let Value::Array(rules) = value else {
                    return Err(bad(&at, key, "is a list of rules"));
                };
                for rule in rules {
                    queue.rules.push(parse_rule(rule, &at)?);
                }
            }
            "user_role" | "user_role_wild_card" => {
                return Err(WlmError::Unsupported(format!(
                    "{at}: {key} (route by user group or query group)"
                )));
            }
            other => return Err(bad(&at, other, "is not a property of a WLM queue")),
        }
    }
    if queue.name.is_empty() {
        queue.name = at.replace("queue ", "Queue ");
    }
    Ok(queue)
}

fn parse_rule(value: &Value, queue: &str) -> Result<Rule, WlmError> {
    let Value::Object(map) = value else {
        return Err(bad(queue, "rules", "lists JSON objects"));
    };
    let name = map
        .get("rule_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && n.len() <= 32)
        .ok_or_else(|| {
            bad(
                queue,
                "rules",
                "each rule has a rule_name of 1 to 32 characters",
            )
        })?;
    let at = format!("{queue}, rule \"{name}\"");
    let Some(Value::Array(predicates)) = map.get("predicate") else {
        return Err(bad(&at, "predicate", "is a list of 1 to 3 predicates"));
    };
    if predicates.is_empty() || predicates.len() > MAX_PREDICATES {
        return Err(bad(
            &at,
            "predicate",
            format!("has 1 to 3 predicates, not {}", predicates.len()),
        ));
    }
    let predicates = predicates
        .iter()
        .map(|p| parse_predicate(p, &at))
        .collect::<Result<Vec<_>, _>>()?;
    let action = match map.get("action").and_then(Value::as_str) {
        Some("log") => Action::Log,
        Some("hop") => Action::Hop,
        Some("abort") => Action::Abort,
        Some("change_query_priority") => {
            let priority = map
                .get("value")
                .and_then(Value::as_str)
                .and_then(Priority::parse)
                .filter(|p| *p != Priority::Critical)
                .ok_or_else(|| {
                    bad(
                        &at,
                        "value",
                        "names the new priority (highest, high, normal, low or lowest)",
                    )
                })?;
            Action::ChangePriority(priority)
        }
        _ => {
            return Err(bad(
                &at,
                "action",
                "is log, hop, abort or change_query_priority",
            ));
        }
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "rule_name" | "predicate" | "action" | "value") {
            return Err(bad(&at, key, "is not a property of a rule"));
        }
    }
    Ok(Rule {
        name: name.into(),
        predicates,
        action,
    })
}

fn parse_predicate(value: &Value, at: &str) -> Result<Predicate, WlmError> {
    let field = |key: &str| value.get(key);
    let metric_name = field("metric_name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(at, "metric_name", "each predicate names a metric"))?;
    let metric = Metric::parse(metric_name).ok_or_else(|| {
        bad(
            at,
            "metric_name",
            format!("\"{metric_name}\" is not a query monitoring metric"),
        )
    })?;
    if !metric.measured() {
        return Err(WlmError::Unsupported(format!(
            "{at}: the metric {metric_name} (not measured yet)"
        )));
    }
    let op = match field("operator").and_then(Value::as_str) {
        Some("<") => RuleOp::Less,
        Some("=") => RuleOp::Equal,
        Some(">") => RuleOp::Greater,
        _ => return Err(bad(at, "operator", "is <, = or >")),
    };
    let value = field("value")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .filter(|v| *v >= 0)
        .ok_or_else(|| bad(at, "value", format!("is a number for {metric_name}")))?;
    Ok(Predicate { metric, op, value })
}

fn check(queues: &[QueueConfig], auto: bool) -> Result<(), WlmError> {
    if queues.len() > MAX_USER_QUEUES {
        return Err(bad(
            "the configuration",
            "",
            format!("has {} queues; at most 8", queues.len()),
        ));
    }
    if let Some(last) = queues.last()
        && (!last.user_groups.is_empty() || !last.query_groups.is_empty())
    {
        return Err(bad(
            &format!("queue {} (\"{}\")", queues.len(), last.name),
            if last.user_groups.is_empty() {
                "query_group"
            } else {
                "user_group"
            },
            "the last queue is the default queue, which takes every query no other queue does",
        ));
    }
    let mut names = std::collections::HashSet::new();
    for q in queues {
        if !names.insert(q.name.to_ascii_lowercase()) {
            return Err(bad(
                &format!("queue \"{}\"", q.name),
                "name",
                "names another queue too",
            ));
        }
    }
    if !auto {
        let slots: u32 = queues.iter().map(|q| q.query_concurrency).sum();
        if slots > MAX_MANUAL_SLOTS {
            return Err(bad(
                "the configuration",
                "query_concurrency",
                format!("adds up to {slots} slots; at most 50"),
            ));
        }
        let percent: u32 = queues.iter().filter_map(|q| q.memory_percent_to_use).sum();
        if percent > 100 {
            return Err(bad(
                "the configuration",
                "memory_percent_to_use",
                format!("adds up to {percent}%; at most 100"),
            ));
        }
    }
    let rules: usize = queues.iter().map(|q| q.rules.len()).sum();
    if rules > MAX_RULES {
        return Err(bad(
            "the configuration",
            "rules",
            format!("has {rules} rules; at most 25"),
        ));
    }
    Ok(())
}
