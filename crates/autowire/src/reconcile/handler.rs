//! One invocation of the reconciler: type the event, run the pass it calls for, say what it did
//! (one summary line, EMF counts), and answer. A malformed event is an error (Lambda keeps it in
//! the dead-letter queue) and changes nothing; an event that is not ours is one log line.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::consumer::{ConsumerReport, Reconciler};
use super::event::{classify, ParameterOperation, Trigger};
use super::probe_targets;
use super::provider::ProviderPass;
use crate::aws::ProbeSchedule;
use crate::certreq::provider::{Desk, ProviderCloud};
use crate::certreq::Message;
use crate::emf;
use crate::error::Result;
use crate::link::ConsumerCloud;

/// What the reconciler is told by its environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The account it runs in.
    pub account: String,
    /// Where this account's publications keep their policies (provider side).
    pub parameter_prefix: String,
    /// The probe schedule's rule, when the stack has one.
    pub probe_rule: Option<String>,
    /// Hand-written probe targets added to the discovered ones.
    pub probe_targets_json: String,
    /// This account's event bus: the certificate handshake's messages go there.
    pub bus: String,
}

impl Config {
    /// From the function's environment; the account from the ARN it was invoked by.
    pub fn from_env(invoked_function_arn: &str) -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Config {
            account: invoked_function_arn
                .split(':')
                .nth(4)
                .unwrap_or_default()
                .to_string(),
            parameter_prefix: Some(var("PARAMETER_PREFIX"))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| crate::descriptor::DEFAULT_PREFIX.to_string()),
            probe_rule: Some(var("PROBE_SCHEDULE_RULE")).filter(|r| !r.is_empty()),
            probe_targets_json: var("PROBE_TARGETS_JSON"),
            bus: var("EVENT_BUS_NAME"),
        }
    }
}

/// Everything a reconciler needs from AWS: both sides, and the probe's schedule.
pub trait ReconcilerCloud: ConsumerCloud + ProviderCloud + ProbeSchedule {}
impl<T: ConsumerCloud + ProviderCloud + ProbeSchedule> ReconcilerCloud for T {}

pub struct Handler<C> {
    cloud: Arc<C>,
    config: Config,
    consumer: Reconciler<C>,
    provider: ProviderPass<C>,
    desk: Desk<C>,
}

impl<C: ReconcilerCloud + 'static> Handler<C> {
    pub fn new(cloud: Arc<C>, config: Config) -> Self {
        Handler {
            consumer: Reconciler::new(cloud.clone(), &config.account).with_bus(&config.bus),
            provider: ProviderPass::new(cloud.clone(), &config.parameter_prefix),
            desk: Desk::new(cloud.clone(), &config.parameter_prefix, &config.bus),
            cloud,
            config,
        }
    }

    /// Handle one event. `pass_id` names the pass (the invocation's request ID).
    pub async fn handle(&self, event: &Value, pass_id: &str, deadline: Instant) -> Result<Value> {
        let trigger = classify(event).inspect_err(|e| {
            error!(error = %e, "malformed event; nothing changed");
        })?;
        match &trigger {
            Trigger::Ignored(what) => {
                info!(event = %what, "not an event the reconciler acts on; ignored");
                Ok(json!({ "ignored": what }))
            }
            Trigger::Descriptor(..) => {
                let report = self
                    .consumer
                    .consumer_pass(&trigger, pass_id, deadline)
                    .await?;
                Ok(json!({ "consumer": self.said(&trigger, &report) }))
            }
            Trigger::Certificate { from, message } => {
                self.certificate(from, message).await?;
                Ok(json!({ "certificate": message.detail_type(), "from": from }))
            }
            // The notification is a trigger, not data: one pass over the pending connections.
            Trigger::Connections(_) => {
                Ok(json!({ "provider": self.provider_pass(pass_id).await?.0 }))
            }
            Trigger::Scheduled => {
                // Consumers' certificates only where a publication takes requests: a
                // consumer-only stack makes no ACM call at all (its role has none).
                let (provider, takes_requests) = self.provider_pass(pass_id).await?;
                let certificates = match takes_requests {
                    true => self.desk.sweep().await?,
                    false => 0,
                };
                let report = self
                    .consumer
                    .consumer_pass(&trigger, pass_id, deadline)
                    .await?;
                let probe = self.probe_targets(&report).await;
                Ok(json!({
                    "provider": provider,
                    "consumer": self.said(&trigger, &report),
                    "probe_schedule": probe,
                    "consumer_certificates": certificates,
                }))
            }
        }
    }

    /// A handshake message: the provider's desk takes requests and releases; the consumer's
    /// side takes the provider's answers. Messages from this account itself are not for us.
    async fn certificate(&self, from: &str, message: &Message) -> Result<()> {
        if from == self.config.account {
            info!(
                kind = message.detail_type(),
                "this account's own handshake message; ignored"
            );
            return Ok(());
        }
        match message {
            Message::Requested { .. } | Message::Released { .. } => {
                self.desk.on_message(from, message).await
            }
            _ => crate::certreq::consumer::on_message(self.cloud.as_ref(), from, message).await,
        }
    }

    /// Accept or reject the pending connections of this account's publications by policy (each
    /// decision logged and counted by the pass); and whether a publication takes certificate
    /// requests.
    async fn provider_pass(&self, pass_id: &str) -> Result<(Value, bool)> {
        let report = self.provider.run(pass_id).await?;
        let summary = serde_json::to_value(&report).unwrap_or_default();
        info!(
            policies = report.policies,
            pending = report.pending,
            accepted = report.accepted,
            rejected = report.rejected,
            left_pending = report.left_pending,
            "provider pass done"
        );
        Ok((summary, report.takes_certificate_requests))
    }

    /// The pass's summary line and counts.
    fn said(&self, trigger: &Trigger, report: &ConsumerReport) -> Value {
        if let Trigger::Descriptor(ParameterOperation::Deleted, p) = trigger {
            info!(descriptor = %p.name, provider_account = %p.account, gone = report.gone, "descriptor deleted");
        }
        let counts = [
            ("ServiceGone", report.gone),
            ("DescriptorUnreadable", report.unreadable_descriptors.len()),
            ("TlsMismatch", report.tls_mismatches.len()),
        ];
        for (metric, n) in counts.into_iter().filter(|(_, n)| *n > 0) {
            let line = emf::line(
                emf::now_ms(),
                &[&[]],
                &[(metric, "Count")],
                json!({ metric: n }),
            );
            println!("{line}");
        }
        let summary = serde_json::to_value(report).unwrap_or_default();
        info!(report = %summary, "consumer pass done");
        summary
    }

    /// Rewrite the probe schedule's input from the links that converged, when the stack has a
    /// probe schedule and nothing was left out of this pass.
    async fn probe_targets(&self, report: &ConsumerReport) -> Value {
        let Some(rule) = &self.config.probe_rule else {
            return json!("no probe schedule");
        };
        let written = probe_targets::refresh(
            &*self.cloud,
            rule,
            &self.config.probe_targets_json,
            &report.probe_targets,
            &report.left_alone,
        )
        .await;
        match written {
            Ok(true) => json!("written"),
            Ok(false) => json!("unchanged"),
            Err(e) => {
                warn!(error = %e, "probe schedule input not written");
                json!(format!("not written: {}", e.reason()))
            }
        }
    }
}
