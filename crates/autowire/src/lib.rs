//! privatelink-autowire core: the service descriptor, AZ matching, the CloudFormation
//! custom-resource protocol and the reconcile functions. No Lambda runtime here: the binaries in
//! `functions/` are thin shells around this crate.

pub mod arn;
pub mod aws;
pub mod certificate;
pub mod certreq;
pub mod cfn;
pub mod descriptor;
pub mod dns;
pub mod emf;
pub mod error;
pub mod link;
pub mod names;
pub mod probe;
pub mod publication;
pub mod reconcile;
pub mod zones;

#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use error::{Error, Result};
