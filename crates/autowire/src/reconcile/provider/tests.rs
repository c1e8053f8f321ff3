//! The provider side of a pass against the in-memory cloud: decisions, batching, and what a pass
//! with nothing to do costs.

use super::*;
use crate::aws::{Owner, Tier};
use crate::fake::{FakeCloud, Fault};

const PREFIX: &str = "/privatelink-autowire/services";
const SERVICE: &str = "vpce-svc-0123456789abcdef0";
const LISTED: &str = "222222222222";
const UNLISTED: &str = "333333333333";

fn policy(service_id: &str, allowed: &[&str], reject_unlisted: bool) -> String {
    Policy {
        schema: 1,
        service_id: service_id.into(),
        allowed_accounts: allowed.iter().map(|a| a.to_string()).collect(),
        reject_unlisted,
        private_dns_record: None,
        added_principals: Vec::new(),
        connection_notification: None,
        certificate_requests: Vec::new(),
    }
    .to_canonical_json()
}

async fn publish(cloud: &FakeCloud, key: &str, value: &str) {
    let owner = Owner {
        stack_id: "stack".into(),
        logical_id: "Publication".into(),
    };
    let name = format!("{PREFIX}/{key}/policy");
    cloud
        .create(&name, value, Tier::Standard, &owner)
        .await
        .unwrap();
    cloud
        .create(&format!("{PREFIX}/{key}"), "{}", Tier::Advanced, &owner)
        .await
        .unwrap();
}

/// The provider account, its service published as `orders`, and a pass over it.
async fn setup(
    allowed: &[&str],
    reject_unlisted: bool,
) -> (Arc<FakeCloud>, ProviderPass<FakeCloud>) {
    let cloud = Arc::new(FakeCloud::provider());
    publish(&cloud, "orders", &policy(SERVICE, allowed, reject_unlisted)).await;
    cloud.reset_calls();
    (cloud.clone(), ProviderPass::new(cloud, PREFIX))
}

fn outcome(report: &ProviderReport) -> Vec<(&str, Decision, Rule)> {
    let d = report.decisions.iter();
    d.map(|d| (d.endpoint_id.as_str(), d.decision, d.rule))
        .collect()
}

#[tokio::test]
async fn each_pending_connection_is_decided_by_its_service_s_policy() {
    let cases = [
        (
            LISTED,
            false,
            Decision::Accepted,
            Rule::AllowedAccounts,
            "available",
        ),
        (
            UNLISTED,
            false,
            Decision::LeftPending,
            Rule::Unlisted,
            "pendingAcceptance",
        ),
        (
            UNLISTED,
            true,
            Decision::Rejected,
            Rule::RejectUnlisted,
            "rejected",
        ),
    ];
    for (owner, reject_unlisted, decision, rule, state) in cases {
        let (cloud, pass) = setup(&[LISTED], reject_unlisted).await;
        cloud.connect(SERVICE, owner, "vpce-1", "pendingAcceptance");
        let report = pass.run("p").await.unwrap();
        assert_eq!(outcome(&report), vec![("vpce-1", decision, rule)]);
        let d = &report.decisions[0];
        assert_eq!(
            (d.service_key.as_str(), d.requester_account.as_str()),
            ("orders", owner)
        );
        let counts = (report.accepted, report.rejected, report.left_pending);
        let want = match decision {
            Decision::Accepted => (1, 0, 0),
            Decision::Rejected => (0, 1, 0),
            Decision::LeftPending => (0, 0, 1),
        };
        assert_eq!(counts, want);
        let now = cloud.connection_state(SERVICE, "vpce-1");
        assert_eq!(now.as_deref(), Some(state), "{decision:?}");
        let calls = cloud.mutating_calls();
        assert_eq!(
            calls.len(),
            usize::from(decision != Decision::LeftPending),
            "{calls:?}"
        );
    }
}

#[tokio::test]
async fn decisions_go_in_one_accept_and_one_reject_call_per_service() {
    let (cloud, pass) = setup(&[LISTED, "444444444444"], true).await;
    for (owner, id) in [
        (LISTED, "vpce-1"),
        (UNLISTED, "vpce-2"),
        ("444444444444", "vpce-3"),
        ("555555555555", "vpce-4"),
    ] {
        cloud.connect(SERVICE, owner, id, "pendingAcceptance");
    }
    cloud.connect(SERVICE, UNLISTED, "vpce-5", "available");
    let report = pass.run("p").await.unwrap();
    assert_eq!(
        (report.pending, report.accepted, report.rejected),
        (4, 2, 2)
    );
    let mut calls = cloud.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        vec![
            "ec2:AcceptVpcEndpointConnections",
            "ec2:RejectVpcEndpointConnections"
        ]
    );
    assert_eq!(
        cloud.connection_state(SERVICE, "vpce-5").as_deref(),
        Some("available"),
        "only pending ones are decided"
    );
}

#[tokio::test]
async fn a_service_without_a_policy_is_left_alone() {
    let (cloud, pass) = setup(&[LISTED], true).await;
    let other = "vpce-svc-0fedcba9876543210";
    cloud.connect(other, LISTED, "vpce-9", "pendingAcceptance");
    let report = pass.run("p").await.unwrap();
    assert_eq!((report.pending, report.decisions.len()), (1, 0));
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    assert_eq!(
        cloud.connection_state(other, "vpce-9").as_deref(),
        Some("pendingAcceptance")
    );
}

#[tokio::test]
async fn a_pass_with_nothing_pending_makes_no_mutating_call() {
    let (cloud, pass) = setup(&[LISTED], true).await;
    cloud.connect(SERVICE, LISTED, "vpce-1", "available");
    let report = pass.run("p").await.unwrap();
    assert_eq!(report.decisions, Vec::new());
    assert_eq!(report.policies, 1);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    assert_eq!(
        cloud.calls(),
        vec![
            "ssm:GetParametersByPath",
            "ec2:DescribeVpcEndpointConnections"
        ],
        "one listing of each"
    );
}

#[tokio::test]
async fn no_policies_means_no_ec2_call_at_all() {
    let cloud = Arc::new(FakeCloud::provider());
    cloud.connect(SERVICE, LISTED, "vpce-1", "pendingAcceptance");
    let report = ProviderPass::new(cloud.clone(), PREFIX)
        .run("p")
        .await
        .unwrap();
    assert_eq!(report, ProviderReport::default());
    assert_eq!(cloud.calls(), vec!["ssm:GetParametersByPath"]);
}

#[tokio::test]
async fn an_unreadable_policy_is_counted_and_the_others_still_decided() {
    let (cloud, pass) = setup(&[LISTED], false).await;
    publish(&cloud, "broken", "not json").await;
    let future = policy("vpce-svc-0fedcba9876543210", &[LISTED], false)
        .replace("\"schema\":1", "\"schema\":2");
    publish(&cloud, "future", &future).await;
    cloud.connect(SERVICE, LISTED, "vpce-1", "pendingAcceptance");
    let report = pass.run("p").await.unwrap();
    let names: Vec<&str> = report
        .unreadable_policies
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            format!("{PREFIX}/broken/policy"),
            format!("{PREFIX}/future/policy")
        ]
    );
    assert!(
        report.unreadable_policies[1].1.contains("upgrade"),
        "{:?}",
        report.unreadable_policies
    );
    assert_eq!(report.accepted, 1);
}

#[tokio::test]
async fn a_refused_batch_is_reported_and_the_other_services_still_decided() {
    let (cloud, pass) = setup(&[LISTED], false).await;
    let other = "vpce-svc-0fedcba9876543210";
    let mut svc = cloud.state.lock().unwrap().services[SERVICE].clone();
    svc.service_id = other.into();
    cloud
        .state
        .lock()
        .unwrap()
        .services
        .insert(other.into(), svc);
    publish(&cloud, "payments", &policy(other, &[LISTED], false)).await;
    cloud.connect(SERVICE, LISTED, "vpce-1", "pendingAcceptance");
    cloud.connect(other, LISTED, "vpce-2", "pendingAcceptance");
    cloud.inject(
        "ec2:AcceptVpcEndpointConnections",
        Fault::FailNth(2, "InvalidState".into(), "gone".into()),
    );
    let report = pass.run("p").await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].1.contains("InvalidState"),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn a_failed_listing_fails_the_pass() {
    let (cloud, pass) = setup(&[LISTED], false).await;
    cloud.inject(
        "ec2:DescribeVpcEndpointConnections",
        Fault::Fail("UnauthorizedOperation".into(), "no".into()),
    );
    let err = pass.run("p").await.unwrap_err();
    assert_eq!(err.aws_code(), Some("UnauthorizedOperation"));
}

#[test]
fn a_decision_is_one_emf_count_by_service_key_and_decision() {
    let d = AcceptanceDecision {
        service_id: SERVICE.into(),
        service_key: "orders".into(),
        requester_account: LISTED.into(),
        endpoint_id: "vpce-1".into(),
        decision: Decision::LeftPending,
        rule: Rule::Unlisted,
    };
    let line: serde_json::Value = serde_json::from_str(&d.emf_line(5)).unwrap();
    let meta = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(meta["Namespace"], "PrivateLinkAutowire");
    assert_eq!(meta["Dimensions"], json!([["ServiceKey", "Decision"]]));
    assert_eq!(
        meta["Metrics"],
        json!([{"Name": "AcceptanceDecisions", "Unit": "Count"}])
    );
    assert_eq!(
        (line["ServiceKey"].as_str(), line["Decision"].as_str()),
        (Some("orders"), Some("left-pending"))
    );
    assert_eq!(line["AcceptanceDecisions"], 1);
}

#[test]
fn the_report_serialises_decisions_in_the_contract_s_words() {
    let d = decide(
        "orders",
        &Policy::parse("p", &policy(SERVICE, &[], true)).unwrap(),
        &Connection {
            service_id: SERVICE.into(),
            endpoint_id: "vpce-1".into(),
            owner: UNLISTED.into(),
            state: "pendingAcceptance".into(),
        },
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["rule"].as_str()),
        (Some("rejected"), Some("reject-unlisted"))
    );
}

#[tokio::test]
async fn the_pass_says_whether_any_publication_takes_certificate_requests() {
    let (cloud, pass) = setup(&[LISTED], false).await;
    assert!(!pass.run("p1").await.unwrap().takes_certificate_requests);
    let mut granting: Policy = serde_json::from_str(&policy(SERVICE, &[], false)).unwrap();
    granting.service_id = "vpce-svc-0fedcba9876543210".into();
    granting.certificate_requests =
        crate::certreq::grants::parse(&[format!("{LISTED}:team-b.example.com")]).unwrap();
    publish(&cloud, "payments", &granting.to_canonical_json()).await;
    assert!(pass.run("p2").await.unwrap().takes_certificate_requests);
}
