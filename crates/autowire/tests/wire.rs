//! The SDK adapters and the publication, over the wire against the emulator.

mod support;

use std::sync::Arc;

use autowire::aws::{Descriptors, EndpointServices, Listeners, Markers, Owner, Tier, Zones};
use autowire::cfn::{Request, RequestKind, Resource, Step};
use autowire::descriptor::Descriptor;
use autowire::publication::Publication;
use serde_json::json;
use support::*;

#[tokio::test]
async fn adapters_read_the_provider_side_in_az_ids() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, PROVIDER).await;
    let log = CallLog::default();
    let sdk = logged_sdk(&config, &log);
    let svc = provider_service(&config, "wire-read", &["use1-az1", "use1-az4"], 443).await;

    let seen = sdk
        .describe_service(&svc.service_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.service_name, svc.service_name);
    assert!(seen.acceptance_required);
    assert_eq!(seen.nlb_arns, vec![svc.nlb_arn.clone()]);
    let ids = sdk.zone_ids_by_name().await.unwrap();
    let mut az_ids: Vec<&str> = seen.az_names.iter().map(|n| ids[n].as_str()).collect();
    az_ids.sort();
    assert_eq!(az_ids, vec!["use1-az1", "use1-az4"]);
    let ports = sdk.listener_ports(&seen.nlb_arns).await.unwrap();
    assert_eq!(ports, vec!["443/TCP".parse().unwrap()]);
    assert!(sdk
        .describe_service("vpce-svc-00000000000000000")
        .await
        .unwrap()
        .is_none());
    assert!(log.mutating().is_empty(), "{:?}", log.all());
}

#[tokio::test]
async fn az_names_differ_between_accounts_for_the_same_ids() {
    let Some(url) = emulator_url() else { return };
    let a = logged_sdk(&account_config(&url, PROVIDER).await, &CallLog::default());
    let b = logged_sdk(&account_config(&url, CONSUMER).await, &CallLog::default());
    let name_of = |m: &std::collections::BTreeMap<String, String>, id: &str| {
        m.iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .unwrap()
    };
    let (ma, mb) = (
        a.zone_ids_by_name().await.unwrap(),
        b.zone_ids_by_name().await.unwrap(),
    );
    assert_ne!(name_of(&ma, "use1-az1"), name_of(&mb, "use1-az1"));
}

#[tokio::test]
async fn parameters_adapter_creates_reads_owns_and_deletes() {
    let Some(url) = emulator_url() else { return };
    let sdk = logged_sdk(&account_config(&url, PROVIDER).await, &CallLog::default());
    let name = &format!("/privatelink-autowire/wire/params-{}", unique());
    let owner = Owner {
        stack_id: "arn:aws:cloudformation:us-east-1:111111111111:stack/wire/1".into(),
        logical_id: "Thing".into(),
    };
    sdk.delete(name).await.unwrap(); // already gone is fine
    assert!(sdk.read(name).await.unwrap().is_none());
    sdk.create(name, "{\"a\":1}", Tier::Advanced, &owner)
        .await
        .unwrap();
    let err = sdk
        .create(name, "x", Tier::Advanced, &owner)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ParameterAlreadyExists"), "{err}");
    assert_eq!(sdk.owner(name).await.unwrap(), Some(owner.clone()));
    sdk.overwrite(name, "{\"a\":2}", Tier::Advanced)
        .await
        .unwrap();
    let p = sdk.read(name).await.unwrap().unwrap();
    assert_eq!(p.value, "{\"a\":2}");
    assert!(p.arn.unwrap().ends_with(&format!(":parameter{name}")));
    // Listing a path: every parameter below it, at any depth, across pages of ten.
    let path = format!("{name}-tree");
    let mut want = Vec::new();
    for i in 0..12 {
        let child = format!("{path}/{}/p{i:02}", i % 2);
        sdk.create(&child, &format!("v{i}"), Tier::Standard, &owner)
            .await
            .unwrap();
        want.push((child, format!("v{i}")));
    }
    want.sort();
    assert_eq!(sdk.list(&path).await.unwrap(), want);
    for (child, _) in &want {
        sdk.delete(child).await.unwrap();
    }
    assert_eq!(sdk.list(&path).await.unwrap(), Vec::new());
    sdk.delete(name).await.unwrap();
    sdk.delete(name).await.unwrap();
}

#[tokio::test]
async fn markers_are_advanced_parameters_that_parameter_store_expires() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, PROVIDER).await;
    let sdk = logged_sdk(&config, &CallLog::default());
    let name = &format!("/privatelink-autowire/claims/wire/{}/step-1", unique());
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    assert!(sdk.mark(name, "chain-a", soon).await.unwrap());
    assert!(
        !sdk.mark(name, "chain-b", soon).await.unwrap(),
        "create-only"
    );
    assert_eq!(sdk.marked(name).await.unwrap().as_deref(), Some("chain-a"));
    let described = aws_sdk_ssm::Client::new(&config)
        .describe_parameters()
        .parameter_filters(
            aws_sdk_ssm::types::ParameterStringFilter::builder()
                .key("Name")
                .values(name)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let p = &described.parameters()[0];
    assert_eq!(p.tier(), Some(&aws_sdk_ssm::types::ParameterTier::Advanced));
    assert_eq!(p.policies()[0].policy_type(), Some("Expiration"));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(sdk.marked(name).await.unwrap(), None, "expired and deleted");
}

fn publication_request(kind: RequestKind, service_id: &str, key: &str) -> Request {
    support::publication_request(kind, json!({"ServiceId": service_id, "ServiceKey": key}))
}

#[tokio::test]
async fn publication_over_the_wire_is_idempotent() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, PROVIDER).await;
    let svc = provider_service(&config, "wire-pub", &["use1-az2", "use1-az3"], 8443).await;
    let log = CallLog::default();
    let publication = Publication::new(Arc::new(logged_sdk(&config, &log)));
    let key = &format!("wire-orders-{}", unique());

    let Step::Done(first) = publication
        .apply(
            &publication_request(RequestKind::Create, &svc.service_id, key),
            None,
        )
        .await
        .unwrap()
    else {
        panic!("expected Done")
    };
    assert_eq!(first.data["AzIds"], "use1-az2,use1-az3");
    assert_eq!(
        log.mutating(),
        vec!["ssm:PutParameter", "ssm:PutParameter"],
        "{:?}",
        log.all()
    );

    log.clear();
    publication
        .apply(
            &publication_request(RequestKind::Create, &svc.service_id, key),
            None,
        )
        .await
        .unwrap();
    publication
        .apply(
            &publication_request(RequestKind::Update, &svc.service_id, key),
            None,
        )
        .await
        .unwrap();
    assert_no_mutating_calls(&log);

    let sdk = logged_sdk(&config, &CallLog::default());
    let stored = sdk
        .read(&first.data["ParameterName"])
        .await
        .unwrap()
        .unwrap();
    let d = Descriptor::parse(key, &stored.value).unwrap();
    assert_eq!(d.service_name, svc.service_name);
    assert_eq!(d.ports, vec!["8443/TCP".parse().unwrap()]);

    publication
        .cleanup(
            &publication_request(RequestKind::Delete, &svc.service_id, key),
            None,
        )
        .await
        .unwrap();
    assert!(sdk
        .read(&first.data["ParameterName"])
        .await
        .unwrap()
        .is_none());
    log.clear();
    publication
        .cleanup(
            &publication_request(RequestKind::Delete, &svc.service_id, key),
            None,
        )
        .await
        .unwrap();
    assert!(log.mutating().is_empty());
}
