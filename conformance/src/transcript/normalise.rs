//! Normalising: volatile values become placeholders so that runs compare across targets.
//!
//! - Phoenix.Token strings (`SFMyNTY.…`) become `[token]`.
//! - Node names become `[node:NAME]` (the caller says which names map to which placeholder).
//! - Timings and ports never reach a snapshot: [`snapshot_text`] drops `t_ms` and the harness
//!   records connects by socket path, not URL.

use super::{Dir, Transcript};

/// The prefix of every Phoenix.Token made with the default SHA-256 signer (`"HS256"` base64).
pub const TOKEN_PREFIX: &str = "SFMyNTY.";
/// What a token becomes.
pub const TOKEN_PLACEHOLDER: &str = "[token]";

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// Replaces every Phoenix.Token in `s` with `[token]`.
pub fn tokens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(TOKEN_PREFIX) {
        out.push_str(&rest[..i]);
        out.push_str(TOKEN_PLACEHOLDER);
        let tail = &rest[i..];
        let end = tail.find(|c: char| !is_token_char(c)).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// True when the whole string is one Phoenix.Token.
pub fn is_token(s: &str) -> bool {
    s.starts_with(TOKEN_PREFIX) && s.chars().all(is_token_char)
}

/// Maps concrete values (node names) to placeholders, and tokens to `[token]`.
#[derive(Clone, Debug, Default)]
pub struct Normaliser {
    /// `(concrete, placeholder)` pairs, applied in order to quoted JSON strings.
    pub names: Vec<(String, String)>,
}

impl Normaliser {
    /// A normaliser that only handles tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node name and the placeholder it becomes (e.g. `server@127.0.0.1` → `[node:server]`).
    pub fn node(mut self, concrete: impl Into<String>, placeholder: impl Into<String>) -> Self {
        self.names.push((concrete.into(), placeholder.into()));
        self
    }

    /// Normalises one frame or event text.
    pub fn apply(&self, s: &str) -> String {
        let mut out = tokens(s);
        for (concrete, placeholder) in &self.names {
            if !concrete.is_empty() {
                out = out.replace(&format!("\"{concrete}\""), &format!("\"{placeholder}\""));
            }
        }
        out
    }
}

/// A transcript as snapshot text: one line per entry, `conn dir frame`, normalised, no timings.
///
/// Directions are written `>` (sent), `<` (received) and `*` (event).
pub fn snapshot_text(t: &Transcript, n: &Normaliser) -> String {
    let mut out = String::new();
    for e in &t.entries {
        let dir = match e.dir {
            Dir::Send => '>',
            Dir::Recv => '<',
            Dir::Event => '*',
        };
        let conn = e.conn.as_deref().unwrap_or("-");
        let kind = if e.is_binary() { " bin" } else { "" };
        out.push_str(&format!("{conn} {dir}{kind} {}\n", n.apply(&e.frame)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_replaced_wherever_they_appear() {
        let s = r#"{"token":"SFMyNTY.g2gDYQFu.Vr97oMCu_4"} and token=SFMyNTY.a-b.c&x=1"#;
        assert_eq!(tokens(s), r#"{"token":"[token]"} and token=[token]&x=1"#);
        assert!(is_token("SFMyNTY.g2gD.abc-_"));
        assert!(!is_token("nonsense"));
    }

    #[test]
    fn node_names_become_placeholders_only_as_whole_strings() {
        let n = Normaliser::new().node("server@127.0.0.1", "[node:server]");
        assert_eq!(
            n.apply(r#"{"from_node":"server@127.0.0.1","x":"xserver@127.0.0.1"}"#),
            r#"{"from_node":"[node:server]","x":"xserver@127.0.0.1"}"#
        );
    }
}
