//! AliasCertificate: request, the consumer's side of the handshake: the link asks, the
//! provider's answers (as the reconciler takes them) move it on, a refusal fails it, its Delete
//! releases the certificate and removes the validation record.

use super::*;
use crate::certreq::consumer::on_message;
use crate::certreq::messages::{Message, Subject};
use crate::fake::validation_record;

const PROVIDER: &str = "999999999999";
const ZONE: &str = "ZALIASZONE";

fn asking(subnets: &[String]) -> Value {
    let mut p = props(subnets);
    p["AliasCertificate"] = json!("request");
    p["AliasValidationZoneId"] = json!(ZONE);
    p
}

fn bed() -> (Arc<FakeCloud>, Link<FakeCloud>, Vec<String>) {
    let (cloud, _, subnets) = setup();
    cloud.add_zone(ZONE, "orders.link.example.com", false);
    let link = Link::new(cloud.clone()).with_bus("bus-b");
    (cloud, link, subnets)
}

fn said(cloud: &FakeCloud) -> Vec<Message> {
    let said = std::mem::take(&mut cloud.state.lock().unwrap().announced);
    said.iter()
        .map(|(_, kind, detail)| Message::parse(kind, detail).unwrap())
        .collect()
}

fn subject(link_id: &str) -> Subject {
    Subject {
        link_id: link_id.into(),
        alias_name: "api.orders.link.example.com".into(),
        service_key: "orders".into(),
    }
}

/// Drive the Create until it waits for the certificate; the link ID.
async fn asked(cloud: &FakeCloud, link: &Link<FakeCloud>, create: &Request) -> String {
    for _ in 0..20 {
        match link.apply(create, None).await.unwrap() {
            Step::Wait { waiting_for, .. } if waiting_for.contains("to accept") => {
                cloud.accept_pending()
            }
            Step::Wait { waiting_for, .. } if waiting_for.contains("certificate") => {
                return link_id(STACK, "OrdersLink", VPC)
            }
            Step::Wait { .. } => {}
            Step::Done(_) => panic!("done before the certificate"),
        }
    }
    panic!("never asked");
}

#[tokio::test]
async fn the_link_asks_once_writes_the_proof_and_answers_when_served() {
    let (cloud, link, subnets) = bed();
    let create = request(RequestKind::Create, asking(&subnets));
    let id = asked(&cloud, &link, &create).await;
    let [Message::Requested {
        subject: s,
        reply_bus_arn,
    }] = &said(&cloud)[..]
    else {
        panic!("one request expected");
    };
    assert_eq!((s, reply_bus_arn.as_str()), (&subject(&id), "bus-b"));
    assert!(matches!(
        link.apply(&create, None).await.unwrap(),
        Step::Wait { .. }
    ));
    assert!(
        said(&cloud).is_empty(),
        "asked once; the reconciler asks again"
    );
    let record = validation_record("api.orders.link.example.com");
    let validation = Message::Validation {
        subject: subject(&id),
        record_name: record.name.clone(),
        record_value: record.values[0].clone(),
    };
    on_message(cloud.as_ref(), "333333333333", &validation)
        .await
        .unwrap();
    assert!(
        cloud
            .record_in(ZONE, &record.name, RecordType::Cname)
            .is_none(),
        "not its provider"
    );
    on_message(cloud.as_ref(), PROVIDER, &validation)
        .await
        .unwrap();
    assert!(cloud
        .record_in(ZONE, &record.name, RecordType::Cname)
        .is_some());
    let ready = Message::Ready {
        subject: subject(&id),
        certificate_arn: "arn:aws:acm:us-east-1:999999999999:certificate/1".into(),
    };
    on_message(cloud.as_ref(), PROVIDER, &ready).await.unwrap();
    let Step::Done(a) = link.apply(&create, None).await.unwrap() else {
        panic!("served: done");
    };
    assert_eq!(a.physical_id, id);
    let delete = request(RequestKind::Delete, asking(&subnets));
    drive(&link, &delete, 20).await.0.unwrap();
    assert!(matches!(&said(&cloud)[..], [Message::Released { .. }]));
    assert!(
        cloud
            .record_in(ZONE, &record.name, RecordType::Cname)
            .is_none(),
        "proof removed"
    );
}

#[tokio::test]
async fn a_refusal_fails_the_link_with_the_provider_s_reason() {
    let (cloud, link, subnets) = bed();
    let create = request(RequestKind::Create, asking(&subnets));
    let id = asked(&cloud, &link, &create).await;
    let refused = Message::Refused {
        subject: subject(&id),
        reason: "account 222222222222 may not ask this service for certificates".into(),
    };
    on_message(cloud.as_ref(), PROVIDER, &refused)
        .await
        .unwrap();
    let err = link.apply(&create, None).await.unwrap_err();
    assert!(err.reason().contains("may not ask"), "{}", err.reason());
}

#[test]
fn a_request_needs_its_alias_zone_and_a_provider_by_arn() {
    let subnets = vec!["subnet-0123456789abcdef0".to_string()];
    let mut no_zone = asking(&subnets);
    no_zone
        .as_object_mut()
        .unwrap()
        .remove("AliasValidationZoneId");
    let mut by_name = asking(&subnets);
    by_name["ServiceParameter"] = json!("/privatelink-autowire/services/orders");
    let mut zone_alone = props(&subnets);
    zone_alone["AliasValidationZoneId"] = json!(ZONE);
    for (p, says) in [
        (no_zone, "is required"),
        (by_name, "by its ARN"),
        (zone_alone, "only used"),
    ] {
        let e = Spec::parse(&p).unwrap_err().reason();
        assert!(e.contains(says), "{e}");
    }
}
