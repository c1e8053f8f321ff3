//! The one place that knows lambda_runtime: build the SDK clients once, hand each invocation to
//! the custom-resource runtime, and keep it running. Each function's `main` picks its resources.

use std::sync::Arc;

use autowire::aws::sdk::Sdk;
use autowire::cfn::{HttpResponder, Invocation, Resource, Runtime, RuntimeConfig};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

/// Serve the custom resources `resources` builds from the SDK clients, until Lambda stops us.
pub async fn serve_custom_resources(
    resources: impl FnOnce(Arc<Sdk>) -> Vec<Arc<dyn Resource>>,
) -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = Arc::new(Sdk::from_env().await);
    let runtime = Runtime::new(
        resources(sdk.clone()),
        Arc::new(HttpResponder::new()),
        sdk,
        RuntimeConfig::from_env(),
    );
    let runtime = &runtime;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let inv = Invocation::from_deadline_ms(
            event.context.deadline,
            event.context.invoked_function_arn,
        );
        runtime
            .handle(event.payload, inv)
            .await
            .map_err(Error::from)
    }))
    .await
}
