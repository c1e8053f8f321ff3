//! The provider-private acceptance policy, `{prefix}/{key}/policy`: what the reconciler decides
//! by, and what the publication remembers it did to the service.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::OwnedRecord;
use crate::descriptor;
use crate::error::{Error, Result};

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
    /// The verification TXT record this publication wrote, so Delete (or a name change) can
    /// remove exactly it, even once the service is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_record: Option<OwnedRecord>,
    /// Allowed principals this publication added to the service: the only ones it removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_principals: Vec<String>,
    /// The connection notification this publication keeps on the service (`vpce-nfn-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_notification: Option<String>,
    /// Who may ask for a certificate for their own name (contract §5); nobody by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_requests: Vec<crate::certreq::Grant>,
}

impl Policy {
    /// Read a stored policy; an unknown schema is refused.
    pub fn parse(name: &str, text: &str) -> Result<Policy> {
        let bad = |problem: String| Error::BadDescriptor {
            name: name.to_string(),
            problem,
        };
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| bad(format!("not a policy: {e}")))?;
        if policy.schema != descriptor::SCHEMA {
            return Err(bad(format!(
                "policy schema {} is not supported (this release reads {}); upgrade privatelink-autowire",
                policy.schema,
                descriptor::SCHEMA
            )));
        }
        Ok(policy)
    }

    pub fn to_canonical_json(&self) -> String {
        descriptor::canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null))
    }
}
