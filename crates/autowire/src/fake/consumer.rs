//! The consumer side as the fake models it: VPCs and subnets with AZ IDs, interface endpoints
//! (ClientToken idempotency, the AZ check, acceptance, `deleting` before `deleted`) and private
//! hosted zones. Security groups are in `groups.rs`.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{FakeCloud, FakeZone, State, REGION};
use crate::aws::{
    Endpoint, EndpointChange, Endpoints, HostedZone, Networks, NewEndpoint, PrivateZones,
    SecurityGroup, Subnet,
};
use crate::error::{Error, Result};

/// A provider's service as consumers see it.
#[derive(Clone, Debug, Default)]
pub struct RemoteService {
    pub az_ids: Vec<String>,
    pub acceptance_required: bool,
    pub private_dns_verified: bool,
}

#[derive(Clone, Debug)]
pub struct FakeEndpoint {
    pub endpoint: Endpoint,
    pub client_token: String,
    /// Looks left before a `pending` or `deleting` endpoint moves on.
    pub settles_in: u32,
}

#[derive(Clone, Debug)]
pub struct FakeGroup {
    pub group: SecurityGroup,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl FakeCloud {
    /// A consumer account's VPC with one subnet per AZ ID given; returns the subnet IDs.
    pub fn add_vpc(&self, vpc_id: &str, cidr: &str, az_ids: &[&str]) -> Vec<String> {
        let mut s = self.state.lock().unwrap();
        s.vpcs.insert(vpc_id.to_string(), vec![cidr.to_string()]);
        let mut out = Vec::new();
        for az in az_ids {
            s.next_id += 1;
            let id = format!("subnet-{:017x}", s.next_id);
            s.subnets.insert(
                id.clone(),
                Subnet {
                    id: id.clone(),
                    vpc_id: vpc_id.to_string(),
                    az_id: az.to_string(),
                },
            );
            out.push(id);
        }
        out
    }

    pub fn add_remote_service(&self, service_name: &str, service: RemoteService) {
        self.state
            .lock()
            .unwrap()
            .remote_services
            .insert(service_name.to_string(), service);
    }

    /// What the provider does: accept or reject a pending endpoint.
    pub fn decide(&self, endpoint_id: &str, accept: bool) {
        let mut s = self.state.lock().unwrap();
        if let Some(e) = s.endpoints.get_mut(endpoint_id) {
            e.endpoint.state = if accept { "available" } else { "rejected" }.into();
        }
    }

    /// Endpoints that are not deleted.
    pub fn live_endpoints(&self) -> Vec<Endpoint> {
        let s = self.state.lock().unwrap();
        s.endpoints
            .values()
            .filter(|e| e.endpoint.state != "deleted")
            .map(|e| e.endpoint.clone())
            .collect()
    }

    /// Live endpoints that are not on their way out either.
    pub fn standing_endpoints(&self) -> Vec<Endpoint> {
        let mut live = self.live_endpoints();
        live.retain(|e| !e.is_gone());
        live
    }

    /// Accept every endpoint waiting for acceptance, as the provider would.
    pub fn accept_pending(&self) {
        for e in self.live_endpoints() {
            if e.state == "pendingAcceptance" {
                self.decide(&e.id, true);
            }
        }
    }

    pub fn group_ids(&self) -> Vec<String> {
        self.state.lock().unwrap().groups.keys().cloned().collect()
    }

    pub fn private_zone_ids(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.hosted_zones
            .iter()
            .filter(|(_, z)| z.private)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Move `pending` and `deleting` endpoints along, one look at a time.
fn settle(s: &mut State, id: &str) {
    let acceptance = s
        .endpoints
        .get(id)
        .and_then(|e| s.remote_services.get(&e.endpoint.service_name))
        .is_some_and(|r| r.acceptance_required);
    let Some(e) = s.endpoints.get_mut(id) else {
        return;
    };
    if !matches!(e.endpoint.state.as_str(), "pending" | "deleting") {
        return;
    }
    if e.settles_in > 0 {
        e.settles_in -= 1;
        return;
    }
    e.endpoint.state = match e.endpoint.state.as_str() {
        "deleting" => "deleted",
        _ if acceptance => "pendingAcceptance",
        _ => "available",
    }
    .into();
}

pub(super) fn new_id(s: &mut State, prefix: &str) -> String {
    s.next_id += 1;
    format!("{prefix}-{:017x}", s.next_id)
}

#[async_trait]
impl Networks for FakeCloud {
    async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Option<Vec<String>>> {
        self.call("ec2:DescribeVpcs", false).await?;
        Ok(self.state.lock().unwrap().vpcs.get(vpc_id).cloned())
    }

    async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>> {
        self.call("ec2:DescribeSubnets", false).await?;
        let s = self.state.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|i| s.subnets.get(i).cloned())
            .collect())
    }
}

#[async_trait]
impl Endpoints for FakeCloud {
    async fn endpoints_tagged(&self, key: &str, value: &str) -> Result<Vec<Endpoint>> {
        let all = self.endpoints_with_tag(key).await?;
        Ok(all.into_iter().filter(|e| e.tags[key] == value).collect())
    }

    async fn endpoints_with_tag(&self, key: &str) -> Result<Vec<Endpoint>> {
        self.call("ec2:DescribeVpcEndpoints", false).await?;
        let mut s = self.state.lock().unwrap();
        let ids: Vec<String> = s.endpoints.keys().cloned().collect();
        for id in &ids {
            settle(&mut s, id);
        }
        Ok(s.endpoints
            .values()
            .map(|e| &e.endpoint)
            .filter(|e| e.state != "deleted" && e.tags.contains_key(key))
            .cloned()
            .collect())
    }

    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.call("ec2:DescribeVpcEndpoints", false).await?;
        let mut s = self.state.lock().unwrap();
        settle(&mut s, id);
        Ok(s.endpoints
            .get(id)
            .map(|e| e.endpoint.clone())
            .filter(|e| e.state != "deleted"))
    }

    async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint> {
        const OP: &str = "ec2:CreateVpcEndpoint";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if let Some(e) = s
            .endpoints
            .values()
            .find(|e| e.client_token == new.client_token)
        {
            return Ok(e.endpoint.clone());
        }
        let service = s
            .remote_services
            .get(&new.service_name)
            .cloned()
            .ok_or_else(|| {
                Error::aws(
                    OP,
                    "InvalidServiceName",
                    format!(
                        "The Vpc Endpoint Service '{}' does not exist",
                        new.service_name
                    ),
                )
            })?;
        for id in &new.subnet_ids {
            let subnet = s.subnets.get(id).ok_or_else(|| {
                Error::aws(
                    OP,
                    "InvalidSubnetID.NotFound",
                    format!("The subnet ID '{id}' does not exist"),
                )
            })?;
            if !service.az_ids.contains(&subnet.az_id) {
                return Err(Error::aws(
                    OP,
                    "InvalidParameter",
                    format!("The VPC endpoint service {} does not support the availability zone of the subnet: {id}.", new.service_name),
                ));
            }
        }
        if new.private_dns_enabled && !service.private_dns_verified {
            return Err(Error::aws(
                OP,
                "InvalidParameter",
                format!("Private DNS can't be enabled because the service {} does not provide a private DNS name.", new.service_name),
            ));
        }
        let id = new_id(&mut s, "vpce");
        let svc_id = new
            .service_name
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut dns_names = vec![format!(
            "{id}-abcd1234.{svc_id}.{REGION}.vpce.amazonaws.com"
        )];
        for sub in &new.subnet_ids {
            // AWS names zonal DNS names by the AZ's name in this account.
            let az_id = &s.subnets[sub].az_id;
            let az = s
                .zones
                .iter()
                .find(|(_, id)| *id == az_id)
                .map(|(name, _)| name)
                .unwrap_or(az_id);
            dns_names.push(format!(
                "{id}-abcd1234-{az}.{svc_id}.{REGION}.vpce.amazonaws.com"
            ));
        }
        let settles_in = s.settle_after_polls;
        let endpoint = Endpoint {
            id: id.clone(),
            service_name: new.service_name.clone(),
            vpc_id: new.vpc_id.clone(),
            state: "pending".into(),
            subnet_ids: new.subnet_ids.clone(),
            security_group_ids: new.security_group_ids.clone(),
            private_dns_enabled: new.private_dns_enabled,
            dns_names,
            tags: new.tags.iter().cloned().collect(),
        };
        s.endpoints.insert(
            id,
            FakeEndpoint {
                endpoint: endpoint.clone(),
                client_token: new.client_token.clone(),
                settles_in,
            },
        );
        Ok(endpoint)
    }

    async fn modify_endpoint(&self, id: &str, change: &EndpointChange) -> Result<()> {
        const OP: &str = "ec2:ModifyVpcEndpoint";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let e = s.endpoints.get_mut(id).ok_or_else(|| {
            Error::aws(
                OP,
                "InvalidVpcEndpointId.NotFound",
                format!("The Vpc Endpoint Id '{id}' does not exist"),
            )
        })?;
        let ep = &mut e.endpoint;
        ep.subnet_ids.retain(|x| !change.remove_subnets.contains(x));
        ep.subnet_ids.extend(change.add_subnets.iter().cloned());
        ep.security_group_ids
            .retain(|x| !change.remove_groups.contains(x));
        ep.security_group_ids
            .extend(change.add_groups.iter().cloned());
        if let Some(p) = change.private_dns_enabled {
            ep.private_dns_enabled = p;
        }
        for (k, v) in &change.tags {
            ep.tags.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    async fn delete_endpoint(&self, id: &str) -> Result<()> {
        self.call("ec2:DeleteVpcEndpoints", true).await?;
        let mut s = self.state.lock().unwrap();
        let settles_in = s.settle_after_polls;
        if let Some(e) = s.endpoints.get_mut(id) {
            if e.endpoint.state != "deleted" {
                e.endpoint.state = "deleting".into();
                e.settles_in = settles_in;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl PrivateZones for FakeCloud {
    async fn zones_of_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>> {
        self.call("route53:ListHostedZonesByVPC", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.hosted_zones
            .iter()
            .filter(|(_, z)| z.private && z.vpcs.iter().any(|v| v == vpc_id))
            .map(|(id, z)| {
                (
                    HostedZone {
                        id: id.clone(),
                        name: z.name.clone(),
                        private: true,
                    },
                    z.tags.clone(),
                )
            })
            .collect())
    }

    async fn create_private_zone(
        &self,
        name: &str,
        vpc_id: &str,
        caller_reference: &str,
        tags: &[(String, String)],
    ) -> Result<HostedZone> {
        const OP: &str = "route53:CreateHostedZone";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if s.hosted_zones
            .values()
            .any(|z| z.caller_reference == caller_reference)
        {
            return Err(Error::aws(
                OP,
                "HostedZoneAlreadyExists",
                format!("A hosted zone has already been created with the specified caller reference {caller_reference}."),
            ));
        }
        if s.hosted_zones
            .values()
            .any(|z| z.private && z.name == name && z.vpcs.iter().any(|v| v == vpc_id))
        {
            return Err(Error::aws(
                OP,
                "ConflictingDomainExists",
                format!("The VPC {vpc_id} in region {REGION} has already been associated with the hosted zone with the same domain name."),
            ));
        }
        s.next_id += 1;
        let id = format!("ZPRIV{:010}", s.next_id);
        s.hosted_zones.insert(
            id.clone(),
            FakeZone {
                name: name.to_string(),
                private: true,
                vpcs: vec![vpc_id.to_string()],
                tags: tags.iter().cloned().collect(),
                caller_reference: caller_reference.to_string(),
                ..FakeZone::default()
            },
        );
        Ok(HostedZone {
            id,
            name: name.to_string(),
            private: true,
        })
    }

    async fn delete_zone(&self, zone_id: &str) -> Result<()> {
        const OP: &str = "route53:DeleteHostedZone";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        match s.hosted_zones.get(zone_id) {
            None => Ok(()),
            Some(z) if !z.records.is_empty() => Err(Error::aws(
                OP,
                "HostedZoneNotEmpty",
                "The specified hosted zone contains non-required resource record sets and so cannot be deleted.",
            )),
            Some(_) => {
                s.hosted_zones.remove(zone_id);
                Ok(())
            }
        }
    }

    async fn zone_tags(&self, zone_id: &str) -> Result<Option<BTreeMap<String, String>>> {
        self.call("route53:ListTagsForResource", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.hosted_zones.get(zone_id).map(|z| z.tags.clone()))
    }

    async fn change_zone_tags(
        &self,
        zone_id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<()> {
        const OP: &str = "route53:ChangeTagsForResource";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let z = s.hosted_zones.get_mut(zone_id).ok_or_else(|| {
            Error::aws(
                OP,
                "NoSuchHostedZone",
                format!("No hosted zone found with ID: {zone_id}"),
            )
        })?;
        let mut tags = z.tags.clone();
        tags.retain(|k, _| !remove.contains(k));
        tags.extend(add.iter().cloned());
        if tags.len() > MAX_ZONE_TAGS {
            return Err(Error::aws(
                OP,
                "InvalidInput",
                "Number of tags exceeds the limit of 50",
            ));
        }
        z.tags = tags;
        Ok(())
    }

    async fn caller_reference(&self, zone_id: &str) -> Result<Option<String>> {
        self.call("route53:GetHostedZone", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.hosted_zones
            .get(zone_id)
            .map(|z| z.caller_reference.clone()))
    }
}

/// Route 53's limit of tags on one resource.
const MAX_ZONE_TAGS: usize = 50;

#[async_trait]
impl crate::aws::ProbeSchedule for FakeCloud {
    async fn schedule_input(&self, rule: &str) -> Result<Option<String>> {
        self.call("events:ListTargetsByRule", false).await?;
        Ok(self.state.lock().unwrap().schedules.get(rule).cloned())
    }

    async fn set_schedule_input(&self, rule: &str, input: &str) -> Result<()> {
        self.call("events:PutTargets", true).await?;
        let mut s = self.state.lock().unwrap();
        match s.schedules.get_mut(rule) {
            Some(i) => {
                *i = input.to_string();
                Ok(())
            }
            None => Err(Error::aws(
                "events:PutTargets",
                "ResourceNotFoundException",
                format!("Rule {rule} does not exist on EventBus default."),
            )),
        }
    }
}
