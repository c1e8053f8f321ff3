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
    Descriptors, DnsRecords, Endpoint, EndpointChange, Endpoints, Functions, HostedZone,
    IngressRule, Networks, NewEndpoint, PrivateZones, RecordSet, RecordType, SecurityGroups, Zones,
    DESCRIPTOR_TAG, DIGEST_TAG, LINK_TAG,
};
use crate::cfn::{Answer, Request, RequestKind, Resource, Step};
use crate::descriptor::{Descriptor, Protocol};
use crate::dns;
use crate::error::{Error, Result};
use crate::names;
use crate::zones::{self, Candidate};

mod spec;

pub use spec::{PrivateDnsMode, Spec};

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
    Descriptors + Networks + Endpoints + SecurityGroups + DnsRecords + PrivateZones + Zones + Functions
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
            + Functions,
    > ConsumerCloud for T
{
}

pub struct Link<C> {
    cloud: Arc<C>,
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

/// The ingress rules that admit the service's ports from the given CIDRs.
pub fn ingress_rules(desc: &Descriptor, cidrs: &[String]) -> Vec<IngressRule> {
    let mut rules = Vec::new();
    for p in &desc.ports {
        let protocols: &[&str] = match p.protocol {
            Protocol::Tcp | Protocol::Tls => &["tcp"],
            Protocol::Udp => &["udp"],
            Protocol::TcpUdp => &["tcp", "udp"],
        };
        for proto in protocols {
            for cidr in cidrs {
                rules.push(IngressRule {
                    protocol: proto.to_string(),
                    port: p.port,
                    cidr: cidr.clone(),
                });
            }
        }
    }
    rules.sort();
    rules.dedup();
    rules
}

/// The probe's input for a link: every name clients may use, on every port of the service. TLS
/// ports check the certificate against the alias (or the service's first TLS name).
fn probe_request(
    spec: &Spec,
    plan: &Plan,
    endpoint: &Endpoint,
    zone_ids_by_name: &BTreeMap<String, String>,
) -> Value {
    let server_name = spec.alias_name.clone().or_else(|| {
        plan.descriptor
            .tls_names
            .iter()
            .find(|n| !n.starts_with("*."))
            .cloned()
    });
    let mut hosts: Vec<(String, Option<String>)> = Vec::new();
    if let Some(alias) = &spec.alias_name {
        hosts.push((alias.clone(), None));
    }
    if let Some(regional) = endpoint.regional_dns_name() {
        hosts.push((regional.to_string(), None));
    }
    for zonal in endpoint.zonal_dns_names() {
        let az = zone_ids_by_name
            .iter()
            .find(|(name, _)| zonal.contains(&format!("-{name}.")))
            .map(|(_, id)| id.clone());
        hosts.push((zonal, az));
    }
    let mut targets = Vec::new();
    for (host, az_id) in &hosts {
        for port in &plan.descriptor.ports {
            let mut t = serde_json::json!({
                "host": host,
                "port": port.port,
                "service_key": plan.descriptor.key,
            });
            if let Some(az) = az_id {
                t["az_id"] = Value::String(az.clone());
            }
            if let (Protocol::Tls, Some(name)) = (port.protocol, &server_name) {
                t["tls"] = serde_json::json!({
                    "server_name": name,
                    "expect_names": spec.alias_name.iter().collect::<Vec<_>>(),
                });
            }
            if port.protocol != Protocol::Udp {
                targets.push(t);
            }
        }
    }
    serde_json::json!({ "targets": targets, "timeout_ms": 20_000 })
}

/// What the link resolved and decided before touching anything.
struct Plan {
    link_id: String,
    descriptor: Descriptor,
    subnets: Vec<Candidate>,
    cidrs: Vec<String>,
    private_dns: bool,
    tags: Vec<(String, String)>,
}

impl<C: ConsumerCloud> Link<C> {
    pub fn new(cloud: Arc<C>) -> Self {
        Link { cloud }
    }

    /// Read and check the descriptor.
    async fn descriptor(&self, spec: &Spec, account: &str) -> Result<Descriptor> {
        let name = &spec.service_parameter;
        let not_there = || {
            Error::not_found(
                format!("descriptor {name}"),
                format!(
                    "no such parameter, or it is not shared with account {account}; for a provider in another account give the parameter's full ARN and accept its AWS RAM share"
                ),
            )
        };
        let stored = match self.cloud.read(name).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(not_there()),
            Err(e)
                if matches!(
                    e.aws_code(),
                    Some("AccessDeniedException" | "ParameterNotFound")
                ) =>
            {
                return Err(not_there())
            }
            Err(e) => return Err(e),
        };
        Descriptor::parse(name, &stored.value)
    }

    /// Resolve the descriptor, check everything that can be checked, choose subnets. No writes.
    async fn plan(&self, req: &Request, spec: &Spec) -> Result<Plan> {
        let home = req.service_arn()?;
        let descriptor = self.descriptor(spec, &home.account).await?;
        let verified = descriptor
            .private_dns
            .as_ref()
            .is_some_and(|p| p.state == "verified");
        let private_dns = match spec.private_dns {
            PrivateDnsMode::Auto => verified,
            PrivateDnsMode::Disabled => false,
            PrivateDnsMode::Enabled if verified => true,
            PrivateDnsMode::Enabled => {
                return Err(Error::invalid(
                    "PrivateDns",
                    format!(
                        "enabled, but service {} has no verified private DNS name, so AWS would refuse the endpoint; use auto or disabled, or ask the provider to publish PrivateDnsName",
                        descriptor.key
                    ),
                ))
            }
        };
        if let Some(alias) = &spec.alias_name {
            if spec.require_tls_match
                && !descriptor.tls_names.is_empty()
                && names::covering(&descriptor.tls_names, alias).is_none()
            {
                return Err(Error::invalid(
                    "AliasName",
                    format!(
                        "{alias} is not covered by the service's TLS names ({}), so HTTPS to it would fail; pick a covered name or set RequireTlsMatch to false",
                        descriptor.tls_names.join(", ")
                    ),
                ));
            }
        }
        let cidrs = self.cloud.vpc_cidrs(&spec.vpc_id).await?.ok_or_else(|| {
            Error::not_found(
                format!("VPC {}", spec.vpc_id),
                format!(
                    "check VpcId; the VPC must be in account {} region {}",
                    home.account, home.region
                ),
            )
        })?;
        let found = self.cloud.subnets(&spec.subnet_ids).await?;
        let mut candidates = Vec::new();
        for id in &spec.subnet_ids {
            let s = found.iter().find(|s| &s.id == id).ok_or_else(|| {
                Error::invalid(
                    "SubnetIds",
                    format!("{id} not found in account {}", home.account),
                )
            })?;
            if s.vpc_id != spec.vpc_id {
                return Err(Error::invalid(
                    "SubnetIds",
                    format!("{id} is in {}, not in VpcId {}", s.vpc_id, spec.vpc_id),
                ));
            }
            candidates.push(Candidate {
                subnet_id: s.id.clone(),
                az_id: s.az_id.clone(),
            });
        }
        let subnets = zones::select_subnets(&candidates, &descriptor.az_ids)?;
        let link_id = link_id(&req.stack_id, &req.logical_id, &spec.vpc_id);
        let tags = vec![
            (LINK_TAG.to_string(), link_id.clone()),
            (DESCRIPTOR_TAG.to_string(), spec.service_parameter.clone()),
            (DIGEST_TAG.to_string(), descriptor.digest.clone()),
            (
                "Name".to_string(),
                format!("privatelink-autowire {}", descriptor.key),
            ),
        ];
        let cidrs = if spec.allowed_cidrs.is_empty() {
            cidrs
        } else {
            spec.allowed_cidrs.clone()
        };
        Ok(Plan {
            link_id,
            descriptor,
            subnets,
            cidrs,
            private_dns,
            tags,
        })
    }

    /// The link's own security group, with exactly the wanted rules. Returns its ID.
    async fn ensure_group(&self, spec: &Spec, plan: &Plan) -> Result<String> {
        let want = ingress_rules(&plan.descriptor, &plan.cidrs);
        let group = match self
            .cloud
            .groups_tagged(LINK_TAG, &plan.link_id)
            .await?
            .into_iter()
            .find(|g| g.vpc_id == spec.vpc_id)
        {
            Some(g) => g,
            None => {
                let id = self
                    .cloud
                    .create_group(
                        &spec.vpc_id,
                        &format!("privatelink-autowire-{}", plan.link_id),
                        &format!(
                            "privatelink-autowire link to {} ({})",
                            plan.descriptor.key, plan.descriptor.service_name
                        ),
                        &plan.tags,
                    )
                    .await?;
                info!(group = %id, "security group created");
                crate::aws::SecurityGroup {
                    id,
                    vpc_id: spec.vpc_id.clone(),
                    rules: Vec::new(),
                }
            }
        };
        let add: Vec<IngressRule> = want
            .iter()
            .filter(|r| !group.rules.contains(r))
            .cloned()
            .collect();
        let remove: Vec<IngressRule> = group
            .rules
            .iter()
            .filter(|r| !want.contains(r))
            .cloned()
            .collect();
        if !add.is_empty() {
            self.cloud.authorize(&group.id, &add).await?;
            info!(group = %group.id, rules = add.len(), "ingress added");
        }
        if !remove.is_empty() {
            self.cloud.revoke(&group.id, &remove).await?;
            info!(group = %group.id, rules = remove.len(), "ingress removed");
        }
        Ok(group.id)
    }

    /// The endpoint for the descriptor's service: found by tag, changed in place, or created.
    async fn ensure_endpoint(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        groups: &[String],
        existing: &[Endpoint],
    ) -> Result<Endpoint> {
        let want_subnets: Vec<String> = plan.subnets.iter().map(|c| c.subnet_id.clone()).collect();
        let current = existing
            .iter()
            .find(|e| e.service_name == plan.descriptor.service_name && !e.is_gone());
        let Some(e) = current else {
            let mut h = Sha256::new();
            for part in [
                &plan.link_id,
                &plan.descriptor.service_name,
                &req.request_id,
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            let created = self
                .cloud
                .create_endpoint(&NewEndpoint {
                    vpc_id: spec.vpc_id.clone(),
                    service_name: plan.descriptor.service_name.clone(),
                    subnet_ids: want_subnets,
                    security_group_ids: groups.to_vec(),
                    private_dns_enabled: plan.private_dns,
                    client_token: hex::encode(h.finalize())[..32].to_string(),
                    tags: plan.tags.clone(),
                })
                .await?;
            info!(endpoint = %created.id, service = %created.service_name, "endpoint created");
            return Ok(created);
        };
        let mut change = EndpointChange {
            add_subnets: want_subnets
                .iter()
                .filter(|s| !e.subnet_ids.contains(s))
                .cloned()
                .collect(),
            remove_subnets: e
                .subnet_ids
                .iter()
                .filter(|s| !want_subnets.contains(s))
                .cloned()
                .collect(),
            add_groups: groups
                .iter()
                .filter(|g| !e.security_group_ids.contains(g))
                .cloned()
                .collect(),
            remove_groups: e
                .security_group_ids
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect(),
            private_dns_enabled: (e.private_dns_enabled != plan.private_dns)
                .then_some(plan.private_dns),
            tags: Vec::new(),
        };
        for (k, v) in &plan.tags {
            if e.tags.get(k) != Some(v) {
                change.tags.push((k.clone(), v.clone()));
            }
        }
        if change.is_empty() {
            return Ok(e.clone());
        }
        self.cloud.modify_endpoint(&e.id, &change).await?;
        info!(endpoint = %e.id, change = ?change, "endpoint changed in place");
        Ok(self
            .cloud
            .endpoint(&e.id)
            .await?
            .unwrap_or_else(|| e.clone()))
    }

    /// The zone the alias goes in: the given one, or the link's own private zone for the alias's
    /// parent domain.
    async fn alias_zone(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        alias: &str,
    ) -> Result<String> {
        if let Some(z) = &spec.alias_zone_id {
            dns::zone_holding(&*self.cloud, z, "AliasHostedZoneId", &[alias.to_string()]).await?;
            return Ok(z.clone());
        }
        let parent = names::parent(alias);
        if let Some((z, _)) = owned.iter().find(|(z, _)| z.name == parent) {
            return Ok(z.id.clone());
        }
        // Route 53 never takes a caller reference twice, even after the zone is deleted: one per
        // request, so a retried pass of the same request finds its zone again.
        let mut h = Sha256::new();
        for part in [&plan.link_id, &parent, &req.request_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let reference = format!("{}-{}", plan.link_id, &hex::encode(h.finalize())[..16]);
        let zone = match self
            .cloud
            .create_private_zone(&parent, &spec.vpc_id, &reference, &plan.tags)
            .await
        {
            Ok(z) => z,
            Err(e) if e.aws_code() == Some("ConflictingDomainExists") => {
                return Err(Error::Conflict(format!(
                    "VPC {} already has a private zone for {parent}; give its ID as AliasHostedZoneId",
                    spec.vpc_id
                )))
            }
            Err(e) => return Err(e),
        };
        info!(zone = %zone.id, name = %parent, "private hosted zone created");
        Ok(zone.id)
    }

    /// Private zones of the VPC this link owns.
    async fn owned_zones(
        &self,
        vpc_id: &str,
        link_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>> {
        Ok(self
            .cloud
            .zones_of_vpc(vpc_id)
            .await?
            .into_iter()
            .filter(|(_, tags)| tags.get(LINK_TAG).map(String::as_str) == Some(link_id))
            .collect())
    }

    /// Remove a CNAME `alias` from `zone` if it points at one of `targets`.
    async fn remove_alias(
        &self,
        zone: &str,
        alias: &str,
        targets: &[String],
        owned_zone: bool,
    ) -> Result<()> {
        let name = alias.trim_end_matches('.').to_ascii_lowercase();
        if let Some(r) = self.cloud.record(zone, &name, RecordType::Cname).await? {
            let ours = owned_zone
                || r.values.iter().any(|v| {
                    targets
                        .iter()
                        .any(|t| v.trim_end_matches('.') == t.trim_end_matches('.'))
                });
            if ours {
                dns::remove_records(&*self.cloud, zone, &[r]).await?;
                info!(zone, alias = %name, "alias removed");
            }
        }
        Ok(())
    }

    async fn converge(&self, req: &Request, spec: &Spec) -> Result<Step> {
        let plan = self.plan(req, spec).await?;
        let groups = if spec.security_group_ids.is_empty() {
            vec![self.ensure_group(spec, &plan).await?]
        } else {
            spec.security_group_ids.clone()
        };
        let existing = self.cloud.endpoints_tagged(LINK_TAG, &plan.link_id).await?;
        let endpoint = match self
            .ensure_endpoint(req, spec, &plan, &groups, &existing)
            .await
        {
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
            let zone = self.alias_zone(req, spec, &plan, &owned, alias).await?;
            let record = RecordSet::new(alias, RecordType::Cname, &regional);
            if let Err(e) = dns::ensure_records(&*self.cloud, &zone, &[record]).await {
                return or_wait(e, "the alias record");
            }
        }
        // Old pieces an Update left behind: the previous alias, endpoints of a previous service,
        // a group the link no longer needs.
        self.tidy(req, spec, &plan, &owned, &endpoint, &existing)
            .await?;
        if let (true, Some(probe)) = (spec.verify_reachability, &spec.probe_function) {
            self.gate(probe, spec, &plan, &endpoint).await?;
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

    /// The deploy gate: ask the probe in the VPC to reach the service through the alias, the
    /// regional name and each zonal name, and fail with its finding.
    async fn gate(&self, probe: &str, spec: &Spec, plan: &Plan, endpoint: &Endpoint) -> Result<()> {
        let payload = probe_request(spec, plan, endpoint, &self.cloud.zone_ids_by_name().await?);
        let report = self.cloud.invoke(probe, payload).await.map_err(|e| {
            Error::failed(
                "the reachability probe could not run",
                format!(
                    "check ProbeFunctionArn and that this function may invoke it ({}): {probe}",
                    e.aws_code().unwrap_or("error")
                ),
            )
        })?;
        if report["ok"].as_bool() == Some(true) {
            info!(
                probe,
                targets = report["summary"]["total"].as_u64(),
                "reachability verified"
            );
            return Ok(());
        }
        let finding = report["targets"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["ok"].as_bool() != Some(true)))
            .map(|t| {
                let message = t["error"]["message"].as_str().unwrap_or("unreachable");
                match t["az_id"].as_str() {
                    Some(az) => format!("{message} in {az}"),
                    None => message.to_string(),
                }
            })
            .unwrap_or_else(|| "the probe's report says unreachable".into());
        Err(Error::failed(
            format!("reachability check failed: {finding}"),
            "fix that (certificate names, listener, security groups), or deploy with VerifyReachability false",
        ))
    }

    async fn tidy(
        &self,
        req: &Request,
        spec: &Spec,
        plan: &Plan,
        owned: &[(HostedZone, BTreeMap<String, String>)],
        endpoint: &Endpoint,
        existing: &[Endpoint],
    ) -> Result<()> {
        let targets: Vec<String> = existing
            .iter()
            .chain(std::iter::once(endpoint))
            .flat_map(|e| e.dns_names.clone())
            .collect();
        if let Some(old) = req.old_props.as_ref().and_then(|p| Spec::parse(p).ok()) {
            let moved =
                old.alias_name != spec.alias_name || old.alias_zone_id != spec.alias_zone_id;
            if let (Some(alias), true) = (&old.alias_name, moved) {
                let zone = match &old.alias_zone_id {
                    Some(z) => Some((z.clone(), false)),
                    None => owned
                        .iter()
                        .find(|(z, _)| z.name == names::parent(alias))
                        .map(|(z, _)| (z.id.clone(), true)),
                };
                if let Some((zone, is_owned)) = zone {
                    self.remove_alias(&zone, alias, &targets, is_owned).await?;
                }
            }
        }
        // Owned zones no longer holding the alias go.
        let keep = spec
            .alias_name
            .as_deref()
            .filter(|_| spec.alias_zone_id.is_none())
            .map(names::parent);
        for (z, _) in owned {
            if keep.as_deref() != Some(z.name.as_str()) {
                self.delete_zone(&z.id).await?;
            }
        }
        for old in existing
            .iter()
            .filter(|e| e.id != endpoint.id && !e.is_gone())
        {
            self.cloud.delete_endpoint(&old.id).await?;
            info!(endpoint = %old.id, service = %old.service_name, "previous endpoint deleted");
        }
        if !spec.security_group_ids.is_empty() {
            for g in self.cloud.groups_tagged(LINK_TAG, &plan.link_id).await? {
                if let Err(e) = self.cloud.delete_group(&g.id).await {
                    // Still attached for a moment after the endpoint let go of it: next time.
                    warn!(group = %g.id, error = %e, "previous security group not deleted yet");
                }
            }
        }
        Ok(())
    }

    async fn delete_zone(&self, zone_id: &str) -> Result<()> {
        match self.cloud.delete_zone(zone_id).await {
            Ok(()) => {
                info!(zone = zone_id, "private hosted zone deleted");
                Ok(())
            }
            Err(e) if e.aws_code() == Some("HostedZoneNotEmpty") => {
                warn!(
                    zone = zone_id,
                    "zone holds records the link did not write; left in place"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Delete: alias records first, then the endpoints (waited out, so groups can go), then the
    /// link's groups and zones. Only what carries the link's tag, or the alias it points at.
    async fn remove(&self, req: &Request) -> Result<Step> {
        let link_id = req.physical_id.clone().unwrap_or_default();
        let done = Step::Done(Answer {
            physical_id: link_id.clone(),
            ..Answer::default()
        });
        if !link_id.starts_with(LINK_PREFIX) {
            warn!(physical_id = %link_id, "not a link ID; nothing of ours to delete");
            return Ok(done);
        }
        let spec = Spec::parse(&req.props).ok();
        let endpoints = self.cloud.endpoints_tagged(LINK_TAG, &link_id).await?;
        let targets: Vec<String> = endpoints.iter().flat_map(|e| e.dns_names.clone()).collect();
        let owned = match &spec {
            Some(s) => self.owned_zones(&s.vpc_id, &link_id).await?,
            None => Vec::new(),
        };
        if let Some(alias) = spec.as_ref().and_then(|s| s.alias_name.as_ref()) {
            let zones: Vec<(String, bool)> =
                match spec.as_ref().and_then(|s| s.alias_zone_id.clone()) {
                    Some(z) => vec![(z, false)],
                    None => owned.iter().map(|(z, _)| (z.id.clone(), true)).collect(),
                };
            for (zone, is_owned) in zones {
                if let Err(e) = self.remove_alias(&zone, alias, &targets, is_owned).await {
                    return or_wait(e, "the alias removal");
                }
            }
        }
        let mut waiting = Vec::new();
        for e in &endpoints {
            if !e.is_gone() {
                if let Err(err) = self.cloud.delete_endpoint(&e.id).await {
                    return or_wait(err, "the endpoint deletion");
                }
                info!(endpoint = %e.id, "endpoint deleting");
            }
            waiting.push(e.id.clone());
        }
        if !waiting.is_empty() {
            return wait(
                STATE_POLL,
                format!("endpoint(s) {} to be deleted", waiting.join(", ")),
            );
        }
        for g in self.cloud.groups_tagged(LINK_TAG, &link_id).await? {
            match self.cloud.delete_group(&g.id).await {
                Ok(()) => info!(group = %g.id, "security group deleted"),
                // The endpoint's network interfaces let go of the group a little after it is gone.
                Err(e) if e.aws_code() == Some("DependencyViolation") => {
                    return wait(
                        STATE_POLL,
                        format!("security group {} to be released", g.id),
                    )
                }
                Err(e) => return or_wait(e, "the security group deletion"),
            }
        }
        for (z, _) in owned {
            self.delete_zone(&z.id).await?;
        }
        Ok(done)
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
        self.converge(req, &spec)
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
mod tests;
