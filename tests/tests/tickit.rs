//! The Redshift getting-started tutorial (TICKIT), as printed: its CREATE TABLE
//! statements (CHARACTER(n) columns, `boolean default('N')`, a table named `date`),
//! its COPY commands (pipe-delimited files, the tab-delimited sales file with
//! `delimiter '\t' timeformat 'MM/DD/YYYY HH:MI:SS'`, `credentials
//! 'aws_iam_role=...'`, `region`) from an S3 endpoint in the test process, and its
//! sample queries. The files are small and made here, in the tutorial's formats.

use anyhow::Result;
use blueshift_tests::{S3Server, TEST_ROLE, connect, rows};

const DDL: &str = "
create table users(
	userid integer not null distkey sortkey,
	username char(8),
	firstname varchar(30),
	lastname varchar(30),
	city varchar(30),
	state char(2),
	email varchar(100),
	phone char(14),
	likesports boolean,
	liketheatre boolean,
	likeconcerts boolean,
	likejazz boolean,
	likeclassical boolean,
	likeopera boolean,
	likerock boolean,
	likevegas boolean,
	likebroadway boolean,
	likemusicals boolean);

create table venue(
	venueid smallint not null distkey sortkey,
	venuename varchar(100),
	venuecity varchar(30),
	venuestate char(2),
	venueseats integer);

create table category(
	catid smallint not null distkey sortkey,
	catgroup varchar(10),
	catname varchar(10),
	catdesc varchar(50));

create table date(
	dateid smallint not null distkey sortkey,
	caldate date not null,
	day character(3) not null,
	week smallint not null,
	month character(5) not null,
	qtr character(5) not null,
	year smallint not null,
	holiday boolean default('N'));

create table event(
	eventid integer not null distkey,
	venueid smallint not null,
	catid smallint not null,
	dateid smallint not null sortkey,
	eventname varchar(200),
	starttime timestamp);

create table listing(
	listid integer not null distkey,
	sellerid integer not null,
	eventid integer not null,
	dateid smallint not null  sortkey,
	numtickets smallint not null,
	priceperticket decimal(8,2),
	totalprice decimal(8,2),
	listtime timestamp);

create table sales(
	salesid integer not null,
	listid integer not null distkey,
	sellerid integer not null,
	buyerid integer not null,
	eventid integer not null,
	dateid smallint not null sortkey,
	qtysold smallint not null,
	pricepaid decimal(8,2),
	commission decimal(8,2),
	saletime timestamp);
";

const USERS: u32 = 60;
const EVENTS: u32 = 40;
const LISTINGS: u32 = 120;
const SALES: u32 = 300;
/// dateid 1827 is 2008-01-01, as in the tutorial's date2008_pipe.txt.
const FIRST_DATEID: u32 = 1827;

/// The tutorial's files, made small: (key, contents).
fn files() -> Vec<(String, String)> {
    let flag = |n: u32| match n % 3 {
        0 => "TRUE",
        1 => "FALSE",
        _ => "",
    };
    let users: String = (1..=USERS)
        .map(|u| {
            let likes: Vec<&str> = (0..10).map(|k| flag(u + k)).collect();
            format!(
                "{u}|USR{u:05}|First{u}|Last{u}|City{}|{}|user{u}@example.com|(664) 602-{u:04}|{}\n",
                u % 7,
                ["WA", "NY", "CA"][(u % 3) as usize],
                likes.join("|")
            )
        })
        .collect();
    let venue: String = (1..=10)
        .map(|v| format!("{v}|Venue {v}|Town{v}|NV|{}\n", 1000 * v))
        .collect();
    let category = "1|Sports|MLB|Major League Baseball\n\
                    2|Sports|NHL|National Hockey League\n\
                    6|Shows|Musicals|Musical theatre\n\
                    7|Shows|Plays|All non-musical theatre\n\
                    9|Concerts|Pop|All rock and pop music concerts\n"
        .to_string();
    let start = chrono::NaiveDate::from_ymd_opt(2008, 1, 1).expect("a date");
    let date: String = (0..366)
        .map(|i| {
            let d = start + chrono::Duration::days(i);
            use chrono::Datelike;
            format!(
                "{}|{}|{}|{}|{}|{}|2008|{}\n",
                FIRST_DATEID + i as u32,
                d.format("%Y-%m-%d"),
                &d.format("%a").to_string().to_uppercase()[..2],
                d.iso_week().week(),
                d.format("%b").to_string().to_uppercase(),
                (d.month0() / 3) + 1,
                if i % 30 == 0 { "TRUE" } else { "FALSE" }
            )
        })
        .collect();
    let event: String = (1..=EVENTS)
        .map(|e| {
            format!(
                "{e}|{}|{}|{}|Event {e}|2008-{:02}-{:02} {:02}:30:00\n",
                e % 10 + 1,
                [1, 2, 6, 7, 9][(e % 5) as usize],
                FIRST_DATEID + e * 9,
                e % 12 + 1,
                e % 28 + 1,
                e % 24
            )
        })
        .collect();
    let listing: String = (1..=LISTINGS)
        .map(|l| {
            let price = 20 + l % 50;
            let tickets = l % 10 + 1;
            format!(
                "{l}|{}|{}|{}|{tickets}|{price}.00|{}.00|2008-01-{:02} 06:43:29\n",
                l % USERS + 1,
                l % EVENTS + 1,
                FIRST_DATEID + l % 300,
                price * tickets,
                l % 28 + 1
            )
        })
        .collect();
    let sales: String = (1..=SALES)
        .map(|s| {
            let (qty, price) = sale(s);
            format!(
                "{s}\t{}\t{}\t{}\t{}\t{}\t{qty}\t{price}.00\t{}.{:02}\t{}/{}/2008 {:02}:36:48\n",
                s % LISTINGS + 1,
                s % USERS + 1,
                buyer(s),
                s % EVENTS + 1,
                dateid(s),
                price * 15 / 100,
                price * 15 % 100,
                s % 12 + 1,
                s % 28 + 1,
                s % 24
            )
        })
        .collect();
    vec![
        ("tickit/allusers_pipe.txt".into(), users),
        ("tickit/venue_pipe.txt".into(), venue),
        ("tickit/category_pipe.txt".into(), category),
        ("tickit/date2008_pipe.txt".into(), date),
        ("tickit/allevents_pipe.txt".into(), event),
        ("tickit/listings_pipe.txt".into(), listing),
        ("tickit/sales_tab.txt".into(), sales),
    ]
}

/// Sale `s`'s quantity and price paid.
fn sale(s: u32) -> (u32, u32) {
    (s % 4 + 1, 50 + (s * 37) % 400)
}

fn buyer(s: u32) -> u32 {
    (s * 7) % USERS + 1
}

fn dateid(s: u32) -> u32 {
    FIRST_DATEID + s % 10
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tickit_tutorial_runs_as_printed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let s3 = S3Server::start(&["redshift-downloads"]).await?;
    let cluster = s3.start_cluster(dir.path(), 2)?;
    let client = connect(&cluster.conn_str()).await?;
    client.batch_execute(DDL).await?;
    for (key, contents) in files() {
        s3.put("redshift-downloads", &key, contents.as_bytes())?;
    }
    let credentials = format!("credentials 'aws_iam_role={TEST_ROLE}'");
    for (table, file, extra) in [
        ("users", "allusers_pipe.txt", "delimiter '|'"),
        ("venue", "venue_pipe.txt", "delimiter '|'"),
        ("category", "category_pipe.txt", "delimiter '|'"),
        ("date", "date2008_pipe.txt", "delimiter '|'"),
        (
            "event",
            "allevents_pipe.txt",
            "delimiter '|' timeformat 'YYYY-MM-DD HH:MI:SS'",
        ),
        ("listing", "listings_pipe.txt", "delimiter '|'"),
        (
            "sales",
            "sales_tab.txt",
            "delimiter '\\t' timeformat 'MM/DD/YYYY HH:MI:SS'",
        ),
    ] {
        let copy = format!(
            "copy {table} from 's3://redshift-downloads/tickit/{file}'\n\
             {credentials}\n{extra} region 'us-west-2';"
        );
        client
            .batch_execute(&copy)
            .await
            .map_err(|e| anyhow::anyhow!("{copy}: {e:?}"))?;
    }
    let counts = rows(
        &client,
        "select (select count(*) from users), (select count(*) from venue), \
         (select count(*) from category), (select count(*) from date), \
         (select count(*) from event), (select count(*) from listing), \
         (select count(*) from sales)",
    )
    .await?;
    assert_eq!(
        counts,
        vec![
            [USERS, 10, 5, 366, EVENTS, LISTINGS, SALES]
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
        ]
    );

    // The tutorial's queries.
    let def = rows(
        &client,
        "SELECT * FROM pg_table_def WHERE tablename = 'sales';",
    )
    .await?;
    assert_eq!(def.len(), 10, "{def:?}");

    let day = chrono::NaiveDate::from_ymd_opt(2008, 1, 5).expect("a date");
    let day_id = FIRST_DATEID
        + (day - chrono::NaiveDate::from_ymd_opt(2008, 1, 1).expect("a date")).num_days() as u32;
    let expected: u32 = (1..=SALES)
        .filter(|&s| dateid(s) == day_id)
        .map(|s| sale(s).0)
        .sum();
    let sold = rows(
        &client,
        "SELECT sum(qtysold) FROM sales, date WHERE sales.dateid = date.dateid \
         AND caldate = '2008-01-05';",
    )
    .await?;
    assert_eq!(sold, vec![vec![expected.to_string()]]);

    let mut totals = std::collections::BTreeMap::<u32, u32>::new();
    for s in 1..=SALES {
        *totals.entry(buyer(s)).or_default() += sale(s).0;
    }
    let best = totals.values().max().copied().unwrap_or(0);
    let top = rows(
        &client,
        "SELECT firstname, lastname, total_quantity \
         FROM (SELECT buyerid, sum(qtysold) total_quantity \
               FROM  sales \
               GROUP BY buyerid \
               ORDER BY total_quantity desc limit 10) Q, users \
         WHERE Q.buyerid = userid \
         ORDER BY Q.total_quantity desc;",
    )
    .await?;
    assert_eq!(top.len(), 10);
    assert_eq!(top[0][2], best.to_string(), "{top:?}");

    // A derived table without an alias, as Redshift allows.
    let percentile = rows(
        &client,
        "SELECT eventname, total_price \
         FROM  (SELECT eventid, total_price, ntile(1000) over(order by total_price desc) as percentile \
                FROM (SELECT eventid, sum(pricepaid) total_price \
                      FROM   sales \
                      GROUP BY eventid)) Q, event E \
                WHERE Q.eventid = E.eventid \
                AND percentile = 1 \
         ORDER BY total_price desc;",
    )
    .await?;
    assert_eq!(percentile.len(), 1, "{percentile:?}");

    // The sample data as the tutorial shows it: CHAR columns, dates, times, money.
    let shown = rows(
        &client,
        "select d.day, d.month, d.holiday, s.saletime, s.pricepaid, s.commission \
         from sales s join date d on d.dateid = s.dateid where s.salesid = 1",
    )
    .await?;
    let (_, price) = sale(1);
    assert_eq!(
        shown,
        vec![vec![
            "WE".to_string(),
            "JAN".to_string(),
            "f".to_string(),
            "2008-02-02 01:36:48".to_string(),
            format!("{price}.00"),
            format!("{}.{:02}", price * 15 / 100, price * 15 % 100),
        ]]
    );
    Ok(())
}
