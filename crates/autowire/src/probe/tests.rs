//! The probe's decisions: input checks, stage order, classification on loopback sockets, EMF.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn input(v: serde_json::Value) -> Input {
    Input::parse(&v).unwrap()
}

fn soon() -> Budget {
    Budget {
        deadline: Instant::now() + Duration::from_secs(5),
        lambda_capped: false,
    }
}

#[test]
fn bad_input_says_what_to_fix() {
    for (v, want) in [
        (json!({"targets": []}), "targets is empty"),
        (json!({"targets": [{"host": "a", "port": 0}]}), "port is 0"),
        (
            json!({"targets": [{"host": " ", "port": 1}]}),
            "host is empty",
        ),
        (
            json!({"targets": [{"host": "a", "port": 1}], "timeout_ms": 0}),
            "timeout_ms 0",
        ),
        (
            json!({"targets": [{"host": "a", "port": 1, "http": {"expect_status": 42}}]}),
            "not an HTTP status",
        ),
        (
            json!({"targets": [{"host": "a", "port": 1, "http": {"path": "x y"}}]}),
            "must start with /",
        ),
        (
            json!({"targets": [{"host": "a", "port": 1, "colour": "red"}]}),
            "unknown field",
        ),
        (json!({"nothing": true}), "not a probe request"),
    ] {
        let err = Input::parse(&v).unwrap_err();
        assert!(err.contains(want), "{v}: {err}");
    }
}

#[tokio::test]
async fn a_listening_port_is_reached_and_a_closed_one_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let i = input(json!({
        "targets": [
            {"host": "svc.test", "port": open, "service_key": "orders", "az_id": "use1-az1"},
            {"host": "127.0.0.1", "port": closed},
            {"host": "nowhere.test", "port": open},
        ],
        "hosts": {"svc.test": "127.0.0.1"},
        "system_dns": false,
    }));
    let r = run(&i, soon()).await;
    assert_eq!(
        r.summary,
        Summary {
            total: 3,
            ok: 1,
            failed: 2
        }
    );
    assert!(r.targets[0].ok);
    assert_eq!(r.targets[0].stage, Stage::Tcp);
    assert_eq!(r.targets[0].addresses, vec!["127.0.0.1"]);
    assert_eq!(
        r.targets[1].error.as_ref().unwrap().class,
        ErrorClass::TcpRefused
    );
    assert_eq!(r.targets[2].stage, Stage::Dns);
    assert_eq!(
        r.targets[2].error.as_ref().unwrap().class,
        ErrorClass::DnsNxdomain
    );
    let lines = emf_lines(&r, 1);
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        first["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "PrivateLinkAutowire"
    );
    assert_eq!(
        first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["ServiceKey", "AzId", "Stage"], ["ServiceKey"]])
    );
    assert_eq!(
        (
            first["ServiceKey"].as_str(),
            first["AzId"].as_str(),
            first["Stage"].as_str()
        ),
        (Some("orders"), Some("use1-az1"), Some("dns"))
    );
    assert_eq!(first["Success"], 1);
    let failed: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["Success"] == 0)
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(
        r.finding().unwrap(),
        format!("TCP {closed} to 127.0.0.1:{closed} refused")
    );
}

/// The report and the input are one typed shape for writer and reader: what one side writes,
/// the other reads back to the same thing.
#[tokio::test]
async fn report_and_input_read_back_as_written() {
    let i = input(json!({
        "targets": [
            {"host": "svc.test", "port": 1, "service_key": "k", "az_id": "use1-az1", "name": "link-1",
             "tls": {"server_name": "svc.test", "expect_names": ["a.test"], "ca_bundle_pem": "x"},
             "http": {"path": "/h", "expect_status": 204, "expect_body_contains": "up"}},
            {"host": "nowhere.test", "port": 2},
        ],
        "timeout_ms": 500, "concurrency": 3, "target_timeout_ms": 100,
        "hosts": {"svc.test": "127.0.0.1", "two.test": ["127.0.0.2", "::1"]},
        "system_dns": false,
    }));
    let written = serde_json::to_value(&i).unwrap();
    assert_eq!(Input::parse(&written).unwrap(), i);
    let r = run(&i, soon()).await;
    let written = serde_json::to_value(&r).unwrap();
    let read: Report = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(serde_json::to_value(&read).unwrap(), written);
    assert_eq!(read.finding(), r.finding());
}

#[tokio::test]
async fn http_status_is_checked_over_plain_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for status in ["200 OK", "503 Service Unavailable"] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await;
        }
    });
    let i = input(json!({
        "targets": [
            {"host": "127.0.0.1", "port": port, "http": {"path": "/health"}},
            {"host": "127.0.0.1", "port": port, "http": {"path": "/health"}},
        ],
        "concurrency": 1,
    }));
    let r = run(&i, soon()).await;
    assert!(r.targets[0].ok, "{:?}", r.targets[0]);
    assert_eq!(r.targets[0].http.as_ref().unwrap().status, 200);
    let e = r.targets[1].error.as_ref().unwrap();
    assert_eq!(e.class, ErrorClass::HttpStatus);
    assert_eq!(e.message, "GET /health answered 503, expected 200");
}

#[test]
fn dates_print_as_rfc3339() {
    assert_eq!(stages::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(stages::rfc3339(1_795_737_600), "2026-11-27T00:00:00Z");
    assert_eq!(stages::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn the_deadline_leaves_room_to_answer() {
    let i = input(json!({"targets": [{"host": "a", "port": 1}], "timeout_ms": 60000}));
    let b = budget_for(&i, Some(Duration::from_secs(3)));
    assert!(b.lambda_capped);
    let left = b.deadline.saturating_duration_since(Instant::now());
    assert!(
        left <= Duration::from_millis(2700) && left >= Duration::from_millis(2500),
        "{left:?}"
    );
}

#[test]
fn environment_overrides_add_names_and_wildcards() {
    let i = input(json!({"targets": [{"host": "a", "port": 1}], "hosts": {"a.test": "127.0.0.2"}}))
        .with_overrides(
            Some("a.test=127.0.0.9, *.vpce.amazonaws.com=127.0.0.1"),
            Some("false"),
        )
        .unwrap();
    assert!(!i.system_dns);
    assert_eq!(
        i.static_addresses("a.test"),
        Some(vec!["127.0.0.2".parse().unwrap()]),
        "the event wins"
    );
    assert_eq!(
        i.static_addresses("vpce-1-x-us-east-1a.vpce-svc-1.us-east-1.vpce.amazonaws.com."),
        Some(vec!["127.0.0.1".parse().unwrap()])
    );
    assert_eq!(i.static_addresses("vpce.amazonaws.com"), None);
    assert!(input(json!({"targets": [{"host": "a", "port": 1}]}))
        .with_overrides(Some("nonsense"), None)
        .is_err());
}

mod http;
