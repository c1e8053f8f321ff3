//! The request CloudFormation sends, typed, and what a resource's pass answers.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestKind {
    Create,
    Update,
    Delete,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Create => "Create",
            RequestKind::Update => "Update",
            RequestKind::Delete => "Delete",
        }
    }
}

/// A custom-resource request, normalised from the typed event.
#[derive(Clone, Debug)]
pub struct Request {
    pub kind: RequestKind,
    pub request_id: String,
    pub stack_id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub service_token: Option<String>,
    /// Absent only on Create.
    pub physical_id: Option<String>,
    pub props: Value,
    /// Present only on Update.
    pub old_props: Option<Value>,
}

/// The request types CloudFormation sends to custom resources.
const REQUEST_TYPES: [&str; 3] = ["Create", "Update", "Delete"];

fn unsupported(kind: &str) -> String {
    truncate_reason(&format!(
        "request type '{kind}' is not supported (custom resources get Create, Update or Delete); check what sent this event"
    ))
}

impl Request {
    /// The typed request, or the Reason of the FAILED answer: a request type this runtime does
    /// not serve, or a malformed request.
    pub(super) fn parse(raw: &Value) -> std::result::Result<Self, String> {
        let kind = raw.get("RequestType").and_then(Value::as_str);
        if let Some(kind) = kind.filter(|k| !REQUEST_TYPES.contains(k)) {
            return Err(unsupported(kind));
        }
        let typed = serde_json::from_value::<CloudFormationCustomResourceRequest>(raw.clone())
            .map_err(|e| {
                truncate_reason(&format!(
                    "malformed CloudFormation request: {e}; check the template's custom resource"
                ))
            })?;
        Self::from_event(typed).ok_or_else(|| unsupported(kind.unwrap_or("?")))
    }

    fn from_event(event: CloudFormationCustomResourceRequest) -> Option<Self> {
        use CloudFormationCustomResourceRequest as E;
        // The three request shapes share these fields; each adds what only it has.
        macro_rules! request {
            ($r:ident, $kind:expr, $physical:expr, $old:expr) => {
                Request {
                    kind: $kind,
                    request_id: $r.request_id,
                    stack_id: $r.stack_id,
                    logical_id: $r.logical_resource_id,
                    resource_type: $r.resource_type,
                    service_token: $r.service_token,
                    physical_id: $physical,
                    props: $r.resource_properties,
                    old_props: $old,
                }
            };
        }
        Some(match event {
            E::Create(r) => request!(r, RequestKind::Create, None, None),
            E::Update(r) => request!(
                r,
                RequestKind::Update,
                Some(r.physical_resource_id),
                Some(r.old_resource_properties)
            ),
            E::Delete(r) => request!(r, RequestKind::Delete, Some(r.physical_resource_id), None),
            // The enum is non-exhaustive; a new request type is answered as unsupported.
            #[allow(unreachable_patterns)]
            _ => return None,
        })
    }

    /// The account and region of the function that serves this request, from its ServiceToken.
    pub fn service_arn(&self) -> Result<crate::arn::Arn> {
        let token = self
            .service_token
            .as_deref()
            .ok_or_else(|| Error::invalid("ServiceToken", "is required (the function's ARN)"))?;
        crate::arn::Arn::parse(token).map_err(|e| Error::invalid("ServiceToken", e))
    }
}

/// What a successful step tells CloudFormation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    pub physical_id: String,
    pub data: BTreeMap<String, String>,
    pub no_echo: bool,
}

/// The result of one `apply` or `cleanup` pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Done(Answer),
    /// Not finished: call again after `after` with `progress`.
    Wait {
        progress: Value,
        after: Duration,
        waiting_for: String,
    },
}

/// A custom resource type: parse, validate and reconcile. Both calls must be idempotent.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The `Custom::…` type this handles.
    fn resource_type(&self) -> &'static str;
    async fn apply(&self, req: &Request, progress: Option<&Value>) -> Result<Step>;
    async fn cleanup(&self, req: &Request, progress: Option<&Value>) -> Result<Step>;
    /// Undo what an unfinished Create or Update left behind when the runtime gives up waiting
    /// on it (out of ServiceTimeout, or unable to continue). Best effort: log, don't fail.
    async fn abandon(&self, _req: &Request, _progress: &Value) {}
    /// The PhysicalResourceId a failed Create answers with. By default one that makes the
    /// following Delete a no-op; a resource that finds what it made by tags can give its own, so
    /// that Delete cleans up after a Create that failed half way.
    fn failed_create_physical_id(&self, _req: &Request) -> Option<String> {
        None
    }
}
