//! Edge settings. Every platform gives the same names: environment variables on native,
//! Spin and workerd (`[vars]` in wrangler.toml), a config store on Fastly.

/// Settings of one edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Origin's base URL; writes and whatever the edge cannot answer go there.
    pub origin_url: String,
    /// Base URL of the replica's Hrana v3 endpoint (a native edge, or Turso/sqld).
    /// Native edges read their own file and leave it empty.
    pub replica_url: String,
    /// Shared secret that authenticates this edge to origin (and to a native edge's
    /// replica endpoint, unless `replica_token` is set).
    pub edge_key: String,
    /// Bearer token for the replica's Hrana endpoint when it is not the edge key (a
    /// Turso / sqld database token).
    pub replica_token: String,
    /// Origins whose browser pages may read what the edge answers itself (`*`: any).
    pub cors_origins: Vec<String>,
    /// Expected `iss` of access tokens (origin's `auth.issuer`).
    pub issuer: String,
    /// How long leaderboard pages are cached (the seed: 1 minute).
    pub leaderboard_ttl_secs: u64,
    /// How often the signing keys are fetched again from origin.
    pub jwks_refresh_secs: u64,
    /// How long a save version's bytes are kept in the edge cache (they never change,
    /// but they are private: keep this short).
    pub save_blob_ttl_secs: u64,
    /// A region whose relay has not sent a heartbeat for this long is not listed.
    pub region_ttl_secs: u64,
    /// Name reported in `x-aethex-edge`.
    pub name: String,
    /// Origin's JWKS document, for platforms without a cache between requests
    /// (optional; keys are still fetched when a token names an unknown one).
    pub jwks_json: String,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            origin_url: "http://127.0.0.1:8080".into(),
            replica_url: String::new(),
            edge_key: String::new(),
            replica_token: String::new(),
            cors_origins: vec!["*".into()],
            issuer: "aethex".into(),
            leaderboard_ttl_secs: 60,
            jwks_refresh_secs: 300,
            save_blob_ttl_secs: 600,
            region_ttl_secs: 30,
            name: "edge".into(),
            jwks_json: String::new(),
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

impl EdgeConfig {
    /// Reads `AETHEX_ORIGIN_URL`, `AETHEX_REPLICA_URL`, `AETHEX_EDGE_KEY`,
    /// `AETHEX_REPLICA_TOKEN`, `AETHEX_CORS_ORIGINS` (comma-separated),
    /// `AETHEX_ISSUER`, `AETHEX_LEADERBOARD_TTL_SECS`, `AETHEX_JWKS_REFRESH_SECS`,
    /// `AETHEX_SAVE_BLOB_TTL_SECS`, `AETHEX_REGION_TTL_SECS`, `AETHEX_EDGE_NAME` and
    /// `AETHEX_JWKS`
    /// through `lookup` (environment, platform variables, config store); missing ones
    /// keep their defaults. The origin URL is required.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = EdgeConfig::default();
        let text = |name: &'static str, into: &mut String| {
            if let Some(v) = lookup(name) {
                *into = v.trim().to_string();
            }
        };
        let num = |name: &'static str, into: &mut u64| -> Result<(), ConfigError> {
            if let Some(v) = lookup(name) {
                *into = v.trim().parse().map_err(|_| ConfigError { name, reason: format!("{v:?} is not a whole number") })?;
            }
            Ok(())
        };
        match lookup("AETHEX_ORIGIN_URL") {
            Some(v) if !v.trim().is_empty() => c.origin_url = v.trim().trim_end_matches('/').to_string(),
            _ => return Err(ConfigError { name: "AETHEX_ORIGIN_URL", reason: "required".into() }),
        }
        text("AETHEX_REPLICA_URL", &mut c.replica_url);
        c.replica_url = c.replica_url.trim_end_matches('/').to_string();
        text("AETHEX_EDGE_KEY", &mut c.edge_key);
        text("AETHEX_REPLICA_TOKEN", &mut c.replica_token);
        if let Some(v) = lookup("AETHEX_CORS_ORIGINS") {
            c.cors_origins = v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
        }
        text("AETHEX_ISSUER", &mut c.issuer);
        text("AETHEX_EDGE_NAME", &mut c.name);
        text("AETHEX_JWKS", &mut c.jwks_json);
        num("AETHEX_LEADERBOARD_TTL_SECS", &mut c.leaderboard_ttl_secs)?;
        num("AETHEX_JWKS_REFRESH_SECS", &mut c.jwks_refresh_secs)?;
        num("AETHEX_SAVE_BLOB_TTL_SECS", &mut c.save_blob_ttl_secs)?;
        num("AETHEX_REGION_TTL_SECS", &mut c.region_ttl_secs)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_refuses_bad_numbers() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let c = EdgeConfig::from_lookup(env(&[("AETHEX_ORIGIN_URL", "http://o:1/"), ("AETHEX_LEADERBOARD_TTL_SECS", "5")])).unwrap();
        assert_eq!(c.origin_url, "http://o:1");
        assert_eq!(c.leaderboard_ttl_secs, 5);
        assert_eq!(c.jwks_refresh_secs, 300);
        assert_eq!(EdgeConfig::from_lookup(env(&[])).unwrap_err().name, "AETHEX_ORIGIN_URL");
        let e = EdgeConfig::from_lookup(env(&[("AETHEX_ORIGIN_URL", "x"), ("AETHEX_REGION_TTL_SECS", "soon")])).unwrap_err();
        assert_eq!(e.name, "AETHEX_REGION_TTL_SECS");
    }
}
