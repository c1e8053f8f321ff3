//! The reconciler (contract §3): keeps what the custom resources built true after the deploy,
//! when the other side changes. It answers no CloudFormation request; each pass converges through
//! the same code the custom resources run.

pub mod consumer;
pub mod event;

pub use consumer::{ConsumerReport, Reconciler, SERVICE_STATE_TAG};
pub use event::{classify, ParameterOperation, ParameterRef, Trigger};
