//! The provider function: `Custom::ServicePublication` and `Custom::ServiceCertificate`.

use autowire::certificate::ServiceCertificate;
use autowire::publication::Publication;
use autowire_lambda::serve_custom_resources;

/// The SNS topic of the services' connection notifications (empty: the schedule decides).
const TOPIC_VAR: &str = "CONNECTION_NOTIFICATION_TOPIC_ARN";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_custom_resources(|sdk| {
        vec![
            std::sync::Arc::new(
                Publication::new(sdk.clone())
                    .with_notification_topic(std::env::var(TOPIC_VAR).ok().as_deref())
                    .with_bus(&std::env::var("EVENT_BUS_NAME").unwrap_or_default()),
            ),
            std::sync::Arc::new(ServiceCertificate::new(sdk)),
        ]
    })
    .await
}
