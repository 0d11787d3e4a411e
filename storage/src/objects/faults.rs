//! [`FaultyStore`]: an [`ObjectStore`] that injects the failures an object store
//! really has, for tests: errors on chosen requests, reads cut short, latency, and a
//! crash after a number of writes (every request after the N-th put fails, as if the
//! process had died there). It also counts requests by kind, which the snapshot
//! tests use to check request counts.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// The environment variable that makes [`super::open`] wrap every store it opens.
pub const FAULTS_ENV: &str = "BLUESHIFT_STORE_FAULTS";

/// The failures to inject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every request waits this long before it goes to the store.
    pub latency: Duration,
    /// The requests (numbered from 1, over every kind) that fail with a
    /// transient error instead of reaching the store.
    pub fail_requests: BTreeSet<u64>,
    /// Every read returns at most this many bytes of the object, then an error, as a
    /// connection cut mid-body does.
    pub cut_reads_after: Option<u64>,
    /// After this many puts succeeded, every request fails: the writer "crashed".
    pub crash_after_puts: Option<u64>,
}

impl Faults {
    /// Parses `latency_ms=5,fail=2;7,cut_reads_after=100,crash_after_puts=3`
    /// (any subset, in any order).
    pub fn parse(spec: &str) -> std::result::Result<Faults, String> {
        let mut faults = Faults::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{FAULTS_ENV}: '{item}' is not key=value"))?;
            let number = |v: &str| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{FAULTS_ENV}: {key} must be a number, not '{v}'"))
            };
            match key.trim() {
                "latency_ms" => faults.latency = Duration::from_millis(number(value)?),
                "fail" => {
                    for n in value.split(';') {
                        faults.fail_requests.insert(number(n)?);
                    }
                }
                "cut_reads_after" => faults.cut_reads_after = Some(number(value)?),
                "crash_after_puts" => faults.crash_after_puts = Some(number(value)?),
                other => {
                    return Err(format!(
                        "{FAULTS_ENV}: unknown fault '{other}' (latency_ms, fail, cut_reads_after, crash_after_puts)"
                    ));
                }
            }
        }
        Ok(faults)
    }
}

/// Requests a [`FaultyStore`] saw, by kind (failed ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub gets: u64,
    pub puts: u64,
    pub lists: u64,
    pub deletes: u64,
    pub copies: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    gets: AtomicU64,
    puts: AtomicU64,
    puts_done: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    copies: AtomicU64,
}

/// A store that injects [`Faults`] into the requests to another.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    faults: Faults,
    counters: Counters,
}

/// `inner`, wrapped in a [`FaultyStore`] when [`FAULTS_ENV`] is set. A spec that
/// does not parse is logged and injects nothing.
pub fn from_env(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    let Ok(spec) = std::env::var(FAULTS_ENV) else {
        return inner;
    };
    match Faults::parse(&spec) {
        Ok(faults) => Arc::new(FaultyStore::new(inner, faults)),
        Err(e) => {
            tracing::warn!("{e}");
            inner
        }
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected fault: {what}").into(),
    }
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Faults) -> Self {
        FaultyStore {
            inner,
            faults,
            counters: Counters::default(),
        }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            gets: c.gets.load(Ordering::Relaxed),
            puts: c.puts.load(Ordering::Relaxed),
            lists: c.lists.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            copies: c.copies.load(Ordering::Relaxed),
        }
    }

    /// Counts a request of its kind and fails it if it is one to fail or the store
    /// has "crashed".
    fn admit(&self, kind: &AtomicU64, what: &str) -> Result<()> {
        kind.fetch_add(1, Ordering::Relaxed);
        let n = self.counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(limit) = self.faults.crash_after_puts
            && self.counters.puts_done.load(Ordering::Relaxed) >= limit
        {
            return Err(injected(&format!("crashed after {limit} puts ({what})")));
        }
        if self.faults.fail_requests.contains(&n) {
            return Err(injected(&format!("request {n} ({what}) failed")));
        }
        Ok(())
    }

    /// [`FaultyStore::admit`], after the latency.
    async fn request(&self, kind: &AtomicU64, what: &str) -> Result<()> {
        let admitted = self.admit(kind, what);
        if !self.faults.latency.is_zero() {
            tokio::time::sleep(self.faults.latency).await;
        }
        admitted
    }

    /// A streaming request (list, delete): `admitted`, after the latency, then
    /// `stream` if it was admitted.
    fn streamed<T: Send + 'static>(
        &self,
        admitted: Result<()>,
        stream: BoxStream<'static, Result<T>>,
    ) -> BoxStream<'static, Result<T>> {
        let latency = self.faults.latency;
        let mut stream = Some(stream);
        futures::stream::once(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            admitted
        })
        .flat_map(move |admitted| match admitted {
            Ok(()) => stream
                .take()
                .unwrap_or_else(|| futures::stream::empty().boxed()),
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        })
        .boxed()
    }

    fn put_done(&self) {
        self.counters.puts_done.fetch_add(1, Ordering::Relaxed);
    }

    /// A read's body, cut after `cut_reads_after` bytes.
    fn cut(&self, result: GetResult) -> GetResult {
        let Some(limit) = self.faults.cut_reads_after else {
            return result;
        };
        let meta = result.meta.clone();
        let range = result.range.clone();
        let attributes = result.attributes.clone();
        let mut left = limit;
        let body = result
            .into_stream()
            .flat_map(move |chunk| {
                let cut = || Err(injected(&format!("read cut after {limit} bytes")));
                let items = match chunk {
                    Err(e) => vec![Err(e)],
                    Ok(_) if left == 0 => vec![cut()],
                    Ok(chunk) if chunk.len() as u64 > left => {
                        let keep = left as usize;
                        left = 0;
                        vec![Ok(chunk.slice(..keep)), cut()]
                    }
                    Ok(chunk) => {
                        left -= chunk.len() as u64;
                        vec![Ok(chunk)]
                    }
                };
                futures::stream::iter(items)
            })
            .scan(false, |ended, item| {
                // Stop after the error, as a cut connection does.
                if *ended {
                    return futures::future::ready(None);
                }
                *ended = item.is_err();
                futures::future::ready(Some(item))
            });
        // A body no longer than the limit arrives whole.
        GetResult {
            payload: GetResultPayload::Stream(body.boxed()),
            meta,
            range,
            attributes,
        }
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.request(&self.counters.puts, "put").await?;
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.put_done();
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.request(&self.counters.puts, "multipart put").await?;
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        self.put_done();
        Ok(upload)
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.request(&self.counters.gets, "get").await?;
        let result = self.inner.get_opts(location, options).await?;
        Ok(self.cut(result))
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.request(&self.counters.gets, "get ranges").await?;
        let mut parts = self.inner.get_ranges(location, ranges).await?;
        if let Some(limit) = self.faults.cut_reads_after
            && parts.iter().map(|p| p.len() as u64).sum::<u64>() > limit
        {
            parts.clear();
            return Err(injected(&format!("read cut after {limit} bytes")));
        }
        Ok(parts)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let admitted = self.admit(&self.counters.deletes, "delete");
        self.streamed(admitted, self.inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let admitted = self.admit(&self.counters.lists, "list");
        self.streamed(admitted, self.inner.list(prefix))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.request(&self.counters.lists, "list").await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.request(&self.counters.copies, "copy").await?;
        self.inner.copy_opts(from, to, options).await?;
        self.put_done();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    fn store(faults: Faults) -> FaultyStore {
        FaultyStore::new(Arc::new(InMemory::new()), faults)
    }

    #[test]
    fn faults_parse_and_name_what_is_wrong() {
        let f = Faults::parse("latency_ms=5, fail=2;7, cut_reads_after=100,crash_after_puts=3")
            .expect("should succeed");
        assert_eq!(f.latency, Duration::from_millis(5));
        assert_eq!(f.fail_requests, BTreeSet::from([2, 7]));
        assert_eq!(
            (f.cut_reads_after, f.crash_after_puts),
            (Some(100), Some(3))
        );
        assert_eq!(
            Faults::parse("").expect("should succeed"),
            Faults::default()
        );
        assert!(
            Faults::parse("fail=x")
                .expect_err("should fail")
                .contains("fail must be a number")
        );
        assert!(
            Faults::parse("explode=1")
                .expect_err("should fail")
                .contains("unknown fault 'explode'")
        );
    }

    #[tokio::test]
    async fn chosen_requests_fail_and_the_rest_pass() {
        let s = store(Faults::parse("fail=2").expect("should succeed"));
        let a = Path::from("a");
        s.put(&a, Bytes::from_static(b"one").into())
            .await
            .expect("should succeed");
        assert!(s.get(&a).await.is_err(), "request 2 fails");
        let body = s
            .get(&a)
            .await
            .expect("should succeed")
            .bytes()
            .await
            .expect("should succeed");
        assert_eq!(body.as_ref(), b"one");
        assert_eq!(
            s.requests(),
            RequestCounts {
                gets: 2,
                puts: 1,
                ..RequestCounts::default()
            }
        );
    }

    #[tokio::test]
    async fn reads_are_cut_short_with_an_error() {
        let s = store(Faults::parse("cut_reads_after=4").expect("should succeed"));
        let a = Path::from("a");
        s.put(&a, Bytes::from_static(b"0123456789").into())
            .await
            .expect("should succeed");
        let mut stream = s.get(&a).await.expect("should succeed").into_stream();
        let mut got = Vec::new();
        let mut failed = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => got.extend_from_slice(&b),
                Err(e) => {
                    failed = true;
                    assert!(e.to_string().contains("read cut after 4 bytes"), "{e}");
                }
            }
        }
        assert_eq!((got.as_slice(), failed), (&b"0123"[..], true));
        assert!(s.get_ranges(&a, &[0..2, 2..8]).await.is_err());
        assert_eq!(
            s.get_ranges(&a, &[0..3, 3..4])
                .await
                .expect("should succeed")[0]
                .as_ref(),
            b"012"
        );
    }

    #[tokio::test]
    async fn after_the_crash_every_request_fails() {
        let s = store(Faults::parse("crash_after_puts=2").expect("should succeed"));
        for key in ["a", "b"] {
            s.put(&Path::from(key), Bytes::from_static(b"x").into())
                .await
                .expect("should succeed");
        }
        let err = s
            .put(&Path::from("c"), Bytes::from_static(b"x").into())
            .await
            .expect_err("should fail");
        assert!(err.to_string().contains("crashed after 2 puts"), "{err}");
        assert!(s.get(&Path::from("a")).await.is_err());
        assert!(s.list(None).next().await.is_some_and(|r| r.is_err()));
        // What was written before the crash is there; what came after is not.
        let inner = Arc::clone(&s.inner);
        assert!(inner.get(&Path::from("b")).await.is_ok());
        assert!(inner.get(&Path::from("c")).await.is_err());
    }

    #[tokio::test]
    async fn latency_delays_each_request() {
        let s = store(Faults::parse("latency_ms=30").expect("should succeed"));
        let started = std::time::Instant::now();
        let _ = s.get(&Path::from("missing")).await;
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
