//! The one place that knows lambda_runtime: build the SDK clients once, hand each invocation to
//! the custom-resource runtime, and keep it running. Each function's `main` picks its resources.

#[cfg(feature = "custom-resources")]
use std::sync::Arc;

#[cfg(feature = "custom-resources")]
use autowire::aws::sdk::Sdk;
#[cfg(feature = "custom-resources")]
use autowire::cfn::{
    HttpResponder, Invocation, Resource, Runtime, RuntimeConfig, DEFAULT_CLAIMS_PATH,
};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

/// The payload, raw: lambda_runtime would otherwise parse it into a `Value` with serde_json's
/// recursion limit and fail an over-deep event before the handler sees it.
type Raw = Box<RawValue>;

/// The payload as a JSON value; over-deep (or not JSON) is an error for the caller.
fn json_of(raw: &RawValue) -> Result<Value, Error> {
    serde_json::from_str(raw.get()).map_err(|e| {
        Error::from(format!(
            "the event is not a JSON value this function can read ({e}); it may be nested deeper than 128 levels"
        ))
    })
}

/// Serve `handler` for every event: it gets the payload and the time Lambda leaves, and answers
/// a JSON value or an error message (returned to the caller as a Lambda function error).
pub async fn serve_json<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Value, std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = Result<Value, String>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Raw>| async move {
        let remaining =
            std::time::Duration::from_millis(event.context.deadline.saturating_sub(now_ms()));
        let payload = json_of(&event.payload)?;
        handler(payload, remaining).await.map_err(Error::from)
    }))
    .await
}

/// Serve the custom resources `resources` builds from the SDK clients, until Lambda stops us.
#[cfg(feature = "custom-resources")]
pub async fn serve_custom_resources(
    resources: impl FnOnce(Arc<Sdk>) -> Vec<Arc<dyn Resource>>,
) -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A client without the timeout and no-redirect policy is no client: fail init, loudly.
    let responder = Arc::new(HttpResponder::new()?);
    let sdk = Arc::new(Sdk::from_env().await);
    let runtime = Runtime::new(
        resources(sdk.clone()),
        responder,
        sdk.clone(),
        RuntimeConfig::from_env(),
    )
    // One chain answers per request, even when Lambda retries an invocation that handed over.
    .with_claims(
        sdk,
        std::env::var("CLAIMS_PATH").unwrap_or_else(|_| DEFAULT_CLAIMS_PATH.into()),
    );
    let runtime = &runtime;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Raw>| async move {
        let inv = Invocation::from_deadline_ms(
            event.context.deadline,
            event.context.invoked_function_arn,
        );
        runtime
            .handle_raw(event.payload.get(), inv)
            .await
            .map_err(Error::from)
    }))
    .await
}

/// Serve the reconciler: every EventBridge or SNS event is one pass, named by the request ID,
/// ending a safe margin before Lambda's deadline.
#[cfg(feature = "custom-resources")]
pub async fn serve_reconciler() -> Result<(), Error> {
    use autowire::reconcile::{Config, Handler};
    use tokio::sync::OnceCell;
    /// Left at the end of the invocation for the summary and the answer.
    const MARGIN: std::time::Duration = std::time::Duration::from_secs(5);
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = Arc::new(Sdk::from_env().await);
    let handler: OnceCell<Handler<Sdk>> = OnceCell::new();
    let (handler, sdk) = (&handler, &sdk);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Raw>| async move {
        let ctx = event.context;
        let payload = json_of(&event.payload)?;
        let handler = handler
            .get_or_init(|| async {
                Handler::new(sdk.clone(), Config::from_env(&ctx.invoked_function_arn))
            })
            .await;
        let left = std::time::Duration::from_millis(ctx.deadline.saturating_sub(now_ms()));
        let deadline = tokio::time::Instant::now() + left.saturating_sub(MARGIN);
        handler
            .handle(&payload, &ctx.request_id, deadline)
            .await
            .map_err(|e| Error::from(e.reason()))
    }))
    .await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
