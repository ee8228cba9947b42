//! Pagination cursors clients can neither read, nor make, nor borrow.
//!
//! A source's cursor is a position in its listing (often the last id of a page, which may be
//! an id the caller is not allowed to see). The token sent to clients is that position
//! encrypted and authenticated: a 16-byte random nonce, the position XORed with an
//! HMAC-SHA256 keystream (`HMAC(enc_key, nonce ‖ block)`), and a 16-byte HMAC-SHA256 tag
//! over the scope, nonce and ciphertext (encrypt-then-MAC). The scope names the listing and
//! the caller, so a cursor handed to one principal (or for one prefix) is refused for
//! another. Keys come from a configured secret (shared by every instance behind a balancer)
//! or from a random per-process secret.

use std::fmt;
use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ConfigError;
use crate::principal::Principal;

/// Longest cursor token accepted from a client.
const MAX_TOKEN_LEN: usize = 2048;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// Shortest configured secret.
pub const MIN_CURSOR_SECRET: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The keys that seal and open cursors.
#[derive(Clone)]
pub(crate) struct CursorKeys {
    keys: Arc<Keys>,
}

struct Keys {
    encryption: [u8; 32],
    authentication: [u8; 32],
}

impl fmt::Debug for CursorKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CursorKeys(..)")
    }
}

/// The per-process keys: random, made once.
static PROCESS_KEYS: LazyLock<CursorKeys> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    if getrandom::getrandom(&mut secret).is_err() {
        // Without randomness no secret can be made; a fixed key would let anyone forge
        // cursors, so derive one from what differs between processes and say so loudly.
        tracing::error!("system random source failed; cursor keys derive from time and pid");
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        secret.copy_from_slice(&derive(seed.as_bytes(), b"fallback"));
    }
    CursorKeys::from_bytes(&secret)
});

fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

impl Default for CursorKeys {
    fn default() -> Self {
        PROCESS_KEYS.clone()
    }
}

impl CursorKeys {
    /// Keys derived from a configured secret (at least [`MIN_CURSOR_SECRET`] bytes).
    pub(crate) fn from_secret(secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < MIN_CURSOR_SECRET {
            return Err(ConfigError::new(format!(
                "cursor_secret must be at least {MIN_CURSOR_SECRET} bytes"
            )));
        }
        Ok(Self::from_bytes(secret))
    }

    fn from_bytes(secret: &[u8]) -> Self {
        Self {
            keys: Arc::new(Keys {
                encryption: derive(secret, b"mcp-bastion cursor encryption"),
                authentication: derive(secret, b"mcp-bastion cursor authentication"),
            }),
        }
    }

    fn keystream_xor(&self, nonce: &[u8], data: &mut [u8]) {
        for (block, chunk) in data.chunks_mut(32).enumerate() {
            let mut mac = HmacSha256::new_from_slice(&self.keys.encryption)
                .expect("HMAC takes any key length");
            mac.update(nonce);
            mac.update(&u32::try_from(block).unwrap_or(u32::MAX).to_be_bytes());
            let stream = mac.finalize().into_bytes();
            for (byte, key) in chunk.iter_mut().zip(stream) {
                *byte ^= key;
            }
        }
    }

    fn tag(&self, scope: &str, nonce: &[u8], ciphertext: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.keys.authentication)
            .expect("HMAC takes any key length");
        mac.update(&u64::try_from(scope.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(nonce);
        mac.update(ciphertext);
        mac
    }

    /// The token for `position` in the listing `scope`; `None` when no nonce can be drawn.
    pub(crate) fn seal(&self, scope: &str, position: &str) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).ok()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + position.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(position.as_bytes());
        self.keystream_xor(&nonce, &mut sealed[NONCE_LEN..]);
        let tag = self.tag(scope, &nonce, &sealed[NONCE_LEN..]).finalize();
        sealed.extend_from_slice(&tag.into_bytes()[..TAG_LEN]);
        Some(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The position inside a token this server sealed for `scope`; `None` for anything else
    /// (garbage, tampered, another scope, another key).
    pub(crate) fn open(&self, scope: &str, token: &str) -> Option<String> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut sealed = URL_SAFE_NO_PAD.decode(token).ok()?;
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (body, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        // Constant-time comparison of the truncated tag.
        self.tag(scope, nonce, ciphertext)
            .verify_truncated_left(tag)
            .ok()?;
        let nonce = nonce.to_vec();
        sealed.truncate(sealed.len() - TAG_LEN);
        let position = &mut sealed[NONCE_LEN..];
        self.keystream_xor(&nonce, position);
        String::from_utf8(position.to_vec()).ok()
    }
}

/// The scope a cursor is sealed for: which listing (`rest` with its prefix, or `rpc`) and
/// which caller (the principal's subject; empty without one).
pub(crate) fn scope(listing: &str, principal: Option<&Principal>, prefix: Option<&str>) -> String {
    let subject = principal.map_or("", Principal::identity);
    let prefix = prefix.unwrap_or("");
    // Lengths first, so that no prefix and subject pair can spell another.
    format!(
        "{listing}:{}:{}:{prefix}{subject}",
        prefix.len(),
        subject.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_cursors_open_only_in_their_scope_with_their_key() {
        let keys = CursorKeys::from_secret(&[7u8; 32]).unwrap();
        let position = "project-alpha/dependency-graph";
        let token = keys.seal("rest\0guest", position).unwrap();
        assert_eq!(keys.open("rest\0guest", &token).as_deref(), Some(position));
        // Opaque: the position does not show, and two seals differ.
        assert!(!token.contains("project"));
        let plain = URL_SAFE_NO_PAD.encode(position);
        assert!(!token.contains(&plain[..16]));
        assert_ne!(keys.seal("rest\0guest", position).unwrap(), token);
        // Foreign: another caller, another listing, another key.
        assert_eq!(keys.open("rest\0admin", &token), None);
        assert_eq!(keys.open("rpc\0guest", &token), None);
        let other = CursorKeys::from_secret(&[8u8; 32]).unwrap();
        assert_eq!(other.open("rest\0guest", &token), None);
        // Forged: every single-character change is refused.
        let bytes = token.as_bytes();
        for at in 0..bytes.len() {
            let mut forged = bytes.to_vec();
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert_eq!(keys.open("rest\0guest", &forged), None, "{at}");
        }
        // Garbage.
        for garbage in [
            "",
            "!!",
            "cHJvamVjdC1hbHBoYQ",
            &"A".repeat(MAX_TOKEN_LEN + 4),
        ] {
            assert_eq!(keys.open("rest\0guest", garbage), None, "{garbage}");
        }
        // Long positions span several keystream blocks.
        let long = "x/".repeat(200);
        let token = keys.seal("s", &long).unwrap();
        assert_eq!(keys.open("s", &token).as_deref(), Some(long.as_str()));
        assert!(CursorKeys::from_secret(b"short").is_err());
    }

    #[test]
    fn the_process_keys_are_shared() {
        let token = CursorKeys::default().seal("s", "a").unwrap();
        assert_eq!(
            CursorKeys::default().open("s", &token).as_deref(),
            Some("a")
        );
    }
}
