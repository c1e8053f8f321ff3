//! CloudWatch Embedded Metric Format: one JSON line per target stage on stdout, which Lambda
//! ships to CloudWatch Logs, where it becomes metrics without any API call.

use serde_json::json;

use super::Report;

pub const NAMESPACE: &str = "PrivateLinkAutowire";

/// The EMF lines for a report, stamped with `timestamp_ms`.
pub fn emf_lines(report: &Report, timestamp_ms: u64) -> Vec<String> {
    let mut out = Vec::new();
    for t in &report.targets {
        for (stage, ms) in &t.latency_ms.0 {
            let failed_here = !t.ok && *stage == t.stage;
            let mut line = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        // Per AZ and stage, and per service alone (what an alarm watches).
                        "Dimensions": [["ServiceKey", "AzId", "Stage"], ["ServiceKey"]],
                        "Metrics": [
                            {"Name": "Latency", "Unit": "Milliseconds"},
                            {"Name": "Success", "Unit": "Count"}
                        ]
                    }]
                },
                "ServiceKey": t.service_key.as_deref().unwrap_or("unknown"),
                "AzId": t.az_id.as_deref().unwrap_or("regional"),
                "Stage": stage.as_str(),
                "Latency": (ms * 1000.0).round() / 1000.0,
                "Success": if failed_here { 0 } else { 1 },
                "Host": t.host,
                "Port": t.port,
            });
            if let (true, Some(e)) = (failed_here, &t.error) {
                line["ErrorClass"] = serde_json::to_value(e.class).unwrap_or_default();
            }
            out.push(line.to_string());
        }
    }
    out
}
