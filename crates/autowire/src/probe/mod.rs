//! The reachability probe: for each target, DNS → TCP → TLS → HTTP, stopping at the first failure,
//! with a classified error and per-stage latency. No AWS calls: targets arrive in the event, and
//! metrics leave as CloudWatch Embedded Metric Format lines ([`emf`]).

mod emf;
mod input;
mod stages;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;

pub use emf::emf_lines;
pub use input::{HttpCheck, Input, Target, TlsCheck};
pub use stages::Budget;

/// Why a target failed, as the report and the metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    HttpError,
    HttpTimeout,
    Deadline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub class: ErrorClass,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlsFacts {
    /// The certificate's DNS names (SANs).
    pub names: Vec<String>,
    pub days_to_expiry: i64,
    pub not_after: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpFacts {
    pub status: u16,
}

/// One target's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetReport {
    pub host: String,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub az_id: Option<String>,
    pub ok: bool,
    /// The last stage attempted.
    pub stage: Stage,
    pub addresses: Vec<String>,
    /// Milliseconds per stage that ran, in order.
    pub latency_ms: indexmap_like::StageTimes,
    pub error: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpFacts>,
}

/// Per-stage times, serialised as an object in stage order.
pub mod indexmap_like {
    use serde::ser::{Serialize, SerializeMap, Serializer};

    use super::Stage;

    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct StageTimes(pub Vec<(Stage, f64)>);

    impl StageTimes {
        pub fn get(&self, stage: Stage) -> Option<f64> {
            self.0.iter().find(|(s, _)| *s == stage).map(|(_, t)| *t)
        }
    }

    impl Serialize for StageTimes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (stage, ms) in &self.0 {
                m.serialize_entry(stage.as_str(), &((ms * 1000.0).round() / 1000.0))?;
            }
            m.end()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub total: usize,
    pub ok: usize,
    pub failed: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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
                .unwrap_or_default();
            match &t.az_id {
                Some(az) => format!("{what} in {az}"),
                None => what,
            }
        })
    }
}

/// Probe every target, at most `input.concurrency` at a time, all within the budget (the
/// earlier of the input's timeout and the Lambda deadline: [`budget_for`]).
pub async fn run(input: &Input, budget: Budget) -> Report {
    let started = Instant::now();
    let tls = stages::TlsSetup::new();
    let targets: Vec<TargetReport> = stream::iter(input.targets.iter())
        .map(|t| stages::probe(t, input, &tls, &budget))
        .buffered(input.concurrency)
        .collect()
        .await;
    let ok = targets.iter().filter(|t| t.ok).count();
    Report {
        ok: ok == targets.len(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        summary: Summary {
            total: targets.len(),
            ok,
            failed: targets.len() - ok,
        },
        targets,
    }
}

/// The deadline for a run: the input's timeout, capped by the time Lambda leaves us (minus a
/// margin to answer in).
pub fn budget_for(input: &Input, remaining: Option<Duration>) -> Budget {
    let asked = Duration::from_millis(input.timeout_ms);
    let mut time = asked;
    if let Some(r) = remaining {
        let margin = (r / 10).clamp(Duration::from_millis(200), Duration::from_secs(2));
        time = time.min(r.saturating_sub(margin));
    }
    Budget {
        deadline: Instant::now() + time,
        lambda_capped: time < asked,
    }
}

#[cfg(test)]
mod tests;
