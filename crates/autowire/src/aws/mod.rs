//! Capability traits, one per AWS capability, in domain terms. The domain code talks only to
//! these; [`sdk`] adapts the AWS SDK to them and [`crate::fake`] models them in memory.

pub mod sdk;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::descriptor::Port;
use crate::error::Result;

/// A provider's VPC endpoint service, as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointService {
    pub service_id: String,
    pub service_name: String,
    /// AZ **names** in the owner's account.
    pub az_names: Vec<String>,
    pub acceptance_required: bool,
    pub nlb_arns: Vec<String>,
    pub private_dns: Option<crate::descriptor::PrivateDns>,
}

/// The provider's endpoint services.
#[async_trait]
pub trait EndpointServices: Send + Sync {
    /// `None` when no such service exists in this account and region.
    async fn describe_service(&self, service_id: &str) -> Result<Option<EndpointService>>;
}

/// This account's AZ name → AZ ID map (names are shuffled per account; IDs are physical).
#[async_trait]
pub trait Zones: Send + Sync {
    async fn zone_ids_by_name(&self) -> Result<BTreeMap<String, String>>;
}

/// Load balancer listeners.
#[async_trait]
pub trait Listeners: Send + Sync {
    /// The listener ports of the given load balancers.
    async fn listener_ports(&self, load_balancer_arns: &[String]) -> Result<Vec<Port>>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    Standard,
    /// Needed for sharing through AWS RAM.
    Advanced,
}

/// Who wrote a parameter: the stack and logical ID of the resource that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub stack_id: String,
    pub logical_id: String,
}

pub const OWNER_STACK_TAG: &str = "privatelink-autowire:stack-id";
pub const OWNER_LOGICAL_ID_TAG: &str = "privatelink-autowire:logical-id";

impl Owner {
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            (OWNER_STACK_TAG.to_string(), self.stack_id.clone()),
            (OWNER_LOGICAL_ID_TAG.to_string(), self.logical_id.clone()),
        ]
    }

    pub fn from_tags(tags: &BTreeMap<String, String>) -> Option<Owner> {
        Some(Owner {
            stack_id: tags.get(OWNER_STACK_TAG)?.clone(),
            logical_id: tags.get(OWNER_LOGICAL_ID_TAG)?.clone(),
        })
    }
}

/// A stored descriptor or policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredParameter {
    pub value: String,
    pub arn: Option<String>,
}

/// Where descriptors and policies live (SSM Parameter Store).
#[async_trait]
pub trait Descriptors: Send + Sync {
    /// By name, or by full ARN for a parameter shared from another account. `None` if absent.
    async fn read(&self, name_or_arn: &str) -> Result<Option<StoredParameter>>;
    /// Who owns the parameter, from its tags; `None` if it has no owner tags.
    async fn owner(&self, name: &str) -> Result<Option<Owner>>;
    /// Create a new parameter, tagged with its owner. Fails if it exists.
    async fn create(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<()>;
    /// Replace the value of an existing parameter.
    async fn overwrite(&self, name: &str, value: &str, tier: Tier) -> Result<()>;
    /// Delete; deleting what is already gone is success.
    async fn delete(&self, name: &str) -> Result<()>;
}

/// Lambda functions: used for continuation (asynchronous re-invocation).
#[async_trait]
pub trait Functions: Send + Sync {
    async fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<()>;
}
