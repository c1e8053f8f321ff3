//! Minimal ARN parsing: enough to learn partition, account and region from a ServiceToken
//! or a shared parameter's ARN.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource: String,
}

impl Arn {
    pub fn parse(s: &str) -> Result<Arn, String> {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, service, region, account, resource]
                if !partition.is_empty() && !service.is_empty() && !resource.is_empty() =>
            {
                Ok(Arn {
                    partition: partition.to_string(),
                    service: service.to_string(),
                    region: region.to_string(),
                    account: account.to_string(),
                    resource: resource.to_string(),
                })
            }
            _ => Err(format!(
                "'{s}' is not an ARN (arn:partition:service:region:account:resource)"
            )),
        }
    }

    /// The ARN of an SSM parameter. Names that start with `/` follow `parameter` directly.
    pub fn ssm_parameter(partition: &str, region: &str, account: &str, name: &str) -> Arn {
        let resource = if name.starts_with('/') {
            format!("parameter{name}")
        } else {
            format!("parameter/{name}")
        };
        Arn {
            partition: partition.into(),
            service: "ssm".into(),
            region: region.into(),
            account: account.into(),
            resource,
        }
    }

    /// For an SSM parameter ARN, the parameter name (with its leading `/`).
    pub fn parameter_name(&self) -> Option<String> {
        if self.service != "ssm" {
            return None;
        }
        self.resource
            .strip_prefix("parameter")
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_string)
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_function_arns() {
        let a = Arn::parse("arn:aws:lambda:us-east-1:111111111111:function:provider").unwrap();
        assert_eq!(
            (a.partition.as_str(), a.region.as_str(), a.account.as_str()),
            ("aws", "us-east-1", "111111111111")
        );
        assert!(Arn::parse("provider").is_err());
    }

    #[test]
    fn parameter_arns_round_trip() {
        let a = Arn::ssm_parameter(
            "aws",
            "us-east-1",
            "111111111111",
            "/privatelink-autowire/services/orders",
        );
        let s = a.to_string();
        assert_eq!(
            s,
            "arn:aws:ssm:us-east-1:111111111111:parameter/privatelink-autowire/services/orders"
        );
        let back = Arn::parse(&s).unwrap();
        assert_eq!(
            back.parameter_name().unwrap(),
            "/privatelink-autowire/services/orders"
        );
    }
}
