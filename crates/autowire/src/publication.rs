//! Provider: `Custom::ServicePublication`. Publishes the service descriptor (and the
//! provider-private acceptance policy) to SSM Parameter Store.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tracing::{info, warn};

use crate::arn::Arn;
use crate::aws::{
    Descriptors, DnsRecords, EndpointService, EndpointServices, Listeners, Owner, StoredParameter,
    Tier, Zones,
};
use crate::cfn::props::Props;
use crate::cfn::{Answer, Request, RequestKind, Resource, Step};
use crate::descriptor::{self, Acceptance, Descriptor, Port, PrivateDns};
use crate::dns;
use crate::error::{Error, Result};
use crate::names;
use crate::zones;

mod access;
mod deletion;
mod notification;
mod policy;
mod principals;
mod private_dns;

pub use policy::{policy_name, Policy};
pub use private_dns::OwnedRecord;

pub const RESOURCE_TYPE: &str = "Custom::ServicePublication";

const PROPERTIES: &[&str] = &[
    "ServiceId",
    "ServiceKey",
    "ParameterPrefix",
    "Ports",
    "PrivateDnsName",
    "PublicHostedZoneId",
    "TlsNames",
    "AllowedAccounts",
    "RejectUnlisted",
    "ManagePrincipals",
    "OnDeleteWithConnections",
    "CertificateRequests",
];

/// The validated properties of a publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub service_id: String,
    pub key: String,
    pub prefix: String,
    pub ports: Option<Vec<Port>>,
    pub tls_names: Vec<String>,
    pub allowed_accounts: Vec<String>,
    pub reject_unlisted: bool,
    /// Who may ask for a certificate for their own name, for what (contract §5).
    pub certificate_requests: Vec<crate::certreq::Grant>,
    /// Add AllowedAccounts to the service's allowed principals (and take back only those).
    pub manage_principals: bool,
    pub private_dns: Option<PrivateDnsSpec>,
    pub on_delete: OnDelete,
}

/// A private DNS name for the service and the public zone that proves its domain is ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateDnsSpec {
    pub name: String,
    pub zone_id: String,
}

/// What Delete does when consumers are still connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDelete {
    /// Answer FAILED, naming them.
    #[default]
    Fail,
    /// Reject their connections, then delete.
    Reject,
}

impl Spec {
    pub fn parse(raw: &Value) -> Result<Spec> {
        let p = Props::new(raw, PROPERTIES)?;
        p.check_unknown()?;
        let service_id = p.req_str("ServiceId")?;
        if !is_service_id(&service_id) {
            return Err(Error::invalid(
                "ServiceId",
                format!("'{service_id}' is not an endpoint service ID (vpce-svc-…)"),
            ));
        }
        let key = p.req_str("ServiceKey")?;
        descriptor::validate_service_key(&key).map_err(|e| Error::invalid("ServiceKey", e))?;
        let prefix = p
            .opt_str("ParameterPrefix")?
            .unwrap_or_else(|| descriptor::DEFAULT_PREFIX.to_string());
        descriptor::validate_prefix(&prefix).map_err(|e| Error::invalid("ParameterPrefix", e))?;
        let ports = match p.opt_list("Ports")? {
            list if list.is_empty() => None,
            list => Some(
                list.iter()
                    .map(|s| s.parse::<Port>().map_err(|e| Error::invalid("Ports", e)))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let tls_names = p.opt_list("TlsNames")?;
        for n in &tls_names {
            names::validate_dns_name(n, true).map_err(|e| Error::invalid("TlsNames", e))?;
        }
        let allowed_accounts = p.opt_list("AllowedAccounts")?;
        for a in &allowed_accounts {
            if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::invalid(
                    "AllowedAccounts",
                    format!("'{a}' is not a 12-digit AWS account ID"),
                ));
            }
        }
        let reject_unlisted = p.opt_bool("RejectUnlisted")?.unwrap_or(false);
        let certificate_requests =
            crate::certreq::grants::parse(&p.opt_list("CertificateRequests")?)?;
        let private_dns = match (p.opt_str("PrivateDnsName")?, p.opt_str("PublicHostedZoneId")?) {
            (None, None) => None,
            (Some(name), Some(zone)) => {
                names::validate_dns_name(&name, true)
                    .map_err(|e| Error::invalid("PrivateDnsName", e))?;
                let zone_id =
                    dns::parse_zone_id(&zone).map_err(|e| Error::invalid("PublicHostedZoneId", e))?;
                Some(PrivateDnsSpec {
                    name: name.trim_end_matches('.').to_ascii_lowercase(),
                    zone_id,
                })
            }
            (Some(_), None) => {
                return Err(Error::invalid(
                    "PublicHostedZoneId",
                    "is required with PrivateDnsName: the public zone where the verification TXT record goes",
                ))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "PublicHostedZoneId",
                    "is only used with PrivateDnsName; set both or neither",
                ))
            }
        };
        let on_delete = match p.opt_str("OnDeleteWithConnections")?.as_deref() {
            None | Some("fail") => OnDelete::Fail,
            Some("reject") => OnDelete::Reject,
            Some(other) => {
                return Err(Error::invalid(
                    "OnDeleteWithConnections",
                    format!("'{other}' is not one of fail, reject"),
                ))
            }
        };
        Ok(Spec {
            service_id,
            key,
            prefix,
            ports,
            tls_names,
            allowed_accounts,
            reject_unlisted,
            certificate_requests,
            manage_principals: p.opt_bool("ManagePrincipals")?.unwrap_or(true),
            private_dns,
            on_delete,
        })
    }

    pub fn descriptor_name(&self) -> String {
        format!("{}/{}", self.prefix, self.key)
    }
}

fn is_service_id(s: &str) -> bool {
    s.strip_prefix("vpce-svc-")
        .is_some_and(|h| !h.is_empty() && h.len() <= 17 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Everything the publication needs from AWS (certificates and the bus: to release consumers'
/// certificates when it goes).
pub trait ProviderCloud:
    EndpointServices
    + Zones
    + Listeners
    + Descriptors
    + DnsRecords
    + crate::certreq::provider::ProviderCloud
{
}
impl<
        T: EndpointServices
            + Zones
            + Listeners
            + Descriptors
            + DnsRecords
            + crate::certreq::provider::ProviderCloud,
    > ProviderCloud for T
{
}

pub struct Publication<C> {
    cloud: Arc<C>,
    /// The SNS topic of the services' connection notifications (the reconciler's trigger).
    topic: Option<String>,
    /// This account's event bus: consumers hear there that their certificates were released.
    bus: String,
}

impl<C: ProviderCloud> Publication<C> {
    pub fn new(cloud: Arc<C>) -> Self {
        Publication {
            cloud,
            topic: None,
            bus: String::new(),
        }
    }

    /// Where consumers hear that their certificates went with the publication.
    pub fn with_bus(mut self, bus: &str) -> Self {
        self.bus = bus.to_string();
        self
    }

    /// Keep a connection notification to `topic` on published services; `None` or empty: none.
    pub fn with_notification_topic(mut self, topic: Option<&str>) -> Self {
        self.topic = topic.filter(|t| !t.is_empty()).map(str::to_string);
        if self.topic.is_none() {
            info!("no connection notification topic: pending connections wait for the reconciler's schedule");
        }
        self
    }

    /// The endpoint service, or a NotFound that says where we looked.
    async fn service(&self, service_id: &str, home: &Arn) -> Result<EndpointService> {
        self.cloud.describe_service(service_id).await?.ok_or_else(|| {
            Error::not_found(
                format!("endpoint service {service_id}"),
                format!(
                    "no such service in account {} region {}; check ServiceId and that this stack deploys there",
                    home.account, home.region
                ),
            )
        })
    }

    /// Build the desired descriptor and policy from the observed service.
    pub async fn desired(
        &self,
        spec: &Spec,
        svc: EndpointService,
        home: &Arn,
    ) -> Result<(Descriptor, Policy)> {
        let ids_by_name = self.cloud.zone_ids_by_name().await?;
        let az_ids = zones::ids_for_names(&svc.az_names, &ids_by_name)?;
        let ports = match &spec.ports {
            Some(p) => p.clone(),
            None => {
                let ports = self.cloud.listener_ports(&svc.nlb_arns).await?;
                if ports.is_empty() {
                    return Err(Error::invalid(
                        "Ports",
                        format!(
                            "{} has no load balancer listeners to take ports from; set Ports",
                            spec.service_id
                        ),
                    ));
                }
                ports
            }
        };
        let acceptance = if !svc.acceptance_required {
            Acceptance::Auto
        } else if !spec.allowed_accounts.is_empty() || spec.reject_unlisted {
            Acceptance::Policy
        } else {
            Acceptance::Manual
        };
        let descriptor = Descriptor {
            schema: descriptor::SCHEMA,
            key: spec.key.clone(),
            service_id: svc.service_id,
            service_name: svc.service_name,
            region: home.region.clone(),
            provider_account: home.account.clone(),
            az_ids,
            ports,
            private_dns: svc.private_dns,
            tls_names: spec.tls_names.clone(),
            acceptance,
            digest: String::new(),
        }
        .sealed();
        let mut allowed = spec.allowed_accounts.clone();
        allowed.sort();
        allowed.dedup();
        let policy = Policy {
            schema: descriptor::SCHEMA,
            service_id: spec.service_id.clone(),
            allowed_accounts: allowed,
            reject_unlisted: spec.reject_unlisted,
            private_dns_record: None,
            added_principals: Vec::new(),
            connection_notification: None,
            certificate_requests: spec.certificate_requests.clone(),
        };
        Ok((descriptor, policy))
    }

    /// The parameter's current value if this resource owns it; `None` if it does not exist; a
    /// Conflict naming the owner if someone else wrote it.
    async fn owned(&self, name: &str, owner: &Owner) -> Result<Option<StoredParameter>> {
        let Some(existing) = self.cloud.read(name).await? else {
            return Ok(None);
        };
        match self.cloud.owner(name).await? {
            Some(o) if &o == owner => Ok(Some(existing)),
            Some(o) => Err(Error::Conflict(format!(
                "parameter {name} is already published by {} in stack {}; choose another ServiceKey or ParameterPrefix",
                o.logical_id, o.stack_id
            ))),
            None => Err(Error::Conflict(format!(
                "parameter {name} exists and was not written by privatelink-autowire; delete it or choose another ServiceKey"
            ))),
        }
    }

    /// Make `name` hold `value`, given what it holds now. Returns whether it was created.
    async fn ensure(
        &self,
        name: &str,
        existing: Option<&StoredParameter>,
        value: &str,
        tier: Tier,
        owner: &Owner,
    ) -> Result<bool> {
        match existing {
            None => {
                self.cloud.create(name, value, tier, owner).await?;
                info!(parameter = name, "created");
                Ok(true)
            }
            Some(e) if e.value != value => {
                self.cloud.overwrite(name, value, tier).await?;
                info!(parameter = name, "updated");
                Ok(false)
            }
            Some(_) => Ok(false),
        }
    }

    /// Publish: private DNS first (it may have to wait), then the policy, then the descriptor.
    async fn publish(
        &self,
        req: &Request,
        spec: &Spec,
        progress: &mut private_dns::Progress,
    ) -> Result<Step> {
        let home = req.service_arn()?;
        let owner = owner_of(req);
        let name = spec.descriptor_name();
        let policy_param = policy_name(&name);
        // Refuse someone else's parameters before changing anything.
        let existing_policy = self.owned(&policy_param, &owner).await?;
        let existing_descriptor = self.owned(&name, &owner).await?;
        let prior = existing_policy
            .as_ref()
            .and_then(|p| serde_json::from_str::<Policy>(&p.value).ok());
        let prior_record = prior.as_ref().and_then(|p| p.private_dns_record.clone());
        let mut svc = self.service(&spec.service_id, &home).await?;
        let record = match &spec.private_dns {
            Some(want) => {
                match self
                    .converge_private_dns(&mut svc, want, prior_record.as_ref(), progress)
                    .await?
                {
                    private_dns::Converged::Verified(record) => Some(record),
                    private_dns::Converged::Wait { after, waiting_for } => {
                        return Ok(Step::Wait {
                            progress: serde_json::to_value(&*progress).unwrap_or_default(),
                            after,
                            waiting_for,
                        })
                    }
                }
            }
            None => {
                if let Some(prior) = &prior_record {
                    match self.release_private_dns(&mut svc, prior).await {
                        Ok(()) => {}
                        Err(e) if dns::busy(&e) => {
                            return Ok(Step::Wait {
                                progress: serde_json::to_value(&*progress).unwrap_or_default(),
                                after: dns::BUSY_POLL,
                                waiting_for: dns::waiting_for_zone(&prior.zone_id),
                            })
                        }
                        Err(e) => return Err(e),
                    }
                }
                None
            }
        };
        let (descriptor, mut policy) = self.desired(spec, svc, &home).await?;
        policy.private_dns_record = record;
        let (partition, acceptance) = (&home.partition, descriptor.acceptance);
        // A Create that finds its own policy but no descriptor is a retry of one that did not
        // finish: what it recorded is this Create's to undo if it fails.
        let fresh = existing_policy.is_none()
            || (req.kind == RequestKind::Create && existing_descriptor.is_none());
        let mut record = access::PolicyRecord {
            name: &policy_param,
            owner: &owner,
            stored: existing_policy,
        };
        let written = self
            .converge_access(
                spec,
                partition,
                acceptance,
                prior.as_ref(),
                &mut policy,
                &mut record,
            )
            .await;
        let written = match written {
            Ok(()) => self.record_policy(&mut record, &policy).await,
            Err(e) => Err(e),
        };
        let written = match written {
            Ok(()) => {
                let value = descriptor.to_canonical_json();
                let existing = existing_descriptor.as_ref();
                self.ensure(&name, existing, &value, Tier::Advanced, &owner)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            if fresh && record.stored.is_some() {
                self.undo_create(&policy_param, &policy).await;
            } else if fresh {
                self.release_access_quietly(&policy).await;
            }
            return Err(e);
        }
        let arn =
            Arn::ssm_parameter(&home.partition, &home.region, &home.account, &name).to_string();
        let data = BTreeMap::from([
            ("ServiceName".to_string(), descriptor.service_name.clone()),
            ("AzIds".to_string(), descriptor.az_ids.join(",")),
            ("ParameterName".to_string(), name),
            ("ParameterArn".to_string(), arn.clone()),
            (
                "PrivateDnsState".to_string(),
                descriptor
                    .private_dns
                    .as_ref()
                    .map(|d: &PrivateDns| d.state.clone())
                    .unwrap_or_else(|| "none".into()),
            ),
            ("Digest".to_string(), descriptor.digest.clone()),
        ]);
        Ok(Step::Done(Answer {
            physical_id: arn,
            data,
            no_echo: false,
        }))
    }
}

fn owner_of(req: &Request) -> Owner {
    Owner {
        stack_id: req.stack_id.clone(),
        logical_id: req.logical_id.clone(),
    }
}

#[async_trait]
impl<C: ProviderCloud + 'static> Resource for Publication<C> {
    fn resource_type(&self) -> &'static str {
        RESOURCE_TYPE
    }

    async fn apply(&self, req: &Request, progress: Option<&Value>) -> Result<Step> {
        let spec = Spec::parse(&req.props)?;
        let mut progress = private_dns::Progress::from_value(&spec.service_id, progress)?;
        let result = self.publish(req, &spec, &mut progress).await;
        if result.is_err() {
            // A failed Create is never retried and a failed Update is rolled back: undo what
            // this operation changed so nothing stray is left.
            self.undo_private_dns(&progress).await;
        }
        result
    }

    async fn cleanup(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        self.unpublish(req).await
    }

    async fn abandon(&self, req: &Request, progress: &Value) {
        let service_id = Spec::parse(&req.props)
            .map(|s| s.service_id)
            .unwrap_or_default();
        match private_dns::Progress::from_value(&service_id, Some(progress)) {
            Ok(p) => self.undo_private_dns(&p).await,
            Err(e) => warn!(error = %e, "unreadable progress; nothing undone"),
        }
    }
}

#[cfg(test)]
mod tests;
