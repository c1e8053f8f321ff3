//! The ResponseURL guard. CloudFormation's ResponseURL is always a pre-signed HTTPS URL on an
//! Amazon S3 host. Anything else is refused and nothing is sent to it, so a forged event cannot
//! make the function PUT data to an arbitrary endpoint.

use std::fmt;

/// Env var that lets tests allow one more URL prefix (for example `http://127.0.0.1:`).
/// Production never sets it.
pub const INSECURE_PREFIX_ENV: &str = "AUTOWIRE_INSECURE_RESPONSE_URL_PREFIX";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRefused {
    pub redacted: String,
    pub why: &'static str,
}

impl fmt::Display for UrlRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseURL {} refused: {}", self.redacted, self.why)
    }
}

impl std::error::Error for UrlRefused {}

/// The URL with its query string (the pre-signature) removed, safe to log.
pub fn redact(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let mut out = url[..cut].to_string();
    if cut < url.len() {
        out.push_str("?…");
    }
    out
}

/// Check `url` against the S3 rules, or the test prefix when one is given.
pub fn check(url: &str, insecure_prefix: Option<&str>) -> Result<(), UrlRefused> {
    let refuse = |why| {
        Err(UrlRefused {
            redacted: redact(url),
            why,
        })
    };
    if let Some(prefix) = insecure_prefix.filter(|p| !p.is_empty()) {
        if url.starts_with(prefix) {
            return Ok(());
        }
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return refuse("not https");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return refuse("user info is not allowed");
    }
    let host = match authority.rsplit_once(':') {
        Some((h, "443")) => h,
        Some(_) => return refuse("only the default https port is allowed"),
        None => authority,
    };
    if is_s3_host(&host.to_ascii_lowercase()) {
        Ok(())
    } else {
        refuse("not an Amazon S3 host")
    }
}

/// S3 endpoints: `s3.amazonaws.com`, `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`,
/// `s3.dualstack.<region>.amazonaws.com`, virtual-hosted `<bucket>.` forms of each, and the China
/// partition's `.amazonaws.com.cn`.
pub fn is_s3_host(host: &str) -> bool {
    let Some(stem) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    let labels: Vec<&str> = stem.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    labels.iter().enumerate().any(|(i, l)| {
        let rest = &labels[i + 1..];
        let is_s3_label = *l == "s3" || (l.starts_with("s3-") && l.len() > 3);
        let region_ok = match rest {
            [] => true,
            [region] => is_region(region),
            ["dualstack", region] => is_region(region),
            _ => false,
        };
        is_s3_label && region_ok
    })
}

fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_cloudformation_urls_pass() {
        for url in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A?X-Amz-Signature=x",
            "https://cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com/a?b",
            "https://cloudformation-custom-resource-response-apsoutheast2.s3.ap-southeast-2.amazonaws.com/x",
            "https://s3.amazonaws.com/bucket/key",
            "https://bucket.s3.dualstack.us-east-2.amazonaws.com:443/key",
            "https://b.s3.cn-north-1.amazonaws.com.cn/k",
        ] {
            assert_eq!(check(url, None), Ok(()), "{url}");
        }
    }

    #[test]
    fn other_urls_are_refused() {
        for (url, why) in [
            ("http://bucket.s3.amazonaws.com/k", "not https"),
            (
                "https://evil.example.com/s3.amazonaws.com",
                "not an Amazon S3 host",
            ),
            (
                "https://s3.amazonaws.com.evil.net/k",
                "not an Amazon S3 host",
            ),
            (
                "https://bucket.s3.amazonaws.com@evil.net/k",
                "user info is not allowed",
            ),
            (
                "https://bucket.s3.amazonaws.com:8443/k",
                "only the default https port is allowed",
            ),
            (
                "https://sqs.us-east-1.amazonaws.com/k",
                "not an Amazon S3 host",
            ),
            (
                "https://s3.notaregion.amazonaws.com/k",
                "not an Amazon S3 host",
            ),
            ("file:///etc/passwd", "not https"),
            ("http://127.0.0.1:9/x", "not https"),
        ] {
            assert_eq!(check(url, None).unwrap_err().why, why, "{url}");
        }
    }

    #[test]
    fn test_prefix_allows_loopback_only_when_set() {
        assert!(check("http://127.0.0.1:8080/r?sig=1", Some("http://127.0.0.1:")).is_ok());
        assert!(check("http://10.0.0.1:8080/r", Some("http://127.0.0.1:")).is_err());
        assert!(check("http://127.0.0.1:8080/r", Some("")).is_err());
    }

    #[test]
    fn redaction_drops_the_signature() {
        assert_eq!(
            redact("https://b.s3.amazonaws.com/key?X-Amz-Signature=secret"),
            "https://b.s3.amazonaws.com/key?…"
        );
        assert_eq!(
            redact("https://b.s3.amazonaws.com/key"),
            "https://b.s3.amazonaws.com/key"
        );
    }
}
