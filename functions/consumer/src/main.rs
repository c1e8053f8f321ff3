//! The consumer function: `Custom::ServiceEndpoint` (a link).

use autowire::link::Link;
use autowire_lambda::serve_custom_resources;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The consumer stack's bus: where links with AliasCertificate: request ask their provider.
    let bus = std::env::var("EVENT_BUS_NAME").unwrap_or_default();
    serve_custom_resources(|sdk| vec![std::sync::Arc::new(Link::new(sdk).with_bus(bus))]).await
}
