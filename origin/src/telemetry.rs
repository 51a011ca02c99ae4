//! Logging set-up, called once by the binary. Tests leave it off unless `TEST_LOG` is set.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogConfig;

pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let builder = fmt().with_env_filter(filter).with_target(true);
    // `try_init` so a second call (tests) is harmless.
    let _ = if cfg.format == "json" { builder.json().flatten_event(true).with_current_span(true).try_init() } else { builder.try_init() };
}
