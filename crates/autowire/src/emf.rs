//! CloudWatch Embedded Metric Format: JSON lines on stdout, which Lambda ships to CloudWatch
//! Logs, where they become metrics without any API call.

use serde_json::{json, Value};

pub const NAMESPACE: &str = "PrivateLinkAutowire";

/// One EMF line: `fields` (an object with a value for every dimension and metric, and any
/// property to keep beside them) under the metadata naming the `metrics` (name, unit) and the
/// `dimensions` sets they count in.
pub fn line(
    timestamp_ms: u64,
    dimensions: &[&[&str]],
    metrics: &[(&str, &str)],
    fields: Value,
) -> Value {
    let metrics: Vec<Value> = metrics
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": metrics,
            }]
        }
    });
    if let (Some(out), Value::Object(fields)) = (line.as_object_mut(), fields) {
        out.extend(fields);
    }
    line
}

/// Milliseconds since the Unix epoch, as EMF stamps its lines.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_its_metadata_and_fields() {
        let l = line(
            7,
            &[&["ServiceKey", "Decision"]],
            &[("AcceptanceDecisions", "Count")],
            json!({"ServiceKey": "orders", "Decision": "accepted", "AcceptanceDecisions": 1}),
        );
        let meta = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(l["_aws"]["Timestamp"], 7);
        assert_eq!(meta["Namespace"], NAMESPACE);
        assert_eq!(meta["Dimensions"], json!([["ServiceKey", "Decision"]]));
        assert_eq!(
            meta["Metrics"],
            json!([{"Name": "AcceptanceDecisions", "Unit": "Count"}])
        );
        assert_eq!(
            (l["ServiceKey"].as_str(), l["AcceptanceDecisions"].as_u64()),
            (Some("orders"), Some(1))
        );
    }
}
