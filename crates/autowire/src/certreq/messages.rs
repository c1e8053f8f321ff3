//! The handshake's events, as the two accounts' reconcilers put them on each other's buses:
//! source [`SOURCE`], a detail type per message, and a detail carrying `schema` and the link.
//! EventBridge sets each event's `account` to the sender's: that, not anything in the detail,
//! says which consumer asked (or released).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The events' source (custom sources may not start with `aws.`).
pub const SOURCE: &str = "privatelink-autowire";
/// The detail's schema this release writes and reads.
pub const SCHEMA: u32 = 1;

/// Which certificate: the consumer's link and its alias.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub link_id: String,
    pub alias_name: String,
    /// The publication's service key.
    pub service_key: String,
}

/// One message of the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Consumer to provider: serve a certificate for the alias; answer on `reply_bus_arn`.
    Requested {
        subject: Subject,
        reply_bus_arn: String,
    },
    /// Provider to consumer: the DNS validation record ACM wants for the name.
    Validation {
        subject: Subject,
        record_name: String,
        record_value: String,
    },
    /// Provider to consumer: issued and served on the service's TLS listeners.
    Ready {
        subject: Subject,
        certificate_arn: String,
    },
    /// Provider to consumer: not served, and why (nothing is left on the provider's side).
    Refused { subject: Subject, reason: String },
    /// Consumer to provider: the link is gone; detach and delete its certificate.
    Released { subject: Subject },
}

#[derive(Serialize, Deserialize)]
struct Detail {
    schema: u32,
    #[serde(flatten)]
    subject: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_bus_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl Detail {
    fn of(subject: &Subject) -> Detail {
        Detail {
            schema: SCHEMA,
            subject: subject.clone(),
            reply_bus_arn: None,
            record_name: None,
            record_value: None,
            certificate_arn: None,
            reason: None,
        }
    }
}

impl Message {
    /// The detail types, as EventBridge rules match them.
    pub const DETAIL_TYPES: [&'static str; 5] = [
        "Certificate Requested",
        "Certificate Validation",
        "Certificate Ready",
        "Certificate Refused",
        "Certificate Released",
    ];

    pub fn subject(&self) -> &Subject {
        match self {
            Message::Requested { subject, .. }
            | Message::Validation { subject, .. }
            | Message::Ready { subject, .. }
            | Message::Refused { subject, .. }
            | Message::Released { subject } => subject,
        }
    }

    pub fn detail_type(&self) -> &'static str {
        let i = match self {
            Message::Requested { .. } => 0,
            Message::Validation { .. } => 1,
            Message::Ready { .. } => 2,
            Message::Refused { .. } => 3,
            Message::Released { .. } => 4,
        };
        Self::DETAIL_TYPES[i]
    }

    /// The event's detail, as JSON.
    pub fn detail(&self) -> Value {
        let mut d = Detail::of(self.subject());
        match self {
            Message::Requested { reply_bus_arn, .. } => {
                d.reply_bus_arn = Some(reply_bus_arn.clone())
            }
            Message::Validation {
                record_name,
                record_value,
                ..
            } => {
                d.record_name = Some(record_name.clone());
                d.record_value = Some(record_value.clone());
            }
            Message::Ready {
                certificate_arn, ..
            } => d.certificate_arn = Some(certificate_arn.clone()),
            Message::Refused { reason, .. } => d.reason = Some(reason.clone()),
            Message::Released { .. } => {}
        }
        serde_json::to_value(d).unwrap_or(Value::Null)
    }

    /// Read a message from an event's detail type and detail.
    pub fn parse(detail_type: &str, detail: &Value) -> Result<Message> {
        let bad = |why: String| Error::Unsupported(format!("{detail_type} event: {why}"));
        let d: Detail = serde_json::from_value(detail.clone()).map_err(|e| bad(e.to_string()))?;
        if d.schema != SCHEMA {
            return Err(bad(format!(
                "schema {} (this release reads {SCHEMA}); upgrade privatelink-autowire",
                d.schema
            )));
        }
        let need = |v: Option<String>, field: &str| v.ok_or_else(|| bad(format!("no {field}")));
        let subject = d.subject;
        Ok(match detail_type {
            "Certificate Requested" => Message::Requested {
                subject,
                reply_bus_arn: need(d.reply_bus_arn, "reply_bus_arn")?,
            },
            "Certificate Validation" => Message::Validation {
                subject,
                record_name: need(d.record_name, "record_name")?,
                record_value: need(d.record_value, "record_value")?,
            },
            "Certificate Ready" => Message::Ready {
                subject,
                certificate_arn: need(d.certificate_arn, "certificate_arn")?,
            },
            "Certificate Refused" => Message::Refused {
                subject,
                reason: need(d.reason, "reason")?,
            },
            "Certificate Released" => Message::Released { subject },
            other => return Err(bad(format!("unknown detail type {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            link_id: "link-0123456789abcdef0123".into(),
            alias_name: "orders.team-b.example.com".into(),
            service_key: "orders".into(),
        }
    }

    #[test]
    fn every_message_round_trips_through_its_detail() {
        let all = [
            Message::Requested {
                subject: subject(),
                reply_bus_arn: "arn:aws:events:us-east-1:222222222222:event-bus/b".into(),
            },
            Message::Validation {
                subject: subject(),
                record_name: "_abc.orders.team-b.example.com.".into(),
                record_value: "_def.xyz.acm-validations.aws.".into(),
            },
            Message::Ready {
                subject: subject(),
                certificate_arn: "arn:aws:acm:us-east-1:111111111111:certificate/1".into(),
            },
            Message::Refused {
                subject: subject(),
                reason: "no".into(),
            },
            Message::Released { subject: subject() },
        ];
        for m in all {
            let back = Message::parse(m.detail_type(), &m.detail()).unwrap();
            assert_eq!(back, m);
            assert_eq!(m.detail()["schema"], 1);
        }
    }

    #[test]
    fn a_detail_missing_its_field_or_of_another_schema_is_refused() {
        let mut d = Message::Released { subject: subject() }.detail();
        assert!(Message::parse("Certificate Ready", &d).is_err());
        assert!(Message::parse("Certificate Stolen", &d).is_err());
        d["schema"] = 2.into();
        let e = Message::parse("Certificate Released", &d).unwrap_err();
        assert!(e.reason().contains("schema 2"), "{}", e.reason());
    }
}
