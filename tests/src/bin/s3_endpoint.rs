//! An S3 endpoint for benchmarks and manual testing: s3s-fs with SigV4, serving the
//! buckets (directories) under a root directory on a loopback port.
//!
//! Usage: s3_endpoint ROOT [PORT] [--import DIR]. Prints `endpoint
//! http://127.0.0.1:PORT` once it serves; the keys are the test suite's
//! (`blueshift_tests::S3_ACCESS_KEY`, ...).
//!
//! `--import DIR` first uploads every file under `DIR/<bucket>/` to `<bucket>` through
//! the S3 API, as a user would. Files put straight into ROOT work too, but s3s-fs then
//! has no stored ETag for them and computes it, an MD5 of the whole file, on every GET,
//! ranged ones included: that would make a benchmark of ranged reads (Parquet row
//! groups) measure the endpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStoreExt, PutPayload};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

const USAGE: &str = "usage: s3_endpoint ROOT [PORT] [--import DIR]";

#[tokio::main]
async fn main() -> Result<()> {
    let mut root = None;
    let mut port: u16 = 0;
    let mut import = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--import" => import = Some(PathBuf::from(args.next().context(USAGE)?)),
            _ if root.is_none() => root = Some(arg),
            _ => {
                port = arg
                    .parse()
                    .with_context(|| format!("bad port {arg:?}; {USAGE}"))?
            }
        }
    }
    let root = root.context(USAGE)?;
    let fs = s3s_fs::FileSystem::new(&root).map_err(|e| anyhow::anyhow!("s3s-fs: {e:?}"))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        blueshift_tests::S3_ACCESS_KEY,
        blueshift_tests::S3_SECRET_KEY,
    ));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let serve = tokio::spawn(async move {
        let http = Builder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let _ = socket.set_nodelay(true);
            let connection = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
    if let Some(dir) = import {
        for bucket in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let bucket = bucket?;
            if bucket.file_type()?.is_dir() {
                let name = bucket.file_name().to_string_lossy().into_owned();
                std::fs::create_dir_all(Path::new(&root).join(&name))?;
                upload(&endpoint, &name, &bucket.path()).await?;
            }
        }
    }
    println!("endpoint {endpoint}");
    serve.await?;
    Ok(())
}

/// Puts every file under `dir` into `bucket`, keyed by its path below `dir`.
async fn upload(endpoint: &str, bucket: &str, dir: &Path) -> Result<()> {
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id(blueshift_tests::S3_ACCESS_KEY)
        .with_secret_access_key(blueshift_tests::S3_SECRET_KEY)
        .build()?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Some(key) = path.strip_prefix(dir)?.to_str() else {
                bail!("{} is not UTF-8", path.display());
            };
            let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
            store
                .put(
                    &object_store::path::Path::from(key),
                    PutPayload::from(bytes),
                )
                .await
                .with_context(|| format!("uploading {}", path.display()))?;
        }
    }
    Ok(())
}
