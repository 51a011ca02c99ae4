//! `AeThexCloud.cdn`: the seed's "check for updates, download DLC". Update checks and
//! manifests come from the nearest edge (or origin); `download` is the patching client of
//! `aethex-cdn`: only missing chunks are fetched, each checked by blake3, and the install
//! is switched over atomically (an interrupted download resumes).

use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use aethex_protocol::dlc::{EntitlementList, UpdateCheck};

pub use aethex_cdn::{recover, PullOptions, PullReport, TrustedKey};

use crate::{AeThexCloud, SdkResult};

pub struct Cdn<'a> {
    pub(crate) cloud: &'a AeThexCloud,
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

impl Cdn<'_> {
    /// Whether `channel` serves a version other than `current`.
    pub async fn check_for_updates(&self, game: &str, channel: &str, current: Option<&str>) -> SdkResult<UpdateCheck> {
        let mut path = format!("/api/v1/dlc/{}/{}/update", enc(game), enc(channel));
        if let Some(c) = current {
            path.push_str(&format!("?current={}", enc(c)));
        }
        self.cloud.request::<Value, _>(Method::GET, &path, None, true).await
    }

    /// The signed-in player's entitlements in `game`.
    pub async fn entitlements(&self, game: &str) -> SdkResult<EntitlementList> {
        self.cloud.request::<Value, _>(Method::GET, &format!("/api/v1/dlc/{}/entitlements", enc(game)), None, true).await
    }

    /// Installs (or updates) the channel's release into `install`. Pass the game's
    /// manifest public key(s) in `options.trusted_keys` (empty: trust the server's list on
    /// first use and pin it).
    pub async fn download(&self, game: &str, channel: &str, install: &Path, options: &PullOptions) -> SdkResult<PullReport> {
        let token = self.cloud.bearer().await?;
        let source = aethex_cdn::HttpSource::new(self.cloud.base_url(), game, channel, Some(token))?.with_client(self.cloud.cdn_client()?);
        Ok(aethex_cdn::pull(&source, game, install, options).await?)
    }
}
