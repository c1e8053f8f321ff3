//! The provider function: `Custom::ServicePublication` and `Custom::ServiceCertificate`.

use autowire::certificate::ServiceCertificate;
use autowire::publication::Publication;
use autowire_lambda::serve_custom_resources;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_custom_resources(|sdk| {
        vec![
            std::sync::Arc::new(Publication::new(sdk.clone())),
            std::sync::Arc::new(ServiceCertificate::new(sdk)),
        ]
    })
    .await
}
