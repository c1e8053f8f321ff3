//! The service's connection notification: `Connect` events to the reconciler's SNS topic, so a
//! new connection request is decided at once instead of on the next scheduled pass.

use tracing::{info, warn};

use super::{ProviderCloud, Publication};
use crate::aws::{ConnectionEvent, NotificationState};
use crate::error::{Error, Result};

impl<C: ProviderCloud> Publication<C> {
    /// Keep one notification to `topic` (`None`: none) on the service, and remove `prior` (the
    /// one the publication kept before) when it is not that one. Returns the ID to remember,
    /// and whether it was created now.
    pub(super) async fn converge_notification(
        &self,
        service_id: &str,
        topic: Option<&str>,
        prior: Option<&str>,
    ) -> Result<(Option<String>, bool)> {
        if topic.is_none() && prior.is_none() {
            return Ok((None, false));
        }
        let existing = self.cloud.connection_notifications(service_id).await?;
        let found = topic.and_then(|t| {
            let connect = ConnectionEvent::Connect;
            existing
                .iter()
                .find(|n| n.topic_arn == t && n.events.contains(&connect))
        });
        if let Some(n) = found.filter(|n| n.state == NotificationState::Disabled) {
            warn!(notification = %n.id, topic = %n.topic_arn, "connection notification disabled: EC2 can't publish to the topic; check its policy");
        }
        let (keep, created) = match (found, topic) {
            (Some(n), _) => (Some(n.id.clone()), false),
            (None, Some(t)) => (Some(self.create_notification(service_id, t).await?), true),
            (None, None) => (None, false),
        };
        let stale = prior.filter(|p| keep.as_deref() != Some(*p));
        if let Some(old) = stale.filter(|p| existing.iter().any(|n| n.id == *p)) {
            self.remove_notification(old).await?;
        }
        Ok((keep, created))
    }

    async fn create_notification(&self, service_id: &str, topic: &str) -> Result<String> {
        let events = [ConnectionEvent::Connect];
        let created = self
            .cloud
            .create_connection_notification(service_id, topic, &events)
            .await;
        let id = created.map_err(|e| match e {
            Error::Aws {
                code,
                message,
                retryable: false,
                ..
            } => Error::failed(
                format!("connection notification to {topic}"),
                format!("{code}: {message}; check that the topic exists and its policy lets vpce.amazonaws.com publish"),
            ),
            other => other,
        })?;
        info!(service = service_id, notification = %id, topic, "connection notification created");
        Ok(id)
    }

    /// Delete it; one already gone is success.
    pub(super) async fn remove_notification(&self, id: &str) -> Result<()> {
        let ids = [id.to_string()];
        self.cloud.delete_connection_notifications(&ids).await?;
        info!(notification = id, "connection notification deleted");
        Ok(())
    }
}
