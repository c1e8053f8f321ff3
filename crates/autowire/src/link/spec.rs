//! The properties of a link, validated before anything is read or written.

use serde_json::Value;

use crate::arn::Arn;
use crate::cfn::props::Props;
use crate::dns;
use crate::error::{Error, Result};
use crate::names;

const PROPERTIES: &[&str] = &[
    "ServiceParameter",
    "VpcId",
    "SubnetIds",
    "SecurityGroupIds",
    "AllowedCidrs",
    "AllowedSecurityGroupIds",
    "PrivateDns",
    "AliasName",
    "AliasHostedZoneId",
    "RequireTlsMatch",
    "WaitForAcceptance",
    "VerifyReachability",
    "ProbeFunctionArn",
    "AliasCertificate",
    "AliasValidationZoneId",
];

/// Whether the link asks its provider to serve a certificate for AliasName (contract §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AliasCertificate {
    #[default]
    None,
    Request,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrivateDnsMode {
    /// On when the descriptor's private DNS name is verified.
    #[default]
    Auto,
    Enabled,
    Disabled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub service_parameter: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub allowed_cidrs: Vec<String>,
    /// Groups whose members the owned group admits (instead of the VPC's CIDRs, or beside
    /// AllowedCidrs).
    pub allowed_group_ids: Vec<String>,
    pub private_dns: PrivateDnsMode,
    pub alias_name: Option<String>,
    pub alias_zone_id: Option<String>,
    pub require_tls_match: bool,
    pub wait_for_acceptance: bool,
    /// The probe to ask before answering, when the deploy is gated on reachability.
    pub probe_function: Option<String>,
    pub verify_reachability: bool,
    pub alias_certificate: AliasCertificate,
    /// The consumer's public zone for AliasName, where the validation record goes.
    pub alias_validation_zone_id: Option<String>,
}

fn is_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|h| {
        (8..=17).contains(&h.len())
            && h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

fn check_ids(name: &str, ids: &[String], prefix: &str) -> Result<()> {
    match ids.iter().find(|s| !is_id(s, prefix)) {
        Some(bad) => Err(Error::invalid(
            name,
            format!("'{bad}' is not a {prefix}… ID"),
        )),
        None => Ok(()),
    }
}

/// `a.b.c.d/n` with each part in range.
pub fn is_ipv4_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let octets: Vec<&str> = addr.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| !o.is_empty() && o.len() <= 3 && o.parse::<u8>().is_ok())
        && len.parse::<u8>().is_ok_and(|n| n <= 32)
}

impl Spec {
    pub fn parse(raw: &Value) -> Result<Spec> {
        let p = Props::new(raw, PROPERTIES)?;
        p.check_unknown()?;
        let service_parameter = p.req_str("ServiceParameter")?;
        let by_arn = service_parameter.starts_with("arn:");
        let ok = if by_arn {
            Arn::parse(&service_parameter)
                .is_ok_and(|a| a.service == "ssm" && a.parameter_name().is_some())
        } else {
            service_parameter.starts_with('/') && !service_parameter.ends_with('/')
        };
        if !ok {
            return Err(Error::invalid(
                "ServiceParameter",
                format!("'{service_parameter}' is neither a parameter name (/…) nor an SSM parameter ARN"),
            ));
        }
        let vpc_id = p.req_str("VpcId")?;
        check_ids("VpcId", std::slice::from_ref(&vpc_id), "vpc-")?;
        let subnet_ids = p.opt_list("SubnetIds")?;
        if subnet_ids.is_empty() {
            return Err(Error::invalid(
                "SubnetIds",
                "is required: give candidate subnets, one or more per AZ",
            ));
        }
        check_ids("SubnetIds", &subnet_ids, "subnet-")?;
        let security_group_ids = p.opt_list("SecurityGroupIds")?;
        check_ids("SecurityGroupIds", &security_group_ids, "sg-")?;
        let allowed_cidrs = p.opt_list("AllowedCidrs")?;
        if let Some(bad) = allowed_cidrs.iter().find(|c| !is_ipv4_cidr(c)) {
            return Err(Error::invalid(
                "AllowedCidrs",
                format!("'{bad}' is not an IPv4 CIDR block"),
            ));
        }
        let allowed_group_ids = p.opt_list("AllowedSecurityGroupIds")?;
        check_ids("AllowedSecurityGroupIds", &allowed_group_ids, "sg-")?;
        for (name, given) in [
            ("AllowedCidrs", !allowed_cidrs.is_empty()),
            ("AllowedSecurityGroupIds", !allowed_group_ids.is_empty()),
        ] {
            if given && !security_group_ids.is_empty() {
                return Err(Error::invalid(
                    name,
                    "only applies to the group the link creates; with SecurityGroupIds, set the rules in those groups",
                ));
            }
        }
        let private_dns = match p.opt_str("PrivateDns")?.as_deref() {
            None | Some("auto") => PrivateDnsMode::Auto,
            Some("enabled") => PrivateDnsMode::Enabled,
            Some("disabled") => PrivateDnsMode::Disabled,
            Some(other) => {
                return Err(Error::invalid(
                    "PrivateDns",
                    format!("'{other}' is not one of auto, enabled, disabled"),
                ))
            }
        };
        let alias_name = p
            .opt_str("AliasName")?
            .map(|a| a.trim_end_matches('.').to_ascii_lowercase());
        if let Some(a) = &alias_name {
            names::validate_dns_name(a, false).map_err(|e| Error::invalid("AliasName", e))?;
        }
        let alias_zone_id = match p.opt_str("AliasHostedZoneId")? {
            Some(_) if alias_name.is_none() => {
                return Err(Error::invalid(
                    "AliasHostedZoneId",
                    "is only used with AliasName; set both or neither",
                ))
            }
            Some(z) => {
                Some(dns::parse_zone_id(&z).map_err(|e| Error::invalid("AliasHostedZoneId", e))?)
            }
            None => None,
        };
        let require_tls_match = p.opt_bool("RequireTlsMatch")?.unwrap_or(true);
        let wait_for_acceptance = p.opt_bool("WaitForAcceptance")?.unwrap_or(true);
        let probe_function = p.opt_str("ProbeFunctionArn")?;
        if let Some(probe) = &probe_function {
            if !Arn::parse(probe).is_ok_and(|a| a.service == "lambda") {
                return Err(Error::invalid(
                    "ProbeFunctionArn",
                    format!("'{probe}' is not a Lambda function ARN"),
                ));
            }
        }
        let verify_reachability = p.opt_bool("VerifyReachability")?.unwrap_or(false);
        if verify_reachability && probe_function.is_none() {
            return Err(Error::invalid(
                "ProbeFunctionArn",
                "is required with VerifyReachability: the probe function in this VPC",
            ));
        }
        let (alias_certificate, alias_validation_zone_id) =
            alias_certificate(&p, alias_name.is_some(), by_arn)?;
        Ok(Spec {
            service_parameter,
            vpc_id,
            subnet_ids,
            security_group_ids,
            allowed_cidrs,
            allowed_group_ids,
            private_dns,
            alias_name,
            alias_zone_id,
            require_tls_match,
            wait_for_acceptance,
            probe_function,
            verify_reachability,
            alias_certificate,
            alias_validation_zone_id,
        })
    }
}

/// AliasCertificate and AliasValidationZoneId: a request needs AliasName, the zone, and a
/// provider in another account (by the descriptor's ARN).
fn alias_certificate(
    p: &Props,
    has_alias: bool,
    by_arn: bool,
) -> Result<(AliasCertificate, Option<String>)> {
    let mode = match p.opt_str("AliasCertificate")?.as_deref() {
        None | Some("none") => AliasCertificate::None,
        Some("request") => AliasCertificate::Request,
        Some(other) => {
            return Err(Error::invalid(
                "AliasCertificate",
                format!("'{other}' is not one of none, request"),
            ))
        }
    };
    let zone = p
        .opt_str("AliasValidationZoneId")?
        .map(|z| dns::parse_zone_id(&z).map_err(|e| Error::invalid("AliasValidationZoneId", e)))
        .transpose()?;
    let problem = match (mode, has_alias, &zone, by_arn) {
        (AliasCertificate::None, _, Some(_), _) => Some("is only used with AliasCertificate: request"),
        (AliasCertificate::Request, false, _, _) => Some("AliasCertificate: request needs AliasName, the name to serve"),
        (AliasCertificate::Request, _, None, _) => Some("is required with AliasCertificate: request: the public zone of AliasName, where the validation record goes"),
        (AliasCertificate::Request, _, _, false) => Some("AliasCertificate: request needs the provider's descriptor by its ARN (ServiceParameter)"),
        _ => None,
    };
    match problem {
        Some(why) => Err(Error::invalid("AliasValidationZoneId", why)),
        None => Ok((mode, zone)),
    }
}
