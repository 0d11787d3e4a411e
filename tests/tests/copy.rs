//! COPY from a real S3 endpoint (s3s-fs with SigV4, in the test process): formats,
//! compression, conversion options, manifests, bad rows and MAXERROR, credentials,
//! STL_LOAD_ERRORS / STL_LOAD_COMMITS / pg_last_copy_id(), and a COPY killed half-way
//! (UNLOAD is in unload.rs).

use std::io::Write;

use anyhow::Result;
use blueshift_tests::{
    Embedded, S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, TEST_ROLE, connect, rows, sqlstate, table,
};

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    Ok(e.finish()?)
}

/// Every format and compression, the conversion options, and the rows that come out.
#[tokio::test(flavor = "multi_thread")]
async fn copy_formats_and_options() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table t (id int not null, name varchar(8), amount numeric(10,2), \
             day date, at timestamp, ok boolean) distkey(id) sortkey(id)",
        )
        .await?;

    // Pipe-delimited text over two files of one prefix; \N is NULL.
    s3.put("bucket", "text/part-0", b"1|ann|10.50|2024-01-02|2024-01-02 03:04:05|t\n2|\\N|0|2024-02-29|2024-02-29 23:59:59.25|f\n")?;
    s3.put(
        "bucket",
        "text/part-1",
        b"3|cy||2023-12-31|2023-12-31 00:00:00|true\n",
    )?;
    s3.put(
        "bucket",
        "other/part-9",
        b"99|not|1|2020-01-01|2020-01-01 00:00:00|t\n",
    )?;
    let n = client
        .execute("copy t from 's3://bucket/text/part' iam_role default", &[])
        .await?;
    assert_eq!(n, 3);
    assert_eq!(
        rows(
            &client,
            "select id, name, amount, day, at, ok from t order by id"
        )
        .await?,
        table(&[
            &[
                "1",
                "ann",
                "10.50",
                "2024-01-02",
                "2024-01-02 03:04:05",
                "t"
            ],
            &[
                "2",
                "NULL",
                "0.00",
                "2024-02-29",
                "2024-02-29 23:59:59.25",
                "f"
            ],
            &["3", "cy", "NULL", "2023-12-31", "2023-12-31 00:00:00", "t"],
        ])
    );

    // CSV, gzip, a header, quotes with the delimiter and a newline inside, a
    // column list, the IAM role by ARN, other date and time formats. EMPTYASNULL
    // makes unquoted empty fields NULL; a quoted "" stays an empty string.
    let csv = "id,name,day,at\n4,\"a,b\",01/02/2024,1704164645\n5,\"x\ny\",12/31/2024,0\n6,\"\",01/01/2000,86400\n";
    s3.put("bucket", "csv/data.csv.gz", &gzip(csv.as_bytes())?)?;
    let n = client
        .execute(
            &format!(
                "copy t (id, name, day, at) from 's3://bucket/csv/' iam_role '{TEST_ROLE}' \
                 format as csv gzip ignoreheader 1 dateformat 'MM/DD/YYYY' timeformat 'epochsecs' \
                 emptyasnull"
            ),
            &[],
        )
        .await?;
    assert_eq!(n, 3);
    assert_eq!(
        rows(
            &client,
            "select id, name, amount, day, at from t where id >= 4 order by id"
        )
        .await?,
        table(&[
            &["4", "a,b", "NULL", "2024-01-02", "2024-01-02 03:04:05"],
            &["5", "x\ny", "NULL", "2024-12-31", "1970-01-01 00:00:00"],
            &["6", "", "NULL", "2000-01-01", "1970-01-02 00:00:00"],
        ])
    );

    // JSON 'auto ignorecase', zstd, keys by any case; access keys given inline.
    let json = "{\"ID\": 7, \"Name\": \"json\", \"amount\": 1.5}\n{\"id\": 8,\n \"name\": null, \"ok\": false}\n";
    s3.put(
        "bucket",
        "json/rows.zst",
        &zstd::encode_all(json.as_bytes(), 3)?,
    )?;
    let n = client
        .execute(
            &format!(
                "copy t from 's3://bucket/json/' access_key_id '{S3_ACCESS_KEY}' \
                 secret_access_key '{S3_SECRET_KEY}' json 'auto ignorecase' zstd"
            ),
            &[],
        )
        .await?;
    assert_eq!(n, 2);
    // A JSONPaths file picks nested values.
    s3.put(
        "bucket",
        "paths.json",
        br#"{"jsonpaths": ["$.k", "$.v.name[1]"]}"#,
    )?;
    s3.put(
        "bucket",
        "nested/1.json",
        br#"{"k": 9, "v": {"name": ["a", "nested"]}}"#,
    )?;
    client
        .execute(
            "copy t (id, name) from 's3://bucket/nested/' iam_role default \
             json 's3://bucket/paths.json'",
            &[],
        )
        .await?;
    assert_eq!(
        rows(
            &client,
            "select id, name, amount, ok from t where id >= 7 order by id"
        )
        .await?,
        table(&[
            &["7", "json", "1.50", "NULL"],
            &["8", "NULL", "NULL", "f"],
            &["9", "nested", "NULL", "NULL"],
        ])
    );

    // ESCAPE, REMOVEQUOTES, TRUNCATECOLUMNS, FILLRECORD, BLANKSASNULL, a delimiter
    // and NULL AS of our own; ACCEPTINVCHARS replaces bad UTF-8.
    s3.put(
        "bucket",
        "opts/a",
        b"10;\"semi;colon\";NIL\n11;back\\;slash\n12;   \n13;abcdefghijk;1\n14;in\xffvalid;2\n",
    )?;
    client
        .execute(
            "copy t (id, name, amount) from 's3://bucket/opts/' iam_role default \
             delimiter ';' escape removequotes truncatecolumns fillrecord blanksasnull \
             null as 'NIL' acceptinvchars as '^'",
            &[],
        )
        .await?;
    assert_eq!(
        rows(
            &client,
            "select id, name, amount from t where id >= 10 order by id"
        )
        .await?,
        table(&[
            &["10", "semi;col", "NULL"],
            &["11", "back;sla", "NULL"],
            &["12", "NULL", "NULL"],
            &["13", "abcdefgh", "1.00"],
            &["14", "in^valid", "2.00"],
        ])
    );

    // NOLOAD checks the files and loads nothing.
    let before = rows(&client, "select count(*) from t").await?;
    client
        .execute(
            "copy t from 's3://bucket/text/part' iam_role default noload",
            &[],
        )
        .await?;
    assert_eq!(rows(&client, "select count(*) from t").await?, before);

    // Formats not built (FIXEDWIDTH) are refused clearly; text read as ORC is not
    // an ORC file, and says so.
    let e = client
        .execute(
            "copy t from 's3://bucket/text/' iam_role default fixedwidth 'id:3'",
            &[],
        )
        .await
        .expect_err("FIXEDWIDTH");
    assert_eq!(sqlstate(&e), "0A000");
    let e = client
        .execute(
            "copy t from 's3://bucket/text/' iam_role default format as orc",
            &[],
        )
        .await
        .expect_err("ORC");
    assert_eq!(sqlstate(&e), "22P04");
    assert!(format!("{e:?}").contains("not an ORC file"), "{e:?}");
    Ok(())
}

/// Bad rows: the error row names the file, line and column; MAXERROR decides whether
/// the rest loads; a failed COPY loads nothing. Sources that are missing or refused.
#[tokio::test(flavor = "multi_thread")]
async fn copy_errors_and_system_tables() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table e (id int, name varchar(4)) diststyle even")
        .await?;
    s3.put("bucket", "bad/f1.txt", b"1|a\n2|b\nthree|c\n4|d\n")?;
    s3.put("bucket", "bad/f2.txt", b"5|e\n6|toolong\n")?;

    // Two bad rows, MAXERROR 1: the COPY fails and loads nothing.
    let e = client
        .execute(
            "copy e from 's3://bucket/bad/' iam_role default maxerror 1",
            &[],
        )
        .await
        .expect_err("two bad rows");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert!(
        e.to_string().contains("stl_load_errors") || format!("{e:?}").contains("stl_load_errors")
    );
    assert_eq!(
        rows(&client, "select count(*) from e").await?,
        table(&[&["0"]])
    );
    let failed = rows(&client, "select pg_last_copy_id()").await?[0][0].clone();
    assert_eq!(
        rows(
            &client,
            &format!(
                "select filename, line_number, colname, raw_field_value, err_code, \
                 trim(raw_line) from stl_load_errors where query = {failed} order by filename"
            )
        )
        .await?,
        table(&[
            &[
                "s3://bucket/bad/f1.txt",
                "3",
                "id",
                "three",
                "1207",
                "three|c"
            ],
            &[
                "s3://bucket/bad/f2.txt",
                "2",
                "name",
                "toolong",
                "1204",
                "6|toolong"
            ],
        ])
    );

    // MAXERROR 2: the good rows load, the bad ones are recorded.
    let n = client
        .execute(
            "copy e from 's3://bucket/bad/' iam_role default maxerror 2",
            &[],
        )
        .await?;
    assert_eq!(n, 4);
    assert_eq!(
        rows(&client, "select id from e order by id").await?,
        table(&[&["1"], &["2"], &["4"], &["5"]])
    );
    let ok = rows(&client, "select pg_last_copy_id()").await?[0][0].clone();
    assert_ne!(ok, failed);
    assert_eq!(
        rows(
            &client,
            &format!(
                "select filename, lines_scanned, errors, status, file_format \
                 from stl_load_commits where query = {ok} order by filename"
            )
        )
        .await?,
        table(&[
            &["s3://bucket/bad/f1.txt", "4", "1", "1", "Text"],
            &["s3://bucket/bad/f2.txt", "2", "1", "1", "Text"],
        ])
    );
    assert_eq!(
        rows(
            &client,
            &format!("select querytxt like 'copy e from%' from stl_query where query = {ok}")
        )
        .await?,
        table(&[&["t"]])
    );

    // Too few and too many fields.
    s3.put("bucket", "shape/f", b"1\n2|b|extra\n")?;
    client
        .execute(
            "copy e from 's3://bucket/shape/' iam_role default maxerror 5",
            &[],
        )
        .await?;
    let q = rows(&client, "select pg_last_copy_id()").await?[0][0].clone();
    assert_eq!(
        rows(
            &client,
            &format!(
                "select line_number, err_code from stl_load_errors where query = {q} order by 1"
            )
        )
        .await?,
        table(&[&["1", "1214"], &["2", "1202"]])
    );

    // Missing prefix, missing bucket, wrong secret, no credentials.
    let e = client
        .execute(
            "copy e from 's3://bucket/nothing-here' iam_role default",
            &[],
        )
        .await
        .expect_err("no such prefix");
    assert_eq!(sqlstate(&e), "58P01", "{e:?}");
    let e = client
        .execute("copy e from 's3://no-bucket/x' iam_role default", &[])
        .await
        .expect_err("no such bucket");
    assert_eq!(sqlstate(&e), "58P01", "{e:?}");
    let e = client
        .execute(
            &format!(
                "copy e from 's3://bucket/bad/' credentials \
                 'aws_access_key_id={S3_ACCESS_KEY};aws_secret_access_key=wrong'"
            ),
            &[],
        )
        .await
        .expect_err("wrong secret");
    assert_eq!(sqlstate(&e), "42501", "{e:?}");
    let logged = rows(
        &client,
        "select querytxt from stl_query where querytxt like '%credentials%'",
    )
    .await?;
    assert!(
        logged.iter().all(|r| !r[0].contains("wrong")),
        "secret in STL_QUERY: {logged:?}"
    );
    let e = client
        .execute("copy e from 's3://bucket/bad/'", &[])
        .await
        .expect_err("no credentials");
    assert_eq!(sqlstate(&e), "22023", "{e:?}");
    let e = client
        .execute(
            "copy e from 's3://bucket/bad/' iam_role 'arn:aws:iam::1:role/unknown'",
            &[],
        )
        .await
        .expect_err("unknown role");
    assert_eq!(sqlstate(&e), "42501", "{e:?}");
    let e = client
        .execute(
            "copy e from 's3://bucket/bad/' iam_role default bogus_option",
            &[],
        )
        .await
        .expect_err("bad option");
    assert_eq!(sqlstate(&e), "42601", "{e:?}");

    // Manifests: a missing optional entry is skipped, a missing mandatory one fails.
    s3.put("bucket", "m/a", b"7|m\n")?;
    s3.put(
        "bucket",
        "ok.manifest",
        br#"{"entries": [{"url": "s3://bucket/m/a", "mandatory": true}, {"url": "s3://bucket/m/gone"}]}"#,
    )?;
    assert_eq!(
        client
            .execute(
                "copy e from 's3://bucket/ok.manifest' iam_role default manifest",
                &[]
            )
            .await?,
        1
    );
    s3.put(
        "bucket",
        "bad.manifest",
        br#"{"entries": [{"url": "s3://bucket/m/a"}, {"url": "s3://bucket/m/gone", "mandatory": true}]}"#,
    )?;
    let e = client
        .execute(
            "copy e from 's3://bucket/bad.manifest' iam_role default manifest",
            &[],
        )
        .await
        .expect_err("mandatory entry missing");
    assert_eq!(sqlstate(&e), "58P01", "{e:?}");
    assert!(
        e.as_db_error()
            .is_some_and(|d| d.message().contains("m/gone")),
        "{e:?}"
    );
    assert_eq!(
        rows(&client, "select count(*) from e").await?,
        table(&[&["5"]])
    );
    Ok(())
}

/// COPY FROM STDIN over the extended protocol (tokio-postgres `copy_in`): rows in
/// PostgreSQL's text format, CSV, bad rows and MAXERROR, pg_last_copy_id().
#[tokio::test(flavor = "multi_thread")]
async fn copy_from_stdin_protocol() -> Result<()> {
    use futures::SinkExt;
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(&dir.path().join("data"), 2, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table s (id int, name varchar(10), day date) distkey(id)")
        .await?;
    async fn copy_in(
        client: &tokio_postgres::Client,
        sql: &str,
        data: &str,
    ) -> Result<u64, tokio_postgres::Error> {
        let sink = client.copy_in::<_, bytes::Bytes>(sql).await?;
        futures::pin_mut!(sink);
        // Two chunks, split mid-row.
        let (a, b) = data.split_at(data.len() / 2);
        sink.send(bytes::Bytes::from(a.to_string())).await?;
        sink.send(bytes::Bytes::from(b.to_string())).await?;
        sink.finish().await
    }
    let n = copy_in(
        &client,
        "copy s from stdin",
        "1\tone\t2024-01-01\n2\t\\N\t\\N\n3\ttab\\there\t2024-01-03\n",
    )
    .await?;
    assert_eq!(n, 3);
    // A COPY into an empty table analyzes it (Redshift's STATUPDATE default).
    let stats_off = "select stats_off from svv_table_info where \"table\" = 's'";
    assert_eq!(rows(&client, stats_off).await?, [["0.00"]]);
    let n = copy_in(
        &client,
        "copy s (name, id) from stdin with (format csv, header true)",
        "name,id\n\"a,b\",4\n,5\n",
    )
    .await?;
    assert_eq!(n, 2);
    // Into a table with rows, it does not: 3 analyzed rows of 5.
    assert_ne!(rows(&client, stats_off).await?, [["0.00"]]);
    assert_eq!(
        rows(&client, "select id, name, day from s order by id").await?,
        table(&[
            &["1", "one", "2024-01-01"],
            &["2", "NULL", "NULL"],
            &["3", "tab\there", "2024-01-03"],
            &["4", "a,b", "NULL"],
            &["5", "NULL", "NULL"],
        ])
    );
    // A bad row: the COPY fails and loads nothing; with MAXERROR it is skipped.
    let e = copy_in(
        &client,
        "copy s from stdin",
        "6\tsix\t2024-01-06\nseven\tx\t\\N\n",
    )
    .await
    .expect_err("bad row");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert_eq!(
        rows(&client, "select count(*) from s").await?,
        table(&[&["5"]])
    );
    let q = rows(&client, "select pg_last_copy_id()").await?[0][0].clone();
    assert_eq!(
        rows(
            &client,
            &format!(
                "select filename, line_number, colname from stl_load_errors where query = {q}"
            )
        )
        .await?,
        table(&[&["stdin", "2", "id"]])
    );
    let n = copy_in(
        &client,
        "copy s from stdin maxerror 1 statupdate on",
        "6\tsix\t2024-01-06\nseven\tx\t\\N\n",
    )
    .await?;
    assert_eq!(n, 1);
    // STATUPDATE ON analyzes whatever the table held.
    assert_eq!(rows(&client, stats_off).await?, [["0.00"]]);
    // The session still works after all of that.
    assert_eq!(
        rows(&client, "select count(*) from s").await?,
        table(&[&["6"]])
    );
    Ok(())
}

/// COPY from files analyzes a table it loads when the table was empty, unless
/// STATUPDATE OFF; STATUPDATE ON always. The statistics belong to the COPY's
/// transaction: a ROLLBACK takes them back with the rows.
#[tokio::test(flavor = "multi_thread")]
async fn copy_updates_statistics_as_statupdate_says() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Embedded::start(&dir.path().join("data"), 1, 2)?;
    let client = connect(&cluster.conn_str()).await?;
    let file = dir.path().join("rows.txt");
    std::fs::write(&file, "1|one\n2|two\n3|three\n")?;
    let from = format!("from 'file://{}' delimiter '|'", file.display());
    client
        .batch_execute("create table a (k int, v varchar(8)); create table b (like a); create table c (like a)")
        .await?;
    let stats_off =
        |t: &str| format!("select stats_off from svv_table_info where \"table\" = '{t}'");
    client.batch_execute(&format!("copy a {from}")).await?;
    assert_eq!(rows(&client, &stats_off("a")).await?, [["0.00"]]);
    client
        .batch_execute(&format!("copy b {from} statupdate off"))
        .await?;
    assert_eq!(rows(&client, &stats_off("b")).await?, [["100.00"]]);
    client
        .batch_execute(&format!("copy b {from} statupdate on"))
        .await?;
    assert_eq!(rows(&client, &stats_off("b")).await?, [["0.00"]]);
    client
        .batch_execute(&format!("begin; copy c {from}; rollback"))
        .await?;
    assert_eq!(rows(&client, "select count(*) from c").await?, [["0"]]);
    assert_eq!(rows(&client, &stats_off("c")).await?, [["100.00"]]);
    Ok(())
}

/// A running COPY shows its progress in STV_LOAD_STATE; killing the cluster in the
/// middle of it leaves the table as it was, with no staged segment left behind.
#[tokio::test(flavor = "multi_thread")]
async fn copy_killed_half_way_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute(
            "create table big (id bigint, name varchar(32), amount numeric(12,2)) distkey(id);
             insert into big values (-1, 'before', 0);",
        )
        .await?;
    // 16 files of 150k rows: long enough to watch and to kill.
    for f in 0..16u64 {
        let mut data = String::with_capacity(150_000 * 32);
        for i in 0..150_000u64 {
            let id = f * 150_000 + i;
            data.push_str(&format!(
                "{id}|name number {id}|{}.{:02}\n",
                id % 1000,
                id % 100
            ));
        }
        s3.put("bucket", &format!("big/part-{f:02}"), data.as_bytes())?;
    }
    let segments_before = blueshift_tests::segment_files(&dir.path().join("data"))?;
    let conn = cluster.conn_str();
    let copy = tokio::spawn(async move {
        let client = connect(&conn).await?;
        client
            .execute("copy big from 's3://bucket/big/' iam_role default", &[])
            .await
            .map_err(anyhow::Error::from)
    });
    // Progress: files and bytes loaded so far, per slice.
    let mut seen = None;
    for _ in 0..600 {
        let state = rows(
            &client,
            "select sum(num_files), sum(bytes_to_load), sum(bytes_loaded), sum(lines) from stv_load_state",
        )
        .await?;
        if state[0][0] != "NULL" && state[0][3] != "0" {
            seen = Some(state[0].clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen = seen.expect("STV_LOAD_STATE shows the running COPY");
    assert_eq!(seen[0], "16", "{seen:?}");
    let to_load: u64 = seen[1].parse()?;
    let loaded: u64 = seen[2].parse()?;
    assert!(loaded <= to_load && to_load > 30_000_000, "{seen:?}");
    assert!(!copy.is_finished(), "the COPY is still running");

    cluster.process.kill9()?;
    assert!(copy.await?.is_err(), "the killed COPY did not succeed");
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    assert_eq!(
        rows(&client, "select count(*), min(id) from big").await?,
        table(&[&["1", "-1"]])
    );
    assert_eq!(
        blueshift_tests::segment_files(&dir.path().join("data"))?,
        segments_before,
        "staged segments of the killed COPY are removed at restart"
    );
    // And the same COPY, run to the end, loads every row.
    assert_eq!(
        client
            .execute("copy big from 's3://bucket/big/' iam_role default", &[])
            .await?,
        2_400_000
    );
    Ok(())
}

/// Input that is not what the COPY says: a corrupt gzip stream, an unterminated CSV
/// quote running to the end of the file, a file that is not Parquet. Each fails
/// with 22P04 naming the file, and loads nothing.
#[tokio::test(flavor = "multi_thread")]
async fn bad_files_fail_cleanly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir.path(), 1)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table b (id int, s varchar(10))")
        .await?;
    s3.put(
        "bucket",
        "gz/a.gz",
        b"\x1f\x8b\x08\x00garbage that is not deflate",
    )?;
    s3.put("bucket", "quote/a.csv", b"1,ok\n2,\"never closed\n3,x\n")?;
    s3.put("bucket", "pq/a.parquet", b"PAR1 not really")?;
    for (copy, file) in [
        (
            "copy b from 's3://bucket/gz/' iam_role default gzip",
            "gz/a.gz",
        ),
        (
            "copy b from 's3://bucket/quote/' iam_role default csv",
            "quote/a.csv",
        ),
        (
            "copy b from 's3://bucket/pq/' iam_role default parquet",
            "pq/a.parquet",
        ),
    ] {
        let e = client.execute(copy, &[]).await.expect_err(copy);
        assert!(["22P04"].contains(&sqlstate(&e).as_str()), "{copy}: {e:?}");
        assert!(format!("{e:?}").contains(file), "{copy}: {e:?}");
    }
    assert_eq!(
        rows(&client, "select count(*) from b").await?,
        table(&[&["0"]])
    );
    Ok(())
}

/// Reads cut short by the object store (`BLUESHIFT_STORE_FAULTS`, the storage
/// crate's fault wrapper, here on every store the cluster opens): the COPY of a file
/// longer than the cut fails naming the file and loads nothing; a file shorter than
/// the cut loads.
#[tokio::test(flavor = "multi_thread")]
async fn reads_cut_short_fail_cleanly() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let mut env = s3.cluster_env(&dir.path().join("roles.json"))?;
    env.push(("BLUESHIFT_STORE_FAULTS".into(), "cut_reads_after=64".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cluster = Embedded::start_with_env(&dir.path().join("data"), 1, 2, &env)?;
    let client = connect(&cluster.conn_str()).await?;
    client
        .batch_execute("create table c (id int, s varchar(40))")
        .await?;
    let long: String = (0..20).map(|i| format!("{i}|row number {i}\n")).collect();
    s3.put("bucket", "long/a.txt", long.as_bytes())?;
    s3.put("bucket", "short/a.txt", b"1|one\n2|two\n")?;
    let e = client
        .execute("copy c from 's3://bucket/long/' iam_role default", &[])
        .await
        .expect_err("a cut read fails the COPY");
    assert!(["58030", "22P04"].contains(&sqlstate(&e).as_str()), "{e:?}");
    assert!(format!("{e:?}").contains("long/a.txt"), "{e:?}");
    assert_eq!(
        rows(&client, "select count(*) from c").await?,
        table(&[&["0"]])
    );
    let n = client
        .execute("copy c from 's3://bucket/short/' iam_role default", &[])
        .await?;
    assert_eq!(n, 2);
    Ok(())
}
