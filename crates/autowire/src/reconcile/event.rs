//! What woke the reconciler, typed from the events AWS delivers (contract §3).
//!
//! - EventBridge `aws.ssm` / `Parameter Store Change`: a descriptor was written or deleted in the
//!   provider's account (forwarded to the consumer's bus; `account` is the provider's).
//! - EventBridge `aws.events` / `Scheduled Event`: the backstop pass.
//! - SNS, from an endpoint service's connection notification: a trigger for one pass over the
//!   service's pending connections. The message body is not read: its exact shape is not pinned
//!   down in AWS's documentation, and the pass reads the connections from EC2 anyway.
//! - Anything else is ignored, with its source and detail type said once.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

pub const SSM_SOURCE: &str = "aws.ssm";
pub const PARAMETER_CHANGE: &str = "Parameter Store Change";
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// A parameter write or delete, as EventBridge names its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterOperation {
    Written,
    Deleted,
}

/// The SSM parameter an event is about, addressable from the consumer's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterRef {
    pub name: String,
    pub account: String,
    pub region: String,
}

impl ParameterRef {
    /// The parameter's ARN (names start with `/`, as descriptors' do).
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:ssm:{}:{}:parameter/{}",
            self.region,
            self.account,
            self.name.trim_start_matches('/')
        )
    }

    /// Does a link's ServiceParameter (a name in this account, or a full ARN) name this parameter?
    pub fn is(&self, service_parameter: &str, own_account: &str) -> bool {
        if service_parameter.starts_with("arn:") {
            service_parameter == self.arn()
        } else {
            own_account == self.account && service_parameter == self.name
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Descriptor(ParameterOperation, ParameterRef),
    Scheduled,
    /// Connection notifications from these SNS topics.
    Connections(Vec<String>),
    /// A message of the certificate handshake (contract §5) from account `from`.
    Certificate {
        from: String,
        message: crate::certreq::Message,
    },
    /// Not ours: what it was, for the one log line.
    Ignored(String),
}

#[derive(Deserialize)]
struct ParameterChange {
    operation: String,
    name: String,
}

/// Type the event. A malformed one is an error; a well-formed one that is not ours is `Ignored`.
pub fn classify(event: &Value) -> Result<Trigger> {
    if event.get("Records").is_some() {
        let sns: SnsEvent = serde_json::from_value(event.clone())
            .map_err(|e| Error::invalid("event", format!("not an SNS event: {e}")))?;
        let topics: Vec<String> = sns
            .records
            .into_iter()
            .filter(|r| r.event_source == "aws:sns")
            .map(|r| r.sns.topic_arn)
            .collect();
        return Ok(if topics.is_empty() {
            Trigger::Ignored("records that are not SNS notifications".into())
        } else {
            Trigger::Connections(topics)
        });
    }
    let ev: CloudWatchEvent<Value> = serde_json::from_value(event.clone())
        .map_err(|e| Error::invalid("event", format!("not an EventBridge event: {e}")))?;
    let source = ev.source.as_deref().unwrap_or_default();
    let detail_type = ev.detail_type.as_deref().unwrap_or_default();
    match (source, detail_type) {
        (SSM_SOURCE, PARAMETER_CHANGE) => parameter_change(&ev),
        (SCHEDULE_SOURCE, SCHEDULED_EVENT) => Ok(Trigger::Scheduled),
        (crate::certreq::SOURCE, kind) if crate::certreq::Message::DETAIL_TYPES.contains(&kind) => {
            certificate_message(&ev, kind)
        }
        _ => Ok(Trigger::Ignored(format!("{source} / {detail_type}"))),
    }
}

fn certificate_message(ev: &CloudWatchEvent<Value>, kind: &str) -> Result<Trigger> {
    let from = ev
        .account_id
        .clone()
        .ok_or_else(|| Error::invalid("event", format!("{kind} without account")))?;
    let detail = ev.detail.clone().unwrap_or(Value::Null);
    let message = crate::certreq::Message::parse(kind, &detail)
        .map_err(|e| Error::invalid("event", e.reason()))?;
    Ok(Trigger::Certificate { from, message })
}

fn parameter_change(ev: &CloudWatchEvent<Value>) -> Result<Trigger> {
    let detail: ParameterChange = ev
        .detail
        .clone()
        .ok_or_else(|| Error::invalid("event", "Parameter Store Change without detail"))
        .and_then(|d| {
            serde_json::from_value(d)
                .map_err(|e| Error::invalid("event", format!("Parameter Store Change detail: {e}")))
        })?;
    let (Some(account), Some(region)) = (ev.account_id.clone(), ev.region.clone()) else {
        return Err(Error::invalid(
            "event",
            "Parameter Store Change without account or region",
        ));
    };
    let operation = match detail.operation.as_str() {
        "Create" | "Update" => ParameterOperation::Written,
        "Delete" => ParameterOperation::Deleted,
        other => {
            return Ok(Trigger::Ignored(format!(
                "Parameter Store Change operation {other}"
            )))
        }
    };
    Ok(Trigger::Descriptor(
        operation,
        ParameterRef {
            name: detail.name,
            account,
            region,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eventbridge(source: &str, detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type, "source": source, "account": "111111111111",
            "time": "2026-12-06T12:00:00Z", "region": "us-east-1", "resources": [],
            "detail": detail
        })
    }

    #[test]
    fn a_descriptor_write_names_the_parameter_in_the_providers_account() {
        let ev = eventbridge(
            SSM_SOURCE,
            PARAMETER_CHANGE,
            json!({"operation": "Update", "name": "/privatelink-autowire/services/orders", "type": "String"}),
        );
        let Trigger::Descriptor(ParameterOperation::Written, p) = classify(&ev).unwrap() else {
            panic!("not a descriptor write")
        };
        assert_eq!(
            p.arn(),
            "arn:aws:ssm:us-east-1:111111111111:parameter/privatelink-autowire/services/orders"
        );
        assert!(p.is(&p.arn(), "222222222222"));
        assert!(!p.is("/privatelink-autowire/services/orders", "222222222222"));
        assert!(p.is("/privatelink-autowire/services/orders", "111111111111"));
    }

    #[test]
    fn a_delete_is_its_own_operation_and_label_changes_are_ignored() {
        let del = eventbridge(
            SSM_SOURCE,
            PARAMETER_CHANGE,
            json!({"operation": "Delete", "name": "/a"}),
        );
        assert!(matches!(
            classify(&del).unwrap(),
            Trigger::Descriptor(ParameterOperation::Deleted, _)
        ));
        let label = eventbridge(
            SSM_SOURCE,
            PARAMETER_CHANGE,
            json!({"operation": "LabelParameterVersion", "name": "/a"}),
        );
        assert!(matches!(classify(&label).unwrap(), Trigger::Ignored(_)));
    }

    #[test]
    fn schedules_sns_and_strangers_are_told_apart() {
        let s = eventbridge(SCHEDULE_SOURCE, SCHEDULED_EVENT, json!({}));
        assert_eq!(classify(&s).unwrap(), Trigger::Scheduled);
        let other = eventbridge(
            "aws.ec2",
            "EC2 Instance State-change Notification",
            json!({}),
        );
        assert_eq!(
            classify(&other).unwrap(),
            Trigger::Ignored("aws.ec2 / EC2 Instance State-change Notification".into())
        );
    }

    #[test]
    fn malformed_events_are_errors() {
        assert!(classify(&json!({"source": "aws.ssm"})).is_err());
        assert!(classify(&json!({"Records": "nope"})).is_err());
        let no_detail = eventbridge(SSM_SOURCE, PARAMETER_CHANGE, Value::Null);
        assert!(classify(&no_detail).is_err());
    }
}
