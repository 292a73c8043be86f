//! Protobuf wire primitives, written straight into a byte buffer.
//!
//! Length-delimited fields are written with a one-byte length placeholder that is widened in place
//! when the content turns out longer than 127 bytes, so every length is the minimal varint, as any
//! protobuf library writes it.

#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub fn varint_len(v: u64) -> usize {
    // 1 + floor(log128(v)), with 0 taking one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A length-delimited field: tag, length, bytes.
#[inline]
pub fn put_bytes(buf: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    buf.push(tag);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Opens a length-delimited field; returns where its content starts.
#[inline]
pub fn begin(buf: &mut Vec<u8>, tag: u8) -> usize {
    buf.push(tag);
    buf.push(0);
    buf.len()
}

/// Closes a field opened by [`begin`], writing its length.
#[inline]
pub fn end(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    if len < 0x80 {
        buf[start - 1] = len as u8;
        return;
    }
    let extra = varint_len(len as u64) - 1;
    buf.resize(buf.len() + extra, 0);
    buf.copy_within(start..start + len, start + extra);
    let mut v = len as u64;
    let mut at = start - 1;
    while v >= 0x80 {
        buf[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    buf[at] = v as u8;
}

/// Opens a length-delimited field with `width` bytes kept for its length (a guess, e.g. the
/// previous row's); returns where its content starts.
#[inline]
pub fn begin_wide(buf: &mut Vec<u8>, tag: u8, width: usize) -> usize {
    buf.push(tag);
    buf.resize(buf.len() + width, 0);
    buf.len()
}

/// Closes a field opened by [`begin_wide`], moving the content if the guess was wrong, so the
/// length is always the minimal varint. Returns the width used, the next guess.
#[inline]
pub fn end_wide(buf: &mut Vec<u8>, start: usize, width: usize) -> usize {
    let len = buf.len() - start;
    let need = varint_len(len as u64);
    let at = start - width;
    if need != width {
        let new_start = at + need;
        if need > width {
            buf.resize(buf.len() + (need - width), 0);
        }
        buf.copy_within(start..start + len, new_start);
        buf.truncate(new_start + len);
    }
    let mut v = len as u64;
    let mut i = at;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![127]),
            (128, vec![0x80, 1]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b, want);
            assert_eq!(varint_len(v), want.len());
        }
    }

    #[test]
    fn nested_lengths_widen() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, 70_000] {
            let mut b = vec![9u8];
            let s = begin(&mut b, 0x22);
            b.extend(std::iter::repeat_n(7u8, n));
            end(&mut b, s);
            let mut want = vec![9u8, 0x22];
            put_varint(&mut want, n as u64);
            want.extend(std::iter::repeat_n(7u8, n));
            assert_eq!(b, want, "n={n}");
            for width in 1..4 {
                let mut w = vec![9u8];
                let s = begin_wide(&mut w, 0x22, width);
                w.extend(std::iter::repeat_n(7u8, n));
                assert_eq!(end_wide(&mut w, s, width), varint_len(n as u64));
                assert_eq!(w, want, "n={n} width={width}");
            }
        }
    }
}
