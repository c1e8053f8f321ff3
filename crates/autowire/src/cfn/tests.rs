//! The runtime's guarantees, each proved with a scripted resource and a recording responder.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use serde_json::json;

use super::*;
use crate::fake::FakeCloud;

/// A resource whose behaviour the request's `Mode` property picks.
struct Scripted {
    calls: AtomicU32,
    /// The progress values `abandon` was called with.
    abandoned: Mutex<Vec<Value>>,
}

#[async_trait]
impl Resource for Scripted {
    fn resource_type(&self) -> &'static str {
        "Custom::Scripted"
    }

    async fn apply(&self, req: &Request, progress: Option<&Value>) -> Result<Step> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match req.props["Mode"].as_str().unwrap_or("ok") {
            "ok" => Ok(Step::Done(Answer {
                physical_id: "phys-1".into(),
                data: BTreeMap::from([("Attr".into(), "value".into())]),
                no_echo: req.props.get("Secret").is_some(),
            })),
            "error" => Err(Error::aws(
                "ec2:DescribeThing",
                "UnauthorizedOperation",
                "You are not authorized",
            )),
            "panic" => panic!("boom"),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                unreachable!()
            }
            "big" => Ok(Step::Done(Answer {
                physical_id: "phys-big".into(),
                data: BTreeMap::from([("Blob".into(), "x".repeat(5000))]),
                no_echo: false,
            })),
            "wait" => {
                let n = progress.and_then(|p| p["n"].as_u64()).unwrap_or(0);
                if n >= 2 {
                    Ok(Step::Done(Answer {
                        physical_id: format!("waited-{n}"),
                        ..Answer::default()
                    }))
                } else {
                    Ok(Step::Wait {
                        progress: json!({ "n": n + 1 }),
                        after: Duration::from_secs(30),
                        waiting_for: "the thing".into(),
                    })
                }
            }
            other => panic!("unknown mode {other}"),
        }
    }

    async fn cleanup(&self, _req: &Request, _progress: Option<&Value>) -> Result<Step> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Step::Done(Answer {
            physical_id: "phys-1".into(),
            ..Answer::default()
        }))
    }

    async fn abandon(&self, _req: &Request, progress: &Value) {
        self.abandoned.lock().unwrap().push(progress.clone());
    }
}

#[derive(Default)]
struct Recorder {
    puts: Mutex<Vec<(String, Value)>>,
    fail_first: AtomicU32,
}

#[async_trait]
impl Responder for Recorder {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        if self.fail_first.load(Ordering::SeqCst) > 0 {
            self.fail_first.fetch_sub(1, Ordering::SeqCst);
            return Err("HTTP 503".into());
        }
        self.puts
            .lock()
            .unwrap()
            .push((url.to_string(), serde_json::from_slice(&body).unwrap()));
        Ok(())
    }
}

struct Bed {
    runtime: Runtime,
    resource: Arc<Scripted>,
    recorder: Arc<Recorder>,
    cloud: Arc<FakeCloud>,
}

fn bed() -> Bed {
    let resource = Arc::new(Scripted {
        calls: AtomicU32::new(0),
        abandoned: Mutex::new(Vec::new()),
    });
    let recorder = Arc::new(Recorder::default());
    let cloud = Arc::new(FakeCloud::default());
    let runtime = Runtime::new(
        vec![resource.clone()],
        recorder.clone(),
        cloud.clone(),
        RuntimeConfig {
            put_backoff: Duration::from_millis(1),
            ..RuntimeConfig::default()
        },
    );
    Bed {
        runtime,
        resource,
        recorder,
        cloud,
    }
}

const URL: &str =
    "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=s";

fn event(kind: &str, props: Value) -> Value {
    let mut e = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:provider",
        "ResponseURL": URL,
        "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/s/1",
        "RequestId": "req-1",
        "ResourceType": "Custom::Scripted",
        "LogicalResourceId": "Thing",
        "ResourceProperties": props,
    });
    if kind != "Create" {
        e["PhysicalResourceId"] = json!("phys-1");
    }
    if kind == "Update" {
        e["OldResourceProperties"] = json!({});
    }
    e
}

fn inv(secs: u64) -> Invocation {
    Invocation {
        remaining: Duration::from_secs(secs),
        function_arn: "arn:aws:lambda:us-east-1:111111111111:function:provider".into(),
    }
}

impl Bed {
    fn answers(&self) -> Vec<Value> {
        self.recorder
            .puts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn only_answer(&self) -> Value {
        let a = self.answers();
        assert_eq!(a.len(), 1, "exactly one answer expected, got {a:?}");
        a[0].clone()
    }
}

#[tokio::test]
async fn success_answers_once_with_attributes() {
    let b = bed();
    let out = b
        .runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Answered {
            status: "SUCCESS".into()
        }
    );
    let a = b.only_answer();
    assert_eq!(a["Status"], "SUCCESS");
    assert_eq!(a["PhysicalResourceId"], "phys-1");
    assert_eq!(a["Data"]["Attr"], "value");
    assert_eq!(a["RequestId"], "req-1");
    assert_eq!(a["LogicalResourceId"], "Thing");
    assert_eq!(a["NoEcho"], false);
}

#[tokio::test]
async fn no_echo_is_passed_on() {
    let b = bed();
    b.runtime
        .handle(
            event("Create", json!({"Mode": "ok", "Secret": "x"})),
            inv(60),
        )
        .await
        .unwrap();
    assert_eq!(b.only_answer()["NoEcho"], true);
}

#[tokio::test]
async fn typed_error_answers_failed_once_with_a_short_reason() {
    let b = bed();
    b.runtime
        .handle(event("Update", json!({"Mode": "error"})), inv(60))
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    let reason = a["Reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ec2:DescribeThing failed: UnauthorizedOperation"),
        "{reason}"
    );
    assert!(reason.chars().count() < 256);
    // An Update keeps the physical ID, so CloudFormation does not think it was replaced.
    assert_eq!(a["PhysicalResourceId"], "phys-1");
}

#[tokio::test]
async fn panic_answers_failed_once() {
    let b = bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "panic"})), inv(60))
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"].as_str().unwrap().contains("internal error"));
    assert!(a["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .starts_with(FAILED_CREATE_PREFIX));
}

#[tokio::test(start_paused = true)]
async fn near_deadline_answers_failed_before_it() {
    let b = bed();
    let start = Instant::now();
    b.runtime
        .handle(event("Create", json!({"Mode": "hang"})), inv(10))
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"].as_str().unwrap().starts_with("timed out"));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn malformed_request_answers_failed() {
    let b = bed();
    let mut e = event("Create", json!({}));
    e.as_object_mut().unwrap().remove("ResourceType");
    b.runtime.handle(e, inv(60)).await.unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"]
        .as_str()
        .unwrap()
        .contains("malformed CloudFormation request"));
    assert_eq!(b.resource.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unsupported_request_type_answers_failed_once_naming_it() {
    for (kind, physical) in [("Import", Some("phys-1")), ("Frobnicate\nnow", None)] {
        let b = bed();
        let mut e = event("Create", json!({"Mode": "ok"}));
        e["RequestType"] = json!(kind);
        if let Some(p) = physical {
            e["PhysicalResourceId"] = json!(p);
        }
        let out = b.runtime.handle(e, inv(60)).await.unwrap();
        assert_eq!(
            out,
            Outcome::Answered {
                status: "FAILED".into()
            }
        );
        let a = b.only_answer();
        let reason = a["Reason"].as_str().unwrap();
        let shown = kind.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            reason.starts_with(&format!("request type '{shown}' is not supported")),
            "{reason}"
        );
        let want = physical.map_or("autowire-create-failed:req-1".to_string(), String::from);
        assert_eq!(a["PhysicalResourceId"], want.as_str());
        assert_eq!(b.resource.calls.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test]
async fn unknown_resource_type_answers_failed() {
    let b = bed();
    let mut e = event("Create", json!({}));
    e["ResourceType"] = json!("Custom::Other");
    b.runtime.handle(e, inv(60)).await.unwrap();
    let reason = b.only_answer()["Reason"].as_str().unwrap().to_string();
    assert!(reason.contains("Custom::Other is not served"), "{reason}");
}

#[tokio::test]
async fn non_s3_response_url_is_refused_and_nothing_is_sent() {
    let b = bed();
    for url in [
        "http://169.254.169.254/latest",
        "https://example.com/r?sig=1",
    ] {
        let mut e = event("Create", json!({"Mode": "ok"}));
        e["ResponseURL"] = json!(url);
        let err = b.runtime.handle(e, inv(60)).await.unwrap_err();
        assert!(matches!(err, InvocationError::UrlRefused(_)));
        assert!(
            !err.to_string().contains("sig=1"),
            "the signature must not be echoed"
        );
    }
    assert!(b.answers().is_empty());
    assert_eq!(b.resource.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn delete_after_failed_create_touches_nothing() {
    let b = bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "error"})), inv(60))
        .await
        .unwrap();
    let failed_id = b.only_answer()["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut del = event("Delete", json!({"Mode": "error"}));
    del["PhysicalResourceId"] = json!(failed_id);
    b.runtime.handle(del, inv(60)).await.unwrap();
    let answers = b.answers();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[1]["Status"], "SUCCESS");
    assert_eq!(answers[1]["PhysicalResourceId"], failed_id);
    // apply ran once (the failed Create); cleanup never ran.
    assert_eq!(b.resource.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn answer_is_retried_until_delivered() {
    let b = bed();
    b.recorder.fail_first.store(2, Ordering::SeqCst);
    b.runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap();
    assert_eq!(b.only_answer()["Status"], "SUCCESS");
}

#[tokio::test]
async fn undeliverable_answer_is_an_invocation_error() {
    let b = bed();
    b.recorder.fail_first.store(100, Ordering::SeqCst);
    let err = b
        .runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        InvocationError::Undelivered { attempts: 5, .. }
    ));
    assert!(!err.to_string().contains("Signature"));
}

#[tokio::test]
async fn oversized_data_is_refused_clearly() {
    let b = bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "big"})), inv(60))
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"].as_str().unwrap().contains("4096-byte limit"));
    assert!(serde_json::to_vec(&a).unwrap().len() <= MAX_RESPONSE_BYTES);
}

#[tokio::test(start_paused = true)]
async fn short_waits_loop_within_one_invocation() {
    let b = bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(900))
        .await
        .unwrap();
    assert_eq!(b.only_answer()["PhysicalResourceId"], "waited-2");
    assert!(b.cloud.state.lock().unwrap().invocations.is_empty());
}

#[tokio::test(start_paused = true)]
async fn long_waits_continue_in_a_new_invocation() {
    let b = bed();
    let out = b
        .runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(40))
        .await
        .unwrap();
    assert_eq!(out, Outcome::Continued { round: 1 });
    assert!(b.answers().is_empty(), "no answer while waiting");
    // Hand each continuation payload back, as Lambda would, until answered.
    for _ in 0..5 {
        let next = b.cloud.state.lock().unwrap().invocations.pop();
        let Some((arn, payload)) = next else { break };
        assert!(arn.ends_with(":function:provider"));
        assert!(payload[CONTINUATION_KEY]["progress"]["n"].is_u64());
        b.runtime.handle(payload, inv(40)).await.unwrap();
    }
    assert_eq!(b.only_answer()["PhysicalResourceId"], "waited-2");
}

#[tokio::test]
async fn waits_give_up_at_the_service_timeout() {
    let b = bed();
    b.runtime
        .handle(
            event("Create", json!({"Mode": "wait", "ServiceTimeout": "10"})),
            inv(40),
        )
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"]
        .as_str()
        .unwrap()
        .contains("gave up after 10s waiting for the thing"));
    assert_eq!(
        *b.resource.abandoned.lock().unwrap(),
        vec![json!({"n": 1})],
        "the unfinished Create is undone with its progress"
    );
}

#[tokio::test(start_paused = true)]
async fn a_continuation_that_cannot_start_is_undone_and_answered() {
    let b = bed();
    b.cloud.inject(
        "lambda:Invoke",
        crate::fake::Fault::Fail("AccessDeniedException".into(), "denied".into()),
    );
    b.runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(40))
        .await
        .unwrap();
    let a = b.only_answer();
    assert_eq!(a["Status"], "FAILED");
    assert!(a["Reason"]
        .as_str()
        .unwrap()
        .contains("could not continue waiting"));
    assert_eq!(*b.resource.abandoned.lock().unwrap(), vec![json!({"n": 1})]);
}

#[tokio::test]
async fn bad_service_timeout_is_a_clear_failure() {
    let b = bed();
    b.runtime
        .handle(
            event("Create", json!({"Mode": "ok", "ServiceTimeout": "forever"})),
            inv(40),
        )
        .await
        .unwrap();
    assert!(b.only_answer()["Reason"]
        .as_str()
        .unwrap()
        .contains("ServiceTimeout"));
}

#[tokio::test]
async fn events_that_are_not_requests_are_errors_not_answers() {
    let b = bed();
    assert!(matches!(
        b.runtime.handle(json!({"hello": 1}), inv(60)).await,
        Err(InvocationError::NotARequest(_))
    ));
    assert!(b.answers().is_empty());
}

#[test]
fn margins_scale_with_the_time_left() {
    assert_eq!(
        safety_margin(Duration::from_secs(300)),
        Duration::from_secs(5)
    );
    assert_eq!(
        safety_margin(Duration::from_secs(10)),
        Duration::from_secs(2)
    );
    assert_eq!(
        safety_margin(Duration::from_secs(1)),
        Duration::from_millis(500)
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_the_invocation_is_waited_out_not_polled_in_a_storm() {
    let b = bed();
    // 10 s left: the 30 s wait can't fit. This invocation waits what fits, then hands over.
    let out = b
        .runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(10))
        .await
        .unwrap();
    assert_eq!(out, Outcome::Continued { round: 1 });
    let (_, payload) = b.cloud.state.lock().unwrap().invocations.pop().unwrap();
    let not_before = payload[CONTINUATION_KEY]["not_before_ms"].as_u64().unwrap();
    assert!(
        not_before > now_ms() + 15_000,
        "the rest of the wait travels with the continuation"
    );
    // The next invocation has no more room than the first: it only waits, and hands over again,
    // without another pass.
    let calls = b.resource.calls.load(Ordering::SeqCst);
    let out = b.runtime.handle(payload, inv(10)).await.unwrap();
    assert_eq!(out, Outcome::Continued { round: 2 });
    assert_eq!(
        b.resource.calls.load(Ordering::SeqCst),
        calls,
        "no pass before its time"
    );
    assert!(b.answers().is_empty());
}

/// A bed whose runtime claims its steps in the fake Parameter Store.
fn claiming_bed() -> Bed {
    let mut b = bed();
    let runtime = std::mem::replace(
        &mut b.runtime,
        Runtime::new(
            vec![],
            b.recorder.clone(),
            b.cloud.clone(),
            RuntimeConfig::default(),
        ),
    );
    b.runtime = runtime.with_claims(b.cloud.clone(), "/claims/");
    b
}

impl Bed {
    fn next_continuation(&self) -> Option<Value> {
        let mut s = self.cloud.state.lock().unwrap();
        (!s.invocations.is_empty()).then(|| s.invocations.remove(0).1)
    }

    /// Deliver every continuation started so far (and those they start), oldest first.
    async fn drain(&self) -> Vec<Outcome> {
        let mut outs = Vec::new();
        while let Some(payload) = self.next_continuation() {
            outs.push(self.runtime.handle(payload, inv(40)).await.unwrap());
        }
        outs
    }
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_event_that_had_handed_over_stands_down() {
    let b = claiming_bed();
    let e = event("Create", json!({"Mode": "wait"}));
    // The first delivery hands over, then dies before Lambda hears back; its chain runs to the end.
    let out = b.runtime.handle(e.clone(), inv(40)).await.unwrap();
    assert_eq!(out, Outcome::Continued { round: 1 });
    b.drain().await;
    assert_eq!(b.only_answer()["PhysicalResourceId"], "waited-2");
    // Lambda's retry of the first delivery: the same event. Its pass waits again and hands over;
    // that second chain finds the step taken and stands down.
    let out = b.runtime.handle(e, inv(40)).await.unwrap();
    assert_eq!(out, Outcome::Continued { round: 1 });
    assert_eq!(b.drain().await, vec![Outcome::StoodDown { round: 1 }]);
    assert_eq!(b.answers().len(), 1, "one answer per request");
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_event_that_finds_the_work_done_stands_down_before_answering() {
    let b = claiming_bed();
    // The first delivery handed over; its chain answered. The retry's pass is done at once.
    b.runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(40))
        .await
        .unwrap();
    b.drain().await;
    let out = b
        .runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(40))
        .await
        .unwrap();
    assert_eq!(out, Outcome::StoodDown { round: 0 });
    assert_eq!(b.answers().len(), 1, "one answer per request");
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_that_runs_before_the_continuation_leaves_one_chain() {
    let b = claiming_bed();
    let e = event("Create", json!({"Mode": "wait"}));
    b.runtime.handle(e.clone(), inv(40)).await.unwrap();
    // The retry comes before the first continuation started: it hands over a second one.
    let out = b.runtime.handle(e, inv(40)).await.unwrap();
    assert_eq!(out, Outcome::Continued { round: 1 });
    let outs = b.drain().await;
    assert!(
        outs.contains(&Outcome::StoodDown { round: 1 }),
        "the second chain stands down at its first step: {outs:?}"
    );
    assert_eq!(b.only_answer()["PhysicalResourceId"], "waited-2");
}

#[tokio::test(start_paused = true)]
async fn a_redelivered_continuation_goes_on_and_still_answers_once() {
    let b = claiming_bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "wait"})), inv(40))
        .await
        .unwrap();
    let first = b.next_continuation().unwrap();
    // The continuation hands over, then dies; Lambda delivers its payload again.
    let out = b.runtime.handle(first.clone(), inv(40)).await.unwrap();
    assert_eq!(out, Outcome::Continued { round: 2 });
    let out = b.runtime.handle(first, inv(40)).await.unwrap();
    assert_eq!(
        out,
        Outcome::Continued { round: 2 },
        "its own payload again: the step is still its own"
    );
    let outs = b.drain().await;
    assert!(outs.contains(&Outcome::StoodDown { round: 2 }), "{outs:?}");
    assert_eq!(b.only_answer()["PhysicalResourceId"], "waited-2");
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_cut_short_before_its_answer_still_answers() {
    let b = claiming_bed();
    // A delivery that claimed its answer's step and died before the PUT: the retry answers.
    b.runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap();
    b.recorder.puts.lock().unwrap().clear();
    let out = b
        .runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Answered { .. }));
    assert_eq!(b.only_answer()["Status"], "SUCCESS");
}

#[tokio::test]
async fn an_event_nested_too_deeply_is_answered_failed() {
    let b = bed();
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    let e = event("Create", json!({"Mode": "ok"})).to_string().replace(
        r#"{"Mode":"ok"}"#,
        &format!(r#"{{"Mode":"ok","Deep":{deep}}}"#),
    );
    assert!(serde_json::from_str::<Value>(&e).is_err(), "over the limit");
    let out = b.runtime.handle_raw(&e, inv(60)).await.unwrap();
    assert_eq!(
        out,
        Outcome::Answered {
            status: "FAILED".into()
        }
    );
    let a = b.only_answer();
    assert!(a["Reason"].as_str().unwrap().contains("nested too deeply"));
    assert_eq!(a["RequestId"], "req-1");
    assert_eq!(a["PhysicalResourceId"], "autowire-create-failed:req-1");
    assert_eq!(b.resource.calls.load(Ordering::SeqCst), 0);
    // A continuation nested too deeply is answered through the request it carries.
    let cont = format!(r#"{{"{CONTINUATION_KEY}":{{"request":{e},"progress":{deep}}}}}"#);
    b.runtime.handle_raw(&cont, inv(60)).await.unwrap();
    assert_eq!(b.answers().len(), 2);
    // Without a ResponseURL at its top, it is an error, not an answer.
    let bare = format!(r#"{{"Deep":{deep}}}"#);
    assert!(matches!(
        b.runtime.handle_raw(&bare, inv(60)).await,
        Err(InvocationError::NotARequest(_))
    ));
    assert_eq!(b.answers().len(), 2);
}

#[tokio::test]
async fn an_answer_without_a_hand_over_writes_no_marker() {
    let b = claiming_bed();
    b.runtime
        .handle(event("Create", json!({"Mode": "ok"})), inv(60))
        .await
        .unwrap();
    b.runtime
        .handle(event("Create", json!({"Mode": "error"})), inv(60))
        .await
        .unwrap();
    assert_eq!(b.answers().len(), 2, "two deliveries, neither handed over");
    assert!(b.cloud.state.lock().unwrap().params.is_empty());
}
