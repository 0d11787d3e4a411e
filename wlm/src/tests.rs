//! WLM on a manual clock: configs, routing, admission order, short query
//! acceleration, rules and a simulation of arrivals.

use crate::manager::{SQA_CLASS, SUPERUSER_CLASS};
use crate::*;

const SEC: i64 = 1_000_000;
const GIB: u64 = 1 << 30;

fn who(user: &str, groups: &[&str], query_group: &str) -> Requester {
    Requester {
        user: user.into(),
        user_id: 100,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        superuser: false,
        query_group: query_group.into(),
    }
}

fn submission(query: u64, who: Requester, kind: QueryKind) -> Submission {
    Submission {
        query,
        task: 1000 + query as i32,
        who,
        slots: 1,
        kind,
        fingerprint: query,
        estimated_ms: None,
        priority: None,
    }
}

fn no_metrics(_: u64) -> QueryMetrics {
    QueryMetrics::default()
}

const MANUAL: &str = r#"[
  {"name": "etl", "query_concurrency": 2, "memory_percent_to_use": 50,
   "user_group": ["etl"], "query_group": ["load*"], "query_group_wild_card": 1,
   "max_execution_time": 60000,
   "rules": [{"rule_name": "too_long", "action": "abort",
              "predicate": [{"metric_name": "query_execution_time", "operator": ">", "value": 120}]}]},
  {"name": "dash", "query_concurrency": 3, "query_group": ["dash"],
   "rules": [{"rule_name": "big_scan", "action": "hop",
              "predicate": [{"metric_name": "scan_row_count", "operator": ">", "value": 1000000}]},
             {"rule_name": "note", "action": "log",
              "predicate": [{"metric_name": "scan_row_count", "operator": ">", "value": 10}]}]},
  {"query_concurrency": 1}
]"#;

#[test]
fn redshift_configs_parse_and_bad_ones_name_queue_and_property() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(MANUAL)?;
    assert!(!config.auto);
    assert_eq!(config.queues.len(), 3);
    assert_eq!(config.queues[2].name, "Queue 3");
    assert_eq!(config.service_class(1), 7);
    assert!(config.sqa.is_none());
    let auto = WlmConfig::parse_json(
        r#"[{"auto_wlm": true, "priority": "high", "user_group": ["bi"]},
            {"auto_wlm": true}, {"short_query_queue": true, "max_execution_time": 5000}]"#,
    )?;
    assert!(auto.auto);
    assert_eq!(auto.service_class(0), 100);
    assert_eq!(auto.queues[0].priority, Priority::High);
    assert_eq!(auto.sqa.map(|s| s.max_execution_time_ms), Some(5000));

    let error = |text: &str| {
        WlmConfig::parse_json(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        error(r#"[{"name": "etl", "query_concurrency": 0}, {}]"#),
        "invalid wlm_json_configuration: queue 1 (\"etl\"), property \"query_concurrency\": is 1 to 50, not 0"
    );
    assert!(
        error(r#"[{"query_concurency": 3}]"#).contains("\"query_concurency\": is not a property")
    );
    assert!(
        error(r#"[{"query_concurrency": 30}, {"query_concurrency": 30}]"#)
            .contains("adds up to 60 slots")
    );
    assert!(error(r#"[{"user_group": ["x"]}]"#).contains("the last queue is the default queue"));
    assert!(error(r#"[{"query_concurrency": 2,}]"#).contains("is not JSON"));
    assert!(error(r#"[{"rules": [{"rule_name": "r", "action": "abort", "predicate": [{"metric_name": "query_cpu_time", "operator": ">", "value": 1}]}]}]"#)
        .contains("query_cpu_time (not measured yet) is not supported"));
    assert!(error(r#"[{"rules": [{"rule_name": "r", "action": "explode", "predicate": [{"metric_name": "return_row_count", "operator": ">", "value": 1}]}]}]"#)
        .contains("rule \"r\", property \"action\""));
    Ok(())
}

#[test]
fn queries_route_by_user_group_query_group_and_superuser() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(MANUAL)?;
    assert_eq!(config.route(&who("ann", &["etl"], "")), Route::Queue(0));
    assert_eq!(
        config.route(&who("bob", &[], "loads_nightly")),
        Route::Queue(0)
    );
    assert_eq!(config.route(&who("bob", &[], "dash")), Route::Queue(1));
    assert_eq!(config.route(&who("bob", &[], "dashboard")), Route::Queue(2));
    assert_eq!(config.route(&who("bob", &[], "nothing")), Route::Queue(2));
    let mut admin = who("admin", &[], "superuser");
    assert_eq!(config.route(&admin), Route::Queue(2));
    admin.superuser = true;
    assert_eq!(config.route(&admin), Route::Superuser);
    Ok(())
}

#[test]
fn manual_queues_admit_in_arrival_order_with_their_memory() -> Result<(), WlmError> {
    let mut wlm = Wlm::new(WlmConfig::parse_json(MANUAL)?, 16 * GIB);
    let etl = || who("ann", &["etl"], "");
    let first = wlm.submit(submission(1, etl(), QueryKind::Copy), 0)?;
    // User queues share 15/16 of the memory (the superuser slot keeps 1/16); etl has
    // half of it over 2 slots.
    assert_eq!(first[0].memory_bytes, 15 * GIB / 2 / 2);
    assert_eq!(first[0].service_class, 6);
    let mut big = submission(2, etl(), QueryKind::Copy);
    big.slots = 2;
    assert_eq!(wlm.submit(big, SEC)?, vec![]);
    // A one-slot query behind the two-slot one waits too: the queue is FIFO.
    assert_eq!(
        wlm.submit(submission(3, etl(), QueryKind::Copy), 2 * SEC)?,
        vec![]
    );
    let states = wlm.query_states(3 * SEC);
    assert_eq!(states[1].state, "Queued");
    assert_eq!(
        states.iter().map(|s| s.position).collect::<Vec<_>>(),
        [None, Some(0), Some(1)]
    );
    assert_eq!(
        states[2].wait_reason,
        "no free slot in queue \"etl\" (1 of 2 slots in use); 1 queries ahead"
    );
    let next = wlm.finish(1, Ending::Completed, 10 * SEC);
    assert_eq!(next.iter().map(|g| g.query).collect::<Vec<_>>(), vec![2]);
    assert_eq!(next[0].memory_bytes, 15 * GIB / 2);
    let next = wlm.finish(2, Ending::Completed, 20 * SEC);
    assert_eq!(next.iter().map(|g| g.query).collect::<Vec<_>>(), vec![3]);
    let mut too_many = submission(4, etl(), QueryKind::Select);
    too_many.slots = 3;
    assert!(matches!(
        wlm.submit(too_many, 0),
        Err(WlmError::TooManySlots { .. })
    ));
    let history = wlm.history();
    assert_eq!(history[0].query, 1);
    assert_eq!(history[1].queue_end - history[1].queue_start, 9 * SEC);
    assert_eq!(history[1].final_state, "Completed");
    // The superuser queue is always open to a superuser who asks for it.
    let mut admin = who("admin", &[], "superuser");
    admin.superuser = true;
    let granted = wlm.submit(submission(5, admin, QueryKind::Select), 0)?;
    assert_eq!(granted[0].service_class, SUPERUSER_CLASS);
    Ok(())
}

#[test]
fn automatic_wlm_gives_memory_by_load_and_priority_first() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(
        r#"[{"auto_wlm": true, "name": "bi", "priority": "highest", "query_group": ["bi"]},
            {"auto_wlm": true, "priority": "lowest"}]"#,
    )?;
    let mut wlm = Wlm::new(config, 16 * GIB);
    let pool = 15 * GIB;
    // Alone, a query takes half the pool; the next ones half of what is left, down
    // to a sixteenth.
    let grants: Vec<u64> = (1..=6)
        .flat_map(|q| wlm.submit(submission(q, who("u", &[], ""), QueryKind::Select), 0))
        .flatten()
        .map(|g| g.memory_bytes)
        .collect();
    assert_eq!(grants[..4], [pool / 2, pool / 4, pool / 8, pool / 16]);
    assert_eq!(grants.len(), 5);
    // wlm_query_slot_count 3 asks for three times as much, up to what is free.
    let mut wide = Wlm::new(WlmConfig::default(), 16 * GIB);
    let mut three = submission(1, who("u", &[], ""), QueryKind::Select);
    three.slots = 3;
    let granted = wide.submit(three, 0)?;
    assert_eq!(granted.first().map(|g| g.memory_bytes), Some(12 * GIB));
    // Queued: lowest-priority queries 6 and 7, then a highest one; it starts first,
    // then the others in arrival order.
    wlm.submit(submission(7, who("u", &[], ""), QueryKind::Select), SEC)?;
    wlm.submit(
        submission(8, who("u", &[], "bi"), QueryKind::Select),
        2 * SEC,
    )?;
    let started = wlm.finish(1, Ending::Completed, 3 * SEC);
    let order: Vec<u64> = started.iter().map(|g| g.query).collect();
    assert_eq!(order, vec![8, 6, 7]);
    // HIGH goes ahead of LOWEST; a LOWEST that waited long enough rises past it.
    let order_after = |high_at: i64, finish_at: i64| -> Result<Vec<u64>, WlmError> {
        let mut wlm = Wlm::new(WlmConfig::default(), 16 * GIB);
        for q in 1..=5 {
            wlm.submit(submission(q, who("u", &[], ""), QueryKind::Copy), 0)?;
        }
        let mut low = submission(10, who("u", &[], ""), QueryKind::Copy);
        low.priority = Some(Priority::Lowest);
        wlm.submit(low, 0)?;
        let mut high = submission(11, who("u", &[], ""), QueryKind::Copy);
        high.priority = Some(Priority::High);
        wlm.submit(high, high_at)?;
        Ok(wlm
            .finish(1, Ending::Completed, finish_at)
            .iter()
            .map(|g| g.query)
            .collect())
    };
    assert_eq!(order_after(10 * SEC, 11 * SEC)?, vec![11, 10]);
    assert_eq!(order_after(140 * SEC, 151 * SEC)?, vec![10, 11]);
    Ok(())
}

#[test]
fn short_queries_run_in_class_14_and_overruns_are_evicted() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(
        r#"[{"query_concurrency": 1}, {"short_query_queue": true, "max_execution_time": 2000}]"#,
    )?;
    let mut wlm = Wlm::new(config, 16 * GIB);
    // The queue's one slot is busy with a long load.
    wlm.submit(submission(1, who("u", &[], ""), QueryKind::Copy), 0)?;
    let mut short = submission(2, who("u", &[], ""), QueryKind::Select);
    short.estimated_ms = Some(100);
    let granted = wlm.submit(short, SEC)?;
    assert_eq!(granted[0].service_class, SQA_CLASS);
    // An unknown statement with no estimate waits in its queue.
    assert_eq!(
        wlm.submit(submission(3, who("u", &[], ""), QueryKind::Select), SEC)?,
        vec![]
    );
    // Query 2 runs past the 2 s limit: it moves to its queue and keeps running.
    let checked = wlm.check(4 * SEC, &no_metrics);
    assert!(checked.stops.is_empty());
    let states = wlm.query_states(4 * SEC);
    let two = states
        .iter()
        .find(|s| s.query == 2)
        .map(|s| (s.service_class, s.state));
    assert_eq!(two, Some((6, "Running")));
    assert_eq!(
        wlm.history().last().map(|h| h.final_state.as_str()),
        Some("Evicted")
    );
    assert_eq!(
        wlm.class_states()
            .iter()
            .find(|c| c.service_class == SQA_CLASS)
            .map(|c| c.num_evicted_queries),
        Some(1)
    );
    // A statement seen before is predicted from its runs, not the estimate.
    wlm.finish(2, Ending::Completed, 5 * SEC);
    let mut again = submission(4, who("u", &[], ""), QueryKind::Select);
    again.fingerprint = 2;
    again.estimated_ms = Some(1);
    assert_eq!(wlm.predict_ms(2, Some(1)), Some(4000));
    assert_eq!(wlm.submit(again, 6 * SEC)?, vec![]);
    Ok(())
}

#[test]
fn rules_abort_hop_and_log_and_timeouts_spare_copy() -> Result<(), WlmError> {
    let mut wlm = Wlm::new(WlmConfig::parse_json(MANUAL)?, 16 * GIB);
    let etl = who("ann", &["etl"], "");
    wlm.submit(submission(1, etl.clone(), QueryKind::Select), 0)?;
    wlm.submit(submission(2, etl.clone(), QueryKind::Copy), 0)?;
    // At 61 s the etl queue's 60 s timeout hops the SELECT to the default queue; the
    // COPY runs on.
    let checked = wlm.check(61 * SEC, &no_metrics);
    assert!(checked.stops.is_empty());
    let class_of = |wlm: &Wlm, q: u64| {
        wlm.query_states(0)
            .iter()
            .find(|s| s.query == q)
            .map(|s| s.service_class)
    };
    assert_eq!(class_of(&wlm, 1), Some(8));
    assert_eq!(class_of(&wlm, 2), Some(6));
    // A write past the timeout is cancelled.
    wlm.submit(submission(3, etl.clone(), QueryKind::Write), 61 * SEC)?;
    let checked = wlm.check(122 * SEC, &no_metrics);
    assert_eq!(checked.stops.len(), 1);
    assert!(
        checked.stops[0]
            .message
            .contains("WLM timeout (60000 ms) of queue \"etl\"")
    );
    // A scan past 10 rows is logged once; past a million rows the query hops.
    let dash = who("bob", &[], "dash");
    wlm.submit(submission(4, dash, QueryKind::Select), 0)?;
    let rows = |n| {
        move |_q: u64| QueryMetrics {
            scan_row_count: Some(n),
            ..QueryMetrics::default()
        }
    };
    wlm.check(123 * SEC, &rows(100));
    wlm.check(124 * SEC, &rows(200));
    let actions: Vec<_> = wlm
        .rule_actions()
        .into_iter()
        .map(|a| (a.query, a.rule, a.action))
        .collect();
    assert_eq!(actions, vec![(4, "note".to_string(), "log".to_string())]);
    wlm.check(125 * SEC, &rows(2_000_000));
    assert_eq!(class_of(&wlm, 4), Some(8));
    assert_eq!(
        wlm.rule_actions().last().map(|a| a.action.clone()),
        Some("hop(reassign)".into())
    );
    // The abort rule of a queue with no timeout: a superuser config.
    let config = WlmConfig::parse_json(
        r#"[{"rules": [{"rule_name": "stop_it", "action": "abort",
              "predicate": [{"metric_name": "return_row_count", "operator": ">", "value": 5},
                            {"metric_name": "query_execution_time", "operator": ">", "value": 1}]}]}]"#,
    )?;
    let mut wlm = Wlm::new(config, GIB);
    wlm.submit(submission(9, who("u", &[], ""), QueryKind::Select), 0)?;
    let returned = |_q: u64| QueryMetrics {
        return_row_count: Some(6),
        ..QueryMetrics::default()
    };
    assert!(
        wlm.check(SEC, &returned).stops.is_empty(),
        "both predicates must hold"
    );
    let checked = wlm.check(3 * SEC, &returned);
    assert_eq!(
        checked.stops.first().map(|s| s.message.as_str()),
        Some("Query (9) cancelled by WLM abort action of Query Monitoring Rule \"stop_it\".")
    );
    assert!(
        wlm.check(4 * SEC, &returned).stops.is_empty(),
        "a query is stopped once"
    );
    Ok(())
}

#[test]
fn reconfiguring_keeps_running_grants_and_moves_waiting_queries() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(r#"[{"name": "q", "query_concurrency": 1}]"#)?;
    let mut wlm = Wlm::new(config, 16 * GIB);
    let g = wlm.submit(submission(1, who("u", &[], ""), QueryKind::Select), 0)?;
    wlm.submit(submission(2, who("u", &[], ""), QueryKind::Select), 0)?;
    let wider = WlmConfig::parse_json(r#"[{"name": "q", "query_concurrency": 3}]"#)?;
    let started = wlm.reconfigure(wider, SEC);
    assert_eq!(started.iter().map(|g| g.query).collect::<Vec<_>>(), vec![2]);
    let one = wlm.query_states(SEC).into_iter().find(|s| s.query == 1);
    assert_eq!(
        one.map(|s| s.memory_bytes),
        g.first().map(|g| g.memory_bytes)
    );
    assert_eq!(wlm.class_configs()[1].num_query_tasks, 3);
    Ok(())
}

/// Arrivals on a manual clock: a manual queue never runs more than its slots,
/// starts its queries in arrival order, and every query ends.
#[test]
fn simulated_arrivals_respect_slots_and_order() -> Result<(), WlmError> {
    let config = WlmConfig::parse_json(
        r#"[{"name": "long", "query_concurrency": 2, "query_group": ["long"]},
            {"query_concurrency": 3}]"#,
    )?;
    let mut wlm = Wlm::new(config, 8 * GIB);
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut running: Vec<(u64, i64)> = Vec::new();
    let mut started_order: Vec<(String, u64)> = Vec::new();
    let mut done = 0;
    let mut now = 0;
    let mut query = 0;
    while done < 200 {
        now += SEC / 10;
        if query < 200 && next() % 3 == 0 {
            query += 1;
            let group = if query % 2 == 0 { "long" } else { "" };
            let granted = wlm.submit(
                submission(query, who("u", &[], group), QueryKind::Copy),
                now,
            )?;
            for g in granted {
                started_order.push((g.service_class.to_string(), g.query));
                running.push((g.query, now + (next() % 50) as i64 * SEC / 10));
            }
        }
        let (ending, rest): (Vec<_>, Vec<_>) = running.iter().partition(|(_, end)| *end <= now);
        running = rest;
        for (q, _) in ending {
            done += 1;
            for g in wlm.finish(q, Ending::Completed, now) {
                started_order.push((g.service_class.to_string(), g.query));
                running.push((g.query, now + (next() % 50) as i64 * SEC / 10));
            }
        }
        for state in wlm.class_states() {
            let slots = match state.service_class {
                6 => 2,
                7 => 3,
                _ => 1,
            };
            assert!(state.num_executing_queries <= slots, "{state:?}");
        }
    }
    for class in ["6", "7"] {
        let order: Vec<u64> = started_order
            .iter()
            .filter(|(c, _)| c == class)
            .map(|(_, q)| *q)
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "class {class} started out of arrival order");
        assert_eq!(order.len(), 100);
    }
    assert!(wlm.query_states(now).is_empty());
    Ok(())
}
