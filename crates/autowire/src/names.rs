//! DNS names: validation (and, with the consumer, TLS name coverage).

/// A DNS name of 1-253 characters in labels of 1-63 letters, digits and hyphens; a leading
/// `*.` wildcard label when `allow_wildcard`.
pub fn validate_dns_name(name: &str, allow_wildcard: bool) -> Result<(), String> {
    let body = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        Some(_) => return Err(format!("'{name}': wildcards are not allowed here")),
        None => name,
    };
    let body = body.strip_suffix('.').unwrap_or(body);
    let ok = !body.is_empty()
        && name.len() <= 253
        && body.split('.').count() >= 2
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a fully qualified DNS name"))
    }
}

/// The name a wildcard stands under (`*.example.com` → `example.com`), lowercase, without the
/// trailing dot. Plain names come back normalised the same way.
pub fn base(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    match n.strip_prefix("*.") {
        Some(rest) => rest.to_string(),
        None => n,
    }
}

/// The domain a name sits in: `orders.link.example.com` → `link.example.com`.
pub fn parent(name: &str) -> String {
    let n = base(name);
    n.split_once('.').map(|(_, p)| p.to_string()).unwrap_or(n)
}

/// Whether a certificate name (`orders.example.com` or `*.example.com`) covers `host`, by the
/// TLS rules: case-insensitive, and a wildcard stands for exactly one leftmost label.
pub fn covers(cert_name: &str, host: &str) -> bool {
    let cert = cert_name.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match cert.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && label != "*" && rest == parent),
        None => cert == host,
    }
}

/// The first of `names` that covers `host`, if any.
pub fn covering<'a>(names: &'a [String], host: &str) -> Option<&'a str> {
    names.iter().map(String::as_str).find(|n| covers(n, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_validate() {
        assert!(validate_dns_name("orders.link.example.com", false).is_ok());
        assert!(validate_dns_name("*.orders.example.com", true).is_ok());
        assert!(validate_dns_name("*.orders.example.com", false).is_err());
        for bad in ["", "localhost", "a..b", "-a.b", "a_b.com", "x.*.com"] {
            assert!(validate_dns_name(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn tls_name_coverage() {
        for (cert, host, expected) in [
            ("orders.link.example.com", "orders.link.example.com", true),
            ("Orders.Link.Example.com", "orders.link.example.com.", true),
            (
                "*.orders.link.example.com",
                "team-a.orders.link.example.com",
                true,
            ),
            (
                "*.orders.link.example.com",
                "orders.link.example.com",
                false,
            ),
            (
                "*.orders.link.example.com",
                "a.b.orders.link.example.com",
                false,
            ),
            ("*.example.net", "team-a.example.com", false),
            ("orders.link.example.com", "team-a.example.net", false),
        ] {
            assert_eq!(covers(cert, host), expected, "{cert} vs {host}");
        }
        let names = vec!["a.example.com".to_string(), "*.example.com".to_string()];
        assert_eq!(covering(&names, "b.example.com"), Some("*.example.com"));
        assert_eq!(covering(&names, "example.com"), None);
    }
}
