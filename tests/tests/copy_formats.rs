//! COPY from ORC and Avro files, written here by the orc-rust and arrow-avro writers
//! and served by the in-process S3 endpoint. ORC columns load in order, Avro fields
//! by name (`'auto'`, `'auto ignorecase'`) or by JSONPaths. The cluster splits files
//! over 4 KB, so each file loads in byte ranges (ORC stripes, Avro blocks) over the
//! slices, and every row must still load once.

use std::sync::Arc;

use anyhow::Result;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use blueshift_tests::{S3Server, rows, sqlstate, table};

const ROWS: i64 = 3000;

/// The rows `ids`: an id, a name (NULL for multiples of 7), a date, a timestamp, a
/// flag and a score; with `price`, a DECIMAL(10,2) after the name; with `extra`, a
/// column no table has.
fn batch(ids: std::ops::Range<i64>, name: &str, price: bool, extra: bool) -> Result<RecordBatch> {
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new(name, DataType::Utf8, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(ids.clone())),
        Arc::new(StringArray::from_iter(
            ids.clone().map(|i| (i % 7 != 0).then(|| format!("n{i}"))),
        )),
    ];
    if price {
        fields.push(Field::new("price", DataType::Decimal128(10, 2), false));
        columns.push(Arc::new(
            Decimal128Array::from_iter_values(ids.clone().map(|i| i128::from(i) * 101))
                .with_precision_and_scale(10, 2)?,
        ));
    }
    fields.extend([
        Field::new("day", DataType::Date32, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("flag", DataType::Boolean, false),
        Field::new("score", DataType::Float64, false),
    ]);
    columns.extend([
        Arc::new(Date32Array::from_iter_values(
            ids.clone().map(|i| 19000 + (i % 365) as i32),
        )) as ArrayRef,
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            ids.clone().map(|i| (1_700_000_000 + i) * 1_000_000),
        )),
        Arc::new(BooleanArray::from_iter(
            ids.clone().map(|i| Some(i % 2 == 0)),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.clone().map(|i| i as f64 / 4.0),
        )),
    ]);
    if extra {
        fields.push(Field::new("extra", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from_iter_values(
            ids.map(|i| format!("x{i}")),
        )));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `ROWS` rows as an ORC file of many small stripes.
fn orc_file() -> Result<Vec<u8>> {
    let first = batch(0..1, "name", false, false)?;
    let mut out = Vec::new();
    let mut writer = orc_rust::ArrowWriterBuilder::new(&mut out, first.schema())
        .with_stripe_byte_size(4 * 1024)
        .try_build()?;
    for start in (0..ROWS).step_by(250) {
        writer.write(&batch(start..start + 250, "name", false, false)?)?;
    }
    writer.close()?;
    Ok(out)
}

/// `batches` as an Avro file, a block per batch, compressed with `codec`.
fn avro_bytes(
    batches: &[RecordBatch],
    codec: Option<arrow_avro::compression::CompressionCodec>,
) -> Result<Vec<u8>> {
    let Some(first) = batches.first() else {
        anyhow::bail!("no batches to write");
    };
    let mut writer = arrow_avro::writer::WriterBuilder::new(first.schema().as_ref().clone())
        .with_compression(codec)
        .build::<_, arrow_avro::writer::format::AvroOcfFormat>(Vec::new())?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner())
}

/// `ROWS` rows as an Avro file of 100-row blocks, compressed with `codec`.
fn avro_file(
    name: &str,
    codec: Option<arrow_avro::compression::CompressionCodec>,
) -> Result<Vec<u8>> {
    let blocks = (0..ROWS)
        .step_by(100)
        .map(|start| batch(start..start + 100, name, true, true))
        .collect::<Result<Vec<_>>>()?;
    avro_bytes(&blocks, codec)
}

/// A 1-node cluster on a new S3 endpoint with a `bucket`, and a client of it.
async fn one_node(
    dir: &std::path::Path,
) -> Result<(S3Server, blueshift_tests::Embedded, tokio_postgres::Client)> {
    let s3 = S3Server::start(&["bucket"]).await?;
    let cluster = s3.start_cluster(dir, 1)?;
    let client = blueshift_tests::connect(&cluster.conn_str()).await?;
    Ok((s3, cluster, client))
}

/// What every load of the `ROWS` rows must give, whichever columns it has.
const SUMMARY: &str = "select count(*), count(distinct id), sum(id), count(name), \
     count(distinct day), min(day), max(ts), sum(case when flag then 1 else 0 end), \
     sum(score) from ";

fn summary(names: u64) -> Vec<Vec<String>> {
    table(&[&[
        "3000",
        "3000",
        "4498500",
        &names.to_string(),
        "365",
        "2022-01-08",
        "2023-11-14 23:03:19",
        "1500",
        "1124625",
    ]])
}

/// The number of byte ranges (STL_LOAD_COMMITS rows past offset 0) the last COPY
/// read its files in.
async fn later_ranges(client: &tokio_postgres::Client) -> Result<u64> {
    let q = rows(client, "select pg_last_copy_id()").await?[0][0].clone();
    let found = rows(
        client,
        &format!("select count(*) from stl_load_commits where query = {q} and byte_offset > 0"),
    )
    .await?;
    Ok(found[0][0].parse()?)
}

/// ORC loads column by column in order, in stripes over the slices; a file with
/// other columns, or GZIP with ORC, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn orc_loads_its_columns_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let (_cluster, client) = s3.start_split_cluster(dir.path(), 4096).await?;
    client
        .batch_execute(
            "create table o (id bigint not null, label varchar(20), day date, ts timestamp, \
             flag boolean, score float8) diststyle even",
        )
        .await?;
    s3.put("bucket", "orc/part-0.orc", &orc_file()?)?;
    let copy = "copy o from 's3://bucket/orc/' iam_role default format as orc";
    assert_eq!(client.execute(copy, &[]).await?, ROWS as u64);
    assert!(later_ranges(&client).await? > 1, "split into ranges");
    let summary_of_o = SUMMARY.replace("name", "label");
    assert_eq!(
        rows(&client, &format!("{summary_of_o} o")).await?,
        summary(2571)
    );
    assert_eq!(
        rows(
            &client,
            "select id, label, day, ts, flag, score from o where id in (7, 1234) order by id"
        )
        .await?,
        table(&[
            &[
                "7",
                "NULL",
                "2022-01-15",
                "2023-11-14 22:13:27",
                "f",
                "1.75"
            ],
            &[
                "1234",
                "n1234",
                "2022-05-27",
                "2023-11-14 22:33:54",
                "t",
                "308.5"
            ],
        ])
    );

    // NOLOAD reads every stripe and loads nothing.
    assert_eq!(client.execute(&format!("{copy} noload"), &[]).await?, 0);
    assert_eq!(
        rows(&client, "select count(*) from o").await?,
        table(&[&["3000"]])
    );

    // A table with other columns than the file: 22P04 naming the file.
    client
        .batch_execute("create table narrow (id bigint, label varchar(20))")
        .await?;
    let e = client
        .execute(
            "copy narrow from 's3://bucket/orc/' iam_role default orc",
            &[],
        )
        .await
        .expect_err("6 columns into 2");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert!(format!("{e:?}").contains("orc/part-0.orc"), "{e:?}");

    // With FILLRECORD a file may have fewer columns: the last ones are NULL.
    client
        .batch_execute(
            "create table wide (id bigint, label varchar(20), day date, ts timestamp, \
             flag boolean, score float8, more int)",
        )
        .await?;
    let wide = "copy wide from 's3://bucket/orc/' iam_role default orc";
    let e = client
        .execute(wide, &[])
        .await
        .expect_err("6 columns into 7");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    client.execute(&format!("{wide} fillrecord"), &[]).await?;
    assert_eq!(
        rows(
            &client,
            "select count(*), count(score), count(more) from wide"
        )
        .await?,
        table(&[&["3000", "3000", "0"]])
    );

    // Options for text input, and GZIP (ORC compresses itself), are refused before
    // anything is read.
    for option in ["gzip", "ignoreheader 1", "maxerror 10", "dateformat 'auto'"] {
        let e = client
            .execute(&format!("{copy} {option}"), &[])
            .await
            .expect_err(option);
        assert_eq!(sqlstate(&e), "0A000", "{option}: {e:?}");
    }

    // Not an ORC file: 22P04 naming it; the table is as it was.
    s3.put("bucket", "bad-orc/a.orc", b"ORC but not really")?;
    let e = client
        .execute(
            "copy o from 's3://bucket/bad-orc/' iam_role default orc",
            &[],
        )
        .await
        .expect_err("not ORC");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert!(format!("{e:?}").contains("bad-orc/a.orc"), "{e:?}");
    assert_eq!(
        rows(&client, "select count(*) from o").await?,
        table(&[&["3000"]])
    );
    Ok(())
}

/// Avro fields fill the columns of their names: `'auto'` matches names exactly,
/// `'auto ignorecase'` in any case, and a JSONPaths file reaches into records and
/// arrays. Compressed blocks, byte ranges over the slices, values too long for a
/// column (with and without TRUNCATECOLUMNS) and NOT NULL columns with no field.
#[tokio::test(flavor = "multi_thread")]
async fn avro_loads_fields_by_name_or_path() -> Result<()> {
    use arrow_avro::compression::CompressionCodec;
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["bucket"]).await?;
    let (_cluster, client) = s3.start_split_cluster(dir.path(), 4096).await?;
    client
        .batch_execute(
            "create table a (id bigint not null, name varchar(20), price decimal(10,2), \
             day date, ts timestamp, flag boolean, score float8) diststyle key distkey(id)",
        )
        .await?;
    s3.put("bucket", "plain/a.avro", &avro_file("name", None)?)?;
    s3.put(
        "bucket",
        "zstd/a.avro",
        &avro_file("Name", Some(CompressionCodec::ZStandard))?,
    )?;
    s3.put(
        "bucket",
        "deflate/a.avro",
        &avro_file("name", Some(CompressionCodec::Deflate))?,
    )?;
    let sum_price = "select sum(price) from a";

    let copy = |prefix: &str, option: &str| {
        format!("copy a from 's3://bucket/{prefix}/' iam_role default format as avro '{option}'")
    };
    for prefix in ["plain", "deflate"] {
        client.batch_execute("truncate a").await?;
        assert_eq!(
            client.execute(&copy(prefix, "auto"), &[]).await?,
            ROWS as u64
        );
        assert!(later_ranges(&client).await? > 1, "{prefix}: in ranges");
        assert_eq!(
            rows(&client, &format!("{SUMMARY} a")).await?,
            summary(2571),
            "{prefix}"
        );
        assert_eq!(rows(&client, sum_price).await?, table(&[&["4543485.00"]]));
    }
    assert_eq!(
        rows(
            &client,
            "select id, name, price, day, ts, flag, score from a where id in (7, 1234) order by id"
        )
        .await?,
        table(&[
            &[
                "7",
                "NULL",
                "7.07",
                "2022-01-15",
                "2023-11-14 22:13:27",
                "f",
                "1.75"
            ],
            &[
                "1234",
                "n1234",
                "1246.34",
                "2022-05-27",
                "2023-11-14 22:33:54",
                "t",
                "308.5"
            ],
        ])
    );

    // The zstd file's field is "Name": 'auto' leaves the column NULL, 'auto
    // ignorecase' fills it.
    client.batch_execute("truncate a").await?;
    client.execute(&copy("zstd", "auto"), &[]).await?;
    assert_eq!(rows(&client, &format!("{SUMMARY} a")).await?, summary(0));
    client.batch_execute("truncate a").await?;
    client
        .execute(&copy("zstd", "auto ignorecase"), &[])
        .await?;
    assert_eq!(rows(&client, &format!("{SUMMARY} a")).await?, summary(2571));

    // Names longer than the column: refused, or cut with TRUNCATECOLUMNS.
    client
        .batch_execute("create table short (id bigint, name varchar(3))")
        .await?;
    let e = client
        .execute(
            "copy short from 's3://bucket/plain/' iam_role default avro 'auto'",
            &[],
        )
        .await
        .expect_err("too long");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert!(format!("{e:?}").contains("column name"), "{e:?}");
    assert!(format!("{e:?}").contains("plain/a.avro"), "{e:?}");
    client
        .execute(
            "copy short from 's3://bucket/plain/' iam_role default avro 'auto' truncatecolumns",
            &[],
        )
        .await?;
    assert_eq!(
        rows(
            &client,
            "select count(*), max(length(name)) from short where name = 'n12'"
        )
        .await?,
        table(&[&["96", "3"]])
    );

    // A NOT NULL column no field fills.
    client
        .batch_execute("create table needs (id bigint, missing int not null)")
        .await?;
    let e = client
        .execute(
            "copy needs from 's3://bucket/plain/' iam_role default avro 'auto'",
            &[],
        )
        .await
        .expect_err("NOT NULL without a field");
    assert!(format!("{e:?}").contains("missing"), "{e:?}");
    assert_eq!(
        rows(&client, "select count(*) from needs").await?,
        table(&[&["0"]])
    );

    // GZIP with Avro is refused; a file that is not Avro names itself.
    let e = client
        .execute(&format!("{} gzip", copy("plain", "auto")), &[])
        .await
        .expect_err("gzip avro");
    assert_eq!(sqlstate(&e), "0A000", "{e:?}");
    s3.put("bucket", "bad/a.avro", b"Obj\x01 not really")?;
    let e = client
        .execute(&copy("bad", "auto"), &[])
        .await
        .expect_err("not Avro");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert!(format!("{e:?}").contains("bad/a.avro"), "{e:?}");
    Ok(())
}

/// A JSONPaths file picks Avro fields, fields of records and elements of arrays;
/// a path that leads nowhere in a row gives NULL.
#[tokio::test(flavor = "multi_thread")]
async fn avro_jsonpaths_reach_into_records_and_arrays() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (s3, _cluster, client) = one_node(dir.path()).await?;
    client
        .batch_execute("create table n (id bigint, city varchar(20), second_tag bigint)")
        .await?;
    // id, place {city}, tags [..]: row 2's place is NULL and its tags too short.
    let place = Field::new(
        "place",
        DataType::Struct(vec![Field::new("city", DataType::Utf8, true)].into()),
        true,
    );
    let tags = Field::new(
        "tags",
        DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
        true,
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        place.clone(),
        tags,
    ]));
    let DataType::Struct(place_fields) = place.data_type().clone() else {
        anyhow::bail!("a struct");
    };
    let cities: ArrayRef = Arc::new(StringArray::from(vec![Some("Oslo"), None, Some("Lima")]));
    let places = StructArray::try_new(
        place_fields,
        vec![cities],
        Some(vec![true, false, true].into()),
    )?;
    let lists = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
        Some(vec![Some(10), Some(11)]),
        Some(vec![Some(20)]),
        Some(vec![Some(30), Some(31), Some(32)]),
    ]);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(places),
            Arc::new(lists),
        ],
    )?;
    s3.put("bucket", "nested/a.avro", &avro_bytes(&[batch], None)?)?;
    s3.put(
        "bucket",
        "paths.json",
        br#"{"jsonpaths": ["$.id", "$.place.city", "$['tags'][1]"]}"#,
    )?;
    client
        .execute(
            "copy n from 's3://bucket/nested/' iam_role default \
             format as avro 's3://bucket/paths.json'",
            &[],
        )
        .await?;
    assert_eq!(
        rows(&client, "select id, city, second_tag from n order by id").await?,
        table(&[
            &["1", "Oslo", "11"],
            &["2", "NULL", "NULL"],
            &["3", "Lima", "31"]
        ])
    );
    Ok(())
}

/// A bad Avro value rejects its row: recorded in STL_LOAD_ERRORS with its row
/// number, column, value and code; up to MAXERROR rows are skipped, beyond that the
/// COPY fails and loads nothing.
#[tokio::test(flavor = "multi_thread")]
async fn avro_bad_values_reject_their_rows() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (s3, _cluster, client) = one_node(dir.path()).await?;
    client
        .batch_execute("create table d (id bigint, d date)")
        .await?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("d", DataType::Utf8, true),
    ]));
    let days: Vec<String> = (1..=9).map(|i| format!("2024-01-0{i}")).collect();
    let mut values: Vec<&str> = days.iter().map(String::as_str).collect();
    values[5] = "not a date";
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(1..=9)),
            Arc::new(StringArray::from(values)),
        ],
    )?;
    s3.put("bucket", "days/a.avro", &avro_bytes(&[batch], None)?)?;
    let copy = "copy d from 's3://bucket/days/' iam_role default avro 'auto'";

    let e = client.execute(copy, &[]).await.expect_err("MAXERROR 0");
    assert_eq!(sqlstate(&e), "22P04", "{e:?}");
    assert_eq!(
        rows(&client, "select count(*) from d").await?,
        table(&[&["0"]])
    );
    assert_eq!(client.execute(&format!("{copy} maxerror 1"), &[]).await?, 8);
    assert_eq!(
        rows(&client, "select count(*), min(d), max(d) from d").await?,
        table(&[&["8", "2024-01-01", "2024-01-09"]])
    );
    assert_eq!(
        rows(
            &client,
            "select trim(filename), line_number, trim(colname), trim(raw_field_value), \
             err_code from stl_load_errors where query = pg_last_copy_id()"
        )
        .await?,
        table(&[&["s3://bucket/days/a.avro", "6", "d", "not a date", "1205"]])
    );
    Ok(())
}
