//! The HTTP stage's exchange: one GET over the open connection, and the whole response read as
//! HTTP/1.1 frames it (Content-Length, chunked, or until the server closes), bounded. A
//! connection cut before the body's end is an error, not a pass.

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};

/// The status line and headers may take this many bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The body is read up to this many bytes; the rest is not read (and the answer still counts).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// What the server answered.
#[derive(Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    /// The body read, up to [`MAX_BODY_BYTES`]; kept only when asked for.
    pub body: Vec<u8>,
    pub body_bytes: u64,
    /// The body was longer than [`MAX_BODY_BYTES`].
    pub capped: bool,
}

/// How the body ends.
#[derive(Debug, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Send a GET for `path` to `host` and read the whole answer. `keep_body`: keep the body's bytes
/// (up to the cap) in the [`Response`]. The error is the message of an `http_error`.
pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    path: &str,
    keep_body: bool,
) -> Result<Response, String> {
    let mut stream = BufReader::new(stream);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: privatelink-autowire-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let (status, framing) = loop {
        let (status, framing) = head(&mut stream).await?;
        // 1xx answers (100 Continue, 103 Early Hints) come before the real one.
        if !(100..200).contains(&status) || status == 101 {
            break (status, framing);
        }
    };
    let mut body = Body {
        keep: keep_body,
        ..Body::default()
    };
    match framing {
        Framing::None => {}
        Framing::Length(n) => body.exactly(&mut stream, n).await?,
        Framing::Chunked => body.chunked(&mut stream).await?,
        Framing::UntilClose => body.until_close(&mut stream).await?,
    }
    Ok(Response {
        status,
        body: body.bytes,
        body_bytes: body.read,
        capped: body.capped,
    })
}

/// One line, CRLF (or LF) ended, within `limit` bytes. `None` at a clean end of the stream.
async fn line<R: AsyncBufRead + Unpin>(r: &mut R, limit: usize) -> Result<Option<String>, String> {
    let mut buf = Vec::new();
    let n = (&mut *r)
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(if n > limit {
            format!("a line of the answer is longer than {limit} bytes")
        } else {
            "connection closed in the middle of the answer's head".into()
        });
    }
    Ok(Some(
        String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    ))
}

/// The status line and headers: the status and how the body is framed.
async fn head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<(u16, Framing), String> {
    let status_line = line(r, MAX_HEAD_BYTES)
        .await?
        .ok_or_else(|| "connection closed without an answer".to_string())?;
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "not an HTTP answer".to_string())?;
    let (mut length, mut chunked, mut used) = (None, false, status_line.len());
    loop {
        let header = line(r, MAX_HEAD_BYTES - used.min(MAX_HEAD_BYTES))
            .await?
            .ok_or_else(|| "connection closed in the middle of the answer's head".to_string())?;
        used += header.len() + 2;
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(format!("malformed header line '{header}'"));
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| format!("Content-Length '{value}' is not a number"))?,
            );
        } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok((status, framing))
}

/// The body as it is read: counted, kept up to the cap when asked.
#[derive(Default)]
struct Body {
    keep: bool,
    bytes: Vec<u8>,
    read: u64,
    capped: bool,
}

impl Body {
    /// Room left under the cap.
    fn room(&self) -> u64 {
        MAX_BODY_BYTES.saturating_sub(self.read)
    }

    fn take(&mut self, chunk: &[u8]) {
        self.read += chunk.len() as u64;
        if self.keep {
            self.bytes.extend_from_slice(chunk);
        }
    }

    /// Read `n` bytes (or up to the cap); fewer before the stream ends is a cut connection.
    async fn exactly<R: AsyncRead + Unpin>(&mut self, r: &mut R, n: u64) -> Result<(), String> {
        let (want, start) = (n.min(self.room()), self.read);
        let mut left = want;
        let mut buf = [0u8; 8192];
        while left > 0 {
            let got = match r.read(&mut buf[..left.min(8192) as usize]).await {
                Ok(0) => 0,
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(format!("reading the body: {e}")),
            };
            if got == 0 {
                return Err(format!(
                    "connection closed after {} of {n} body bytes",
                    self.read - start
                ));
            }
            self.take(&buf[..got]);
            left -= got as u64;
        }
        self.capped |= want < n;
        Ok(())
    }

    /// A chunked body: chunks until the empty one, then the trailers.
    async fn chunked<R: AsyncBufRead + Unpin>(&mut self, r: &mut R) -> Result<(), String> {
        let cut = |read: u64| format!("connection closed in the chunked body after {read} bytes");
        loop {
            let size_line = line(r, 1024).await?.ok_or_else(|| cut(self.read))?;
            let hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(hex, 16)
                .map_err(|_| format!("chunk size '{hex}' is not hexadecimal"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !line(r, MAX_HEAD_BYTES)
                    .await?
                    .ok_or_else(|| cut(self.read))?
                    .is_empty()
                {}
                return Ok(());
            }
            if size > self.room() {
                let room = self.room();
                self.exactly(r, room).await.map_err(|_| cut(self.read))?;
                self.capped = true;
                return Ok(());
            }
            self.exactly(r, size).await.map_err(|_| cut(self.read))?;
            line(r, 2).await?.ok_or_else(|| cut(self.read))?;
        }
    }

    /// No length given: the body ends when the server closes (up to the cap).
    async fn until_close<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<(), String> {
        let mut buf = [0u8; 8192];
        loop {
            let room = self.room();
            if room == 0 {
                self.capped = true;
                return Ok(());
            }
            match r.read(&mut buf[..room.min(8192) as usize]).await {
                Ok(0) => return Ok(()),
                Ok(got) => self.take(&buf[..got]),
                // A TLS server that closes without close_notify: nothing frames this body
                // anyway, so its end is the close.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(format!("reading the body: {e}")),
            }
        }
    }
}
