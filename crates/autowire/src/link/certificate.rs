//! AliasCertificate: request. The link asks its provider to serve a certificate for its alias
//! and waits until the provider says it does; its Delete releases it and removes the validation
//! record the reconciler wrote (contract §5, `crate::certreq`).

use super::*;
use crate::certreq::consumer::{CertState, RECORD_TAG, STATE_TAG};
use crate::certreq::messages::{Message, Subject};

/// How often a waiting link looks at what its provider answered.
const CERTIFICATE_POLL: Duration = Duration::from_secs(10);

impl<C: ConsumerCloud> Link<C> {
    /// `None` once the provider serves the certificate; else the wait (asking first, and again on
    /// every reconciler pass, so a lost event only delays). A refusal fails with its reason.
    pub(super) async fn await_certificate(
        &self,
        spec: &Spec,
        plan: &Plan,
        endpoint: &Endpoint,
        reconciling: bool,
    ) -> Result<Option<Step>> {
        let alias = spec.alias_name.clone().unwrap_or_default();
        let provider = &plan.descriptor.provider_account;
        let state = CertState::of(&endpoint.tags);
        match &state {
            CertState::Ready => return Ok(None),
            CertState::Refused(reason) => {
                return Err(Error::failed(
                    format!("provider account {provider} will not serve a certificate for {alias}"),
                    reason.clone(),
                ))
            }
            _ => {}
        }
        if state == CertState::NotAsked || reconciling {
            self.tell_provider(Message::Requested {
                subject: self.subject(plan, &alias),
                reply_bus_arn: self.bus.clone().unwrap_or_default(),
            })
            .await?;
        }
        if state == CertState::NotAsked {
            let change = EndpointChange {
                tags: CertState::Requested.tags(),
                ..EndpointChange::default()
            };
            self.cloud.modify_endpoint(&endpoint.id, &change).await?;
        }
        Ok(Some(wait(
            CERTIFICATE_POLL,
            format!("provider account {provider} to serve a certificate for {alias}"),
        )?))
    }

    /// Delete: tell the provider the certificate is no longer wanted, and remove the validation
    /// record (named on the endpoint) from the consumer's zone.
    pub(super) async fn release_certificate(
        &self,
        spec: &Spec,
        link_id: &str,
        endpoints: &[Endpoint],
    ) -> Result<()> {
        let (Some(alias), Some(zone)) = (&spec.alias_name, &spec.alias_validation_zone_id) else {
            return Ok(());
        };
        // Once: while an endpoint that asked still stands (the passes after it wait it out).
        let asked = endpoints
            .iter()
            .filter(|e| !e.is_gone() && e.tags.contains_key(STATE_TAG))
            .count();
        if asked == 0 {
            return Ok(());
        }
        let key = self.service_key(spec).await;
        self.tell_provider(Message::Released {
            subject: Subject {
                link_id: link_id.to_string(),
                alias_name: alias.clone(),
                service_key: key,
            },
        })
        .await?;
        for name in endpoints.iter().filter_map(|e| e.tags.get(RECORD_TAG)) {
            if let Some(r) = self.cloud.record(zone, name, RecordType::Cname).await? {
                self.cloud
                    .change_records(zone, &[RecordChange::Delete(r)])
                    .await?;
                info!(record = %name, zone = %zone, "validation record removed");
            }
        }
        Ok(())
    }

    fn subject(&self, plan: &Plan, alias: &str) -> Subject {
        Subject {
            link_id: plan.link_id.clone(),
            alias_name: alias.to_string(),
            service_key: plan.descriptor.key.clone(),
        }
    }

    /// The descriptor's service key; the last part of its name when it can't be read any more.
    async fn service_key(&self, spec: &Spec) -> String {
        match self.cloud.read(&spec.service_parameter).await {
            Ok(Some(p)) => crate::descriptor::Descriptor::parse(&spec.service_parameter, &p.value)
                .map(|d| d.key)
                .unwrap_or_default(),
            _ => spec
                .service_parameter
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    async fn tell_provider(&self, message: Message) -> Result<()> {
        let Some(bus) = &self.bus else {
            return Err(Error::Unsupported(
                "AliasCertificate: request needs the consumer stack's event bus (EVENT_BUS_NAME); deploy the consumer side of the template".into(),
            ));
        };
        self.cloud
            .announce(
                bus,
                crate::certreq::SOURCE,
                message.detail_type(),
                &message.detail(),
            )
            .await
    }
}
