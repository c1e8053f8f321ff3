//! Alias zones: links in one VPC whose aliases share a parent domain share the zone a link made
//! (one tag per link), the last one out deletes it, and a zone with another link's record in it
//! is never deleted. A given zone must be private and the VPC's.

use super::*;
use crate::link::shared_zone::{member_key, ALIAS_ZONE_TAG, MAX_ZONE_TAGS};

const ORDERS_ALIAS: &str = "api.orders.link.example.com";
const WEB_ALIAS: &str = "web.orders.link.example.com";

/// A request of link `logical` (its own link ID) with alias `alias`.
fn link_request(logical: &str, kind: RequestKind, alias: &str, subnets: &[String]) -> Request {
    let mut p = props(subnets);
    p["AliasName"] = json!(alias);
    let mut r = request(kind, p);
    r.logical_id = logical.into();
    r.physical_id = (kind != RequestKind::Create).then(|| link_id(STACK, logical, VPC));
    r
}

fn zones(cloud: &FakeCloud) -> Vec<(String, crate::fake::FakeZone)> {
    let s = cloud.state.lock().unwrap();
    s.hosted_zones
        .iter()
        .filter(|(_, z)| z.private)
        .map(|(id, z)| (id.clone(), z.clone()))
        .collect()
}

fn the_zone(cloud: &FakeCloud) -> (String, crate::fake::FakeZone) {
    let mut all = zones(cloud);
    assert_eq!(all.len(), 1, "one shared zone: {all:?}");
    all.remove(0)
}

async fn delete(link: &Link<FakeCloud>, logical: &str, alias: &str, subnets: &[String]) {
    let req = link_request(logical, RequestKind::Delete, alias, subnets);
    drive(link, &req, 20).await.0.unwrap();
}

/// `setup`, then two links in the VPC, aliases under one parent domain.
async fn two_links() -> (Arc<FakeCloud>, Link<FakeCloud>, Vec<String>) {
    let (cloud, link, subnets) = setup();
    for (logical, alias) in [("OrdersLink", ORDERS_ALIAS), ("WebLink", WEB_ALIAS)] {
        let req = link_request(logical, RequestKind::Create, alias, &subnets);
        converge(&cloud, &link, &req).await.unwrap();
    }
    (cloud, link, subnets)
}

#[tokio::test]
async fn two_links_share_the_zone_and_the_last_one_out_deletes_it() {
    let (cloud, link, subnets) = two_links().await;
    let (id, zone) = the_zone(&cloud);
    assert_eq!(zone.name, "orders.link.example.com");
    assert_eq!(zone.tags[ALIAS_ZONE_TAG], "shared");
    let (orders, web) = (
        link_id(STACK, "OrdersLink", VPC),
        link_id(STACK, "WebLink", VPC),
    );
    assert_eq!(zone.tags[&member_key(&orders)], ORDERS_ALIAS);
    assert_eq!(zone.tags[&member_key(&web)], WEB_ALIAS);
    assert!(cloud
        .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
        .is_some());
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());

    delete(&link, "OrdersLink", ORDERS_ALIAS, &subnets).await;
    let (still, zone) = the_zone(&cloud);
    assert_eq!(still, id, "the other link still uses it");
    assert!(!zone.tags.contains_key(&member_key(&orders)));
    assert!(cloud
        .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
        .is_none());
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());

    delete(&link, "WebLink", WEB_ALIAS, &subnets).await;
    assert!(zones(&cloud).is_empty(), "the last one out deletes it");
}

#[tokio::test]
async fn a_repeated_converge_of_a_member_makes_no_call() {
    let (cloud, link, subnets) = two_links().await;
    cloud.reset_calls();
    for (logical, alias) in [("OrdersLink", ORDERS_ALIAS), ("WebLink", WEB_ALIAS)] {
        let req = link_request(logical, RequestKind::Update, alias, &subnets);
        converge(&cloud, &link, &req).await.unwrap();
    }
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn an_alias_moved_to_another_domain_leaves_the_shared_zone_to_the_other_link() {
    let (cloud, link, subnets) = two_links().await;
    let (id, _) = the_zone(&cloud);
    let elsewhere = "api.payments.link.example.com";
    let mut p = props(&subnets);
    p["AliasName"] = json!(elsewhere);
    p["RequireTlsMatch"] = json!("false");
    let mut update = link_request("OrdersLink", RequestKind::Update, ORDERS_ALIAS, &subnets);
    update.old_props = Some(update.props.clone());
    update.props = p;
    update.request_id = "req-2".into();
    converge(&cloud, &link, &update).await.unwrap();
    assert!(cloud
        .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
        .is_none());
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());
    assert_eq!(zones(&cloud).len(), 2);
    assert!(cname(&cloud, elsewhere).is_some());
}

#[tokio::test]
async fn an_alias_renamed_in_its_zone_moves_even_when_the_old_record_s_removal_is_retried() {
    let (cloud, link, subnets, _) = created().await;
    let mut update = link_request("OrdersLink", RequestKind::Update, WEB_ALIAS, &subnets);
    update.old_props = Some(props(&subnets));
    update.request_id = "req-2".into();
    // The new record is written (1st change); removing the old one is throttled (2nd).
    cloud.inject(
        "route53:ChangeResourceRecordSets",
        Fault::FailNth(2, "PriorRequestNotComplete".into(), "busy".into()),
    );
    assert!(matches!(
        link.apply(&update, None).await.unwrap(),
        Step::Wait { .. }
    ));
    converge(&cloud, &link, &update).await.unwrap();
    let (id, zone) = the_zone(&cloud);
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());
    assert!(cloud
        .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
        .is_none());
    let me = member_key(&link_id(STACK, "OrdersLink", VPC));
    assert_eq!(zone.tags[&me], WEB_ALIAS);
}

#[tokio::test]
async fn a_zone_with_another_link_s_record_in_it_is_never_deleted() {
    // The web link's tag is not on the zone (it is joining right now, or lost it): only its
    // record is there. The orders link, the last member by the tags, leaves.
    let (cloud, link, subnets) = two_links().await;
    let (id, _) = the_zone(&cloud);
    let web = member_key(&link_id(STACK, "WebLink", VPC));
    cloud
        .state
        .lock()
        .unwrap()
        .hosted_zones
        .get_mut(&id)
        .unwrap()
        .tags
        .remove(&web);
    delete(&link, "OrdersLink", ORDERS_ALIAS, &subnets).await;
    assert!(
        cloud.calls().contains(&"route53:DeleteHostedZone"),
        "it tried"
    );
    let (still, _) = the_zone(&cloud);
    assert_eq!(still, id, "Route 53 refused: HostedZoneNotEmpty");
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());
}

#[tokio::test]
async fn a_joiner_whose_zone_is_deleted_under_it_waits_and_makes_a_new_one() {
    let (cloud, link, subnets) = setup();
    let orders = link_request("OrdersLink", RequestKind::Create, ORDERS_ALIAS, &subnets);
    converge(&cloud, &link, &orders).await.unwrap();
    let web = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
    // The web link joins; before it writes its record, the orders link (which read no other
    // member) deletes the zone.
    cloud.inject(
        "route53:ChangeResourceRecordSets",
        Fault::Fail("NoSuchHostedZone".into(), "No hosted zone found".into()),
    );
    let mut waited = None;
    for _ in 0..20 {
        match link.apply(&web, None).await.unwrap() {
            Step::Wait { waiting_for, .. } if waiting_for.contains("new private zone") => {
                waited = Some(waiting_for);
                break;
            }
            Step::Wait { .. } => cloud.accept_pending(),
            Step::Done(a) => panic!("the write failed, yet done: {a:?}"),
        }
    }
    assert!(
        waited.is_some(),
        "a vanished zone is waited out, not a failure"
    );
    let (id, _) = the_zone(&cloud);
    cloud.state.lock().unwrap().hosted_zones.remove(&id);
    converge(&cloud, &link, &web).await.unwrap();
    let (new, zone) = the_zone(&cloud);
    assert_ne!(new, id);
    assert!(zone
        .tags
        .contains_key(&member_key(&link_id(STACK, "WebLink", VPC))));
    assert!(cloud
        .record_in(&new, WEB_ALIAS, RecordType::Cname)
        .is_some());
}

/// Every interleaving (by call) of one link leaving while another joins (an Update that adds
/// its alias) ends with the joiner's record in a zone that exists and names it, and the
/// leaver's record gone. Both endings occur: the zone kept, and deleted then made again.
#[tokio::test]
async fn a_leave_and_a_join_at_once_never_lose_the_joiner_s_record() {
    let mut endings = std::collections::BTreeSet::new();
    for head_start in 0..80 {
        let (cloud, link, subnets) = setup();
        let orders = link_request("OrdersLink", RequestKind::Create, ORDERS_ALIAS, &subnets);
        converge(&cloud, &link, &orders).await.unwrap();
        let mut web = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
        web.props.as_object_mut().unwrap().remove("AliasName");
        converge(&cloud, &link, &web).await.unwrap();
        let (first, _) = the_zone(&cloud);
        let join = async {
            for _ in 0..head_start {
                tokio::task::yield_now().await;
            }
            let mut web = link_request("WebLink", RequestKind::Update, WEB_ALIAS, &subnets);
            web.request_id = "req-2".into();
            for _ in 0..20 {
                if let Step::Done(a) = link.apply(&web, None).await.unwrap() {
                    return a;
                }
            }
            panic!("the join did not converge");
        };
        let ((), _) = tokio::join!(delete(&link, "OrdersLink", ORDERS_ALIAS, &subnets), join);
        let (id, zone) = the_zone(&cloud);
        let web = member_key(&link_id(STACK, "WebLink", VPC));
        assert_eq!(
            zone.tags.get(&web).map(String::as_str),
            Some(WEB_ALIAS),
            "{head_start}"
        );
        assert!(
            cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some(),
            "{head_start}"
        );
        assert!(
            cloud
                .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
                .is_none(),
            "{head_start}"
        );
        endings.insert(id == first);
    }
    assert_eq!(endings.len(), 2, "both endings: kept, and made again");
}

#[tokio::test]
async fn two_creates_at_once_share_one_zone() {
    let (cloud, link, subnets) = setup();
    let a = link_request("OrdersLink", RequestKind::Create, ORDERS_ALIAS, &subnets);
    let b = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
    let (x, y) = tokio::join!(converge(&cloud, &link, &a), converge(&cloud, &link, &b));
    x.unwrap();
    y.unwrap();
    let (id, zone) = the_zone(&cloud);
    assert_eq!(
        zone.tags.keys().filter(|k| k.contains("alias-of")).count(),
        2
    );
    assert!(cloud
        .record_in(&id, ORDERS_ALIAS, RecordType::Cname)
        .is_some());
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());
}

#[tokio::test]
async fn a_zone_full_of_members_is_a_clear_error() {
    let (cloud, link, subnets) = setup();
    let orders = link_request("OrdersLink", RequestKind::Create, ORDERS_ALIAS, &subnets);
    converge(&cloud, &link, &orders).await.unwrap();
    let (id, zone) = the_zone(&cloud);
    {
        let mut s = cloud.state.lock().unwrap();
        let tags = &mut s.hosted_zones.get_mut(&id).unwrap().tags;
        for n in zone.tags.len()..MAX_ZONE_TAGS {
            tags.insert(
                member_key(&format!("link-{n:020}")),
                format!("a{n}.orders.link.example.com"),
            );
        }
    }
    let web = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
    let err = converge(&cloud, &link, &web).await.unwrap_err();
    assert!(
        err.reason()
            .contains("give a zone of your own as AliasHostedZoneId"),
        "{}",
        err.reason()
    );
    assert!(err.reason().len() < 256);
}

#[tokio::test]
async fn a_zone_an_earlier_release_made_for_one_link_is_shared_and_its_tags_brought_up_to_date() {
    let (cloud, link, subnets) = setup();
    let orders_id = link_id(STACK, "OrdersLink", VPC);
    let legacy = [
        (LINK_TAG.to_string(), orders_id.clone()),
        (DESCRIPTOR_TAG.to_string(), SHARED.to_string()),
        (DIGEST_TAG.to_string(), "abc".to_string()),
    ];
    let zone = cloud
        .create_private_zone("orders.link.example.com", VPC, "link-legacy-ref", &legacy)
        .await
        .unwrap();
    let orders = link_request("OrdersLink", RequestKind::Update, ORDERS_ALIAS, &subnets);
    converge(&cloud, &link, &orders).await.unwrap();
    let web = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
    converge(&cloud, &link, &web).await.unwrap();
    let (id, now) = the_zone(&cloud);
    assert_eq!(id, zone.id);
    assert!(!now.tags.contains_key(LINK_TAG), "{:?}", now.tags);
    assert_eq!(now.tags[&member_key(&orders_id)], ORDERS_ALIAS);
    delete(&link, "OrdersLink", ORDERS_ALIAS, &subnets).await;
    delete(&link, "WebLink", WEB_ALIAS, &subnets).await;
    assert!(zones(&cloud).is_empty());
}

#[tokio::test]
async fn a_zone_a_link_made_but_did_not_tag_yet_is_joined() {
    let (cloud, link, subnets) = setup();
    cloud
        .create_private_zone(
            "orders.link.example.com",
            VPC,
            "link-0123456789abcdef0123-00",
            &[],
        )
        .await
        .unwrap();
    let web = link_request("WebLink", RequestKind::Create, WEB_ALIAS, &subnets);
    converge(&cloud, &link, &web).await.unwrap();
    let (id, zone) = the_zone(&cloud);
    assert_eq!(zone.tags[ALIAS_ZONE_TAG], "shared");
    assert_eq!(
        zone.tags["Name"], "privatelink-autowire aliases orders.link.example.com",
        "the tags its maker would have given"
    );
    assert!(cloud.record_in(&id, WEB_ALIAS, RecordType::Cname).is_some());
}

#[tokio::test]
async fn the_last_member_deletes_the_zone_before_leaving_so_a_retried_delete_finds_it() {
    let (cloud, link, subnets, _) = created().await;
    // The Delete stops at the zone's deletion (a crash, a denied call): the zone still names
    // the link, so the Delete CloudFormation retries removes it.
    cloud.inject(
        "route53:DeleteHostedZone",
        Fault::Fail("AccessDenied".into(), "not now".into()),
    );
    let delete = link_request("OrdersLink", RequestKind::Delete, ORDERS_ALIAS, &subnets);
    assert!(drive(&link, &delete, 20).await.0.is_err());
    let (_, zone) = the_zone(&cloud);
    assert!(zone
        .tags
        .contains_key(&member_key(&link_id(STACK, "OrdersLink", VPC))));
    drive(&link, &delete, 20).await.0.unwrap();
    assert!(zones(&cloud).is_empty());
}

fn with_zone(subnets: &[String], zone: &str) -> Request {
    let mut p = props(subnets);
    p["AliasHostedZoneId"] = json!(zone);
    request(RequestKind::Create, p)
}

#[tokio::test]
async fn a_given_public_zone_is_refused_before_anything_is_made() {
    let (cloud, link, subnets) = setup();
    let zone = cloud.add_zone("ZPUBLIC1", "orders.link.example.com", false);
    let err = converge(&cloud, &link, &with_zone(&subnets, &zone))
        .await
        .unwrap_err();
    assert!(
        err.reason().starts_with(
            "property AliasHostedZoneId: ZPUBLIC1 (orders.link.example.com) is a public zone"
        ),
        "{}",
        err.reason()
    );
    assert!(err.reason().len() < 256);
    assert!(cloud.live_endpoints().is_empty());
    assert!(cloud.records_in(&zone).is_empty());
}

#[tokio::test]
async fn a_given_private_zone_of_another_vpc_is_refused_and_the_vpc_s_own_is_used() {
    let (cloud, link, subnets) = setup();
    let zone = cloud.add_zone("ZPRIVATE1", "orders.link.example.com", true);
    let err = converge(&cloud, &link, &with_zone(&subnets, &zone))
        .await
        .unwrap_err();
    assert!(
        err.reason()
            .contains("is not associated with vpc-0123456789abcdef0"),
        "{}",
        err.reason()
    );
    cloud
        .state
        .lock()
        .unwrap()
        .hosted_zones
        .get_mut(&zone)
        .unwrap()
        .vpcs = vec![VPC.into()];
    converge(&cloud, &link, &with_zone(&subnets, &zone))
        .await
        .unwrap();
    assert!(cloud
        .record_in(&zone, ORDERS_ALIAS, RecordType::Cname)
        .is_some());
    assert_eq!(zones(&cloud).len(), 1, "no zone of the link's own");
}
