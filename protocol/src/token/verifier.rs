//! The token string: `Plug.Crypto.MessageVerifier` (HMAC-SHA2, JWS-like compact form).
//!
//! `b64url(protected) "." b64url(payload) "." b64url(mac)`, all URL-safe base64 without padding;
//! `protected` is `"HS256"`, `"HS384"` or `"HS512"` and picks the HMAC digest; the MAC covers the
//! first two parts exactly as they appear in the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// The HMAC digest named by a token's protected header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Digest {
    /// `HS256` (`SFMyNTY`), what Phoenix.Token signs with.
    #[default]
    Sha256,
    /// `HS384` (`SFMzODQ`), accepted on verify.
    Sha384,
    /// `HS512` (`SFM1MTI`), accepted on verify.
    Sha512,
}

impl Digest {
    /// The protected header value, e.g. `"HS256"`.
    pub fn protected(self) -> &'static str {
        match self {
            Digest::Sha256 => "HS256",
            Digest::Sha384 => "HS384",
            Digest::Sha512 => "HS512",
        }
    }

    fn from_protected(p: &[u8]) -> Option<Self> {
        match p {
            b"HS256" => Some(Digest::Sha256),
            b"HS384" => Some(Digest::Sha384),
            b"HS512" => Some(Digest::Sha512),
            _ => None,
        }
    }

    fn mac(self, key: &[u8], text: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], text: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length, so new_from_slice cannot fail here.
            match <M as Mac>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(text);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Digest::Sha256 => run::<Hmac<Sha256>>(key, text),
            Digest::Sha384 => run::<Hmac<Sha384>>(key, text),
            Digest::Sha512 => run::<Hmac<Sha512>>(key, text),
        }
    }
}

/// Signs `payload` with `key`: `MessageVerifier.sign(payload, key, digest)`.
pub fn sign(payload: &[u8], key: &[u8], digest: Digest) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(digest.protected());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let mac = digest.mac(key, out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(mac, &mut out);
    out
}

/// The longest token [`verify`] reads (64 KiB). Phoenix apps sign a user id or a few claims, a
/// few hundred bytes; Cowboy refuses a request line over 8,000 bytes, so a longer token never
/// reaches a Phoenix socket's `connect/3` in the query string anyway.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Checks the token's MAC and returns its payload bytes; None for any malformed or forged token,
/// or one longer than [`MAX_TOKEN_LEN`].
///
/// Like `String.split(token, ".", parts: 3)`: a fourth dot lands in the signature part, which then
/// fails to decode. Base64 must be canonical (no padding, no stray trailing bits).
pub fn verify(token: &str, key: &[u8]) -> Option<Vec<u8>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut parts = token.splitn(3, '.');
    let (protected_b64, payload_b64, mac_b64) = (parts.next()?, parts.next()?, parts.next()?);
    let protected = URL_SAFE_NO_PAD.decode(protected_b64).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).ok()?;
    let mac = URL_SAFE_NO_PAD.decode(mac_b64).ok()?;
    let digest = Digest::from_protected(&protected)?;
    let signed_text = &token[..protected_b64.len() + 1 + payload_b64.len()];
    let expected = digest.mac(key, signed_text.as_bytes());
    // ct_eq on slices of different lengths is false without looking at the contents.
    bool::from(expected.ct_eq(&mac)).then_some(payload)
}
