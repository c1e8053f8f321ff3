//! Route 53 adapter: hosted zones and record sets.

use async_trait::async_trait;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use super::{code_of, sdk_error, Sdk};
use crate::aws::{DnsRecords, HostedZone, RecordChange, RecordSet, RecordType};
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
