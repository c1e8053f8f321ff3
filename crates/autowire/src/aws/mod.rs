//! Capability traits, one per AWS capability, in domain terms. The domain code talks only to
//! these; [`sdk`] adapts the AWS SDK to them and [`crate::fake`] models them in memory.

mod consumer;
#[cfg(feature = "aws")]
pub mod sdk;

pub use consumer::*;

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
    /// The TXT record that proves ownership of the private DNS name's domain, when one is set.
    pub verification: Option<Verification>,
}

/// EC2's `PrivateDnsNameConfiguration`: publish a TXT record `{name}.{domain}` holding `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The record's leftmost label(s), e.g. `_3mr9ppkwzdmk8rff7fqs`.
    pub name: String,
    pub value: String,
}

/// A consumer's interface endpoint connected (or asking to connect) to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub service_id: String,
    pub endpoint_id: String,
    pub owner: String,
    /// As EC2 reports it: `pendingAcceptance`, `pending`, `available`, `rejected`, `deleting`, …
    pub state: String,
}

impl Connection {
    /// Whether the connection keeps the service (and its load balancer) from being deleted.
    pub fn is_live(&self) -> bool {
        matches!(
            self.state.as_str(),
            "pendingAcceptance" | "pending" | "available" | "partial"
        )
    }
}

/// The provider's endpoint services.
#[async_trait]
pub trait EndpointServices: Send + Sync {
    /// `None` when no such service exists in this account and region.
    async fn describe_service(&self, service_id: &str) -> Result<Option<EndpointService>>;
    /// Set (`Some`) or remove (`None`) the service's private DNS name.
    async fn set_private_dns_name(&self, service_id: &str, name: Option<&str>) -> Result<()>;
    /// Ask EC2 to check the verification TXT record now.
    async fn start_private_dns_verification(&self, service_id: &str) -> Result<()>;
    /// Every endpoint connection of the service, in any state.
    async fn connections(&self, service_id: &str) -> Result<Vec<Connection>>;
    /// Reject the given endpoints' connections.
    async fn reject_connections(&self, service_id: &str, endpoint_ids: &[String]) -> Result<()>;
    /// Every connection awaiting acceptance, across all of this account's services.
    async fn pending_connections(&self) -> Result<Vec<Connection>>;
    /// Accept the given endpoints' connections.
    async fn accept_connections(&self, service_id: &str, endpoint_ids: &[String]) -> Result<()>;
    /// The principals allowed to connect, as ARNs ([`account_principal`] for an account).
    async fn allowed_principals(&self, service_id: &str) -> Result<Vec<String>>;
    /// Add and remove allowed principals in one change.
    async fn change_principals(
        &self,
        service_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()>;
    /// The service's connection notifications.
    async fn connection_notifications(
        &self,
        service_id: &str,
    ) -> Result<Vec<ConnectionNotification>>;
    /// Notify an SNS topic of `events` on the service's connections; returns the new ID.
    async fn create_connection_notification(
        &self,
        service_id: &str,
        topic_arn: &str,
        events: &[ConnectionEvent],
    ) -> Result<String>;
    /// Delete; deleting what is already gone is success.
    async fn delete_connection_notifications(&self, ids: &[String]) -> Result<()>;
}

/// The principal that allows every identity of `account` to connect to a service.
pub fn account_principal(partition: &str, account: &str) -> String {
    format!("arn:{partition}:iam::{account}:root")
}

/// What happens to a connection, as a connection notification names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnectionEvent {
    Accept,
    Connect,
    Delete,
    Reject,
}

impl ConnectionEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionEvent::Accept => "Accept",
            ConnectionEvent::Connect => "Connect",
            ConnectionEvent::Delete => "Delete",
            ConnectionEvent::Reject => "Reject",
        }
    }

    /// `None` for a name this release does not know.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Accept, Self::Connect, Self::Delete, Self::Reject]
            .into_iter()
            .find(|e| e.as_str() == name)
    }
}

/// Whether EC2 sends a notification's events (it disables one whose topic it can't publish to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationState {
    Enabled,
    Disabled,
}

/// A service's connection notification to an SNS topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionNotification {
    /// `vpce-nfn-…`
    pub id: String,
    pub service_id: String,
    pub topic_arn: String,
    pub events: Vec<ConnectionEvent>,
    pub state: NotificationState,
}

/// This account's AZ name → AZ ID map (names are shuffled per account; IDs are physical).
#[async_trait]
pub trait Zones: Send + Sync {
    async fn zone_ids_by_name(&self) -> Result<BTreeMap<String, String>>;
}

/// A load balancer listener and its certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    /// `TCP`, `TLS`, `UDP`, `TCP_UDP`, `HTTP`, `HTTPS`.
    pub protocol: String,
    pub default_certificate: Option<String>,
    /// Certificates served by SNI besides the default.
    pub extra_certificates: Vec<String>,
}

impl Listener {
    pub fn takes_certificates(&self) -> bool {
        matches!(self.protocol.as_str(), "TLS" | "HTTPS")
    }

    pub fn serves(&self, certificate_arn: &str) -> bool {
        self.default_certificate.as_deref() == Some(certificate_arn)
            || self.extra_certificates.iter().any(|c| c == certificate_arn)
    }
}

/// Load balancer listeners.
#[async_trait]
pub trait Listeners: Send + Sync {
    /// The listener ports of the given load balancers.
    async fn listener_ports(&self, load_balancer_arns: &[String]) -> Result<Vec<Port>>;
    /// One listener with its certificates; `None` if it does not exist.
    async fn listener(&self, listener_arn: &str) -> Result<Option<Listener>>;
    /// The ARNs of a load balancer's listeners (empty if the load balancer is gone).
    async fn listeners_of(&self, load_balancer_arn: &str) -> Result<Vec<String>>;
    /// Make `certificate_arn` the listener's default certificate.
    async fn set_default_certificate(
        &self,
        listener_arn: &str,
        certificate_arn: &str,
    ) -> Result<()>;
    /// Add an SNI certificate.
    async fn add_certificate(&self, listener_arn: &str, certificate_arn: &str) -> Result<()>;
    /// Remove an SNI certificate (never the default).
    async fn remove_certificate(&self, listener_arn: &str, certificate_arn: &str) -> Result<()>;
}

/// A Route 53 hosted zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedZone {
    /// The bare ID, e.g. `Z0123456789ABCDEFGHIJ`.
    pub id: String,
    /// The zone's domain, lowercase, without the trailing dot.
    pub name: String,
    pub private: bool,
}

impl HostedZone {
    /// Whether `name` (a wildcard's base counts) lies in this zone's domain.
    pub fn holds(&self, name: &str) -> bool {
        let n = crate::names::base(name);
        n == self.name || n.ends_with(&format!(".{}", self.name))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    Cname,
    Txt,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
        }
    }
}

/// One resource record set, as Route 53 stores it (TXT values carry their quotes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordSet {
    /// Lowercase, without the trailing dot.
    pub name: String,
    pub kind: RecordType,
    pub ttl: i64,
    pub values: Vec<String>,
}

/// TTL of the validation and verification records we write.
pub const RECORD_TTL: i64 = 300;

impl RecordSet {
    pub fn new(name: &str, kind: RecordType, value: &str) -> Self {
        RecordSet {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            kind,
            ttl: RECORD_TTL,
            values: vec![value.to_string()],
        }
    }

    /// A TXT record holding one string (quoted as Route 53 wants it).
    pub fn txt(name: &str, value: &str) -> Self {
        Self::new(name, RecordType::Txt, &format!("\"{value}\""))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordChange {
    Upsert(RecordSet),
    /// Must match the stored record exactly, as Route 53 requires.
    Delete(RecordSet),
}

/// DNS records in Route 53 hosted zones.
#[async_trait]
pub trait DnsRecords: Send + Sync {
    /// `None` if no such zone exists (or it is not visible to this account).
    async fn hosted_zone(&self, zone_id: &str) -> Result<Option<HostedZone>>;
    /// The record set with exactly this name and type, if any.
    async fn record(
        &self,
        zone_id: &str,
        name: &str,
        kind: RecordType,
    ) -> Result<Option<RecordSet>>;
    /// Apply the changes as one atomic batch.
    async fn change_records(&self, zone_id: &str, changes: &[RecordChange]) -> Result<()>;
}

/// An ACM certificate as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub arn: String,
    pub domain_name: String,
    /// Every name on the certificate, the domain name included (as ACM lists them).
    pub names: Vec<String>,
    /// `PENDING_VALIDATION`, `ISSUED`, `FAILED`, `VALIDATION_TIMED_OUT`, `REVOKED`, …
    pub status: String,
    pub failure_reason: Option<String>,
    /// The DNS validation CNAMEs ACM has published so far (deduplicated).
    pub validation_records: Vec<RecordSet>,
    /// Whether ACM has published a validation record for every name yet.
    pub validation_complete: bool,
    /// Load balancers that use it.
    pub in_use_by: Vec<String>,
}

/// A line of ListCertificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSummary {
    pub arn: String,
    pub names: Vec<String>,
}

/// ACM certificates.
#[async_trait]
pub trait Certificates: Send + Sync {
    /// Request a DNS-validated certificate, tagged with its owner. `token` makes retries of the
    /// same request return the same certificate.
    async fn request_certificate(
        &self,
        domain_name: &str,
        alternative_names: &[String],
        token: &str,
        owner: &Owner,
    ) -> Result<String>;
    /// `None` if no such certificate exists.
    async fn certificate(&self, arn: &str) -> Result<Option<Certificate>>;
    /// Certificates that are issued or pending validation.
    async fn live_certificates(&self) -> Result<Vec<CertificateSummary>>;
    /// Who requested it, from its tags.
    async fn certificate_owner(&self, arn: &str) -> Result<Option<Owner>>;
    /// Delete; deleting what is already gone is success.
    async fn delete_certificate(&self, arn: &str) -> Result<()>;
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
    /// Every parameter of this account under `path`, at any depth: (name, value), by name.
    async fn list(&self, path: &str) -> Result<Vec<(String, String)>>;
    /// Several parameters by name or ARN (GetParameters, 10 a call): (name or ARN as asked, the
    /// parameter) for those that exist; absent ones are left out. One that is not readable
    /// (not shared, access denied) fails the call, as it fails AWS's.
    async fn read_many(&self, names_or_arns: &[String]) -> Result<Vec<(String, StoredParameter)>>;
}

/// Markers that remove themselves: Parameter Store parameters in the advanced tier with an
/// Expiration policy, so Parameter Store deletes each at its time, whatever becomes of the
/// function or the stack that wrote it.
#[async_trait]
pub trait Markers: Send + Sync {
    /// Create `name` = `value`, to expire at `expires`; `Ok(false)` when it exists already.
    async fn mark(&self, name: &str, value: &str, expires: std::time::SystemTime) -> Result<bool>;
    /// The value of `name`; `None` when absent or expired.
    async fn marked(&self, name: &str) -> Result<Option<String>>;
}

/// Events this account sends: PutEvents onto one of its own buses (whose rules may forward them
/// to other accounts' buses).
#[async_trait]
pub trait Announcements: Send + Sync {
    async fn announce(
        &self,
        bus: &str,
        source: &str,
        detail_type: &str,
        detail: &Value,
    ) -> Result<()>;
}

/// Lambda functions: continuation (asynchronous re-invocation) and the probe (synchronous).
#[async_trait]
pub trait Functions: Send + Sync {
    async fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<()>;
    /// Invoke and wait for the answer; a function error is an error.
    async fn invoke(&self, function_arn: &str, payload: Value) -> Result<Value>;
}
