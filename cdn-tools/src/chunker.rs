//! Content-defined chunking (FastCDC 2020) over a stream, with boundaries identical to
//! chunking the whole file in memory: a cut is only searched once at least `max_size` bytes
//! are buffered (or the file has ended), and a FastCDC cut never looks further than
//! `max_size` bytes from the chunk start.

use std::io::{ErrorKind, Read};

use aethex_protocol::dlc::{Chunking, MAX_CHUNK_BYTES};
use fastcdc::v2020::{self, Normalization};

use crate::error::{Error, Result};

/// The algorithm name recorded in manifests.
pub const ALGORITHM: &str = "fastcdc-2020";

/// Chunk size bounds in bytes. See the crate README for how the defaults were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

impl ChunkParams {
    /// 16 KiB / 64 KiB / 256 KiB, chosen by measurement (README, "Chunk sizes").
    pub const DEFAULT: ChunkParams = ChunkParams { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

    /// Checks the bounds against FastCDC's limits and the protocol's [`MAX_CHUNK_BYTES`].
    pub fn new(min: u32, avg: u32, max: u32) -> Result<Self> {
        let p = ChunkParams { min, avg, max };
        let (mn, av, mx) = (min as usize, avg as usize, max as usize);
        let ok = (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&mn)
            && (v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&av)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&mx)
            && min < avg
            && avg < max
            && (min | avg | max) & 1 == 0
            && u64::from(max) <= MAX_CHUNK_BYTES;
        if ok {
            Ok(p)
        } else {
            Err(Error::Invalid(format!(
                "chunk sizes {min}/{avg}/{max}: need even min < avg < max, min 64..1 MiB, avg 256..4 MiB, max 1 KiB..{MAX_CHUNK_BYTES}"
            )))
        }
    }

    /// The parameters a manifest was built with (to chunk local files the same way).
    pub fn from_chunking(c: &Chunking) -> Result<Self> {
        if c.algorithm != ALGORITHM {
            return Err(Error::Invalid(format!("chunking algorithm {:?} is not {ALGORITHM}", c.algorithm)));
        }
        Self::new(c.min_size, c.avg_size, c.max_size)
    }

    pub fn chunking(&self) -> Chunking {
        Chunking { algorithm: ALGORITHM.into(), min_size: self.min, avg_size: self.avg, max_size: self.max }
    }
}

impl Default for ChunkParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A FastCDC 2020 chunker (normalization level 1, the crate's default) for one set of
/// parameters.
#[derive(Debug, Clone)]
pub struct Chunker {
    params: ChunkParams,
    mask_s: u64,
    mask_l: u64,
}

impl Chunker {
    pub fn new(params: ChunkParams) -> Self {
        let (mask_s, mask_l) = v2020::select_masks(params.avg as usize, Normalization::Level1);
        Chunker { params, mask_s, mask_l }
    }

    pub fn params(&self) -> ChunkParams {
        self.params
    }

    /// Length of the chunk starting at `data[0]`. `data` must hold at least `max` bytes
    /// unless it is the end of the file.
    pub fn cut(&self, data: &[u8]) -> usize {
        let p = self.params;
        let (_, n) = v2020::cut(data, p.min as usize, p.avg as usize, p.max as usize, self.mask_s, self.mask_l, self.mask_s << 1, self.mask_l << 1);
        n
    }

    /// Chunk boundaries of an in-memory buffer, as `(offset, length)`.
    pub fn chunks_of(&self, data: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let n = self.cut(&data[at..]);
            out.push((at, n));
            at += n;
        }
        out
    }

    /// The size of the read buffer [`Chunker::stream`] wants.
    pub fn buffer_size(&self) -> usize {
        (4 << 20).max(4 * self.params.max as usize)
    }

    /// Reads `reader` to its end and calls `on_chunk` with each chunk in order; `buf` is
    /// reused between calls (it grows to [`Chunker::buffer_size`]). Returns the bytes read.
    pub fn stream<R: Read, E: From<std::io::Error>>(
        &self,
        mut reader: R,
        buf: &mut Vec<u8>,
        mut on_chunk: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let cap = self.buffer_size();
        buf.resize(cap, 0);
        let (mut len, mut total, mut eof) = (0usize, 0u64, false);
        loop {
            while !eof && len < cap {
                match reader.read(&mut buf[len..]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        len += n;
                        total += n as u64;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut at = 0;
            while at < len && (eof || len - at >= self.params.max as usize) {
                let n = self.cut(&buf[at..len]);
                on_chunk(&buf[at..at + n])?;
                at += n;
            }
            if eof && at == len {
                return Ok(total);
            }
            buf.copy_within(at..len, 0);
            len -= at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    #[test]
    fn streaming_cuts_where_whole_buffer_chunking_cuts() {
        let mut r = testkit::rng(3);
        let mut data = testkit::mixed_bytes(&mut r, 11 << 20);
        data.extend(vec![0u8; 3 << 20]); // a long run: max-size cuts
        let c = Chunker::new(ChunkParams::DEFAULT);
        let whole = c.chunks_of(&data);
        // A reader that returns odd-sized pieces.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.1 = (self.1 * 7 + 13) % 100_003 + 1;
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut streamed = Vec::new();
        let mut at = 0;
        let n = c
            .stream(Trickle(&data, 1), &mut Vec::new(), |chunk: &[u8]| -> std::io::Result<()> {
                streamed.push((at, chunk.len()));
                assert_eq!(chunk, &data[at..at + chunk.len()]);
                at += chunk.len();
                Ok(())
            })
            .unwrap();
        assert_eq!(n as usize, data.len());
        assert_eq!(streamed, whole);
        let p = ChunkParams::DEFAULT;
        assert!(whole[..whole.len() - 1].iter().all(|&(_, n)| n >= p.min as usize && n <= p.max as usize));
        assert!(whole.iter().filter(|&&(_, n)| n == p.max as usize).count() >= 10);
        // Empty input: no chunks.
        let mut none = 0;
        c.stream(&[][..], &mut Vec::new(), |_: &[u8]| -> std::io::Result<()> {
            none += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(none, 0);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(ChunkParams::new(16384, 65536, 262144).is_ok());
        for (a, b, c) in [(65536, 16384, 262144), (16384, 65536, 8 << 20), (16383, 65536, 262144), (16, 64, 256)] {
            assert!(ChunkParams::new(a, b, c).is_err(), "{a}/{b}/{c}");
        }
        let mut ch = ChunkParams::DEFAULT.chunking();
        ch.algorithm = "rabin".into();
        assert!(ChunkParams::from_chunking(&ch).is_err());
    }
}
