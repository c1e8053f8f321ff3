//! The service descriptor: the one document that crosses accounts (contract §1).
//!
//! It is stored as canonical JSON (keys sorted, no insignificant whitespace) with a `digest`
//! field holding the SHA-256 of the canonical JSON without that field. A reader checks the
//! digest over the JSON as stored, fields it does not know included, so a newer writer's extra
//! field never makes an older reader refuse the descriptor.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const SCHEMA: u32 = 1;
pub const DEFAULT_PREFIX: &str = "/privatelink-autowire/services";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Tls,
    Udp,
    #[serde(rename = "TCP_UDP")]
    TcpUdp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Udp => "UDP",
            Protocol::TcpUdp => "TCP_UDP",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "TLS" => Ok(Protocol::Tls),
            "UDP" => Ok(Protocol::Udp),
            "TCP_UDP" => Ok(Protocol::TcpUdp),
            other => Err(format!(
                "unknown protocol '{other}' (TCP, TLS, UDP or TCP_UDP)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Port {
    pub port: u16,
    pub protocol: Protocol,
}

impl FromStr for Port {
    type Err = String;
    /// `443`, `443/TLS`, `53/udp`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (num, proto) = match s.split_once('/') {
            Some((n, p)) => (n.trim(), p.trim().parse()?),
            None => (s.trim(), Protocol::Tcp),
        };
        match num.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Port {
                port,
                protocol: proto,
            }),
            _ => Err(format!(
                "'{s}' is not a port from 1 to 65535 (optionally /TCP, /TLS, /UDP)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acceptance {
    /// The service accepts every allowed principal's request without review.
    Auto,
    /// Requests are accepted or rejected by the reconciler per the provider's policy.
    Policy,
    /// Someone accepts requests by hand.
    Manual,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDns {
    pub name: String,
    /// `verified`, `pendingVerification` or `failed`, as EC2 reports it.
    pub state: String,
}

/// Schema version 1 of the descriptor. Unknown fields are ignored when reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    pub schema: u32,
    pub key: String,
    pub service_id: String,
    pub service_name: String,
    pub region: String,
    pub provider_account: String,
    pub az_ids: Vec<String>,
    pub ports: Vec<Port>,
    pub private_dns: Option<PrivateDns>,
    pub tls_names: Vec<String>,
    pub acceptance: Acceptance,
    #[serde(default)]
    pub digest: String,
}

impl Descriptor {
    /// Sort and de-duplicate the lists, then compute the digest.
    pub fn sealed(mut self) -> Self {
        self.schema = SCHEMA;
        self.az_ids.sort();
        self.az_ids.dedup();
        self.ports.sort();
        self.ports.dedup();
        self.tls_names.sort();
        self.tls_names.dedup();
        self.digest = self.compute_digest();
        self
    }

    /// The digest of what this release writes: every field it knows.
    pub fn compute_digest(&self) -> String {
        digest_of(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// The stored form: canonical JSON including the digest.
    pub fn to_canonical_json(&self) -> String {
        canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// Read a stored descriptor: refuse an unknown schema, check the digest over every field
    /// stored (known or not), then ignore the unknown ones.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let bad = |problem: String| Error::BadDescriptor {
            name: name.to_string(),
            problem,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match value.get("schema").and_then(Value::as_u64) {
            Some(s) if s == u64::from(SCHEMA) => {}
            Some(s) => {
                return Err(bad(format!(
                    "schema {s} is not supported (this release reads schema {SCHEMA}); upgrade privatelink-autowire"
                )))
            }
            None => return Err(bad("no schema field; is this a privatelink-autowire descriptor?".into())),
        }
        let expected = digest_of(&value);
        let d: Descriptor =
            serde_json::from_value(value).map_err(|e| bad(format!("invalid: {e}")))?;
        if d.digest != expected {
            return Err(bad(
                "digest does not match its content; republish it from the provider stack".into(),
            ));
        }
        Ok(d)
    }
}

/// The lowercase hex SHA-256 of the canonical JSON of `value` without its `digest` field.
pub fn digest_of(value: &Value) -> String {
    let mut value = value.clone();
    if let Value::Object(m) = &mut value {
        m.remove("digest");
    }
    hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    // serde_json's Map keeps keys sorted unless `preserve_order` is on; sorting here makes the
    // output canonical either way.
    serde_json::to_string(&sort(value)).unwrap_or_default()
}

/// `^[a-z0-9][a-z0-9-]{0,62}$`
pub fn validate_service_key(key: &str) -> std::result::Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !key.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{key}' must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
        ))
    }
}

/// A parameter path prefix: starts with `/`, no trailing `/`, SSM's allowed characters.
pub fn validate_prefix(prefix: &str) -> std::result::Result<(), String> {
    let ok = prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && prefix.len() <= 900
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        && !prefix.to_ascii_lowercase().starts_with("/aws")
        && !prefix.to_ascii_lowercase().starts_with("/ssm");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{prefix}' must start with '/', not end with '/', use only a-z A-Z 0-9 _ . - /, and not start with /aws or /ssm"
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Descriptor {
        Descriptor {
            schema: 1,
            key: "orders".into(),
            service_id: "vpce-svc-0123456789abcdef0".into(),
            service_name: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into(),
            region: "us-east-1".into(),
            provider_account: "111111111111".into(),
            az_ids: vec!["use1-az4".into(), "use1-az1".into()],
            ports: vec![Port {
                port: 443,
                protocol: Protocol::Tls,
            }],
            private_dns: Some(PrivateDns {
                name: "orders.link.example.com".into(),
                state: "verified".into(),
            }),
            tls_names: vec![
                "orders.link.example.com".into(),
                "*.orders.link.example.com".into(),
            ],
            acceptance: Acceptance::Policy,
            digest: String::new(),
        }
        .sealed()
    }

    #[test]
    fn canonical_form_is_sorted_and_compact() {
        let text = sample().to_canonical_json();
        assert!(text
            .starts_with(r#"{"acceptance":"policy","az_ids":["use1-az1","use1-az4"],"digest":""#));
        assert!(!text.contains(": "));
        assert!(text.contains(r#""ports":[{"port":443,"protocol":"TLS"}]"#));
    }

    #[test]
    fn digest_covers_everything_but_itself() {
        let d = sample();
        assert_eq!(d.digest.len(), 64);
        let mut changed = d.clone();
        changed.ports[0].port = 8443;
        assert_ne!(changed.compute_digest(), d.digest);
        // Same content, any list order: same digest.
        let mut shuffled = d.clone();
        shuffled.az_ids.reverse();
        assert_eq!(shuffled.sealed().digest, d.digest);
    }

    #[test]
    fn round_trip() {
        let d = sample();
        let text = d.to_canonical_json();
        assert_eq!(Descriptor::parse("p", &text).unwrap(), d);
    }

    /// What a newer writer stores: a field this release does not know, digested with the rest.
    pub(crate) fn from_a_newer_writer(d: &Descriptor) -> String {
        let mut v: Value = serde_json::from_str(&d.to_canonical_json()).unwrap();
        v["future_field"] = serde_json::json!({"nested": [1, "x"], "b": true});
        v["digest"] = Value::from(digest_of(&v));
        canonical_json(&v)
    }

    #[test]
    fn a_newer_writers_extra_field_is_digested_and_ignored() {
        let d = sample();
        let text = from_a_newer_writer(&d);
        let read = Descriptor::parse("p", &text).unwrap();
        assert_ne!(read.digest, d.digest, "the extra field is in the digest");
        assert_eq!(
            Descriptor {
                digest: d.digest.clone(),
                ..read
            },
            d
        );
        // Key order in what is stored does not matter: the digest is over the canonical form.
        let v: Value = serde_json::from_str(&text).unwrap();
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        assert!(Descriptor::parse("p", &pretty).is_ok());
    }

    #[test]
    fn an_unknown_field_added_after_the_digest_fails_it() {
        let mut v: Value = serde_json::from_str(&sample().to_canonical_json()).unwrap();
        v["future_field"] = Value::from("x");
        let e = Descriptor::parse("p", &v.to_string()).unwrap_err();
        assert!(e.to_string().contains("digest does not match"), "{e}");
    }

    #[test]
    fn unknown_schema_is_refused_clearly() {
        let mut v: Value = serde_json::from_str(&sample().to_canonical_json()).unwrap();
        v["schema"] = Value::from(2);
        let e = Descriptor::parse("/x/orders", &v.to_string()).unwrap_err();
        assert!(e.to_string().contains("schema 2 is not supported"), "{e}");
    }

    #[test]
    fn tampered_content_fails_the_digest() {
        let text = sample().to_canonical_json().replace("use1-az4", "use1-az6");
        assert!(Descriptor::parse("p", &text)
            .unwrap_err()
            .to_string()
            .contains("digest"));
    }

    #[test]
    fn null_private_dns_is_serialised_as_null() {
        let mut d = sample();
        d.private_dns = None;
        assert!(d
            .sealed()
            .to_canonical_json()
            .contains(r#""private_dns":null"#));
    }

    #[test]
    fn ports_parse() {
        assert_eq!(
            "443/tls".parse::<Port>().unwrap(),
            Port {
                port: 443,
                protocol: Protocol::Tls
            }
        );
        assert_eq!("80".parse::<Port>().unwrap().protocol, Protocol::Tcp);
        assert!("0".parse::<Port>().is_err());
        assert!("443/HTTP".parse::<Port>().is_err());
    }

    #[test]
    fn keys_and_prefixes_validate() {
        for ok in ["orders", "a", "0-svc", &"a".repeat(63)] {
            assert!(validate_service_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Orders", "a_b", &"a".repeat(64)] {
            assert!(validate_service_key(bad).is_err(), "{bad}");
        }
        assert!(validate_prefix(DEFAULT_PREFIX).is_ok());
        for bad in ["x/y", "/x/", "/aws/x", "/a b"] {
            assert!(validate_prefix(bad).is_err(), "{bad}");
        }
    }
}
