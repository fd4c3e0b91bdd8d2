//! `check_origin` with a list of allowed origins, as `Phoenix.Socket.Transport` compares them.

use url::Url;

/// True when `origin` (the header value) matches one of `allowed`.
///
/// Entries look like `"https://example.com"`, `"//example.com:8080"` or `"//*.example.com"`:
/// scheme and port are compared only when the entry has them; `*.` matches the host and any
/// subdomain.
pub(crate) fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Ok(origin) = Url::parse(origin) else {
        return false;
    };
    let Some(host) = origin.host_str() else {
        return false;
    };
    allowed.iter().any(|entry| {
        let (scheme, rest) = match entry.split_once("//") {
            Some((s, r)) => (s.strip_suffix(':').filter(|s| !s.is_empty()), r),
            None => (None, entry.as_str()),
        };
        let rest = rest.split('/').next().unwrap_or(rest);
        let (want_host, want_port) = match rest.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                (h, p.parse::<u16>().ok())
            }
            _ => (rest, None),
        };
        let scheme_ok = scheme.is_none_or(|s| s.eq_ignore_ascii_case(origin.scheme()));
        let port_ok = want_port.is_none_or(|p| Some(p) == origin.port_or_known_default());
        let host_ok = match want_host.strip_prefix("*.") {
            Some(base) => {
                host.eq_ignore_ascii_case(base)
                    || host
                        .to_ascii_lowercase()
                        .ends_with(&format!(".{}", base.to_ascii_lowercase()))
            }
            None => host.eq_ignore_ascii_case(want_host),
        };
        scheme_ok && port_ok && host_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_phoenix() {
        let allowed = vec![
            "https://example.com".to_owned(),
            "//another.com:888".to_owned(),
            "//*.other.com".to_owned(),
        ];
        assert!(origin_allowed("https://example.com", &allowed));
        assert!(!origin_allowed("http://example.com", &allowed));
        assert!(origin_allowed("http://another.com:888", &allowed));
        assert!(!origin_allowed("http://another.com", &allowed));
        assert!(origin_allowed("https://other.com", &allowed));
        assert!(origin_allowed("https://a.b.other.com", &allowed));
        assert!(!origin_allowed("https://evil.com", &allowed));
        assert!(!origin_allowed("not a url", &allowed));
    }
}
