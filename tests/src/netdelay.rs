//! A TCP proxy on 127.0.0.1 that delays every byte by a fixed one-way latency in each
//! direction: a stand-in for a distant region where `tc netem` is not available (this
//! kernel has no `sch_netem`). A round trip through it costs twice the one-way delay;
//! bandwidth is not limited and order is kept.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

pub struct DelayProxy {
    pub addr: SocketAddr,
    target: Arc<OnceLock<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    /// Listens now; forwards once [`DelayProxy::forward_to`] names the target (so the
    /// proxy's address can go into the target's own configuration first).
    pub async fn bind(one_way: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target: Arc<OnceLock<SocketAddr>> = Arc::default();
        let t = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(to) = t.get().copied() else { continue };
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(to).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::join!(pump(cr, sw, one_way), pump(sr, cw, one_way));
                    }
                });
            }
        });
        Self { addr, target, task }
    }

    pub fn forward_to(&self, to: SocketAddr) {
        let _ = self.target.set(to);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, each chunk written `delay` after it was read.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: Duration) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::join!(reader, writer);
}
