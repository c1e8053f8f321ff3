//! The reconciler function (contract §3): EventBridge and SNS events in, one pass out.

use autowire_lambda::serve_reconciler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_reconciler().await
}
