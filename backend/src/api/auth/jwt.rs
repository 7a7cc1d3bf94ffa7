//! HS256 JWTs, written out by hand (a dozen lines of HMAC) rather than pulling a JWT crate with its
//! own crypto backend. The token names a server-side session (`sid`); `sub` is the user id as a
//! string, as the contract says.

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

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn encode(claims: &Claims, secret: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", B64.encode(HEADER), B64.encode(serde_json::to_vec(claims).expect("claims serialise")));
    let signature = mac(secret, signing_input.as_bytes()).finalize().into_bytes();
    format!("{signing_input}.{}", B64.encode(signature))
}

/// The claims of a well-formed, correctly signed, unexpired HS256 token.
pub fn decode(token: &str, secret: &[u8], now: i64) -> Option<Claims> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
    if header["alg"].as_str()? != "HS256" {
        return None;
    }
    mac(secret, signing_input.as_bytes()).verify_slice(&B64.decode(signature).ok()?).ok()?;
    let claims: Claims = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (claims.exp > now).then_some(claims)
}

fn mac(secret: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "42".into(), sid: "abc".into(), iat: 0, exp }
    }

    #[test]
    fn round_trips_and_has_three_parts() {
        let token = encode(&claims(100), b"secret");
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(decode(&token, b"secret", 50), Some(claims(100)));
    }

    #[test]
    fn rejects_expired_tampered_and_foreign_tokens() {
        let token = encode(&claims(100), b"secret");
        assert_eq!(decode(&token, b"secret", 100), None, "expired");
        assert_eq!(decode(&token, b"other", 50), None, "wrong key");
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&Claims { sub: "1".into(), ..claims(100) }).unwrap());
        let parts: Vec<&str> = head.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, token.rsplit('.').next().unwrap());
        assert_eq!(decode(&forged, b"secret", 50), None, "tampered payload");
        assert_eq!(decode("a.b", b"secret", 50), None);
    }
}
