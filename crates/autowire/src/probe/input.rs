//! The probe's input, validated: targets, timeouts, and name overrides. One typed shape for the
//! probe that reads it and for those who write it (the link's deploy gate, the reconciler's
//! schedule input): Serialize and Deserialize, defaults left out when written.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Default and ceiling for the run's time budget.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const MAX_TIMEOUT_MS: u64 = 900_000;
const DEFAULT_CONCURRENCY: usize = 256;
const MAX_TARGETS: usize = 10_000;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    /// SNI and the name verified against the certificate; default: the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Names (an alias, say) the certificate must also cover.
    #[serde(default)]
    pub expect_names: Vec<String>,
    /// Trust these CAs (PEM) instead of the system roots: private PKI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// The body must contain this text (within the first MiB): else `http_body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_body_contains: Option<String>,
}

fn default_path() -> String {
    "/".into()
}

fn default_status() -> u16 {
    200
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub az_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
}

impl Target {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Target {
            host: host.into(),
            port,
            name: None,
            service_key: None,
            az_id: None,
            tls: None,
            http: None,
        }
    }
}

/// A name's static answer: one address, or several (tried in order).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Addresses {
    One(IpAddr),
    Many(Vec<IpAddr>),
}

impl Addresses {
    pub fn to_vec(&self) -> Vec<IpAddr> {
        match self {
            Addresses::One(ip) => vec![*ip],
            Addresses::Many(ips) => ips.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub targets: Vec<Target>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(
        default = "default_concurrency",
        skip_serializing_if = "is_default_concurrency"
    )]
    pub concurrency: usize,
    /// Each target's own limit, from when it starts; default: only the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_timeout_ms: Option<u64>,
    /// Static name → address(es) answers, consulted before DNS.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, Addresses>,
    /// `false`: names not in `hosts` fail as `dns_nxdomain` without any query.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub system_dns: bool,
}

impl Input {
    /// Targets with the defaults for everything else, and a time budget.
    pub fn new(targets: Vec<Target>, timeout_ms: u64) -> Self {
        Input {
            targets,
            timeout_ms,
            concurrency: DEFAULT_CONCURRENCY,
            target_timeout_ms: None,
            hosts: BTreeMap::new(),
            system_dns: true,
        }
    }
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn is_default_concurrency(n: &usize) -> bool {
    *n == DEFAULT_CONCURRENCY
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Input {
    /// Name overrides from the function's environment, for a probe whose callers (the deploy
    /// gate) don't send any: `AUTOWIRE_PROBE_HOSTS="name=1.2.3.4,*.example.com=1.2.3.4"` adds
    /// entries the event does not have; `AUTOWIRE_PROBE_SYSTEM_DNS=false` turns DNS off.
    pub fn with_overrides(
        mut self,
        hosts: Option<&str>,
        system_dns: Option<&str>,
    ) -> Result<Input, String> {
        for entry in hosts
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (name, ip) = entry.split_once('=').ok_or_else(|| {
                format!("AUTOWIRE_PROBE_HOSTS entry '{entry}' is not name=address")
            })?;
            let ip: IpAddr = ip
                .trim()
                .parse()
                .map_err(|_| format!("AUTOWIRE_PROBE_HOSTS entry '{entry}': not an IP address"))?;
            self.hosts
                .entry(name.trim().to_ascii_lowercase())
                .or_insert(Addresses::One(ip));
        }
        if system_dns.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            self.system_dns = false;
        }
        Ok(self)
    }

    /// The static answer for a name: exact, or the longest `*.suffix` entry that matches.
    pub fn static_addresses(&self, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ips) = self.hosts.get(&name) {
            return Some(ips.to_vec());
        }
        self.hosts
            .iter()
            .filter_map(|(k, ip)| k.strip_prefix("*.").map(|suffix| (suffix, ip)))
            .filter(|(suffix, _)| name.ends_with(&format!(".{suffix}")))
            .max_by_key(|(suffix, _)| suffix.len())
            .map(|(_, ips)| ips.to_vec())
    }

    /// Parse and check an event; the error says what to fix.
    pub fn parse(event: &serde_json::Value) -> Result<Input, String> {
        let input: Input = serde_json::from_value(event.clone()).map_err(|e| {
            format!(
                "not a probe request: {e}; expected {{\"targets\": [{{\"host\", \"port\", …}}]}}"
            )
        })?;
        if input.targets.is_empty() {
            return Err("targets is empty: give at least one {\"host\", \"port\"}".into());
        }
        if input.targets.len() > MAX_TARGETS {
            return Err(format!(
                "{} targets; at most {MAX_TARGETS} per run",
                input.targets.len()
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&input.timeout_ms) {
            return Err(format!(
                "timeout_ms {} is not between 1 and {MAX_TIMEOUT_MS}",
                input.timeout_ms
            ));
        }
        if !(1..=4096).contains(&input.concurrency) {
            return Err(format!(
                "concurrency {} is not between 1 and 4096",
                input.concurrency
            ));
        }
        if let Some((name, _)) = input.hosts.iter().find(|(_, a)| a.to_vec().is_empty()) {
            return Err(format!("hosts entry '{name}' has no address"));
        }
        for (i, t) in input.targets.iter().enumerate() {
            if t.host.trim().is_empty() {
                return Err(format!("targets[{i}].host is empty"));
            }
            if t.port == 0 {
                return Err(format!("targets[{i}].port is 0; give the service's port"));
            }
            if let Some(h) = &t.http {
                if !(100..=599).contains(&h.expect_status) {
                    return Err(format!(
                        "targets[{i}].http.expect_status {} is not an HTTP status",
                        h.expect_status
                    ));
                }
                if !h.path.starts_with('/') || h.path.contains(['\r', '\n', ' ']) {
                    return Err(format!("targets[{i}].http.path '{}' must start with / and hold no spaces or line breaks", h.path));
                }
            }
        }
        Ok(input)
    }
}
