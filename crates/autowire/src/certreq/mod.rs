//! Consumer-requested certificates (contract §5): a link asks the provider to serve a
//! certificate for the link's own alias, over the two accounts' event buses.
//!
//! 1. The consumer's link sends `Certificate Requested` to the provider's bus.
//! 2. The provider's reconciler decides by the publication's `CertificateRequests` grants
//!    ([`grants`]): a refusal goes back as `Certificate Refused`, with its reason.
//! 3. Allowed: the provider requests a DNS-validated ACM certificate for the name and sends the
//!    validation record back (`Certificate Validation`).
//! 4. The consumer's reconciler writes that record in the consumer's own public zone: the proof
//!    that it controls the name. Nothing else proves it.
//! 5. ACM issues; the provider serves the certificate by SNI on the service's TLS listeners.
//! 6. The provider sends `Certificate Ready`.
//!
//! Deleting the link sends `Certificate Released`: the provider detaches and deletes the
//! certificate it made for that link and that consumer account, and nothing else.

pub mod consumer;
pub mod grants;
pub mod messages;
pub mod owner;
pub mod provider;

#[cfg(test)]
mod tests;

pub use crate::aws::Announcements;
pub use grants::{Grant, Verdict};
pub use messages::{Message, SOURCE};
