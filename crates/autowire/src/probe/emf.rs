//! The probe's CloudWatch Embedded Metric Format lines ([`crate::emf`]): one per target stage.

use serde_json::json;

use super::Report;
use crate::emf::line;

/// The EMF lines for a report, stamped with `timestamp_ms`.
pub fn emf_lines(report: &Report, timestamp_ms: u64) -> Vec<String> {
    let mut out = Vec::new();
    for t in &report.targets {
        for (stage, ms) in &t.latency_ms.0 {
            let failed_here = !t.ok && *stage == t.stage;
            let fields = json!({
                "ServiceKey": t.service_key.as_deref().unwrap_or("unknown"),
                "AzId": t.az_id.as_deref().unwrap_or("regional"),
                "Stage": stage.as_str(),
                "Latency": (ms * 1000.0).round() / 1000.0,
                "Success": if failed_here { 0 } else { 1 },
                "Host": t.host,
                "Port": t.port,
            });
            // Per AZ and stage, and per service alone (what an alarm watches).
            let dimensions: &[&[&str]] = &[&["ServiceKey", "AzId", "Stage"], &["ServiceKey"]];
            let metrics = [("Latency", "Milliseconds"), ("Success", "Count")];
            let mut line = line(timestamp_ms, dimensions, &metrics, fields);
            if let (true, Some(e)) = (failed_here, &t.error) {
                line["ErrorClass"] = serde_json::to_value(e.class).unwrap_or_default();
            }
            out.push(line.to_string());
        }
    }
    out
}
