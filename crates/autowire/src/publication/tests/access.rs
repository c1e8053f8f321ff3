//! The publication's allowed principals and connection notification: added, remembered, taken
//! back (only what it added), and a repeat makes no mutating call.

use super::*;

const TOPIC: &str = "arn:aws:sns:us-east-1:111111111111:autowire-connections";
const PRINCIPAL: &str = "arn:aws:iam::222222222222:root";
const OTHER: &str = "arn:aws:iam::333333333333:root";

fn with_topic() -> (Arc<FakeCloud>, Publication<FakeCloud>) {
    let cloud = Arc::new(FakeCloud::provider());
    let publication = Publication::new(cloud.clone()).with_notification_topic(Some(TOPIC));
    (cloud, publication)
}

fn stored_policy(cloud: &FakeCloud) -> Policy {
    let raw = cloud.param(&policy_name(DESCRIPTOR)).unwrap().value;
    Policy::parse("policy", &raw).unwrap()
}

fn accounts(list: &[&str]) -> Value {
    let mut p = props();
    p["AllowedAccounts"] = json!(list);
    p
}

async fn run(publication: &Publication<FakeCloud>, kind: RequestKind, p: Value) -> Result<Step> {
    let req = request(kind, p);
    match kind {
        RequestKind::Delete => publication.cleanup(&req, None).await,
        _ => publication.apply(&req, None).await,
    }
}

#[tokio::test]
async fn create_allows_the_accounts_and_notifies_the_topic_and_a_repeat_changes_nothing() {
    let (cloud, publication) = with_topic();
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL]);
    let n = cloud.notifications_on(SERVICE);
    assert_eq!(n.len(), 1);
    assert_eq!(
        (n[0].topic_arn.as_str(), n[0].events.as_slice()),
        (TOPIC, &[crate::aws::ConnectionEvent::Connect][..])
    );
    let policy = stored_policy(&cloud);
    assert_eq!(policy.added_principals, vec![PRINCIPAL]);
    assert_eq!(
        policy.connection_notification.as_deref(),
        Some(n[0].id.as_str())
    );

    for kind in [RequestKind::Create, RequestKind::Update] {
        cloud.reset_calls();
        run(&publication, kind, props()).await.unwrap();
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new(), "{kind:?}");
    }
    assert!(cloud
        .calls()
        .contains(&"ec2:DescribeVpcEndpointServicePermissions"));
    assert!(cloud
        .calls()
        .contains(&"ec2:DescribeVpcEndpointConnectionNotifications"));
}

#[tokio::test]
async fn a_principal_someone_else_allowed_is_never_taken_away() {
    let (cloud, publication) = setup();
    cloud.allow(SERVICE, PRINCIPAL);
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    assert_eq!(
        cloud.mutating_calls(),
        vec!["ssm:PutParameter", "ssm:PutParameter"]
    );
    assert_eq!(stored_policy(&cloud).added_principals, Vec::<String>::new());
    run(&publication, RequestKind::Update, accounts(&[]))
        .await
        .unwrap();
    run(&publication, RequestKind::Delete, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL]);
}

#[tokio::test]
async fn an_update_that_drops_an_account_removes_only_the_principal_it_added() {
    let (cloud, publication) = setup();
    cloud.allow(SERVICE, "arn:aws:iam::444444444444:root");
    let both = accounts(&["222222222222", "333333333333", "444444444444"]);
    run(&publication, RequestKind::Create, both).await.unwrap();
    assert_eq!(
        stored_policy(&cloud).added_principals,
        vec![PRINCIPAL, OTHER]
    );
    cloud.reset_calls();
    run(
        &publication,
        RequestKind::Update,
        accounts(&["222222222222"]),
    )
    .await
    .unwrap();
    assert_eq!(
        cloud.principals_of(SERVICE),
        vec![PRINCIPAL, "arn:aws:iam::444444444444:root"]
    );
    assert_eq!(stored_policy(&cloud).added_principals, vec![PRINCIPAL]);
    assert_eq!(
        cloud.mutating_calls(),
        vec![
            "ec2:ModifyVpcEndpointServicePermissions",
            "ssm:PutParameter"
        ]
    );
}

#[tokio::test]
async fn delete_takes_back_its_principals_and_notification() {
    let (cloud, publication) = with_topic();
    cloud.allow(SERVICE, OTHER);
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    run(&publication, RequestKind::Delete, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), vec![OTHER]);
    assert_eq!(cloud.notifications_on(SERVICE), vec![]);
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
}

#[tokio::test]
async fn a_notification_already_gone_is_no_obstacle_to_delete() {
    let (cloud, publication) = with_topic();
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    cloud.state.lock().unwrap().provider.notifications.clear();
    run(&publication, RequestKind::Delete, props())
        .await
        .unwrap();
    assert!(cloud.param(DESCRIPTOR).is_none());
}

#[tokio::test]
async fn manage_principals_false_touches_no_principal_and_hands_over_what_it_added() {
    let (cloud, publication) = setup();
    let mut off = props();
    off["ManagePrincipals"] = json!("false");
    run(&publication, RequestKind::Create, off.clone())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), Vec::<String>::new());

    run(&publication, RequestKind::Update, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL]);
    cloud.reset_calls();
    run(&publication, RequestKind::Update, off.clone())
        .await
        .unwrap();
    assert_eq!(
        cloud.mutating_calls(),
        vec!["ssm:PutParameter"],
        "the policy forgets them"
    );
    run(&publication, RequestKind::Delete, off).await.unwrap();
    assert_eq!(
        cloud.principals_of(SERVICE),
        vec![PRINCIPAL],
        "left in place"
    );
}

#[tokio::test]
async fn no_notification_without_a_topic_or_without_a_policy_to_decide_by() {
    let (cloud, publication) = setup();
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    assert!(
        !cloud.calls().iter().any(|c| c.contains("Notification")),
        "{:?}",
        cloud.calls()
    );

    let (cloud, publication) = with_topic();
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    run(&publication, RequestKind::Update, accounts(&[]))
        .await
        .unwrap();
    assert_eq!(
        cloud.notifications_on(SERVICE),
        vec![],
        "removed with the last account"
    );
    assert_eq!(stored_policy(&cloud).connection_notification, None);
}

#[tokio::test]
async fn a_notification_ec2_refuses_says_what_to_check_and_undoes_the_principals() {
    let (cloud, publication) = with_topic();
    cloud.inject(
        "ec2:CreateVpcEndpointConnectionNotification",
        Fault::Fail(
            "InvalidParameter".into(),
            "cannot publish to the topic".into(),
        ),
    );
    let err = run(&publication, RequestKind::Create, props())
        .await
        .unwrap_err();
    assert!(
        err.reason().contains("vpce.amazonaws.com publish"),
        "{}",
        err.reason()
    );
    assert!(err.reason().chars().count() < 256);
    assert_eq!(cloud.principals_of(SERVICE), Vec::<String>::new());
    assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none());
}

#[tokio::test]
async fn a_new_service_id_takes_back_what_was_done_to_the_old_service() {
    let (cloud, publication) = with_topic();
    let old = "vpce-svc-0fedcba9876543210";
    let mut svc = cloud.state.lock().unwrap().services[SERVICE].clone();
    svc.service_id = old.into();
    cloud.state.lock().unwrap().services.insert(old.into(), svc);
    let mut p = props();
    p["ServiceId"] = json!(old);
    run(&publication, RequestKind::Create, p).await.unwrap();
    run(&publication, RequestKind::Update, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(old), Vec::<String>::new());
    assert_eq!(cloud.notifications_on(old), vec![]);
    assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL]);
    assert_eq!(cloud.notifications_on(SERVICE).len(), 1);
}

#[test]
fn an_older_policy_without_the_new_fields_still_parses() {
    let old = r#"{"allowed_accounts":["222222222222"],"reject_unlisted":false,"schema":1,"service_id":"vpce-svc-0123456789abcdef0"}"#;
    let p = Policy::parse("policy", old).unwrap();
    assert!(p.added_principals.is_empty() && p.connection_notification.is_none());
    assert_eq!(p.to_canonical_json(), old, "and is written back unchanged");
}

#[test]
fn manage_principals_parses_from_a_string_and_defaults_to_true() {
    assert!(Spec::parse(&props()).unwrap().manage_principals);
    let mut p = props();
    p["ManagePrincipals"] = json!("false");
    assert!(!Spec::parse(&p).unwrap().manage_principals);
    p["ManagePrincipals"] = json!("maybe");
    assert!(Spec::parse(&p)
        .unwrap_err()
        .reason()
        .contains("ManagePrincipals"));
}

#[test]
fn the_plan_adds_what_is_missing_and_removes_only_its_own() {
    use crate::publication::principals::plan;
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    let p = plan(
        &set(&["a", "b"]),
        &set(&["b", "c", "d"]),
        &set(&["b", "d", "e"]),
    );
    assert_eq!(p.add, vec!["a"]);
    assert_eq!(
        p.remove,
        vec!["d"],
        "c is someone else's; e is gone already"
    );
    assert_eq!(p.ours, vec!["a", "b"]);
}

/// Stop a Create right after its `n`-th mutating call, as a killed process does (nothing undone),
/// by hanging in the next one and dropping the unfinished pass.
async fn create_killed_after(
    cloud: &FakeCloud,
    publication: &Publication<FakeCloud>,
    clean: &[&'static str],
    n: usize,
) {
    let next = clean[n];
    let nth = clean[..=n].iter().filter(|c| **c == next).count() as u32;
    cloud.inject(next, Fault::HangNth(nth));
    let pass = run(publication, RequestKind::Create, props());
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(3600), pass).await;
    assert!(stopped.is_err(), "the pass hung in call {} ({next})", n + 1);
}

#[tokio::test(start_paused = true)]
async fn a_create_killed_after_any_call_then_redelivered_records_what_it_did_and_delete_undoes_it()
{
    let clean = {
        let (cloud, publication) = with_topic();
        run(&publication, RequestKind::Create, props())
            .await
            .unwrap();
        cloud.mutating_calls()
    };
    assert_eq!(
        clean,
        vec![
            "ec2:CreateVpcEndpointConnectionNotification",
            "ssm:PutParameter",
            "ec2:ModifyVpcEndpointServicePermissions",
            "ssm:PutParameter"
        ],
        "the principal is recorded before it is added"
    );
    for n in 1..clean.len() {
        let (cloud, publication) = with_topic();
        create_killed_after(&cloud, &publication, &clean, n).await;
        // The last one was entered, never carried out.
        assert_eq!(cloud.mutating_calls(), clean[..=n], "N={n}");
        // Lambda's retry: the same event again.
        run(&publication, RequestKind::Create, props())
            .await
            .unwrap();
        assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL], "N={n}");
        let notifications = cloud.notifications_on(SERVICE);
        assert_eq!(notifications.len(), 1, "no second notification, N={n}");
        let policy = stored_policy(&cloud);
        assert_eq!(policy.added_principals, vec![PRINCIPAL], "N={n}");
        assert_eq!(
            policy.connection_notification.as_deref(),
            Some(notifications[0].id.as_str()),
            "N={n}"
        );
        // A further identical Create changes nothing.
        cloud.reset_calls();
        run(&publication, RequestKind::Create, props())
            .await
            .unwrap();
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new(), "N={n}");
        run(&publication, RequestKind::Delete, props())
            .await
            .unwrap();
        assert_eq!(cloud.principals_of(SERVICE), Vec::<String>::new(), "N={n}");
        assert!(cloud.notifications_on(SERVICE).is_empty(), "N={n}");
        assert!(cloud.param(&policy_name(DESCRIPTOR)).is_none(), "N={n}");
        assert!(cloud.param(DESCRIPTOR).is_none(), "N={n}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_killed_create_never_claims_a_principal_someone_else_allowed() {
    let (cloud, publication) = setup();
    cloud.allow(SERVICE, PRINCIPAL);
    // Killed right after writing its policy (the only write before the descriptor's).
    create_killed_after(
        &cloud,
        &publication,
        &["ssm:PutParameter", "ssm:PutParameter"],
        1,
    )
    .await;
    run(&publication, RequestKind::Create, props())
        .await
        .unwrap();
    assert_eq!(stored_policy(&cloud).added_principals, Vec::<String>::new());
    run(&publication, RequestKind::Delete, props())
        .await
        .unwrap();
    assert_eq!(cloud.principals_of(SERVICE), vec![PRINCIPAL]);
}
