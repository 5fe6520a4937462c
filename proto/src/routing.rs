//! Routes that workers announce in HELLO, and how requests match them
//! ([spec](../../spec/PROTOCOL.md#routing)).
//!
//! A route is `/prefix`, `host`, or `host/prefix`; `host` may be `*.suffix`.
//! The most specific matching route wins: exact host over wildcard host
//! (longer suffix first) over no host, then the longest path prefix.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    raw: String,
    host: HostPattern,
    prefix: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
}

/// How specifically a route matched; greater is more specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Specificity {
    host_rank: u8,
    host_len: usize,
    prefix_len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    route: String,
    reason: &'static str,
}

impl Route {
    pub fn parse(raw: &str) -> Result<Self, RouteError> {
        let err = |reason| RouteError {
            route: raw.to_owned(),
            reason,
        };
        let (host, prefix) = match raw.find('/') {
            Some(at) => (&raw[..at], &raw[at..]),
            None => (raw, "/"),
        };
        if host.is_empty() && raw.is_empty() {
            return Err(err("empty route"));
        }
        if prefix
            .bytes()
            .any(|b| b == b'?' || b == b'#' || !(0x21..0x7f).contains(&b))
        {
            return Err(err("path prefix must be visible ASCII without '?' or '#'"));
        }
        let host = if host.is_empty() {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_hostname(suffix).map_err(err)?;
            HostPattern::Suffix(format!(".{suffix}"))
        } else {
            check_hostname(host).map_err(err)?;
            HostPattern::Exact(host.to_owned())
        };
        Ok(Self {
            raw: raw.to_owned(),
            host,
            prefix: prefix.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Matches a request's `:host` (any case, port allowed) and `:path`.
    pub fn matches(&self, host: &str, path: &str) -> Option<Specificity> {
        let (host_rank, host_len) = match &self.host {
            HostPattern::Any => (0, 0),
            HostPattern::Exact(h) => {
                if !normalize_host(host).eq_ignore_ascii_case(h) {
                    return None;
                }
                (2, h.len())
            }
            HostPattern::Suffix(s) => {
                let host = normalize_host(host);
                let tail = host.len().checked_sub(s.len()).filter(|&at| at > 0)?;
                if !host.is_char_boundary(tail) || !host[tail..].eq_ignore_ascii_case(s) {
                    return None;
                }
                (1, s.len())
            }
        };
        if !prefix_matches(&self.prefix, path) {
            return None;
        }
        Some(Specificity {
            host_rank,
            host_len,
            prefix_len: self.prefix.len(),
        })
    }
}

/// The host part of an authority, without its port: for `[...]`, everything
/// after the `]` goes; otherwise the first `:` and everything after it
/// ([spec](../../spec/PROTOCOL.md#routing-matching)).
pub fn normalize_host(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .split_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Segment-wise: `/api` matches `/api`, `/api/x` and `/api?q`, never `/apix`;
/// `/` matches every path, `*` included.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `exact-host`: at most 253 bytes of dot-separated labels, each 1 to 63
/// lowercase letters, digits or `-`.
fn check_hostname(host: &str) -> Result<(), &'static str> {
    let valid = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(
            "host must be lowercase DNS labels of 1 to 63 bytes, at most 253 bytes in all, optionally after '*.'",
        )
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid route {:?}: {}", self.route, self.reason)
    }
}

impl std::error::Error for RouteError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn best<'a>(routes: &'a [&str], host: &str, path: &str) -> Option<&'a str> {
        routes
            .iter()
            .filter_map(|r| {
                Route::parse(r)
                    .unwrap()
                    .matches(host, path)
                    .map(|s| (s, *r))
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, r)| r)
    }

    #[test]
    fn prefixes_match_by_segment() {
        let api = Route::parse("/api").unwrap();
        for hit in ["/api", "/api/", "/api/x", "/api?q=1"] {
            assert!(api.matches("h", hit).is_some(), "{hit}");
        }
        for miss in ["/apix", "/ap", "/", "/v1/api"] {
            assert!(api.matches("h", miss).is_none(), "{miss}");
        }
        let slash = Route::parse("/static/").unwrap();
        assert!(slash.matches("h", "/static/a.css").is_some());
        assert!(slash.matches("h", "/static").is_none());
    }

    /// spec: #routing-precedence, #routing-examples
    #[test]
    fn precedence_host_then_longest_prefix() {
        let routes = [
            "/",
            "/api",
            "/api/v2",
            "example.com",
            "*.example.com/api",
            "api.example.com/api",
        ];
        assert_eq!(best(&routes, "other.org", "/api/v2/x"), Some("/api/v2"));
        assert_eq!(best(&routes, "other.org", "/index"), Some("/"));
        assert_eq!(
            best(&routes, "example.com:8080", "/api/v2"),
            Some("example.com")
        );
        assert_eq!(
            best(&routes, "Api.Example.com", "/api/x"),
            Some("api.example.com/api")
        );
        assert_eq!(
            best(&routes, "www.example.com", "/api"),
            Some("*.example.com/api")
        );
        assert_eq!(best(&routes, "www.example.com", "/other"), Some("/"));
    }

    #[test]
    fn wildcard_needs_a_label() {
        let w = Route::parse("*.example.com").unwrap();
        assert!(w.matches("a.b.example.com", "/").is_some());
        assert!(w.matches("example.com", "/").is_none());
        assert!(w.matches("badexample.com", "/").is_none());
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(normalize_host("example.com:80"), "example.com");
        assert_eq!(normalize_host("[::1]:8080"), "[::1]");
        assert_eq!(normalize_host("example.com"), "example.com");
    }

    /// spec: #routing-matching — the port goes from the first `:` on, so a host with stray
    /// colons still matches on what precedes the first one.
    #[test]
    fn port_removal_starts_at_the_first_colon() {
        assert_eq!(normalize_host("example.com:80:90"), "example.com");
        let exact = Route::parse("example.com").unwrap();
        assert!(exact.matches("example.com:80:90", "/").is_some());
    }

    /// spec: #routing-matching — the prefix `/` matches every request path, `*` (OPTIONS *) included.
    #[test]
    fn root_prefix_matches_asterisk() {
        for route in ["/", "example.com", "example.com/"] {
            let r = Route::parse(route).unwrap();
            assert!(r.matches("example.com", "*").is_some(), "{route}");
        }
        assert!(Route::parse("/api").unwrap().matches("h", "*").is_none());
    }

    /// spec: #routing-syntax — labels are at most 63 bytes and an exact host at most 253.
    #[test]
    fn host_length_limits() {
        let label63 = "a".repeat(63);
        assert!(Route::parse(&label63).is_ok());
        assert!(Route::parse(&"a".repeat(64)).is_err());
        assert!(Route::parse(&format!("*.{}", "a".repeat(64))).is_err());
        // 4 labels of 63 bytes and 3 dots: 255 bytes.
        let long = [label63.as_str(); 4].join(".");
        assert!(Route::parse(&long).is_err());
        let just_fits = format!("{}.{}", [label63.as_str(); 3].join("."), "a".repeat(61));
        assert_eq!(just_fits.len(), 253);
        assert!(Route::parse(&just_fits).is_ok());
        assert!(Route::parse(&format!("*.{just_fits}/x")).is_ok());
    }

    #[test]
    fn bad_routes_are_refused() {
        for bad in [
            "",
            "Example.com",
            "exa mple.com",
            "host:80/x",
            "/a?b",
            "*./x",
            "a..b",
        ] {
            assert!(Route::parse(bad).is_err(), "{bad:?}");
        }
    }
}
