//! The relay's WebSocket transport: RFC 6455, server side, over any byte stream.
//!
//! Why not the generic stack: an idle seated player is the relay's unit of memory, and
//! tungstenite keeps two buffers per connection for its lifetime (the read buffer, and a
//! write buffer as large as the largest frame ever sent, such as a `room_joined`): about
//! 2 KB of the 5.8 KB an idle seat cost. Here a connection owns no buffer while idle.
//! - Reads go into one scratch buffer per thread; only bytes past the last whole frame
//!   (a frame split across reads, or a second frame behind the first) are copied into
//!   the connection's own buffer, which is freed as soon as it is empty again.
//! - Writes are encoded into one buffer per flush, freed when the flush completes.
//!
//! Frame headers are parsed and formatted by tungstenite's `FrameHeader` (the crate's own,
//! well-tested code); this module adds the rules around them: client frames must be
//! masked, no extensions (RSV bits), control frames short and unfragmented, a fragmented
//! message not interrupted by another, text valid UTF-8, close codes valid, and size
//! limits checked on the declared length before any payload is read.
//!
//! Both `recv` and `flush` are cancel-safe (all state lives in the stream): the relay's
//! connection task `select!`s on them.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, Cursor};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// Bytes read from the socket at once (the per-thread scratch buffer).
const READ_CHUNK: usize = 4096;
/// Longest control frame payload (RFC 6455 5.5).
const MAX_CONTROL: u64 = 125;
/// Frames one message may be split into: a client that streams empty continuation
/// frames forever would otherwise never reach the relay's per-message rate limit.
pub const MAX_FRAGMENTS: usize = 64;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// A frame or message declared or grew past the limit.
    #[error("WebSocket message over {0} bytes")]
    TooLarge(usize),
    #[error("WebSocket protocol violation: {0}")]
    Protocol(&'static str),
    /// The peer closed the TCP stream without a close frame.
    #[error("connection closed without a close frame")]
    Reset,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A message being reassembled from fragments.
struct Partial {
    text: bool,
    data: Vec<u8>,
    frames: usize,
}

/// One server-side WebSocket connection after the HTTP upgrade.
pub struct WsStream<S> {
    io: S,
    /// Bytes read past the last whole frame; empty (no allocation) between frames.
    rbuf: Vec<u8>,
    partial: Option<Partial>,
    /// Encoded frames not written yet, and how much of them is written.
    wbuf: Vec<u8>,
    written: usize,
    max_message: usize,
    /// A close frame arrived or the stream ended: nothing more is read.
    read_done: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// `max_message`: the largest frame, and the largest reassembled message, accepted.
    pub fn new(io: S, max_message: usize) -> Self {
        Self { io, rbuf: Vec::new(), partial: None, wbuf: Vec::new(), written: 0, max_message, read_done: false }
    }

    /// The next message; `None` once the stream ended (after a close frame, or a clean
    /// end of the TCP stream between frames is `Err(Reset)`). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        if self.read_done {
            return Poll::Ready(None);
        }
        let out = self.poll_recv_inner(cx);
        if matches!(out, Poll::Ready(Some(Err(_)) | Some(Ok(Message::Close(_))) | None)) {
            self.read_done = true;
            self.rbuf = Vec::new();
            self.partial = None;
        }
        out
    }

    fn poll_recv_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        loop {
            // Whole frames already buffered.
            while !self.rbuf.is_empty() {
                let mut buf = std::mem::take(&mut self.rbuf);
                let step = self.next_frame(&mut buf);
                match step {
                    Err(e) => return Poll::Ready(Some(Err(e))),
                    Ok(None) => {
                        self.rbuf = buf;
                        break;
                    }
                    Ok(Some((used, msg))) => {
                        if used < buf.len() {
                            buf.drain(..used);
                            self.rbuf = buf;
                        }
                        if let Some(m) = msg {
                            return Poll::Ready(Some(Ok(m)));
                        }
                    }
                }
            }
            // Read more: into the thread's scratch buffer.
            let got = SCRATCH.with(|scratch| -> Poll<Result<Option<Message>, WsError>> {
                let mut scratch = scratch.borrow_mut();
                let mut rb = ReadBuf::new(&mut scratch[..]);
                if let Err(e) = ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb)) {
                    return Poll::Ready(Err(e.into()));
                }
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(WsError::Reset));
                }
                if !self.rbuf.is_empty() {
                    // A frame is already split across reads: add to it.
                    self.rbuf.extend_from_slice(&scratch[..n]);
                    return Poll::Ready(Ok(None));
                }
                // The common case: whole frames straight from the scratch buffer.
                let mut at = 0;
                while at < n {
                    match self.next_frame(&mut scratch[at..n])? {
                        None => break,
                        Some((used, msg)) => {
                            at += used;
                            if msg.is_some() {
                                self.rbuf.extend_from_slice(&scratch[at..n]);
                                return Poll::Ready(Ok(msg));
                            }
                        }
                    }
                }
                self.rbuf.extend_from_slice(&scratch[at..n]);
                Poll::Ready(Ok(None))
            });
            match ready!(got) {
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }

    /// Parses (and unmasks in place) one whole frame at the start of `buf`: the bytes it
    /// used and the message it completed, if any; `None` when the frame is not whole yet.
    fn next_frame(&mut self, buf: &mut [u8]) -> Result<Option<(usize, Option<Message>)>, WsError> {
        let mut cursor = Cursor::new(&*buf);
        let Some((header, len)) = FrameHeader::parse(&mut cursor).map_err(|_| WsError::Protocol("invalid frame header"))? else {
            return Ok(None);
        };
        let head = cursor.position() as usize;
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(WsError::Protocol("reserved bits set (no extension was negotiated)"));
        }
        let Some(mask) = header.mask else {
            return Err(WsError::Protocol("client frames must be masked"));
        };
        let control = matches!(header.opcode, OpCode::Control(_));
        if control && (!header.is_final || len > MAX_CONTROL) {
            return Err(WsError::Protocol("control frames must be whole and at most 125 bytes"));
        }
        let so_far = self.partial.as_ref().map_or(0, |p| p.data.len());
        if len > self.max_message as u64 || (!control && so_far as u64 + len > self.max_message as u64) {
            return Err(WsError::TooLarge(self.max_message));
        }
        let len = len as usize;
        let Some(end) = head.checked_add(len).filter(|&end| end <= buf.len()) else {
            return Ok(None);
        };
        let payload = &mut buf[head..end];
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        let payload = &buf[head..end];
        let msg = match header.opcode {
            OpCode::Control(Control::Ping) => Some(Message::Ping(Bytes::copy_from_slice(payload))),
            OpCode::Control(Control::Pong) => Some(Message::Pong(Bytes::copy_from_slice(payload))),
            OpCode::Control(Control::Close) => Some(Message::Close(close_frame(payload)?)),
            OpCode::Data(Data::Text | Data::Binary) => {
                if self.partial.is_some() {
                    return Err(WsError::Protocol("a new message began inside a fragmented one"));
                }
                let text = header.opcode == OpCode::Data(Data::Text);
                if header.is_final {
                    Some(message(text, payload.to_vec())?)
                } else {
                    self.partial = Some(Partial { text, data: payload.to_vec(), frames: 1 });
                    None
                }
            }
            OpCode::Data(Data::Continue) => {
                let Some(p) = self.partial.as_mut() else {
                    return Err(WsError::Protocol("a continuation frame without a message to continue"));
                };
                p.frames += 1;
                if p.frames > MAX_FRAGMENTS {
                    return Err(WsError::Protocol("a message split into too many frames"));
                }
                p.data.extend_from_slice(payload);
                if header.is_final {
                    let p = self.partial.take().expect("checked above");
                    Some(message(p.text, p.data)?)
                } else {
                    None
                }
            }
            OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                return Err(WsError::Protocol("reserved opcode"));
            }
        };
        Ok(Some((end, msg)))
    }

    /// Queues one message to be written by the next `flush` (nothing is written yet).
    pub fn feed(&mut self, msg: Message) {
        let (opcode, payload): (OpCode, Bytes) = match msg {
            Message::Text(t) => (OpCode::Data(Data::Text), Bytes::from(t)),
            Message::Binary(b) => (OpCode::Data(Data::Binary), b),
            Message::Ping(b) => (OpCode::Control(Control::Ping), b),
            Message::Pong(b) => (OpCode::Control(Control::Pong), b),
            Message::Close(c) => {
                let mut p = Vec::new();
                if let Some(c) = c {
                    p.extend_from_slice(&c.code.to_be_bytes());
                    // A close reason is at most 123 bytes; cut on a character boundary.
                    let mut end = c.reason.len().min(123);
                    while !c.reason.as_str().is_char_boundary(end) {
                        end -= 1;
                    }
                    p.extend_from_slice(&c.reason.as_bytes()[..end]);
                }
                (OpCode::Control(Control::Close), Bytes::from(p))
            }
        };
        let header = FrameHeader { is_final: true, rsv1: false, rsv2: false, rsv3: false, opcode, mask: None };
        if self.wbuf.is_empty() {
            self.wbuf.reserve_exact(header.len(payload.len() as u64) + payload.len());
        }
        header.format(payload.len() as u64, &mut self.wbuf).expect("writing into a Vec cannot fail");
        self.wbuf.extend_from_slice(&payload);
    }

    /// Writes everything fed so far, then frees the write buffer. Cancel-safe: what was
    /// not written stays queued for the next call.
    pub async fn flush(&mut self) -> io::Result<()> {
        while self.written < self.wbuf.len() {
            let n = self.io.write(&self.wbuf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        self.wbuf = Vec::new();
        self.written = 0;
        self.io.flush().await
    }

    /// `feed` then `flush`.
    pub async fn send(&mut self, msg: Message) -> io::Result<()> {
        self.feed(msg);
        self.flush().await
    }
}

/// A whole data message; text must be UTF-8.
fn message(text: bool, data: Vec<u8>) -> Result<Message, WsError> {
    if text {
        let s = String::from_utf8(data).map_err(|_| WsError::Protocol("text message is not UTF-8"))?;
        Ok(Message::Text(Utf8Bytes::from(s)))
    } else {
        Ok(Message::Binary(Bytes::from(data)))
    }
}

/// A close frame's payload: nothing, or a valid code and a UTF-8 reason.
fn close_frame(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("a close frame with a one-byte payload")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !CloseCode::from(code).is_allowed() {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::Protocol("close reason is not UTF-8"))?;
            Ok(Some(CloseFrame { code, reason: Utf8Bytes::from(reason) }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
    use tokio_tungstenite::tungstenite::Message as TMessage;
    use tokio_tungstenite::WebSocketStream;

    const MAX: usize = 1 << 16;

    /// A real client (tokio-tungstenite) and our server over an in-memory pipe.
    async fn pair() -> (WebSocketStream<DuplexStream>, WsStream<DuplexStream>) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let client = WebSocketStream::from_raw_socket(a, Role::Client, Some(WebSocketConfig::default())).await;
        (client, WsStream::new(b, MAX))
    }

    /// A masked client frame, written by hand (for what a real client never sends).
    fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = vec![first];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(m | n as u8),
            n if n <= 0xffff => {
                out.push(m | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(m | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if let Some(k) = mask {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    const K: Option<[u8; 4]> = Some([0x12, 0x34, 0x56, 0x78]);

    async fn raw(bytes: &[u8]) -> (DuplexStream, WsStream<DuplexStream>) {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        a.write_all(bytes).await.unwrap();
        (a, WsStream::new(b, MAX))
    }

    #[tokio::test]
    async fn a_real_client_and_this_server_talk_both_ways() {
        let (mut client, mut server) = pair().await;
        client.send(TMessage::Text("hello".into())).await.unwrap();
        client.send(TMessage::Binary(vec![1, 2, 3].into())).await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::Text("hello".into()));
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::Binary(Bytes::from_static(&[1, 2, 3])));
        let big = vec![7u8; 70_000];
        // Over the limit: refused on the declared length.
        let (mut c2, mut s2) = pair().await;
        c2.send(TMessage::Binary(big.clone().into())).await.unwrap();
        assert!(matches!(s2.recv().await, Some(Err(WsError::TooLarge(MAX)))));
        assert!(s2.recv().await.is_none(), "nothing is read after an error");
        // Within it, across many reads of the scratch buffer.
        client.send(TMessage::Binary(big[..MAX].to_vec().into())).await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::Binary(Bytes::from(big[..MAX].to_vec())));
        assert!(server.rbuf.capacity() == 0, "the read buffer is freed between frames");

        server.feed(Message::Text("one".into()));
        server.feed(Message::Binary(Bytes::from(vec![9u8; 300])));
        server.feed(Message::Ping(Bytes::from_static(b"p")));
        server.flush().await.unwrap();
        assert_eq!(server.wbuf.capacity(), 0, "the write buffer is freed after a flush");
        assert_eq!(client.next().await.unwrap().unwrap(), TMessage::Text("one".into()));
        assert_eq!(client.next().await.unwrap().unwrap(), TMessage::Binary(vec![9u8; 300].into()));
        assert_eq!(client.next().await.unwrap().unwrap(), TMessage::Ping(b"p".to_vec().into()));
        // tungstenite answers the ping with a pong.
        client.flush().await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::Pong(Bytes::from_static(b"p")));

        // A close with a reason, both ways.
        let long = "é".repeat(100);
        server.send(Message::Close(Some(CloseFrame { code: 4000, reason: Utf8Bytes::from(long.as_str()) }))).await.unwrap();
        match client.next().await.unwrap().unwrap() {
            TMessage::Close(Some(c)) => {
                assert_eq!(u16::from(c.code), 4000);
                assert!(c.reason.len() <= 123 && long.starts_with(c.reason.as_str()), "cut on a character boundary");
            }
            other => panic!("{other:?}"),
        }
        // tungstenite echoes the close (written on its next flush).
        let _ = client.flush().await;
        assert!(matches!(server.recv().await, Some(Ok(Message::Close(Some(_))))));
        assert!(server.recv().await.is_none());
    }

    #[tokio::test]
    async fn frames_split_at_every_byte_and_packed_together_arrive_whole() {
        let mut bytes = Vec::new();
        let messages: Vec<(u8, Vec<u8>)> = vec![
            (0x81, b"first".to_vec()),
            (0x82, vec![0u8; 200]),
            (0x89, b"ping".to_vec()),
            (0x82, vec![5u8; 5000]),
            (0x81, "ü".as_bytes().to_vec()),
        ];
        for (op, p) in &messages {
            bytes.extend(frame(*op, p, K));
        }
        // A message in three fragments with a ping between them.
        bytes.extend(frame(0x01, b"ab", K));
        bytes.extend(frame(0x89, b"", K));
        bytes.extend(frame(0x00, b"cd", K));
        bytes.extend(frame(0x80, b"ef", K));
        let want = |m: &mut Vec<Message>| {
            assert_eq!(m.len(), 7, "{m:?}");
            assert_eq!(m[0], Message::Text("first".into()));
            assert_eq!(m[1], Message::Binary(Bytes::from(vec![0u8; 200])));
            assert_eq!(m[2], Message::Ping(Bytes::from_static(b"ping")));
            assert_eq!(m[3], Message::Binary(Bytes::from(vec![5u8; 5000])));
            assert_eq!(m[4], Message::Text("ü".into()));
            assert_eq!(m[5], Message::Ping(Bytes::new()));
            assert_eq!(m[6], Message::Text("abcdef".into()));
        };
        // All at once.
        let (_a, mut s) = raw(&bytes).await;
        let mut got = Vec::new();
        for _ in 0..7 {
            got.push(s.recv().await.unwrap().unwrap());
        }
        want(&mut got);
        // One byte at a time, and in odd-sized pieces.
        for piece in [1usize, 3, 7, 127, 4095, 4097] {
            let (mut a, b) = tokio::io::duplex(1 << 20);
            let mut s = WsStream::new(b, MAX);
            let chunks: Vec<Vec<u8>> = bytes.chunks(piece).map(|c| c.to_vec()).collect();
            let writer = tokio::spawn(async move {
                for c in chunks {
                    a.write_all(&c).await.unwrap();
                    tokio::task::yield_now().await;
                }
                a
            });
            let mut got = Vec::new();
            for _ in 0..7 {
                got.push(s.recv().await.unwrap().unwrap());
            }
            want(&mut got);
            drop(writer.await.unwrap());
            assert!(matches!(s.recv().await, Some(Err(WsError::Reset))), "piece {piece}");
        }
    }

    #[tokio::test]
    async fn hostile_frames_are_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unmasked", frame(0x81, b"x", None)),
            ("rsv1", frame(0xC1, b"x", K)),
            ("rsv3", frame(0x91, b"x", K)),
            ("reserved data opcode", frame(0x83, b"x", K)),
            ("reserved control opcode", frame(0x8B, b"", K)),
            ("fragmented ping", frame(0x09, b"", K)),
            ("long ping", frame(0x89, &[0u8; 126], K)),
            ("continuation first", frame(0x80, b"x", K)),
            ("new message inside a fragmented one", [frame(0x01, b"a", K), frame(0x81, b"b", K)].concat()),
            ("bad utf-8", frame(0x81, &[0xff, 0xfe], K)),
            ("utf-8 cut across fragments, never finished right", [frame(0x01, &[0xc3], K), frame(0x80, &[0x41], K)].concat()),
            ("one-byte close", frame(0x88, &[3], K)),
            ("close code 1005", frame(0x88, &1005u16.to_be_bytes(), K)),
            ("close code 999", frame(0x88, &999u16.to_be_bytes(), K)),
            ("close reason not utf-8", frame(0x88, &[0x03, 0xe8, 0xff], K)),
        ];
        for (what, bytes) in cases {
            let (_a, mut s) = raw(&bytes).await;
            let got = s.recv().await;
            assert!(matches!(got, Some(Err(WsError::Protocol(_)))), "{what}: {got:?}");
            assert!(s.recv().await.is_none(), "{what}: nothing is read after an error");
        }
        // Too many fragments.
        let mut many = frame(0x02, b"a", K);
        for _ in 0..MAX_FRAGMENTS {
            many.extend(frame(0x00, b"", K));
        }
        let (_a, mut s) = raw(&many).await;
        assert!(matches!(s.recv().await, Some(Err(WsError::Protocol(_)))));
        // Exactly the most fragments is fine.
        let mut ok = frame(0x02, b"a", K);
        for _ in 0..MAX_FRAGMENTS - 2 {
            ok.extend(frame(0x00, b"", K));
        }
        ok.extend(frame(0x80, b"b", K));
        let (_a, mut s) = raw(&ok).await;
        assert_eq!(s.recv().await.unwrap().unwrap(), Message::Binary(Bytes::from_static(b"ab")));
    }

    #[tokio::test]
    async fn sizes_are_checked_on_the_declared_length_and_across_fragments() {
        // A header claiming u64::MAX bytes: refused at once, nothing buffered.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.extend_from_slice(&[1, 2, 3, 4]);
        let (_a, mut s) = raw(&huge).await;
        assert!(matches!(s.recv().await, Some(Err(WsError::TooLarge(MAX)))));
        // Exactly the limit in one frame passes; one more byte does not.
        let (_a, mut s) = raw(&frame(0x82, &vec![1u8; MAX], K)).await;
        assert_eq!(frame_len(s.recv().await.unwrap().unwrap()), MAX);
        let (_a, mut s) = raw(&frame(0x82, &vec![1u8; MAX + 1], K)).await;
        assert!(matches!(s.recv().await, Some(Err(WsError::TooLarge(MAX)))));
        // Fragments adding up past the limit.
        let half = vec![1u8; MAX / 2 + 1];
        let (_a, mut s) = raw(&[frame(0x02, &half, K), frame(0x80, &half, K)].concat()).await;
        assert!(matches!(s.recv().await, Some(Err(WsError::TooLarge(MAX)))));
        // A stream ending mid-frame is a reset, not a message.
        let mut cut = frame(0x82, &[1u8; 50], K);
        cut.truncate(30);
        let (a, mut s) = raw(&cut).await;
        drop(a);
        assert!(matches!(s.recv().await, Some(Err(WsError::Reset))));
    }

    fn frame_len(m: Message) -> usize {
        match m {
            Message::Binary(b) => b.len(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        // Half a frame, a cancelled recv, then the rest: the message arrives whole.
        let bytes = frame(0x81, b"cancel me not", K);
        let (mut a, b) = tokio::io::duplex(1 << 10);
        let mut s = WsStream::new(b, MAX);
        a.write_all(&bytes[..5]).await.unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_millis(50), s.recv()).await;
        assert!(first.is_err(), "nothing whole yet");
        a.write_all(&bytes[5..]).await.unwrap();
        assert_eq!(s.recv().await.unwrap().unwrap(), Message::Text("cancel me not".into()));
        // Writes: a flush blocked by a full pipe, cancelled, then resumed, loses nothing.
        let big = vec![3u8; 3000];
        s.feed(Message::Binary(Bytes::from(big.clone())));
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), s.flush()).await;
        assert!(blocked.is_err(), "the 1 KiB pipe cannot take 3 KB");
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 3004];
            a.read_exact(&mut got).await.unwrap();
            got
        });
        s.flush().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..4], &[0x82, 126, 0x0b, 0xb8]);
        assert_eq!(&got[4..], &big[..]);
    }
}
