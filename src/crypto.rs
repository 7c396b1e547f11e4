//! Personal data at rest: AES-256-GCM for values we must read back (phone numbers, WeChat
//! session keys) and keyed HMAC-SHA256 for look-ups and for hashing opaque tokens.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("must be base64 of exactly 32 bytes")]
pub struct BadKey;

/// Decodes a base64 data key of exactly 32 bytes.
pub fn decode_key(encoded: &str) -> Result<[u8; 32], BadKey> {
    let bytes = STANDARD.decode(encoded.trim()).map_err(|_| BadKey)?;
    bytes.try_into().map_err(|_| BadKey)
}

#[derive(Clone)]
pub struct Crypto {
    cipher: Aes256Gcm,
    hmac_key: [u8; 32],
}

impl Crypto {
    pub fn new(key: [u8; 32]) -> Self {
        // Separate keys for encryption and look-up hashing, both derived from the one secret.
        let enc_key = Sha256::digest([b"linli-enc:".as_slice(), &key].concat());
        let hmac_key: [u8; 32] = Sha256::digest([b"linli-mac:".as_slice(), &key].concat()).into();
        Self {
            cipher: Aes256Gcm::new(&enc_key),
            hmac_key,
        }
    }

    /// Encrypts `plain` as `v1:<base64 nonce||ciphertext>`.
    pub fn encrypt(&self, plain: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok(format!(
            "v1:{}",
            STANDARD.encode([&nonce[..], &sealed].concat())
        ))
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<String> {
        let body = stored
            .strip_prefix("v1:")
            .ok_or_else(|| anyhow::anyhow!("unknown ciphertext version"))?;
        let bytes = STANDARD.decode(body)?;
        if bytes.len() < 12 {
            anyhow::bail!("ciphertext too short");
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into()?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| anyhow::anyhow!("decryption failed (wrong key or altered data)"))?;
        Ok(String::from_utf8(plain)?)
    }

    /// A keyed hash for finding a row by a secret value without storing the value.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hmac_key)
            .expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// 138****1234: the first three and last four digits of a mainland number.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = Crypto::new([7u8; 32]);
        let sealed = c.encrypt("13812341234").unwrap();
        assert!(!sealed.contains("1381234"));
        assert_eq!(c.decrypt(&sealed).unwrap(), "13812341234");
        let other = Crypto::new([8u8; 32]);
        assert!(other.decrypt(&sealed).is_err());
        // Two encryptions of one value differ (random nonce) but hash the same.
        assert_ne!(sealed, c.encrypt("13812341234").unwrap());
        assert_eq!(c.lookup_hash("phone", "1"), c.lookup_hash("phone", "1"));
        assert_ne!(c.lookup_hash("phone", "1"), other.lookup_hash("phone", "1"));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("123"), "***");
    }
}
