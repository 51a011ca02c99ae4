//! The replication position a request wrote: write answers carry the newest one in
//! `x-aethex-position`, and edges answer that client's reads from their replica only once
//! they have applied it. A task-local set by the HTTP middleware around each request and
//! raised by [`super::Db::write_replicated`] after each commit.

use std::cell::Cell;

tokio::task_local! {
    /// Newest replication position written while handling the current request.
    static WRITE_POSITION: Cell<i64>;
}

/// Notes that the current request's write produced `position` (no-op outside a request).
pub fn record(position: i64) {
    let _ = WRITE_POSITION.try_with(|p| {
        if position > p.get() {
            p.set(position)
        }
    });
}

/// Runs a request and returns, with its answer, the newest position it wrote (0: none).
pub async fn track<F: std::future::Future>(fut: F) -> (F::Output, i64) {
    WRITE_POSITION
        .scope(Cell::new(0), async move {
            let out = fut.await;
            (out, WRITE_POSITION.with(Cell::get))
        })
        .await
}
