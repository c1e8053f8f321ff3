//! Delivery of the answer to the pre-signed ResponseURL.

use async_trait::async_trait;

/// One HTTP PUT of the answer. Retries are the runtime's job, not the responder's.
#[async_trait]
pub trait Responder: Send + Sync {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String>;
}

#[cfg(feature = "aws")]
pub use http::HttpResponder;

#[cfg(feature = "aws")]
mod http {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::Responder;

    /// PUTs with no Content-Type, as the pre-signed S3 URL was signed without one.
    pub struct HttpResponder {
        client: reqwest::Client,
    }

    impl HttpResponder {
        pub fn new() -> Self {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default();
            HttpResponder { client }
        }
    }

    impl Default for HttpResponder {
        fn default() -> Self {
            Self::new()
        }
    }

    #[async_trait]
    impl Responder for HttpResponder {
        async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
            let resp = self
                .client
                .put(url)
                .body(body)
                .send()
                .await
                // Only the error kind: its Display would include the URL and its signature.
                .map_err(|e| {
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else if e.is_connect() {
                        "connect error"
                    } else {
                        "request error"
                    };
                    kind.to_string()
                })?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", resp.status().as_u16()))
            }
        }
    }
}
