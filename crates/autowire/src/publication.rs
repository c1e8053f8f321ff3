//! Provider: `Custom::ServicePublication`. Publishes the service descriptor (and the
//! provider-private acceptance policy) to SSM Parameter Store.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::arn::Arn;
use crate::aws::{Descriptors, EndpointServices, Listeners, Owner, Tier, Zones};
use crate::cfn::props::Props;
use crate::cfn::{Answer, Request, Resource, Step};
use crate::descriptor::{self, Acceptance, Descriptor, Port};
use crate::error::{Error, Result};
use crate::names;
use crate::zones;

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
    "OnDeleteWithConnections",
];

/// Properties this release does not act on yet: refused clearly rather than silently ignored.
const NOT_YET: &[&str] = &[
    "PrivateDnsName",
    "PublicHostedZoneId",
    "OnDeleteWithConnections",
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
}

impl Spec {
    pub fn parse(raw: &Value) -> Result<Spec> {
        let p = Props::new(raw, PROPERTIES)?;
        p.check_unknown()?;
        for name in NOT_YET {
            if p.opt_str(name)?.is_some() {
                return Err(Error::Unsupported(format!(
                    "{name} is not supported by this release of privatelink-autowire; remove it"
                )));
            }
        }
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
        Ok(Spec {
            service_id,
            key,
            prefix,
            ports,
            tls_names,
            allowed_accounts,
            reject_unlisted,
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

/// The policy parameter's name for a descriptor: `{prefix}/{key}/policy`.
pub fn policy_name(descriptor_name: &str) -> String {
    format!("{descriptor_name}/policy")
}

/// The provider-private acceptance policy, read by the reconciler.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub schema: u32,
    pub service_id: String,
    pub allowed_accounts: Vec<String>,
    pub reject_unlisted: bool,
}

impl Policy {
    pub fn to_canonical_json(&self) -> String {
        descriptor::canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

/// Everything the publication needs from AWS.
pub trait ProviderCloud: EndpointServices + Zones + Listeners + Descriptors {}
impl<T: EndpointServices + Zones + Listeners + Descriptors> ProviderCloud for T {}

pub struct Publication<C> {
    cloud: Arc<C>,
}

impl<C: ProviderCloud> Publication<C> {
    pub fn new(cloud: Arc<C>) -> Self {
        Publication { cloud }
    }

    /// Observe the endpoint service and build the desired descriptor and policy.
    pub async fn desired(&self, spec: &Spec, home: &Arn) -> Result<(Descriptor, Policy)> {
        let svc = self
            .cloud
            .describe_service(&spec.service_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    format!("endpoint service {}", spec.service_id),
                    format!(
                        "no such service in account {} region {}; check ServiceId and that this stack deploys there",
                        home.account, home.region
                    ),
                )
            })?;
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
        };
        Ok((descriptor, policy))
    }

    /// Make `name` hold `value`, owned by `owner`. Returns whether it was created by this call.
    async fn ensure(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<bool> {
        match self.cloud.read(name).await? {
            None => {
                self.cloud.create(name, value, tier, owner).await?;
                info!(parameter = name, "created");
                Ok(true)
            }
            Some(existing) => {
                self.check_owner(name, owner).await?;
                if existing.value != value {
                    self.cloud.overwrite(name, value, tier).await?;
                    info!(parameter = name, "updated");
                }
                Ok(false)
            }
        }
    }

    async fn check_owner(&self, name: &str, owner: &Owner) -> Result<()> {
        match self.cloud.owner(name).await? {
            Some(o) if &o == owner => Ok(()),
            Some(o) => Err(Error::Conflict(format!(
                "parameter {name} is already published by {} in stack {}; choose another ServiceKey or ParameterPrefix",
                o.logical_id, o.stack_id
            ))),
            None => Err(Error::Conflict(format!(
                "parameter {name} exists and was not written by privatelink-autowire; delete it or choose another ServiceKey"
            ))),
        }
    }

    /// Delete `name` if this resource owns it; anything else is left alone.
    async fn remove_owned(&self, name: &str, owner: &Owner) -> Result<()> {
        if self.cloud.read(name).await?.is_none() {
            return Ok(());
        }
        match self.cloud.owner(name).await? {
            Some(o) if &o == owner => {
                self.cloud.delete(name).await?;
                info!(parameter = name, "deleted");
            }
            other => warn!(parameter = name, owner = ?other, "not ours; left alone"),
        }
        Ok(())
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

    async fn apply(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        let spec = Spec::parse(&req.props)?;
        let home = req.service_arn()?;
        let (descriptor, policy) = self.desired(&spec, &home).await?;
        let owner = owner_of(req);
        let name = spec.descriptor_name();
        let policy_param = policy_name(&name);
        let policy_created = self
            .ensure(
                &policy_param,
                &policy.to_canonical_json(),
                Tier::Standard,
                &owner,
            )
            .await?;
        if let Err(e) = self
            .ensure(
                &name,
                &descriptor.to_canonical_json(),
                Tier::Advanced,
                &owner,
            )
            .await
        {
            if policy_created {
                // Leave nothing behind from a publication that did not happen.
                if let Err(undo) = self.cloud.delete(&policy_param).await {
                    warn!(parameter = %policy_param, error = %undo, "could not undo policy write");
                }
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
                    .map(|d| d.state.clone())
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

    async fn cleanup(&self, req: &Request, _progress: Option<&Value>) -> Result<Step> {
        let physical_id = req.physical_id.clone().unwrap_or_default();
        let done = Step::Done(Answer {
            physical_id: physical_id.clone(),
            ..Answer::default()
        });
        let Some(name) = Arn::parse(&physical_id)
            .ok()
            .and_then(|a| a.parameter_name())
        else {
            warn!(physical_id = %physical_id, "not a parameter ARN; nothing of ours to delete");
            return Ok(done);
        };
        let owner = owner_of(req);
        // The descriptor goes first so consumers stop seeing the service before its policy goes.
        self.remove_owned(&name, &owner).await?;
        self.remove_owned(&policy_name(&name), &owner).await?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests;
