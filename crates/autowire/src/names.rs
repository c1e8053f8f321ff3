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
}
