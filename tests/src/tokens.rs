//! Forged access tokens, for the tests that check every refusal: built from a real
//! token, the origin's public keys, and its signing key file on disk.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::Origin;

/// A control token (real key, fresh claims) and the forgeries, each named.
pub struct Forged {
    pub fresh: String,
    pub forgeries: Vec<(&'static str, String)>,
}

/// Builds forgeries of `token` (a real access token issued by `origin`).
pub async fn forge(origin: &Origin, token: &str) -> Forged {
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap().to_string();
    let uid = claims["sub"].clone();

    // alg: none
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    // HS256 signed with the public key (the classic key-confusion forgery).
    let jwks: Value = reqwest::get(format!("{}/.well-known/jwks.json", origin.url)).await.unwrap().json().await.unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(x.as_bytes())).unwrap();
    let hs256_raw = jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(x).unwrap())).unwrap();
    // Changed subject, original signature.
    claims["sub"] = json!("00000000-0000-0000-0000-000000000000");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    claims["sub"] = uid;
    // Signed by the server's real key but expired: built from the key file on disk.
    let keyfile: Value = serde_json::from_str(&std::fs::read_to_string(origin.data_dir.join("keys/jwt-signing.json")).unwrap()).unwrap();
    let seed = STANDARD.decode(keyfile["keys"][0]["secret"].as_str().unwrap()).unwrap();
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    let real_key = jsonwebtoken::EncodingKey::from_ed_der(&der);
    let mut eh = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    eh.kid = Some(kid.clone());
    let now = chrono::Utc::now().timestamp();
    let mut expired_claims = claims.clone();
    expired_claims["iat"] = json!(now - 3600);
    expired_claims["exp"] = json!(now - 1800);
    let expired = jsonwebtoken::encode(&eh, &expired_claims, &real_key).unwrap();
    // The same key with fresh claims is accepted (so the expired one fails only by expiry).
    let fresh = jsonwebtoken::encode(&eh, &claims, &real_key).unwrap();
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("someone-else");
    let wrong_aud = jsonwebtoken::encode(&eh, &wrong_aud, &real_key).unwrap();
    // Another Ed25519 key claiming the same kid.
    let mut other_der = der.clone();
    for b in other_der.iter_mut().skip(16) {
        *b ^= 0x5a;
    }
    let foreign = jsonwebtoken::encode(&eh, &claims, &jsonwebtoken::EncodingKey::from_ed_der(&other_der)).unwrap();
    // A real signature with one character of it changed.
    let mut sig: Vec<char> = parts[2].chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let flipped = format!("{}.{}.{}", parts[0], parts[1], sig.into_iter().collect::<String>());

    Forged {
        fresh,
        forgeries: vec![
            ("garbage", "not-a-token".to_string()),
            ("alg none", none),
            ("hs256 with public key text", hs256),
            ("hs256 with public key bytes", hs256_raw),
            ("tampered payload", tampered),
            ("flipped signature", flipped),
            ("expired", expired),
            ("wrong audience", wrong_aud),
            ("foreign key", foreign),
        ],
    }
}
