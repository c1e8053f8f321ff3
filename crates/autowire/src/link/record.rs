//! The link record: what CloudFormation last applied to a link, kept in the consumer account's
//! Parameter Store so the reconciler can converge the link to exactly that, plus the provider's
//! latest descriptor. The link's apply writes it (only when it changed), its cleanup removes it
//! once everything else is gone.

use serde::{Deserialize, Serialize};

use super::*;
use crate::aws::{Owner, Tier};

/// Where link records live: `{RECORD_PREFIX}/{link ID}`.
pub const RECORD_PREFIX: &str = "/privatelink-autowire/links";

const RECORD_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub schema: u32,
    pub link_id: String,
    pub stack_id: String,
    pub logical_id: String,
    /// The function's ARN CloudFormation called (the link's home account and Region).
    pub service_token: Option<String>,
    /// The resource's properties as CloudFormation last applied them.
    pub properties: Value,
}

impl LinkRecord {
    pub fn of(req: &Request, link_id: &str) -> Self {
        LinkRecord {
            schema: RECORD_SCHEMA,
            link_id: link_id.to_string(),
            stack_id: req.stack_id.clone(),
            logical_id: req.logical_id.clone(),
            service_token: req.service_token.clone(),
            properties: req.props.clone(),
        }
    }

    pub fn parameter_name(link_id: &str) -> String {
        format!("{RECORD_PREFIX}/{link_id}")
    }

    pub fn parse(name: &str, value: &str) -> Result<Self> {
        let record: LinkRecord = serde_json::from_str(value).map_err(|e| {
            Error::invalid("link record", format!("{name} is not a link record: {e}"))
        })?;
        if record.schema != RECORD_SCHEMA {
            return Err(Error::invalid(
                "link record",
                format!(
                    "{name} has schema {}, this release reads {RECORD_SCHEMA}; upgrade the consumer stack",
                    record.schema
                ),
            ));
        }
        Ok(record)
    }

    /// The request the reconciler converges the link with: an Update to the same properties.
    pub fn request(&self, request_id: &str) -> Request {
        Request {
            kind: RequestKind::Update,
            request_id: request_id.to_string(),
            stack_id: self.stack_id.clone(),
            logical_id: self.logical_id.clone(),
            resource_type: RESOURCE_TYPE.to_string(),
            service_token: self.service_token.clone(),
            physical_id: Some(self.link_id.clone()),
            props: self.properties.clone(),
            old_props: None,
        }
    }

    fn json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::invalid("link record", format!("cannot be written: {e}")))
    }
}

impl<C: ConsumerCloud> Link<C> {
    /// Write the record for `req` unless it already says exactly that.
    pub(super) async fn keep_record(&self, req: &Request, link_id: &str) -> Result<()> {
        let name = LinkRecord::parameter_name(link_id);
        let want = LinkRecord::of(req, link_id);
        match self.cloud.read(&name).await? {
            Some(stored) if LinkRecord::parse(&name, &stored.value).ok() == Some(want.clone()) => {
                Ok(())
            }
            Some(_) => {
                self.cloud
                    .overwrite(&name, &want.json()?, Tier::Standard)
                    .await
            }
            None => {
                let owner = Owner {
                    stack_id: req.stack_id.clone(),
                    logical_id: req.logical_id.clone(),
                };
                self.cloud
                    .create(&name, &want.json()?, Tier::Standard, &owner)
                    .await
            }
        }
    }

    /// Remove the record; one already gone is fine (and costs no write).
    pub(super) async fn drop_record(&self, link_id: &str) -> Result<()> {
        let name = LinkRecord::parameter_name(link_id);
        if self.cloud.read(&name).await?.is_none() {
            return Ok(());
        }
        match self.cloud.delete(&name).await {
            Err(e) if e.aws_code() == Some("ParameterNotFound") => Ok(()),
            other => other,
        }
    }
}
