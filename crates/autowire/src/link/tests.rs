//! The link against the in-memory cloud: what it builds, where, and which calls it makes.

use serde_json::json;

use super::*;
use crate::descriptor::{Acceptance, Port, PrivateDns, SCHEMA};
use crate::fake::{drive, FakeCloud, Fault, RemoteService};
use crate::probe::{ErrorClass, Failure, Report, Stage, StageTimes, Summary, TargetReport};

pub(crate) const STACK: &str = "arn:aws:cloudformation:us-east-1:222222222222:stack/consumer/1";
pub(crate) const SHARED: &str =
    "arn:aws:ssm:us-east-1:999999999999:parameter/privatelink-autowire/services/orders";
pub(crate) const SERVICE: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0";
pub(crate) const OTHER_SERVICE: &str = "com.amazonaws.vpce.us-east-1.vpce-svc-0fedcba9876543210";
pub(crate) const VPC: &str = "vpc-0123456789abcdef0";

pub(crate) fn descriptor(service_name: &str, ports: &[u16], private_dns: bool) -> Descriptor {
    Descriptor {
        schema: SCHEMA,
        key: "orders".into(),
        service_id: service_name.rsplit('.').next().unwrap().into(),
        service_name: service_name.into(),
        region: "us-east-1".into(),
        provider_account: "999999999999".into(),
        az_ids: vec!["use1-az1".into(), "use1-az4".into()],
        ports: ports
            .iter()
            .map(|p| Port {
                port: *p,
                protocol: Protocol::Tls,
            })
            .collect(),
        private_dns: private_dns.then(|| PrivateDns {
            name: "orders.link.example.com".into(),
            state: "verified".into(),
        }),
        tls_names: vec![
            "orders.link.example.com".into(),
            "*.orders.link.example.com".into(),
        ],
        acceptance: Acceptance::Policy,
        digest: String::new(),
    }
    .sealed()
}

pub(crate) fn share(cloud: &FakeCloud, d: &Descriptor) {
    cloud
        .state
        .lock()
        .unwrap()
        .shared
        .insert(SHARED.into(), d.to_canonical_json());
}

/// A consumer account: a VPC with subnets in use1-az1, use1-az2 and use1-az4 (the provider
/// serves az1 and az4), the shared descriptor, and the provider's service (acceptance required).
pub(crate) fn setup() -> (Arc<FakeCloud>, Link<FakeCloud>, Vec<String>) {
    let cloud = Arc::new(FakeCloud::default());
    let subnets = cloud.add_vpc(VPC, "10.1.0.0/16", &["use1-az1", "use1-az2", "use1-az4"]);
    for name in [SERVICE, OTHER_SERVICE] {
        cloud.add_remote_service(
            name,
            RemoteService {
                az_ids: vec!["use1-az1".into(), "use1-az4".into()],
                acceptance_required: true,
                private_dns_verified: false,
            },
        );
    }
    share(&cloud, &descriptor(SERVICE, &[443], false));
    cloud.state.lock().unwrap().settle_after_polls = 1;
    (cloud.clone(), Link::new(cloud), subnets)
}

/// `setup`, then the stack's Create converged: one link with its endpoint accepted.
pub(crate) async fn created() -> (Arc<FakeCloud>, Link<FakeCloud>, Vec<String>, Answer) {
    let (cloud, link, subnets) = setup();
    let create = request(RequestKind::Create, props(&subnets));
    let answer = converge(&cloud, &link, &create).await.unwrap();
    (cloud, link, subnets, answer)
}

pub(crate) fn props(subnets: &[String]) -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:222222222222:function:consumer",
        "ServiceParameter": SHARED,
        "VpcId": VPC,
        "SubnetIds": subnets,
        "AliasName": "api.orders.link.example.com",
    })
}

pub(crate) fn request(kind: RequestKind, props: Value) -> Request {
    Request {
        kind,
        request_id: "req-1".into(),
        stack_id: STACK.into(),
        logical_id: "OrdersLink".into(),
        resource_type: RESOURCE_TYPE.into(),
        service_token: Some("arn:aws:lambda:us-east-1:222222222222:function:consumer".into()),
        physical_id: (kind != RequestKind::Create).then(|| link_id(STACK, "OrdersLink", VPC)),
        old_props: (kind == RequestKind::Update).then(|| props.clone()),
        props,
    }
}

/// Drive to the end, accepting (as the provider would) when the link waits for acceptance.
pub(crate) async fn converge(
    cloud: &FakeCloud,
    link: &Link<FakeCloud>,
    req: &Request,
) -> Result<Answer> {
    for _ in 0..20 {
        match link.apply(req, None).await? {
            Step::Done(a) => return Ok(a),
            Step::Wait { waiting_for, .. } if waiting_for.contains("to accept") => {
                cloud.accept_pending();
            }
            Step::Wait { .. } => {}
        }
    }
    panic!("did not converge");
}

fn cname(cloud: &FakeCloud, name: &str) -> Option<RecordSet> {
    cloud
        .private_zone_ids()
        .iter()
        .find_map(|z| cloud.record_in(z, name, RecordType::Cname))
}

#[tokio::test]
async fn create_builds_the_endpoint_in_the_provider_s_azs_with_its_group_and_alias() {
    let (cloud, link, subnets) = setup();
    let a = converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    assert_eq!(a.physical_id, link_id(STACK, "OrdersLink", VPC));
    assert_eq!(a.data["AzIds"], "use1-az1,use1-az4");
    assert_eq!(
        a.data["SubnetIds"],
        format!("{},{}", subnets[0], subnets[2]),
        "az2 is left out"
    );
    assert_eq!(a.data["State"], "available");
    let endpoints = cloud.live_endpoints();
    assert_eq!(endpoints.len(), 1);
    let e = &endpoints[0];
    assert_eq!(e.tags[LINK_TAG], a.physical_id);
    assert_eq!(e.tags[DESCRIPTOR_TAG], SHARED);
    assert!(!e.tags[DIGEST_TAG].is_empty());
    assert!(
        !e.private_dns_enabled,
        "auto: the provider has no verified name"
    );
    let groups = cloud.state.lock().unwrap().groups.clone();
    assert_eq!(groups.len(), 1);
    let g = groups.values().next().unwrap();
    assert_eq!(
        g.group.rules,
        vec![IngressRule {
            protocol: "tcp".into(),
            port: 443,
            source: RuleSource::Cidr("10.1.0.0/16".into())
        }]
    );
    assert_eq!(e.security_group_ids, vec![g.group.id.clone()]);
    let alias = cname(&cloud, "api.orders.link.example.com").expect("alias written");
    assert_eq!(alias.values, vec![e.dns_names[0].clone()]);
    assert_eq!(a.data["DnsName"], e.dns_names[0]);
}

#[tokio::test]
async fn a_repeated_create_and_a_noop_update_make_no_mutating_call() {
    let (cloud, link, subnets) = setup();
    let create = request(RequestKind::Create, props(&subnets));
    let first = converge(&cloud, &link, &create).await.unwrap();
    cloud.reset_calls();
    assert_eq!(converge(&cloud, &link, &create).await.unwrap(), first);
    assert_eq!(
        converge(
            &cloud,
            &link,
            &request(RequestKind::Update, props(&subnets))
        )
        .await
        .unwrap(),
        first
    );
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    assert_eq!(cloud.live_endpoints().len(), 1);
}

#[tokio::test]
async fn a_duplicate_create_delivered_mid_flight_gives_one_endpoint() {
    let (cloud, link, subnets) = setup();
    let create = request(RequestKind::Create, props(&subnets));
    // Two deliveries of the same Create, both before the endpoint settles.
    assert!(matches!(
        link.apply(&create, None).await.unwrap(),
        Step::Wait { .. }
    ));
    assert!(matches!(
        link.apply(&create, None).await.unwrap(),
        Step::Wait { .. }
    ));
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(cloud.live_endpoints().len(), 1);
    assert_eq!(cloud.group_ids().len(), 1);
}

#[tokio::test]
async fn throttled_creates_wait_and_converge_without_duplicates() {
    let (cloud, link, subnets) = setup();
    cloud.inject(
        "ec2:CreateVpcEndpoint",
        Fault::Fail(
            "RequestLimitExceeded".into(),
            "Request limit exceeded.".into(),
        ),
    );
    let create = request(RequestKind::Create, props(&subnets));
    let Step::Wait { waiting_for, .. } = link.apply(&create, None).await.unwrap() else {
        panic!("a throttle is waited out");
    };
    assert!(waiting_for.contains("throttled"), "{waiting_for}");
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(cloud.live_endpoints().len(), 1);
}

#[tokio::test]
async fn no_overlap_fails_before_creating_anything_and_lists_every_candidate() {
    let (cloud, link, _) = setup();
    let elsewhere = cloud.add_vpc(
        "vpc-0aaaaaaaaaaaaaaaa",
        "10.2.0.0/16",
        &["use1-az2", "use1-az3"],
    );
    let mut p = props(&elsewhere);
    p["VpcId"] = json!("vpc-0aaaaaaaaaaaaaaaa");
    let err = link
        .apply(&request(RequestKind::Create, p), None)
        .await
        .unwrap_err();
    let reason = err.reason();
    assert!(
        reason.contains(&format!("{} (use1-az2)", elsewhere[0])),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("{} (use1-az3)", elsewhere[1])),
        "{reason}"
    );
    assert!(reason.contains("use1-az1, use1-az4"), "{reason}");
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn checks_fail_before_anything_is_created() {
    let (cloud, link, subnets) = setup();
    let cases = [
        (
            json!({"PrivateDns": "enabled"}),
            "has no verified private DNS name",
        ),
        (
            json!({"AliasName": "orders.other.example.com"}),
            "is not covered by the service's TLS names",
        ),
        (
            json!({"ServiceParameter": "arn:aws:ssm:us-east-1:888888888888:parameter/privatelink-autowire/services/x"}),
            "not shared with account 222222222222",
        ),
        (
            json!({"ServiceParameter": "/privatelink-autowire/services/missing"}),
            "no such parameter",
        ),
        (
            json!({"VpcId": "vpc-0bbbbbbbbbbbbbbbb"}),
            "VPC vpc-0bbbbbbbbbbbbbbbb not found",
        ),
        (
            json!({"SubnetIds": ["subnet-0cccccccccccccccc"]}),
            "subnet-0cccccccccccccccc not found",
        ),
        (
            json!({"PrivateDns": "sometimes"}),
            "not one of auto, enabled, disabled",
        ),
        (
            json!({"VerifyReachability": "true"}),
            "ProbeFunctionArn: is required with VerifyReachability",
        ),
        (json!({"Colour": "red"}), "unknown properties: Colour"),
    ];
    for (extra, expected) in cases {
        let mut p = props(&subnets);
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let err = link
            .apply(&request(RequestKind::Create, p.clone()), None)
            .await
            .unwrap_err();
        assert!(err.reason().contains(expected), "{p}: {}", err.reason());
        assert!(err.reason().chars().count() < 256);
    }
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    // Not covered, but the user says so: allowed.
    let mut p = props(&subnets);
    p["AliasName"] = json!("orders.other.example.com");
    p["RequireTlsMatch"] = json!("false");
    converge(&cloud, &link, &request(RequestKind::Create, p))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_descriptor_schema_is_refused() {
    let (cloud, link, subnets) = setup();
    cloud
        .state
        .lock()
        .unwrap()
        .shared
        .insert(SHARED.into(), r#"{"schema":2}"#.into());
    let err = link
        .apply(&request(RequestKind::Create, props(&subnets)), None)
        .await
        .unwrap_err();
    assert!(err.reason().contains("schema"), "{}", err.reason());
}

/// The provider verifies its service's private DNS name and publishes it.
pub(crate) fn verify_private_dns(cloud: &FakeCloud) {
    cloud
        .state
        .lock()
        .unwrap()
        .remote_services
        .get_mut(SERVICE)
        .unwrap()
        .private_dns_verified = true;
    share(cloud, &descriptor(SERVICE, &[443], true));
}

#[tokio::test]
async fn private_dns_follows_the_descriptor_when_auto() {
    let (cloud, link, subnets) = setup();
    verify_private_dns(&cloud);
    converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    assert!(cloud.live_endpoints()[0].private_dns_enabled);
}

#[tokio::test]
async fn not_waiting_for_acceptance_answers_pending() {
    let (_cloud, link, subnets) = setup();
    let mut p = props(&subnets);
    p["WaitForAcceptance"] = json!("false");
    let (a, _) = drive(&link, &request(RequestKind::Create, p), 10).await;
    assert_eq!(a.unwrap().data["State"], "pendingAcceptance");
}

#[tokio::test]
async fn a_rejected_endpoint_fails_clearly_and_the_delete_after_it_leaves_nothing() {
    let (cloud, link, subnets) = setup();
    let create = request(RequestKind::Create, props(&subnets));
    let mut result = None;
    for _ in 0..10 {
        match link.apply(&create, None).await {
            Ok(Step::Wait { waiting_for, .. }) if waiting_for.contains("to accept") => {
                cloud.decide(&cloud.live_endpoints()[0].id, false);
            }
            Ok(Step::Wait { .. }) => {}
            other => {
                result = Some(other);
                break;
            }
        }
    }
    let err = result.unwrap().unwrap_err();
    assert!(
        err.reason()
            .contains("was rejected by provider account 999999999999"),
        "{}",
        err.reason()
    );
    // The failed Create answers with the link ID, so CloudFormation's Delete cleans up by tag.
    let id = link.failed_create_physical_id(&create).unwrap();
    let mut delete = request(RequestKind::Delete, props(&subnets));
    delete.physical_id = Some(id);
    drive(&link, &delete, 10).await.0.unwrap();
    assert!(cloud.live_endpoints().is_empty());
    assert!(cloud.group_ids().is_empty());
    assert!(cloud.private_zone_ids().is_empty());
}

#[tokio::test]
async fn changes_are_applied_in_place() {
    let (cloud, link, subnets) = setup();
    let mut old = props(&subnets[..1]);
    converge(&cloud, &link, &request(RequestKind::Create, old.clone()))
        .await
        .unwrap();
    let endpoint = cloud.live_endpoints()[0].id.clone();
    // New ports in the descriptor, a second subnet, a new alias.
    share(&cloud, &descriptor(SERVICE, &[443, 8443], false));
    let mut new = props(&subnets);
    new["AliasName"] = json!("v2.orders.link.example.com");
    let mut update = request(RequestKind::Update, new);
    update.old_props = Some(old.clone());
    let a = converge(&cloud, &link, &update).await.unwrap();
    let e = &cloud.live_endpoints()[0];
    assert_eq!(e.id, endpoint, "same endpoint, changed in place");
    assert_eq!(e.subnet_ids.len(), 2);
    assert_eq!(a.data["AzIds"], "use1-az1,use1-az4");
    let rules = cloud
        .state
        .lock()
        .unwrap()
        .groups
        .values()
        .next()
        .unwrap()
        .group
        .rules
        .clone();
    assert_eq!(
        rules.iter().map(|r| r.port).collect::<Vec<_>>(),
        vec![443, 8443]
    );
    assert!(
        cname(&cloud, "api.orders.link.example.com").is_none(),
        "old alias removed"
    );
    assert!(cname(&cloud, "v2.orders.link.example.com").is_some());
    // CloudFormation's rollback Update swaps the properties back: everything converges back.
    old["AliasName"] = json!("api.orders.link.example.com");
    share(&cloud, &descriptor(SERVICE, &[443], false));
    let mut rollback = request(RequestKind::Update, old);
    rollback.old_props = Some(update.props.clone());
    converge(&cloud, &link, &rollback).await.unwrap();
    let e = &cloud.live_endpoints()[0];
    assert_eq!(e.subnet_ids, vec![subnets[0].clone()]);
    assert!(cname(&cloud, "api.orders.link.example.com").is_some());
    assert!(cname(&cloud, "v2.orders.link.example.com").is_none());
}

#[tokio::test]
async fn a_new_service_gets_a_new_endpoint_then_the_alias_then_the_old_one_goes() {
    let (cloud, link, subnets) = setup();
    converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    let old = cloud.live_endpoints()[0].clone();
    share(&cloud, &descriptor(OTHER_SERVICE, &[443], false));
    let a = converge(
        &cloud,
        &link,
        &request(RequestKind::Update, props(&subnets)),
    )
    .await
    .unwrap();
    assert_eq!(a.data["ServiceName"], OTHER_SERVICE);
    let live: Vec<Endpoint> = cloud
        .live_endpoints()
        .into_iter()
        .filter(|e| !e.is_gone())
        .collect();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].id, old.id);
    assert_eq!(
        cname(&cloud, "api.orders.link.example.com").unwrap().values,
        vec![live[0].dns_names[0].clone()]
    );
}

#[tokio::test]
async fn a_changed_vpc_is_a_replacement() {
    assert_ne!(
        link_id(STACK, "OrdersLink", VPC),
        link_id(STACK, "OrdersLink", "vpc-0aaaaaaaaaaaaaaaa")
    );
}

#[tokio::test]
async fn delete_waits_for_the_endpoint_then_removes_what_the_link_owns_and_only_that() {
    let (cloud, link, subnets) = setup();
    converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    // Someone else's group in the same VPC stays.
    let theirs = cloud
        .create_group(VPC, "theirs", "not ours", &[])
        .await
        .unwrap();
    let delete = request(RequestKind::Delete, props(&subnets));
    let (done, waits) = drive(&link, &delete, 10).await;
    done.unwrap();
    assert!(!waits.is_empty(), "the endpoint's deletion is waited for");
    assert!(cloud.live_endpoints().is_empty());
    assert_eq!(cloud.group_ids(), vec![theirs]);
    assert!(cloud.private_zone_ids().is_empty());
    cloud.reset_calls();
    drive(&link, &delete, 3).await.0.unwrap();
    assert_eq!(
        cloud.mutating_calls(),
        Vec::<&str>::new(),
        "deleting what is gone is success"
    );
}

#[tokio::test]
async fn a_delete_after_a_partial_create_leaves_nothing_behind() {
    let (cloud, link, subnets) = setup();
    // The Create gets as far as the group, then the endpoint call is denied.
    cloud.inject(
        "ec2:CreateVpcEndpoint",
        Fault::Fail("UnauthorizedOperation".into(), "denied".into()),
    );
    let create = request(RequestKind::Create, props(&subnets));
    assert!(link.apply(&create, None).await.is_err());
    assert_eq!(cloud.group_ids().len(), 1);
    let mut delete = request(RequestKind::Delete, props(&subnets));
    delete.physical_id = link.failed_create_physical_id(&create);
    drive(&link, &delete, 10).await.0.unwrap();
    assert!(cloud.group_ids().is_empty());
}

#[tokio::test]
async fn given_security_groups_replace_the_owned_one() {
    let (cloud, link, subnets) = setup();
    converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    let mine = cloud
        .create_group(VPC, "app", "the app's own", &[])
        .await
        .unwrap();
    let mut p = props(&subnets);
    p["SecurityGroupIds"] = json!([mine]);
    let a = converge(&cloud, &link, &request(RequestKind::Update, p.clone()))
        .await
        .unwrap();
    assert_eq!(a.data["SecurityGroupId"], mine);
    assert_eq!(
        cloud.live_endpoints()[0].security_group_ids,
        vec![mine.clone()]
    );
    converge(&cloud, &link, &request(RequestKind::Update, p))
        .await
        .unwrap();
    assert_eq!(
        cloud.group_ids(),
        vec![mine],
        "the link's own group is gone"
    );
}

#[test]
fn ingress_rules_cover_each_port_and_protocol_from_each_cidr() {
    let mut d = descriptor(SERVICE, &[443], false);
    d.ports.push(Port {
        port: 53,
        protocol: Protocol::TcpUdp,
    });
    let cidrs = ["10.0.0.0/16", "10.1.0.0/16"].map(|c| RuleSource::Cidr(c.into()));
    let rules = ingress_rules(&d, &cidrs);
    assert_eq!(rules.len(), 6);
    assert!(rules.contains(&IngressRule {
        protocol: "udp".into(),
        port: 53,
        source: RuleSource::Cidr("10.1.0.0/16".into())
    }));
}

#[tokio::test]
async fn a_vpc_that_already_has_a_zone_for_the_domain_gets_a_clear_error() {
    let (cloud, link, subnets) = setup();
    cloud
        .create_private_zone("orders.link.example.com", VPC, "someone-else", &[])
        .await
        .unwrap();
    let err = converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap_err();
    assert!(
        err.reason().contains("already has a private zone for orders.link.example.com; give its ID as AliasHostedZoneId"),
        "{}",
        err.reason()
    );
}

#[tokio::test]
async fn an_alias_dropped_and_added_again_gets_a_fresh_zone() {
    let (cloud, link, subnets) = setup();
    converge(
        &cloud,
        &link,
        &request(RequestKind::Create, props(&subnets)),
    )
    .await
    .unwrap();
    let mut no_alias = props(&subnets);
    no_alias.as_object_mut().unwrap().remove("AliasName");
    let mut update = request(RequestKind::Update, no_alias);
    update.old_props = Some(props(&subnets));
    update.request_id = "req-2".into();
    converge(&cloud, &link, &update).await.unwrap();
    assert!(
        cloud.private_zone_ids().is_empty(),
        "the zone goes with the alias"
    );
    let mut back = request(RequestKind::Update, props(&subnets));
    back.request_id = "req-3".into();
    converge(&cloud, &link, &back).await.unwrap();
    assert!(cname(&cloud, "api.orders.link.example.com").is_some());
}

#[test]
fn regional_and_zonal_names_are_told_apart_from_a_private_dns_name() {
    let e = Endpoint {
        id: "vpce-1".into(),
        service_name: SERVICE.into(),
        vpc_id: VPC.into(),
        state: "available".into(),
        subnet_ids: vec![],
        security_group_ids: vec![],
        private_dns_enabled: true,
        dns_names: vec![
            "vpce-1-ab12cd34-us-east-1a.vpce-svc-1.us-east-1.vpce.amazonaws.com".into(),
            "vpce-1-ab12cd34.vpce-svc-1.us-east-1.vpce.amazonaws.com".into(),
            "orders.link.example.com".into(),
        ],
        tags: Default::default(),
    };
    assert_eq!(
        e.regional_dns_name(),
        Some("vpce-1-ab12cd34.vpce-svc-1.us-east-1.vpce.amazonaws.com")
    );
    assert_eq!(
        e.zonal_dns_names(),
        vec!["vpce-1-ab12cd34-us-east-1a.vpce-svc-1.us-east-1.vpce.amazonaws.com".to_string()]
    );
}

#[tokio::test]
async fn a_throttle_anywhere_in_a_pass_is_a_pause_not_a_failure() {
    for op in [
        "ec2:DescribeVpcs",
        "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:DescribeVpcEndpoints",
        "route53:CreateHostedZone",
    ] {
        let (cloud, link, subnets) = setup();
        cloud.inject(
            op,
            Fault::Fail(
                "RequestLimitExceeded".into(),
                "Request limit exceeded.".into(),
            ),
        );
        converge(
            &cloud,
            &link,
            &request(RequestKind::Create, props(&subnets)),
        )
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(cloud.live_endpoints().len(), 1, "{op}");
        assert_eq!(cloud.group_ids().len(), 1, "{op}");
    }
}

const PROBE: &str = "arn:aws:lambda:us-east-1:222222222222:function:consumer-probe";

fn gated(subnets: &[String]) -> Value {
    let mut p = props(subnets);
    p["VerifyReachability"] = json!("true");
    p["ProbeFunctionArn"] = json!(PROBE);
    p
}

fn with_zone_names(cloud: &FakeCloud) {
    let mut s = cloud.state.lock().unwrap();
    for (name, id) in [
        ("us-east-1a", "use1-az1"),
        ("us-east-1b", "use1-az2"),
        ("us-east-1c", "use1-az4"),
    ] {
        s.zones.insert(name.into(), id.into());
    }
}

#[tokio::test]
async fn the_deploy_gate_asks_the_probe_for_every_name_clients_may_use() {
    let (cloud, link, subnets) = setup();
    with_zone_names(&cloud);
    cloud.state.lock().unwrap().invoke_answer = Some(probe_report(vec![]));
    let a = converge(
        &cloud,
        &link,
        &request(RequestKind::Create, gated(&subnets)),
    )
    .await
    .unwrap();
    assert_eq!(a.data["State"], "available");
    let (arn, payload) = cloud
        .state
        .lock()
        .unwrap()
        .invocations
        .last()
        .cloned()
        .unwrap();
    assert_eq!(arn, PROBE);
    // What the gate sends is what the probe reads.
    let input = crate::probe::Input::parse(&payload).unwrap();
    assert_eq!(serde_json::to_value(&input).unwrap(), payload);
    assert_eq!(
        payload.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["targets", "timeout_ms"],
        "no hosts, no DNS switch: the probe's environment gives those"
    );
    let targets = payload["targets"].as_array().unwrap();
    let hosts: Vec<&str> = targets
        .iter()
        .map(|t| t["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts.len(),
        2 + cloud.live_endpoints()[0].subnet_ids.len(),
        "{hosts:?}"
    );
    assert_eq!(hosts[0], "api.orders.link.example.com");
    for t in targets {
        assert_eq!(t["port"], 443);
        assert_eq!(t["service_key"], "orders");
        assert_eq!(t["tls"]["server_name"], "api.orders.link.example.com");
        assert_eq!(
            t["tls"]["expect_names"],
            json!(["api.orders.link.example.com"])
        );
    }
    let zonal: Vec<&str> = targets.iter().filter_map(|t| t["az_id"].as_str()).collect();
    assert_eq!(
        zonal.len(),
        2,
        "each zonal name carries its AZ ID: {targets:?}"
    );
}

#[tokio::test]
async fn the_deploy_gate_fails_with_the_probe_s_finding() {
    let (cloud, link, subnets) = setup();
    let failing = TargetReport {
        ok: false,
        az_id: Some("use1-az4".into()),
        stage: Stage::Tcp,
        error: Some(Failure {
            class: ErrorClass::TcpTimeout,
            message: "TCP 443 to 10.1.2.3:443 timed out".into(),
        }),
        ..target_report(true)
    };
    // The probe's finding; no probe to invoke; an answer that is not a report (a probe of
    // another release, say).
    for (answer, want) in [
        (
            Some(probe_report(vec![target_report(true), failing])),
            "reachability check failed: TCP 443 to 10.1.2.3:443 timed out in use1-az4",
        ),
        (None, "the reachability probe could not run"),
        (Some(json!({"ok": true})), "not a report this release reads"),
    ] {
        cloud.state.lock().unwrap().invoke_answer = answer;
        let create = request(RequestKind::Create, gated(&subnets));
        let err = converge(&cloud, &link, &create).await.unwrap_err();
        assert!(err.reason().contains(want), "{}", err.reason());
    }
}

fn target_report(ok: bool) -> TargetReport {
    TargetReport {
        host: "api.orders.link.example.com".into(),
        port: 443,
        name: None,
        service_key: Some("orders".into()),
        az_id: None,
        ok,
        stage: Stage::Tls,
        addresses: vec!["10.1.2.3".into()],
        address: Some("10.1.2.3".into()),
        latency_ms: StageTimes(vec![(Stage::Dns, 0.1), (Stage::Tcp, 0.5)]),
        error: None,
        tls: None,
        http: None,
    }
}

/// A probe's answer, typed as the probe writes it.
fn probe_report(targets: Vec<TargetReport>) -> Value {
    let ok = targets.iter().filter(|t| t.ok).count();
    serde_json::to_value(Report {
        ok: ok == targets.len(),
        elapsed_ms: 1.0,
        summary: Summary {
            total: targets.len(),
            ok,
            failed: targets.len() - ok,
        },
        targets,
    })
    .unwrap()
}

#[tokio::test]
async fn the_link_record_rebuilds_what_cloudformation_applied_and_delete_removes_it() {
    let (cloud, link, subnets, first) = created().await;
    let name = LinkRecord::parameter_name(&link_id(STACK, "OrdersLink", VPC));
    let stored = cloud
        .read(&name)
        .await
        .unwrap()
        .expect("the record is written");
    let record = LinkRecord::parse(&name, &stored.value).unwrap();
    assert_eq!(record.properties, props(&subnets));
    cloud.reset_calls();
    let again = converge(&cloud, &link, &record.request("reconcile-1"))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    let delete = request(RequestKind::Delete, props(&subnets));
    drive(&link, &delete, 10).await.0.unwrap();
    assert!(cloud.read(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn a_stack_update_and_a_reconcile_at_once_make_one_endpoint() {
    let (cloud, link, subnets, first) = created().await;
    let create = request(RequestKind::Create, props(&subnets));
    // The provider moves to another service: both the stack's next Update and the reconciler
    // see no endpoint for it, and both create one.
    share(&cloud, &descriptor(OTHER_SERVICE, &[443], false));
    let record = LinkRecord::of(&create, &first.physical_id);
    let mut update = request(RequestKind::Update, props(&subnets));
    update.request_id = "req-2".into();
    cloud.reset_calls();
    let reconcile = async {
        for _ in 0..20 {
            if let (Step::Done(a), _) = link.reconcile(&record, "reconcile-7").await? {
                return Ok::<Answer, Error>(a);
            }
            cloud.accept_pending();
        }
        panic!("the reconcile did not converge")
    };
    let (a, b) = tokio::join!(converge(&cloud, &link, &update), reconcile);
    assert_eq!(a.unwrap().data["EndpointId"], b.unwrap().data["EndpointId"]);
    let live = cloud.standing_endpoints();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].service_name, OTHER_SERVICE);
    let creates = cloud.mutating_calls();
    let creates = creates.iter().filter(|c| **c == "ec2:CreateVpcEndpoint");
    assert_eq!(
        creates.count(),
        2,
        "both asked; the client token made it one endpoint"
    );
}

mod alias_zones;
mod allowed_groups;
mod certificate;
mod egress;
