//! Records we own in Route 53 zones: the DNS validation CNAMEs of certificates and the
//! verification TXT records of private DNS names. Reconciled like everything else: read first,
//! change only what differs, one atomic batch per zone.

use tracing::info;

use crate::aws::{DnsRecords, HostedZone, RecordChange, RecordSet};
use crate::error::{Error, Result};

/// A hosted zone ID as given (`Z…`, or `/hostedzone/Z…` as some tools print it), bare.
pub fn parse_zone_id(raw: &str) -> Result<String, String> {
    let id = raw.trim().trim_start_matches("/hostedzone/");
    if id.len() >= 2
        && id.len() <= 32
        && id.starts_with('Z')
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        Ok(id.to_string())
    } else {
        Err(format!("'{raw}' is not a Route 53 hosted zone ID (Z…)"))
    }
}

/// The zone `zone_id`, checked to hold every one of `names`. `property` names the property the
/// zone came from, for the error.
pub async fn zone_holding<C: DnsRecords + ?Sized>(
    cloud: &C,
    zone_id: &str,
    property: &str,
    names: &[String],
) -> Result<HostedZone> {
    let zone = cloud.hosted_zone(zone_id).await?.ok_or_else(|| {
        Error::not_found(
            format!("hosted zone {zone_id}"),
            format!("check {property}; the zone must be in this account"),
        )
    })?;
    if let Some(outside) = names.iter().find(|n| !zone.holds(n)) {
        return Err(Error::invalid(
            property,
            format!(
                "{outside} is not in zone {zone_id} ({}); give the zone that holds it",
                zone.name
            ),
        ));
    }
    Ok(zone)
}

/// Like [`zone_holding`], and the zone must be public (validation records live in public DNS).
pub async fn public_zone<C: DnsRecords + ?Sized>(
    cloud: &C,
    zone_id: &str,
    property: &str,
    names: &[String],
) -> Result<HostedZone> {
    let zone = zone_holding(cloud, zone_id, property, names).await?;
    if zone.private {
        return Err(Error::invalid(
            property,
            format!(
                "{zone_id} ({}) is a private zone; validation records must be in public DNS, so give a public zone",
                zone.name
            ),
        ));
    }
    Ok(zone)
}

/// Make every record exist with exactly these values. Returns whether anything changed.
pub async fn ensure_records<C: DnsRecords + ?Sized>(
    cloud: &C,
    zone_id: &str,
    records: &[RecordSet],
) -> Result<bool> {
    let mut changes = Vec::new();
    for want in records {
        match cloud.record(zone_id, &want.name, want.kind).await? {
            Some(have) if have.values == want.values => {}
            _ => changes.push(RecordChange::Upsert(want.clone())),
        }
    }
    if changes.is_empty() {
        return Ok(false);
    }
    cloud.change_records(zone_id, &changes).await?;
    info!(zone = zone_id, records = changes.len(), "records written");
    Ok(true)
}

/// Remove the records that still hold exactly our values; anything absent or changed by someone
/// else is left alone.
pub async fn remove_records<C: DnsRecords + ?Sized>(
    cloud: &C,
    zone_id: &str,
    records: &[RecordSet],
) -> Result<()> {
    let mut changes = Vec::new();
    for ours in records {
        if let Some(have) = cloud.record(zone_id, &ours.name, ours.kind).await? {
            if have.values == ours.values {
                changes.push(RecordChange::Delete(have));
            }
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    cloud.change_records(zone_id, &changes).await?;
    info!(zone = zone_id, records = changes.len(), "records removed");
    Ok(())
}

/// How long to back off when a zone is busy with a prior change.
pub const BUSY_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// What a pass waits for when the zone is busy.
pub fn waiting_for_zone(zone_id: &str) -> String {
    format!("Route 53 to finish a prior change in zone {zone_id}")
}

/// Whether an error means "Route 53 (or AWS) is busy; try this pass again shortly", e.g. a
/// zone's `PriorRequestNotComplete` that outlasted the SDK's own retries.
pub fn busy(e: &Error) -> bool {
    e.is_retryable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_parse() {
        assert_eq!(parse_zone_id("Z0123ABC").unwrap(), "Z0123ABC");
        assert_eq!(parse_zone_id("/hostedzone/Z9").unwrap(), "Z9");
        for bad in ["", "Z", "z123", "X123", "Z12 3", "Zabc"] {
            assert!(parse_zone_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zones_hold_their_subdomains_only() {
        let z = HostedZone {
            id: "Z1".into(),
            name: "link.example.com".into(),
            private: false,
        };
        assert!(z.holds("link.example.com"));
        assert!(z.holds("orders.link.example.com."));
        assert!(z.holds("*.orders.LINK.example.com"));
        assert!(!z.holds("example.com"));
        assert!(!z.holds("badlink.example.com"));
    }
}
