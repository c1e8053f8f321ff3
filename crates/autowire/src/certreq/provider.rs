//! The provider's side: decide a consumer's request by the publication's grants, request the
//! certificate, hand back its validation record, serve it by SNI once ACM issued it, and take
//! it back when the consumer releases it (or the publication goes).

use std::sync::Arc;

use tracing::{info, warn};

use super::grants::{self, Verdict};
use super::messages::{Message, Subject};
use super::owner::ConsumerCert;
use super::Announcements;
use crate::aws::{Certificate, Certificates, Descriptors, EndpointServices, Listeners};
use crate::error::Result;
use crate::publication::{policy_name, Policy};

/// Everything the provider's side needs from AWS.
pub trait ProviderCloud:
    Descriptors + Certificates + Listeners + EndpointServices + Announcements
{
}
impl<T: Descriptors + Certificates + Listeners + EndpointServices + Announcements> ProviderCloud
    for T
{
}

/// The provider's certificate desk: answers requests, and moves every consumer certificate on.
pub struct Desk<C> {
    cloud: Arc<C>,
    /// Where this account's publications keep their descriptors and policies.
    prefix: String,
    /// This account's bus: replies go there, and its rules forward them to the consumers.
    bus: String,
}

impl<C: ProviderCloud> Desk<C> {
    pub fn new(cloud: Arc<C>, prefix: &str, bus: &str) -> Self {
        Desk {
            cloud,
            prefix: prefix.trim_end_matches('/').to_string(),
            bus: bus.to_string(),
        }
    }

    /// A message from account `from` (EventBridge's `account`, not the detail's word).
    pub async fn on_message(&self, from: &str, message: &Message) -> Result<()> {
        match message {
            Message::Requested { subject, .. } => self.requested(from, subject).await,
            Message::Released { subject } => self.release(&consumer(from, subject)).await,
            other => {
                info!(
                    kind = other.detail_type(),
                    from, "a consumer's message; not for the provider"
                );
                Ok(())
            }
        }
    }

    async fn requested(&self, from: &str, subject: &Subject) -> Result<()> {
        let who = consumer(from, subject);
        let verdict = match self.policy(&subject.service_key).await? {
            None => Verdict::Refused(format!(
                "no service is published as {} here; check the link's ServiceParameter",
                subject.service_key
            )),
            Some(p) => grants::decide(&p.certificate_requests, from, &subject.alias_name),
        };
        info!(account = from, alias = %subject.alias_name, service_key = %subject.service_key, verdict = ?verdict, "certificate request");
        // One made for an earlier request (the grants may have changed since) goes on refusal.
        let held = self.find(&who).await?;
        match (verdict, held) {
            (Verdict::Refused(reason), held) => self.refuse(subject, reason, held.as_deref()).await,
            (Verdict::Allowed, Some(arn)) => self.advance(subject, &arn, Say::Always).await,
            (Verdict::Allowed, None) => match self.request(&who, subject).await {
                Ok(arn) => self.advance(subject, &arn, Say::Always).await,
                Err(reason) => self.refuse(subject, reason, None).await,
            },
        }
    }

    /// Every consumer certificate moves on: issued ones are served (and said ready), failed ones
    /// refused. The schedule's backstop; a consumer whose answer was lost asks again, and its
    /// request is answered with where the certificate stands.
    /// The caller runs it only where some publication takes requests.
    pub async fn sweep(&self) -> Result<usize> {
        let mut n = 0;
        for (who, arn, alias) in self.consumer_certificates().await? {
            let subject = who.subject(&alias);
            if let Err(e) = self.advance(&subject, &arn, Say::WhenChanged).await {
                warn!(certificate = %arn, error = %e, "consumer certificate not moved on");
            }
            n += 1;
        }
        Ok(n)
    }

    /// Release every consumer certificate of a service (its publication is being deleted).
    pub async fn release_service(&self, service_key: &str) -> Result<usize> {
        let mine: Vec<_> = self
            .consumer_certificates()
            .await?
            .into_iter()
            .filter(|(who, _, _)| who.service_key == service_key)
            .collect();
        for (who, arn, alias) in &mine {
            let reason = format!("the provider deleted the publication of {service_key}");
            self.refuse(&who.subject(alias), reason, Some(arn)).await?;
        }
        Ok(mine.len())
    }

    /// Detach and delete the certificate made for `who`; nothing when there is none.
    async fn release(&self, who: &ConsumerCert) -> Result<()> {
        match self.find(who).await? {
            Some(arn) => self.drop_certificate(&arn).await,
            None => Ok(()),
        }
    }

    /// Take a consumer certificate off every listener that serves it, then delete it.
    async fn drop_certificate(&self, arn: &str) -> Result<()> {
        if let Some(c) = self.cloud.certificate(arn).await? {
            self.detach(&c).await?;
        }
        self.cloud.delete_certificate(arn).await?;
        info!(certificate = %arn, "consumer certificate released");
        Ok(())
    }

    async fn policy(&self, service_key: &str) -> Result<Option<Policy>> {
        let name = policy_name(&format!("{}/{service_key}", self.prefix));
        match self.cloud.read(&name).await? {
            Some(p) => Ok(Some(Policy::parse(&name, &p.value)?)),
            None => Ok(None),
        }
    }

    /// Request the certificate; a refusal (a quota) comes back as its reason.
    async fn request(&self, who: &ConsumerCert, subject: &Subject) -> Result<String, String> {
        let asked = self
            .cloud
            .request_certificate(&subject.alias_name, &[], &who.token(), &who.owner())
            .await;
        asked.map_err(|e| match e.aws_code() {
            Some("LimitExceededException") => format!(
                "the provider's account reached its ACM certificate quota ({e}); ask the provider to raise it"
            ),
            _ => format!("the provider could not request a certificate for {}: {e}", subject.alias_name),
        })
    }

    /// Hand back the validation record, or serve the issued certificate, or refuse a failed one.
    /// `say`: answer where it stands (a request), or only what changed (the sweep).
    async fn advance(&self, subject: &Subject, arn: &str, say: Say) -> Result<()> {
        let Some(c) = self.cloud.certificate(arn).await? else {
            return Ok(());
        };
        match c.status.as_str() {
            "PENDING_VALIDATION" => match c.validation_records.first() {
                Some(r) if say == Say::Always => {
                    let message = Message::Validation {
                        subject: subject.clone(),
                        record_name: r.name.clone(),
                        record_value: r.values.first().cloned().unwrap_or_default(),
                    };
                    self.send(&message).await
                }
                // ACM shows the record shortly; the consumer's next request gets it.
                _ => Ok(()),
            },
            // Served already (its load balancer uses it): nothing changed, nothing to say.
            "ISSUED" if say == Say::WhenChanged && !c.in_use_by.is_empty() => Ok(()),
            "ISSUED" => match self.serve(&c, subject).await {
                Ok(added) if added || say == Say::Always => {
                    let message = Message::Ready {
                        subject: subject.clone(),
                        certificate_arn: arn.to_string(),
                    };
                    self.send(&message).await
                }
                Ok(_) => Ok(()),
                Err(reason) => self.refuse(subject, reason, Some(arn)).await,
            },
            other => {
                let why = c
                    .failure_reason
                    .clone()
                    .unwrap_or_else(|| other.to_string());
                let reason = format!("ACM did not issue {}: {why}", subject.alias_name);
                self.refuse(subject, reason, Some(arn)).await
            }
        }
    }

    /// Serve the certificate by SNI on every TLS listener of the service's load balancers;
    /// whether it was added anywhere.
    async fn serve(&self, c: &Certificate, subject: &Subject) -> Result<bool, String> {
        let listeners = self
            .tls_listeners(&subject.service_key)
            .await
            .map_err(|e| e.reason())?;
        if listeners.is_empty() {
            return Err(format!(
                "service {} has no TLS listener to serve {} on",
                subject.service_key, subject.alias_name
            ));
        }
        let mut added = false;
        for l in listeners {
            if l.default_certificate.as_deref() == Some(&c.arn)
                || l.extra_certificates.contains(&c.arn)
            {
                continue;
            }
            if let Err(e) = self.cloud.add_certificate(&l.arn, &c.arn).await {
                return Err(match e.aws_code() {
                    Some("TooManyCertificates") => format!(
                        "the provider's load balancer holds its most certificates ({e}); ask the provider for room"
                    ),
                    _ => format!("the provider could not serve {}: {e}", subject.alias_name),
                });
            }
            info!(listener = %l.arn, certificate = %c.arn, "consumer certificate served");
            added = true;
        }
        Ok(added)
    }

    async fn tls_listeners(&self, service_key: &str) -> Result<Vec<crate::aws::Listener>> {
        let Some(policy) = self.policy(service_key).await? else {
            return Ok(Vec::new());
        };
        let Some(service) = self.cloud.describe_service(&policy.service_id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for nlb in &service.nlb_arns {
            for arn in self.cloud.listeners_of(nlb).await? {
                if let Some(l) = self.cloud.listener(&arn).await? {
                    if l.takes_certificates() {
                        out.push(l);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn detach(&self, c: &Certificate) -> Result<()> {
        for nlb in &c.in_use_by {
            for arn in self.cloud.listeners_of(nlb).await? {
                let served = self
                    .cloud
                    .listener(&arn)
                    .await?
                    .is_some_and(|l| l.extra_certificates.contains(&c.arn));
                if served {
                    self.cloud.remove_certificate(&arn, &c.arn).await?;
                }
            }
        }
        Ok(())
    }

    /// Refuse: say why to the consumer, and leave nothing behind here (the certificate `held`
    /// for it, if any, goes).
    async fn refuse(&self, subject: &Subject, reason: String, held: Option<&str>) -> Result<()> {
        if let Some(arn) = held {
            self.drop_certificate(arn).await?;
        }
        let reason: String = reason.chars().take(240).collect();
        self.send(&Message::Refused {
            subject: subject.clone(),
            reason,
        })
        .await
    }

    async fn send(&self, message: &Message) -> Result<()> {
        if self.bus.is_empty() {
            warn!(
                kind = message.detail_type(),
                "no event bus configured (EVENT_BUS_NAME); not sent"
            );
            return Ok(());
        }
        self.cloud
            .announce(
                &self.bus,
                super::SOURCE,
                message.detail_type(),
                &message.detail(),
            )
            .await
    }

    /// The certificate made for `who`, if any.
    async fn find(&self, who: &ConsumerCert) -> Result<Option<String>> {
        Ok(self
            .consumer_certificates()
            .await?
            .into_iter()
            .find(|(w, _, _)| w == who)
            .map(|(_, arn, _)| arn))
    }

    /// Every consumer certificate of this account: whose, its ARN and its name.
    async fn consumer_certificates(&self) -> Result<Vec<(ConsumerCert, String, String)>> {
        let mut out = Vec::new();
        for s in self.cloud.live_certificates().await? {
            let Some(owner) = self.cloud.certificate_owner(&s.arn).await? else {
                continue;
            };
            if let Some(who) = ConsumerCert::of(&owner) {
                let name = s.names.first().cloned().unwrap_or_default();
                out.push((who, s.arn, name));
            }
        }
        Ok(out)
    }
}

/// How much a pass says to the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Say {
    Always,
    WhenChanged,
}

fn consumer(from: &str, subject: &Subject) -> ConsumerCert {
    ConsumerCert {
        account: from.to_string(),
        service_key: subject.service_key.clone(),
        link_id: subject.link_id.clone(),
    }
}
