//! Provider: `Custom::ServiceCertificate`. A DNS-validated ACM certificate for the names
//! consumers use, served on the provider's NLB TLS listeners.
//!
//! Create/Update: find or request the certificate, write its validation CNAMEs into the zone,
//! wait for `ISSUED`, then put it on the listeners (the default certificate when a listener has
//! none, otherwise an SNI certificate). A name change is a new certificate (a new physical ID):
//! it replaces the old one on the listeners, and CloudFormation's Delete of the old physical ID
//! then removes the old certificate. Delete: detach, remove only the validation records no other
//! live certificate needs, delete.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::arn::Arn;
use crate::aws::{Certificate, Certificates, DnsRecords, Listener, Listeners, Owner, RecordSet};
use crate::cfn::props::Props;
use crate::cfn::{Answer, Request, Resource, Step};
use crate::dns;
use crate::error::{Error, Result};
use crate::names;

pub const RESOURCE_TYPE: &str = "Custom::ServiceCertificate";

const PROPERTIES: &[&str] = &[
    "DomainName",
    "SubjectAlternativeNames",
    "HostedZoneId",
    "ListenerArns",
];

/// Between looks at a certificate waiting for validation.
const ISSUE_POLL: Duration = Duration::from_secs(10);
/// ACM publishes the validation records a few seconds after the request.
const RECORDS_POLL: Duration = Duration::from_secs(3);
/// ELB still releasing a certificate (or, on Delete, a busy zone).
const BUSY_POLL: Duration = Duration::from_secs(5);

/// The validated properties of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub domain_name: String,
    /// Without the domain name, deduplicated, in the order given.
    pub alternative_names: Vec<String>,
    pub zone_id: String,
    pub listener_arns: Vec<String>,
}

impl Spec {
    pub fn parse(raw: &Value) -> Result<Spec> {
        let p = Props::new(raw, PROPERTIES)?;
        p.check_unknown()?;
        let domain_name = normalise(&p.req_str("DomainName")?);
        names::validate_dns_name(&domain_name, true)
            .map_err(|e| Error::invalid("DomainName", e))?;
        let mut alternative_names = Vec::new();
        for n in p.opt_list("SubjectAlternativeNames")? {
            let n = normalise(&n);
            names::validate_dns_name(&n, true)
                .map_err(|e| Error::invalid("SubjectAlternativeNames", e))?;
            if n != domain_name && !alternative_names.contains(&n) {
                alternative_names.push(n);
            }
        }
        let zone_id = dns::parse_zone_id(&p.req_str("HostedZoneId")?)
            .map_err(|e| Error::invalid("HostedZoneId", e))?;
        let listener_arns = p.opt_list("ListenerArns")?;
        for l in &listener_arns {
            let ok = Arn::parse(l).is_ok_and(|a| {
                a.service == "elasticloadbalancing" && a.resource.starts_with("listener/")
            });
            if !ok {
                return Err(Error::invalid(
                    "ListenerArns",
                    format!("'{l}' is not a load balancer listener ARN"),
                ));
            }
        }
        Ok(Spec {
            domain_name,
            alternative_names,
            zone_id,
            listener_arns,
        })
    }

    /// Every name on the certificate, the domain name first.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.domain_name.clone())
            .chain(self.alternative_names.iter().cloned())
            .collect()
    }
}

fn normalise(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn name_set(names: &[String]) -> BTreeSet<String> {
    names.iter().map(|n| normalise(n)).collect()
}

fn is_certificate_arn(s: &str) -> bool {
    Arn::parse(s).is_ok_and(|a| a.service == "acm" && a.resource.starts_with("certificate/"))
}

/// What this operation has done, carried across passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    certificate_arn: Option<String>,
    /// The certificate is new in this operation: a failure deletes it again.
    #[serde(default)]
    fresh: bool,
}

/// A certificate this resource already has: whether this operation made it, and what it looked
/// like when found (when it was described to be found).
struct Found {
    arn: String,
    fresh: bool,
    described: Option<Certificate>,
}

/// Everything the certificate needs from AWS.
pub trait CertificateCloud: Certificates + DnsRecords + Listeners {}
impl<T: Certificates + DnsRecords + Listeners> CertificateCloud for T {}

pub struct ServiceCertificate<C> {
    cloud: Arc<C>,
}

fn wait(progress: &Progress, after: Duration, waiting_for: String) -> Result<Step> {
    Ok(Step::Wait {
        progress: serde_json::to_value(progress).unwrap_or_default(),
        after,
        waiting_for,
    })
}

/// Why a certificate that will never be issued failed, and what to do.
fn not_issued(cert: &Certificate) -> Error {
    let hint = match (cert.status.as_str(), cert.failure_reason.as_deref()) {
        (_, Some("CAA_ERROR")) => {
            "a CAA record forbids Amazon from issuing for this domain; allow amazon.com in the domain's CAA records, then deploy again"
        }
        (_, Some("DOMAIN_NOT_ALLOWED")) | (_, Some("INVALID_PUBLIC_DOMAIN")) => {
            "ACM will not issue for this name; check DomainName and SubjectAlternativeNames"
        }
        ("VALIDATION_TIMED_OUT", _) => {
            "the validation records were not seen in public DNS in time; check the zone is delegated from its parent"
        }
        _ => "see the certificate in the ACM console, fix the cause, then deploy again",
    };
    Error::failed(
        format!(
            "certificate {} is {}{}",
            cert.arn,
            cert.status,
            cert.failure_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        hint,
    )
}

impl<C: CertificateCloud> ServiceCertificate<C> {
    pub fn new(cloud: Arc<C>) -> Self {
        ServiceCertificate { cloud }
    }

    /// The listeners, each checked to exist and to take certificates.
    async fn listeners(&self, arns: &[String]) -> Result<Vec<Listener>> {
        let mut out = Vec::new();
        for arn in arns {
            let l = self.cloud.listener(arn).await?.ok_or_else(|| {
                Error::not_found(
                    format!("listener {arn}"),
                    "check ListenerArns; the listener must be in this account and region",
                )
            })?;
            if !l.takes_certificates() {
                return Err(Error::invalid(
                    "ListenerArns",
                    format!(
                        "{arn} is a {} listener; certificates go on TLS listeners",
                        l.protocol
                    ),
                ));
            }
            out.push(l);
        }
        Ok(out)
    }

    /// The certificate this resource already has for these names: the current one on Update, or
    /// one an earlier attempt of this operation requested. `(arn, fresh)`.
    async fn existing(&self, req: &Request, spec: &Spec, owner: &Owner) -> Result<Option<Found>> {
        let want = name_set(&spec.names());
        if let Some(current) = req.physical_id.as_deref().filter(|p| is_certificate_arn(p)) {
            if let Some(c) = self.cloud.certificate(current).await? {
                if name_set(&c.names) == want && c.status != "FAILED" {
                    return Ok(Some(Found {
                        arn: current.to_string(),
                        fresh: false,
                        described: Some(c),
                    }));
                }
            }
        }
        for s in self.cloud.live_certificates().await? {
            if name_set(&s.names) == want
                && req.physical_id.as_deref() != Some(s.arn.as_str())
                && self.cloud.certificate_owner(&s.arn).await?.as_ref() == Some(owner)
            {
                return Ok(Some(Found {
                    arn: s.arn,
                    fresh: true,
                    described: None,
                }));
            }
        }
        Ok(None)
    }

    async fn request(&self, req: &Request, spec: &Spec, owner: &Owner) -> Result<String> {
        // Same stack, resource, request and names: the same certificate, even if retried.
        let mut h = Sha256::new();
        for part in [&req.stack_id, &req.logical_id, &req.request_id] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for n in spec.names() {
            h.update(n.as_bytes());
            h.update([0]);
        }
        let token = &hex::encode(h.finalize())[..32];
        let arn = self
            .cloud
            .request_certificate(&spec.domain_name, &spec.alternative_names, token, owner)
            .await?;
        info!(certificate = %arn, names = ?spec.names(), "certificate requested");
        Ok(arn)
    }

    async fn converge(&self, req: &Request, spec: &Spec, progress: &mut Progress) -> Result<Step> {
        dns::public_zone(&*self.cloud, &spec.zone_id, "HostedZoneId", &spec.names()).await?;
        let listeners = self.listeners(&spec.listener_arns).await?;
        let owner = Owner {
            stack_id: req.stack_id.clone(),
            logical_id: req.logical_id.clone(),
        };
        let (arn, described) = match &progress.certificate_arn {
            Some(a) => (a.clone(), None),
            None => {
                let found = match self.existing(req, spec, &owner).await? {
                    Some(found) => found,
                    None => Found {
                        arn: self.request(req, spec, &owner).await?,
                        fresh: true,
                        described: None,
                    },
                };
                progress.certificate_arn = Some(found.arn.clone());
                progress.fresh = found.fresh;
                (found.arn, found.described)
            }
        };
        // Described already when it was found as the current certificate: no second look.
        let cert = match described {
            Some(c) => Some(c),
            None => self.cloud.certificate(&arn).await?,
        };
        let cert = cert.ok_or_else(|| {
            Error::not_found(
                format!("certificate {arn}"),
                "it was deleted while being issued; check who deletes it, then deploy again",
            )
        })?;
        match cert.status.as_str() {
            "ISSUED" => {}
            "PENDING_VALIDATION" => {
                if !cert.validation_complete {
                    return wait(
                        progress,
                        RECORDS_POLL,
                        format!("ACM to publish the validation records of {arn}"),
                    );
                }
                match dns::ensure_records(&*self.cloud, &spec.zone_id, &cert.validation_records)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if dns::busy(&e) => {
                        return wait(
                            progress,
                            dns::BUSY_POLL,
                            dns::waiting_for_zone(&spec.zone_id),
                        )
                    }
                    Err(e) => return Err(e),
                }
                return wait(
                    progress,
                    ISSUE_POLL,
                    format!("certificate {arn} to be issued (DNS validation)"),
                );
            }
            _ => return Err(not_issued(&cert)),
        }
        self.serve(req, &arn, &listeners).await?;
        Ok(Step::Done(Answer {
            physical_id: arn.clone(),
            data: BTreeMap::from([("CertificateArn".to_string(), arn)]),
            no_echo: false,
        }))
    }

    /// Put `arn` on the listeners; on Update, take the previous certificate off them (and off
    /// listeners no longer listed).
    async fn serve(&self, req: &Request, arn: &str, listeners: &[Listener]) -> Result<()> {
        let previous = req
            .physical_id
            .as_deref()
            .filter(|p| is_certificate_arn(p) && *p != arn);
        for l in listeners {
            if l.default_certificate.is_none() {
                self.cloud.set_default_certificate(&l.arn, arn).await?;
                info!(listener = %l.arn, certificate = arn, "default certificate set");
            } else if previous.is_some() && l.default_certificate.as_deref() == previous {
                // Swap in place: the new certificate takes the old one's default slot.
                self.cloud.set_default_certificate(&l.arn, arn).await?;
                info!(listener = %l.arn, certificate = arn, "default certificate replaced");
                if l.extra_certificates.iter().any(|c| c == arn) {
                    self.cloud.remove_certificate(&l.arn, arn).await?;
                }
            } else if !l.serves(arn) {
                self.cloud.add_certificate(&l.arn, arn).await?;
                info!(listener = %l.arn, certificate = arn, "SNI certificate added");
            }
            if let Some(old) = previous {
                if l.extra_certificates.iter().any(|c| c == old) {
                    self.cloud.remove_certificate(&l.arn, old).await?;
                    info!(listener = %l.arn, certificate = old, "previous certificate removed");
                }
            }
        }
        // Listeners dropped from ListenerArns on Update stop serving this resource's certificate.
        let old_listeners = req
            .old_props
            .as_ref()
            .and_then(|p| Spec::parse(p).ok())
            .map(|s| s.listener_arns)
            .unwrap_or_default();
        for gone in old_listeners
            .iter()
            .filter(|a| !listeners.iter().any(|l| &l.arn == *a))
        {
            for cert in [Some(arn), previous].into_iter().flatten() {
                self.detach(gone, cert).await?;
            }
        }
        Ok(())
    }

    /// Take `cert` off `listener` if it serves it as an SNI certificate. A default certificate
    /// can't be removed (a TLS listener always has one): that is an error naming the fix.
    async fn detach(&self, listener_arn: &str, cert: &str) -> Result<()> {
        let Some(l) = self.cloud.listener(listener_arn).await? else {
            return Ok(());
        };
        if l.default_certificate.as_deref() == Some(cert) {
            return Err(Error::Conflict(format!(
                "certificate {cert} is the default certificate of listener {listener_arn}; give the listener another default certificate (or delete it) first"
            )));
        }
        if l.extra_certificates.iter().any(|c| c == cert) {
            self.cloud.remove_certificate(listener_arn, cert).await?;
            info!(
                listener = listener_arn,
                certificate = cert,
                "certificate detached"
            );
        }
        Ok(())
    }

    /// The validation records of `cert` that no other live certificate relies on (ACM reuses
    /// one record per domain and account, so two certificates can share it).
    async fn records_only_ours(&self, cert: &Certificate) -> Result<Vec<RecordSet>> {
        let bases: BTreeSet<String> = cert.names.iter().map(|n| names::base(n)).collect();
        let mut shared = BTreeSet::new();
        for other in self.cloud.live_certificates().await? {
            if other.arn == cert.arn || !other.names.iter().any(|n| bases.contains(&names::base(n)))
            {
                continue;
            }
            if let Some(o) = self.cloud.certificate(&other.arn).await? {
                shared.extend(o.validation_records.into_iter().map(|r| r.name));
            }
        }
        Ok(cert
            .validation_records
            .iter()
            .filter(|r| !shared.contains(&r.name))
            .cloned()
            .collect())
    }

    /// Detach, remove our validation records, delete. Missing pieces are success.
    async fn remove(
        &self,
        arn: &str,
        zone_id: Option<&str>,
        listener_arns: &[String],
    ) -> Result<Option<String>> {
        let Some(cert) = self.cloud.certificate(arn).await? else {
            info!(certificate = arn, "already gone");
            return Ok(None);
        };
        let mut listeners: Vec<String> = listener_arns.to_vec();
        for lb in &cert.in_use_by {
            for l in self.cloud.listeners_of(lb).await? {
                if !listeners.contains(&l) {
                    listeners.push(l);
                }
            }
        }
        for l in &listeners {
            self.detach(l, arn).await?;
        }
        if let Some(zone) = zone_id {
            let records = self.records_only_ours(&cert).await?;
            match dns::remove_records(&*self.cloud, zone, &records).await {
                Ok(()) => {}
                Err(e) if dns::busy(&e) => return Ok(Some(dns::waiting_for_zone(zone))),
                Err(e) => return Err(e),
            }
        }
        match self.cloud.delete_certificate(arn).await {
            Ok(()) => {
                info!(certificate = arn, "deleted");
                Ok(None)
            }
            // ELB releases a detached certificate a little later than it says.
            Err(e) if e.aws_code() == Some("ResourceInUseException") || e.is_retryable() => {
                Ok(Some(format!(
                    "certificate {arn} to be released by its load balancers"
                )))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl<C: CertificateCloud + 'static> Resource for ServiceCertificate<C> {
    fn resource_type(&self) -> &'static str {
        RESOURCE_TYPE
    }

    async fn apply(&self, req: &Request, progress: Option<&Value>) -> Result<Step> {
        let spec = Spec::parse(&req.props)?;
        let mut progress: Progress = match progress {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::Unsupported(format!("unreadable continuation progress: {e}"))
            })?,
            None => Progress::default(),
        };
        let result = self.converge(req, &spec, &mut progress).await;
        if result.is_err() {
            self.discard(&spec, &progress).await;
        }
        result
    }

    async fn cleanup(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        let physical_id = req.physical_id.clone().unwrap_or_default();
        if is_certificate_arn(&physical_id) {
            // Read leniently: a Delete must not fail over properties it can do without.
            let spec = Spec::parse(&req.props).ok();
            let zone = spec.as_ref().map(|s| s.zone_id.as_str());
            let listeners = spec
                .as_ref()
                .map(|s| s.listener_arns.clone())
                .unwrap_or_default();
            if let Some(waiting_for) = self.remove(&physical_id, zone, &listeners).await? {
                return Ok(Step::Wait {
                    progress: Value::Null,
                    after: BUSY_POLL,
                    waiting_for,
                });
            }
        } else {
            warn!(physical_id = %physical_id, "not a certificate ARN; nothing of ours to delete");
        }
        Ok(Step::Done(Answer {
            physical_id,
            ..Answer::default()
        }))
    }

    async fn abandon(&self, req: &Request, progress: &Value) {
        if let (Ok(spec), Ok(p)) = (
            Spec::parse(&req.props),
            serde_json::from_value::<Progress>(progress.clone()),
        ) {
            self.discard(&spec, &p).await;
        }
    }
}

impl<C: CertificateCloud> ServiceCertificate<C> {
    /// Remove a certificate this operation requested and did not finish. Best effort.
    async fn discard(&self, spec: &Spec, progress: &Progress) {
        let Some(arn) = progress
            .certificate_arn
            .as_deref()
            .filter(|_| progress.fresh)
        else {
            return;
        };
        match self
            .remove(arn, Some(&spec.zone_id), &spec.listener_arns)
            .await
        {
            Ok(None) => info!(certificate = arn, "unfinished certificate removed"),
            Ok(Some(w)) => {
                warn!(certificate = arn, waiting_for = %w, "unfinished certificate not removed yet")
            }
            Err(e) => {
                warn!(certificate = arn, error = %e, "could not remove unfinished certificate")
            }
        }
    }
}

#[cfg(test)]
mod tests;
