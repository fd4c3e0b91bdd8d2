//! `phx_ref`: Phoenix.Tracker's `random_ref/0` (phoenix_pubsub `tracker/shard.ex`): 12 bytes,
//! the system time in ns (64 bits), a hash of the node (16 bits) and a unique integer
//! (16 bits), as URL-safe base64 without padding: 16 characters, unique per node and call.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

static UNIQUE: AtomicU16 = AtomicU16::new(0);

/// The 16-bit hash of a node name that every ref of that node carries.
pub fn node_hash(node: &str) -> u16 {
    let mut h = DefaultHasher::new();
    node.hash(&mut h);
    (h.finish() & 0xffff) as u16
}

/// A fresh ref for a node whose [`node_hash`] is `node`.
pub fn random_ref(node: u16) -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let unique = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&ns.to_be_bytes());
    bytes[8..10].copy_from_slice(&node.to_be_bytes());
    bytes[10..].copy_from_slice(&unique.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_look_like_phoenix_refs_and_differ() {
        let n = node_hash("server@127.0.0.1");
        let a = random_ref(n);
        let b = random_ref(n);
        assert_eq!(a.len(), 16, "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
        // The recorded refs decode to 12 bytes too.
        assert_eq!(
            URL_SAFE_NO_PAD.decode("GO04oIMO7HqC-gSi").map(|v| v.len()),
            Ok(12)
        );
    }
}
