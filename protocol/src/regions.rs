//! Regions: relay nodes register with origin and send heartbeats; players list the live
//! ones (from the edge) and measure their round-trip time to each.

use serde::{Deserialize, Serialize};

use crate::validate::Invalid;

/// `PUT /api/v1/regions/{name}` (cluster key): register or heartbeat a relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterRegionRequest {
    /// Public URL of the relay (`wss://eu-west.relay.example.com`).
    pub url: String,
    /// URL the SDK pings to measure round-trip time; defaults to `<url>/v1/ping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_url: Option<String>,
    /// Players the relay accepts.
    pub capacity: u32,
    /// Players connected now.
    #[serde(default)]
    pub load: u32,
    /// This relay's own URL when several relays serve the region behind `url` (a load
    /// balancer): origin opens match rooms on it and sends their players to it. Absent:
    /// `url` (one relay serves the region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Region {
    pub name: String,
    pub url: String,
    pub ping_url: String,
    pub capacity: u32,
    pub load: u32,
    /// Last heartbeat, milliseconds since the Unix epoch.
    pub last_seen_ms: i64,
}

/// `GET /api/v1/regions`: regions whose relay sent a heartbeat recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegionList {
    pub regions: Vec<Region>,
}

/// A region name: 2 to 32 characters of lower-case letters, digits and `-` (`us-east`).
pub fn parse_region_name(raw: &str) -> Result<String, Invalid> {
    let ok = (2..=32).contains(&raw.len())
        && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Invalid::new("name", "region name must be 2 to 32 characters of a-z, 0-9 and '-'"))
    }
}

/// A relay URL: http(s) or ws(s), at most 512 characters.
pub fn parse_relay_url(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let ok = raw.len() <= 512
        && ["http://", "https://", "ws://", "wss://"].iter().any(|p| raw.starts_with(p) && raw.len() > p.len())
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(raw.trim_end_matches('/').to_string())
    } else {
        Err(Invalid::new(field, format!("{field} must be an http(s) or ws(s) URL of at most 512 characters")))
    }
}

/// `ws://` -> `http://`, `wss://` -> `https://` (http(s) as is): where a relay's HTTP API is.
pub fn http_base(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("ws://") {
        Some(format!("http://{rest}"))
    } else if let Some(rest) = url.strip_prefix("wss://") {
        Some(format!("https://{rest}"))
    } else if url.starts_with("http://") || url.starts_with("https://") {
        Some(url.to_string())
    } else {
        None
    }
}

/// `http://` -> `ws://`, `https://` -> `wss://` (ws(s) as is).
pub fn ws_base(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix("http://") {
        Some(format!("ws://{rest}"))
    } else if let Some(rest) = url.strip_prefix("https://") {
        Some(format!("wss://{rest}"))
    } else if url.starts_with("ws://") || url.starts_with("wss://") {
        Some(url.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_http_and_ws_bases() {
        assert_eq!(http_base("ws://127.0.0.1:9000").as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(http_base("wss://eu.relay.example.com/r1/").as_deref(), Some("https://eu.relay.example.com/r1"));
        assert_eq!(http_base("https://eu.relay.example.com").as_deref(), Some("https://eu.relay.example.com"));
        assert_eq!(http_base("ftp://x"), None);
        assert_eq!(ws_base("https://eu.relay.example.com/").as_deref(), Some("wss://eu.relay.example.com"));
        assert_eq!(ws_base("ftp://x"), None);
    }
}
