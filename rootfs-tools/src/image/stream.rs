//! One layer from blob to rootfs, in two threads so that inflating and writing overlap on a
//! two-core machine: a reader thread reads the blob straight from the image (hashing it and
//! counting progress) and inflates it into chunks; the calling thread hashes the chunks (the
//! diff_id) and unpacks them. Nothing is written to disk but the rootfs.

use std::io::{self, BufReader, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use indicatif::ProgressBar;

use super::digest::{Algorithm, Digest, HashingReader};
use super::layer::{decompress, Compression};
use super::resolve::LayerPlan;
use super::source::Source;
use super::BundleError;
use crate::unpack::Unpacker;

/// Inflated bytes handed over at a time, and how many chunks may wait: enough to keep both
/// threads busy, little memory.
const CHUNK: usize = 1 << 20;
const CHUNKS_IN_FLIGHT: usize = 8;
const READ_BUFFER: usize = 256 << 10;

/// What unpacking a layer found.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// The layer's file in the image.
    pub name: String,
    pub compression: Compression,
    pub blob_size: u64,
    pub uncompressed_size: u64,
}

/// Unpacks `layer` from `source` into `unpacker`, verifying its blob digest and size (when the
/// image records them) and its diff_id.
pub fn unpack_layer(
    source: &Source,
    layer: &LayerPlan,
    unpacker: &mut Unpacker,
    progress: &ProgressBar,
) -> Result<LayerReport, BundleError> {
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel(CHUNKS_IN_FLIGHT);
        let reader = scope.spawn(move || read_layer(source, layer, progress, sender));

        // The stream (and with it the receiver) is dropped before the join: a reader blocked
        // on a full channel after an unpacking error then stops instead of waiting forever.
        let unpacked = {
            let mut stream =
                HashingReader::new(ChunkReader::new(receiver), layer.diff_id.algorithm());
            match unpacker.apply_layer(&mut stream) {
                Ok(_) => stream.finish().map_err(|source| BundleError::ReadLayer {
                    name: layer.name.clone(),
                    source,
                }),
                Err(source) => Err(BundleError::Layer {
                    name: layer.name.clone(),
                    source,
                }),
            }
        };
        let read = reader
            .join()
            .expect("the layer reader thread does not panic");
        // The reader's error is the cause when both failed (a corrupt stream ends the tar).
        let read = read?;
        let (diff_id, uncompressed_size) = unpacked?;
        if diff_id != layer.diff_id {
            return Err(BundleError::DiffIdMismatch {
                name: layer.name.clone(),
                expected: layer.diff_id.to_string(),
                actual: diff_id.to_string(),
            });
        }
        Ok(LayerReport {
            name: layer.name.clone(),
            compression: read.0,
            blob_size: read.1,
            uncompressed_size,
        })
    })
}

type Chunk = io::Result<Vec<u8>>;

/// The reader thread: blob -> digest and progress -> inflate -> chunks.
fn read_layer(
    source: &Source,
    layer: &LayerPlan,
    progress: &ProgressBar,
    sender: SyncSender<Chunk>,
) -> Result<(Compression, u64), BundleError> {
    let (blob, size) = source.open_file(&layer.name)?;
    if let Some(expected) = layer.size.filter(|&expected| expected != size) {
        return Err(BundleError::SizeMismatch {
            name: layer.name.clone(),
            expected,
            actual: size,
        });
    }
    let algorithm = layer
        .digest
        .as_ref()
        .map_or(Algorithm::Sha256, Digest::algorithm);
    let counted = Progress {
        inner: blob,
        bar: progress,
    };
    let mut compressed =
        BufReader::with_capacity(READ_BUFFER, HashingReader::new(counted, algorithm));
    let read_err = |source| BundleError::ReadLayer {
        name: layer.name.clone(),
        source,
    };
    let (compression, mut stream) =
        decompress(&mut compressed, &layer.media_type).map_err(read_err)?;
    loop {
        let mut chunk = vec![0; CHUNK];
        let filled = match fill(&mut stream, &mut chunk) {
            Ok(filled) => filled,
            Err(err) => {
                // The unpacker sees the stream fail; the full error travels through join.
                let _ = sender.send(Err(io::Error::new(err.kind(), err.to_string())));
                return Err(read_err(err));
            }
        };
        if filled == 0 {
            break;
        }
        chunk.truncate(filled);
        if sender.send(Ok(chunk)).is_err() {
            // The unpacker stopped (and reports why).
            return Ok((compression, 0));
        }
    }
    drop(sender);
    drop(stream);
    let (digest, read) = compressed.into_inner().finish().map_err(read_err)?;
    if let Some(expected) = layer
        .digest
        .as_ref()
        .filter(|&expected| expected != &digest)
    {
        return Err(BundleError::DigestMismatch {
            name: layer.name.clone(),
            expected: expected.to_string(),
            actual: digest.to_string(),
        });
    }
    Ok((compression, read))
}

/// Reads until `buf` is full or the stream ends.
fn fill(stream: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

struct Progress<'a, R> {
    inner: R,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// The unpacking side of the channel: chunks as one stream, ending when the reader hangs up.
struct ChunkReader {
    receiver: Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(receiver: Receiver<Chunk>) -> ChunkReader {
        ChunkReader {
            receiver,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_as_one_stream_and_errors_pass_through() {
        let (sender, receiver) = sync_channel(4);
        sender.send(Ok(b"abc".to_vec())).unwrap();
        sender.send(Ok(Vec::new())).unwrap();
        sender.send(Ok(b"defg".to_vec())).unwrap();
        drop(sender);
        let mut out = Vec::new();
        ChunkReader::new(receiver).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdefg");

        let (sender, receiver) = sync_channel(4);
        sender.send(Ok(b"abc".to_vec())).unwrap();
        sender.send(Err(io::Error::other("corrupt"))).unwrap();
        let err = ChunkReader::new(receiver)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.to_string(), "corrupt");
    }
}
