//! Which consumer a provider-side certificate serves, kept in its owner tags: the stack-ID tag
//! names the consumer account, the logical-ID tag the service key and the link.

use super::messages::Subject;
use crate::aws::Owner;

const STACK_PREFIX: &str = "privatelink-autowire:consumer:";

/// A consumer's certificate on the provider's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerCert {
    pub account: String,
    pub service_key: String,
    pub link_id: String,
}

impl ConsumerCert {
    pub fn owner(&self) -> Owner {
        Owner {
            stack_id: format!("{STACK_PREFIX}{}", self.account),
            logical_id: format!("{}/{}", self.service_key, self.link_id),
        }
    }

    /// The consumer a certificate's owner tags name; `None` for any other certificate.
    pub fn of(owner: &Owner) -> Option<ConsumerCert> {
        let account = owner.stack_id.strip_prefix(STACK_PREFIX)?;
        let (service_key, link_id) = owner.logical_id.split_once('/')?;
        Some(ConsumerCert {
            account: account.to_string(),
            service_key: service_key.to_string(),
            link_id: link_id.to_string(),
        })
    }

    /// The handshake's subject for this certificate, named `alias`.
    pub fn subject(&self, alias: &str) -> Subject {
        Subject {
            link_id: self.link_id.clone(),
            alias_name: alias.to_string(),
            service_key: self.service_key.clone(),
        }
    }

    /// ACM's idempotency token for this certificate's request (32 characters at most).
    pub fn token(&self) -> String {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(format!(
            "{}/{}/{}",
            self.account, self.service_key, self.link_id
        ));
        h.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}
