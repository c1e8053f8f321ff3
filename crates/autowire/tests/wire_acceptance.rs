//! The provider's acceptance over the wire against the emulator: allowed principals, pending
//! connections accepted and rejected, connection notifications, and the publication and the
//! reconciler's provider pass on top of them.

mod support;

use std::sync::Arc;

use autowire::aws::sdk::Sdk;
use autowire::aws::{
    account_principal, ConnectionEvent, Descriptors, EndpointServices, NotificationState, Owner,
    Tier,
};
use autowire::cfn::{Request, RequestKind, Resource};
use autowire::publication::{policy_name, Policy, Publication};
use autowire::reconcile::provider::{Decision, ProviderPass};
use aws_config::SdkConfig;
use serde_json::json;
use support::*;

/// The provider account's SDK with its calls logged: `(url, config, log, sdk)`.
async fn provider() -> Option<(String, SdkConfig, CallLog, Sdk)> {
    let url = emulator_url()?;
    let config = account_config(&url, PROVIDER).await;
    let log = CallLog::default();
    let sdk = logged_sdk(&config, &log);
    Some((url, config, log, sdk))
}

fn topic() -> String {
    format!(
        "arn:aws:sns:{REGION}:{PROVIDER}:wire-connections-{}",
        unique()
    )
}

/// A consumer endpoint (in the consumer account) asking to connect to `service_name`.
async fn consumer_endpoint(url: &str, service_name: &str, octet: u8) -> String {
    let config = account_config(url, CONSUMER).await;
    let (vpc_id, subnets) = vpc_with_subnets(&config, octet, &["use1-az1"]).await;
    let out = aws_sdk_ec2::Client::new(&config)
        .create_vpc_endpoint()
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .private_dns_enabled(false)
        .vpc_id(vpc_id)
        .service_name(service_name)
        .set_subnet_ids(Some(subnets))
        .send()
        .await
        .unwrap();
    let endpoint = out.vpc_endpoint().unwrap();
    endpoint.vpc_endpoint_id().unwrap().to_string()
}

/// A provider service the consumer may connect to (acceptance required).
async fn open_service(config: &SdkConfig, sdk: &Sdk, name: &str) -> ProviderService {
    let svc = provider_service(config, name, &["use1-az1"], 443).await;
    let consumer = account_principal("aws", CONSUMER);
    sdk.change_principals(&svc.service_id, &[consumer], &[])
        .await
        .unwrap();
    svc
}

#[tokio::test]
async fn allowed_principals_are_read_added_and_removed() {
    let Some((_, config, log, sdk)) = provider().await else {
        return;
    };
    let svc = provider_service(&config, "wire-perm", &["use1-az1"], 443).await;
    let (a, b) = (
        account_principal("aws", CONSUMER),
        account_principal("aws", "333333333333"),
    );

    assert_eq!(
        sdk.allowed_principals(&svc.service_id).await.unwrap(),
        Vec::<String>::new()
    );
    sdk.change_principals(&svc.service_id, &[a.clone(), b.clone()], &[])
        .await
        .unwrap();
    let mut seen = sdk.allowed_principals(&svc.service_id).await.unwrap();
    seen.sort();
    assert_eq!(seen, vec![a.clone(), b.clone()]);
    log.clear();
    sdk.change_principals(&svc.service_id, &[], std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(
        log.mutating(),
        vec!["ec2:ModifyVpcEndpointServicePermissions"]
    );
    assert_eq!(
        sdk.allowed_principals(&svc.service_id).await.unwrap(),
        vec![b]
    );

    let err = sdk
        .allowed_principals("vpce-svc-00000000000000000")
        .await
        .unwrap_err();
    assert!(
        err.aws_code()
            .is_some_and(|c| c.starts_with("InvalidVpcEndpointService")),
        "{err}"
    );
}

#[tokio::test]
async fn pending_connections_are_listed_across_services_then_accepted_or_rejected() {
    let Some((url, config, log, sdk)) = provider().await else {
        return;
    };
    let first = open_service(&config, &sdk, "wire-acc1").await;
    let second = open_service(&config, &sdk, "wire-acc2").await;
    let e1 = consumer_endpoint(&url, &first.service_name, 41).await;
    let e2 = consumer_endpoint(&url, &second.service_name, 42).await;

    log.clear();
    let ours = |c: &&autowire::aws::Connection| c.endpoint_id == e1 || c.endpoint_id == e2;
    let pending = sdk.pending_connections().await.unwrap();
    let mut mine: Vec<(String, String, String)> = pending
        .iter()
        .filter(ours)
        .map(|c| (c.service_id.clone(), c.endpoint_id.clone(), c.owner.clone()))
        .collect();
    mine.sort();
    let mut want = vec![
        (first.service_id.clone(), e1.clone(), CONSUMER.to_string()),
        (second.service_id.clone(), e2.clone(), CONSUMER.to_string()),
    ];
    want.sort();
    assert_eq!(mine, want);
    assert!(pending.iter().all(|c| c.state == "pendingAcceptance"));
    assert_eq!(
        log.all(),
        vec!["ec2:DescribeVpcEndpointConnections"],
        "one call"
    );

    sdk.accept_connections(&first.service_id, std::slice::from_ref(&e1))
        .await
        .unwrap();
    sdk.reject_connections(&second.service_id, std::slice::from_ref(&e2))
        .await
        .unwrap();
    let pending = sdk.pending_connections().await.unwrap();
    assert!(!pending.iter().any(|c| ours(&c)), "{pending:?}");
    let states = |conns: Vec<autowire::aws::Connection>| -> Vec<String> {
        conns.into_iter().map(|c| c.state).collect()
    };
    assert_eq!(
        states(sdk.connections(&first.service_id).await.unwrap()),
        ["available"]
    );
    assert_eq!(
        states(sdk.connections(&second.service_id).await.unwrap()),
        ["rejected"]
    );

    let err = sdk
        .accept_connections(&first.service_id, std::slice::from_ref(&e1))
        .await
        .unwrap_err();
    assert_eq!(err.aws_code(), Some("InvalidState"), "{err}");
}

#[tokio::test]
async fn connection_notifications_are_created_listed_and_deleted() {
    let Some((_, config, _, sdk)) = provider().await else {
        return;
    };
    let svc = provider_service(&config, "wire-nfn", &["use1-az1"], 443).await;
    let topic = topic();

    assert_eq!(
        sdk.connection_notifications(&svc.service_id).await.unwrap(),
        vec![]
    );
    let id = sdk
        .create_connection_notification(&svc.service_id, &topic, &[ConnectionEvent::Connect])
        .await
        .unwrap();
    assert!(id.starts_with("vpce-nfn-"), "{id}");
    let seen = sdk.connection_notifications(&svc.service_id).await.unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let n = &seen[0];
    assert_eq!(
        (n.id.as_str(), n.service_id.as_str(), n.topic_arn.as_str()),
        (id.as_str(), svc.service_id.as_str(), topic.as_str())
    );
    assert_eq!(
        (n.events.as_slice(), n.state),
        (&[ConnectionEvent::Connect][..], NotificationState::Enabled)
    );

    let err = sdk
        .create_connection_notification(&svc.service_id, "not-a-topic", &[ConnectionEvent::Connect])
        .await
        .unwrap_err();
    assert_eq!(err.aws_code(), Some("InvalidParameter"), "{err}");

    sdk.delete_connection_notifications(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(
        sdk.connection_notifications(&svc.service_id).await.unwrap(),
        vec![]
    );
    sdk.delete_connection_notifications(&[id])
        .await
        .expect("deleting what is gone is success");
}

fn publication_request(kind: RequestKind, service_id: &str, key: &str) -> Request {
    let props = json!({"ServiceId": service_id, "ServiceKey": key, "AllowedAccounts": [CONSUMER]});
    support::publication_request(kind, props)
}

#[tokio::test]
async fn the_publication_allows_its_accounts_and_notifies_once_then_takes_both_back() {
    let Some((_, config, log, sdk)) = provider().await else {
        return;
    };
    let sdk = Arc::new(sdk);
    let svc = provider_service(&config, "wire-pubacc", &["use1-az1"], 443).await;
    let topic = topic();
    let publication = Publication::new(sdk.clone()).with_notification_topic(Some(&topic));
    let key = format!("wire-acc-{}", unique());
    let req = |kind| publication_request(kind, &svc.service_id, &key);

    publication
        .apply(&req(RequestKind::Create), None)
        .await
        .unwrap();
    let mut made = log.mutating();
    made.sort();
    assert_eq!(
        made,
        vec![
            "ec2:CreateVpcEndpointConnectionNotification",
            "ec2:ModifyVpcEndpointServicePermissions",
            "ssm:PutParameter",
            "ssm:PutParameter"
        ]
    );
    let principal = account_principal("aws", CONSUMER);
    assert_eq!(
        sdk.allowed_principals(&svc.service_id).await.unwrap(),
        vec![principal.clone()]
    );
    let name = format!("/privatelink-autowire/services/{key}");
    let stored = sdk.read(&policy_name(&name)).await.unwrap().unwrap();
    let policy = Policy::parse("policy", &stored.value).unwrap();
    assert_eq!(policy.added_principals, vec![principal]);

    log.clear();
    publication
        .apply(&req(RequestKind::Create), None)
        .await
        .unwrap();
    publication
        .apply(&req(RequestKind::Update), None)
        .await
        .unwrap();
    assert_no_mutating_calls(&log);

    publication
        .cleanup(&req(RequestKind::Delete), None)
        .await
        .unwrap();
    assert_eq!(
        sdk.allowed_principals(&svc.service_id).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        sdk.connection_notifications(&svc.service_id).await.unwrap(),
        vec![]
    );
    assert!(sdk.read(&name).await.unwrap().is_none());
}

#[tokio::test]
async fn the_provider_pass_accepts_a_listed_account_over_the_wire() {
    let Some((url, config, log, sdk)) = provider().await else {
        return;
    };
    let sdk = Arc::new(sdk);
    let svc = open_service(&config, &sdk, "wire-pass").await;
    let endpoint = consumer_endpoint(&url, &svc.service_name, 43).await;
    let prefix = format!("/wire-pass-{}", unique());
    let policy = Policy {
        schema: 1,
        service_id: svc.service_id.clone(),
        allowed_accounts: vec![CONSUMER.into()],
        reject_unlisted: false,
        private_dns_record: None,
        added_principals: Vec::new(),
        connection_notification: None,
        certificate_requests: Vec::new(),
    };
    let owner = Owner {
        stack_id: "arn:aws:cloudformation:us-east-1:111111111111:stack/wire/1".into(),
        logical_id: "Publication".into(),
    };
    let param = format!("{prefix}/orders/policy");
    sdk.create(&param, &policy.to_canonical_json(), Tier::Standard, &owner)
        .await
        .unwrap();

    log.clear();
    let report = ProviderPass::new(sdk.clone(), &prefix)
        .run("wire")
        .await
        .unwrap();
    let mine: Vec<_> = report
        .decisions
        .iter()
        .filter(|d| d.endpoint_id == endpoint)
        .collect();
    assert_eq!(mine.len(), 1, "{report:?}");
    assert_eq!(
        (mine[0].decision, mine[0].service_key.as_str()),
        (Decision::Accepted, "orders")
    );
    assert_eq!(log.mutating(), vec!["ec2:AcceptVpcEndpointConnections"]);
    let conns = sdk.connections(&svc.service_id).await.unwrap();
    assert_eq!(conns[0].state, "available");

    log.clear();
    let again = ProviderPass::new(sdk.clone(), &prefix)
        .run("wire")
        .await
        .unwrap();
    assert!(!again.decisions.iter().any(|d| d.endpoint_id == endpoint));
    assert!(log.mutating().is_empty(), "{:?}", log.all());
    sdk.delete(&param).await.unwrap();
}
