//! Security group egress rules between EC2's permissions and [`EgressRule`]s: one rule per
//! destination, so a revoke names exactly what was described.

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};

use crate::aws::{EgressRule, EgressTarget};

/// The rules of one described egress permission, one per destination.
pub(super) fn rules_of(p: &IpPermission) -> Vec<EgressRule> {
    let protocol = p.ip_protocol().unwrap_or("-1").to_string();
    let ports = match (p.from_port(), p.to_port()) {
        (Some(from), Some(to)) if protocol != "-1" => Some((from, to)),
        _ => None,
    };
    let targets = p
        .ip_ranges()
        .iter()
        .filter_map(|r| r.cidr_ip().map(|c| EgressTarget::Ipv4(c.into())))
        .chain(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6().map(|c| EgressTarget::Ipv6(c.into()))),
        )
        .chain(p.prefix_list_ids().iter().filter_map(|r| {
            r.prefix_list_id()
                .map(|c| EgressTarget::PrefixList(c.into()))
        }))
        .chain(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|r| r.group_id().map(|c| EgressTarget::Group(c.into()))),
        );
    targets
        .map(|to| EgressRule {
            protocol: protocol.clone(),
            ports,
            to,
        })
        .collect()
}

/// The permission that names exactly one rule.
pub(super) fn permission(r: &EgressRule) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(&r.protocol);
    if let Some((from, to)) = r.ports {
        p = p.from_port(from).to_port(to);
    }
    match &r.to {
        EgressTarget::Ipv4(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).build()),
        EgressTarget::Ipv6(c) => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
        EgressTarget::PrefixList(c) => {
            p.prefix_list_ids(PrefixListId::builder().prefix_list_id(c).build())
        }
        EgressTarget::Group(c) => {
            p.user_id_group_pairs(UserIdGroupPair::builder().group_id(c).build())
        }
    }
    .build()
}
