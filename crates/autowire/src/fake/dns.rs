//! Route 53 as the fake models it: zones hold record sets keyed by name and type; a change batch
//! is validated whole (a DELETE must match exactly) and applied atomically, or not at all.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{FakeCloud, State};
use crate::aws::{DnsRecords, HostedZone, RecordChange, RecordSet, RecordType, Verification};
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct FakeZone {
    pub name: String,
    pub private: bool,
    pub records: BTreeMap<(String, RecordType), RecordSet>,
    /// VPCs a private zone is associated with.
    pub vpcs: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub caller_reference: String,
}

const CHANGE: &str = "route53:ChangeResourceRecordSets";

fn invalid_batch(message: String) -> Error {
    Error::aws(CHANGE, "InvalidChangeBatch", message)
}

fn in_domain(name: &str, domain: &str) -> bool {
    name == domain || name.ends_with(&format!(".{domain}"))
}

/// The zones public DNS can see.
fn public(s: &State) -> impl Iterator<Item = &FakeZone> {
    s.hosted_zones
        .iter()
        .filter(|(id, z)| !z.private && !s.undelegated_zones.contains(*id))
        .map(|(_, z)| z)
}

/// Whether public DNS shows the verification TXT record for `name` (at the name's base domain
/// or a parent of it, as EC2 accepts).
pub(super) fn txt_published(s: &State, name: &str, v: &Verification) -> bool {
    let want = format!("\"{}\"", v.value);
    let mut domain = crate::names::base(name);
    loop {
        let record = format!("{}.{domain}", v.name);
        let found = public(s).any(|z| {
            z.records
                .get(&(record.clone(), RecordType::Txt))
                .is_some_and(|r| r.values.contains(&want))
        });
        if found {
            return true;
        }
        match domain.split_once('.') {
            Some((_, parent)) if parent.contains('.') => domain = parent.to_string(),
            _ => return false,
        }
    }
}

/// Whether a public zone has a CNAME with exactly this name and value.
pub(super) fn cname_published(s: &State, record: &RecordSet) -> bool {
    public(s).any(|z| {
        z.records
            .get(&(record.name.clone(), RecordType::Cname))
            .is_some_and(|r| r.values == record.values)
    })
}

#[async_trait]
impl DnsRecords for FakeCloud {
    async fn hosted_zone(&self, zone_id: &str) -> Result<Option<HostedZone>> {
        self.call("route53:GetHostedZone", false).await?;
        let s = self.state.lock().unwrap();
        Ok(s.hosted_zones.get(zone_id).map(|z| HostedZone {
            id: zone_id.to_string(),
            name: z.name.clone(),
            private: z.private,
        }))
    }

    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        kind: RecordType,
    ) -> Result<Option<RecordSet>> {
        self.call("route53:ListResourceRecordSets", false).await?;
        let s = self.state.lock().unwrap();
        let zone = s
            .hosted_zones
            .get(zone_id)
            .ok_or_else(|| no_zone(zone_id))?;
        Ok(zone.records.get(&(name.to_string(), kind)).cloned())
    }

    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()> {
        self.call(CHANGE, true).await?;
        let mut s = self.state.lock().unwrap();
        let zone = s
            .hosted_zones
            .get_mut(zone_id)
            .ok_or_else(|| no_zone(zone_id))?;
        let mut next = zone.records.clone();
        for change in changes {
            let (RecordChange::Upsert(r) | RecordChange::Delete(r)) = change;
            if !in_domain(&r.name, &zone.name) {
                return Err(invalid_batch(format!(
                    "[RRSet with DNS name {}. is not permitted in zone {}.]",
                    r.name, zone.name
                )));
            }
            let key = (r.name.clone(), r.kind);
            match change {
                RecordChange::Upsert(_) => {
                    next.insert(key, r.clone());
                }
                RecordChange::Delete(_) => match next.get(&key) {
                    None => {
                        return Err(invalid_batch(format!(
                            "[Tried to delete resource record set [name='{}.', type='{}'] but it was not found]",
                            r.name,
                            r.kind.as_str()
                        )))
                    }
                    Some(have) if have != r => {
                        return Err(invalid_batch(format!(
                            "[Tried to delete resource record set [name='{}.', type='{}'] but the values provided do not match the current values]",
                            r.name,
                            r.kind.as_str()
                        )))
                    }
                    Some(_) => {
                        next.remove(&key);
                    }
                },
            }
        }
        zone.records = next;
        Ok(())
    }
}

fn no_zone(zone_id: &str) -> Error {
    Error::aws(
        "route53:GetHostedZone",
        "NoSuchHostedZone",
        format!("No hosted zone found with ID: {zone_id}"),
    )
}
