//! The reachability probe: for each target, DNS → TCP → TLS → HTTP, stopping at the first failure,
//! with a classified error and per-stage latency. No AWS calls: targets arrive in the event, and
//! metrics leave as CloudWatch Embedded Metric Format lines ([`emf`]).

mod emf;
mod http;
mod input;
mod report;
mod stages;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

pub use emf::emf_lines;
pub use input::{Addresses, HttpCheck, Input, Target, TlsCheck, DEFAULT_TIMEOUT_MS};
pub use report::{
    ErrorClass, Failure, HttpFacts, Report, Stage, StageTimes, Summary, TargetReport, TlsFacts,
};
pub use stages::Budget;

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
