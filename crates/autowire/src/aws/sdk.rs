//! Thin adapters from the AWS SDK for Rust to the capability traits. No decisions here: calls,
//! pagination and error mapping only.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::Value;

use super::{Descriptors, Functions, Markers, Owner, StoredParameter, Tier, Zones};

mod acm;
mod consumer;
mod egress;
mod events;
mod listeners;
mod provider;
mod route53;
use crate::error::{Error, Operation, Result};

/// The SDK clients, built once per Lambda container.
#[derive(Clone, Debug)]
pub struct Sdk {
    pub ec2: aws_sdk_ec2::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub route53: aws_sdk_route53::Client,
    pub acm: aws_sdk_acm::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl Sdk {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Sdk {
            ec2: aws_sdk_ec2::Client::new(config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
            acm: aws_sdk_acm::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }

    /// Clients from the environment (credentials, region, and `AWS_ENDPOINT_URL` if set).
    pub async fn from_env() -> Self {
        let config = config_loader()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
            .load()
            .await;
        Self::new(&config)
    }
}

/// The SDK's config loader with its HTTPS client on rustls with ring. The SDK crates are built
/// without their default client (rustls on aws-lc), so every config must start here.
pub fn config_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(client)
}

/// Map an SDK error to ours, keeping AWS's code and message.
pub fn sdk_error<E, R>(op: Operation, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    match &err {
        SdkError::ServiceError(_) => Error::aws(
            op,
            err.code().unwrap_or("Unknown"),
            err.message().unwrap_or("no message"),
        ),
        SdkError::TimeoutError(_) => Error::aws(op, "timeout", "the call timed out"),
        SdkError::DispatchFailure(_) => Error::aws(
            op,
            "dispatch",
            format!("could not reach AWS: {}", DisplayErrorContext(&err)),
        ),
        _ => Error::aws(op, "Unknown", DisplayErrorContext(&err).to_string()),
    }
}

fn code_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

#[async_trait]
impl Zones for Sdk {
    async fn zone_ids_by_name(&self) -> Result<BTreeMap<String, String>> {
        let out = self
            .ec2
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| sdk_error("ec2:DescribeAvailabilityZones", e))?;
        Ok(out
            .availability_zones()
            .iter()
            .filter_map(|z| Some((z.zone_name()?.to_string(), z.zone_id()?.to_string())))
            .collect())
    }
}

impl Sdk {
    /// PutParameter: a create (with tags, no overwrite) when `tags` is given, else an overwrite.
    /// SSM refuses tags together with Overwrite, so the two never mix.
    async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        tier: Tier,
        tags: Option<Vec<aws_sdk_ssm::types::Tag>>,
    ) -> Result<()> {
        let overwrite = tags.is_none();
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .tier(ssm_tier(tier))
            .set_tags(tags)
            .overwrite(overwrite)
            .send()
            .await
            .map_err(|e| sdk_error("ssm:PutParameter", e))?;
        Ok(())
    }
}

#[async_trait]
impl Markers for Sdk {
    async fn mark(&self, name: &str, value: &str, expires: std::time::SystemTime) -> Result<bool> {
        let at = aws_smithy_types::DateTime::from(expires);
        let at = aws_smithy_types::DateTime::from_secs(at.secs())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .map_err(|e| Error::Unsupported(format!("marker expiry: {e}")))?;
        let policy = serde_json::json!([
            { "Type": "Expiration", "Version": "1.0", "Attributes": { "Timestamp": at } }
        ]);
        let put = self
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
            .policies(policy.to_string())
            .overwrite(false)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if code_of(&e) == Some("ParameterAlreadyExists") => Ok(false),
            Err(e) => Err(sdk_error("ssm:PutParameter", e)),
        }
    }

    async fn marked(&self, name: &str) -> Result<Option<String>> {
        Ok(Descriptors::read(self, name).await?.map(|p| p.value))
    }
}

fn ssm_tier(t: Tier) -> aws_sdk_ssm::types::ParameterTier {
    match t {
        Tier::Standard => aws_sdk_ssm::types::ParameterTier::Standard,
        Tier::Advanced => aws_sdk_ssm::types::ParameterTier::Advanced,
    }
}

#[async_trait]
impl Descriptors for Sdk {
    async fn read(&self, name_or_arn: &str) -> Result<Option<StoredParameter>> {
        match self.ssm.get_parameter().name(name_or_arn).send().await {
            Ok(out) => Ok(out.parameter().map(|p| StoredParameter {
                value: p.value().unwrap_or_default().to_string(),
                arn: p.arn().map(str::to_string),
            })),
            Err(e) if code_of(&e) == Some("ParameterNotFound") => Ok(None),
            Err(e) => Err(sdk_error("ssm:GetParameter", e)),
        }
    }

    async fn owner(&self, name: &str) -> Result<Option<Owner>> {
        let out = self
            .ssm
            .list_tags_for_resource()
            .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
            .resource_id(name)
            .send()
            .await
            .map_err(|e| sdk_error("ssm:ListTagsForResource", e))?;
        let tags: BTreeMap<String, String> = out
            .tag_list()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        Ok(Owner::from_tags(&tags))
    }

    async fn create(&self, name: &str, value: &str, tier: Tier, owner: &Owner) -> Result<()> {
        let tags = owner
            .tags()
            .into_iter()
            .map(|(k, v)| aws_sdk_ssm::types::Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::aws("ssm:PutParameter", "InvalidTag", e.to_string()))?;
        self.put_parameter(name, value, tier, Some(tags)).await
    }

    async fn overwrite(&self, name: &str, value: &str, tier: Tier) -> Result<()> {
        self.put_parameter(name, value, tier, None).await
    }

    async fn delete(&self, name: &str) -> Result<()> {
        match self.ssm.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ParameterNotFound") => Ok(()),
            Err(e) => Err(sdk_error("ssm:DeleteParameter", e)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<(String, String)>> {
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("ssm:GetParametersByPath", e))?;
            for p in page.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    out.push((name.to_string(), value.to_string()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn read_many(&self, names_or_arns: &[String]) -> Result<Vec<(String, StoredParameter)>> {
        let mut out = Vec::new();
        for batch in names_or_arns.chunks(10) {
            let page = self
                .ssm
                .get_parameters()
                .set_names(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| sdk_error("ssm:GetParameters", e))?;
            for p in page.parameters() {
                let stored = StoredParameter {
                    value: p.value().unwrap_or_default().to_string(),
                    arn: p.arn().map(str::to_string),
                };
                // Answered by name; match it to what was asked (a name or an ARN).
                let asked = batch
                    .iter()
                    .find(|a| Some(a.as_str()) == p.name() || Some(a.as_str()) == p.arn());
                if let Some(asked) = asked {
                    out.push((asked.clone(), stored));
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Functions for Sdk {
    async fn invoke_async(&self, function_arn: &str, payload: Value) -> Result<()> {
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        self.lambda
            .invoke()
            .function_name(function_arn)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_smithy_types::Blob::new(bytes))
            .send()
            .await
            .map_err(|e| sdk_error("lambda:Invoke", e))?;
        Ok(())
    }

    async fn invoke(&self, function_arn: &str, payload: Value) -> Result<Value> {
        const OP: Operation = "lambda:Invoke";
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let out = self
            .lambda
            .invoke()
            .function_name(function_arn)
            .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
            .payload(aws_smithy_types::Blob::new(bytes))
            .send()
            .await
            .map_err(|e| sdk_error(OP, e))?;
        let body = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(kind) = out.function_error() {
            let message = value["errorMessage"]
                .as_str()
                .unwrap_or("no message")
                .to_string();
            return Err(Error::aws(OP, format!("FunctionError.{kind}"), message));
        }
        Ok(value)
    }
}
