//! Key derivation: `Plug.Crypto.KeyGenerator.generate/4`, PBKDF2-HMAC-SHA256.
//!
//! Deriving costs 1000 HMAC rounds, so the 32-byte default key is cached per (secret, salt) like
//! Plug's `Plug.Crypto.Keys` ETS table. The cache is keyed by a SHA-256 of both (the secret itself
//! is not kept) and holds at most [`CACHE_CAPACITY`] keys.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Plug.Crypto's default iteration count.
pub const ITERATIONS: u32 = 1000;

/// Most keys kept in the cache; past it, an arbitrary entry is dropped.
pub const CACHE_CAPACITY: usize = 256;

/// PBKDF2-HMAC-SHA256 of `secret` and `salt`, `len` bytes long (`KeyGenerator.generate`).
pub fn derive(secret: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, salt, iterations, &mut out);
    out
}

/// The default 32-byte key (1000 iterations), from the cache when possible.
pub fn derive_cached(secret: &[u8], salt: &[u8]) -> [u8; 32] {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], [u8; 32]>>> = OnceLock::new();
    let id = cache_id(secret, salt);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave the map inconsistent, so poison is ignored.
    if let Some(key) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *key;
    }
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, salt, ITERATIONS, &mut key);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= CACHE_CAPACITY {
        if let Some(victim) = map.keys().next().copied() {
            map.remove(&victim);
        }
    }
    map.insert(id, key);
    key
}

fn cache_id(secret: &[u8], salt: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((secret.len() as u64).to_be_bytes());
    h.update(secret);
    h.update(salt);
    h.finalize().into()
}
