//! The service's private DNS name: set it, prove the domain with a TXT record in the public zone,
//! wait for EC2 to verify it, and take it all back on failure, on a name change and on Delete.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::{PrivateDnsSpec, ProviderCloud, Publication};
use crate::aws::{EndpointService, RecordSet};
use crate::descriptor::PrivateDns;
use crate::dns;
use crate::error::{Error, Result};
use crate::names;

/// How long to wait between looks at a verification in progress.
const VERIFY_POLL: Duration = Duration::from_secs(10);
/// How long to wait for EC2 to produce the verification record after a name is set.
const PREPARE_POLL: Duration = Duration::from_secs(3);

/// A verification TXT record written by a publication, and what it proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedRecord {
    pub zone_id: String,
    pub private_dns_name: String,
    pub name: String,
    /// As Route 53 stores it, quotes included.
    pub value: String,
}

impl OwnedRecord {
    pub(super) fn record(&self) -> RecordSet {
        RecordSet {
            name: self.name.clone(),
            kind: crate::aws::RecordType::Txt,
            ttl: crate::aws::RECORD_TTL,
            values: vec![self.value.clone()],
        }
    }
}

/// What this Create/Update changed so far, carried across passes and invocations so a failure
/// (or running out of time) can undo exactly that.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub service_id: String,
    /// This operation asked EC2 to verify.
    #[serde(default)]
    pub started: bool,
    /// This operation changed the service's name; `previous` is what to put back.
    #[serde(default)]
    pub renamed: bool,
    #[serde(default)]
    pub previous: Option<String>,
    /// The TXT record this operation wrote.
    #[serde(default)]
    pub wrote: Option<OwnedRecord>,
}

impl Progress {
    pub fn from_value(service_id: &str, value: Option<&Value>) -> Result<Progress> {
        match value {
            None => Ok(Progress {
                service_id: service_id.to_string(),
                ..Progress::default()
            }),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::Unsupported(format!("unreadable continuation progress: {e}"))),
        }
    }
}

pub enum Converged {
    Verified(OwnedRecord),
    Wait {
        after: Duration,
        waiting_for: String,
    },
}

fn wait(after: Duration, waiting_for: String) -> Result<Converged> {
    Ok(Converged::Wait { after, waiting_for })
}

impl<C: ProviderCloud> Publication<C> {
    /// Drive the service towards `want`, verified. `svc` is refreshed when it changes.
    pub(super) async fn converge_private_dns(
        &self,
        svc: &mut EndpointService,
        want: &PrivateDnsSpec,
        prior: Option<&OwnedRecord>,
        progress: &mut Progress,
    ) -> Result<Converged> {
        let zone = dns::public_zone(
            &*self.cloud,
            &want.zone_id,
            "PublicHostedZoneId",
            std::slice::from_ref(&want.name),
        )
        .await?;
        let current = svc.private_dns.as_ref().map(|p| p.name.clone());
        if current.as_deref() != Some(want.name.as_str()) {
            if !progress.renamed {
                progress.renamed = true;
                progress.previous = current;
            }
            self.cloud
                .set_private_dns_name(&svc.service_id, Some(&want.name))
                .await?;
            info!(service = %svc.service_id, name = %want.name, "private DNS name set");
            *svc = self
                .cloud
                .describe_service(&svc.service_id)
                .await?
                .ok_or_else(|| {
                    Error::not_found(
                        format!("endpoint service {}", svc.service_id),
                        "it was deleted while being published; check who deletes it",
                    )
                })?;
        }
        let Some(v) = svc.verification.clone() else {
            return wait(
                PREPARE_POLL,
                format!("EC2 to prepare the verification record of {}", want.name),
            );
        };
        let owned = OwnedRecord {
            zone_id: zone.id.clone(),
            private_dns_name: want.name.clone(),
            name: format!(
                "{}.{}",
                v.name.trim_end_matches('.'),
                names::base(&want.name)
            )
            .to_ascii_lowercase(),
            value: format!("\"{}\"", v.value),
        };
        let state = svc
            .private_dns
            .as_ref()
            .map(|p| p.state.clone())
            .unwrap_or_default();
        match state.as_str() {
            "verified" => {
                if let Some(old) = prior.filter(|p| *p != &owned) {
                    // The name changed (or moved zones): the old proof is moot now.
                    if let Err(e) = dns::remove_records(&*self.cloud, &old.zone_id, &[old.record()]).await {
                        if dns::busy(&e) {
                            return wait(dns::BUSY_POLL, dns::waiting_for_zone(&old.zone_id));
                        }
                        return Err(e);
                    }
                }
                svc.private_dns = Some(PrivateDns {
                    name: want.name.clone(),
                    state,
                });
                Ok(Converged::Verified(owned))
            }
            "failed" if progress.started => Err(Error::failed(
                format!("private DNS name {} failed verification", want.name),
                format!(
                    "check that TXT {} resolves in public DNS (zone {} must be delegated from its parent), then deploy again",
                    owned.name, zone.id
                ),
            )),
            _ => {
                // Not verified yet (or failed before this operation): publish the proof, then ask.
                match dns::ensure_records(&*self.cloud, &zone.id, &[owned.record()]).await {
                    Ok(true) => progress.wrote = Some(owned.clone()),
                    Ok(false) => {}
                    Err(e) if dns::busy(&e) => {
                        return wait(dns::BUSY_POLL, dns::waiting_for_zone(&zone.id))
                    }
                    Err(e) => return Err(e),
                }
                if !progress.started {
                    self.cloud
                        .start_private_dns_verification(&svc.service_id)
                        .await?;
                    progress.started = true;
                    info!(service = %svc.service_id, record = %owned.name, "verification started");
                }
                wait(
                    VERIFY_POLL,
                    format!("private DNS name {} to be verified", want.name),
                )
            }
        }
    }

    /// Take back a name this publication set earlier: its TXT record, and the name itself while
    /// the service still carries it.
    pub(super) async fn release_private_dns(
        &self,
        svc: &mut EndpointService,
        prior: &OwnedRecord,
    ) -> Result<()> {
        dns::remove_records(&*self.cloud, &prior.zone_id, &[prior.record()]).await?;
        if svc.private_dns.as_ref().map(|p| p.name.as_str())
            == Some(prior.private_dns_name.as_str())
        {
            self.cloud
                .set_private_dns_name(&svc.service_id, None)
                .await?;
            info!(service = %svc.service_id, name = %prior.private_dns_name, "private DNS name removed");
            svc.private_dns = None;
            svc.verification = None;
        }
        Ok(())
    }

    /// Undo what an unfinished operation did to private DNS. Best effort.
    pub(super) async fn undo_private_dns(&self, progress: &Progress) {
        if let Some(r) = &progress.wrote {
            match dns::remove_records(&*self.cloud, &r.zone_id, &[r.record()]).await {
                Ok(()) => info!(record = %r.name, "verification record removed"),
                Err(e) => {
                    warn!(record = %r.name, error = %e, "could not remove verification record")
                }
            }
        }
        if progress.renamed {
            if let Err(e) = self
                .cloud
                .set_private_dns_name(&progress.service_id, progress.previous.as_deref())
                .await
            {
                warn!(service = %progress.service_id, error = %e, "could not restore the private DNS name");
            }
        }
    }
}
