//! The Route 53, ACM, listener-certificate and endpoint-service adapters over the wire against
//! the emulator: what they read and write, and that reconciling twice mutates nothing.

mod support;

use autowire::aws::{
    Certificates, DnsRecords, EndpointServices, Listeners, Owner, RecordChange, RecordSet,
    RecordType,
};
use autowire::dns;
use aws_config::SdkConfig;
use support::*;

/// A public hosted zone for a fresh domain: `(zone_id, domain)`.
async fn public_zone(config: &SdkConfig, label: &str) -> (String, String) {
    let domain = format!("{label}-{}.example.com", unique());
    let out = aws_sdk_route53::Client::new(config)
        .create_hosted_zone()
        .name(&domain)
        .caller_reference(unique())
        .send()
        .await
        .unwrap();
    let id = out
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/");
    (id.to_string(), domain)
}

/// What every test here starts from: the provider account's SDK (calls logged) and a zone.
struct Bed {
    url: String,
    config: SdkConfig,
    log: CallLog,
    sdk: autowire::aws::sdk::Sdk,
    zone: String,
    domain: String,
}

async fn bed(label: &str) -> Option<Bed> {
    let url = emulator_url()?;
    let config = account_config(&url, PROVIDER).await;
    let log = CallLog::default();
    let sdk = logged_sdk(&config, &log);
    let (zone, domain) = public_zone(&config, label).await;
    Some(Bed {
        url,
        config,
        log,
        sdk,
        zone,
        domain,
    })
}

fn owner() -> Owner {
    Owner {
        stack_id: "arn:aws:cloudformation:us-east-1:111111111111:stack/wire/1".into(),
        logical_id: "Certificate".into(),
    }
}

/// Request a certificate for `domain` and validate it through the zone: its ARN, issued.
async fn issued(sdk: &autowire::aws::sdk::Sdk, zone: &str, domain: &str) -> String {
    let arn = sdk
        .request_certificate(domain, &[], &unique().replace('-', ""), &owner())
        .await
        .unwrap();
    let cert = sdk.certificate(&arn).await.unwrap().unwrap();
    dns::ensure_records(sdk, zone, &cert.validation_records)
        .await
        .unwrap();
    assert_eq!(
        sdk.certificate(&arn).await.unwrap().unwrap().status,
        "ISSUED"
    );
    arn
}

#[tokio::test]
async fn route53_adapter_writes_reads_and_removes_exactly_its_records() {
    let Some(Bed {
        log,
        sdk,
        zone,
        domain,
        ..
    }) = bed("wire-dns").await
    else {
        return;
    };

    let z = sdk.hosted_zone(&zone).await.unwrap().unwrap();
    assert_eq!((z.name.as_str(), z.private), (domain.as_str(), false));
    assert!(sdk.hosted_zone("ZNOSUCHZONE0000").await.unwrap().is_none());

    let txt = RecordSet::txt(&format!("_proof.{domain}"), "vpce:abc");
    assert!(dns::ensure_records(&sdk, &zone, std::slice::from_ref(&txt))
        .await
        .unwrap());
    let seen = sdk.record(&zone, &txt.name, RecordType::Txt).await.unwrap();
    assert_eq!(seen.as_ref(), Some(&txt), "read back with its quotes");
    log.clear();
    assert!(
        !dns::ensure_records(&sdk, &zone, std::slice::from_ref(&txt))
            .await
            .unwrap()
    );
    assert!(log.mutating().is_empty(), "{:?}", log.all());

    // Route 53 refuses a DELETE that does not match exactly; remove_records never sends one.
    let mut other = txt.clone();
    other.values = vec!["\"someone else\"".into()];
    let err = sdk
        .change_records(&zone, &[RecordChange::Delete(other.clone())])
        .await
        .unwrap_err();
    assert_eq!(err.aws_code(), Some("InvalidChangeBatch"), "{err}");
    log.clear();
    dns::remove_records(&sdk, &zone, &[other]).await.unwrap();
    assert!(log.mutating().is_empty(), "a changed record is left alone");
    dns::remove_records(&sdk, &zone, std::slice::from_ref(&txt))
        .await
        .unwrap();
    assert!(sdk
        .record(&zone, &txt.name, RecordType::Txt)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn acm_adapter_requests_idempotently_validates_by_dns_and_deletes() {
    let Some(Bed {
        sdk, zone, domain, ..
    }) = bed("wire-acm").await
    else {
        return;
    };
    let token = unique().replace('-', "");
    let names = vec![format!("*.{domain}")];

    let arn = sdk
        .request_certificate(&domain, &names, &token, &owner())
        .await
        .unwrap();
    let again = sdk
        .request_certificate(&domain, &names, &token, &owner())
        .await
        .unwrap();
    assert_eq!(
        again, arn,
        "the idempotency token returns the same certificate"
    );
    let cert = sdk.certificate(&arn).await.unwrap().unwrap();
    assert_eq!(cert.status, "PENDING_VALIDATION");
    assert!(cert.validation_complete);
    assert_eq!(
        cert.validation_records.len(),
        1,
        "the wildcard shares its base name's record"
    );
    assert_eq!(cert.names.len(), 2);
    assert_eq!(sdk.certificate_owner(&arn).await.unwrap(), Some(owner()));
    assert!(sdk
        .live_certificates()
        .await
        .unwrap()
        .iter()
        .any(|s| s.arn == arn && s.names.len() == 2));

    dns::ensure_records(&sdk, &zone, &cert.validation_records)
        .await
        .unwrap();
    assert_eq!(
        sdk.certificate(&arn).await.unwrap().unwrap().status,
        "ISSUED"
    );

    sdk.delete_certificate(&arn).await.unwrap();
    sdk.delete_certificate(&arn).await.unwrap();
    assert!(sdk.certificate(&arn).await.unwrap().is_none());
    assert!(sdk.certificate_owner(&arn).await.unwrap().is_none());
}

#[tokio::test]
async fn listener_adapter_adds_swaps_and_removes_certificates() {
    let Some(Bed {
        config,
        sdk,
        zone,
        domain,
        ..
    }) = bed("wire-elb").await
    else {
        return;
    };
    let svc = provider_service(&config, "wire-elb", &["use1-az1"], 80).await;
    let a = issued(&sdk, &zone, &format!("a.{domain}")).await;
    let b = issued(&sdk, &zone, &format!("b.{domain}")).await;

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let tls = elb
        .create_listener()
        .load_balancer_arn(&svc.nlb_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tls)
        .port(443)
        .certificates(
            aws_sdk_elasticloadbalancingv2::types::Certificate::builder()
                .certificate_arn(&a)
                .build(),
        )
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(svc.target_group_arn.clone())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_string();

    let all = sdk.listeners_of(&svc.nlb_arn).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let tcp = all.iter().find(|l| **l != tls).unwrap();
    let l = sdk.listener(tcp).await.unwrap().unwrap();
    assert_eq!(
        (l.protocol.as_str(), l.takes_certificates()),
        ("TCP", false)
    );

    sdk.add_certificate(&tls, &b).await.unwrap();
    let l = sdk.listener(&tls).await.unwrap().unwrap();
    assert_eq!(l.default_certificate.as_deref(), Some(a.as_str()));
    assert_eq!(l.extra_certificates, vec![b.clone()]);

    let err = sdk.delete_certificate(&b).await.unwrap_err();
    assert_eq!(err.aws_code(), Some("ResourceInUseException"), "{err}");
    let in_use = sdk.certificate(&b).await.unwrap().unwrap().in_use_by;
    assert_eq!(in_use, vec![svc.nlb_arn.clone()]);

    sdk.remove_certificate(&tls, &b).await.unwrap();
    sdk.remove_certificate(&tls, &b).await.unwrap();
    assert!(sdk
        .listener(&tls)
        .await
        .unwrap()
        .unwrap()
        .extra_certificates
        .is_empty());
    assert!(
        sdk.remove_certificate(&tls, &a).await.is_err(),
        "the default stays"
    );

    sdk.set_default_certificate(&tls, &b).await.unwrap();
    let l = sdk.listener(&tls).await.unwrap().unwrap();
    assert_eq!(l.default_certificate.as_deref(), Some(b.as_str()));
    sdk.delete_certificate(&a).await.unwrap();

    let missing = tls.replacen(&tls[tls.len() - 16..], "0000000000000000", 1);
    assert!(sdk.listener(&missing).await.unwrap().is_none());
}

#[tokio::test]
async fn endpoint_service_adapter_sets_and_verifies_private_dns_and_rejects_connections() {
    let Some(Bed {
        url,
        config,
        sdk,
        zone,
        domain,
        ..
    }) = bed("wire-pdns").await
    else {
        return;
    };
    let svc = provider_service(&config, "wire-pdns", &["use1-az1"], 443).await;
    let name = format!("orders.{domain}");

    sdk.set_private_dns_name(&svc.service_id, Some(&name))
        .await
        .unwrap();
    let seen = sdk
        .describe_service(&svc.service_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen.private_dns.as_ref().map(|p| p.name.as_str()),
        Some(name.as_str())
    );
    let v = seen.verification.expect("EC2 says what to publish");
    let txt = RecordSet::txt(&format!("{}.{name}", v.name), &v.value);
    dns::ensure_records(&sdk, &zone, &[txt]).await.unwrap();
    sdk.start_private_dns_verification(&svc.service_id)
        .await
        .unwrap();
    let mut state = String::new();
    for _ in 0..50 {
        let s = sdk
            .describe_service(&svc.service_id)
            .await
            .unwrap()
            .unwrap();
        state = s.private_dns.unwrap().state;
        if state != "pendingVerification" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "verified");

    // A consumer connects; the provider sees it, then rejects it.
    let ec2 = aws_sdk_ec2::Client::new(&config);
    ec2.modify_vpc_endpoint_service_permissions()
        .service_id(&svc.service_id)
        .add_allowed_principals(format!("arn:aws:iam::{CONSUMER}:root"))
        .send()
        .await
        .unwrap();
    let consumer = aws_sdk_ec2::Client::new(&account_config(&url, CONSUMER).await);
    let vpc = consumer
        .create_vpc()
        .cidr_block("10.30.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = consumer
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.30.1.0/24")
        .availability_zone_id("use1-az1")
        .send()
        .await
        .unwrap();
    let endpoint = consumer
        .create_vpc_endpoint()
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .private_dns_enabled(false)
        .vpc_id(&vpc_id)
        .service_name(&svc.service_name)
        .subnet_ids(subnet.subnet().unwrap().subnet_id().unwrap())
        .send()
        .await
        .unwrap();
    let endpoint_id = endpoint
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_string();
    let conns = sdk.connections(&svc.service_id).await.unwrap();
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(
        (conns[0].owner.as_str(), conns[0].endpoint_id.as_str()),
        (CONSUMER, endpoint_id.as_str())
    );
    assert!(conns[0].is_live(), "{:?}", conns[0]);
    sdk.reject_connections(&svc.service_id, std::slice::from_ref(&endpoint_id))
        .await
        .unwrap();
    let conns = sdk.connections(&svc.service_id).await.unwrap();
    assert_eq!(conns[0].state, "rejected");
    assert!(sdk
        .reject_connections(&svc.service_id, &["vpce-00000000000000000".into()])
        .await
        .is_err());

    sdk.set_private_dns_name(&svc.service_id, None)
        .await
        .unwrap();
    let seen = sdk
        .describe_service(&svc.service_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        seen.private_dns.is_none() && seen.verification.is_none(),
        "{seen:?}"
    );
}
