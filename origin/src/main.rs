//! `aethex`: the origin server binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use aethex_origin::config::Config;
use aethex_origin::startup::Application;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "aethex", version, about = "AeThex Cloud origin server")]
struct Cli {
    /// TOML config file (also AETHEX_CONFIG). Without one, built-in defaults apply.
    #[arg(long, short, global = true, env = "AETHEX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Listen address, e.g. 127.0.0.1:8080 (overrides config).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Data folder (overrides config).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Add a new key and make it the active one; old keys stay valid for verification
    /// and decryption. Restart the server to use it.
    RotateKey {
        #[arg(value_enum)]
        kind: KeyKind,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeyKind {
    /// Access-token signing key (published in the JWKS).
    Jwt,
    /// Save encryption key.
    Saves,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    aethex_runtime::init_logging(&config.log);
    match cli.command.unwrap_or(Command::Serve { listen: None, data_dir: None }) {
        Command::Serve { listen, data_dir } => {
            if let Some(l) = listen {
                config.server.listen = l;
            }
            if let Some(d) = data_dir {
                config.storage.data_dir = d;
            }
            let data_dir = config.storage.data_dir.clone();
            let edge_settings = config.edge.clone();
            let mp_settings = config.multiplayer.clone();
            let app = Application::build(config).await?;
            let url = app.url();
            let metrics = app.metrics_url().unwrap_or_else(|| "off".into());
            println!("AeThex Cloud origin listening on {url} (data in {}, metrics on {metrics})", data_dir.display());
            tracing::info!(%url, "listening");
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                aethex_runtime::shutdown_signal().await;
                let _ = stop_tx.send(true);
            });
            let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            let edge = if edge_settings.embedded {
                let node = embedded_edge(&app, &edge_settings, &data_dir).await?;
                println!("AeThex Cloud edge listening on {} (replica in {})", node.url(), data_dir.join("edge").display());
                Some(tokio::spawn(node.run_until(stopped(stop_rx.clone()))))
            } else {
                None
            };
            let relay = if mp_settings.embedded_relay {
                let node = embedded_relay(&app, &mp_settings).await?;
                println!(
                    "AeThex Cloud relay {} listening on {} (udp {}, metrics on {})",
                    mp_settings.relay_region,
                    node.url().replacen("http://", "ws://", 1).replacen("https://", "wss://", 1),
                    node.udp_addr(),
                    node.metrics_url().unwrap_or_else(|| "off".into())
                );
                Some(tokio::spawn(node.run_until(stopped(stop_rx.clone()))))
            } else {
                None
            };
            app.run_until(stopped(stop_rx)).await?;
            if let Some(e) = edge {
                e.await??;
            }
            if let Some(r) = relay {
                r.await??;
            }
            tracing::info!("stopped");
        }
        Command::Migrate => {
            aethex_origin::db::Db::open(&config.storage, &config.database_path()).await?;
            println!("database is up to date");
        }
        Command::RotateKey { kind } => {
            let name = match kind {
                KeyKind::Jwt => "jwt-signing.json",
                KeyKind::Saves => "save-encryption.json",
            };
            let path = config.storage.data_dir.join("keys").join(name);
            let kid = aethex_origin::crypto::add_key(&path)?;
            println!("added key {kid} to {}; restart the server to use it", path.display());
        }
    }
    Ok(())
}

/// How the embedded edge and relay reach origin: over loopback, or with TLS at origin's
/// public URL (the certificate names it, not the loopback address).
fn origin_for_embedded(app: &Application, loopback: std::net::SocketAddr) -> String {
    if app.tls().is_some() {
        app.url()
    } else {
        format!("http://{loopback}")
    }
}

/// The native edge that `aethex serve` runs beside origin: it pulls from this origin over
/// loopback with the first edge key, exactly as a separate edge would.
async fn embedded_edge(
    app: &Application,
    settings: &aethex_origin::config::EdgeConfig,
    data_dir: &std::path::Path,
) -> anyhow::Result<aethex_edge_native::EdgeNode> {
    let state = app.state();
    let mut origin = app.local_addr();
    if origin.ip().is_unspecified() {
        origin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut cfg = aethex_edge_native::NodeConfig::default();
    cfg.node.listen = settings.listen;
    cfg.node.origin_url = origin_for_embedded(app, origin);
    cfg.tls = state.config.tls.clone();
    cfg.node.edge_key = state.peers.edge_key().to_string();
    cfg.node.name = "embedded".into();
    cfg.node.data_dir = data_dir.join("edge");
    cfg.node.issuer = state.config.auth.issuer.clone();
    cfg.node.leaderboard_ttl_secs = settings.leaderboard_ttl_secs;
    cfg.node.region_ttl_secs = settings.region_ttl_secs;
    aethex_edge_native::EdgeNode::build(&cfg).await.context("starting the embedded edge")
}

/// The relay that `aethex serve` runs beside origin: it registers with this origin over
/// loopback with the first edge key, exactly as a regional `aethex-relay` would.
async fn embedded_relay(app: &Application, settings: &aethex_origin::config::MultiplayerConfig) -> anyhow::Result<aethex_relay::RelayNode> {
    let state = app.state();
    let mut origin = app.local_addr();
    if origin.ip().is_unspecified() {
        origin.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut cfg = aethex_relay::RelayConfig::default();
    cfg.relay.region = settings.relay_region.clone();
    cfg.relay.listen = settings.relay_listen;
    cfg.relay.udp_listen = settings.relay_udp_listen;
    cfg.relay.metrics_listen = settings.relay_metrics_listen.clone();
    cfg.relay.origin_url = origin_for_embedded(app, origin);
    cfg.tls = state.config.tls.clone();
    cfg.relay.cluster_key = state.peers.relay_key().to_string();
    cfg.relay.issuer = state.config.auth.issuer.clone();
    aethex_relay::RelayNode::build(&cfg).await.context("starting the embedded relay")
}
