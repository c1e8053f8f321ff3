//! The provider function: `Custom::ServicePublication` and `Custom::ServiceCertificate`.

use std::sync::Arc;

use autowire::aws::sdk::Sdk;
use autowire::certificate::ServiceCertificate;
use autowire::cfn::{HttpResponder, Invocation, Runtime, RuntimeConfig};
use autowire::publication::Publication;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = Arc::new(Sdk::from_env().await);
    let runtime = Runtime::new(
        vec![
            Arc::new(Publication::new(sdk.clone())),
            Arc::new(ServiceCertificate::new(sdk.clone())),
        ],
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
