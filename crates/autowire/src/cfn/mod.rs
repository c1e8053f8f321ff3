//! The CloudFormation custom-resource protocol around `apply`/`cleanup`.
//!
//! Guarantees (crhelper's, plus the contract's):
//! - exactly one answer per request: on success, on a typed error, on a panic, and before the
//!   Lambda deadline (minus a margin);
//! - Create/Update call [`Resource::apply`], Delete calls [`Resource::cleanup`];
//! - a failed Create answers with a recognisable PhysicalResourceId, and the Delete that
//!   CloudFormation sends for it succeeds without touching AWS;
//! - Reason is one line under 256 characters, the body at most 4096 bytes;
//! - the answer goes only to an https Amazon S3 ResponseURL, with retries;
//! - waits longer than one invocation continue in a fresh asynchronous invocation that carries
//!   the request and the progress so far, until done or until the resource's ServiceTimeout.

mod answer;
mod claims;
pub use claims::{CLAIM_TTL, DEFAULT_CLAIMS_PATH};
mod envelope;
mod payload;
pub mod props;
mod request;
pub mod responder;
pub mod url_guard;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{error, info, warn, Instrument};

use crate::aws::{Functions, Markers};
use crate::error::{truncate_reason, Error, Result};

use envelope::{Envelope, Verdict};
pub use request::{Answer, Request, RequestKind, Resource, Step};
pub use responder::Responder;
#[cfg(feature = "aws")]
pub use responder::{HttpResponder, ResponderInitError};

/// CloudFormation refuses response bodies larger than this.
pub const MAX_RESPONSE_BYTES: usize = 4096;
/// Prefix of the PhysicalResourceId given to a Create that failed.
pub const FAILED_CREATE_PREFIX: &str = "autowire-create-failed:";
/// Key that marks a continuation invocation.
pub const CONTINUATION_KEY: &str = "AutowireContinuation";
/// CloudFormation's own default (and maximum) custom-resource timeout.
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where a run of passes starts: fresh, or from a continuation.
struct Pass {
    progress: Option<Value>,
    started_at_ms: u64,
    round: u32,
    not_before_ms: u64,
}

/// What a continuation invocation carries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Continuation {
    pub request: Value,
    pub progress: Value,
    pub started_at_ms: u64,
    pub round: u32,
    /// Don't run the next pass before this time (ms since the epoch): the rest of the wait
    /// that did not fit in the previous invocation.
    #[serde(default)]
    pub not_before_ms: u64,
    /// This continuation's identity: unique per hand-over, the same on every delivery of the
    /// one payload (Lambda's retries), so two chains of one request tell each other apart.
    #[serde(default)]
    pub chain: String,
}

/// Who the round-0 invocation is: CloudFormation's event, of which there is one per request.
const EVENT_CHAIN: &str = "event";

/// A fresh hand-over identity (unique within the function: time, process and a counter).
fn new_chain(round: u32) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("r{round}-{nanos:x}-{n:x}-{:x}", std::process::id())
}

/// A hand-over needs this much of the invocation left: the asynchronous invoke, and a FAILED
/// answer if that invoke fails.
const HANDOVER_RESERVE: Duration = Duration::from_secs(2);

/// Facts about the current Lambda invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// Time left before Lambda stops the invocation.
    pub remaining: Duration,
    pub function_arn: String,
}

impl Invocation {
    /// From lambda_runtime's deadline (milliseconds since the epoch).
    pub fn from_deadline_ms(deadline_ms: u64, function_arn: impl Into<String>) -> Self {
        let now = now_ms();
        Invocation {
            remaining: Duration::from_millis(deadline_ms.saturating_sub(now)),
            function_arn: function_arn.into(),
        }
    }
}

/// What the handler did with one invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered {
        status: String,
    },
    Continued {
        round: u32,
    },
    /// A redelivered invocation whose request another chain has taken over (it handed over
    /// before it was cut short): it stops without answering.
    StoodDown {
        round: u32,
    },
}

/// Invocation failures that could not be answered to CloudFormation.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("not a CloudFormation custom-resource request: {0}")]
    NotARequest(String),
    #[error(transparent)]
    UrlRefused(#[from] url_guard::UrlRefused),
    #[error("could not deliver the answer to {url} after {attempts} attempts: {last}")]
    Undelivered {
        url: String,
        attempts: u32,
        last: String,
    },
}

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub insecure_url_prefix: Option<String>,
    pub put_attempts: u32,
    pub put_backoff: Duration,
}

impl RuntimeConfig {
    pub fn from_env() -> Self {
        RuntimeConfig {
            insecure_url_prefix: std::env::var(url_guard::INSECURE_PREFIX_ENV).ok(),
            ..Self::default()
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            insecure_url_prefix: None,
            put_attempts: 5,
            put_backoff: Duration::from_millis(200),
        }
    }
}

/// The custom-resource runtime: routes requests to resources and answers exactly once.
pub struct Runtime {
    resources: Vec<Arc<dyn Resource>>,
    responder: Arc<dyn Responder>,
    functions: Arc<dyn Functions>,
    config: RuntimeConfig,
    /// Where steps are claimed (see [`Runtime::with_claims`]); none: not guarded.
    claims: Option<(Arc<dyn Markers>, String)>,
}

/// How much of the invocation's remaining time is kept back to answer.
pub fn safety_margin(remaining: Duration) -> Duration {
    (remaining / 5).clamp(Duration::from_millis(500), Duration::from_secs(5))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Runtime {
    pub fn new(
        resources: Vec<Arc<dyn Resource>>,
        responder: Arc<dyn Responder>,
        functions: Arc<dyn Functions>,
        config: RuntimeConfig,
    ) -> Self {
        Runtime {
            resources,
            responder,
            functions,
            config,
            claims: None,
        }
    }

    /// Handle one Lambda invocation from its raw payload. An event nested deeper than
    /// serde_json's limit is answered FAILED when its top level names a usable ResponseURL.
    pub async fn handle_raw(
        &self,
        text: &str,
        inv: Invocation,
    ) -> Result<Outcome, InvocationError> {
        let head = match payload::parse(text) {
            Ok(event) => return self.handle(event, inv).await,
            Err(payload::Unparsed::NotJson(e)) => {
                return Err(InvocationError::NotARequest(format!("not JSON: {e}")))
            }
            Err(payload::Unparsed::TooDeep { head }) => head,
        };
        let env = head.as_ref().and_then(Envelope::read).ok_or_else(|| {
            InvocationError::NotARequest(
                "nested deeper than 128 levels, with no ResponseURL at its top".into(),
            )
        })?;
        self.check_url(&env)?;
        warn!(request_id = %env.request_id, "request nested too deeply; answering FAILED");
        let reason = "the request is nested too deeply (over 128 levels of JSON); check the custom resource's properties in the template";
        self.answer(
            &env,
            Verdict::Failed(reason.into()),
            Instant::now() + inv.remaining,
        )
        .await
    }

    fn check_url(&self, env: &Envelope) -> Result<(), InvocationError> {
        url_guard::check(&env.url, self.config.insecure_url_prefix.as_deref()).map_err(|refused| {
            error!(url = %refused.redacted, why = refused.why, "refusing ResponseURL; nothing sent");
            refused.into()
        })
    }

    /// Handle one Lambda invocation: a CloudFormation request or a continuation of one.
    pub async fn handle(&self, event: Value, inv: Invocation) -> Result<Outcome, InvocationError> {
        let started = Instant::now();
        let (raw, progress, started_at_ms, round, not_before_ms, chain) = match event
            .get(CONTINUATION_KEY)
        {
            Some(c) => {
                let c: Continuation = serde_json::from_value(c.clone())
                    .map_err(|e| InvocationError::NotARequest(format!("bad continuation: {e}")))?;
                (
                    c.request,
                    Some(c.progress),
                    c.started_at_ms,
                    c.round,
                    c.not_before_ms,
                    c.chain,
                )
            }
            None => (event, None, now_ms(), 0, 0, EVENT_CHAIN.to_string()),
        };
        let mut env = Envelope::read(&raw)
            .ok_or_else(|| InvocationError::NotARequest("no ResponseURL".into()))?;
        self.check_url(&env)?;
        let span = tracing::info_span!(
            "invocation",
            stack = %env.stack_id,
            logical_id = %env.logical_id,
            request_type = env.kind.map(RequestKind::as_str).unwrap_or("?"),
            physical_id = env.physical_id.as_deref().unwrap_or(""),
            request_id = %env.request_id,
            round,
        );
        async move {
            let deadline = started + inv.remaining.saturating_sub(safety_margin(inv.remaining));
            // A continuation takes its round; a second chain's (or a late one) stands down.
            if round > 0 && !self.claim(&env, round, &chain).await {
                return Ok(Outcome::StoodDown { round });
            }
            let mut passed = false;
            let verdict = match Request::parse(&raw) {
                Err(reason) => Verdict::Failed(reason),
                Ok(req) => {
                    env.failed_create_id = self
                        .resources
                        .iter()
                        .find(|r| r.resource_type() == req.resource_type)
                        .and_then(|r| r.failed_create_physical_id(&req));
                    match self
                        .drive(
                            &req,
                            &raw,
                            Pass {
                                progress,
                                started_at_ms,
                                round,
                                not_before_ms,
                            },
                            deadline,
                            (&inv, &mut passed),
                        )
                        .await
                    {
                        Some(v) => v,
                        None => {
                            return Ok(Outcome::Continued {
                                round: round.saturating_add(1),
                            })
                        }
                    }
                }
            };
            // Answering moves past this round. When a delivery of this round handed over (one
            // cut short right after its invoke, redelivered now), the step is claimed like a
            // continuation's start, so only one chain answers. An invocation that ran no pass
            // (its answer follows from the payload) never handed over.
            let guard_by = deadline.max(Instant::now()) + safety_margin(inv.remaining) / 2;
            if (round > 0 || passed) && !self.may_answer(&env, round, &chain, guard_by).await {
                return Ok(Outcome::StoodDown { round });
            }
            self.answer(&env, verdict, deadline + safety_margin(inv.remaining))
                .await
        }
        .instrument(span)
        .await
    }

    /// Run apply/cleanup until done, failed, out of time, or handed to a continuation (`None`).
    async fn drive(
        &self,
        req: &Request,
        raw: &Value,
        pass: Pass,
        deadline: Instant,
        (inv, passed): (&Invocation, &mut bool),
    ) -> Option<Verdict> {
        let Pass {
            mut progress,
            started_at_ms,
            round,
            not_before_ms,
        } = pass;
        if req.kind == RequestKind::Delete
            && req
                .physical_id
                .as_deref()
                .is_some_and(|p| p.starts_with(FAILED_CREATE_PREFIX))
        {
            info!("Delete of a resource whose Create failed: nothing to remove");
            return Some(Verdict::Success(Answer {
                physical_id: req.physical_id.clone().unwrap_or_default(),
                ..Answer::default()
            }));
        }
        let Some(resource) = self
            .resources
            .iter()
            .find(|r| r.resource_type() == req.resource_type)
            .cloned()
        else {
            let served: Vec<&str> = self.resources.iter().map(|r| r.resource_type()).collect();
            return Some(Verdict::Failed(truncate_reason(&format!(
                "resource type {} is not served by this function (it serves {}); check the ServiceToken",
                req.resource_type,
                served.join(", ")
            ))));
        };
        let budget = match service_timeout(&req.props) {
            Ok(b) => b,
            Err(e) => return Some(Verdict::Failed(e.reason())),
        };
        let budget_end_ms = started_at_ms.saturating_add(budget.as_millis() as u64);
        // From here on this invocation may hand over (and an earlier delivery of it may have).
        *passed = true;
        // The rest of a wait the previous invocation could not finish.
        let rest = Duration::from_millis(not_before_ms.saturating_sub(now_ms()));
        if !rest.is_zero() {
            if let Some(verdict) = self
                .pause(
                    &resource,
                    req,
                    raw,
                    progress.as_ref().unwrap_or(&Value::Null),
                    (started_at_ms, round),
                    rest,
                    "the rest of the wait",
                    deadline,
                    inv,
                )
                .await
            {
                return verdict;
            }
        }
        let mut first = true;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Some(Verdict::Failed(deadline_reason(inv)));
            }
            let task = {
                let resource = resource.clone();
                let req = req.clone();
                let progress = progress.clone();
                tokio::spawn(async move {
                    match req.kind {
                        RequestKind::Delete => resource.cleanup(&req, progress.as_ref()).await,
                        _ => resource.apply(&req, progress.as_ref()).await,
                    }
                })
            };
            let abort = task.abort_handle();
            let step = match tokio::time::timeout_at(deadline, task).await {
                Err(_) => {
                    abort.abort();
                    warn!("step still running at the deadline; answering FAILED");
                    return Some(Verdict::Failed(deadline_reason(inv)));
                }
                Ok(Err(join)) => {
                    let what = panic_text(join);
                    error!(panic = %what, "handler panicked");
                    return Some(Verdict::Failed(truncate_reason(&format!(
                        "internal error in the {} handler (request {}); see the function's logs",
                        req.resource_type, req.request_id
                    ))));
                }
                Ok(Ok(Err(e))) => {
                    warn!(error = %e, label = e.label(), "step failed");
                    // Properties refused on a fresh request's first step were refused on every
                    // delivery of it: none of them handed over.
                    if first && round == 0 && e.is_bad_input() {
                        *passed = false;
                    }
                    return Some(Verdict::Failed(e.reason()));
                }
                Ok(Ok(Ok(step))) => step,
            };
            first = false;
            match step {
                Step::Done(answer) => return Some(Verdict::Success(answer)),
                Step::Wait {
                    progress: next,
                    after,
                    waiting_for,
                } => {
                    if now_ms() + after.as_millis() as u64 > budget_end_ms {
                        self.abandon(&resource, req, &next, deadline).await;
                        return Some(Verdict::Failed(truncate_reason(&format!(
                            "gave up after {}s waiting for {waiting_for}; raise ServiceTimeout or check why it is slow",
                            budget.as_secs()
                        ))));
                    }
                    info!(waiting_for = %waiting_for, after_ms = after.as_millis() as u64, "waiting");
                    if let Some(verdict) = self
                        .pause(
                            &resource,
                            req,
                            raw,
                            &next,
                            (started_at_ms, round),
                            after,
                            &waiting_for,
                            deadline,
                            inv,
                        )
                        .await
                    {
                        return verdict;
                    }
                    progress = Some(next);
                }
            }
        }
    }

    /// Wait `after` before the next pass: here when it fits in this invocation with room for a
    /// pass, otherwise as much as fits, then hand over to a fresh invocation that waits out the
    /// rest (so a wait never turns into a storm of back-to-back invocations). `None`: go on
    /// with the next pass here. `Some(None)`: handed over. `Some(Some(v))`: answer `v`.
    #[allow(clippy::too_many_arguments)]
    async fn pause(
        &self,
        resource: &Arc<dyn Resource>,
        req: &Request,
        raw: &Value,
        progress: &Value,
        (started_at_ms, round): (u64, u32),
        after: Duration,
        waiting_for: &str,
        deadline: Instant,
        inv: &Invocation,
    ) -> Option<Option<Verdict>> {
        let now = Instant::now();
        if now + after * 2 < deadline {
            tokio::time::sleep(after).await;
            return None;
        }
        let fits = deadline
            .saturating_duration_since(now)
            .saturating_sub(HANDOVER_RESERVE);
        let slept = after.min(fits);
        tokio::time::sleep(slept).await;
        let cont = Continuation {
            request: raw.clone(),
            progress: progress.clone(),
            started_at_ms,
            round: round.saturating_add(1),
            not_before_ms: now_ms() + (after - slept).as_millis() as u64,
            chain: new_chain(round.saturating_add(1)),
        };
        let payload = serde_json::json!({ CONTINUATION_KEY: &cont });
        self.note_handover(req, round).await;
        Some(
            match self
                .functions
                .invoke_async(&inv.function_arn, payload)
                .await
            {
                Ok(()) => {
                    info!(
                        round = round.saturating_add(1),
                        "continuing in a new invocation"
                    );
                    None
                }
                Err(e) => {
                    self.abandon(resource, req, &cont.progress, deadline).await;
                    Some(Verdict::Failed(truncate_reason(&format!(
                        "could not continue waiting for {waiting_for}: {}",
                        e.reason()
                    ))))
                }
            },
        )
    }

    /// Let the resource undo an unfinished Create/Update, within the time left.
    async fn abandon(
        &self,
        resource: &Arc<dyn Resource>,
        req: &Request,
        progress: &Value,
        deadline: Instant,
    ) {
        if req.kind == RequestKind::Delete {
            return;
        }
        info!("abandoning the unfinished operation; undoing what it did");
        if tokio::time::timeout_at(deadline, resource.abandon(req, progress))
            .await
            .is_err()
        {
            warn!("undo still running at the deadline; left unfinished");
        }
    }
}

fn deadline_reason(inv: &Invocation) -> String {
    truncate_reason(&format!(
        "timed out: no answer within the function's time ({}s left at start); raise the function Timeout, or check AWS API latency",
        inv.remaining.as_secs()
    ))
}

fn panic_text(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-text panic".into()),
        Err(e) => e.to_string(),
    }
}

/// The resource's ServiceTimeout property (seconds), CloudFormation's default when absent.
fn service_timeout(props: &Value) -> Result<Duration> {
    // ServiceTimeout is allowed on every resource type, so no other property needs declaring.
    match props::Props::new(props, &[])?.opt_u64("ServiceTimeout") {
        Ok(None) => Ok(DEFAULT_SERVICE_TIMEOUT),
        Ok(Some(s)) if (1..=3600).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(Error::invalid(
            "ServiceTimeout",
            "must be whole seconds from 1 to 3600",
        )),
    }
}

#[cfg(test)]
mod tests;
