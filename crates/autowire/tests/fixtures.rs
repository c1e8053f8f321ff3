//! Every fixture in `events/` parses as its typed aws_lambda_events event, round-trips to the
//! same JSON, and carries properties our parsers accept.

use std::path::PathBuf;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("events/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty());
    out
}

#[test]
fn custom_resource_fixtures_round_trip() {
    for (name, raw) in fixtures()
        .into_iter()
        .filter(|(_, v)| v.get("RequestType").is_some())
    {
        let typed: CloudFormationCustomResourceRequest =
            serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = serde_json::to_value(&typed).unwrap();
        assert_eq!(back, raw, "{name} does not round-trip");
    }
}

#[test]
fn publication_fixtures_have_valid_properties() {
    for (name, raw) in fixtures()
        .into_iter()
        .filter(|(_, v)| v["ResourceType"] == autowire::publication::RESOURCE_TYPE)
    {
        autowire::publication::Spec::parse(&raw["ResourceProperties"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(old) = raw.get("OldResourceProperties") {
            autowire::publication::Spec::parse(old).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn certificate_fixtures_have_valid_properties() {
    let found: Vec<(String, Value)> = fixtures()
        .into_iter()
        .filter(|(_, v)| v["ResourceType"] == autowire::certificate::RESOURCE_TYPE)
        .collect();
    assert_eq!(found.len(), 3, "create, update and delete");
    for (name, raw) in found {
        autowire::certificate::Spec::parse(&raw["ResourceProperties"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(old) = raw.get("OldResourceProperties") {
            autowire::certificate::Spec::parse(old).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// The reconciler's events: each EventBridge fixture round-trips as a `CloudWatchEvent`, the SNS
/// one as an `SnsEvent`, and each is typed as the reconciler reads it.
#[test]
fn reconciler_fixtures_round_trip_and_are_typed() {
    use autowire::reconcile::{classify, ParameterOperation, Trigger};
    use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
    use aws_lambda_events::event::sns::SnsEvent;
    let found: Vec<(String, Value)> = fixtures()
        .into_iter()
        .filter(|(name, _)| name.starts_with("reconciler-"))
        .collect();
    assert_eq!(
        found.len(),
        7,
        "{:?}",
        found.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, raw) in found {
        let back = if raw.get("Records").is_some() {
            let typed: SnsEvent = serde_json::from_value(raw.clone()).unwrap();
            serde_json::to_value(&typed).unwrap()
        } else {
            let typed: CloudWatchEvent<Value> = serde_json::from_value(raw.clone()).unwrap();
            serde_json::to_value(&typed).unwrap()
        };
        assert_eq!(back, raw, "{name} does not round-trip");
        let trigger = classify(&raw);
        match name.as_str() {
            "reconciler-malformed.json" => assert!(trigger.is_err(), "{name}"),
            "reconciler-other-source.json" => {
                assert!(matches!(trigger, Ok(Trigger::Ignored(_))), "{name}")
            }
            "reconciler-scheduled.json" => assert_eq!(trigger.unwrap(), Trigger::Scheduled),
            "reconciler-connection-notification.json" => {
                assert!(matches!(trigger, Ok(Trigger::Connections(_))), "{name}")
            }
            "reconciler-parameter-delete.json" => assert!(matches!(
                trigger,
                Ok(Trigger::Descriptor(ParameterOperation::Deleted, _))
            )),
            _ => assert!(
                matches!(trigger, Ok(Trigger::Descriptor(ParameterOperation::Written, ref p)) if p.account == "111111111111"),
                "{name}: {trigger:?}"
            ),
        }
    }
}

/// The certificate handshake's events (contract §5): each round-trips as a `CloudWatchEvent` and
/// is typed as the reconciler reads it, the sender from `account`.
#[test]
fn handshake_fixtures_round_trip_and_are_typed() {
    use autowire::certreq::Message;
    use autowire::reconcile::{classify, Trigger};
    use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
    let found: Vec<(String, Value)> = fixtures()
        .into_iter()
        .filter(|(name, _)| name.starts_with("handshake-"))
        .collect();
    assert_eq!(found.len(), Message::DETAIL_TYPES.len());
    for (name, raw) in found {
        let typed: CloudWatchEvent<Value> = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), raw, "{name}");
        let Ok(Trigger::Certificate { from, message }) = classify(&raw) else {
            panic!("{name} is not a handshake message");
        };
        assert_eq!(from, raw["account"], "{name}");
        assert_eq!(message.detail_type(), raw["detail-type"], "{name}");
        assert_eq!(message.detail(), raw["detail"], "{name}");
    }
}
