//! Consumer-side capabilities: the consumer's VPCs and subnets, interface endpoints, security
//! groups, the link's private zones, and the probe's schedule.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::HostedZone;
use crate::error::Result;

/// A consumer subnet with its AZ **ID** in the consumer's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub az_id: String,
}

/// The consumer's VPCs and subnets.
#[async_trait]
pub trait Networks: Send + Sync {
    /// The VPC's IPv4 CIDR blocks; `None` if no such VPC.
    async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Option<Vec<String>>>;
    /// The subnets that exist among `ids` (missing ones are left out).
    async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>>;
}

/// Tags every resource a link owns carries.
pub const LINK_TAG: &str = "privatelink-autowire:link-id";
pub const DESCRIPTOR_TAG: &str = "privatelink-autowire:descriptor";
pub const DIGEST_TAG: &str = "privatelink-autowire:digest";

/// An interface endpoint, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub service_name: String,
    pub vpc_id: String,
    /// `pendingAcceptance`, `pending`, `available`, `rejected`, `failed`, `deleting`, `deleted`…
    pub state: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: bool,
    /// The regional DNS name first, then one per AZ.
    pub dns_names: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

impl Endpoint {
    /// AWS's own names for the endpoint (not a private DNS name it may also answer to).
    fn aws_names(&self) -> impl Iterator<Item = &String> {
        self.dns_names
            .iter()
            .filter(|n| n.trim_end_matches('.').ends_with(".vpce.amazonaws.com"))
    }

    /// The regional DNS name: the shortest of AWS's names (the zonal ones add the AZ).
    pub fn regional_dns_name(&self) -> Option<&str> {
        self.aws_names().min_by_key(|n| n.len()).map(String::as_str)
    }

    /// The zonal DNS names, one per AZ.
    pub fn zonal_dns_names(&self) -> Vec<String> {
        let regional = self.regional_dns_name();
        self.aws_names()
            .filter(|n| Some(n.as_str()) != regional)
            .cloned()
            .collect()
    }

    /// Gone, or on its way out: not something to build on.
    pub fn is_gone(&self) -> bool {
        matches!(self.state.as_str(), "deleting" | "deleted")
    }
}

/// What to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: bool,
    /// Makes a retried create return the same endpoint.
    pub client_token: String,
    pub tags: Vec<(String, String)>,
}

/// An in-place change to an endpoint; empty lists change nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointChange {
    pub add_subnets: Vec<String>,
    pub remove_subnets: Vec<String>,
    pub add_groups: Vec<String>,
    pub remove_groups: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    /// Tags to set (the descriptor and digest follow the descriptor).
    pub tags: Vec<(String, String)>,
}

impl EndpointChange {
    pub fn is_empty(&self) -> bool {
        *self == EndpointChange::default()
    }

    /// Only tags change (CreateTags, not ModifyVpcEndpoint).
    pub fn only_tags(&self) -> bool {
        EndpointChange {
            tags: Vec::new(),
            ..self.clone()
        }
        .is_empty()
    }
}

/// Interface VPC endpoints (consumer side).
#[async_trait]
pub trait Endpoints: Send + Sync {
    /// Endpoints carrying tag `key`=`value`, deleted ones left out.
    async fn endpoints_tagged(&self, key: &str, value: &str) -> Result<Vec<Endpoint>>;
    /// Every endpoint carrying tag `key`, whatever its value, deleted ones left out.
    async fn endpoints_with_tag(&self, key: &str) -> Result<Vec<Endpoint>>;
    /// `None` if it does not exist (or is deleted).
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>>;
    async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint>;
    async fn modify_endpoint(&self, id: &str, change: &EndpointChange) -> Result<()>;
    /// Start deleting; deleting what is already gone is success.
    async fn delete_endpoint(&self, id: &str) -> Result<()>;
}

/// One ingress rule: protocol (`tcp`/`udp`), port, source.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngressRule {
    pub protocol: String,
    pub port: u16,
    pub source: RuleSource,
}

/// Where an ingress rule admits traffic from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSource {
    /// An IPv4 CIDR block.
    Cidr(String),
    /// The members of a security group (of the same VPC).
    Group(String),
}

/// Where an egress rule lets traffic go.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EgressTarget {
    Ipv4(String),
    Ipv6(String),
    PrefixList(String),
    Group(String),
}

/// One egress rule as EC2 reports it: protocol (`-1`: all), port range (none: every port), and
/// one destination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EgressRule {
    pub protocol: String,
    pub ports: Option<(i32, i32)>,
    pub to: EgressTarget,
}

impl EgressRule {
    /// The rule AWS gives every new group: all IPv4 traffic out.
    pub fn aws_default() -> Self {
        EgressRule {
            protocol: "-1".into(),
            ports: None,
            to: EgressTarget::Ipv4("0.0.0.0/0".into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc_id: String,
    pub rules: Vec<IngressRule>,
    pub egress: Vec<EgressRule>,
}

/// VPC security groups.
#[async_trait]
pub trait SecurityGroups: Send + Sync {
    async fn groups_tagged(&self, key: &str, value: &str) -> Result<Vec<SecurityGroup>>;
    /// Every group carrying tag `key`: (the tag's value, the group).
    async fn groups_with_tag(&self, key: &str) -> Result<Vec<(String, SecurityGroup)>>;
    async fn create_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String>;
    async fn authorize(&self, group_id: &str, rules: &[IngressRule]) -> Result<()>;
    async fn revoke(&self, group_id: &str, rules: &[IngressRule]) -> Result<()>;
    /// One group by ID; `None` if it does not exist.
    async fn group(&self, group_id: &str) -> Result<Option<SecurityGroup>>;
    /// Remove egress rules (the rules as [`SecurityGroup::egress`] gives them).
    async fn revoke_egress(&self, group_id: &str, rules: &[EgressRule]) -> Result<()>;
    /// Deleting what is already gone is success; a group still in use is a retryable error.
    async fn delete_group(&self, group_id: &str) -> Result<()>;
}

/// Private hosted zones a link creates for its alias.
#[async_trait]
pub trait PrivateZones: Send + Sync {
    /// Private zones associated with the VPC, with their tags.
    async fn zones_of_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>>;
    /// Create a private zone for `name` associated with the VPC, then tag it.
    async fn create_private_zone(
        &self,
        name: &str,
        vpc_id: &str,
        caller_reference: &str,
        tags: &[(String, String)],
    ) -> Result<HostedZone>;
    /// Deleting what is already gone is success. A zone that still holds records other than
    /// its SOA and NS is refused (`HostedZoneNotEmpty`).
    async fn delete_zone(&self, zone_id: &str) -> Result<()>;
    /// The zone's tags; `None` if the zone is gone.
    async fn zone_tags(&self, zone_id: &str) -> Result<Option<BTreeMap<String, String>>>;
    /// Add and remove tags in one change (each key on its own: no read-modify-write).
    async fn change_zone_tags(
        &self,
        zone_id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<()>;
    /// The caller reference the zone was created with; `None` if it is gone or not this
    /// account's to read.
    async fn caller_reference(&self, zone_id: &str) -> Result<Option<String>>;
}

/// The probe's schedule: an EventBridge rule whose one target is the probe, with a constant input.
#[async_trait]
pub trait ProbeSchedule: Send + Sync {
    /// The input of the rule's target; `None` if the rule or its target is gone.
    async fn schedule_input(&self, rule: &str) -> Result<Option<String>>;
    /// Replace the input of the rule's target, keeping everything else about the target.
    async fn set_schedule_input(&self, rule: &str, input: &str) -> Result<()>;
}
