//! EventBridge adapter: the probe schedule's target input; events this account announces.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use serde_json::Value;

use super::{sdk_error, Sdk};
use crate::aws::{Announcements, ProbeSchedule};
use crate::error::{Error, Result};

impl Sdk {
    /// The rule's one target (the probe), if the rule and its target exist.
    async fn schedule_target(&self, rule: &str) -> Result<Option<Target>> {
        match self.events.list_targets_by_rule().rule(rule).send().await {
            Ok(out) => Ok(out.targets().first().cloned()),
            Err(e) if super::code_of(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(sdk_error("events:ListTargetsByRule", e)),
        }
    }
}

#[async_trait]
impl ProbeSchedule for Sdk {
    async fn schedule_input(&self, rule: &str) -> Result<Option<String>> {
        Ok(self
            .schedule_target(rule)
            .await?
            .and_then(|t| t.input().map(str::to_string)))
    }

    async fn set_schedule_input(&self, rule: &str, input: &str) -> Result<()> {
        const OP: &str = "events:PutTargets";
        let Some(target) = self.schedule_target(rule).await? else {
            return Err(Error::not_found(
                format!("the probe schedule's target on rule {rule}"),
                "redeploy the consumer stack so the probe schedule exists",
            ));
        };
        let mut target = target;
        target.input = Some(input.to_string());
        let out = self
            .events
            .put_targets()
            .rule(rule)
            .targets(target)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        match out.failed_entries().first() {
            Some(f) => Err(Error::aws(
                OP,
                f.error_code().unwrap_or("Failed"),
                f.error_message().unwrap_or("the target was not updated"),
            )),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Announcements for Sdk {
    async fn announce(
        &self,
        bus: &str,
        source: &str,
        detail_type: &str,
        detail: &Value,
    ) -> Result<()> {
        const OP: &str = "events:PutEvents";
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(source)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        match out.entries().first().filter(|e| e.error_code().is_some()) {
            Some(f) => Err(Error::aws(
                OP,
                f.error_code().unwrap_or("Failed"),
                f.error_message()
                    .unwrap_or("the event was not put on the bus"),
            )),
            None => Ok(()),
        }
    }
}
