//! The message file framing (documented in docs/message-files.md).
//!
//! A file starts with the 8-byte magic `ONFSMSG1`, then holds records, each:
//!
//! | bytes | field |
//! | --- | --- |
//! | 4, u32 LE | value length `V` |
//! | 4, u32 LE | CRC-32 (IEEE) of the value |
//! | 8, i64 LE | `intra_batch_id` |
//! | 4, u32 LE | rows in the message |
//! | 4, i32 LE | key length `K`, or -1 for a null key |
//! | `K` | key bytes |
//! | `V` | value: one serialized `persist.Query` |

use std::io::{self, Read, Write};

pub const MAGIC: &[u8; 8] = b"ONFSMSG1";
const HEADER: usize = 24;

/// One message as stored in a file or produced to Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    pub intra_batch_id: i64,
    pub rows: u32,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

impl From<crate::EncodedMessage> for Framed {
    fn from(m: crate::EncodedMessage) -> Self {
        Framed {
            intra_batch_id: m.intra_batch_id,
            rows: m.rows,
            key: m.key,
            value: m.value,
        }
    }
}

/// Writes one record; returns the bytes written.
pub fn write_record<W: Write>(w: &mut W, m: &Framed) -> io::Result<u64> {
    let mut header = [0u8; HEADER];
    header[0..4].copy_from_slice(&(m.value.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc32fast::hash(&m.value).to_le_bytes());
    header[8..16].copy_from_slice(&m.intra_batch_id.to_le_bytes());
    header[16..20].copy_from_slice(&m.rows.to_le_bytes());
    let key_len: i32 = match &m.key {
        Some(k) => k.len() as i32,
        None => -1,
    };
    header[20..24].copy_from_slice(&key_len.to_le_bytes());
    w.write_all(&header)?;
    if let Some(k) = &m.key {
        w.write_all(k)?;
    }
    w.write_all(&m.value)?;
    Ok((HEADER + m.key.as_ref().map_or(0, Vec::len) + m.value.len()) as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{path}: not a message file (it does not start with {magic:?})", magic = std::str::from_utf8(MAGIC).unwrap())]
    NotMessageFile { path: String },
    #[error("{path}: truncated record at byte {offset}")]
    Truncated { path: String, offset: u64 },
    #[error("{path}: record at byte {offset} fails its checksum; the file is corrupted")]
    Checksum { path: String, offset: u64 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Reads the records of one file in order.
pub struct RecordReader<R> {
    inner: R,
    path: String,
    offset: u64,
}

impl<R: Read> RecordReader<R> {
    pub fn new(mut inner: R, path: impl Into<String>) -> Result<Self, FrameError> {
        let path = path.into();
        let mut magic = [0u8; 8];
        match read_full(&mut inner, &mut magic) {
            Ok(8) if &magic == MAGIC => {}
            Ok(_) => return Err(FrameError::NotMessageFile { path }),
            Err(source) => return Err(FrameError::Io { path, source }),
        }
        Ok(RecordReader {
            inner,
            path,
            offset: 8,
        })
    }

    fn next_record(&mut self) -> Result<Option<Framed>, FrameError> {
        let io_err = |path: &str, source| FrameError::Io {
            path: path.to_string(),
            source,
        };
        let mut header = [0u8; HEADER];
        let n = read_full(&mut self.inner, &mut header).map_err(|e| io_err(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        let truncated = || FrameError::Truncated {
            path: self.path.clone(),
            offset: self.offset,
        };
        if n < HEADER {
            return Err(truncated());
        }
        let value_len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap());
        let intra_batch_id = i64::from_le_bytes(header[8..16].try_into().unwrap());
        let rows = u32::from_le_bytes(header[16..20].try_into().unwrap());
        let key_len = i32::from_le_bytes(header[20..24].try_into().unwrap());
        let key = if key_len >= 0 {
            let k = read_exact_len(&mut self.inner, key_len as usize)
                .map_err(|e| io_err(&self.path, e))?;
            Some(k.ok_or_else(truncated)?)
        } else {
            None
        };
        let value = read_exact_len(&mut self.inner, value_len)
            .map_err(|e| io_err(&self.path, e))?
            .ok_or_else(truncated)?;
        if crc32fast::hash(&value) != crc {
            return Err(FrameError::Checksum {
                path: self.path.clone(),
                offset: self.offset,
            });
        }
        self.offset += (HEADER + key.as_ref().map_or(0, Vec::len) + value_len) as u64;
        Ok(Some(Framed {
            intra_batch_id,
            rows,
            key,
            value,
        }))
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Framed, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Reads exactly `len` bytes, or `None` when the input ends first. The buffer grows with the
/// bytes read, so a corrupted length claiming gigabytes allocates no more than the input holds.
fn read_exact_len<R: Read>(r: &mut R, len: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(len.min(READ_AHEAD));
    r.take(len as u64).read_to_end(&mut buf)?;
    Ok((buf.len() == len).then_some(buf))
}

/// What a record's length may reserve before its bytes are read.
const READ_AHEAD: usize = 64 << 10;

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Framed> {
        vec![
            Framed {
                intra_batch_id: 0,
                rows: 3,
                key: None,
                value: vec![1, 2, 3],
            },
            Framed {
                intra_batch_id: 7,
                rows: 1,
                key: Some(b"k".to_vec()),
                value: vec![],
            },
        ]
    }

    #[test]
    fn round_trip() {
        let mut buf = MAGIC.to_vec();
        for m in sample() {
            write_record(&mut buf, &m).unwrap();
        }
        let back: Vec<Framed> = RecordReader::new(&buf[..], "x")
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn corruption_and_truncation_are_caught() {
        let mut buf = MAGIC.to_vec();
        write_record(&mut buf, &sample()[0]).unwrap();
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        let e = RecordReader::new(&bad[..], "f")
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let cut = &buf[..buf.len() - 1];
        let e = RecordReader::new(cut, "f")
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(RecordReader::new(&b"PAR1xxxx"[..], "f").is_err());
    }
}
