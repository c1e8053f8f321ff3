//! The probe function: DNS → TCP → TLS → HTTP for each target in the event, a JSON report back,
//! and CloudWatch EMF metric lines on stdout. It makes no AWS calls (it runs in isolated VPCs).

use autowire::probe::{budget_for, emf_lines, run, Input};
use autowire_lambda::serve_json;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_json(|event, remaining| async move {
        let input = Input::parse(&event)?.with_overrides(
            std::env::var("AUTOWIRE_PROBE_HOSTS").ok().as_deref(),
            std::env::var("AUTOWIRE_PROBE_SYSTEM_DNS").ok().as_deref(),
        )?;
        let report = run(&input, budget_for(&input, Some(remaining))).await;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        for line in emf_lines(&report, stamp) {
            println!("{line}");
        }
        serde_json::to_value(&report).map_err(|e| e.to_string())
    })
    .await
}
