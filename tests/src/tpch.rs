//! TPC-H for tests and the benchmark: the schema with its distribution keys, the 22
//! queries (validation parameters), data files generated in-process by the tpchgen
//! crate, and result comparison.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

/// The tables, small ones first.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// `CREATE TABLE`s with Redshift's DISTKEY/SORTKEY/DISTSTYLE (docs/tpch.md explains them).
pub const SCHEMA: &str = include_str!("../tpch/schema.sql");

/// The 22 queries with TPC-H's validation parameters, numbered 1 to 22.
pub const QUERIES: [&str; 22] = [
    include_str!("../tpch/queries/q01.sql"),
    include_str!("../tpch/queries/q02.sql"),
    include_str!("../tpch/queries/q03.sql"),
    include_str!("../tpch/queries/q04.sql"),
    include_str!("../tpch/queries/q05.sql"),
    include_str!("../tpch/queries/q06.sql"),
    include_str!("../tpch/queries/q07.sql"),
    include_str!("../tpch/queries/q08.sql"),
    include_str!("../tpch/queries/q09.sql"),
    include_str!("../tpch/queries/q10.sql"),
    include_str!("../tpch/queries/q11.sql"),
    include_str!("../tpch/queries/q12.sql"),
    include_str!("../tpch/queries/q13.sql"),
    include_str!("../tpch/queries/q14.sql"),
    include_str!("../tpch/queries/q15.sql"),
    include_str!("../tpch/queries/q16.sql"),
    include_str!("../tpch/queries/q17.sql"),
    include_str!("../tpch/queries/q18.sql"),
    include_str!("../tpch/queries/q19.sql"),
    include_str!("../tpch/queries/q20.sql"),
    include_str!("../tpch/queries/q21.sql"),
    include_str!("../tpch/queries/q22.sql"),
];

/// [`SCHEMA`] for plain PostgreSQL: the Redshift table attributes taken out.
pub fn postgres_schema() -> String {
    SCHEMA
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|line| {
            if line.starts_with(')') {
                // `) diststyle all;`, `) sortkey (...);`
                ");".to_string()
            } else {
                line.replace(" distkey", "")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes each table as dbgen text (`|`-separated, no trailing `|`) into `dir`, in
/// `parts` files per big table (`lineitem.tbl.1`, ...), generated on parallel threads.
/// Returns the file prefix of each table (`dir/lineitem.tbl`).
pub fn generate(dir: &Path, scale_factor: f64, parts: i32) -> Result<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir)?;
    let parts = parts.max(1);
    std::thread::scope(|scope| -> Result<()> {
        let mut tasks = Vec::new();
        for part in 1..=parts {
            tasks.push(scope.spawn(move || generate_part(dir, scale_factor, part, parts)));
        }
        for task in tasks {
            task.join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(TABLES
        .iter()
        .map(|t| (t.to_string(), dir.join(format!("{t}.tbl"))))
        .collect())
}

fn generate_part(dir: &Path, sf: f64, part: i32, parts: i32) -> Result<()> {
    // Nation and region have a fixed size: written once.
    if part == 1 {
        write_rows(dir, "region", 1, RegionGenerator::new(sf, 1, 1).iter())?;
        write_rows(dir, "nation", 1, NationGenerator::new(sf, 1, 1).iter())?;
    }
    write_rows(
        dir,
        "supplier",
        part,
        SupplierGenerator::new(sf, part, parts).iter(),
    )?;
    write_rows(
        dir,
        "customer",
        part,
        CustomerGenerator::new(sf, part, parts).iter(),
    )?;
    write_rows(
        dir,
        "part",
        part,
        PartGenerator::new(sf, part, parts).iter(),
    )?;
    write_rows(
        dir,
        "partsupp",
        part,
        PartSuppGenerator::new(sf, part, parts).iter(),
    )?;
    write_rows(
        dir,
        "orders",
        part,
        OrderGenerator::new(sf, part, parts).iter(),
    )?;
    write_rows(
        dir,
        "lineitem",
        part,
        LineItemGenerator::new(sf, part, parts).iter(),
    )?;
    Ok(())
}

fn write_rows<R: std::fmt::Display>(
    dir: &Path,
    table: &str,
    part: i32,
    rows: impl Iterator<Item = R>,
) -> Result<()> {
    let path = dir.join(format!("{table}.tbl.{part}"));
    let file = std::fs::File::create(&path).with_context(|| format!("creating {path:?}"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut line = String::new();
    for row in rows {
        use std::fmt::Write as _;
        line.clear();
        write!(line, "{row}")?;
        // dbgen ends every line with the delimiter; COPY would read an extra column.
        let line = line.strip_suffix('|').unwrap_or(&line);
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Checks `actual` against `expected` row by row: text must match (blanks at either
/// end aside: CHAR(n) pads them, and answer files pad columns), and numbers must agree to the precision of the
/// less precise of the two (engines print averages and quotients to different scales).
pub fn compare_results(expected: &[Vec<String>], actual: &[Vec<String>]) -> Result<()> {
    if expected.len() != actual.len() {
        bail!(
            "expected {} rows, got {}\nexpected: {:?}\nactual: {:?}",
            expected.len(),
            actual.len(),
            expected.iter().take(5).collect::<Vec<_>>(),
            actual.iter().take(5).collect::<Vec<_>>()
        );
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e.len() != a.len() {
            bail!("row {i}: expected {} columns, got {}", e.len(), a.len());
        }
        for (j, (ev, av)) in e.iter().zip(a).enumerate() {
            if !same_value(ev, av) {
                bail!(
                    "row {i} column {j}: expected {ev:?}, got {av:?}\nexpected row: {e:?}\nactual row: {a:?}"
                );
            }
        }
    }
    Ok(())
}

fn same_value(expected: &str, actual: &str) -> bool {
    let (e, a) = (expected.trim(), actual.trim());
    if e == a {
        return true;
    }
    match (e.parse::<f64>(), a.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            let scale = decimals(e).min(decimals(a));
            let printed = if scale > 0 {
                0.5 * 10f64.powi(-(scale as i32))
            } else {
                0.0
            };
            (x - y).abs() <= printed + 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        _ => false,
    }
}

/// Digits after the decimal point.
fn decimals(number: &str) -> usize {
    number.split_once('.').map_or(0, |(_, f)| f.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_schema_has_no_redshift_attributes() {
        let schema = postgres_schema();
        for word in ["distkey", "sortkey", "diststyle"] {
            assert!(!schema.contains(word), "{word} left in:\n{schema}");
        }
        assert_eq!(schema.matches("create table").count(), 8);
        assert!(schema.contains("l_comment       varchar(44) not null\n);"));
    }

    #[test]
    fn values_compare_as_numbers_or_trimmed_text() {
        assert!(same_value("EUROPE                   ", "EUROPE"));
        assert!(same_value("25.5223000000000000", "25.522300"));
        assert!(!same_value("25.52", "25.53"));
        assert!(same_value("0.04998", "0.049980004"));
        assert!(!same_value("0.04998", "0.04997"));
        assert!(!same_value("3", "4"));
        assert!(!same_value("a", "b"));
        assert!(compare_results(&[vec!["1".into()]], &[]).is_err());
    }
}
