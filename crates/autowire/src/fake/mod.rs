//! An in-memory cloud that implements the capability traits with AWS's semantics (what exists,
//! what errors come back), and records every call so tests can assert which calls were made.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sha2::Digest;

use crate::aws::{
    Announcements, Connection, EndpointService, EndpointServices, Functions, RecordSet, RecordType,
    Tier, Verification, Zones,
};

mod consumer;
mod dns;
mod groups;
mod params;
mod provider;
mod tls;

use crate::descriptor::Port;
use crate::error::{Error, Result};
pub use consumer::{FakeEndpoint, RemoteService};
pub use dns::FakeZone;
pub use provider::ProviderState;
pub use tls::{validation_record, FakeCertificate, FakeListener};

pub const ACCOUNT: &str = "111111111111";
pub const REGION: &str = "us-east-1";

#[derive(Clone, Debug)]
pub struct Param {
    pub value: String,
    pub tier: Tier,
    pub tags: BTreeMap<String, String>,
}

/// What a test can make the next call of an operation do.
#[derive(Clone, Debug)]
pub enum Fault {
    Fail(String, String),
    /// Fail the n-th next call (1 = the next one) with this code and message.
    FailNth(u32, String, String),
    /// Hang in the n-th next call (1 = the next one), before it acts: where a process killed
    /// right after the call before stops.
    HangNth(u32),
    Panic,
    Hang,
}

#[derive(Default)]
pub struct State {
    pub services: BTreeMap<String, EndpointService>,
    pub zones: BTreeMap<String, String>,
    pub listeners: HashMap<String, Vec<Port>>,
    pub params: BTreeMap<String, Param>,
    pub calls: Vec<(&'static str, bool)>,
    pub faults: HashMap<&'static str, Fault>,
    pub invocations: Vec<(String, Value)>,
    /// Private DNS names of services, with their verification.
    pub private_dns: BTreeMap<String, FakePrivateDns>,
    /// Endpoint connections per service.
    pub connections: BTreeMap<String, Vec<Connection>>,
    /// Allowed principals and connection notifications of the provider's services.
    pub provider: ProviderState,
    /// Route 53 hosted zones by ID.
    pub hosted_zones: BTreeMap<String, FakeZone>,
    pub certificates: BTreeMap<String, FakeCertificate>,
    /// Listeners that take certificates (and any other listener a test adds), by ARN.
    pub tls_listeners: BTreeMap<String, FakeListener>,
    /// Zones not delegated from their parent: public DNS can't see their records.
    pub undelegated_zones: BTreeSet<String>,
    /// Domains whose CAA records forbid Amazon: their certificates fail with CAA_ERROR.
    pub caa_forbidden: BTreeSet<String>,
    /// Describes after StartVpcEndpointServicePrivateDnsVerification before the result shows.
    pub verify_after_polls: u32,
    /// Reads of a new certificate before ACM shows its validation records.
    pub records_after_polls: u32,
    /// Parameters other accounts shared with this one, by ARN.
    pub shared: BTreeMap<String, String>,
    /// Events put on this account's buses: (bus, detail type, detail).
    pub announced: Vec<(String, String, Value)>,
    /// Expiring markers: value and expiry, by name.
    pub markers: BTreeMap<String, (String, std::time::SystemTime)>,
    /// Consumer side: VPCs (with CIDRs), subnets, endpoints, groups.
    pub vpcs: BTreeMap<String, Vec<String>>,
    pub subnets: BTreeMap<String, crate::aws::Subnet>,
    pub endpoints: BTreeMap<String, FakeEndpoint>,
    pub groups: BTreeMap<String, consumer::FakeGroup>,
    /// Services a consumer can reach, by service name.
    pub remote_services: BTreeMap<String, RemoteService>,
    /// Passes an endpoint stays `pending`/`deleting` before it settles.
    pub settle_after_polls: u32,
    pub next_id: u64,
    /// What a synchronous invoke answers (the probe's report); `None`: no such function.
    pub invoke_answer: Option<Value>,
    /// Probe schedules: rule name → its target's input.
    pub schedules: BTreeMap<String, String>,
}

/// A service's private DNS name and its verification, as EC2 keeps it.
#[derive(Clone, Debug)]
pub struct FakePrivateDns {
    pub name: String,
    pub state: String,
    pub verification: Verification,
    /// Describes left before a started verification settles; `None` when not started.
    pub settles_in: Option<u32>,
}

#[derive(Default)]
pub struct FakeCloud {
    pub state: Mutex<State>,
}

impl FakeCloud {
    /// A provider account with an endpoint service on one NLB in two AZs.
    pub fn provider() -> Self {
        let cloud = FakeCloud::default();
        {
            let mut s = cloud.state.lock().unwrap();
            for (name, id) in [
                ("us-east-1a", "use1-az4"),
                ("us-east-1b", "use1-az6"),
                ("us-east-1c", "use1-az1"),
            ] {
                s.zones.insert(name.into(), id.into());
            }
            let nlb = format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/net/orders/0123456789abcdef");
            s.listeners.insert(
                nlb.clone(),
                vec![Port {
                    port: 443,
                    protocol: crate::descriptor::Protocol::Tls,
                }],
            );
            s.services.insert(
                "vpce-svc-0123456789abcdef0".into(),
                EndpointService {
                    service_id: "vpce-svc-0123456789abcdef0".into(),
                    service_name: format!("com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0"),
                    az_names: vec!["us-east-1a".into(), "us-east-1c".into()],
                    acceptance_required: true,
                    nlb_arns: vec![nlb],
                    private_dns: None,
                    verification: None,
                },
            );
            s.verify_after_polls = 1;
        }
        cloud
    }

    /// A public hosted zone for `domain`; returns its ID.
    pub fn add_zone(&self, id: &str, domain: &str, private: bool) -> String {
        self.state.lock().unwrap().hosted_zones.insert(
            id.to_string(),
            FakeZone {
                name: domain.to_string(),
                private,
                ..FakeZone::default()
            },
        );
        id.to_string()
    }

    /// A record as it is in a zone now.
    pub fn record_in(&self, zone_id: &str, name: &str, kind: RecordType) -> Option<RecordSet> {
        let s = self.state.lock().unwrap();
        s.hosted_zones
            .get(zone_id)?
            .records
            .get(&(name.to_string(), kind))
            .cloned()
    }

    /// Every record in a zone.
    pub fn records_in(&self, zone_id: &str) -> Vec<RecordSet> {
        let s = self.state.lock().unwrap();
        s.hosted_zones
            .get(zone_id)
            .map(|z| z.records.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A consumer endpoint connected to a service.
    pub fn connect(&self, service_id: &str, owner: &str, endpoint_id: &str, state: &str) {
        self.state
            .lock()
            .unwrap()
            .connections
            .entry(service_id.to_string())
            .or_default()
            .push(Connection {
                service_id: service_id.to_string(),
                endpoint_id: endpoint_id.to_string(),
                owner: owner.to_string(),
                state: state.to_string(),
            });
    }

    pub fn inject(&self, op: &'static str, fault: Fault) {
        self.state.lock().unwrap().faults.insert(op, fault);
    }

    pub fn calls(&self) -> Vec<&'static str> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|(op, _)| *op)
            .collect()
    }

    pub fn mutating_calls(&self) -> Vec<&'static str> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(_, m)| *m)
            .map(|(op, _)| *op)
            .collect()
    }

    pub fn reset_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }

    pub fn param(&self, name: &str) -> Option<Param> {
        self.state.lock().unwrap().params.get(name).cloned()
    }

    /// Record the call and apply any injected fault for it.
    async fn call(&self, op: &'static str, mutating: bool) -> Result<()> {
        // Every call is a point where another task may run, as a network call is: concurrent
        // callers (a stack operation and the reconciler) interleave call by call.
        tokio::task::yield_now().await;
        let fault = {
            let mut s = self.state.lock().unwrap();
            s.calls.push((op, mutating));
            match s.faults.remove(op) {
                Some(Fault::FailNth(n, code, message)) if n > 1 => {
                    s.faults.insert(op, Fault::FailNth(n - 1, code, message));
                    None
                }
                Some(Fault::HangNth(n)) if n > 1 => {
                    s.faults.insert(op, Fault::HangNth(n - 1));
                    None
                }
                other => other,
            }
        };
        match fault {
            None => Ok(()),
            Some(Fault::FailNth(_, code, message)) => Err(Error::aws(op, code, message)),
            Some(Fault::Fail(code, message)) => Err(Error::aws(op, code, message)),
            Some(Fault::Panic) => panic!("injected panic in {op}"),
            Some(Fault::Hang) | Some(Fault::HangNth(_)) => {
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                Ok(())
            }
        }
    }
}

fn no_service(op: &'static str, service_id: &str) -> Error {
    Error::aws(
        op,
        "InvalidVpcEndpointServiceId.NotFound",
        format!("The VpcEndpointService Id '{service_id}' does not exist"),
    )
}

#[async_trait]
impl EndpointServices for FakeCloud {
    async fn describe_service(&self, service_id: &str) -> Result<Option<EndpointService>> {
        self.call("ec2:DescribeVpcEndpointServiceConfigurations", false)
            .await?;
        let mut s = self.state.lock().unwrap();
        let Some(mut svc) = s.services.get(service_id).cloned() else {
            return Ok(None);
        };
        // A started verification settles after a few looks, on what public DNS shows then.
        let settled = match s.private_dns.get(service_id) {
            Some(p) if p.settles_in == Some(0) => {
                let published = dns::txt_published(&s, &p.name, &p.verification);
                Some(if published { "verified" } else { "failed" })
            }
            _ => None,
        };
        if let Some(p) = s.private_dns.get_mut(service_id) {
            match (settled, p.settles_in) {
                (Some(state), _) => {
                    p.state = state.to_string();
                    p.settles_in = None;
                }
                (None, Some(n)) => p.settles_in = Some(n - 1),
                _ => {}
            }
            svc.private_dns = Some(crate::descriptor::PrivateDns {
                name: p.name.clone(),
                state: p.state.clone(),
            });
            svc.verification = Some(p.verification.clone());
        }
        Ok(Some(svc))
    }

    async fn set_private_dns_name(&self, service_id: &str, name: Option<&str>) -> Result<()> {
        const OP: &str = "ec2:ModifyVpcEndpointServiceConfiguration";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !s.services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        match name {
            None => {
                s.private_dns.remove(service_id);
            }
            Some(n) if s.private_dns.get(service_id).is_some_and(|p| p.name == n) => {}
            Some(n) => {
                let token = hex::encode(&sha2::Sha256::digest(n.as_bytes())[..10]);
                s.private_dns.insert(
                    service_id.to_string(),
                    FakePrivateDns {
                        name: n.to_string(),
                        state: "pendingVerification".into(),
                        verification: Verification {
                            name: format!("_{}", &token[..20]),
                            value: format!("vpce:{token}"),
                        },
                        settles_in: None,
                    },
                );
            }
        }
        Ok(())
    }

    async fn start_private_dns_verification(&self, service_id: &str) -> Result<()> {
        const OP: &str = "ec2:StartVpcEndpointServicePrivateDnsVerification";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        let polls = s.verify_after_polls;
        match s.private_dns.get_mut(service_id) {
            Some(p) => {
                p.state = "pendingVerification".into();
                p.settles_in = Some(polls);
                Ok(())
            }
            None => Err(Error::aws(
                OP,
                "InvalidParameter",
                format!("The service {service_id} does not have a private DNS name."),
            )),
        }
    }

    async fn connections(&self, service_id: &str) -> Result<Vec<Connection>> {
        self.call("ec2:DescribeVpcEndpointConnections", false)
            .await?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .connections
            .get(service_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn reject_connections(&self, service_id: &str, endpoint_ids: &[String]) -> Result<()> {
        const OP: &str = "ec2:RejectVpcEndpointConnections";
        self.call(OP, true).await?;
        let mut s = self.state.lock().unwrap();
        if !s.services.contains_key(service_id) {
            return Err(no_service(OP, service_id));
        }
        for c in s.connections.entry(service_id.to_string()).or_default() {
            if endpoint_ids.contains(&c.endpoint_id) {
                c.state = "rejected".into();
            }
        }
        Ok(())
    }

    async fn pending_connections(&self) -> Result<Vec<Connection>> {
        self.pending().await
    }

    async fn accept_connections(&self, service_id: &str, endpoint_ids: &[String]) -> Result<()> {
        self.accept(service_id, endpoint_ids).await
    }

    async fn allowed_principals(&self, service_id: &str) -> Result<Vec<String>> {
        self.principals(service_id).await
    }

    async fn change_principals(
        &self,
        service_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        self.modify_principals(service_id, add, remove).await
    }

    async fn connection_notifications(
        &self,
        service_id: &str,
    ) -> Result<Vec<crate::aws::ConnectionNotification>> {
        self.notifications(service_id).await
    }

    async fn create_connection_notification(
        &self,
        service_id: &str,
        topic_arn: &str,
        events: &[crate::aws::ConnectionEvent],
    ) -> Result<String> {
        self.create_notification(service_id, topic_arn, events)
            .await
    }

    async fn delete_connection_notifications(&self, ids: &[String]) -> Result<()> {
        self.delete_notifications(ids).await
    }
}

#[async_trait]
impl Zones for FakeCloud {
    async fn zone_ids_by_name(&self) -> Result<BTreeMap<String, String>> {
        self.call("ec2:DescribeAvailabilityZones", false).await?;
        Ok(self.state.lock().unwrap().zones.clone())
    }
}

#[async_trait]
impl Functions for FakeCloud {
    async fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<()> {
        self.call("lambda:Invoke", true).await?;
        self.state
            .lock()
            .unwrap()
            .invocations
            .push((function_arn.to_string(), payload));
        Ok(())
    }

    async fn invoke(&self, function_arn: &str, payload: Value) -> Result<Value> {
        self.call("lambda:Invoke", false).await?;
        let mut s = self.state.lock().unwrap();
        s.invocations.push((function_arn.to_string(), payload));
        s.invoke_answer.clone().ok_or_else(|| {
            Error::aws(
                "lambda:Invoke",
                "ResourceNotFoundException",
                format!("Function not found: {function_arn}"),
            )
        })
    }
}

#[async_trait]
impl Announcements for FakeCloud {
    async fn announce(&self, bus: &str, _: &str, detail_type: &str, detail: &Value) -> Result<()> {
        self.call("events:PutEvents", true).await?;
        let mut s = self.state.lock().unwrap();
        s.announced
            .push((bus.to_string(), detail_type.to_string(), detail.clone()));
        Ok(())
    }
}

/// Run a resource's apply (or cleanup, for a Delete) pass after pass, as the runtime would,
/// without sleeping: until it is done or fails, or `max_passes` run out (a panic). Returns the
/// outcome and the progress values of the waits in between.
pub async fn drive(
    resource: &dyn crate::cfn::Resource,
    req: &crate::cfn::Request,
    max_passes: usize,
) -> (Result<crate::cfn::Answer>, Vec<Value>) {
    let mut progress: Option<Value> = None;
    let mut waits = Vec::new();
    for _ in 0..max_passes {
        let step = match req.kind {
            crate::cfn::RequestKind::Delete => resource.cleanup(req, progress.as_ref()).await,
            _ => resource.apply(req, progress.as_ref()).await,
        };
        match step {
            Ok(crate::cfn::Step::Done(a)) => return (Ok(a), waits),
            Ok(crate::cfn::Step::Wait { progress: p, .. }) => {
                waits.push(p.clone());
                progress = Some(p);
            }
            Err(e) => return (Err(e), waits),
        }
    }
    panic!("still waiting after {max_passes} passes");
}
