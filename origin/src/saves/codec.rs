//! How a save's bytes are stored: plain bytes -> blake3 checksum -> zstd (only when it
//! shrinks the data) -> XChaCha20-Poly1305 sealed under the active key.

use aethex_protocol::saves::CHECKSUM_PREFIX;

use crate::crypto::SaveCipher;

/// What the database holds for one version.
pub struct Sealed {
    pub blob: Vec<u8>,
    pub key_id: String,
    pub compressed: bool,
    /// Size after compression (before the cipher's 40 bytes of nonce and tag).
    pub stored_bytes: i64,
}

pub fn checksum(plain: &[u8]) -> String {
    format!("{CHECKSUM_PREFIX}{}", blake3::hash(plain).to_hex())
}

/// Binds a blob to its row, so blobs cannot be swapped between saves or users.
pub fn aad(save_id: &str, user_id: &str, game_id: &str) -> Vec<u8> {
    format!("aethex-save/v1|{save_id}|{user_id}|{game_id}").into_bytes()
}

pub fn seal(cipher: &SaveCipher, plain: &[u8], zstd_level: i32, aad: &[u8]) -> Sealed {
    let compressed = zstd::bulk::compress(plain, zstd_level).ok().filter(|c| c.len() < plain.len());
    let (body, is_compressed) = match &compressed {
        Some(c) => (c.as_slice(), true),
        None => (plain, false),
    };
    let (key_id, blob) = cipher.seal(body, aad);
    Sealed { stored_bytes: body.len() as i64, blob, key_id, compressed: is_compressed }
}

/// Opens a stored blob and checks it against its recorded checksum and size.
pub fn open(
    cipher: &SaveCipher,
    key_id: &str,
    blob: &[u8],
    compressed: bool,
    size_bytes: i64,
    expected_checksum: &str,
    aad: &[u8],
) -> Result<Vec<u8>, String> {
    let body = cipher.open(key_id, blob, aad).map_err(|e| e.to_string())?;
    let plain = if compressed {
        // The recorded size bounds decompression, so a corrupt frame cannot balloon.
        zstd::bulk::decompress(&body, size_bytes.max(0) as usize).map_err(|e| format!("zstd: {e}"))?
    } else {
        body
    };
    if plain.len() as i64 != size_bytes {
        return Err(format!("size {} does not match the recorded {size_bytes}", plain.len()));
    }
    let sum = checksum(&plain);
    if sum != expected_checksum {
        return Err(format!("checksum {sum} does not match the recorded {expected_checksum}"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_compressible_and_incompressible() {
        let dir = tempfile::tempdir().unwrap();
        let cipher = SaveCipher::load(&dir.path().join("k.json")).unwrap();
        let text = br#"{"inventory":["sword","sword","sword","sword","sword","sword","sword","sword"]}"#.repeat(20);
        let a = aad("s", "u", "g");
        let s = seal(&cipher, &text, 3, &a);
        assert!(s.compressed && s.stored_bytes < text.len() as i64);
        let sum = checksum(&text);
        assert_eq!(open(&cipher, &s.key_id, &s.blob, true, text.len() as i64, &sum, &a).unwrap(), text);

        let random: Vec<u8> = (0..64u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let s = seal(&cipher, &random, 3, &a);
        assert!(!s.compressed);
        assert_eq!(open(&cipher, &s.key_id, &s.blob, false, 64, &checksum(&random), &a).unwrap(), random);
        // Wrong checksum or row is refused.
        assert!(open(&cipher, &s.key_id, &s.blob, false, 64, &sum, &a).is_err());
        assert!(open(&cipher, &s.key_id, &s.blob, false, 64, &checksum(&random), &aad("t", "u", "g")).is_err());
    }

    #[test]
    fn checksum_names_its_algorithm() {
        assert!(checksum(b"x").starts_with("blake3:"));
        assert_eq!(checksum(b"x").len(), "blake3:".len() + 64);
    }
}
