//! `aethex`: the origin server binary.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use aethex_origin::config::Config;
use aethex_origin::startup::Application;

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
    aethex_origin::telemetry::init(&config.log);
    match cli.command.unwrap_or(Command::Serve { listen: None, data_dir: None }) {
        Command::Serve { listen, data_dir } => {
            if let Some(l) = listen {
                config.server.listen = l;
            }
            if let Some(d) = data_dir {
                config.storage.data_dir = d;
            }
            let data_dir = config.storage.data_dir.clone();
            let app = Application::build(config).await?;
            let url = app.url();
            println!("AeThex Cloud origin listening on {url} (data in {})", data_dir.display());
            tracing::info!(%url, "listening");
            app.run_until(shutdown_signal()).await?;
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
