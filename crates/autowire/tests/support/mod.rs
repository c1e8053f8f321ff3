//! Test bed access for wire tests: account credentials from the emulator's STS, SDK clients that
//! log every operation they call, and provider-side infrastructure.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use autowire::aws::sdk::Sdk;
use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

pub const REGION: &str = "us-east-1";
pub const PROVIDER: &str = "111111111111";
pub const CONSUMER: &str = "222222222222";

/// The emulator's URL. Wire tests need it: in CI a missing emulator fails, never skips.
pub fn emulator_url() -> Option<String> {
    match std::env::var("AUTOWIRE_EMULATOR_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("AUTOWIRE_EMULATOR_URL is not set: run the wire tests through `make test`")
        }
        _ => {
            eprintln!("skipping: AUTOWIRE_EMULATOR_URL not set (run `make test`)");
            None
        }
    }
}

/// A short suffix that differs between runs.
pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:x}", nanos % 0xffffff)
}

/// Every operation the clients called, as `service:Operation`.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn mutating(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| {
                let op = c.split(':').nth(1).unwrap_or_default();
                !["Describe", "Get", "List"]
                    .iter()
                    .any(|p| op.starts_with(p))
            })
            .collect()
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let service = m.service().to_ascii_lowercase().replace(' ', "");
            self.0
                .lock()
                .unwrap()
                .push(format!("{service}:{}", m.name()));
        }
        Ok(())
    }
}

/// An SdkConfig acting as `account`, with keys from the emulator's STS AssumeRole.
pub async fn account_config(url: &str, account: &str) -> SdkConfig {
    let bootstrap = autowire::aws::sdk::config_loader()
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::for_tests())
        .load()
        .await;
    let out = aws_sdk_sts::Client::new(&bootstrap)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/autowire-test"))
        .role_session_name("wire-test")
        .send()
        .await
        .expect("AssumeRole on the emulator");
    let c = out.credentials().expect("credentials");
    autowire::aws::sdk::config_loader()
        .region(Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "emulator-sts",
        ))
        .load()
        .await
}

/// A repeat of what was already done made no mutating call.
pub fn assert_no_mutating_calls(log: &CallLog) {
    assert!(
        log.mutating().is_empty(),
        "a repeat made mutating calls: {:?}",
        log.all()
    );
}

/// SDK adapters whose every call lands in `log`.
pub fn logged_sdk(config: &SdkConfig, log: &CallLog) -> Sdk {
    macro_rules! logged {
        ($sdk:ident) => {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(config)
                    .interceptor(log.clone())
                    .build(),
            )
        };
    }
    Sdk {
        ec2: logged!(aws_sdk_ec2),
        elbv2: logged!(aws_sdk_elasticloadbalancingv2),
        route53: logged!(aws_sdk_route53),
        acm: logged!(aws_sdk_acm),
        ssm: logged!(aws_sdk_ssm),
        lambda: logged!(aws_sdk_lambda),
        events: logged!(aws_sdk_eventbridge),
    }
}

/// A provider service: VPC, subnets in the given AZ IDs, an NLB with a TCP listener on
/// `port`, and an endpoint service that requires acceptance.
pub struct ProviderService {
    pub service_id: String,
    pub service_name: String,
    pub nlb_arn: String,
    pub subnet_az_ids: Vec<String>,
    pub target_group_arn: String,
}

pub async fn provider_service(
    config: &SdkConfig,
    name: &str,
    az_ids: &[&str],
    port: i32,
) -> ProviderService {
    // Unique per run, so the tests can share one long-lived emulator.
    let name = &format!("{name}-{}", unique());
    let ec2 = aws_sdk_ec2::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let (vpc_id, subnets) = vpc_with_subnets(config, 20, az_ids).await;
    let lb = elb
        .create_load_balancer()
        .name(name)
        .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Network)
        .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let nlb_arn = lb.load_balancers()[0]
        .load_balancer_arn()
        .unwrap()
        .to_string();
    let tg = elb
        .create_target_group()
        .name(format!("{name}-tg"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(port)
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let tg_arn = tg.target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    elb.create_listener()
        .load_balancer_arn(&nlb_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
        .port(port)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&tg_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let svc = ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&nlb_arn)
        .acceptance_required(true)
        .send()
        .await
        .unwrap();
    let conf = svc.service_configuration().unwrap();
    ProviderService {
        service_id: conf.service_id().unwrap().to_string(),
        service_name: conf.service_name().unwrap().to_string(),
        nlb_arn,
        subnet_az_ids: az_ids.iter().map(|s| s.to_string()).collect(),
        target_group_arn: tg_arn,
    }
}

/// A VPC `10.<octet>.0.0/16` with one subnet per AZ ID: `(vpc_id, subnet_ids)`.
pub async fn vpc_with_subnets(
    config: &SdkConfig,
    octet: u8,
    az_ids: &[&str],
) -> (String, Vec<String>) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let vpc = ec2
        .create_vpc()
        .cidr_block(format!("10.{octet}.0.0/16"))
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in az_ids.iter().enumerate() {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.{octet}.{i}.0/24"))
            .availability_zone_id(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    (vpc_id, subnets)
}

/// A publication's request from the wire test stack; the physical ID follows `props`' ServiceKey.
pub fn publication_request(
    kind: autowire::cfn::RequestKind,
    props: serde_json::Value,
) -> autowire::cfn::Request {
    use autowire::cfn::RequestKind;
    let key = props["ServiceKey"].as_str().unwrap_or_default();
    let arn =
        format!("arn:aws:ssm:{REGION}:{PROVIDER}:parameter/privatelink-autowire/services/{key}");
    autowire::cfn::Request {
        kind,
        request_id: "wire".into(),
        stack_id: format!("arn:aws:cloudformation:{REGION}:{PROVIDER}:stack/wire/1"),
        logical_id: "Publication".into(),
        resource_type: autowire::publication::RESOURCE_TYPE.into(),
        service_token: Some(format!(
            "arn:aws:lambda:{REGION}:{PROVIDER}:function:provider"
        )),
        physical_id: (kind != RequestKind::Create).then_some(arn),
        props,
        old_props: None,
    }
}
