//! ServiceCertificate against the in-memory cloud.

use serde_json::json;

use super::*;
use crate::cfn::RequestKind;
use crate::fake::{drive, FakeCloud, Fault, ACCOUNT};

const STACK: &str = "arn:aws:cloudformation:us-east-1:111111111111:stack/provider/1";
const ZONE: &str = "ZLINK0123456789";
const TLS: &str = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/orders/0123456789abcdef/aaaaaaaaaaaaaaaa";
const BARE: &str = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/orders/0123456789abcdef/bbbbbbbbbbbbbbbb";
const TCP: &str = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/orders/0123456789abcdef/cccccccccccccccc";

fn props(domain: &str, listeners: &[&str]) -> Value {
    json!({
        "ServiceToken": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:provider"),
        "DomainName": domain,
        "SubjectAlternativeNames": [format!("*.{domain}")],
        "HostedZoneId": ZONE,
        "ListenerArns": listeners,
    })
}

fn request(kind: RequestKind, props: Value, physical_id: Option<&str>) -> Request {
    Request {
        kind,
        request_id: "r1".into(),
        stack_id: STACK.into(),
        logical_id: "Certificate".into(),
        resource_type: RESOURCE_TYPE.into(),
        service_token: Some(format!(
            "arn:aws:lambda:us-east-1:{ACCOUNT}:function:provider"
        )),
        physical_id: physical_id.map(str::to_string),
        old_props: (kind == RequestKind::Update).then(|| props.clone()),
        props,
    }
}

/// A zone, a TLS listener serving an imported default certificate, a TLS listener without one
/// and a TCP listener.
fn setup() -> (Arc<FakeCloud>, ServiceCertificate<FakeCloud>, String) {
    let cloud = Arc::new(FakeCloud::provider());
    cloud.add_zone(ZONE, "link.example.com", false);
    let imported = cloud.import_certificate("legacy.link.example.com");
    cloud.add_listener(TLS, "TLS", 443, Some(&imported));
    cloud.add_listener(BARE, "TLS", 8443, None);
    cloud.add_listener(TCP, "TCP", 80, None);
    (cloud.clone(), ServiceCertificate::new(cloud), imported)
}

fn cnames(cloud: &FakeCloud) -> Vec<RecordSet> {
    cloud
        .records_in(ZONE)
        .into_iter()
        .filter(|r| r.kind == crate::aws::RecordType::Cname)
        .collect()
}

async fn create(c: &ServiceCertificate<FakeCloud>, domain: &str, listeners: &[&str]) -> String {
    let (a, waits) = drive(
        c,
        &request(RequestKind::Create, props(domain, listeners), None),
        10,
    )
    .await;
    assert!(!waits.is_empty(), "issuance is waited for");
    a.unwrap().physical_id
}

#[tokio::test]
async fn create_validates_by_dns_waits_for_issue_and_serves_it_by_sni() {
    let (cloud, c, imported) = setup();
    let arn = create(&c, "orders.link.example.com", &[TLS, BARE]).await;
    assert_eq!(cloud.certificate_status(&arn).as_deref(), Some("ISSUED"));
    // The wildcard shares its base name's record: one CNAME.
    let records = cnames(&cloud);
    assert_eq!(records.len(), 1, "{records:?}");
    assert!(records[0].name.ends_with(".orders.link.example.com"));
    let tls = cloud.listener_state(TLS).unwrap();
    assert_eq!(tls.default_certificate.as_deref(), Some(imported.as_str()));
    assert_eq!(tls.extra_certificates, vec![arn.clone()]);
    let bare = cloud.listener_state(BARE).unwrap();
    assert_eq!(
        bare.default_certificate.as_deref(),
        Some(arn.as_str()),
        "a listener without one gets it as default"
    );
}

#[tokio::test]
async fn a_repeated_create_and_a_noop_update_make_no_mutating_call() {
    let (cloud, c, _) = setup();
    let arn = create(&c, "orders.link.example.com", &[TLS]).await;
    cloud.reset_calls();
    let (again, _) = drive(
        &c,
        &request(
            RequestKind::Create,
            props("orders.link.example.com", &[TLS]),
            None,
        ),
        3,
    )
    .await;
    assert_eq!(again.unwrap().physical_id, arn);
    let (update, _) = drive(
        &c,
        &request(
            RequestKind::Update,
            props("orders.link.example.com", &[TLS]),
            Some(&arn),
        ),
        3,
    )
    .await;
    assert_eq!(update.unwrap().data["CertificateArn"], arn);
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_name_change_swaps_the_certificate_and_delete_of_the_old_one_cleans_up() {
    let (cloud, c, _) = setup();
    let old = create(&c, "orders.link.example.com", &[TLS, BARE]).await;
    let old_records = cnames(&cloud);
    let mut update = request(
        RequestKind::Update,
        props("api.link.example.com", &[TLS, BARE]),
        Some(&old),
    );
    update.old_props = Some(props("orders.link.example.com", &[TLS, BARE]));
    let new = drive(&c, &update, 10).await.0.unwrap().physical_id;
    assert_ne!(new, old);
    let tls = cloud.listener_state(TLS).unwrap();
    assert_eq!(
        tls.extra_certificates,
        vec![new.clone()],
        "SNI: new in, old out"
    );
    let bare = cloud.listener_state(BARE).unwrap();
    assert_eq!(
        bare.default_certificate.as_deref(),
        Some(new.as_str()),
        "default swapped in place"
    );
    // CloudFormation then deletes the old physical ID.
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[TLS, BARE]),
        Some(&old),
    );
    assert_eq!(drive(&c, &delete, 3).await.0.unwrap().physical_id, old);
    assert_eq!(cloud.certificate_status(&old), None);
    let left = cnames(&cloud);
    assert_eq!(left.len(), 1);
    assert!(
        !old_records.contains(&left[0]),
        "only the new certificate's record is left"
    );
    assert_eq!(cloud.certificate_status(&new).as_deref(), Some("ISSUED"));
}

#[tokio::test]
async fn delete_detaches_removes_its_records_and_deletes_and_a_second_delete_is_a_no_op() {
    let (cloud, c, imported) = setup();
    let arn = create(&c, "orders.link.example.com", &[TLS]).await;
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[TLS]),
        Some(&arn),
    );
    drive(&c, &delete, 3).await.0.unwrap();
    assert_eq!(cloud.certificate_status(&arn), None);
    assert_eq!(cnames(&cloud), vec![]);
    let tls = cloud.listener_state(TLS).unwrap();
    assert_eq!(tls.extra_certificates, Vec::<String>::new());
    assert_eq!(tls.default_certificate.as_deref(), Some(imported.as_str()));
    cloud.reset_calls();
    drive(&c, &delete, 3).await.0.unwrap();
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_record_another_certificate_needs_is_kept() {
    let (cloud, c, _) = setup();
    let first = create(&c, "orders.link.example.com", &[]).await;
    let mut other = request(
        RequestKind::Create,
        props("orders.link.example.com", &[]),
        None,
    );
    other.logical_id = "OtherCertificate".into();
    let second = drive(&c, &other, 10).await.0.unwrap().physical_id;
    assert_ne!(first, second);
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[]),
        Some(&first),
    );
    drive(&c, &delete, 3).await.0.unwrap();
    assert_eq!(
        cnames(&cloud).len(),
        1,
        "the shared validation record stays for the other certificate"
    );
}

#[tokio::test]
async fn a_delete_retried_after_a_partial_failure_converges() {
    let (cloud, c, _) = setup();
    let arn = create(&c, "orders.link.example.com", &[TLS]).await;
    cloud.inject(
        "acm:DeleteCertificate",
        Fault::Fail("AccessDeniedException".into(), "denied".into()),
    );
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[TLS]),
        Some(&arn),
    );
    assert!(drive(&c, &delete, 3).await.0.is_err());
    assert!(cloud.certificate_status(&arn).is_some());
    drive(&c, &delete, 3).await.0.unwrap();
    assert_eq!(cloud.certificate_status(&arn), None);
    assert_eq!(cnames(&cloud), vec![]);
}

#[tokio::test]
async fn a_certificate_still_in_use_is_waited_for() {
    let (cloud, c, _) = setup();
    let arn = create(&c, "orders.link.example.com", &[TLS]).await;
    cloud.inject(
        "acm:DeleteCertificate",
        Fault::Fail("ResourceInUseException".into(), "in use".into()),
    );
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[TLS]),
        Some(&arn),
    );
    let (done, waits) = drive(&c, &delete, 3).await;
    done.unwrap();
    assert_eq!(waits.len(), 1);
    assert_eq!(cloud.certificate_status(&arn), None);
}

#[tokio::test]
async fn a_failed_certificate_says_why_and_leaves_nothing_behind() {
    let (cloud, c, _) = setup();
    cloud
        .state
        .lock()
        .unwrap()
        .caa_forbidden
        .insert("orders.link.example.com".into());
    let req = request(
        RequestKind::Create,
        props("orders.link.example.com", &[TLS]),
        None,
    );
    let err = drive(&c, &req, 10).await.0.unwrap_err();
    let reason = err.reason();
    assert!(reason.contains("FAILED (CAA_ERROR)"), "{reason}");
    assert!(reason.contains("CAA"), "{reason}");
    assert!(reason.chars().count() < 256, "{reason}");
    assert!(
        cloud
            .state
            .lock()
            .unwrap()
            .certificates
            .values()
            .all(|c| c.token.is_empty()),
        "the requested certificate is deleted"
    );
    assert_eq!(cnames(&cloud), vec![]);
}

#[tokio::test]
async fn abandoning_the_wait_deletes_the_unfinished_certificate() {
    let (cloud, c, _) = setup();
    cloud
        .state
        .lock()
        .unwrap()
        .undelegated_zones
        .insert(ZONE.into());
    let req = request(
        RequestKind::Create,
        props("orders.link.example.com", &[TLS]),
        None,
    );
    let mut progress = None;
    for _ in 0..3 {
        match c.apply(&req, progress.as_ref()).await.unwrap() {
            Step::Wait { progress: p, .. } => progress = Some(p),
            Step::Done(a) => panic!("issued without public DNS: {a:?}"),
        }
    }
    assert_eq!(cnames(&cloud).len(), 1);
    c.abandon(&req, progress.as_ref().unwrap()).await;
    assert_eq!(cnames(&cloud), vec![]);
    assert!(cloud
        .state
        .lock()
        .unwrap()
        .certificates
        .values()
        .all(|c| c.token.is_empty()));
}

#[tokio::test]
async fn route53_still_busy_is_waited_out() {
    let (cloud, c, _) = setup();
    cloud.inject(
        "route53:ChangeResourceRecordSets",
        Fault::Fail(
            "PriorRequestNotComplete".into(),
            "still processing a prior request".into(),
        ),
    );
    let req = request(
        RequestKind::Create,
        props("orders.link.example.com", &[TLS]),
        None,
    );
    let (a, waits) = drive(&c, &req, 10).await;
    a.unwrap();
    assert!(waits.len() >= 2);
}

#[tokio::test]
async fn validation_records_not_yet_published_are_waited_for() {
    let (cloud, c, _) = setup();
    cloud.state.lock().unwrap().records_after_polls = 2;
    let req = request(
        RequestKind::Create,
        props("orders.link.example.com", &[TLS]),
        None,
    );
    drive(&c, &req, 10).await.0.unwrap();
    assert_eq!(cnames(&cloud).len(), 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_change() {
    let cases = [
        (props("orders.elsewhere.example.org", &[TLS]), "is not in zone"),
        (props("orders.link.example.com", &[TCP]), "is a TCP listener; certificates go on TLS listeners"),
        (
            props(
                "orders.link.example.com",
                &["arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/net/orders/0123456789abcdef/dddddddddddddddd"],
            ),
            "not found",
        ),
        (props("orders.link.example.com", &["arn:aws:s3:::bucket"]), "not a load balancer listener ARN"),
        (json!({"DomainName": "orders.link.example.com"}), "HostedZoneId"),
        (json!({"DomainName": "not a name", "HostedZoneId": ZONE}), "DomainName"),
        (json!({"DomainName": "a.link.example.com", "HostedZoneId": ZONE, "Colour": "red"}), "unknown properties: Colour"),
    ];
    for (p, expected) in cases {
        let (cloud, c, _) = setup();
        let err = c
            .apply(&request(RequestKind::Create, p.clone(), None), None)
            .await
            .unwrap_err();
        assert!(err.reason().contains(expected), "{p}: {}", err.reason());
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new(), "{p}");
    }
    let (cloud, c, _) = setup();
    cloud.add_zone("ZPRIVATE", "link.example.com", true);
    let mut p = props("orders.link.example.com", &[TLS]);
    p["HostedZoneId"] = json!("ZPRIVATE");
    let err = c
        .apply(&request(RequestKind::Create, p, None), None)
        .await
        .unwrap_err();
    assert!(err.reason().contains("private zone"), "{}", err.reason());
    let err = c
        .apply(
            &request(
                RequestKind::Create,
                {
                    let mut p = props("orders.link.example.com", &[]);
                    p["HostedZoneId"] = json!("ZMISSING");
                    p
                },
                None,
            ),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.reason().contains("hosted zone ZMISSING not found"),
        "{}",
        err.reason()
    );
}

#[tokio::test]
async fn a_default_certificate_cannot_be_taken_off_and_delete_says_so() {
    let (cloud, c, _) = setup();
    let arn = create(&c, "orders.link.example.com", &[BARE]).await;
    let delete = request(
        RequestKind::Delete,
        props("orders.link.example.com", &[BARE]),
        Some(&arn),
    );
    let err = drive(&c, &delete, 3).await.0.unwrap_err();
    assert!(
        err.reason().contains("default certificate of listener"),
        "{}",
        err.reason()
    );
    assert!(cloud.certificate_status(&arn).is_some());
}
