//! EC2 adapter for the consumer side: VPCs, subnets, interface endpoints, security groups.

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair,
    VpcEndpointType,
};

use super::{code_of, sdk_error, Sdk};
use crate::aws::{
    EgressRule, Endpoint, EndpointChange, Endpoints, IngressRule, Networks, NewEndpoint,
    RuleSource, SecurityGroup, SecurityGroups, Subnet,
};
use crate::error::{Error, Result};

fn tag_spec(kind: ResourceType, tags: &[(String, String)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn tag_key_filter(key: &str) -> Filter {
    Filter::builder().name("tag-key").values(key).build()
}

impl Sdk {
    /// Every endpoint `filter` admits, all pages, deleted ones left out.
    async fn endpoints_where(&self, filter: Filter) -> Result<Vec<Endpoint>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .ec2
                .describe_vpc_endpoints()
                .filters(filter.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error("ec2:DescribeVpcEndpoints", e))?;
            out.extend(
                page.vpc_endpoints()
                    .iter()
                    .map(endpoint_of)
                    .filter(|e| e.state != "deleted"),
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Every security group `filter` admits, all pages, with the value of tag `key`.
    async fn groups_where(
        &self,
        filter: Filter,
        key: &str,
    ) -> Result<Vec<(String, SecurityGroup)>> {
        let mut pages = self
            .ec2
            .describe_security_groups()
            .filters(filter)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ec2:DescribeSecurityGroups", e))?;
            for g in page.security_groups() {
                let value = g
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .unwrap_or_default();
                out.push((value.to_string(), group_of(g)));
            }
        }
        Ok(out)
    }
}

fn group_of(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroup {
    let mut rules = Vec::new();
    for p in g.ip_permissions() {
        let (Some(from), Some(to)) = (p.from_port(), p.to_port()) else {
            continue;
        };
        let (Ok(port), true) = (u16::try_from(from), from == to) else {
            continue;
        };
        let cidrs = p.ip_ranges().iter().filter_map(|r| r.cidr_ip());
        let sources = cidrs.map(|c| RuleSource::Cidr(c.to_string())).chain(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| Some(RuleSource::Group(g.group_id()?.to_string()))),
        );
        for source in sources {
            rules.push(IngressRule {
                protocol: p.ip_protocol().unwrap_or_default().to_string(),
                port,
                source,
            });
        }
    }
    rules.sort();
    let mut egress: Vec<EgressRule> = g
        .ip_permissions_egress()
        .iter()
        .flat_map(super::egress::rules_of)
        .collect();
    egress.sort();
    SecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        rules,
        egress,
    }
}

fn endpoint_of(e: &aws_sdk_ec2::types::VpcEndpoint) -> Endpoint {
    Endpoint {
        id: e.vpc_endpoint_id().unwrap_or_default().to_string(),
        service_name: e.service_name().unwrap_or_default().to_string(),
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        state: e
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        subnet_ids: e.subnet_ids().to_vec(),
        security_group_ids: e
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        private_dns_enabled: e.private_dns_enabled().unwrap_or(false),
        dns_names: e
            .dns_entries()
            .iter()
            .filter_map(|d| d.dns_name().map(str::to_string))
            .collect(),
        tags: e
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}

fn permission(r: &IngressRule) -> IpPermission {
    let p = IpPermission::builder()
        .ip_protocol(&r.protocol)
        .from_port(i32::from(r.port))
        .to_port(i32::from(r.port));
    match &r.source {
        RuleSource::Cidr(cidr) => p.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        RuleSource::Group(id) => {
            p.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
        }
    }
    .build()
}

#[async_trait]
impl Networks for Sdk {
    async fn vpc_cidrs(&self, vpc_id: &str) -> Result<Option<Vec<String>>> {
        let out = match self.ec2.describe_vpcs().vpc_ids(vpc_id).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("InvalidVpcID.NotFound") => return Ok(None),
            Err(e) => return Err(sdk_error("ec2:DescribeVpcs", e)),
        };
        Ok(out.vpcs().first().map(|v| {
            let mut cidrs: Vec<String> = v
                .cidr_block_association_set()
                .iter()
                .filter(|a| {
                    a.cidr_block_state()
                        .and_then(|s| s.state())
                        .is_none_or(|s| s.as_str() == "associated")
                })
                .filter_map(|a| a.cidr_block().map(str::to_string))
                .collect();
            if cidrs.is_empty() {
                cidrs.extend(v.cidr_block().map(str::to_string));
            }
            cidrs
        }))
    }

    async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>> {
        // A filter, not SubnetIds: one unknown ID must not hide the others.
        let out = self
            .ec2
            .describe_subnets()
            .filters(
                Filter::builder()
                    .name("subnet-id")
                    .set_values(Some(ids.to_vec()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("ec2:DescribeSubnets", e))?;
        Ok(out
            .subnets()
            .iter()
            .map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                az_id: s.availability_zone_id().unwrap_or_default().to_string(),
            })
            .collect())
    }
}

#[async_trait]
impl Endpoints for Sdk {
    async fn endpoints_tagged(&self, key: &str, value: &str) -> Result<Vec<Endpoint>> {
        self.endpoints_where(tag_filter(key, value)).await
    }

    async fn endpoints_with_tag(&self, key: &str) -> Result<Vec<Endpoint>> {
        self.endpoints_where(tag_key_filter(key)).await
    }

    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        match self
            .ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .vpc_endpoints()
                .first()
                .map(endpoint_of)
                .filter(|e| e.state != "deleted")),
            Err(e) if code_of(&e).is_some_and(|c| c.starts_with("InvalidVpcEndpointId")) => {
                Ok(None)
            }
            Err(e) => Err(sdk_error("ec2:DescribeVpcEndpoints", e)),
        }
    }

    async fn create_endpoint(&self, new: &NewEndpoint) -> Result<Endpoint> {
        const OP: &str = "ec2:CreateVpcEndpoint";
        let out = self
            .ec2
            .create_vpc_endpoint()
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .vpc_id(&new.vpc_id)
            .service_name(&new.service_name)
            .set_subnet_ids(Some(new.subnet_ids.clone()))
            .set_security_group_ids(Some(new.security_group_ids.clone()))
            .private_dns_enabled(new.private_dns_enabled)
            .client_token(&new.client_token)
            .tag_specifications(tag_spec(ResourceType::VpcEndpoint, &new.tags))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        out.vpc_endpoint()
            .map(endpoint_of)
            .ok_or_else(|| Error::aws(OP, "Unknown", "no endpoint in the answer"))
    }

    async fn modify_endpoint(&self, id: &str, change: &EndpointChange) -> Result<()> {
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let moves = EndpointChange {
            tags: Vec::new(),
            ..change.clone()
        };
        if !moves.is_empty() {
            self.ec2
                .modify_vpc_endpoint()
                .vpc_endpoint_id(id)
                .set_add_subnet_ids(nonempty(&change.add_subnets))
                .set_remove_subnet_ids(nonempty(&change.remove_subnets))
                .set_add_security_group_ids(nonempty(&change.add_groups))
                .set_remove_security_group_ids(nonempty(&change.remove_groups))
                .set_private_dns_enabled(change.private_dns_enabled)
                .send()
                .await
                .map_err(|e| sdk_error("ec2:ModifyVpcEndpoint", e))?;
        }
        if !change.tags.is_empty() {
            self.ec2
                .create_tags()
                .resources(id)
                .set_tags(Some(
                    change
                        .tags
                        .iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| sdk_error("ec2:CreateTags", e))?;
        }
        Ok(())
    }

    async fn delete_endpoint(&self, id: &str) -> Result<()> {
        const OP: &str = "ec2:DeleteVpcEndpoints";
        let out = match self
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if code_of(&e).is_some_and(|c| c.starts_with("InvalidVpcEndpoint")) => {
                return Ok(())
            }
            Err(e) => return Err(sdk_error(OP, e)),
        };
        match out.unsuccessful().first().and_then(|u| u.error()) {
            Some(err)
                if err
                    .code()
                    .is_some_and(|c| c.starts_with("InvalidVpcEndpoint")) =>
            {
                Ok(())
            }
            Some(err) => Err(Error::aws(
                OP,
                err.code().unwrap_or("Unknown"),
                err.message().unwrap_or("not deleted"),
            )),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SecurityGroups for Sdk {
    async fn groups_tagged(&self, key: &str, value: &str) -> Result<Vec<SecurityGroup>> {
        let found = self.groups_where(tag_filter(key, value), key).await?;
        Ok(found.into_iter().map(|(_, g)| g).collect())
    }

    async fn groups_with_tag(&self, key: &str) -> Result<Vec<(String, SecurityGroup)>> {
        self.groups_where(tag_key_filter(key), key).await
    }

    async fn create_group(
        &self,
        vpc_id: &str,
        name: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<String> {
        const OP: &str = "ec2:CreateSecurityGroup";
        let out = self
            .ec2
            .create_security_group()
            .vpc_id(vpc_id)
            .group_name(name)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        out.group_id()
            .map(str::to_string)
            .ok_or_else(|| Error::aws(OP, "Unknown", "no group ID in the answer"))
    }

    async fn authorize(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .map_err(|e| sdk_error("ec2:AuthorizeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn revoke(&self, group_id: &str, rules: &[IngressRule]) -> Result<()> {
        self.ec2
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .map_err(|e| sdk_error("ec2:RevokeSecurityGroupIngress", e))?;
        Ok(())
    }

    async fn group(&self, group_id: &str) -> Result<Option<SecurityGroup>> {
        match self
            .ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
        {
            Ok(out) => Ok(out.security_groups().first().map(group_of)),
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => Ok(None),
            Err(e) => Err(sdk_error("ec2:DescribeSecurityGroups", e)),
        }
    }

    async fn revoke_egress(&self, group_id: &str, rules: &[EgressRule]) -> Result<()> {
        self.ec2
            .revoke_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(super::egress::permission).collect()))
            .send()
            .await
            .map_err(|e| sdk_error("ec2:RevokeSecurityGroupEgress", e))?;
        Ok(())
    }

    async fn delete_group(&self, group_id: &str) -> Result<()> {
        match self
            .ec2
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("InvalidGroup.NotFound") => Ok(()),
            Err(e) => Err(sdk_error("ec2:DeleteSecurityGroup", e)),
        }
    }
}
