//! `CertificateRequests` on a publication: which accounts may ask for a certificate, and for
//! names under which domain suffixes. Nobody may by default.

use crate::error::{Error, Result};
use crate::names;

/// One grant: `account` may ask for names equal to `suffix` or under it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub account: String,
    pub suffix: String,
}

/// What the provider answers a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused(String),
}

/// Parse `CertificateRequests`: entries `<12-digit account>:<domain suffix>`.
pub fn parse(entries: &[String]) -> Result<Vec<Grant>> {
    entries.iter().map(|e| parse_one(e)).collect()
}

fn parse_one(entry: &str) -> Result<Grant> {
    let bad = |why: &str| {
        Error::invalid(
            "CertificateRequests",
            format!("'{entry}' {why}; write <12-digit account ID>:<domain suffix>, such as 222222222222:team-b.example.com"),
        )
    };
    let (account, suffix) = entry.split_once(':').ok_or_else(|| bad("has no ':'"))?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("does not start with a 12-digit account ID"));
    }
    let suffix = suffix.trim_end_matches('.').to_ascii_lowercase();
    if suffix.starts_with("*.") || names::validate_dns_name(&suffix, false).is_err() {
        return Err(bad("does not end with a domain name (no wildcard)"));
    }
    Ok(Grant {
        account: account.to_string(),
        suffix,
    })
}

/// May `account` have a certificate for `name`? Only an exact name (no wildcard) equal to or
/// under a suffix granted to that account.
pub fn decide(grants: &[Grant], account: &str, name: &str) -> Verdict {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mine: Vec<&Grant> = grants.iter().filter(|g| g.account == account).collect();
    if mine.is_empty() {
        return Verdict::Refused(format!(
            "account {account} may not ask this service for certificates; the provider lists it in the publication's CertificateRequests"
        ));
    }
    if name.contains('*') {
        return Verdict::Refused(format!(
            "{name} is a wildcard; ask for the alias's exact name"
        ));
    }
    if mine
        .iter()
        .any(|g| name == g.suffix || name.ends_with(&format!(".{}", g.suffix)))
    {
        return Verdict::Allowed;
    }
    let suffixes: Vec<&str> = mine.iter().map(|g| g.suffix.as_str()).collect();
    Verdict::Refused(format!(
        "{name} is not under the domain suffixes account {account} may ask for ({})",
        suffixes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants() -> Vec<Grant> {
        parse(&["222222222222:team-b.example.com".into()]).unwrap()
    }

    #[test]
    fn a_listed_account_may_ask_for_names_under_its_suffixes_only() {
        let g = grants();
        for ok in [
            "orders.team-b.example.com",
            "team-b.example.com",
            "A.Team-B.example.com.",
        ] {
            assert_eq!(decide(&g, "222222222222", ok), Verdict::Allowed, "{ok}");
        }
        for (account, name, says) in [
            ("333333333333", "orders.team-b.example.com", "may not ask"),
            ("222222222222", "orders.team-c.example.com", "not under"),
            ("222222222222", "xteam-b.example.com", "not under"),
            ("222222222222", "*.team-b.example.com", "wildcard"),
        ] {
            let Verdict::Refused(why) = decide(&g, account, name) else {
                panic!("{account} {name} allowed");
            };
            assert!(why.contains(says), "{why}");
            assert!(why.len() < 256);
        }
    }

    #[test]
    fn nobody_may_ask_by_default_and_bad_entries_say_the_form() {
        assert!(matches!(
            decide(&[], "222222222222", "a.example.com"),
            Verdict::Refused(_)
        ));
        for bad in [
            "team-b.example.com",
            "2222:x.example.com",
            "222222222222:*.example.com",
        ] {
            let e = parse(&[bad.into()]).unwrap_err().reason();
            assert!(
                e.contains("CertificateRequests") && e.contains("<12-digit"),
                "{e}"
            );
        }
    }
}
