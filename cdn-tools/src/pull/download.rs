//! Step 4: the chunks the plan could not find locally, `concurrency` at a time, each decompressed within its plain size, checked, and written to the resume cache; retried with backoff, a 4xx is final.

use super::*;

pub(super) async fn download<S: ChunkSource>(
    source: &S,
    layout: &Layout,
    m: &Manifest,
    todo: &[u32],
    opts: &PullOptions,
    rep: &Reporter,
    report: &mut PullReport,
) -> Result<()> {
    let total: u64 = todo.iter().map(|&ci| m.chunks[ci as usize].stored_size).sum();
    rep.emit(|p| {
        *p = Progress { phase: Phase::Downloading, bytes_total: total, chunks_total: todo.len() as u64, ..Progress::default() };
    });
    if todo.is_empty() {
        return Ok(());
    }
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let (downloaded, bytes, retries) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let fetch_one = |ci: u32| {
        let (failure, downloaded, bytes, retries) = (&failure, &downloaded, &bytes, &retries);
        async move {
            let info = &m.chunks[ci as usize];
            let mut attempt = 0u32;
            loop {
                if rep.stopped() {
                    return;
                }
                match fetch_into_cache(source, &layout.cache, info).await {
                    Ok(n) => {
                        downloaded.fetch_add(1, Ordering::Relaxed);
                        bytes.fetch_add(n, Ordering::Relaxed);
                        rep.emit(|p| {
                            p.chunks_done += 1;
                            p.bytes_done += info.stored_size;
                        });
                        return;
                    }
                    Err(e) if e.is_retryable() && attempt < opts.retries => {
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(crate::http::backoff(opts.retry_base, attempt)).await;
                        attempt += 1;
                    }
                    Err(e) => {
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                        rep.stop.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }
    };
    futures::stream::iter(todo.iter().copied()).map(fetch_one).buffer_unordered(opts.concurrency.max(1)).collect::<()>().await;
    report.chunks_downloaded = downloaded.load(Ordering::Relaxed);
    report.bytes_downloaded = bytes.load(Ordering::Relaxed);
    report.retries = retries.load(Ordering::Relaxed);
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    rep.check()
}

/// Fetches one chunk, checks it and stores its plain bytes in the cache. Returns the
/// stored bytes fetched.
pub(super) async fn fetch_into_cache<S: ChunkSource>(source: &S, cache: &ChunkStore, info: &ChunkInfo) -> Result<u64> {
    let fetched = source.chunk(info).await?;
    let n = fetched.bytes.len() as u64;
    let path = cache.path(&info.id)?;
    let info = info.clone();
    blocking(move || {
        let plain = decode_verified(&info, &fetched.bytes, fetched.encoding)?;
        write_atomic(&path, &plain, false)
    })
    .await?;
    Ok(n)
}
