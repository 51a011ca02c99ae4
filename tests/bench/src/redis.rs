//! The Redis baseline of part `board`: a minimal RESP client and a load over it.

use crate::prelude::*;

/// A minimal RESP client for the Redis baseline: one command, one reply (parsed only as
/// far as needed to find its end).
pub(crate) struct Resp {
    pub(crate) r: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    pub(crate) w: tokio::net::tcp::OwnedWriteHalf,
}

impl Resp {
    pub(crate) async fn connect(addr: &str) -> anyhow::Result<Self> {
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Self { r: tokio::io::BufReader::new(r), w })
    }

    pub(crate) fn encode(out: &mut Vec<u8>, args: &[&str]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.w.write_all(bytes).await?;
        Ok(())
    }

    /// Reads one reply; returns its first line (type byte included).
    pub(crate) fn read_reply(&mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<String>> + Send + '_>> {
        Box::pin(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt};
            let mut line = String::new();
            self.r.read_line(&mut line).await?;
            let head = line.trim_end().to_string();
            match head.as_bytes().first() {
                Some(b'$') => {
                    let n: i64 = head[1..].parse()?;
                    if n >= 0 {
                        let mut buf = vec![0u8; n as usize + 2];
                        self.r.read_exact(&mut buf).await?;
                    }
                }
                Some(b'*') => {
                    let n: i64 = head[1..].parse()?;
                    for _ in 0..n.max(0) {
                        self.read_reply().await?;
                    }
                }
                Some(b'-') => anyhow::bail!("redis: {head}"),
                _ => {}
            }
            Ok(head)
        })
    }

    pub(crate) async fn call(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut out = Vec::new();
        Self::encode(&mut out, args);
        self.send(&out).await?;
        self.read_reply().await
    }
}

/// Runs `concurrency` Redis connections doing `op` for `secs`; ops/s and latencies.
pub(crate) async fn redis_load(addr: &str, secs: u64, concurrency: usize, op: fn(u64) -> Vec<Vec<String>>) -> anyhow::Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (stop, addr) = (stop.clone(), addr.to_string());
        tasks.push(tokio::spawn(async move {
            let mut c = Resp::connect(&addr).await?;
            let (mut n, mut lat) = (0u64, Vec::new());
            let mut i = w as u64 * 7919;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                for cmd in op(i) {
                    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
                    c.call(&args).await?;
                }
                lat.push(t.elapsed().as_micros() as u64);
                n += 1;
                i += 1;
            }
            Ok::<_, anyhow::Error>((n, lat))
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut requests, mut latencies_us) = (0, Vec::new());
    for t in tasks {
        let (n, lat) = t.await??;
        requests += n;
        latencies_us.extend(lat);
    }
    Ok(Load { requests, errors: 0, secs: started.elapsed().as_secs_f64(), latencies_us })
}
