//! The endpoint URL and auth subprotocols, rebuilt for every connection attempt.

use base64::Engine;
use phx_protocol::Vsn;
use url::Url;

use crate::error::ConfigError;

/// Parses and normalises an endpoint: `ws://host:4000/socket` becomes
/// `ws://host:4000/socket/websocket` (phoenix.js appends the transport name); a URL that already
/// ends in `/websocket` is kept. `http`/`https` map to `ws`/`wss`. The query is kept.
pub fn normalise_endpoint(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(invalid("the scheme must be ws, wss, http or https")),
    };
    if url.host_str().is_none() {
        return Err(invalid("the URL has no host"));
    }
    url.set_scheme(scheme)
        .map_err(|()| invalid("cannot set the scheme"))?;
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/websocket") {
        url.set_path(&format!("{path}/websocket"));
    }
    Ok(url)
}

/// The URL of one attempt: the endpoint plus `params` plus `vsn` (last, as phoenix.js does).
pub fn attempt_url(endpoint: &Url, params: &[(String, String)], vsn: Vsn) -> Url {
    let mut url = endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        q.append_pair("vsn", vsn.as_str());
    }
    url
}

/// The `Sec-WebSocket-Protocol` value that carries `token` as Phoenix 1.8's `authToken` does:
/// `phoenix, base64url.bearer.phx.<standard base64 without padding>` (PROTOCOL.md §1.2: despite
/// the name, the alphabet is standard, as `btoa` produces).
pub fn auth_subprotocols(token: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(token.as_bytes());
    format!("phoenix, base64url.bearer.phx.{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_websocket_like_phoenix_js() {
        let u = |s: &str| {
            normalise_endpoint(s)
                .map(|u| u.to_string())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            u("ws://127.0.0.1:4000/socket").unwrap(),
            "ws://127.0.0.1:4000/socket/websocket"
        );
        assert_eq!(
            u("ws://127.0.0.1:4000/socket/").unwrap(),
            "ws://127.0.0.1:4000/socket/websocket"
        );
        assert_eq!(
            u("ws://127.0.0.1:4000/socket/websocket").unwrap(),
            "ws://127.0.0.1:4000/socket/websocket"
        );
        assert_eq!(
            u("http://localhost/socket?x=1").unwrap(),
            "ws://localhost/socket/websocket?x=1"
        );
        assert!(u("ftp://x/socket").unwrap_err().contains("scheme"));
        assert!(u("not a url").is_err());
    }

    #[test]
    fn params_then_vsn() {
        let base = normalise_endpoint("ws://h:1/auth_socket").unwrap();
        let url = attempt_url(&base, &[("token".into(), "a b+c".into())], Vsn::V2);
        assert_eq!(
            url.as_str(),
            "ws://h:1/auth_socket/websocket?token=a+b%2Bc&vsn=2.0.0"
        );
    }

    #[test]
    fn auth_token_uses_standard_base64_without_padding() {
        // "a?>" encodes to "YT8+" (standard) vs "YT8-" (url-safe); "ab" needs padding "YWI=".
        assert_eq!(
            auth_subprotocols("a?>"),
            "phoenix, base64url.bearer.phx.YT8+"
        );
        assert_eq!(auth_subprotocols("ab"), "phoenix, base64url.bearer.phx.YWI");
    }
}
