//! Layer blobs as uncompressed tar streams: the compression is taken from the media type, or
//! from the blob's first bytes when the media type does not say (docker archives, unknown
//! types).

use std::io::{self, BufRead, Read};

use flate2::bufread::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression a layer media type names; `None` for types that do not name one.
pub fn from_media_type(media_type: &str) -> Option<Compression> {
    let known_tar = media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.");
    if !known_tar {
        return None;
    }
    if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
        Some(Compression::Gzip)
    } else if media_type.ends_with("+zstd") {
        Some(Compression::Zstd)
    } else if media_type.ends_with(".tar") {
        Some(Compression::None)
    } else {
        None
    }
}

/// The compression a blob's first bytes show.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The uncompressed stream of a layer blob.
pub fn decompress<'a, R: BufRead + Send + 'a>(
    mut blob: R,
    media_type: &str,
) -> io::Result<(Compression, Box<dyn Read + Send + 'a>)> {
    let compression = match from_media_type(media_type) {
        Some(compression) => compression,
        None => sniff(blob.fill_buf()?),
    };
    let stream: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(ZstdFrames::new(blob)),
    };
    Ok((compression, stream))
}

/// A zstd stream of any number of frames (as `pzstd` and some layer writers produce), skippable
/// frames skipped.
struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; false at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let wanted = buf.len() - self.decoder.can_collect();
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(wanted))
                    .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() && self.decoder.can_collect() == 0 {
                self.in_frame = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn unpacked(blob: &[u8], media_type: &str) -> (Compression, Vec<u8>) {
        let (compression, mut stream) = decompress(blob, media_type).unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        (compression, out)
    }

    #[test]
    fn media_types() {
        use Compression::*;
        let oci = "application/vnd.oci.image.layer.v1.tar";
        assert_eq!(from_media_type(oci), Some(None));
        assert_eq!(from_media_type(&format!("{oci}+gzip")), Some(Gzip));
        assert_eq!(from_media_type(&format!("{oci}+zstd")), Some(Zstd));
        assert_eq!(
            from_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
            Some(Gzip)
        );
        assert_eq!(
            from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Gzip)
        );
        assert_eq!(from_media_type(""), Option::None);
        assert_eq!(from_media_type("application/octet-stream"), Option::None);
    }

    #[test]
    fn decompresses_by_media_type_or_magic() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let gz = gzip(&data);
        let zs = zstd(&data);
        let oci = "application/vnd.oci.image.layer.v1.tar";
        assert_eq!(
            unpacked(&gz, &format!("{oci}+gzip")),
            (Compression::Gzip, data.clone())
        );
        assert_eq!(unpacked(&gz, ""), (Compression::Gzip, data.clone()));
        assert_eq!(
            unpacked(&zs, &format!("{oci}+zstd")),
            (Compression::Zstd, data.clone())
        );
        assert_eq!(unpacked(&zs, "whatever"), (Compression::Zstd, data.clone()));
        assert_eq!(unpacked(&data, oci), (Compression::None, data.clone()));
        assert_eq!(unpacked(&data, ""), (Compression::None, data.clone()));
    }

    #[test]
    fn gzip_and_zstd_streams_of_several_members() {
        let (a, b) = (b"first part ".repeat(1000), b"second part".repeat(1000));
        let whole = [a.clone(), b.clone()].concat();
        assert_eq!(unpacked(&[gzip(&a), gzip(&b)].concat(), "").1, whole);
        // A skippable frame (magic 0x184D2A50, length 3) between two frames.
        let skippable = [0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
        let zs = [zstd(&a), skippable.to_vec(), zstd(&b)].concat();
        assert_eq!(unpacked(&zs, "").1, whole);
    }

    #[test]
    fn corrupt_streams_fail() {
        let mut gz = gzip(&b"data".repeat(1000));
        let middle = gz.len() / 2;
        gz[middle] ^= 0xff;
        let (_, mut stream) = decompress(&gz[..], "").unwrap();
        assert!(stream.read_to_end(&mut Vec::new()).is_err());
    }
}
