//! The provider side of a pass (contract §3): each connection awaiting acceptance on a published
//! service is decided by its publication's policy: accepted when its owner is listed, rejected
//! when the policy rejects the unlisted, left pending otherwise. Accepts and rejects go in one
//! call each per service; every decision is one log line and one EMF count.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

use crate::aws::{Connection, Descriptors, EndpointServices};
use crate::emf;
use crate::error::{Error, Result};
use crate::publication::Policy;

pub const DECISIONS_METRIC: &str = "AcceptanceDecisions";
pub const UNREADABLE_METRIC: &str = "PolicyUnreadable";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Accepted,
    Rejected,
    LeftPending,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Rejected => "rejected",
            Decision::LeftPending => "left-pending",
        }
    }
}

/// The part of the policy that decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The owner is in AllowedAccounts.
    AllowedAccounts,
    /// The owner is not, and RejectUnlisted is set.
    RejectUnlisted,
    /// The owner is not, and the unlisted wait for someone to decide by hand.
    Unlisted,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::AllowedAccounts => "allowed-accounts",
            Rule::RejectUnlisted => "reject-unlisted",
            Rule::Unlisted => "unlisted",
        }
    }
}

/// One connection request and what the policy made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AcceptanceDecision {
    pub service_id: String,
    pub service_key: String,
    pub requester_account: String,
    pub endpoint_id: String,
    pub decision: Decision,
    pub rule: Rule,
}

impl AcceptanceDecision {
    /// The decision's EMF count: `AcceptanceDecisions` by ServiceKey and Decision.
    pub fn emf_line(&self, timestamp_ms: u64) -> String {
        let fields = json!({
            "ServiceKey": self.service_key,
            "Decision": self.decision.as_str(),
            DECISIONS_METRIC: 1,
            "ServiceId": self.service_id,
            "EndpointId": self.endpoint_id,
        });
        let dimensions: &[&[&str]] = &[&["ServiceKey", "Decision"]];
        emf::line(
            timestamp_ms,
            dimensions,
            &[(DECISIONS_METRIC, "Count")],
            fields,
        )
        .to_string()
    }

    fn log(&self, pass_id: &str) {
        info!(
            pass = pass_id,
            service_id = %self.service_id,
            service_key = %self.service_key,
            requester_account = %self.requester_account,
            endpoint_id = %self.endpoint_id,
            decision = self.decision.as_str(),
            rule = self.rule.as_str(),
            "acceptance decision"
        );
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProviderReport {
    /// Readable policies, one per published service.
    pub policies: usize,
    /// Connections awaiting acceptance on any service of the account.
    pub pending: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub left_pending: usize,
    pub decisions: Vec<AcceptanceDecision>,
    /// (policy parameter, reason): their services' connections are left alone.
    pub unreadable_policies: Vec<(String, String)>,
    /// (endpoint ID, reason): decided, but EC2 refused; the next pass decides again.
    pub failed: Vec<(String, String)>,
    /// Some publication takes consumers' certificate requests (its policy lists
    /// CertificateRequests): the scheduled pass then sweeps their certificates too.
    #[serde(skip)]
    pub takes_certificate_requests: bool,
}

impl ProviderReport {
    fn record(&mut self, d: AcceptanceDecision, pass_id: &str, timestamp_ms: u64) {
        d.log(pass_id);
        println!("{}", d.emf_line(timestamp_ms));
        match d.decision {
            Decision::Accepted => self.accepted += 1,
            Decision::Rejected => self.rejected += 1,
            Decision::LeftPending => self.left_pending += 1,
        }
        self.decisions.push(d);
    }
}

/// What `policy` (of the service published as `key`) decides for `c`.
pub fn decide(key: &str, policy: &Policy, c: &Connection) -> AcceptanceDecision {
    let (decision, rule) = if policy.allowed_accounts.contains(&c.owner) {
        (Decision::Accepted, Rule::AllowedAccounts)
    } else if policy.reject_unlisted {
        (Decision::Rejected, Rule::RejectUnlisted)
    } else {
        (Decision::LeftPending, Rule::Unlisted)
    };
    AcceptanceDecision {
        service_id: c.service_id.clone(),
        service_key: key.to_string(),
        requester_account: c.owner.clone(),
        endpoint_id: c.endpoint_id.clone(),
        decision,
        rule,
    }
}

/// A published service: its key and policy.
struct Published {
    key: String,
    policy: Policy,
}

pub struct ProviderPass<C> {
    cloud: Arc<C>,
    prefix: String,
}

impl<C: EndpointServices + Descriptors> ProviderPass<C> {
    /// A pass over the publications under `parameter_prefix` (their `{prefix}/{key}/policy`).
    pub fn new(cloud: Arc<C>, parameter_prefix: &str) -> Self {
        ProviderPass {
            cloud,
            prefix: parameter_prefix.trim_end_matches('/').to_string(),
        }
    }

    /// Decide every pending connection of a published service. `pass_id` names it in logs.
    pub async fn run(&self, pass_id: &str) -> Result<ProviderReport> {
        let mut report = ProviderReport::default();
        let published = self.published(&mut report).await?;
        report.policies = published.len();
        if published.is_empty() {
            return Ok(report);
        }
        let pending = self.cloud.pending_connections().await?;
        report.pending = pending.len();
        let mut by_service: BTreeMap<&str, Vec<AcceptanceDecision>> = BTreeMap::new();
        for c in &pending {
            if let Some(p) = published.get(&c.service_id) {
                let batch = by_service.entry(&c.service_id).or_default();
                batch.push(decide(&p.key, &p.policy, c));
            }
        }
        let stamp = emf::now_ms();
        for (service_id, decisions) in by_service {
            self.carry_out(service_id, decisions, pass_id, stamp, &mut report)
                .await;
        }
        Ok(report)
    }

    /// The readable policies by service ID; unreadable ones are logged and counted.
    async fn published(&self, report: &mut ProviderReport) -> Result<BTreeMap<String, Published>> {
        let mut out = BTreeMap::new();
        for (name, value) in self.cloud.list(&self.prefix).await? {
            let Some(key) = self.key_of(&name) else {
                continue;
            };
            let policy = match Policy::parse(&name, &value) {
                Ok(p) => p,
                Err(e) => {
                    unreadable(&name, key, &e, report);
                    continue;
                }
            };
            report.takes_certificate_requests |= !policy.certificate_requests.is_empty();
            if let Some(first) = out.get(&policy.service_id).map(|p: &Published| &p.key) {
                warn!(service_id = %policy.service_id, kept = %first, ignored = key, "two publications of one service; the first policy decides");
                continue;
            }
            let service_id = policy.service_id.clone();
            out.insert(
                service_id,
                Published {
                    key: key.to_string(),
                    policy,
                },
            );
        }
        Ok(out)
    }

    /// `{prefix}/{key}/policy` → `key`; `None` for a descriptor or anything else.
    fn key_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        let rest = name.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        rest.strip_suffix("/policy").filter(|k| !k.contains('/'))
    }

    /// One accept and one reject call for the service, then the decisions that stand.
    async fn carry_out(
        &self,
        service_id: &str,
        decisions: Vec<AcceptanceDecision>,
        pass_id: &str,
        stamp: u64,
        report: &mut ProviderReport,
    ) {
        let ids = |want: Decision| -> Vec<String> {
            let of = decisions.iter().filter(|d| d.decision == want);
            of.map(|d| d.endpoint_id.clone()).collect()
        };
        let (accept, reject) = (ids(Decision::Accepted), ids(Decision::Rejected));
        let mut accepted = Ok(());
        if !accept.is_empty() {
            accepted = self.cloud.accept_connections(service_id, &accept).await;
        }
        let mut rejected = Ok(());
        if !reject.is_empty() {
            rejected = self.cloud.reject_connections(service_id, &reject).await;
        }
        for e in [&accepted, &rejected]
            .into_iter()
            .filter_map(|r| r.as_ref().err())
        {
            warn!(service_id, error = %e, "decisions not carried out; the next pass tries again");
        }
        for d in decisions {
            let outcome = match d.decision {
                Decision::Accepted => accepted.as_ref(),
                Decision::Rejected => rejected.as_ref(),
                Decision::LeftPending => Ok(&()),
            };
            match outcome {
                Ok(_) => report.record(d, pass_id, stamp),
                Err(e) => report.failed.push((d.endpoint_id, e.reason())),
            }
        }
    }
}

/// Log and count a policy the pass can't read (its service's connections stay as they are).
fn unreadable(name: &str, key: &str, e: &Error, report: &mut ProviderReport) {
    warn!(parameter = name, error = %e, "policy unreadable; its service's connections left alone");
    let fields = json!({ "ServiceKey": key, UNREADABLE_METRIC: 1 });
    let dimensions: &[&[&str]] = &[&["ServiceKey"]];
    let line = emf::line(
        emf::now_ms(),
        dimensions,
        &[(UNREADABLE_METRIC, "Count")],
        fields,
    );
    println!("{line}");
    report
        .unreadable_policies
        .push((name.to_string(), e.reason()));
}

#[cfg(test)]
mod tests;
