//! The consumer function: `Custom::ServiceEndpoint` (a link).

use autowire::link::Link;
use autowire_lambda::serve_custom_resources;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_custom_resources(|sdk| vec![std::sync::Arc::new(Link::new(sdk))]).await
}
