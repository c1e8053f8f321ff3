//! Delivery of the answer to the pre-signed ResponseURL.

use async_trait::async_trait;

/// One HTTP PUT of the answer. Retries are the runtime's job, not the responder's.
#[async_trait]
pub trait Responder: Send + Sync {
    async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), String>;
}

#[cfg(feature = "aws")]
pub use http::{HttpResponder, ResponderInitError, PUT_TIMEOUT};

#[cfg(feature = "aws")]
mod http {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::Responder;

    /// PUTs with no Content-Type, as the pre-signed S3 URL was signed without one. Never
    /// follows a redirect, and gives up on one PUT after [`PUT_TIMEOUT`].
    pub struct HttpResponder {
        client: reqwest::Client,
    }

    /// One PUT of the answer may take this long; the runtime retries.
    pub const PUT_TIMEOUT: Duration = Duration::from_secs(10);

    /// The HTTP client could not be built (no TLS backend, say): the function must not start
    /// with a client that lacks the timeout or the no-redirect policy.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot build the HTTP client that answers CloudFormation: {0}")]
    pub struct ResponderInitError(#[source] reqwest::Error);

    impl HttpResponder {
        pub fn new() -> Result<Self, ResponderInitError> {
            Self::with_timeout(PUT_TIMEOUT)
        }

        pub fn with_timeout(timeout: Duration) -> Result<Self, ResponderInitError> {
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(ResponderInitError)?;
            Ok(HttpResponder { client })
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

#[cfg(all(test, feature = "aws"))]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers every connection with `answer` (or never, when `None`).
    async fn server(answer: Option<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/answer", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    match answer {
                        Some(a) => {
                            let _ = s.write_all(a.as_bytes()).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(60)).await,
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let url = server(Some(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n",
        ))
        .await;
        let r = HttpResponder::new()
            .unwrap()
            .put(&url, b"{}".to_vec())
            .await;
        assert_eq!(r, Err("HTTP 307".into()));
    }

    #[tokio::test]
    async fn a_put_that_gets_no_answer_times_out() {
        let url = server(None).await;
        let started = Instant::now();
        let responder = HttpResponder::with_timeout(Duration::from_millis(300)).unwrap();
        assert_eq!(
            responder.put(&url, b"{}".to_vec()).await,
            Err("timeout".into())
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_2xx_is_delivered() {
        let url = server(Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")).await;
        assert_eq!(
            HttpResponder::new().unwrap().put(&url, vec![]).await,
            Ok(())
        );
    }
}
