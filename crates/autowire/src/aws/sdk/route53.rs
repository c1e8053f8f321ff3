//! Route 53 adapter: hosted zones and record sets.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord, ResourceRecordSet, RrType,
    Tag, TagResourceType, Vpc, VpcRegion,
};

use super::{code_of, sdk_error, Sdk};
use crate::aws::{DnsRecords, HostedZone, PrivateZones, RecordChange, RecordSet, RecordType};
use crate::error::{Error, Result};

const CHANGE: &str = "route53:ChangeResourceRecordSets";

fn rr_type(kind: RecordType) -> RrType {
    match kind {
        RecordType::Cname => RrType::Cname,
        RecordType::Txt => RrType::Txt,
    }
}

/// Route 53 returns names with a trailing dot and `*` escaped as `\052`.
fn normalise(name: &str) -> String {
    name.replace("\\052", "*")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn change(action: ChangeAction, r: &RecordSet) -> Result<Change> {
    let records = r
        .values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::aws(CHANGE, "InvalidInput", e.to_string()))?;
    let set = ResourceRecordSet::builder()
        .name(format!("{}.", r.name))
        .r#type(rr_type(r.kind))
        .ttl(r.ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(|e| Error::aws(CHANGE, "InvalidInput", e.to_string()))?;
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| Error::aws(CHANGE, "InvalidInput", e.to_string()))
}

#[async_trait]
impl DnsRecords for Sdk {
    async fn hosted_zone(&self, zone_id: &str) -> Result<Option<HostedZone>> {
        match self.route53.get_hosted_zone().id(zone_id).send().await {
            Ok(out) => Ok(out.hosted_zone().map(|z| HostedZone {
                id: zone_id.to_string(),
                name: normalise(z.name()),
                private: z.config().is_some_and(|c| c.private_zone()),
            })),
            Err(e) if code_of(&e) == Some("NoSuchHostedZone") => Ok(None),
            Err(e) => Err(sdk_error("route53:GetHostedZone", e)),
        }
    }

    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        kind: RecordType,
    ) -> Result<Option<RecordSet>> {
        let out = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(name)
            .start_record_type(rr_type(kind))
            .max_items(1)
            .send()
            .await
            .map_err(|e| sdk_error("route53:ListResourceRecordSets", e))?;
        Ok(out
            .resource_record_sets()
            .iter()
            .find(|r| normalise(r.name()) == name && *r.r#type() == rr_type(kind))
            .map(|r| RecordSet {
                name: name.to_string(),
                kind,
                ttl: r.ttl().unwrap_or_default(),
                values: r
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect(),
            }))
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()> {
        let changes = changes
            .iter()
            .map(|c| match c {
                RecordChange::Upsert(r) => change(ChangeAction::Upsert, r),
                RecordChange::Delete(r) => change(ChangeAction::Delete, r),
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = ChangeBatch::builder()
            .comment("privatelink-autowire")
            .set_changes(Some(changes))
            .build()
            .map_err(|e| Error::aws(CHANGE, "InvalidInput", e.to_string()))?;
        self.route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| sdk_error(CHANGE, e))?;
        Ok(())
    }
}

impl Sdk {
    fn region(&self) -> String {
        self.route53
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    async fn tags_of_zone(&self, zone_id: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .route53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .send()
            .await
            .map_err(|e| sdk_error("route53:ListTagsForResource", e))?;
        Ok(out
            .resource_tag_set()
            .map(|s| {
                s.tags()
                    .iter()
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_string(),
                            t.value().unwrap_or_default().to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl PrivateZones for Sdk {
    async fn zones_of_vpc(
        &self,
        vpc_id: &str,
    ) -> Result<Vec<(HostedZone, BTreeMap<String, String>)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .route53
                .list_hosted_zones_by_vpc()
                .vpc_id(vpc_id)
                .vpc_region(VpcRegion::from(self.region().as_str()))
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("route53:ListHostedZonesByVPC", e))?;
            for z in page.hosted_zone_summaries() {
                // Zones an AWS service owns are never a link's.
                if z.owner().is_some_and(|o| o.owning_service().is_some()) {
                    continue;
                }
                let id = z
                    .hosted_zone_id()
                    .trim_start_matches("/hostedzone/")
                    .to_string();
                // Another account's zone associated with this VPC: its tags are not ours to read.
                let tags = match self.tags_of_zone(&id).await {
                    Ok(t) => t,
                    Err(e) if e.aws_code() == Some("AccessDenied") => BTreeMap::new(),
                    Err(e) => return Err(e),
                };
                out.push((
                    HostedZone {
                        id,
                        name: normalise(z.name()),
                        private: true,
                    },
                    tags,
                ));
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn create_private_zone(
        &self,
        name: &str,
        vpc_id: &str,
        caller_reference: &str,
        tags: &[(String, String)],
    ) -> Result<HostedZone> {
        const OP: &str = "route53:CreateHostedZone";
        let created = self
            .route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(caller_reference)
            .vpc(
                Vpc::builder()
                    .vpc_id(vpc_id)
                    .vpc_region(VpcRegion::from(self.region().as_str()))
                    .build(),
            )
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .private_zone(true)
                    .comment("privatelink-autowire alias zone")
                    .build(),
            )
            .send()
            .await;
        let id = match created {
            Ok(out) => out
                .hosted_zone()
                .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
                .ok_or_else(|| Error::aws(OP, "Unknown", "no zone in the answer"))?,
            // Created by an earlier attempt that stopped before tagging it (other links may
            // have joined it since): the VPC's one private zone of that name.
            Err(e) if code_of(&e) == Some("HostedZoneAlreadyExists") => self
                .zones_of_vpc(vpc_id)
                .await?
                .into_iter()
                .find(|(z, _)| z.name == normalise(name))
                .map(|(z, _)| z.id)
                .ok_or_else(|| sdk_error(OP, e))?,
            Err(e) => return Err(sdk_error(OP, e)),
        };
        self.change_zone_tags(&id, tags, &[]).await?;
        Ok(HostedZone {
            id,
            name: normalise(name),
            private: true,
        })
    }

    async fn delete_zone(&self, zone_id: &str) -> Result<()> {
        match self.route53.delete_hosted_zone().id(zone_id).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("NoSuchHostedZone") => Ok(()),
            Err(e) => Err(sdk_error("route53:DeleteHostedZone", e)),
        }
    }

    async fn zone_tags(&self, zone_id: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.tags_of_zone(zone_id).await {
            Ok(tags) => Ok(Some(tags)),
            Err(e) if e.aws_code() == Some("NoSuchHostedZone") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn change_zone_tags(
        &self,
        zone_id: &str,
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<()> {
        let tags = add
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Vec<_>>();
        self.route53
            .change_tags_for_resource()
            .resource_type(TagResourceType::Hostedzone)
            .resource_id(zone_id)
            .set_add_tags((!tags.is_empty()).then_some(tags))
            .set_remove_tag_keys((!remove.is_empty()).then(|| remove.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("route53:ChangeTagsForResource", e))?;
        Ok(())
    }

    async fn caller_reference(&self, zone_id: &str) -> Result<Option<String>> {
        match self.route53.get_hosted_zone().id(zone_id).send().await {
            Ok(out) => Ok(out.hosted_zone().map(|z| z.caller_reference().to_string())),
            Err(e) if matches!(code_of(&e), Some("NoSuchHostedZone" | "AccessDenied")) => Ok(None),
            Err(e) => Err(sdk_error("route53:GetHostedZone", e)),
        }
    }
}
