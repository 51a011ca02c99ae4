//! Which keys a release must be signed with: the ones given, or the ones pinned on first use in `.aethex/trusted_keys.json`.

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PinnedKey {
    pub(super) key_id: String,
    pub(super) public_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TrustPin {
    pub(super) source: String,
    pub(super) pinned_at: String,
    pub(super) keys: Vec<PinnedKey>,
}

pub(super) async fn trusted_keys<S: ChunkSource>(source: &S, layout: &Layout, opts: &PullOptions) -> Result<(Vec<TrustedKey>, Trust)> {
    if !opts.trusted_keys.is_empty() {
        return Ok((opts.trusted_keys.clone(), Trust::Given));
    }
    if let Some(pin) = read_json::<TrustPin>(&layout.pin_file())? {
        let mut keys = Vec::new();
        for k in &pin.keys {
            let mut t = TrustedKey::from_b64(&k.public_key)?;
            t.key_id = k.key_id.clone();
            keys.push(t);
        }
        if keys.is_empty() {
            return Err(Error::Key(format!("{} pins no keys", layout.pin_file().display())));
        }
        return Ok((keys, Trust::Pinned));
    }
    let listed = http::retry(opts.retries, opts.retry_base, || source.keys()).await?;
    let keys = listed.iter().map(TrustedKey::from_manifest_key).collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(Error::Key(format!("{} lists no manifest keys and none were given", source.describe())));
    }
    Ok((keys, Trust::FirstUse))
}
