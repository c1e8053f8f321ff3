//! The answer's envelope: the fields read leniently from any request (so even a malformed one is
//! answered), and the serialised response.

use super::*;

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The fields an answer needs, read leniently so even a malformed request can be answered.
pub(super) struct Envelope {
    pub(super) url: String,
    pub(super) stack_id: String,
    pub(super) request_id: String,
    pub(super) logical_id: String,
    pub(super) physical_id: Option<String>,
    pub(super) kind: Option<RequestKind>,
    /// What a failed Create answers with, when the resource chose it.
    pub(super) failed_create_id: Option<String>,
}

impl Envelope {
    pub(super) fn read(raw: &Value) -> Option<Self> {
        let url = raw.get("ResponseURL")?.as_str()?.to_string();
        let kind = match raw.get("RequestType").and_then(Value::as_str) {
            Some("Create") => Some(RequestKind::Create),
            Some("Update") => Some(RequestKind::Update),
            Some("Delete") => Some(RequestKind::Delete),
            _ => None,
        };
        Some(Envelope {
            url,
            stack_id: str_field(raw, "StackId"),
            request_id: str_field(raw, "RequestId"),
            logical_id: str_field(raw, "LogicalResourceId"),
            physical_id: raw
                .get("PhysicalResourceId")
                .and_then(Value::as_str)
                .map(str::to_string),
            kind,
            failed_create_id: None,
        })
    }

    /// The PhysicalResourceId to give with a FAILED answer.
    pub(super) fn failed_physical_id(&self) -> String {
        if let (Some(RequestKind::Create), Some(id)) = (&self.kind, &self.failed_create_id) {
            return id.clone();
        }
        match (&self.kind, &self.physical_id) {
            (Some(RequestKind::Create), _) | (_, None) => {
                format!("{FAILED_CREATE_PREFIX}{}", self.request_id)
            }
            (_, Some(p)) => p.clone(),
        }
    }
}

pub(super) enum Verdict {
    Success(Answer),
    Failed(String),
}

/// The serialised answer and its status.
pub(super) fn build_response(env: &Envelope, verdict: Verdict) -> (Vec<u8>, &'static str) {
    let mut r = CloudFormationCustomResourceResponse::default();
    r.stack_id = env.stack_id.clone();
    r.request_id = env.request_id.clone();
    r.logical_resource_id = env.logical_id.clone();
    match verdict {
        Verdict::Success(a) => {
            r.status = CloudFormationCustomResourceResponseStatus::Success;
            r.reason = Some("OK".into());
            r.physical_resource_id = a.physical_id;
            r.no_echo = a.no_echo;
            r.data = a.data.into_iter().collect();
        }
        Verdict::Failed(reason) => {
            r.status = CloudFormationCustomResourceResponseStatus::Failed;
            r.reason = Some(truncate_reason(&reason));
            r.physical_resource_id = env.failed_physical_id();
        }
    }
    let status = match r.status {
        CloudFormationCustomResourceResponseStatus::Failed => "FAILED",
        _ => "SUCCESS",
    };
    (serde_json::to_vec(&r).unwrap_or_default(), status)
}
