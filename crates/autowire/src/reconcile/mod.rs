//! The reconciler (contract §3): keeps what the custom resources built true after the deploy,
//! when the other side changes. It answers no CloudFormation request; each pass converges through
//! the same code the custom resources run.

pub mod consumer;
pub mod event;
pub mod handler;
pub mod pacing;
pub mod probe_targets;
pub mod provider;
pub mod view;

pub use consumer::{ConsumerReport, Reconciler, SERVICE_STATE_TAG};
pub use event::{classify, ParameterOperation, ParameterRef, Trigger};
pub use handler::{Config, Handler, ReconcilerCloud};
pub use provider::{ProviderPass, ProviderReport};
