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
            "PrivateDnsName is not supported",
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
async fn a_failed_descriptor_write_leaves_no_policy_behind() {
    let (cloud, publication) = setup();
    // Someone else's descriptor is in the way: the policy gets written, then the descriptor fails.
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
    assert!(
        cloud.param(&policy_name(DESCRIPTOR)).is_none(),
        "the policy written by this call was undone"
    );
    assert_eq!(
        cloud.mutating_calls(),
        vec!["ssm:PutParameter", "ssm:DeleteParameter"]
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
