//! The exchange registry: readers get their rows, producers stop, readers that do not
//! come hold nobody up.

use arrow::array::{Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::prelude::SessionContext;

use super::*;
use blueshift_operators::delivery::delivery_to_proto;
use blueshift_proto::ExchangeDelivery;
use blueshift_storage::catalog::ClusterLayout;

/// A registry whose producer is `batches` in two partitions of int64 keys
/// (0..n), and readers' channels kept for `expiry`.
fn registry(batches: usize, expiry: Duration) -> Arc<ExchangeRegistry> {
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
    let make = |from: usize| -> Vec<RecordBatch> {
        (0..batches)
            .map(|b| {
                let start = ((from * batches + b) * 100) as i64;
                let keys = Int64Array::from_iter_values(start..start + 100);
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(keys)]).expect("test setup")
            })
            .collect()
    };
    let partitions = vec![make(0), make(1)];
    let registry = ExchangeRegistry::with_expiry(Arc::default(), expiry);
    registry.set_decoder(Box::new(move |_, _| {
        let plan = MemorySourceConfig::try_new_exec(&partitions, Arc::clone(&schema), None)?;
        Ok((
            plan as Arc<dyn ExecutionPlan>,
            SessionContext::new().task_ctx(),
        ))
    }));
    registry
}

fn read(target: u32, delivery: &Delivery) -> ExchangeRead {
    ExchangeRead {
        id: 7,
        nonce: 42,
        partitions: vec![0, 1],
        target,
        targets: 3,
        delivery: Some(delivery_to_proto(delivery)),
    }
}

fn by_key() -> Delivery {
    Delivery::ByKey {
        column: 0,
        layout: ClusterLayout {
            nodes: 1,
            slices_per_node: 3,
        },
        slices: vec![0, 1, 2],
        hash: blueshift_storage::distribution::DistHash::CanonicalV1,
    }
}

async fn keys(mut rows: Rows) -> Vec<i64> {
    let mut out = Vec::new();
    while let Some(batch) = rows.recv().await {
        let batch = batch.expect("test setup");
        let keys = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("test setup");
        out.extend(keys.iter().flatten());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn each_reader_gets_the_rows_of_its_slice_once() {
    let registry = registry(10, EXPIRY);
    let scope = ExchangeScope::default();
    let delivery = by_key();
    let mut all = Vec::new();
    let mut readers = Vec::new();
    for target in 0..3 {
        readers.push(
            registry
                .open(scope, b"", &read(target, &delivery))
                .expect("test setup"),
        );
    }
    // Every reader took its channel: the node forgets the exchange.
    assert!(registry.lock().is_empty());
    // Readers read at once, as a fragment's partitions do: a producer waits for
    // the slowest.
    let reads: Vec<_> = readers
        .into_iter()
        .map(|opened| {
            let report = opened.report.is_some();
            (report, tokio::spawn(keys(opened.rows)))
        })
        .collect();
    for (target, (report, read)) in reads.into_iter().enumerate() {
        assert_eq!(report, target == 0);
        let got = read.await.expect("test setup");
        assert!(!got.is_empty(), "reader {target} got nothing");
        // Each row is on the slice its key hashes to.
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(got.clone()))],
        )
        .expect("test setup");
        let parts = Splitter::new(&delivery).split(&batch).expect("test setup");
        assert!(parts.iter().all(|(p, _)| *p == target), "reader {target}");
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<i64>>());
    // A second ask for a reader's rows is refused rather than served twice.
    let again = registry
        .open(scope, b"", &read(0, &delivery))
        .expect("test setup");
    assert!(registry.open(scope, b"", &read(0, &delivery)).is_err());
    drop(again);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broadcast_gives_every_reader_every_row() {
    let registry = registry(30, EXPIRY);
    let reads: Vec<_> = (0..3)
        .map(|target| {
            let opened = registry
                .open(
                    ExchangeScope::default(),
                    b"",
                    &read(target, &Delivery::Broadcast),
                )
                .expect("test setup");
            tokio::spawn(keys(opened.rows))
        })
        .collect();
    for read in reads {
        let mut got = read.await.expect("test setup");
        got.sort_unstable();
        assert_eq!(got, (0..6000).collect::<Vec<i64>>());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readers_that_leave_or_never_come_do_not_hold_up_the_others() {
    // Far more batches than a channel holds.
    let registry = registry(200, Duration::from_millis(300));
    let scope = ExchangeScope::default();
    let delivery = by_key();
    let first = registry
        .open(scope, b"", &read(0, &delivery))
        .expect("test setup");
    // Reader 1 leaves at once; reader 2 never comes.
    drop(
        registry
            .open(scope, b"", &read(1, &delivery))
            .expect("test setup"),
    );
    let got = tokio::time::timeout(Duration::from_secs(30), keys(first.rows))
        .await
        .expect("reader 0 was held up");
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(
            (0..40_000).collect::<Vec<i64>>(),
        ))],
    )
    .expect("test setup");
    let expected: usize = Splitter::new(&delivery)
        .split(&batch)
        .expect("test setup")
        .iter()
        .filter(|(p, _)| *p == 0)
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(got.len(), expected);
    assert!(registry.lock().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn producers_stop_when_every_reader_is_gone() {
    let registry = registry(200, Duration::from_millis(100));
    let delivery = by_key();
    for target in 0..3 {
        drop(
            registry
                .open(ExchangeScope::default(), b"", &read(target, &delivery))
                .expect("test setup"),
        );
    }
    // The producer partitions were listed as running; they end without anyone
    // reading their rows.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !registry.running.state().fragments.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "producers still run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_reads_are_refused_before_anything_starts() {
    let registry = registry(1, EXPIRY);
    let scope = ExchangeScope::default();
    let good = read(0, &by_key());
    let bad = vec![
        ExchangeRead {
            targets: u32::MAX,
            delivery: Some(delivery_to_proto(&Delivery::Broadcast)),
            ..good.clone()
        },
        ExchangeRead {
            target: 3,
            ..good.clone()
        },
        ExchangeRead {
            partitions: vec![0, 0],
            ..good.clone()
        },
        ExchangeRead {
            delivery: Some(ExchangeDelivery {
                nodes: u32::MAX,
                slices_per_node: 3,
                ..delivery_to_proto(&by_key())
            }),
            ..good.clone()
        },
        ExchangeRead {
            delivery: Some(ExchangeDelivery {
                slices: vec![0, 1, 7],
                ..delivery_to_proto(&by_key())
            }),
            ..good.clone()
        },
        ExchangeRead {
            targets: 2,
            ..good.clone()
        },
    ];
    for read in bad {
        let result = registry.open(scope, b"", &read);
        assert!(result.is_err(), "{read:?} was accepted");
        assert!(check_read(&read).is_err());
    }
    assert!(registry.lock().is_empty());
    assert!(registry.running.state().fragments.is_empty());
}
