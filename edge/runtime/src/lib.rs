//! What every native AeThex server (origin `aethex`, the native edge `aethex-edge` and the
//! relay `aethex-relay`) shares at run time, so they behave alike:
//! - [`load_config`]: defaults, then a TOML file, then `AETHEX_<SECTION>__<KEY>` variables,
//!   unknown keys refused (each config type says `deny_unknown_fields`);
//! - [`init_logging`]: one output stream (stderr; stdout carries only the lines a server
//!   prints about itself), `RUST_LOG` honoured over the configured level;
//! - [`shutdown_signal`]: Ctrl-C or SIGTERM;
//! - [`tls`]: HTTPS/WSS on the listeners (`[tls]`), and the extra CA of outbound calls.

pub mod tls;

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Defaults, then `file` (if given, it must exist), then `AETHEX_*` variables.
///
/// Only variables naming one of `sections` are read (`AETHEX_SERVER__LISTEN` sets
/// `[server] listen`), so other tools' `AETHEX_*` variables (`AETHEX_CONFIG`,
/// `AETHEX_BIN`, …) do not trip the unknown-key check, while a misspelt key inside a
/// section still does.
pub fn load_config<T: Serialize + DeserializeOwned + Default>(
    file: Option<&Path>,
    sections: &'static [&'static str],
) -> Result<T, Box<figment::Error>> {
    let mut fig = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(Box::new(figment::Error::from(format!("config file {} does not exist", path.display()))));
        }
        fig = fig.merge(Toml::file(path));
    }
    let env = Env::prefixed("AETHEX_")
        .filter(|k| {
            let k = k.as_str().to_ascii_lowercase();
            sections.iter().any(|s| k.strip_prefix(s).is_some_and(|rest| rest.starts_with("__") || rest.starts_with('.')))
        })
        .split("__");
    fig.merge(env).extract().map_err(Box::new)
}

/// The `[log]` section every server has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `aethex_origin=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "pretty".into(), level: "info".into() }
    }
}

/// Installs the log subscriber: `RUST_LOG` if set (and valid), else `cfg.level` (else
/// `info`), written to stderr, as text or JSON lines. A second call does nothing.
pub fn init_logging(cfg: &LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&cfg.level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).with_writer(std::io::stderr);
    let _ = if cfg.format == "json" { builder.json().flatten_event(true).with_current_span(true).try_init() } else { builder.try_init() };
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM: what a server waits for before it drains.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    // figment's `Jail::expect_with` takes closures returning its own (large) error type.
    #![allow(clippy::result_large_err)]

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        server: Server,
        log: LogConfig,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Server {
        port: u16,
        name: String,
    }

    impl Default for Server {
        fn default() -> Self {
            Server { port: 1, name: "a".into() }
        }
    }

    impl PartialEq for LogConfig {
        fn eq(&self, o: &Self) -> bool {
            self.format == o.format && self.level == o.level
        }
    }

    const SECTIONS: &[&str] = &["server", "log"];

    #[test]
    fn layers_defaults_file_and_variables() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[server]\nport = 2\nname = \"file\"\n")?;
            jail.set_env("AETHEX_SERVER__NAME", "env");
            jail.set_env("AETHEX_CONFIG", "ignored: not a section");
            let c: Cfg = load_config(Some(Path::new("c.toml")), SECTIONS).map_err(|e| e.to_string())?;
            assert_eq!(c.server, Server { port: 2, name: "env".into() });
            assert_eq!(c.log.level, "info");
            let d: Cfg = load_config(None, SECTIONS).map_err(|e| e.to_string())?;
            assert_eq!(d.server.port, 1);
            Ok(())
        });
    }

    #[test]
    fn refuses_unknown_keys_and_missing_files() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[server]\nprot = 2\n")?;
            let e = load_config::<Cfg>(Some(Path::new("c.toml")), SECTIONS).unwrap_err().to_string();
            assert!(e.contains("prot"), "{e}");
            let e = load_config::<Cfg>(Some(Path::new("nope.toml")), SECTIONS).unwrap_err().to_string();
            assert!(e.contains("does not exist"), "{e}");
            jail.set_env("AETHEX_LOG__LEVL", "debug");
            let e = load_config::<Cfg>(None, SECTIONS).unwrap_err().to_string();
            assert!(e.contains("levl"), "{e}");
            Ok(())
        });
    }
}
