//! The probe's report: what the probe answers and the link's deploy gate reads. One typed shape
//! for both sides (Serialize and Deserialize), so the two can't drift apart.

use serde::{Deserialize, Serialize};

/// Why a target failed, as the report and the metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    DnsNxdomain,
    DnsError,
    TcpRefused,
    TcpTimeout,
    TcpError,
    TlsNameMismatch,
    TlsUntrusted,
    TlsExpired,
    TlsHandshake,
    TlsTimeout,
    HttpStatus,
    HttpBody,
    HttpError,
    HttpTimeout,
    Deadline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Dns,
    Tcp,
    Tls,
    Http,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Http => "http",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsFacts {
    /// The certificate's DNS names (SANs).
    pub names: Vec<String>,
    pub days_to_expiry: i64,
    pub not_after: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpFacts {
    pub status: u16,
    /// Body bytes read (all of it, or up to the probe's cap).
    #[serde(default)]
    pub body_bytes: u64,
    /// The body was longer than the cap; the rest was not read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_capped: bool,
}

/// One target's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub az_id: Option<String>,
    pub ok: bool,
    /// The last stage attempted.
    pub stage: Stage,
    /// Every address the name resolved to, in the order they were tried.
    pub addresses: Vec<String>,
    /// The address whose TCP connection the later stages used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Milliseconds per stage that ran, in order.
    pub latency_ms: StageTimes,
    pub error: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFacts>,
}

/// Per-stage times, serialised as an object in stage order (milliseconds, to the microsecond).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes(pub Vec<(Stage, f64)>);

impl StageTimes {
    pub fn get(&self, stage: Stage) -> Option<f64> {
        self.0.iter().find(|(s, _)| *s == stage).map(|(_, t)| *t)
    }
}

impl Serialize for StageTimes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (stage, ms) in &self.0 {
            m.serialize_entry(stage.as_str(), &((ms * 1000.0).round() / 1000.0))?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for StageTimes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Times;
        impl<'de> serde::de::Visitor<'de> for Times {
            type Value = StageTimes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of stage → milliseconds")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<StageTimes, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<Stage, f64>()? {
                    out.push(entry);
                }
                Ok(StageTimes(out))
            }
        }
        d.deserialize_map(Times)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub ok: bool,
    pub elapsed_ms: f64,
    pub summary: Summary,
    pub targets: Vec<TargetReport>,
}

impl Report {
    /// The first failure in words, for a deploy gate's Reason.
    pub fn finding(&self) -> Option<String> {
        self.targets.iter().find(|t| !t.ok).map(|t| {
            let what = t
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "unreachable".into());
            match &t.az_id {
                Some(az) => format!("{what} in {az}"),
                None => what,
            }
        })
    }
}
