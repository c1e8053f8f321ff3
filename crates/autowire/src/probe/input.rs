//! The probe's input, validated: targets, timeouts, and name overrides.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;

/// Default and ceiling for the run's time budget.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const MAX_TIMEOUT_MS: u64 = 900_000;
const DEFAULT_CONCURRENCY: usize = 256;
const MAX_TARGETS: usize = 10_000;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    /// SNI and the name verified against the certificate; default: the host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Names (an alias, say) the certificate must also cover.
    #[serde(default)]
    pub expect_names: Vec<String>,
    /// Trust these CAs (PEM) instead of the system roots: private PKI.
    #[serde(default)]
    pub ca_bundle_pem: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_status")]
    pub expect_status: u16,
}

fn default_path() -> String {
    "/".into()
}

fn default_status() -> u16 {
    200
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub service_key: Option<String>,
    #[serde(default)]
    pub az_id: Option<String>,
    #[serde(default)]
    pub tls: Option<TlsCheck>,
    #[serde(default)]
    pub http: Option<HttpCheck>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub targets: Vec<Target>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Each target's own limit, from when it starts; default: only the run's.
    #[serde(default)]
    pub target_timeout_ms: Option<u64>,
    /// Static name → IPv4 answers, consulted before DNS.
    #[serde(default)]
    pub hosts: BTreeMap<String, Ipv4Addr>,
    /// `false`: names not in `hosts` fail as `dns_nxdomain` without any query.
    #[serde(default = "yes")]
    pub system_dns: bool,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn yes() -> bool {
    true
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
            let ip: Ipv4Addr = ip.trim().parse().map_err(|_| {
                format!("AUTOWIRE_PROBE_HOSTS entry '{entry}': not an IPv4 address")
            })?;
            self.hosts
                .entry(name.trim().to_ascii_lowercase())
                .or_insert(ip);
        }
        if system_dns.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            self.system_dns = false;
        }
        Ok(self)
    }

    /// The static answer for a name: exact, or the longest `*.suffix` entry that matches.
    pub fn static_address(&self, name: &str) -> Option<Ipv4Addr> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ip) = self.hosts.get(&name) {
            return Some(*ip);
        }
        self.hosts
            .iter()
            .filter_map(|(k, ip)| k.strip_prefix("*.").map(|suffix| (suffix, ip)))
            .filter(|(suffix, _)| name.ends_with(&format!(".{suffix}")))
            .max_by_key(|(suffix, _)| suffix.len())
            .map(|(_, ip)| *ip)
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
