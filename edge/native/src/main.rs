//! `aethex-edge`: a native edge node.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use aethex_edge_native::{EdgeNode, NodeConfig};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "aethex-edge", version, about = "AeThex Cloud native edge: serves reads from a libSQL replica, forwards the rest to origin")]
struct Cli {
    /// TOML config file (also AETHEX_EDGE_CONFIG).
    #[arg(long, short, env = "AETHEX_EDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address (overrides config).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Origin URL (overrides config).
    #[arg(long)]
    origin: Option<String>,
    /// Folder of the replica file (overrides config).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut cfg = NodeConfig::load(cli.config.as_deref()).context("loading configuration")?;
    if let Some(l) = cli.listen {
        cfg.node.listen = l;
    }
    if let Some(o) = cli.origin {
        cfg.node.origin_url = o;
    }
    if let Some(d) = cli.data_dir {
        cfg.node.data_dir = d;
    }
    aethex_runtime::init_logging(&cfg.log);
    let node = EdgeNode::build(&cfg).await?;
    let url = node.url();
    println!("AeThex Cloud edge listening on {url} (origin {}, replica in {})", cfg.node.origin_url, cfg.node.data_dir.display());
    node.run_until(aethex_runtime::shutdown_signal()).await?;
    Ok(())
}
