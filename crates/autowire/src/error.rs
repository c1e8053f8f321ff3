//! Typed errors for the core. Every error can say itself as a short, actionable
//! CloudFormation `Reason` (under 256 characters) and knows whether retrying helps.

use std::fmt;

/// Which AWS call failed, as `service:Operation`.
pub type Operation = &'static str;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A property is missing, malformed or inconsistent.
    #[error("property {name}: {problem}")]
    InvalidProperty { name: String, problem: String },

    /// Properties the resource type does not know.
    #[error("unknown properties: {}; remove them or fix their spelling (allowed: {})", .unknown.join(", "), .allowed.join(", "))]
    UnknownProperties {
        unknown: Vec<String>,
        allowed: Vec<String>,
    },

    /// Something the request names does not exist (or is not visible to this account).
    #[error("{what} not found: {hint}")]
    NotFound { what: String, hint: String },

    /// Something exists but belongs to someone else, or is in a state we must not touch.
    #[error("{0}")]
    Conflict(String),

    /// A descriptor or policy document that does not parse or has an unknown schema.
    #[error("descriptor {name}: {problem}")]
    BadDescriptor { name: String, problem: String },

    /// An AWS API call failed.
    #[error("{op} failed: {code}: {message}")]
    Aws {
        op: Operation,
        code: String,
        message: String,
        retryable: bool,
    },

    /// AWS finished the work and it failed (a verification, a certificate): nothing to retry
    /// until the cause is fixed.
    #[error("{what}: {hint}")]
    Failed { what: String, hint: String },

    /// The request itself is not something this function serves.
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// CloudFormation shows at most this many characters of a Reason usefully; the contract asks for fewer than 256.
pub const MAX_REASON_CHARS: usize = 255;

impl Error {
    pub fn invalid(name: impl Into<String>, problem: impl fmt::Display) -> Self {
        Error::InvalidProperty {
            name: name.into(),
            problem: problem.to_string(),
        }
    }

    pub fn not_found(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::NotFound {
            what: what.into(),
            hint: hint.into(),
        }
    }

    pub fn failed(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Failed {
            what: what.into(),
            hint: hint.into(),
        }
    }

    pub fn aws(op: Operation, code: impl Into<String>, message: impl Into<String>) -> Self {
        let code = code.into();
        let retryable = is_retryable_code(&code);
        Error::Aws {
            op,
            code,
            message: message.into(),
            retryable,
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                retryable: true,
                ..
            }
        )
    }

    /// AWS's error code, for errors that came from an AWS call.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The request's own properties were refused (malformed, inconsistent or unknown): the same
    /// request fails the same way every time, before any AWS call of consequence.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidProperty { .. } | Error::UnknownProperties { .. }
        )
    }

    /// A label for logs and metrics, like controller-rs' `metric_label`.
    pub fn label(&self) -> &'static str {
        match self {
            Error::InvalidProperty { .. } => "invalid_property",
            Error::UnknownProperties { .. } => "unknown_properties",
            Error::NotFound { .. } => "not_found",
            Error::Conflict(_) => "conflict",
            Error::BadDescriptor { .. } => "bad_descriptor",
            Error::Aws { .. } => "aws",
            Error::Failed { .. } => "failed",
            Error::Unsupported(_) => "unsupported",
        }
    }

    /// The one-line Reason CloudFormation shows, trimmed to the contract's limit.
    pub fn reason(&self) -> String {
        let text = match self {
            Error::Aws {
                retryable: true, ..
            } => format!("{self}; AWS is throttling or busy, retry the deployment"),
            Error::Aws { .. } => {
                format!("{self}; check the function role's permissions and the IDs given")
            }
            _ => self.to_string(),
        };
        truncate_reason(&text)
    }
}

/// AWS error codes that mean "try again later".
pub fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "PriorRequestNotComplete"
            | "ServiceUnavailable"
            | "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "dispatch"
            | "timeout"
    )
}

/// Cut a reason to [`MAX_REASON_CHARS`] characters on a character boundary, marking the cut.
pub fn truncate_reason(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_REASON_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_REASON_CHARS - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_single_lines() {
        let e = Error::invalid("Ports", "x".repeat(1000) + "\nsecond line");
        let r = e.reason();
        assert!(r.chars().count() <= MAX_REASON_CHARS);
        assert!(!r.contains('\n'));
        assert!(r.ends_with('…'));
    }

    #[test]
    fn throttles_are_retryable_and_say_so() {
        let e = Error::aws(
            "ec2:CreateVpcEndpoint",
            "RequestLimitExceeded",
            "Request limit exceeded.",
        );
        assert!(e.is_retryable());
        assert!(e.reason().contains("retry"));
        let e = Error::aws("ssm:PutParameter", "AccessDeniedException", "denied");
        assert!(!e.is_retryable());
        assert!(e.reason().contains("permissions"));
    }

    #[test]
    fn unknown_properties_are_named() {
        let e = Error::UnknownProperties {
            unknown: vec!["Colour".into()],
            allowed: vec!["ServiceId".into(), "ServiceKey".into()],
        };
        assert_eq!(
            e.reason(),
            "unknown properties: Colour; remove them or fix their spelling (allowed: ServiceId, ServiceKey)"
        );
    }
}
