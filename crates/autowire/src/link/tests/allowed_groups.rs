//! AllowedSecurityGroupIds: the owned group admits the service's ports from those groups'
//! members, instead of the VPC's CIDRs or beside AllowedCidrs, and follows changes to the list.

use super::*;

/// The owned group's ingress sources (the group the link made, not `except`).
fn sources(cloud: &FakeCloud, except: &str) -> Vec<RuleSource> {
    let s = cloud.state.lock().unwrap();
    let owned: Vec<_> = s.groups.values().filter(|g| g.group.id != except).collect();
    let [g] = owned[..] else {
        panic!("one owned group expected, found {}", owned.len());
    };
    g.group.rules.iter().map(|r| r.source.clone()).collect()
}

async fn client_group(cloud: &FakeCloud, vpc: &str) -> String {
    cloud
        .create_group(vpc, "clients", "the probe", &[])
        .await
        .unwrap()
}

#[tokio::test]
async fn groups_alone_replace_the_vpc_cidr_and_a_second_pass_changes_nothing() {
    let (cloud, link, subnets) = setup();
    let clients = client_group(&cloud, VPC).await;
    let mut p = props(&subnets);
    p["AllowedSecurityGroupIds"] = json!([clients]);
    let create = request(RequestKind::Create, p);
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(
        sources(&cloud, &clients),
        vec![RuleSource::Group(clients.clone())]
    );
    cloud.reset_calls();
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn groups_beside_cidrs_and_dropping_the_group_revokes_only_its_rule() {
    let (cloud, link, subnets) = setup();
    let clients = client_group(&cloud, VPC).await;
    let mut p = props(&subnets);
    p["AllowedCidrs"] = json!(["10.1.2.0/24"]);
    p["AllowedSecurityGroupIds"] = json!([clients]);
    converge(&cloud, &link, &request(RequestKind::Create, p.clone()))
        .await
        .unwrap();
    let cidr = RuleSource::Cidr("10.1.2.0/24".into());
    let both = vec![cidr.clone(), RuleSource::Group(clients.clone())];
    assert_eq!(sources(&cloud, &clients), both);
    p.as_object_mut().unwrap().remove("AllowedSecurityGroupIds");
    cloud.reset_calls();
    converge(&cloud, &link, &request(RequestKind::Update, p))
        .await
        .unwrap();
    assert_eq!(sources(&cloud, &clients), vec![cidr]);
    // The link record follows the new properties; the group loses exactly that rule.
    assert_eq!(
        cloud.mutating_calls(),
        vec!["ssm:PutParameter", "ec2:RevokeSecurityGroupIngress"]
    );
}

#[tokio::test]
async fn a_group_of_another_vpc_or_none_fails_before_anything_is_made() {
    let (cloud, link, subnets) = setup();
    cloud.add_vpc("vpc-0aaaaaaaaaaaaaaaa", "10.9.0.0/16", &["use1-az1"]);
    let elsewhere = client_group(&cloud, "vpc-0aaaaaaaaaaaaaaaa").await;
    for (group, says) in [
        (elsewhere.as_str(), "not in VpcId"),
        ("sg-0123456789abcdef0", "not found"),
    ] {
        let mut p = props(&subnets);
        p["AllowedSecurityGroupIds"] = json!([group]);
        cloud.reset_calls();
        let err = link
            .apply(&request(RequestKind::Create, p), None)
            .await
            .unwrap_err();
        assert!(err.reason().contains(says), "{}", err.reason());
        assert!(err.reason().contains("AllowedSecurityGroupIds"));
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
    }
}

#[test]
fn allowed_groups_are_checked_and_only_apply_to_the_owned_group() {
    let subnets = vec!["subnet-0123456789abcdef0".to_string()];
    for (value, groups, says) in [
        (json!(["sg-1"]), None, "is not a sg-"),
        (
            json!(["sg-0123456789abcdef0"]),
            Some("sg-0fedcba9876543210"),
            "only applies",
        ),
    ] {
        let mut p = props(&subnets);
        p["AllowedSecurityGroupIds"] = value;
        if let Some(g) = groups {
            p["SecurityGroupIds"] = json!([g]);
        }
        let err = Spec::parse(&p).unwrap_err();
        assert!(err.reason().contains(says), "{}", err.reason());
    }
}
