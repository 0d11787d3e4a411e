//! TPC-H benchmark: generates TPC-H in-process (tpchgen), loads it into a fresh
//! `blueshift up` with COPY, runs the 22 queries over the wire and prints each one's
//! time. With pip's duckdb installed, it runs the same queries on DuckDB over the same
//! files and prints the ratio per query and as a geometric mean. At SF 1 every answer
//! is checked against TPC-H's reference answers.
//!
//! Usage: tpch_bench [--sf 1] [--nodes 1] [--slices-per-node 2] [--runs 3]
//!                   [--data DIR] [--binary PATH] [--no-duckdb]
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
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sf: 1.0,
        nodes: 1,
        slices: 2,
        runs: 3,
        data: None,
        duckdb: true,
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
    report(&args, &blueshift, duckdb.as_deref());
    Ok(())
}

/// Per query: the median time, and whether the answer matched the reference.
struct Timing {
    median: Duration,
    checked: Option<std::result::Result<(), String>>,
}

async fn run_blueshift(args: &Args, data: &Path) -> Result<Vec<Timing>> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(dir.path(), args.nodes, args.slices)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(tpch::SCHEMA).await?;
    let started = Instant::now();
    for table in TABLES {
        let prefix = std::fs::canonicalize(data)?.join(format!("{table}.tbl"));
        client
            .batch_execute(&format!(
                "copy {table} from 'file://{}' delimiter '|'",
                prefix.display()
            ))
            .await
            .with_context(|| format!("loading {table}"))?;
    }
    client.batch_execute("analyze").await?;
    eprintln!(
        "Blueshift ({} node(s) x {} slices): loaded and analyzed in {:.1} s",
        args.nodes,
        args.slices,
        started.elapsed().as_secs_f64()
    );
    let mut timings = Vec::new();
    for (i, query) in QUERIES.iter().enumerate() {
        let answer = rows(&client, query)
            .await
            .with_context(|| format!("Q{}", i + 1))?;
        let checked = reference_answer(args.sf, i + 1)
            .map(|expected| tpch::compare_results(&expected, &answer).map_err(|e| e.to_string()));
        let mut times = Vec::new();
        for _ in 0..args.runs {
            let t = Instant::now();
            rows(&client, query).await?;
            times.push(t.elapsed());
        }
        times.sort();
        let median = times[times.len() / 2];
        eprintln!("Q{:02} {:>9.1} ms", i + 1, median.as_secs_f64() * 1e3);
        timings.push(Timing { median, checked });
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

/// The same data and queries on DuckDB (pip's duckdb), through python3.
fn run_duckdb(args: &Args, data: &Path) -> Result<Option<Vec<Duration>>> {
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
con.execute({schema})
for t in {tables}:
    for f in sorted(glob.glob({data:?} + "/" + t + ".tbl.*")):
        con.execute(f"copy {{t}} from '{{f}}' (delimiter '|', header false)")
for i, q in enumerate({queries}):
    con.execute(q).fetchall()
    times = []
    for _ in range({runs}):
        t = time.perf_counter(); con.execute(q).fetchall(); times.append(time.perf_counter() - t)
    print(statistics.median(times))
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
    let times = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse::<f64>().map(Duration::from_secs_f64))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(times))
}

fn report(args: &Args, blueshift: &[Timing], duckdb: Option<&[Duration]>) {
    println!(
        "TPC-H SF {} on {} node(s) x {} slices, median of {} runs",
        args.sf, args.nodes, args.slices, args.runs
    );
    println!("query  blueshift_ms  duckdb_ms  ratio  answer");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut wrong = 0;
    for (i, t) in blueshift.iter().enumerate() {
        let answer = match &t.checked {
            None => "not checked".to_string(),
            Some(Ok(())) => "ok".to_string(),
            Some(Err(e)) => {
                wrong += 1;
                format!("WRONG: {}", e.lines().next().unwrap_or_default())
            }
        };
        match duckdb.and_then(|d| d.get(i)) {
            Some(d) => println!(
                "Q{:02}  {:>12.1}  {:>9.1}  {:>5.2}  {answer}",
                i + 1,
                ms(t.median),
                ms(*d),
                ms(t.median) / ms(*d)
            ),
            None => println!(
                "Q{:02}  {:>12.1}  {:>9}  {:>5}  {answer}",
                i + 1,
                ms(t.median),
                "-",
                "-"
            ),
        }
    }
    let geomean = |xs: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = xs.fold((0.0, 0), |(s, n), x| (s + x.ln(), n + 1));
        (sum / n as f64).exp()
    };
    let ours = geomean(&mut blueshift.iter().map(|t| ms(t.median)));
    match duckdb {
        Some(d) => {
            let theirs = geomean(&mut d.iter().map(|t| ms(*t)));
            println!(
                "geomean {:>10.1}  {:>9.1}  {:>5.2}",
                ours,
                theirs,
                ours / theirs
            );
        }
        None => println!("geomean {ours:>10.1}"),
    }
    if wrong > 0 {
        println!("{wrong} answer(s) differ from TPC-H's reference answers");
    }
}
