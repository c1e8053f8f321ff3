//! The HTTP stage on loopback sockets: the whole answer read, however it is framed; a cut
//! connection is `http_error`; the body's cap; `expect_body_contains`. And each address tried.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server on 127.0.0.1 that answers each connection with the next of `answers` (after reading
/// the request), then closes it.
async fn serve(answers: Vec<Vec<u8>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for answer in answers {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(&answer).await;
            let _ = s.shutdown().await;
        }
    });
    port
}

fn http_target(port: u16, check: serde_json::Value) -> serde_json::Value {
    json!({"host": "127.0.0.1", "port": port, "http": check})
}

async fn one(answer: &[u8], check: serde_json::Value) -> TargetReport {
    let port = serve(vec![answer.to_vec()]).await;
    let i = input(json!({ "targets": [http_target(port, check)] }));
    run(&i, soon()).await.targets.remove(0)
}

fn class(t: &TargetReport) -> Option<ErrorClass> {
    t.error.as_ref().map(|e| e.class)
}

#[tokio::test]
async fn a_body_cut_before_its_content_length_is_an_http_error() {
    let t = one(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
        json!({}),
    )
    .await;
    assert_eq!(
        (t.ok, t.stage, class(&t)),
        (false, Stage::Http, Some(ErrorClass::HttpError))
    );
    let message = &t.error.as_ref().unwrap().message;
    assert!(
        message.contains("connection closed after 9 of 100 body bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn a_whole_body_is_read_by_length_chunks_or_close() {
    for (answer, bytes) in [
        (&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[..], 5),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            11,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil the server closes", 23),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 0),
    ] {
        let want = if bytes == 0 { 204 } else { 200 };
        let t = one(answer, json!({ "expect_status": want })).await;
        assert!(t.ok, "{t:?}");
        let http = t.http.unwrap();
        assert_eq!((http.status, http.body_bytes, http.body_capped), (want, bytes, false));
    }
}

#[tokio::test]
async fn a_chunked_body_cut_in_a_chunk_is_an_http_error() {
    let t = one(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n20\r\nshort",
        json!({}),
    )
    .await;
    assert_eq!(class(&t), Some(ErrorClass::HttpError), "{t:?}");
    assert!(t
        .error
        .unwrap()
        .message
        .contains("chunked body after 10 bytes"));
}

#[tokio::test]
async fn a_head_cut_short_or_not_http_is_an_http_error() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"",
    ] {
        let t = one(answer, json!({})).await;
        assert_eq!(class(&t), Some(ErrorClass::HttpError), "{t:?}");
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_read_up_to_it() {
    let cap = http_cap();
    let mut answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", cap * 2).into_bytes();
    answer.extend(std::iter::repeat_n(b'x', cap as usize * 2));
    let t = one(&answer, json!({})).await;
    assert!(t.ok, "{t:?}");
    let http = t.http.unwrap();
    assert_eq!((http.body_bytes, http.body_capped), (cap, true));
}

fn http_cap() -> u64 {
    super::super::http::MAX_BODY_BYTES
}

#[tokio::test]
async fn the_body_must_contain_what_is_expected() {
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"up\"}";
    let t = one(answer, json!({"expect_body_contains": "\"up\""})).await;
    assert!(t.ok, "{t:?}");
    let t = one(answer, json!({"expect_body_contains": "\"down\""})).await;
    assert_eq!(
        (t.stage, class(&t)),
        (Stage::Http, Some(ErrorClass::HttpBody))
    );
    assert_eq!(t.http.unwrap().status, 200, "the status is still reported");
}

#[tokio::test]
async fn each_address_is_tried_until_one_answers() {
    let port = serve(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()
    ])
    .await;
    // Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only): refused, then next.
    let i = input(json!({
        "targets": [{"host": "svc.test", "port": port, "http": {}}],
        "hosts": {"svc.test": ["127.0.0.2", "127.0.0.1"]},
        "system_dns": false,
    }));
    let t = run(&i, soon()).await.targets.remove(0);
    assert!(t.ok, "{t:?}");
    assert_eq!(t.addresses, ["127.0.0.2", "127.0.0.1"]);
    assert_eq!(t.address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn when_every_address_fails_each_is_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let i = input(json!({
        "targets": [{"host": "svc.test", "port": closed}],
        "hosts": {"svc.test": ["127.0.0.2", "127.0.0.1"]},
        "system_dns": false,
    }));
    let t = run(&i, soon()).await.targets.remove(0);
    assert_eq!(
        (t.stage, class(&t)),
        (Stage::Tcp, Some(ErrorClass::TcpRefused))
    );
    assert_eq!(t.address, None);
    let message = t.error.unwrap().message;
    assert!(
        message.contains("127.0.0.1") && message.contains("127.0.0.2"),
        "{message}"
    );
}
