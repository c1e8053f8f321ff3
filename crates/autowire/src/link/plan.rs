//! Resolve a link: the descriptor, the checks that need no writes, the subnets, the tags.

use super::*;

/// What the link resolved and decided before touching anything.
pub(super) struct Plan {
    pub(super) link_id: String,
    pub(super) descriptor: Descriptor,
    pub(super) subnets: Vec<Candidate>,
    /// Whom the owned group admits on the service's ports.
    pub(super) sources: Vec<RuleSource>,
    pub(super) private_dns: bool,
    pub(super) tags: Vec<(String, String)>,
}

impl<C: ConsumerCloud> Link<C> {
    /// Read and check the descriptor.
    pub(super) async fn descriptor(&self, spec: &Spec, account: &str) -> Result<Descriptor> {
        let name = &spec.service_parameter;
        let not_there = || {
            Error::not_found(
                format!("descriptor {name}"),
                format!(
                    "no such parameter, or it is not shared with account {account}; for a provider in another account give the parameter's full ARN and accept its AWS RAM share"
                ),
            )
        };
        let stored = match self.cloud.read(name).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(not_there()),
            Err(e)
                if matches!(
                    e.aws_code(),
                    Some("AccessDeniedException" | "ParameterNotFound")
                ) =>
            {
                return Err(not_there())
            }
            Err(e) => return Err(e),
        };
        Descriptor::parse(name, &stored.value)
    }

    /// Resolve the descriptor, check everything that can be checked, choose subnets. No writes.
    /// The reconciler's passes (`caller`) leave a TLS-name mismatch to the pass, which logs and
    /// counts it: a provider's change never tears a working link down.
    pub(super) async fn plan(
        &self,
        req: &Request,
        spec: &Spec,
        caller: &Caller<'_>,
    ) -> Result<Plan> {
        let home = req.service_arn()?;
        let descriptor = self.descriptor(spec, &home.account).await?;
        let verified = descriptor
            .private_dns
            .as_ref()
            .is_some_and(|p| p.state == "verified");
        let private_dns = match spec.private_dns {
            PrivateDnsMode::Auto => verified,
            PrivateDnsMode::Disabled => false,
            PrivateDnsMode::Enabled if verified => true,
            PrivateDnsMode::Enabled => {
                return Err(Error::invalid(
                    "PrivateDns",
                    format!(
                        "enabled, but service {} has no verified private DNS name, so AWS would refuse the endpoint; use auto or disabled, or ask the provider to publish PrivateDnsName",
                        descriptor.key
                    ),
                ))
            }
        };
        if let Some(alias) = &spec.alias_name {
            // A certificate the provider is asked to serve for the alias covers it (§5).
            if spec.require_tls_match
                && spec.alias_certificate != AliasCertificate::Request
                && *caller == Caller::CloudFormation
                && !descriptor.tls_names.is_empty()
                && names::covering(&descriptor.tls_names, alias).is_none()
            {
                return Err(Error::invalid(
                    "AliasName",
                    format!(
                        "{alias} is not covered by the service's TLS names ({}), so HTTPS to it would fail; pick a covered name or set RequireTlsMatch to false",
                        descriptor.tls_names.join(", ")
                    ),
                ));
            }
        }
        let cidrs = self.cloud.vpc_cidrs(&spec.vpc_id).await?.ok_or_else(|| {
            Error::not_found(
                format!("VPC {}", spec.vpc_id),
                format!(
                    "check VpcId; the VPC must be in account {} region {}",
                    home.account, home.region
                ),
            )
        })?;
        let found = self.cloud.subnets(&spec.subnet_ids).await?;
        let mut candidates = Vec::new();
        for id in &spec.subnet_ids {
            let s = found.iter().find(|s| &s.id == id).ok_or_else(|| {
                Error::invalid(
                    "SubnetIds",
                    format!("{id} not found in account {}", home.account),
                )
            })?;
            if s.vpc_id != spec.vpc_id {
                return Err(Error::invalid(
                    "SubnetIds",
                    format!("{id} is in {}, not in VpcId {}", s.vpc_id, spec.vpc_id),
                ));
            }
            candidates.push(Candidate {
                subnet_id: s.id.clone(),
                az_id: s.az_id.clone(),
            });
        }
        let subnets = zones::select_subnets(&candidates, &descriptor.az_ids)?;
        if let (Some(alias), Some(zone)) = (&spec.alias_name, &spec.alias_zone_id) {
            self.given_zone(spec, zone, alias).await?;
        }
        let link_id = link_id(&req.stack_id, &req.logical_id, &spec.vpc_id);
        let tags = vec![
            (LINK_TAG.to_string(), link_id.clone()),
            (DESCRIPTOR_TAG.to_string(), spec.service_parameter.clone()),
            (DIGEST_TAG.to_string(), descriptor.digest.clone()),
            (
                "Name".to_string(),
                format!("privatelink-autowire {}", descriptor.key),
            ),
        ];
        let sources = self.sources(spec, cidrs, caller).await?;
        Ok(Plan {
            link_id,
            descriptor,
            subnets,
            sources,
            private_dns,
            tags,
        })
    }
}

impl<C: ConsumerCloud> Link<C> {
    /// Whom the owned group admits: AllowedCidrs and AllowedSecurityGroupIds as given, or the
    /// VPC's CIDRs when neither is. On a stack operation each allowed group must exist in the
    /// link's VPC (AWS would refuse the rule otherwise, after the endpoint was made).
    async fn sources(
        &self,
        spec: &Spec,
        vpc_cidrs: Vec<String>,
        caller: &Caller<'_>,
    ) -> Result<Vec<RuleSource>> {
        if *caller == Caller::CloudFormation {
            for id in &spec.allowed_group_ids {
                match self.cloud.group(id).await? {
                    Some(g) if g.vpc_id == spec.vpc_id => {}
                    Some(g) => {
                        return Err(Error::invalid(
                            "AllowedSecurityGroupIds",
                            format!(
                                "{id} is in {}, not in VpcId {}; give groups of the link's VPC",
                                g.vpc_id, spec.vpc_id
                            ),
                        ))
                    }
                    None => {
                        return Err(Error::invalid(
                            "AllowedSecurityGroupIds",
                            format!("{id} not found; give groups of VPC {}", spec.vpc_id),
                        ))
                    }
                }
            }
        }
        let cidrs = match (
            spec.allowed_cidrs.is_empty(),
            spec.allowed_group_ids.is_empty(),
        ) {
            (true, true) => vpc_cidrs,
            _ => spec.allowed_cidrs.clone(),
        };
        let groups = spec
            .allowed_group_ids
            .iter()
            .cloned()
            .map(RuleSource::Group);
        Ok(cidrs
            .into_iter()
            .map(RuleSource::Cidr)
            .chain(groups)
            .collect())
    }
}
