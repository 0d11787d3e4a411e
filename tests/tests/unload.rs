//! UNLOAD to a real S3 endpoint (s3s-fs with SigV4, in the test process): formats,
//! compression, PARTITION BY, MANIFEST, PARALLEL, overwrite control, and what comes
//! back.

use anyhow::Result;
use blueshift_tests::{S3Server, connect, rows, sqlstate, table};

/// UNLOAD in each format, then COPY of its output, gives back the same rows;
/// Redshift's file names, PARTITION BY folders, manifests, and the refusal to
/// overwrite.
#[tokio::test(flavor = "multi_thread")]
async fn unload_round_trips() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    let columns =
        "(id int, name varchar(20), amount numeric(10,2), day date, at timestamp, flag boolean)";
    client
        .batch_execute(&format!(
            "create table src {columns} distkey(id);
             insert into src values
               (1, 'plain', 1.25, '2024-01-02', '2024-01-02 03:04:05', true),
               (2, 'pipe|comma,quote\"', -3.50, '1999-12-31', '1999-12-31 23:59:59.5', false),
               (3, 'new\nline', null, null, null, null),
               (4, '', 0, '2000-02-29', '2000-02-29 00:00:00', true),
               (5, null, 7.00, '2024-06-01', '2024-06-01 12:00:00', false);
             insert into src select x + 100, 'gen' || x, x, '2024-01-01', '2024-01-01 00:00:00', x % 2 = 0
               from (select unnest(range(0, 500)) as x) g;"
        ))
        .await?;
    let same = |table: &'static str| {
        let client = &client;
        async move {
            // Every row has its own id, so EXCEPT (which Redshift has; EXCEPT ALL it
            // has not) and the row count together compare the tables row by row.
            let diff = rows(
                client,
                &format!(
                    "select (select count(*) from (select * from src except select * from {table}) a) as missing, \
                     (select count(*) from (select * from {table} except select * from src) b) as extra, \
                     (select count(*) from {table}) as total"
                ),
            )
            .await?;
            anyhow::Ok(diff)
        }
    };
    let cases = [
        ("text", "escape null as '\\N'", "escape"),
        (
            "csv",
            "format csv gzip header",
            "csv gzip ignoreheader 1 emptyasnull",
        ),
        ("json", "format json zstd", "json 'auto' zstd"),
        (
            "parquet",
            "format parquet partition by (flag) include manifest verbose",
            "format parquet",
        ),
    ];
    for (name, unload_options, copy_options) in cases {
        let n = client
            .execute(
                &format!(
                    "unload ('select * from src') to 's3://bucket/out/{name}/' iam_role default {unload_options}"
                ),
                &[],
            )
            .await?;
        assert_eq!(n, 505, "{name}");
        client
            .batch_execute(&format!("create table dst_{name} {columns}"))
            .await?;
        let n = client
            .execute(
                &format!(
                    "copy dst_{name} from 's3://bucket/out/{name}/' iam_role default {copy_options}"
                ),
                &[],
            )
            .await;
        if name == "parquet" {
            // The manifest is under the prefix too: load the data files through it.
            assert!(n.is_err(), "the manifest is not Parquet");
            client
                .execute(
                    &format!(
                        "copy dst_{name} from 's3://bucket/out/{name}/manifest' iam_role default \
                         {copy_options} manifest"
                    ),
                    &[],
                )
                .await?;
        } else {
            assert_eq!(n?, 505, "{name}");
        }
        assert_eq!(
            same(match name {
                "text" => "dst_text",
                "csv" => "dst_csv",
                "json" => "dst_json",
                _ => "dst_parquet",
            })
            .await?,
            table(&[&["0", "0", "505"]]),
            "{name}"
        );
    }

    // Redshift's names: <prefix><slice>_part_<nn>, compression extensions, Hive folders.
    let text = s3.keys("bucket", "out/text/")?;
    assert!(
        !text.is_empty()
            && text
                .iter()
                .all(|k| k.starts_with("out/text/0") && k.contains("_part_00")),
        "{text:?}"
    );
    let csv = s3.keys("bucket", "out/csv/")?;
    assert!(csv.iter().all(|k| k.ends_with(".gz")), "{csv:?}");
    let parquet = s3.keys("bucket", "out/parquet/")?;
    assert!(
        parquet.contains(&"out/parquet/manifest".to_string()),
        "{parquet:?}"
    );
    assert!(
        parquet
            .iter()
            .any(|k| k.starts_with("out/parquet/flag=true/") && k.ends_with(".parquet")),
        "{parquet:?}"
    );
    assert!(
        parquet
            .iter()
            .any(|k| k.starts_with("out/parquet/flag=__HIVE_DEFAULT_PARTITION__/")),
        "{parquet:?}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&s3.get("bucket", "out/parquet/manifest")?)?;
    assert_eq!(manifest["meta"]["record_count"], 505);

    // Existing files are not overwritten unless asked.
    let e = client
        .execute(
            "unload ('select 1') to 's3://bucket/out/text/' iam_role default",
            &[],
        )
        .await
        .expect_err("not empty");
    assert_eq!(sqlstate(&e), "58P02", "{e:?}");
    client
        .execute("unload ('select id from src') to 's3://bucket/out/text/' iam_role default allowoverwrite", &[])
        .await?;
    client
        .execute("unload ('select id from src order by id') to 's3://bucket/out/text/' iam_role default cleanpath parallel off", &[])
        .await?;
    assert_eq!(
        s3.keys("bucket", "out/text/")?,
        vec!["out/text/000".to_string()]
    );
    let serial = String::from_utf8(s3.get("bucket", "out/text/000")?)?;
    assert!(
        serial.starts_with("1\n2\n3\n4\n5\n100\n"),
        "ordered: {}",
        &serial[..20]
    );

    // A bad query or option fails before writing.
    let e = client
        .execute(
            "unload ('select nope from src') to 's3://bucket/x/' iam_role default",
            &[],
        )
        .await
        .expect_err("bad column");
    assert_eq!(sqlstate(&e), "42703", "{e:?}");
    assert!(s3.keys("bucket", "x/")?.is_empty());
    Ok(())
}
