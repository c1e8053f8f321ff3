//! The probe schedule's input (contract §4), written by the reconciler, which runs outside the
//! VPC and can see what the probe can't: every link's alias, regional and zonal names, ports and
//! TLS names. The hand-written targets (`ProbeTargetsJson`) stay in it; it is written only when
//! it changed.

use tracing::info;

use crate::aws::ProbeSchedule;
use crate::error::{Error, Result};
use crate::probe::{Input, Target, DEFAULT_TIMEOUT_MS};

/// The input: the hand-written one (a probe input, or empty), with the discovered targets added
/// after its own, in a stable order, each host and port once.
pub fn merged(hand_written: &str, discovered: &[Target]) -> Result<Input> {
    let mut input = if hand_written.trim().is_empty() {
        Input::new(Vec::new(), DEFAULT_TIMEOUT_MS)
    } else {
        serde_json::from_str::<Input>(hand_written).map_err(|e| {
            Error::invalid(
                "ProbeTargetsJson",
                format!(
                    "is not a probe input ({{\"targets\": [...]}}): {e}; fix the stack parameter"
                ),
            )
        })?
    };
    let key = |t: &Target| (t.host.clone(), t.port);
    let mut found: Vec<Target> = discovered.to_vec();
    found.sort_by_key(key);
    for t in found {
        if !input.targets.iter().any(|have| key(have) == key(&t)) {
            input.targets.push(t);
        }
    }
    Ok(input)
}

/// Rewrite the schedule's input from `discovered` (each target named by its link ID), keeping the
/// targets of the links `left_alone` in this pass as they were. Writes only when the input
/// changed; returns whether it wrote.
pub async fn refresh(
    cloud: &dyn ProbeSchedule,
    rule: &str,
    hand_written: &str,
    discovered: &[Target],
    left_alone: &[String],
) -> Result<bool> {
    let current = cloud
        .schedule_input(rule)
        .await?
        .and_then(|c| serde_json::from_str::<Input>(&c).ok());
    let kept = current
        .iter()
        .flat_map(|c| &c.targets)
        .filter(|t| t.name.as_ref().is_some_and(|n| left_alone.contains(n)));
    let all: Vec<Target> = discovered.iter().cloned().chain(kept.cloned()).collect();
    let input = merged(hand_written, &all)?;
    if current.as_ref() == Some(&input) {
        return Ok(false);
    }
    let text = serde_json::to_string(&input).map_err(|e| {
        Error::failed(
            "the probe schedule's input could not be built",
            e.to_string(),
        )
    })?;
    cloud.set_schedule_input(rule, &text).await?;
    info!(
        rule,
        targets = input.targets.len(),
        "probe schedule input written"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeCloud;

    fn target(host: &str, port: u16) -> Target {
        Target::new(host, port)
    }

    #[test]
    fn hand_written_targets_come_first_and_each_host_and_port_once() {
        let hand = r#"{"targets":[{"host":"a.example.com","port":443}],"timeout_ms":5000}"#;
        let input = merged(
            hand,
            &[
                target("z.example.com", 443),
                target("a.example.com", 443),
                target("b.example.com", 80),
            ],
        )
        .unwrap();
        let hosts: Vec<&str> = input.targets.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["a.example.com", "b.example.com", "z.example.com"]);
        assert_eq!(input.timeout_ms, 5000);
    }

    #[test]
    fn hand_written_input_that_is_not_a_probe_input_is_an_error() {
        let e = merged("[1,2]", &[]).unwrap_err();
        assert!(e.reason().contains("ProbeTargetsJson"), "{}", e.reason());
    }

    fn named(host: &str, link: &str) -> Target {
        Target {
            name: Some(link.into()),
            ..Target::new(host, 443)
        }
    }

    #[tokio::test]
    async fn the_input_is_written_only_when_it_changed_and_links_left_alone_keep_theirs() {
        let cloud = FakeCloud::default();
        cloud
            .state
            .lock()
            .unwrap()
            .schedules
            .insert("probe".into(), "{}".into());
        let both = [
            named("a.example.com", "link-a"),
            named("b.example.com", "link-b"),
        ];
        assert!(refresh(&cloud, "probe", "", &both, &[]).await.unwrap());
        cloud.reset_calls();
        assert!(!refresh(&cloud, "probe", "", &both, &[]).await.unwrap());
        assert_eq!(cloud.mutating_calls(), Vec::<&str>::new());
        // link-b was left alone in the next pass: its target stays; link-c's is gone.
        let only_a = [named("a.example.com", "link-a")];
        assert!(!refresh(&cloud, "probe", "", &only_a, &["link-b".into()])
            .await
            .unwrap());
        assert!(refresh(&cloud, "probe", "", &only_a, &[]).await.unwrap());
        let input = cloud.state.lock().unwrap().schedules["probe"].clone();
        assert!(!input.contains("b.example.com"), "{input}");
    }
}
