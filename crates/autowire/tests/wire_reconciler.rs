//! The reconciler's own adapters over the wire: descriptors 10 a call (GetParameters), and the
//! probe schedule's target input (ListTargetsByRule, PutTargets).

mod support;

use autowire::aws::{Descriptors, ProbeSchedule};
use support::*;

#[tokio::test]
async fn descriptors_are_read_ten_a_call_by_name() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, CONSUMER).await;
    let log = CallLog::default();
    let sdk = logged_sdk(&config, &log);
    let ssm = aws_sdk_ssm::Client::new(&config);
    let base = format!("/wire-read-many/{}", unique());
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("{base}/p{i}");
        ssm.put_parameter()
            .name(&name)
            .value(format!("v{i}"))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
        names.push(name);
    }
    names.push(format!("{base}/absent"));
    log.clear();
    let got = sdk.read_many(&names).await.unwrap();
    let got: std::collections::BTreeMap<_, _> = got.into_iter().collect();
    assert_eq!(got.len(), 12, "the absent one is left out");
    assert_eq!(
        got[&names[3]].value, "v3",
        "each answer under the name it was asked by"
    );
    assert_eq!(log.all(), vec!["ssm:GetParameters", "ssm:GetParameters"]);
}

#[tokio::test]
async fn the_probe_schedule_input_is_rewritten_keeping_the_target() {
    let Some(url) = emulator_url() else { return };
    let config = account_config(&url, CONSUMER).await;
    let sdk = logged_sdk(&config, &CallLog::default());
    let events = aws_sdk_eventbridge::Client::new(&config);
    let rule = format!("probe-{}", unique());
    events
        .put_rule()
        .name(&rule)
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("Probe")
        .arn(format!(
            "arn:aws:lambda:us-east-1:{CONSUMER}:function:probe"
        ))
        .input("{}")
        .retry_policy(
            aws_sdk_eventbridge::types::RetryPolicy::builder()
                .maximum_retry_attempts(2)
                .build(),
        )
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(target)
        .send()
        .await
        .unwrap();

    assert_eq!(
        sdk.schedule_input(&rule).await.unwrap().as_deref(),
        Some("{}")
    );
    sdk.set_schedule_input(&rule, r#"{"targets":[]}"#)
        .await
        .unwrap();
    assert_eq!(
        sdk.schedule_input(&rule).await.unwrap().as_deref(),
        Some(r#"{"targets":[]}"#)
    );
    let listed = events
        .list_targets_by_rule()
        .rule(&rule)
        .send()
        .await
        .unwrap();
    let kept = &listed.targets()[0];
    assert_eq!(
        kept.retry_policy().and_then(|r| r.maximum_retry_attempts()),
        Some(2)
    );
    assert_eq!(sdk.schedule_input("no-such-rule").await.unwrap(), None);
    let e = sdk
        .set_schedule_input("no-such-rule", "{}")
        .await
        .unwrap_err();
    assert!(e.reason().contains("probe schedule"), "{}", e.reason());
}
