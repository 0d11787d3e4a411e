//! TPC-H benchmark: generates TPC-H in-process (tpchgen), loads it into a fresh
//! `blueshift up` with COPY, runs the 22 queries over the wire and prints each one's
//! time. With pip's duckdb installed, it runs the same queries on DuckDB over the same
//! files and prints the ratio per query and as a geometric mean. At SF 1 every answer
//! is checked against TPC-H's reference answers.
//!
//! Usage: tpch_bench [--sf 1] [--nodes 1] [--slices-per-node 2] [--runs 3]
//!                   [--data DIR] [--binary PATH] [--no-duckdb]
//!                   [--no-analyze] [--statupdate-off] [--query-memory-mb N]
//!                   [--placement-only]
//!
//! The data is kept in `--data` (default `target/tpch-sf<sf>`) and reused.
//! Each query runs once to warm up, then `--runs` times; the median is reported.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use blueshift_tests::tpch::{self, QUERIES, TABLES};
use blueshift_tests::{Embedded, connect, rows, use_blueshift_bin};

struct Args {
    sf: f64,
    nodes: u32,
    slices: u32,
    runs: usize,
    data: Option<PathBuf>,
    duckdb: bool,
    /// ANALYZE after loading (the planner then has the tables' statistics).
    analyze: bool,
    /// COPY with STATUPDATE OFF: no statistics unless `analyze`.
    statupdate_off: bool,
    /// The cluster's `--query-memory-mb`, if not its default.
    query_memory_mb: Option<String>,
    /// Run each query once more with `enable_collocated_joins` off, for the rows
    /// it would move.
    placement_off: bool,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sf: 1.0,
        nodes: 1,
        slices: 2,
        runs: 3,
        data: None,
        duckdb: true,
        analyze: true,
        statupdate_off: false,
        query_memory_mb: None,
        placement_off: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sf" => args.sf = value()?.parse()?,
            "--nodes" => args.nodes = value()?.parse()?,
            "--slices-per-node" => args.slices = value()?.parse()?,
            "--runs" => args.runs = value()?.parse::<usize>()?.max(1),
            "--data" => args.data = Some(PathBuf::from(value()?)),
            "--binary" => {
                let path = PathBuf::from(value()?);
                use_blueshift_bin(std::fs::canonicalize(&path).unwrap_or(path));
            }
            "--no-duckdb" => args.duckdb = false,
            "--no-analyze" => args.analyze = false,
            "--statupdate-off" => args.statupdate_off = true,
            "--placement-only" => args.placement_off = false,
            "--query-memory-mb" => args.query_memory_mb = Some(value()?),
            other => bail!("unknown argument {other} (see the usage in the source's header)"),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    if std::env::var_os("BLUESHIFT_BIN").is_none() {
        // Built by the same cargo invocation: target/<profile>/blueshift.
        let exe = std::env::current_exe()?;
        let dir = exe.parent().context("executable has no directory")?;
        use_blueshift_bin(dir.join("blueshift"));
    }
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/tpch-sf{}", args.sf)));
    let done = data.join("generated");
    if !done.exists() {
        let started = Instant::now();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as i32;
        tpch::generate(&data, args.sf, threads)?;
        std::fs::write(&done, b"")?;
        eprintln!(
            "generated SF {} in {:.1} s into {}",
            args.sf,
            started.elapsed().as_secs_f64(),
            data.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let blueshift = runtime.block_on(run_blueshift(&args, &data))?;
    let duckdb = if args.duckdb {
        run_duckdb(&args, &data)?
    } else {
        None
    };
    report(&args, &blueshift, duckdb.as_ref());
    Ok(())
}

/// Per query on Blueshift: the median time, the answer, whether it matched TPC-H's
/// reference answer, and the rows moved (to the leader, or to slices) as planned, and with `enable_collocated_joins` off (every join on the
/// leader, as if no table were distributed on its join key).
struct Timing {
    median: Duration,
    answer: Vec<Vec<String>>,
    reference: Option<std::result::Result<(), String>>,
    moved: u64,
    moved_ignoring_keys: u64,
    /// Steps of the last run that spilled (SVL_QUERY_SUMMARY's is_diskbased).
    disk_based: u64,
}

/// Rows the session's previous query moved: what the slices sent to the leader, and
/// what was broadcast or redistributed to the slices (by the leader or between the
/// compute nodes); and how many of its steps spilled to disk.
async fn steps_of_last_query(client: &tokio_postgres::Client) -> Result<(u64, u64)> {
    let found = rows(
        client,
        "select coalesce(sum(case when label in ('return', 'bcast', 'dist') then rows end), 0), \
         count(case when is_diskbased = 't' then 1 end) \
         from svl_query_summary where query = pg_last_query_id()",
    )
    .await?;
    let value = |i: usize| {
        found
            .first()
            .and_then(|r| r.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((value(0), value(1)))
}

async fn run_blueshift(args: &Args, data: &Path) -> Result<Vec<Timing>> {
    let dir = tempfile::tempdir()?;
    let env: Vec<(&str, &str)> = args
        .query_memory_mb
        .iter()
        .map(|mb| ("BLUESHIFT_QUERY_MEMORY_MB", mb.as_str()))
        .collect();
    let cluster = Embedded::start_with_env(dir.path(), args.nodes, args.slices, &env)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(tpch::SCHEMA).await?;
    let started = Instant::now();
    for table in TABLES {
        let prefix = std::fs::canonicalize(data)?.join(format!("{table}.tbl"));
        client
            .batch_execute(&format!(
                "copy {table} from 'file://{}' delimiter '|'{}",
                prefix.display(),
                if args.statupdate_off {
                    " statupdate off"
                } else {
                    ""
                }
            ))
            .await
            .with_context(|| format!("loading {table}"))?;
    }
    if args.analyze {
        client.batch_execute("analyze").await?;
    }
    eprintln!(
        "Blueshift ({} node(s) x {} slices): loaded{} in {:.1} s",
        args.nodes,
        args.slices,
        if args.analyze { " and analyzed" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let mut timings = Vec::new();
    for (i, query) in QUERIES.iter().enumerate() {
        let answer = rows(&client, query)
            .await
            .with_context(|| format!("Q{}", i + 1))?;
        let reference =
            reference_answer(args.sf, i + 1).map(|expected| matches_reference(&expected, &answer));
        let mut times = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            rows(&client, query).await?;
            times.push(t.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        let (moved, disk_based) = steps_of_last_query(&client).await?;
        let moved_ignoring_keys = if args.placement_off {
            client
                .batch_execute("set enable_collocated_joins to off")
                .await?;
            rows(&client, query).await?;
            let (moved_ignoring_keys, _) = steps_of_last_query(&client).await?;
            client
                .batch_execute("set enable_collocated_joins to on")
                .await?;
            moved_ignoring_keys
        } else {
            0
        };
        eprintln!(
            "Q{:02} {:>9.1} ms, {disk_based} disk-based steps",
            i + 1,
            median.as_secs_f64() * 1e3
        );
        timings.push(Timing {
            median,
            answer,
            reference,
            moved,
            moved_ignoring_keys,
            disk_based,
        });
    }
    Ok(timings)
}

/// TPC-H's answer for query `n`, where the tpchgen crate has it (SF 1).
fn reference_answer(sf: f64, n: usize) -> Option<Vec<Vec<String>>> {
    let qa = tpchgen::q_and_a::QueryAndAnswer::new(n as i32, sf).ok()?;
    let mut lines = qa.answer().lines().filter(|l| !l.trim().is_empty());
    lines.next(); // the header
    Some(
        lines
            .map(|l| l.split('|').map(|v| v.trim().to_string()).collect())
            .collect(),
    )
}

/// TPC-H's validation rule (clause 2.1.3.5): text and counts exactly (the reference
/// pads text, so blanks at either end do not count), sums within $100, averages and
/// ratios within 1%.
fn matches_reference(
    expected: &[Vec<String>],
    actual: &[Vec<String>],
) -> std::result::Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!(
            "{} rows, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        for (j, (ev, av)) in e.iter().zip(a).enumerate() {
            let (ev, av) = (ev.trim(), av.trim());
            let same = match (ev.parse::<f64>(), av.parse::<f64>()) {
                (Ok(x), Ok(y)) if ev.contains('.') => {
                    (x - y).abs() <= 100.0 || (x - y).abs() <= 0.01 * x.abs()
                }
                _ => ev == av,
            };
            if !same {
                return Err(format!("row {i} column {j}: expected {ev:?}, got {av:?}"));
            }
        }
    }
    Ok(())
}

/// DuckDB's median times and answers.
struct DuckDb {
    times: Vec<Duration>,
    answers: Vec<Vec<Vec<String>>>,
}

/// The same data and queries on DuckDB (pip's duckdb), through python3.
fn run_duckdb(args: &Args, data: &Path) -> Result<Option<DuckDb>> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("duckdb is not installed (pip install duckdb): no comparison");
        return Ok(None);
    }
    let queries = serde_json::to_string(&QUERIES)?;
    let schema = serde_json::to_string(&tpch::postgres_schema())?;
    let tables = serde_json::to_string(&TABLES)?;
    let script = format!(
        r#"
import duckdb, glob, json, statistics, sys, time
con = duckdb.connect()
con.execute("set enable_progress_bar = false")
con.execute({schema})
for t in {tables}:
    for f in sorted(glob.glob({data:?} + "/" + t + ".tbl.*")):
        con.execute(f"copy {{t}} from '{{f}}' (delimiter '|', header false)")
for i, q in enumerate({queries}):
    answer = con.execute(q).fetchall()
    times = []
    for _ in range({runs}):
        t = time.perf_counter(); con.execute(q).fetchall(); times.append(time.perf_counter() - t)
    print("median", statistics.median(times))
    print("answer", json.dumps([["NULL" if v is None else str(v) for v in row] for row in answer]))
"#,
        data = std::fs::canonicalize(data)?.display().to_string(),
        runs = args.runs,
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()?;
    if !out.status.success() {
        bail!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let times = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("median "))
        .map(|l| l.trim().parse::<f64>().map(Duration::from_secs_f64))
        .collect::<Result<Vec<_>, _>>()?;
    let answers = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("answer "))
        .map(serde_json::from_str::<Vec<Vec<String>>>)
        .collect::<Result<Vec<_>, _>>()?;
    if times.len() != QUERIES.len() || answers.len() != QUERIES.len() {
        bail!(
            "duckdb answered {} of {} queries",
            times.len(),
            QUERIES.len()
        );
    }
    Ok(Some(DuckDb { times, answers }))
}

fn report(args: &Args, blueshift: &[Timing], duckdb: Option<&DuckDb>) {
    println!(
        "TPC-H SF {} on {} node(s) x {} slices, median of {} runs",
        args.sf, args.nodes, args.slices, args.runs
    );
    println!(
        "query  blueshift_ms  duckdb_ms  ratio      rows_moved  ignoring_keys  disk_steps  same_as_duckdb  tpch_answer"
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut problems = Vec::new();
    for (i, t) in blueshift.iter().enumerate() {
        let reference = match &t.reference {
            None => "-".to_string(),
            Some(Ok(())) => "ok".to_string(),
            Some(Err(e)) => {
                problems.push(format!("Q{:02} differs from TPC-H's answer: {e}", i + 1));
                "differs".to_string()
            }
        };
        let (theirs, ratio, same) = match duckdb {
            Some(d) => {
                let same = match tpch::compare_results(&d.answers[i], &t.answer) {
                    Ok(()) => "yes".to_string(),
                    Err(e) => {
                        problems.push(format!("Q{:02} differs from DuckDB's answer: {e}", i + 1));
                        "NO".to_string()
                    }
                };
                (
                    format!("{:.1}", ms(d.times[i])),
                    format!("{:.2}", ms(t.median) / ms(d.times[i])),
                    same,
                )
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "Q{:02}  {:>12.1}  {theirs:>9}  {ratio:>5}  {:>14}  {:>13}  {:>10}  {same:>14}  {reference}",
            i + 1,
            ms(t.median),
            t.moved,
            t.moved_ignoring_keys,
            t.disk_based
        );
    }
    let geomean = |xs: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = xs.fold((0.0, 0), |(s, n), x| (s + x.ln(), n + 1));
        (sum / n as f64).exp()
    };
    let ours = geomean(&mut blueshift.iter().map(|t| ms(t.median)));
    match duckdb {
        Some(d) => {
            let theirs = geomean(&mut d.times.iter().map(|t| ms(*t)));
            println!(
                "geomean {ours:>10.1}  {theirs:>9.1}  {:>5.2}",
                ours / theirs
            );
        }
        None => println!("geomean {ours:>10.1}"),
    }
    let moved: u64 = blueshift.iter().map(|t| t.moved).sum();
    let ignoring: u64 = blueshift.iter().map(|t| t.moved_ignoring_keys).sum();
    println!("rows moved, all queries: {moved} (ignoring keys: {ignoring})");
    for p in problems {
        println!("{p}");
    }
}
