//! The link's own group sends nothing: AWS's default egress goes when the group is made, and a
//! group found with egress (made by an earlier release) loses it; a group without makes no call.

use super::*;
use crate::aws::{EgressRule, EgressTarget};

fn egress(cloud: &FakeCloud) -> Vec<EgressRule> {
    let s = cloud.state.lock().unwrap();
    let [g] = s.groups.values().collect::<Vec<_>>()[..] else {
        panic!("one group expected");
    };
    g.group.egress.clone()
}

fn revokes(cloud: &FakeCloud) -> usize {
    let calls = cloud.mutating_calls();
    calls
        .iter()
        .filter(|c| **c == "ec2:RevokeSecurityGroupEgress")
        .count()
}

#[tokio::test]
async fn the_owned_group_is_made_without_egress_once() {
    let (cloud, link, subnets) = setup();
    let create = request(RequestKind::Create, props(&subnets));
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(egress(&cloud), vec![]);
    assert_eq!(revokes(&cloud), 1, "{:?}", cloud.mutating_calls());
    cloud.reset_calls();
    converge(&cloud, &link, &create).await.unwrap();
    assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
}

#[tokio::test]
async fn a_group_found_with_egress_loses_all_of_it() {
    let (cloud, link, subnets, _) = created().await;
    let extra = vec![
        EgressRule::aws_default(),
        EgressRule {
            protocol: "-1".into(),
            ports: None,
            to: EgressTarget::Ipv6("::/0".into()),
        },
        EgressRule {
            protocol: "tcp".into(),
            ports: Some((443, 443)),
            to: EgressTarget::PrefixList("pl-0123".into()),
        },
    ];
    for g in cloud.state.lock().unwrap().groups.values_mut() {
        g.group.egress = extra.clone();
    }
    cloud.reset_calls();
    let update = request(RequestKind::Update, props(&subnets));
    converge(&cloud, &link, &update).await.unwrap();
    assert_eq!(egress(&cloud), vec![]);
    assert_eq!(cloud.mutating_calls(), ["ec2:RevokeSecurityGroupEgress"]);
}

#[tokio::test]
async fn given_groups_are_never_touched() {
    let (cloud, link, subnets) = setup();
    let mine = cloud.create_group(VPC, "mine", "mine", &[]).await.unwrap();
    let mut p = props(&subnets);
    p["SecurityGroupIds"] = json!([mine]);
    converge(&cloud, &link, &request(RequestKind::Create, p))
        .await
        .unwrap();
    assert_eq!(egress(&cloud), vec![EgressRule::aws_default()]);
    assert_eq!(revokes(&cloud), 0);
}
