//! One pass's view of the consumer account. What the pass reads about every link is read once,
//! up front, and served from memory: endpoints and groups by their link tag, the links' subnets,
//! their VPCs, their descriptors (10 a call). That makes a pass's EC2 describe calls O(1) in the
//! number of links. A write drops what it changed, so a link's own next read after a change goes
//! to AWS. Endpoint mutations wait for a token from EC2's bucket ([`Pacer`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use super::pacing::Pacer;
use crate::aws::*;
use crate::error::Result;
use crate::link::ConsumerCloud;

/// A private zone with its tags, as `PrivateZones::zones_of_vpc` gives it.
type TaggedZone = (HostedZone, BTreeMap<String, String>);

pub struct PassView<C> {
    cloud: Arc<C>,
    pacer: Arc<Pacer>,
    /// Link ID → its endpoints / groups, as read at the start of the pass.
    endpoints: BTreeMap<String, Vec<Endpoint>>,
    groups: BTreeMap<String, Vec<SecurityGroup>>,
    subnets: BTreeMap<String, Subnet>,
    /// Descriptors by the name or ARN links give; a name asked for and not found maps to `None`.
    descriptors: BTreeMap<String, Option<StoredParameter>>,
    /// Links whose endpoints / groups changed in this pass: those reads go to AWS.
    stale_endpoints: Mutex<BTreeSet<String>>,
    stale_groups: Mutex<BTreeSet<String>>,
    vpcs: Mutex<BTreeMap<String, Option<Vec<String>>>>,
    vpc_zones: Mutex<BTreeMap<String, Vec<TaggedZone>>>,
    hosted_zones: Mutex<BTreeMap<String, Option<HostedZone>>>,
    az_ids: Mutex<Option<BTreeMap<String, String>>>,
}

fn by_link<T>(items: impl IntoIterator<Item = (String, T)>) -> BTreeMap<String, Vec<T>> {
    let mut out: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for (link, item) in items {
        out.entry(link).or_default().push(item);
    }
    out
}

impl<C: ConsumerCloud> PassView<C> {
    /// Read, once, what the links of this pass will ask for.
    pub async fn load(
        cloud: Arc<C>,
        pacer: Arc<Pacer>,
        subnet_ids: &[String],
        descriptors: BTreeMap<String, Option<StoredParameter>>,
    ) -> Result<Self> {
        let endpoints = cloud.endpoints_with_tag(LINK_TAG).await?;
        let endpoints = by_link(endpoints.into_iter().map(|e| (e.tags[LINK_TAG].clone(), e)));
        let groups = by_link(cloud.groups_with_tag(LINK_TAG).await?);
        let subnets = if subnet_ids.is_empty() {
            Vec::new()
        } else {
            cloud.subnets(subnet_ids).await?
        };
        Ok(PassView {
            subnets: subnets.into_iter().map(|s| (s.id.clone(), s)).collect(),
            cloud,
            pacer,
            endpoints,
            groups,
            descriptors,
            stale_endpoints: Mutex::default(),
            stale_groups: Mutex::default(),
            vpcs: Mutex::default(),
            vpc_zones: Mutex::default(),
            hosted_zones: Mutex::default(),
            az_ids: Mutex::default(),
        })
    }

    fn fresh(stale: &Mutex<BTreeSet<String>>, link: &str) -> bool {
        !stale.lock().unwrap().contains(link)
    }

    fn touch(stale: &Mutex<BTreeSet<String>>, link: Option<String>) {
        if let Some(link) = link {
            stale.lock().unwrap().insert(link);
        }
    }

    fn link_of_endpoint(&self, id: &str) -> Option<String> {
        self.endpoints
            .iter()
            .find(|(_, es)| es.iter().any(|e| e.id == id))
            .map(|(link, _)| link.clone())
    }

    fn link_of_group(&self, id: &str) -> Option<String> {
        self.groups
            .iter()
            .find(|(_, gs)| gs.iter().any(|g| g.id == id))
            .map(|(link, _)| link.clone())
    }
}

fn link_in(tags: &[(String, String)]) -> Option<String> {
    tags.iter()
        .find(|(k, _)| k == LINK_TAG)
        .map(|(_, v)| v.clone())
}

#[async_trait]
impl<C: ConsumerCloud> Endpoints for PassView<C> {
    async fn endpoints_tagged(&self, key: &str, value: &str) -> Result<Vec<Endpoint>> {
        if key == LINK_TAG && Self::fresh(&self.stale_endpoints, value) {
            return Ok(self.endpoints.get(value).cloned().unwrap_or_default());
        }
        self.cloud.endpoints_tagged(key, value).await
    }
    async fn endpoints_with_tag(&self, key: &str) -> Result<Vec<Endpoint>> {
        self.cloud.endpoints_with_tag(key).await
    }
    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.cloud.endpoint(id).await
    }
    async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint> {
        self.pacer.take().await;
        Self::touch(&self.stale_endpoints, link_in(&new.tags));
        self.cloud.create_endpoint(new).await
    }
    async fn modify_endpoint(&self, id: &str, change: &EndpointChange) -> Result<()> {
        // A tags-only change is CreateTags, outside EC2's endpoint bucket.
        if !change.only_tags() {
            self.pacer.take().await;
        }
        Self::touch(&self.stale_endpoints, self.link_of_endpoint(id));
        self.cloud.modify_endpoint(id, change).await
    }
    async fn delete_endpoint(&self, id: &str) -> Result<()> {
        self.pacer.take().await;
        Self::touch(&self.stale_endpoints, self.link_of_endpoint(id));
        self.cloud.delete_endpoint(id).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> SecurityGroups for PassView<C> {
    async fn groups_tagged(&self, key: &str, value: &str) -> Result<Vec<SecurityGroup>> {
        if key == LINK_TAG && Self::fresh(&self.stale_groups, value) {
            return Ok(self.groups.get(value).cloned().unwrap_or_default());
        }
        self.cloud.groups_tagged(key, value).await
    }
    async fn groups_with_tag(&self, key: &str) -> Result<Vec<(String, SecurityGroup)>> {
        self.cloud.groups_with_tag(key).await
    }
    async fn create_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String> {
        Self::touch(&self.stale_groups, link_in(tags));
        self.cloud
            .create_group(vpc_id, name, description, tags)
            .await
    }
    async fn authorize(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        Self::touch(&self.stale_groups, self.link_of_group(group_id));
        self.cloud.authorize(group_id, rules).await
    }
    async fn revoke(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        Self::touch(&self.stale_groups, self.link_of_group(group_id));
        self.cloud.revoke(group_id, rules).await
    }
    async fn group(&self, group_id: &str) -> Result<Option<SecurityGroup>> {
        self.cloud.group(group_id).await
    }
    async fn revoke_egress(&self, group_id: &str, rules: &[EgressRule]) -> Result<()> {
        Self::touch(&self.stale_groups, self.link_of_group(group_id));
        self.cloud.revoke_egress(group_id, rules).await
    }
    async fn delete_group(&self, group_id: &str) -> Result<()> {
        Self::touch(&self.stale_groups, self.link_of_group(group_id));
        self.cloud.delete_group(group_id).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> Networks for PassView<C> {
    async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Option<Vec<String>>> {
        if let Some(known) = self.vpcs.lock().unwrap().get(vpc_id) {
            return Ok(known.clone());
        }
        let cidrs = self.cloud.vpc_cidrs(vpc_id).await?;
        self.vpcs
            .lock()
            .unwrap()
            .insert(vpc_id.to_string(), cidrs.clone());
        Ok(cidrs)
    }
    async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>> {
        if ids.iter().all(|id| self.subnets.contains_key(id)) {
            return Ok(ids.iter().map(|id| self.subnets[id].clone()).collect());
        }
        self.cloud.subnets(ids).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> Descriptors for PassView<C> {
    async fn read(&self, name_or_arn: &str) -> Result<Option<StoredParameter>> {
        match self.descriptors.get(name_or_arn) {
            Some(known) => Ok(known.clone()),
            None => self.cloud.read(name_or_arn).await,
        }
    }
    async fn owner(&self, name: &str) -> Result<Option<Owner>> {
        self.cloud.owner(name).await
    }
    async fn create(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<()> {
        self.cloud.create(name, value, tier, owner).await
    }
    async fn overwrite(&self, name: &str, value: &str, tier: Tier) -> Result<()> {
        self.cloud.overwrite(name, value, tier).await
    }
    async fn delete(&self, name: &str) -> Result<()> {
        self.cloud.delete(name).await
    }
    async fn list(&self, path: &str) -> Result<Vec<(String, String)>> {
        self.cloud.list(path).await
    }
    async fn read_many(&self, names_or_arns: &[String]) -> Result<Vec<(String, StoredParameter)>> {
        self.cloud.read_many(names_or_arns).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> DnsRecords for PassView<C> {
    async fn hosted_zone(&self, zone_id: &str) -> Result<Option<HostedZone>> {
        if let Some(known) = self.hosted_zones.lock().unwrap().get(zone_id) {
            return Ok(known.clone());
        }
        let zone = self.cloud.hosted_zone(zone_id).await?;
        self.hosted_zones
            .lock()
            .unwrap()
            .insert(zone_id.to_string(), zone.clone());
        Ok(zone)
    }
    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        kind: RecordType,
    ) -> Result<Option<RecordSet>> {
        self.cloud.record(zone_id, name, kind).await
    }
    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()> {
        self.cloud.change_records(zone_id, changes).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> PrivateZones for PassView<C> {
    async fn zones_of_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>> {
        if let Some(known) = self.vpc_zones.lock().unwrap().get(vpc_id) {
            return Ok(known.clone());
        }
        let zones = self.cloud.zones_of_vpc(vpc_id).await?;
        self.vpc_zones
            .lock()
            .unwrap()
            .insert(vpc_id.to_string(), zones.clone());
        Ok(zones)
    }
    async fn create_private_zone(
        &self,
        name: &str,
        vpc_id: &str,
        caller_reference: &str,
        tags: &[(String, String)],
    ) -> Result<HostedZone> {
        self.vpc_zones.lock().unwrap().clear();
        self.cloud
            .create_private_zone(name, vpc_id, caller_reference, tags)
            .await
    }
    async fn delete_zone(&self, zone_id: &str) -> Result<()> {
        self.vpc_zones.lock().unwrap().clear();
        self.cloud.delete_zone(zone_id).await
    }
    async fn zone_tags(&self, zone_id: &str) -> Result<Option<BTreeMap<String, String>>> {
        self.cloud.zone_tags(zone_id).await
    }
    async fn change_zone_tags(
        &self,
        zone_id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<()> {
        self.vpc_zones.lock().unwrap().clear();
        self.cloud.change_zone_tags(zone_id, add, remove).await
    }
    async fn caller_reference(&self, zone_id: &str) -> Result<Option<String>> {
        self.cloud.caller_reference(zone_id).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> Zones for PassView<C> {
    async fn zone_ids_by_name(&self) -> Result<BTreeMap<String, String>> {
        if let Some(known) = self.az_ids.lock().unwrap().clone() {
            return Ok(known);
        }
        let ids = self.cloud.zone_ids_by_name().await?;
        *self.az_ids.lock().unwrap() = Some(ids.clone());
        Ok(ids)
    }
}

#[async_trait]
impl<C: ConsumerCloud> Announcements for PassView<C> {
    async fn announce(&self, bus: &str, source: &str, kind: &str, detail: &Value) -> Result<()> {
        self.cloud.announce(bus, source, kind, detail).await
    }
}

#[async_trait]
impl<C: ConsumerCloud> Functions for PassView<C> {
    async fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<()> {
        self.cloud.invoke_async(function_arn, payload).await
    }
    async fn invoke(&self, function_arn: &str, payload: Value) -> Result<Value> {
        self.cloud.invoke(function_arn, payload).await
    }
}
