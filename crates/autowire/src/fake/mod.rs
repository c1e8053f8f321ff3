//! An in-memory cloud that implements the capability traits with AWS's semantics (what exists,
//! what errors come back), and records every call so tests can assert which calls were made.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::aws::{
    Descriptors, EndpointService, EndpointServices, Functions, Listeners, Owner, StoredParameter,
    Tier, Zones,
};
use crate::descriptor::Port;
use crate::error::{Error, Result};

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
                },
            );
        }
        cloud
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
        let fault = {
            let mut s = self.state.lock().unwrap();
            s.calls.push((op, mutating));
            s.faults.remove(op)
        };
        match fault {
            None => Ok(()),
            Some(Fault::Fail(code, message)) => Err(Error::aws(op, code, message)),
            Some(Fault::Panic) => panic!("injected panic in {op}"),
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                Ok(())
            }
        }
    }
}

#[async_trait]
impl EndpointServices for FakeCloud {
    async fn describe_service(&self, service_id: &str) -> Result<Option<EndpointService>> {
        self.call("ec2:DescribeVpcEndpointServiceConfigurations", false)
            .await?;
        Ok(self.state.lock().unwrap().services.get(service_id).cloned())
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
impl Listeners for FakeCloud {
    async fn listener_ports(&self, arns: &[String]) -> Result<Vec<Port>> {
        self.call("elasticloadbalancing:DescribeListeners", false)
            .await?;
        let s = self.state.lock().unwrap();
        let mut out = Vec::new();
        for arn in arns {
            let ports = s.listeners.get(arn).ok_or_else(|| {
                Error::aws(
                    "elasticloadbalancing:DescribeListeners",
                    "LoadBalancerNotFound",
                    format!("Load balancer '{arn}' not found"),
                )
            })?;
            out.extend(ports.iter().copied());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn local_name(name_or_arn: &str) -> Option<String> {
    match crate::arn::Arn::parse(name_or_arn) {
        Ok(arn) if arn.account == ACCOUNT && arn.region == REGION => arn.parameter_name(),
        Ok(_) => None,
        Err(_) => Some(name_or_arn.to_string()),
    }
}

#[async_trait]
impl Descriptors for FakeCloud {
    async fn read(&self, name_or_arn: &str) -> Result<Option<StoredParameter>> {
        self.call("ssm:GetParameter", false).await?;
        let Some(name) = local_name(name_or_arn) else {
            return Ok(None);
        };
        Ok(self
            .state
            .lock()
            .unwrap()
            .params
            .get(&name)
            .map(|p| StoredParameter {
                value: p.value.clone(),
                arn: Some(
                    crate::arn::Arn::ssm_parameter("aws", REGION, ACCOUNT, &name).to_string(),
                ),
            }))
    }

    async fn owner(&self, name: &str) -> Result<Option<Owner>> {
        self.call("ssm:ListTagsForResource", false).await?;
        let s = self.state.lock().unwrap();
        let p = s.params.get(name).ok_or_else(|| {
            Error::aws(
                "ssm:ListTagsForResource",
                "InvalidResourceId",
                "The resource ID is not valid.",
            )
        })?;
        Ok(Owner::from_tags(&p.tags))
    }

    async fn create(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<()> {
        self.call("ssm:PutParameter", true).await?;
        let mut s = self.state.lock().unwrap();
        if s.params.contains_key(name) {
            return Err(Error::aws(
                "ssm:PutParameter",
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
            ));
        }
        s.params.insert(
            name.into(),
            Param {
                value: value.into(),
                tier,
                tags: owner.tags().into_iter().collect(),
            },
        );
        Ok(())
    }

    async fn overwrite(&self, name: &str, value: &str, tier: Tier) -> Result<()> {
        self.call("ssm:PutParameter", true).await?;
        let mut s = self.state.lock().unwrap();
        let p = s.params.entry(name.into()).or_insert_with(|| Param {
            value: String::new(),
            tier,
            tags: BTreeMap::new(),
        });
        p.value = value.into();
        p.tier = tier;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.call("ssm:DeleteParameter", true).await?;
        self.state.lock().unwrap().params.remove(name);
        Ok(())
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
}
