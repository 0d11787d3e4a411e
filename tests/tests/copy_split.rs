//! Large COPY input files split over the slices: text, CSV and JSON by byte ranges
//! (each record loaded once, whichever range boundary it straddles, and a file
//! loaded whole when a record spans the line end a range would start after),
//! Parquet by row groups. The split size is 4 KB here, so small files split.

use anyhow::Result;
use blueshift_tests::{Embedded, S3Server, rows, table};

/// A 2-node cluster on an S3 endpoint that splits files over 4 KB.
async fn split_cluster(
    dir: &std::path::Path,
) -> Result<(S3Server, Embedded, tokio_postgres::Client)> {
    let s3 = S3Server::start(&["bucket"]).await?;
    let (cluster, client) = s3.start_split_cluster(dir, 4096).await?;
    Ok((s3, cluster, client))
}

/// Asserts how the last COPY read its one file: in several byte ranges (one
/// STL_LOAD_COMMITS row per range, all but the first at an offset past 0), or whole
/// (one row, at offset 0).
async fn assert_read(client: &tokio_postgres::Client, in_ranges: bool, what: &str) -> Result<()> {
    let q = rows(client, "select pg_last_copy_id()").await?[0][0].clone();
    let found = rows(
        client,
        &format!(
            "select count(*), count(case when byte_offset > 0 then 1 end) from stl_load_commits where query = {q}"
        ),
    )
    .await?;
    let (files, later): (u64, u64) = (found[0][0].parse()?, found[0][1].parse()?);
    if in_ranges {
        assert!(
            later > 1 && files == later + 1,
            "{what}: {files} rows, {later} later ranges"
        );
    } else {
        assert_eq!((files, later), (1, 0), "{what}: loaded whole");
    }
    Ok(())
}

/// Large files are split over the slices (here with a 4 KB split size): text by byte
/// ranges, each row loaded exactly once whatever range boundary it straddles; Parquet
/// by row groups. A bad row in a later range names its range's start.
#[tokio::test(flavor = "multi_thread")]
async fn large_files_are_split_over_slices() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (s3, _cluster, client) = split_cluster(dir.path()).await?;
    client
        .batch_execute("create table sp (id int, pad varchar(40)) diststyle even")
        .await?;
    // Rows of varying length, so range boundaries fall everywhere in a row.
    let mut data = String::new();
    for i in 0..2000 {
        if i == 1500 {
            data.push_str("bad|row\n");
        }
        data.push_str(&format!("{i}|{}\n", "x".repeat(i % 37)));
    }
    s3.put("bucket", "split/one.txt", data.as_bytes())?;
    let n = client
        .execute(
            "copy sp from 's3://bucket/split/' iam_role default maxerror 1",
            &[],
        )
        .await?;
    assert_eq!(n, 2000);
    assert_eq!(
        rows(
            &client,
            "select count(*), count(distinct id), sum(id), min(id), max(id) from sp"
        )
        .await?,
        table(&[&["2000", "2000", "1999000", "0", "1999"]])
    );
    let q = rows(&client, "select pg_last_copy_id()").await?[0][0].clone();
    let parts = rows(
        &client,
        &format!("select count(*), count(distinct slice), sum(errors) from stl_load_commits where query = {q}"),
    )
    .await?;
    let count: u64 = parts[0][0].parse()?;
    assert!(count as usize >= data.len() / 4096, "{parts:?}");
    assert_eq!(parts[0][1], "4", "every slice read a part: {parts:?}");
    assert_eq!(parts[0][2], "1");
    let error = rows(
        &client,
        &format!("select is_partial, start_offset > 0, trim(raw_line) from stl_load_errors where query = {q}"),
    )
    .await?;
    assert_eq!(error, table(&[&["1", "t", "bad|row"]]));

    // Parquet through the same path (one row group per file at this size).
    client
        .execute(
            "unload ('select * from sp') to 's3://bucket/pq/' iam_role default parquet",
            &[],
        )
        .await?;
    client.batch_execute("truncate sp").await?;
    client
        .execute(
            "copy sp from 's3://bucket/pq/' iam_role default parquet",
            &[],
        )
        .await?;
    assert_eq!(
        rows(&client, "select count(*), sum(id) from sp").await?,
        table(&[&["2000", "1999000"]])
    );
    Ok(())
}

/// Rows, distinct ids, their sum and the notes' total length in `cj`.
async fn sums(client: &tokio_postgres::Client) -> Result<Vec<Vec<String>>> {
    rows(
        client,
        "select count(*), count(distinct id), sum(id), sum(length(note)) from cj",
    )
    .await
}

/// CSV and JSON split by byte ranges. Where no record spans a line end at a range's
/// start, the ranges load in parallel; where one does (a quoted newline, an object
/// over several lines), the COPY finds out and loads the file whole. Either way
/// each record is loaded once.
#[tokio::test(flavor = "multi_thread")]
async fn csv_and_json_split_by_byte_ranges() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (s3, _cluster, client) = split_cluster(dir.path()).await?;
    client
        .batch_execute("create table cj (id int, note varchar(200)) diststyle even")
        .await?;
    // One record per line, with quoted delimiters and quotes.
    // A header line, skipped once (by the first range only).
    let mut flat = String::from("id,note\n");
    let mut length = 0;
    for i in 0..1500 {
        let note = format!("a, \"b\" {}", "x".repeat(i % 23));
        length += note.len();
        flat.push_str(&format!("{i},\"{}\"\n", note.replace('"', "\"\"")));
    }
    s3.put("bucket", "flat/one.csv", flat.as_bytes())?;
    // Not under `flat/`, though its key starts with `flat`.
    s3.put("bucket", "flat-not/extra.csv", b"no,such,row\n")?;
    client
        .execute(
            "copy cj from 's3://bucket/flat/' iam_role default csv ignoreheader 1",
            &[],
        )
        .await?;
    assert_eq!(
        sums(&client).await?,
        table(&[&["1500", "1500", "1124250", &length.to_string()]])
    );
    assert_read(&client, true, "flat CSV").await?;

    // Every record has a quoted newline near its end: most range boundaries fall
    // in a record's first line, whose line end is inside the quotes.
    client.batch_execute("truncate cj").await?;
    let mut spanning = String::new();
    let mut length = 0;
    for i in 0..1500 {
        let note = format!("{}\nend", "y".repeat(30 + i % 17));
        length += note.len();
        spanning.push_str(&format!("{i},\"{note}\"\n"));
    }
    s3.put("bucket", "spanning/one.csv", spanning.as_bytes())?;
    client
        .execute(
            "copy cj from 's3://bucket/spanning/' iam_role default csv",
            &[],
        )
        .await?;
    assert_eq!(
        sums(&client).await?,
        table(&[&["1500", "1500", "1124250", &length.to_string()]])
    );
    assert_read(&client, false, "CSV with quoted newlines").await?;
    // The rows the misplaced ranges rejected are forgotten with them.
    assert_eq!(
        rows(
            &client,
            "select count(*) from stl_load_errors where query = pg_last_copy_id()"
        )
        .await?,
        table(&[&["0"]])
    );

    // JSON: one object per line splits; objects over several lines load whole.
    for (key, pretty) in [("ndjson/one.json", false), ("pretty/one.json", true)] {
        client.batch_execute("truncate cj").await?;
        let mut json = String::new();
        for i in 0..1200 {
            let note = "z".repeat(i % 29);
            if pretty {
                json.push_str(&format!("{{\n  \"id\": {i},\n  \"note\": \"{note}\"\n}}\n"));
            } else {
                json.push_str(&format!("{{\"id\": {i}, \"note\": \"{note}\"}}\n"));
            }
        }
        s3.put("bucket", key, json.as_bytes())?;
        let prefix = key.trim_end_matches("one.json");
        client
            .execute(
                &format!("copy cj from 's3://bucket/{prefix}' iam_role default json 'auto'"),
                &[],
            )
            .await?;
        let length: usize = (0..1200).map(|i| i % 29).sum();
        assert_eq!(
            sums(&client).await?,
            table(&[&["1200", "1200", "719400", &length.to_string()]]),
            "{key}"
        );
        assert_read(&client, !pretty, key).await?;
    }
    Ok(())
}
