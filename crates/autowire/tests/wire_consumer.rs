//! The consumer-side adapters (networks, endpoints, security groups, private zones) over the wire
//! against the emulator, and the link end to end through them.

mod support;

use autowire::aws::{
    EgressRule, EndpointChange, Endpoints, IngressRule, Networks, NewEndpoint, PrivateZones,
    RuleSource, SecurityGroups, LINK_TAG,
};
use support::*;

#[tokio::test]
async fn consumer_adapters_build_change_and_remove_an_endpoint_group_and_zone() {
    let Some(url) = emulator_url() else { return };
    let provider = account_config(&url, PROVIDER).await;
    let svc = provider_service(&provider, "wire-link", &["use1-az1", "use1-az4"], 443).await;
    aws_sdk_ec2::Client::new(&provider)
        .modify_vpc_endpoint_service_permissions()
        .service_id(&svc.service_id)
        .add_allowed_principals(format!("arn:aws:iam::{CONSUMER}:root"))
        .send()
        .await
        .unwrap();
    let config = account_config(&url, CONSUMER).await;
    let log = CallLog::default();
    let sdk = logged_sdk(&config, &log);
    let (vpc, subnets) = vpc_with_subnets(&config, 40, &["use1-az1", "use1-az2", "use1-az4"]).await;
    let link = format!("link-wire-{}", unique());

    assert_eq!(
        sdk.vpc_cidrs(&vpc).await.unwrap(),
        Some(vec!["10.40.0.0/16".to_string()])
    );
    assert!(sdk
        .vpc_cidrs("vpc-00000000000000000")
        .await
        .unwrap()
        .is_none());
    let mut asked = subnets.clone();
    asked.push("subnet-00000000000000000".into());
    let found = sdk.subnets(&asked).await.unwrap();
    assert_eq!(found.len(), 3, "an unknown ID does not hide the others");
    assert_eq!(
        found.iter().map(|s| s.az_id.as_str()).collect::<Vec<_>>(),
        vec!["use1-az1", "use1-az2", "use1-az4"]
    );

    let tags = vec![(LINK_TAG.to_string(), link.clone())];
    let group = sdk
        .create_group(&vpc, &format!("pla-{link}"), "wire test", &tags)
        .await
        .unwrap();
    let rule = IngressRule {
        protocol: "tcp".into(),
        port: 443,
        source: RuleSource::Cidr("10.40.0.0/16".into()),
    };
    let clients = sdk
        .create_group(
            &vpc,
            &format!("clients-{link}"),
            "wire test",
            &[("Name".to_string(), "clients".to_string())],
        )
        .await
        .unwrap();
    let from_clients = IngressRule {
        source: RuleSource::Group(clients.clone()),
        ..rule.clone()
    };
    sdk.authorize(&group, &[rule.clone(), from_clients.clone()])
        .await
        .unwrap();
    let groups = sdk.groups_tagged(LINK_TAG, &link).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].rules, vec![rule.clone(), from_clients.clone()]);
    sdk.revoke(&group, std::slice::from_ref(&from_clients))
        .await
        .unwrap();
    assert_eq!(
        sdk.group(&group).await.unwrap().unwrap().rules,
        vec![rule.clone()]
    );

    let new = NewEndpoint {
        vpc_id: vpc.clone(),
        service_name: svc.service_name.clone(),
        subnet_ids: vec![subnets[0].clone()],
        security_group_ids: vec![group.clone()],
        private_dns_enabled: false,
        client_token: unique().replace('-', ""),
        tags: tags.clone(),
    };
    let e = sdk.create_endpoint(&new).await.unwrap();
    let again = sdk.create_endpoint(&new).await.unwrap();
    assert_eq!(again.id, e.id, "the ClientToken returns the same endpoint");
    assert_eq!(e.state, "pendingAcceptance");
    assert!(!e.dns_names.is_empty());
    let tagged = sdk.endpoints_tagged(LINK_TAG, &link).await.unwrap();
    assert_eq!(
        tagged.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        vec![e.id.clone()]
    );
    assert_eq!(tagged[0].tags[LINK_TAG], link);
    // A pass reads every link's endpoints and groups at once, by the tag's key.
    let every = sdk.endpoints_with_tag(LINK_TAG).await.unwrap();
    assert!(every.iter().any(|x| x.id == e.id), "{every:?}");
    let every = sdk.groups_with_tag(LINK_TAG).await.unwrap();
    assert!(
        every.iter().any(|(l, g)| l == &link && g.id == group),
        "{every:?}"
    );

    sdk.modify_endpoint(
        &e.id,
        &EndpointChange {
            add_subnets: vec![subnets[2].clone()],
            tags: vec![("privatelink-autowire:digest".into(), "abc".into())],
            ..EndpointChange::default()
        },
    )
    .await
    .unwrap();
    let changed = sdk.endpoint(&e.id).await.unwrap().unwrap();
    assert_eq!(changed.subnet_ids.len(), 2);
    assert_eq!(changed.tags["privatelink-autowire:digest"], "abc");

    let zone = sdk
        .create_private_zone("link.example.com", &vpc, &format!("{link}-zone"), &tags)
        .await
        .unwrap();
    let zones = sdk.zones_of_vpc(&vpc).await.unwrap();
    assert!(
        zones
            .iter()
            .any(|(z, t)| z.id == zone.id && t.get(LINK_TAG) == Some(&link)),
        "{zones:?}"
    );

    sdk.delete_endpoint(&e.id).await.unwrap();
    sdk.delete_endpoint(&e.id).await.unwrap();
    for _ in 0..100 {
        if sdk.endpoint(&e.id).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(sdk.endpoint(&e.id).await.unwrap().is_none());
    assert!(sdk
        .endpoints_tagged(LINK_TAG, &link)
        .await
        .unwrap()
        .is_empty());
    sdk.delete_group(&group).await.unwrap();
    sdk.delete_group(&group).await.unwrap();
    sdk.delete_zone(&zone.id).await.unwrap();
    sdk.delete_zone(&zone.id).await.unwrap();
    assert!(sdk
        .zones_of_vpc(&vpc)
        .await
        .unwrap()
        .iter()
        .all(|(z, _)| z.id != zone.id));
}

/// A new group comes with AWS's default egress (all IPv4 out); the adapter sees it, revokes
/// exactly it, and a tag lookup then sees none.
#[tokio::test]
async fn a_new_group_has_the_default_egress_and_revoking_it_leaves_none() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, CONSUMER).await;
    let sdk = logged_sdk(&config, &CallLog::default());
    let (vpc, _) = vpc_with_subnets(&config, 41, &["use1-az1"]).await;
    let link = format!("link-egress-{}", unique());
    let tags = vec![(LINK_TAG.to_string(), link.clone())];
    let id = sdk
        .create_group(&vpc, &format!("pla-{link}"), "wire test", &tags)
        .await
        .unwrap();
    let group = sdk.group(&id).await.unwrap().expect("the new group");
    assert_eq!(group.egress, vec![EgressRule::aws_default()]);
    sdk.revoke_egress(&id, &group.egress).await.unwrap();
    assert_eq!(sdk.group(&id).await.unwrap().unwrap().egress, vec![]);
    let tagged = sdk.groups_tagged(LINK_TAG, &link).await.unwrap();
    assert_eq!(tagged.len(), 1);
    assert!(tagged[0].egress.is_empty(), "{tagged:?}");
    assert!(sdk.group("sg-00000000000000000").await.unwrap().is_none());
    sdk.delete_group(&id).await.unwrap();
}

/// Zone tags change key by key (add and remove in one call), and the caller reference is read
/// back: what links sharing a zone rely on.
#[tokio::test]
async fn zone_tags_change_key_by_key_and_the_caller_reference_reads_back() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, CONSUMER).await;
    let sdk = logged_sdk(&config, &CallLog::default());
    let (vpc, _) = vpc_with_subnets(&config, 42, &["use1-az1"]).await;
    let reference = format!("link-wire-{}", unique());
    let a = (
        "privatelink-autowire:alias-of:link-a".to_string(),
        "a.shared.example".to_string(),
    );
    let zone = sdk
        .create_private_zone("shared.example", &vpc, &reference, std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(
        sdk.caller_reference(&zone.id).await.unwrap(),
        Some(reference)
    );
    let b = (
        "privatelink-autowire:alias-of:link-b".to_string(),
        "b.shared.example".to_string(),
    );
    sdk.change_zone_tags(
        &zone.id,
        std::slice::from_ref(&b),
        std::slice::from_ref(&a.0),
    )
    .await
    .unwrap();
    let tags = sdk.zone_tags(&zone.id).await.unwrap().unwrap();
    assert_eq!(tags.into_iter().collect::<Vec<_>>(), vec![b.clone()]);
    sdk.delete_zone(&zone.id).await.unwrap();
    assert_eq!(sdk.zone_tags(&zone.id).await.unwrap(), None);
    assert_eq!(sdk.caller_reference(&zone.id).await.unwrap(), None);
}
