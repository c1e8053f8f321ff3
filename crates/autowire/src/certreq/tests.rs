//! The provider's certificate desk against the in-memory cloud: decided by the grants, issued
//! only once the name's owner publishes the validation record, served by SNI, taken back.

use std::sync::Arc;

use serde_json::Value;

use super::messages::{Message, Subject};
use super::owner::ConsumerCert;
use super::provider::Desk;
use crate::aws::{Descriptors, DnsRecords, Owner, RecordChange, RecordSet, RecordType, Tier};
use crate::fake::{FakeCloud, Fault};
use crate::publication::Policy;

const B: &str = "222222222222";
const C: &str = "333333333333";
const PREFIX: &str = "/privatelink-autowire/services";
const ALIAS: &str = "orders.team-b.example.com";
const SERVICE: &str = "vpce-svc-0123456789abcdef0";

struct Bed {
    cloud: Arc<FakeCloud>,
    desk: Desk<FakeCloud>,
    listener: String,
}

async fn bed(grants: &[&str]) -> Bed {
    let cloud = Arc::new(FakeCloud::provider());
    let nlb = cloud.state.lock().unwrap().services[SERVICE].nlb_arns[0].clone();
    let listener = format!(
        "{}/0123456789abcdef",
        nlb.replacen(":loadbalancer/", ":listener/", 1)
    );
    let default = cloud.import_certificate("orders.link.example.com");
    cloud.add_listener(&listener, "TLS", 443, Some(&default));
    cloud.add_zone("ZTEAMB", "team-b.example.com", false);
    let policy = Policy {
        schema: 1,
        service_id: SERVICE.into(),
        allowed_accounts: vec![],
        reject_unlisted: false,
        private_dns_record: None,
        added_principals: vec![],
        connection_notification: None,
        certificate_requests: super::grants::parse(
            &grants.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
        )
        .unwrap(),
    };
    let owner = Owner {
        stack_id: "stack".into(),
        logical_id: "Publication".into(),
    };
    let name = format!("{PREFIX}/orders/policy");
    cloud
        .create(&name, &policy.to_canonical_json(), Tier::Standard, &owner)
        .await
        .unwrap();
    let desk = Desk::new(cloud.clone(), PREFIX, "bus-a");
    Bed {
        cloud,
        desk,
        listener,
    }
}

fn subject(alias: &str) -> Subject {
    Subject {
        link_id: "link-0123456789abcdef0123".into(),
        alias_name: alias.into(),
        service_key: "orders".into(),
    }
}

fn requested(alias: &str) -> Message {
    Message::Requested {
        subject: subject(alias),
        reply_bus_arn: format!("arn:aws:events:us-east-1:{B}:event-bus/b"),
    }
}

impl Bed {
    /// The messages said since the last look, parsed.
    fn said(&self) -> Vec<Message> {
        let said: Vec<(String, String, Value)> =
            std::mem::take(&mut self.cloud.state.lock().unwrap().announced);
        said.iter()
            .map(|(bus, kind, detail)| {
                assert_eq!(bus, "bus-a");
                Message::parse(kind, detail).unwrap()
            })
            .collect()
    }

    fn served(&self) -> Vec<String> {
        self.cloud
            .listener_state(&self.listener)
            .unwrap()
            .extra_certificates
    }

    /// The certificates the desk made (the listener's imported default aside).
    fn certificates(&self) -> usize {
        let s = self.cloud.state.lock().unwrap();
        s.certificates
            .keys()
            .filter(|a| !a.contains("/imported-"))
            .count()
    }

    /// The consumer's proof: the validation record in its own public zone.
    async fn publish(&self, name: &str, value: &str) {
        let record = RecordSet::new(name, RecordType::Cname, value);
        self.cloud
            .change_records("ZTEAMB", &[RecordChange::Upsert(record)])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_granted_name_is_issued_once_its_owner_proves_it_then_served_and_released() {
    let b = bed(&["222222222222:team-b.example.com"]).await;
    b.desk.on_message(B, &requested(ALIAS)).await.unwrap();
    let [Message::Validation {
        record_name,
        record_value,
        ..
    }] = &b.said()[..]
    else {
        panic!("one validation record expected");
    };
    b.desk.sweep().await.unwrap();
    assert!(
        b.said().is_empty() && b.served().is_empty(),
        "not issued before the proof"
    );
    b.publish(record_name, record_value).await;
    b.desk.sweep().await.unwrap();
    let [Message::Ready {
        certificate_arn, ..
    }] = &b.said()[..]
    else {
        panic!("ready expected");
    };
    assert_eq!(b.served(), vec![certificate_arn.clone()]);
    b.cloud.reset_calls();
    b.desk.sweep().await.unwrap();
    assert_eq!(
        b.cloud.mutating_calls(),
        Vec::<&str>::new(),
        "a second sweep changes nothing"
    );
    b.desk.on_message(B, &requested(ALIAS)).await.unwrap();
    assert!(
        matches!(&b.said()[..], [Message::Ready { .. }]),
        "asked again: where it stands"
    );
    assert_eq!(b.cloud.mutating_calls(), vec!["events:PutEvents"]);
    let released = Message::Released {
        subject: subject(ALIAS),
    };
    b.desk.on_message(C, &released).await.unwrap();
    assert_eq!(
        b.served().len(),
        1,
        "another account can't release B's certificate"
    );
    b.desk.on_message(B, &released).await.unwrap();
    assert!(b.served().is_empty());
    assert_eq!(b.cloud.certificate_status(certificate_arn).as_deref(), None);
}

#[tokio::test]
async fn refusals_say_why_and_leave_nothing() {
    let b = bed(&["222222222222:team-b.example.com"]).await;
    b.cloud.inject(
        "acm:RequestCertificate",
        Fault::FailNth(
            1,
            "LimitExceededException".into(),
            "you have reached your limit".into(),
        ),
    );
    for (from, alias, says) in [
        (C, ALIAS, "may not ask"),
        (B, "orders.team-c.example.com", "not under"),
        (B, ALIAS, "quota"),
    ] {
        b.desk.on_message(from, &requested(alias)).await.unwrap();
        let [Message::Refused { reason, .. }] = &b.said()[..] else {
            panic!("refusal expected for {from} {alias}");
        };
        assert!(reason.contains(says), "{reason}");
        assert_eq!(b.certificates(), 0, "nothing left for {from} {alias}");
    }
}

#[tokio::test]
async fn deleting_the_publication_releases_every_consumer_certificate() {
    let b = bed(&["222222222222:team-b.example.com"]).await;
    b.desk.on_message(B, &requested(ALIAS)).await.unwrap();
    let other = ConsumerCert {
        account: B.into(),
        service_key: "orders".into(),
        link_id: "link-other".into(),
    };
    let mut second = requested("api.team-b.example.com");
    if let Message::Requested { subject, .. } = &mut second {
        subject.link_id = other.link_id.clone();
    }
    b.desk.on_message(B, &second).await.unwrap();
    assert_eq!(b.certificates(), 2);
    b.said();
    assert_eq!(b.desk.release_service("orders").await.unwrap(), 2);
    assert_eq!(b.certificates(), 0);
    assert!(b
        .said()
        .iter()
        .all(|m| matches!(m, Message::Refused { .. })));
}
