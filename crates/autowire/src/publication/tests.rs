//! ServicePublication against the in-memory cloud: what gets written, and which calls are made.

use serde_json::json;

use super::*;
use crate::cfn::RequestKind;
use crate::fake::{FakeCloud, Fault, ACCOUNT};

const STACK: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/provider/1";
const DESCRIPTOR: &str = "/privatelink-autowire/services/orders";
const ARN: &str =
    "arn:aws:ssm:us-east-1:111111111111:parameter/privatelink-autowire/services/orders";

fn request(kind: RequestKind, props: Value) -> Request {
    Request {
        kind,
        request_id: "r".into(),
        stack_id: STACK.into(),
        logical_id: "Publication".into(),
        resource_type: RESOURCE_TYPE.into(),
        service_token: Some(format!(
            "arn:aws:lambda:us-east-1:{ACCOUNT}:function:provider"
        )),
        physical_id: (kind != RequestKind::Create).then(|| ARN.to_string()),
        old_props: (kind == RequestKind::Update).then(|| props.clone()),
        props,
    }
}

fn props() -> Value {
    json!({
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:provider",
        "ServiceId": "vpce-svc-0123456789abcdef0",
        "ServiceKey": "orders",
        "TlsNames": ["orders.link.example.com"],
        "AllowedAccounts": ["222222222222"],
    })
}

fn setup() -> (Arc<FakeCloud>, Publication<FakeCloud>) {
    let cloud = Arc::new(FakeCloud::provider());
    (cloud.clone(), Publication::new(cloud))
}

fn answer(step: Step) -> Answer {
    match step {
        Step::Done(a) => a,
        other => panic!("expected Done, got {other:?}"),
    }
}

#[tokio::test]
async fn create_publishes_the_descriptor_with_az_ids_and_the_private_policy() {
    let (cloud, publication) = setup();
    let a = answer(
        publication
            .apply(&request(RequestKind::Create, props()), None)
            .await
            .unwrap(),
    );
    assert_eq!(a.physical_id, ARN);
    assert_eq!(a.data["AzIds"], "use1-az1,use1-az4");
    assert_eq!(a.data["ParameterName"], DESCRIPTOR);
    assert_eq!(a.data["PrivateDnsState"], "none");

    let stored = cloud.param(DESCRIPTOR).unwrap();
    assert_eq!(stored.tier, Tier::Advanced);
    let d = Descriptor::parse(DESCRIPTOR, &stored.value).unwrap();
    assert_eq!(d.az_ids, vec!["use1-az1", "use1-az4"]);
    assert_eq!(d.ports, vec!["443/TLS".parse().unwrap()]);
    assert_eq!(d.acceptance, Acceptance::Policy);
    assert_eq!(d.provider_account, ACCOUNT);
    assert_eq!(a.data["Digest"], d.digest);
    assert!(
        !stored.value.contains("222222222222"),
        "the policy never goes in the shared descriptor"
    );

    let policy = cloud.param(&policy_name(DESCRIPTOR)).unwrap();
    assert_eq!(policy.tier, Tier::Standard);
    assert!(policy
        .value
        .contains(r#""allowed_accounts":["222222222222"]"#));
}

#[tokio::test]
async fn repeated_create_makes_no_mutating_call() {
    let (cloud, publication) = setup();
    let req = request(RequestKind::Create, props());
    let first = answer(publication.apply(&req, None).await.unwrap());
    cloud.reset_calls();
    let second = answer(publication.apply(&req, None).await.unwrap());
    assert_eq!(first, second);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    assert!(cloud.calls().contains(&"ssm:GetParameter"));
}

#[tokio::test]
async fn noop_update_makes_no_mutating_call() {
    let (cloud, publication) = setup();
    publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap();
    cloud.reset_calls();
    publication
        .apply(&request(RequestKind::Update, props()), None)
        .await
        .unwrap();
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn changed_ports_rewrite_only_the_descriptor() {
    let (cloud, publication) = setup();
    publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap();
    cloud.reset_calls();
    let mut p = props();
    p["Ports"] = json!(["8443/TLS", "443/TLS"]);
    let a = answer(
        publication
            .apply(&request(RequestKind::Update, p), None)
            .await
            .unwrap(),
    );
    assert_eq!(cloud.mutating_calls(), vec!["ssm:PutParameter"]);
    let d = Descriptor::parse(DESCRIPTOR, &cloud.param(DESCRIPTOR).unwrap().value).unwrap();
    assert_eq!(d.ports.len(), 2);
    assert_eq!(a.data["Digest"], d.digest);
}

#[tokio::test]
async fn acceptance_follows_the_service_and_the_policy() {
    let (cloud, publication) = setup();
    let mut p = props();
    p.as_object_mut().unwrap().remove("AllowedAccounts");
    publication
        .apply(&request(RequestKind::Create, p.clone()), None)
        .await
        .unwrap();
    let d = Descriptor::parse(DESCRIPTOR, &cloud.param(DESCRIPTOR).unwrap().value).unwrap();
    assert_eq!(d.acceptance, Acceptance::Manual);

    cloud
        .state
        .lock()
        .unwrap()
        .services
        .values_mut()
        .for_each(|s| s.acceptance_required = false);
    publication
        .apply(&request(RequestKind::Update, p), None)
        .await
        .unwrap();
    let d = Descriptor::parse(DESCRIPTOR, &cloud.param(DESCRIPTOR).unwrap().value).unwrap();
    assert_eq!(d.acceptance, Acceptance::Auto);
}

#[tokio::test]
async fn a_parameter_owned_by_another_stack_is_a_conflict_and_untouched() {
    let (cloud, publication) = setup();
    let mut other = request(RequestKind::Create, props());
    other.stack_id = "arn:aws:cloudformation:us-east-1:111111111111:stack/other/2".into();
    publication.apply(&other, None).await.unwrap();
    let before = cloud.param(DESCRIPTOR).unwrap().value;
    cloud.reset_calls();
    let mut p = props();
    p["Ports"] = json!(["9443"]);
    let err = publication
        .apply(&request(RequestKind::Create, p), None)
        .await
        .unwrap_err();
    assert!(
        err.reason()
            .contains("already published by Publication in stack"),
        "{}",
        err.reason()
    );
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    assert_eq!(cloud.param(DESCRIPTOR).unwrap().value, before);
}

#[tokio::test]
async fn bad_properties_fail_before_any_aws_call() {
    let cases = [
        (
            json!({"ServiceKey": "orders"}),
            "property ServiceId: is required",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "Orders!"}),
            "property ServiceKey",
        ),
        (
            json!({"ServiceId": "svc-1", "ServiceKey": "orders"}),
            "not an endpoint service ID",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "Ports": ["http"]}),
            "property Ports",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "RejectUnlisted": "maybe"}),
            "RejectUnlisted",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "AllowedAccounts": ["1234"]}),
            "12-digit",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "ParameterPrefix": "services"}),
            "ParameterPrefix",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "TlsNames": ["not a name"]}),
            "TlsNames",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "Colour": "blue"}),
            "unknown properties: Colour",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "PrivateDnsName": "a.example.com"}),
            "PublicHostedZoneId: is required with PrivateDnsName",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "PublicHostedZoneId": "Z1"}),
            "only used with PrivateDnsName",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "PrivateDnsName": "a.example.com", "PublicHostedZoneId": "example.com"}),
            "not a Route 53 hosted zone ID",
        ),
        (
            json!({"ServiceId": "vpce-svc-0123456789abcdef0", "ServiceKey": "orders", "OnDeleteWithConnections": "ignore"}),
            "'ignore' is not one of fail, reject",
        ),
    ];
    for (props, expected) in cases {
        let (cloud, publication) = setup();
        let err = publication
            .apply(&request(RequestKind::Create, props.clone()), None)
            .await
            .unwrap_err();
        assert!(err.reason().contains(expected), "{props}: {}", err.reason());
        assert!(err.reason().chars().count() < 256);
        assert_eq!(cloud.calls(), Vec::<&str>::new(), "{props}");
    }
}

#[tokio::test]
async fn a_missing_service_says_where_it_looked() {
    let (_, publication) = setup();
    let mut p = props();
    p["ServiceId"] = json!("vpce-svc-00000000000000000");
    let err = publication
        .apply(&request(RequestKind::Create, p), None)
        .await
        .unwrap_err();
    assert!(
        err.reason()
            .contains("account 111111111111 region us-east-1"),
        "{}",
        err.reason()
    );
}

#[tokio::test]
async fn someone_elses_descriptor_is_refused_before_any_write() {
    let (cloud, publication) = setup();
    cloud.state.lock().unwrap().params.insert(
        DESCRIPTOR.into(),
        crate::fake::Param {
            value: "{}".into(),
            tier: Tier::Advanced,
            tags: Default::default(),
        },
    );
    let err = publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)));
    assert!(err.reason().contains("not written by privatelink-autowire"));
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_failed_descriptor_write_leaves_no_policy_behind() {
    let (cloud, publication) = setup();
    // The policy write (made before the principal is added) succeeds, the descriptor write is
    // denied.
    cloud.inject(
        "ssm:PutParameter",
        Fault::FailNth(2, "AccessDeniedException".into(), "not allowed".into()),
    );
    let err = publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap_err();
    assert!(
        err.reason().contains("AccessDeniedException"),
        "{}",
        err.reason()
    );
    assert!(
        cloud.param(&policy_name(DESCRIPTOR)).is_none(),
        "the policy written by this call was undone"
    );
    assert_eq!(
        cloud.principals_of(SERVICE),
        Vec::<String>::new(),
        "and the principal it added"
    );
    assert_eq!(
        cloud.mutating_calls(),
        vec![
            "ssm:PutParameter",
            "ec2:ModifyVpcEndpointServicePermissions",
            "ssm:PutParameter",
            "ssm:DeleteParameter",
            "ec2:ModifyVpcEndpointServicePermissions"
        ]
    );
}

#[tokio::test]
async fn delete_removes_both_parameters_and_a_second_delete_is_a_no_op() {
    let (cloud, publication) = setup();
    publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap();
    answer(
        publication
            .cleanup(&request(RequestKind::Delete, props()), None)
            .await
            .unwrap(),
    );
    assert!(cloud.param(DESCRIPTOR).is_none());
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
    cloud.reset_calls();
    let a = answer(
        publication
            .cleanup(&request(RequestKind::Delete, props()), None)
            .await
            .unwrap(),
    );
    assert_eq!(a.physical_id, ARN);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn delete_leaves_parameters_it_does_not_own() {
    let (cloud, publication) = setup();
    let mut other = request(RequestKind::Create, props());
    other.logical_id = "SomeoneElse".into();
    publication.apply(&other, None).await.unwrap();
    publication
        .cleanup(&request(RequestKind::Delete, props()), None)
        .await
        .unwrap();
    assert!(cloud.param(DESCRIPTOR).is_some());
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_some());
}

#[tokio::test]
async fn an_aws_error_is_reported_with_its_code() {
    let (cloud, publication) = setup();
    cloud.inject(
        "ec2:DescribeAvailabilityZones",
        Fault::Fail(
            "UnauthorizedOperation".into(),
            "You are not authorized to perform this operation.".into(),
        ),
    );
    let err = publication
        .apply(&request(RequestKind::Create, props()), None)
        .await
        .unwrap_err();
    assert!(err
        .reason()
        .starts_with("ec2:DescribeAvailabilityZones failed: UnauthorizedOperation"));
    assert!(err.reason().contains("permissions"));
}

// ------------------------------------------------------------------ private DNS

const ZONE: &str = "ZLINK0123456789";
const SERVICE: &str = "vpce-svc-0123456789abcdef0";

fn dns_props(name: &str) -> Value {
    let mut p = props();
    p["PrivateDnsName"] = json!(name);
    p["PublicHostedZoneId"] = json!(ZONE);
    p
}

fn dns_setup() -> (Arc<FakeCloud>, Publication<FakeCloud>) {
    let (cloud, publication) = setup();
    cloud.add_zone(ZONE, "link.example.com", false);
    (cloud, publication)
}

fn txt_records(cloud: &FakeCloud) -> Vec<crate::aws::RecordSet> {
    cloud
        .records_in(ZONE)
        .into_iter()
        .filter(|r| r.kind == crate::aws::RecordType::Txt)
        .collect()
}

fn service_name(cloud: &FakeCloud) -> Option<String> {
    cloud
        .state
        .lock()
        .unwrap()
        .private_dns
        .get(SERVICE)
        .map(|p| p.name.clone())
}

#[tokio::test]
async fn private_dns_is_set_proved_and_waited_for_until_verified() {
    let (cloud, publication) = dns_setup();
    let req = request(RequestKind::Create, dns_props("orders.link.example.com"));
    let (a, waits) = crate::fake::drive(&publication, &req, 10).await;
    let a = a.unwrap();
    assert!(!waits.is_empty(), "verification is waited for");
    assert_eq!(a.data["PrivateDnsState"], "verified");
    let txt = txt_records(&cloud);
    assert_eq!(txt.len(), 1);
    assert!(
        txt[0].name.ends_with(".orders.link.example.com"),
        "{:?}",
        txt[0]
    );
    let d = Descriptor::parse(DESCRIPTOR, &cloud.param(DESCRIPTOR).unwrap().value).unwrap();
    assert_eq!(
        d.private_dns,
        Some(PrivateDns {
            name: "orders.link.example.com".into(),
            state: "verified".into()
        })
    );
    let policy: Policy =
        serde_json::from_str(&cloud.param(&policy_name(DESCRIPTOR)).unwrap().value).unwrap();
    assert_eq!(policy.private_dns_record.unwrap().name, txt[0].name);
    let calls = cloud.mutating_calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| **c == "ec2:StartVpcEndpointServicePrivateDnsVerification")
            .count(),
        1,
        "{calls:?}"
    );

    // Deploying it again changes nothing.
    cloud.reset_calls();
    let (again, _) = crate::fake::drive(
        &publication,
        &request(RequestKind::Update, dns_props("orders.link.example.com")),
        3,
    )
    .await;
    assert_eq!(again.unwrap(), a);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn failed_verification_answers_what_to_check_and_leaves_nothing_behind() {
    let (cloud, publication) = dns_setup();
    cloud
        .state
        .lock()
        .unwrap()
        .undelegated_zones
        .insert(ZONE.into());
    let req = request(RequestKind::Create, dns_props("orders.link.example.com"));
    let (result, _) = crate::fake::drive(&publication, &req, 10).await;
    let err = result.unwrap_err();
    let reason = err.reason();
    assert!(reason.contains("failed verification"), "{reason}");
    assert!(reason.contains("delegated"), "{reason}");
    assert!(reason.chars().count() < 256);
    assert_eq!(txt_records(&cloud), vec![], "no stray TXT record");
    assert_eq!(
        service_name(&cloud),
        None,
        "the name is taken off the service again"
    );
    assert!(cloud.param(DESCRIPTOR).is_none());
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
}

#[tokio::test]
async fn abandoning_a_wait_removes_the_record_and_the_name() {
    let (cloud, publication) = dns_setup();
    let req = request(RequestKind::Create, dns_props("orders.link.example.com"));
    let Step::Wait { progress, .. } = publication.apply(&req, None).await.unwrap() else {
        panic!("expected a wait");
    };
    assert_eq!(txt_records(&cloud).len(), 1);
    publication.abandon(&req, &progress).await;
    assert_eq!(txt_records(&cloud), vec![]);
    assert_eq!(service_name(&cloud), None);
}

#[tokio::test]
async fn a_new_name_replaces_the_old_record_once_verified() {
    let (cloud, publication) = dns_setup();
    let create = request(RequestKind::Create, dns_props("orders.link.example.com"));
    crate::fake::drive(&publication, &create, 10)
        .await
        .0
        .unwrap();
    let old = txt_records(&cloud);
    let mut update = request(RequestKind::Update, dns_props("api.link.example.com"));
    update.old_props = Some(dns_props("orders.link.example.com"));
    let a = crate::fake::drive(&publication, &update, 10)
        .await
        .0
        .unwrap();
    assert_eq!(a.data["PrivateDnsState"], "verified");
    let new = txt_records(&cloud);
    assert_eq!(new.len(), 1, "{new:?}");
    assert_ne!(new, old);
    assert!(new[0].name.ends_with(".api.link.example.com"));
    assert_eq!(
        service_name(&cloud).as_deref(),
        Some("api.link.example.com")
    );
}

#[tokio::test]
async fn dropping_private_dns_removes_the_record_and_the_name() {
    let (cloud, publication) = dns_setup();
    let create = request(RequestKind::Create, dns_props("orders.link.example.com"));
    crate::fake::drive(&publication, &create, 10)
        .await
        .0
        .unwrap();
    let a = crate::fake::drive(&publication, &request(RequestKind::Update, props()), 3)
        .await
        .0
        .unwrap();
    assert_eq!(a.data["PrivateDnsState"], "none");
    assert_eq!(txt_records(&cloud), vec![]);
    assert_eq!(service_name(&cloud), None);
}

#[tokio::test]
async fn a_zone_that_does_not_hold_the_name_is_refused_before_any_change() {
    let (cloud, publication) = dns_setup();
    let req = request(RequestKind::Create, dns_props("orders.other.example.org"));
    let err = publication.apply(&req, None).await.unwrap_err();
    assert!(err.reason().contains("is not in zone"), "{}", err.reason());
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn route53_still_busy_is_waited_out() {
    let (cloud, publication) = dns_setup();
    cloud.inject(
        "route53:ChangeResourceRecordSets",
        Fault::Fail(
            "PriorRequestNotComplete".into(),
            "The request was rejected because Route 53 was still processing a prior request."
                .into(),
        ),
    );
    let req = request(RequestKind::Create, dns_props("orders.link.example.com"));
    let Step::Wait { waiting_for, .. } = publication.apply(&req, None).await.unwrap() else {
        panic!("expected a wait");
    };
    assert!(waiting_for.contains("prior change"), "{waiting_for}");
    let a = crate::fake::drive(&publication, &req, 10).await.0.unwrap();
    assert_eq!(a.data["PrivateDnsState"], "verified");
}

#[tokio::test]
async fn delete_removes_the_verification_record_and_the_name() {
    let (cloud, publication) = dns_setup();
    let create = request(RequestKind::Create, dns_props("orders.link.example.com"));
    crate::fake::drive(&publication, &create, 10)
        .await
        .0
        .unwrap();
    let delete = request(RequestKind::Delete, dns_props("orders.link.example.com"));
    publication.cleanup(&delete, None).await.unwrap();
    assert_eq!(txt_records(&cloud), vec![]);
    assert_eq!(service_name(&cloud), None);
    assert!(cloud.param(DESCRIPTOR).is_none());
}

// ------------------------------------------------------------------ safe deletion

fn connected(cloud: &FakeCloud) {
    cloud.connect(
        SERVICE,
        "222222222222",
        "vpce-0aaaaaaaaaaaaaaaa",
        "available",
    );
    cloud.connect(
        SERVICE,
        "333333333333",
        "vpce-0bbbbbbbbbbbbbbbb",
        "pendingAcceptance",
    );
    cloud.connect(
        SERVICE,
        "444444444444",
        "vpce-0cccccccccccccccc",
        "rejected",
    );
}

fn with_on_delete(mode: &str) -> Value {
    let mut p = props();
    p["OnDeleteWithConnections"] = json!(mode);
    p
}

#[tokio::test]
async fn delete_with_connections_fails_naming_each_consumer_and_keeps_the_parameters() {
    for p in [props(), with_on_delete("fail")] {
        let (cloud, publication) = setup();
        publication
            .apply(&request(RequestKind::Create, p.clone()), None)
            .await
            .unwrap();
        connected(&cloud);
        cloud.reset_calls();
        let err = publication
            .cleanup(&request(RequestKind::Delete, p), None)
            .await
            .unwrap_err();
        let reason = err.reason();
        assert!(
            reason.starts_with(
                "2 consumer endpoint(s) still connected to vpce-svc-0123456789abcdef0"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("222222222222 (vpce-0aaaaaaaaaaaaaaaa)"),
            "{reason}"
        );
        assert!(
            reason.contains("333333333333 (vpce-0bbbbbbbbbbbbbbbb)"),
            "{reason}"
        );
        assert!(
            !reason.contains("444444444444"),
            "rejected ones don't count: {reason}"
        );
        assert!(reason.contains("OnDeleteWithConnections"), "{reason}");
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
        assert!(cloud.param(DESCRIPTOR).is_some());
        assert!(cloud.param(&policy_name(DESCRIPTOR)).is_some());
    }
}

#[tokio::test]
async fn delete_with_reject_rejects_the_consumers_then_deletes() {
    let (cloud, publication) = setup();
    let p = with_on_delete("reject");
    publication
        .apply(&request(RequestKind::Create, p.clone()), None)
        .await
        .unwrap();
    connected(&cloud);
    cloud.reset_calls();
    publication
        .cleanup(&request(RequestKind::Delete, p), None)
        .await
        .unwrap();
    assert_eq!(
        cloud.mutating_calls(),
        vec![
            "ec2:RejectVpcEndpointConnections",
            "ec2:ModifyVpcEndpointServicePermissions",
            "ssm:DeleteParameter",
            "ssm:DeleteParameter"
        ]
    );
    let states: Vec<String> = cloud.state.lock().unwrap().connections[SERVICE]
        .iter()
        .map(|c| c.state.clone())
        .collect();
    assert_eq!(states, ["rejected", "rejected", "rejected"]);
    assert!(cloud.param(DESCRIPTOR).is_none());
}

#[tokio::test]
async fn a_delete_retried_after_a_partial_failure_converges() {
    let (cloud, publication) = dns_setup();
    let mut p = dns_props("orders.link.example.com");
    p["OnDeleteWithConnections"] = json!("reject");
    crate::fake::drive(&publication, &request(RequestKind::Create, p.clone()), 10)
        .await
        .0
        .unwrap();
    connected(&cloud);
    cloud.inject(
        "ssm:DeleteParameter",
        Fault::Fail("AccessDeniedException".into(), "denied".into()),
    );
    let delete = request(RequestKind::Delete, p);
    assert!(publication.cleanup(&delete, None).await.is_err());
    cloud.reset_calls();
    publication.cleanup(&delete, None).await.unwrap();
    assert!(
        !cloud
            .mutating_calls()
            .contains(&"ec2:RejectVpcEndpointConnections"),
        "already rejected: {:?}",
        cloud.mutating_calls()
    );
    assert!(cloud.param(DESCRIPTOR).is_none());
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
    assert_eq!(txt_records(&cloud), vec![]);
    cloud.reset_calls();
    publication.cleanup(&delete, None).await.unwrap();
    assert_eq!(
        cloud.mutating_calls(),
        Vec::<&str>::new(),
        "a third Delete has nothing to do"
    );
}

#[test]
fn many_connections_are_summarised_within_the_reason_limit() {
    let live: Vec<crate::aws::Connection> = (0..40)
        .map(|i| crate::aws::Connection {
            service_id: SERVICE.into(),
            endpoint_id: format!("vpce-{i:017x}"),
            owner: format!("{:012}", 100000000000u64 + i),
            state: "available".into(),
        })
        .collect();
    let text = deletion::connected_reason(SERVICE, &live);
    let reason = crate::error::Error::Conflict(text).reason();
    assert!(reason.chars().count() < 256, "{reason}");
    assert!(reason.contains("more"), "{reason}");
    assert!(
        reason.ends_with("set OnDeleteWithConnections to reject"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_delete_waits_out_a_busy_zone_too() {
    let (cloud, publication) = dns_setup();
    let create = request(RequestKind::Create, dns_props("orders.link.example.com"));
    crate::fake::drive(&publication, &create, 10)
        .await
        .0
        .unwrap();
    cloud.inject(
        "route53:ChangeResourceRecordSets",
        Fault::Fail("PriorRequestNotComplete".into(), "busy".into()),
    );
    let delete = request(RequestKind::Delete, dns_props("orders.link.example.com"));
    let (done, waits) = crate::fake::drive(&publication, &delete, 5).await;
    done.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(txt_records(&cloud), vec![]);
}

mod access;
