//! HS256 JWTs, written out by hand (a dozen lines of HMAC) rather than pulling a JWT crate with its
//! own crypto backend. The token names a server-side session (`sid`); `sub` is the user id as a
//! string, as the contract says.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// `{"alg":"HS256","typ":"JWT"}` in base64url, as this module writes it: the tokens it issued
/// carry exactly this, which needs no parsing.
const ENCODED_HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// The signing key, with HMAC's keyed state computed once (two SHA-256 blocks every token
/// would otherwise hash again), and a number no other key in the process has (what
/// [`super::verified`] keeps tokens under).
#[derive(Clone)]
pub struct JwtKey {
    mac: Hmac<Sha256>,
    id: u64,
}

impl JwtKey {
    pub fn new(secret: &[u8]) -> Self {
        static KEYS: AtomicU64 = AtomicU64::new(0);
        Self {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length"),
            id: KEYS.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac
    }
}

pub fn encode(claims: &Claims, key: &JwtKey) -> String {
    let signing_input =
        format!("{ENCODED_HEADER}.{}", B64.encode(serde_json::to_vec(claims).expect("claims serialise")));
    let signature = key.mac(signing_input.as_bytes()).finalize().into_bytes();
    format!("{signing_input}.{}", B64.encode(signature))
}

/// The claims of a well-formed, correctly signed, unexpired HS256 token.
pub fn decode(token: &str, key: &JwtKey, now: i64) -> Option<Claims> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    if header != ENCODED_HEADER {
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header["alg"].as_str()? != "HS256" {
            return None;
        }
    }
    let mut signed = [0u8; 32];
    if B64.decode_slice(signature, &mut signed).ok()? != signed.len() {
        return None;
    }
    key.mac(signing_input.as_bytes()).verify_slice(&signed).ok()?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (claims.exp > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "42".into(), sid: "abc".into(), iat: 0, exp }
    }

    fn key(secret: &str) -> JwtKey {
        JwtKey::new(secret.as_bytes())
    }

    #[test]
    fn round_trips_and_has_three_parts() {
        let token = encode(&claims(100), &key("secret"));
        assert_eq!(token.split('.').count(), 3);
        let header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(token.split('.').next(), Some(header.as_str()), "the header as written");
        assert_eq!(decode(&token, &key("secret"), 50), Some(claims(100)));
        // The same header written differently (another library's key order) is parsed.
        let (_, rest) = token.split_once('.').unwrap();
        let other_header = B64.encode(r#"{"typ":"JWT","alg":"HS256"}"#);
        let unsigned = format!("{other_header}.{}", rest.rsplit_once('.').unwrap().0);
        let signature = B64.encode(key("secret").mac(unsigned.as_bytes()).finalize().into_bytes());
        assert_eq!(decode(&format!("{unsigned}.{signature}"), &key("secret"), 50), Some(claims(100)));
        let none_alg = format!("{}.{}", B64.encode(r#"{"alg":"none"}"#), rest);
        assert_eq!(decode(&none_alg, &key("secret"), 50), None, "another algorithm");
    }

    #[test]
    fn rejects_expired_tampered_and_foreign_tokens() {
        let token = encode(&claims(100), &key("secret"));
        assert_eq!(decode(&token, &key("secret"), 100), None, "expired");
        assert_eq!(decode(&token, &key("other"), 50), None, "wrong key");
        assert_eq!(decode(&format!("{token}AA"), &key("secret"), 50), None, "a longer signature");
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&Claims { sub: "1".into(), ..claims(100) }).unwrap());
        let parts: Vec<&str> = head.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, token.rsplit('.').next().unwrap());
        assert_eq!(decode(&forged, &key("secret"), 50), None, "tampered payload");
        assert_eq!(decode("a.b", &key("secret"), 50), None);
    }
}
