//! Consumer: `Custom::ServiceEndpoint`, a "link". Resolves the provider's descriptor (by ARN when
//! shared from another account) and builds, in the consumer's VPC, an interface endpoint in the
//! subnets whose AZ **IDs** the service serves, a security group admitting exactly the service's
//! ports, and an alias CNAME whose name the service's TLS certificate covers.
//!
//! Everything the link creates is tagged with its link ID (derived from the stack, the logical ID
//! and the VPC, so a new VPC is a replacement), the descriptor and its digest. Those tags are how a
//! repeated Create finds what it made, and how Delete finds what to remove, even after a Create
//! that failed half way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use crate::aws::{
    Announcements, Descriptors, DnsRecords, EgressRule, Endpoint, EndpointChange, Endpoints,
    Functions, HostedZone, IngressRule, Networks, NewEndpoint, PrivateZones, RecordChange,
    RecordSet, RecordType, RuleSource, SecurityGroup, SecurityGroups, Zones, DESCRIPTOR_TAG,
    DIGEST_TAG, LINK_TAG,
};
use crate::cfn::{Answer, Request, RequestKind, Resource, Step};
use crate::descriptor::{Descriptor, Protocol};
use crate::dns;
use crate::error::{Error, Result};
use crate::names;
use crate::probe;
use crate::zones::{self, Candidate};

mod alias;
mod certificate;
mod endpoint;
mod gate;
mod group;
mod plan;
mod record;
mod remove;
pub(crate) mod shared_zone;
mod spec;
mod tidy;

pub use group::ingress_rules;
use plan::Plan;
pub use record::{LinkRecord, RECORD_PREFIX};
pub use spec::{AliasCertificate, PrivateDnsMode, Spec};

pub const RESOURCE_TYPE: &str = "Custom::ServiceEndpoint";

/// Prefix of link IDs (the PhysicalResourceId).
pub const LINK_PREFIX: &str = "link-";

/// Between looks at an endpoint waiting for the provider to accept it.
const ACCEPTANCE_POLL: Duration = Duration::from_secs(10);
/// Between looks at an endpoint being created or deleted.
const STATE_POLL: Duration = Duration::from_secs(3);
/// After a throttle or a busy zone that outlasted the SDK's retries.
const BUSY_POLL: Duration = Duration::from_secs(5);

/// The link ID: stable for a stack, logical ID and VPC.
pub fn link_id(stack_id: &str, logical_id: &str, vpc_id: &str) -> String {
    let mut h = Sha256::new();
    for part in [stack_id, logical_id, vpc_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("{LINK_PREFIX}{}", &hex::encode(h.finalize())[..20])
}

/// Everything a link needs from AWS.
pub trait ConsumerCloud:
    Descriptors
    + Networks
    + Endpoints
    + SecurityGroups
    + DnsRecords
    + PrivateZones
    + Zones
    + Functions
    + Announcements
{
}
impl<
        T: Descriptors
            + Networks
            + Endpoints
            + SecurityGroups
            + DnsRecords
            + PrivateZones
            + Zones
            + Functions
            + Announcements,
    > ConsumerCloud for T
{
}

/// Who asks a link to converge. The reconciler collects the probe targets of what converged.
#[derive(Debug, PartialEq, Eq)]
enum Caller<'a> {
    CloudFormation,
    Reconciler(&'a mut Vec<probe::Target>),
}

pub struct Link<C> {
    cloud: Arc<C>,
    /// This account's event bus, for the certificate handshake (AliasCertificate: request).
    bus: Option<String>,
}

fn wait(after: Duration, waiting_for: String) -> Result<Step> {
    Ok(Step::Wait {
        progress: Value::Null,
        after,
        waiting_for,
    })
}

/// Retryable errors (throttling that outlasted the SDK's backoff, busy zones) become a pause,
/// never a hammering retry loop or a failed deploy.
fn or_wait(e: Error, what: &str) -> Result<Step> {
    if e.is_retryable() {
        warn!(error = %e, "AWS busy; waiting before the next pass");
        wait(BUSY_POLL, format!("AWS to accept {what} (throttled)"))
    } else {
        Err(e)
    }
}

impl<C: ConsumerCloud> Link<C> {
    pub fn new(cloud: Arc<C>) -> Self {
        Link { cloud, bus: None }
    }

    /// Where the link puts its certificate requests (the consumer stack's event bus).
    pub fn with_bus(mut self, bus: impl Into<String>) -> Self {
        self.bus = Some(bus.into()).filter(|b: &String| !b.is_empty());
        self
    }

    /// The reconciler's pass over one link: converge it to its record and the provider's current
    /// descriptor, exactly as the link's own Update would, without rewriting the record or running
    /// the deploy gate. `Wait` means: not there yet, the next pass goes on. A converged link also
    /// gives the probe targets that reach it (alias, regional and zonal names, each port).
    pub async fn reconcile(
        &self,
        record: &LinkRecord,
        pass_id: &str,
    ) -> Result<(Step, Vec<probe::Target>)> {
        let req = record.request(pass_id);
        let spec = Spec::parse(&req.props)?;
        let mut targets = Vec::new();
        let step = self
            .converge(&req, &spec, Caller::Reconciler(&mut targets))
            .await?;
        Ok((step, targets))
    }

    /// Converge the link to `req`. CloudFormation's requests also keep the link record and may run
    /// the deploy gate; the reconciler's (rebuilt from that record) do neither.
    async fn converge(&self, req: &Request, spec: &Spec, mut caller: Caller<'_>) -> Result<Step> {
        let plan = self.plan(req, spec, &caller).await?;
        if caller == Caller::CloudFormation {
            self.keep_record(req, &plan.link_id).await?;
        }
        let groups = if spec.security_group_ids.is_empty() {
            vec![self.ensure_group(spec, &plan).await?]
        } else {
            spec.security_group_ids.clone()
        };
        let existing = self.cloud.endpoints_tagged(LINK_TAG, &plan.link_id).await?;
        let endpoint = match self.ensure_endpoint(spec, &plan, &groups, &existing).await {
            Ok(e) => e,
            Err(e) => return or_wait(e, "the endpoint change"),
        };
        let provider = &plan.descriptor.provider_account;
        match endpoint.state.as_str() {
            "available" => {}
            "pendingAcceptance" if spec.wait_for_acceptance => {
                return wait(
                    ACCEPTANCE_POLL,
                    format!("provider account {provider} to accept endpoint {}", endpoint.id),
                )
            }
            "pendingAcceptance" => {}
            "rejected" => {
                return Err(Error::failed(
                    format!("endpoint {} was rejected by provider account {provider}", endpoint.id),
                    "ask the provider to allow this account (AllowedAccounts), then delete and redeploy the link",
                ))
            }
            "failed" => {
                return Err(Error::failed(
                    format!("endpoint {} failed", endpoint.id),
                    "check the subnets have free IP addresses and the service still exists, then redeploy",
                ))
            }
            _ => return wait(STATE_POLL, format!("endpoint {} to become available", endpoint.id)),
        }
        let regional = endpoint.regional_dns_name().unwrap_or_default().to_string();
        // The link's own zones, listed once per pass (each one costs a tag lookup).
        let owned = self.owned_zones(&spec.vpc_id, &plan.link_id).await?;
        if let Some(alias) = &spec.alias_name {
            if let Err(e) = self
                .write_alias(req, spec, &plan, &owned, alias, &regional)
                .await
            {
                if shared_zone::zone_gone(&e) && spec.alias_zone_id.is_none() {
                    let what = format!("a new private zone for {}", names::parent(alias));
                    return wait(
                        BUSY_POLL,
                        format!("{what} (the last link in the old one deleted it)"),
                    );
                }
                return or_wait(e, "the alias record");
            }
        }
        if spec.alias_certificate == AliasCertificate::Request {
            let reconciling = caller != Caller::CloudFormation;
            if let Some(step) = self
                .await_certificate(spec, &plan, &endpoint, reconciling)
                .await?
            {
                return Ok(step);
            }
        }
        // Old pieces an Update left behind: the previous alias, endpoints of a previous service,
        // a group the link no longer needs.
        self.tidy(req, spec, &plan, &owned, &endpoint, &existing)
            .await?;
        match &mut caller {
            Caller::CloudFormation if spec.verify_reachability => {
                if let Some(probe) = &spec.probe_function {
                    self.gate(probe, spec, &plan, &endpoint).await?;
                }
            }
            Caller::CloudFormation => {}
            Caller::Reconciler(targets) => {
                let zones = self.cloud.zone_ids_by_name().await?;
                targets.extend(gate::probe_request(spec, &plan, &endpoint, &zones).targets);
            }
        }
        let az_ids: Vec<String> = plan.subnets.iter().map(|c| c.az_id.clone()).collect();
        let data = BTreeMap::from([
            ("EndpointId".to_string(), endpoint.id.clone()),
            ("DnsName".to_string(), regional),
            (
                "ZonalDnsNames".to_string(),
                endpoint.zonal_dns_names().join(","),
            ),
            ("ServiceName".to_string(), endpoint.service_name.clone()),
            (
                "SubnetIds".to_string(),
                plan.subnets
                    .iter()
                    .map(|c| c.subnet_id.clone())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("AzIds".to_string(), az_ids.join(",")),
            ("SecurityGroupId".to_string(), groups.join(",")),
            (
                "AliasName".to_string(),
                spec.alias_name.clone().unwrap_or_default(),
            ),
            ("State".to_string(), endpoint.state.clone()),
        ]);
        Ok(Step::Done(Answer {
            physical_id: plan.link_id,
            data,
            no_echo: false,
        }))
    }
}

#[async_trait]
impl<C: ConsumerCloud + 'static> Resource for Link<C> {
    fn resource_type(&self) -> &'static str {
        RESOURCE_TYPE
    }

    async fn apply(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        let spec = Spec::parse(&req.props)?;
        // Every pass is idempotent, so a throttle anywhere in it just means: this pass again,
        // a little later (CreateVpcEndpoint in particular is throttled hard).
        self.converge(req, &spec, Caller::CloudFormation)
            .await
            .or_else(|e| or_wait(e, "the link's calls"))
    }

    async fn cleanup(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        self.remove(req)
            .await
            .or_else(|e| or_wait(e, "the link's calls"))
    }

    /// A failed Create still answers with the link ID, so CloudFormation's Delete finds, by tag,
    /// whatever the Create made before it failed.
    fn failed_create_physical_id(&self, req: &Request) -> Option<String> {
        let spec = Spec::parse(&req.props).ok()?;
        (req.kind == RequestKind::Create)
            .then(|| link_id(&req.stack_id, &req.logical_id, &spec.vpc_id))
    }
}

#[cfg(test)]
pub(crate) mod tests;
