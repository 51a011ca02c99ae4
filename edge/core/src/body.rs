//! The request body limit every edge adapter enforces while it reads a body, and the answer
//! it gives above it. Origin has its own, smaller limits per route; this one only keeps a
//! runaway body from exhausting an instance (Workers and Fastly give 128 MB).

use aethex_protocol::rpc::{ErrorCode, RpcError};

/// Largest request body (and upstream response body) an edge reads into memory.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Declared or found longer than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The platform failed to read it.
    Failed(String),
}

impl BodyError {
    /// The answer to a client whose request body was not read: `413` or `400`.
    pub fn to_rpc(&self) -> RpcError {
        match self {
            BodyError::TooLarge => too_large(MAX_BODY_BYTES),
            BodyError::Failed(e) => {
                RpcError::new(ErrorCode::INVALID_REQUEST, "Invalid request").with_reason(format!("request body could not be read: {e}"))
            }
        }
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => write!(f, "body over {MAX_BODY_BYTES} bytes"),
            BodyError::Failed(e) => write!(f, "reading the body: {e}"),
        }
    }
}

/// The `413` answer to a request body over `limit` bytes.
pub fn too_large(limit: usize) -> RpcError {
    RpcError::new(ErrorCode::PAYLOAD_TOO_LARGE, "Payload too large").with_reason(format!("request bodies are limited to {limit} bytes"))
}

/// The `content-length` a message declares, if it is a number.
pub fn declared_length(value: Option<&str>) -> Option<u64> {
    value?.trim().parse().ok()
}

/// A body read in chunks, refused as soon as it passes [`MAX_BODY_BYTES`].
pub struct BodyBuffer {
    out: Vec<u8>,
}

impl BodyBuffer {
    /// Starts a body of `declared` length (refused at once when that is over the limit).
    /// The buffer is sized to the declared length, so it never doubles past need.
    pub fn new(declared: Option<u64>) -> Result<Self, BodyError> {
        match declared {
            Some(n) if n > MAX_BODY_BYTES as u64 => Err(BodyError::TooLarge),
            n => Ok(BodyBuffer { out: Vec::with_capacity(n.unwrap_or(0) as usize) }),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if self.out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        self.out.extend_from_slice(chunk);
        Ok(())
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_for_declared_and_read_lengths() {
        assert_eq!(BodyBuffer::new(Some(MAX_BODY_BYTES as u64 + 1)).err(), Some(BodyError::TooLarge));
        let mut b = BodyBuffer::new(None).unwrap();
        b.push(&vec![0; MAX_BODY_BYTES - 1]).unwrap();
        b.push(&[1]).unwrap();
        assert_eq!(b.push(&[2]), Err(BodyError::TooLarge));
        assert_eq!(b.finish().len(), MAX_BODY_BYTES);
        // A declared length that lies short does not let more through.
        assert_eq!(BodyBuffer::new(Some(1)).unwrap().push(&vec![0; MAX_BODY_BYTES + 1]), Err(BodyError::TooLarge));
        assert_eq!(declared_length(Some(" 12 ")), Some(12));
        assert_eq!(declared_length(Some("x")), None);
        assert_eq!(BodyError::TooLarge.to_rpc().code, ErrorCode::PAYLOAD_TOO_LARGE);
    }
}
