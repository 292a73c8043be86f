//! What the store keeps of a sent value: FP16 and FP8 (E4M3, E5M2) rounded from float32, Int8 and
//! Int16 (and Uint8, Uint16) truncated to their width, the rest exact; as the bytes the retrieval
//! API returns (little-endian scalars, raw strings, concatenated vector elements, bools one byte
//! each, string vectors as `n` little-endian u16 lengths then the bytes).

use onfs_core::proto::Values;
use onfs_core::{DataType, Element};

/// A feature's value in the stored layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    pub bytes: Vec<u8>,
    /// The element count of a vector (the bytes of a string vector do not say it).
    pub len: Option<usize>,
}

/// The stored form of feature `index` of a group of type `dt` whose sent values are `values`;
/// `None` when the message holds no value there.
pub fn sent_value(dt: DataType, values: &Values, index: usize) -> Option<StoredValue> {
    if dt.vector {
        let v = values.vector.get(index)?;
        let empty = Values::default();
        let (bytes, len) = vector_bytes(dt.element, v.values.as_ref().unwrap_or(&empty));
        Some(StoredValue {
            bytes,
            len: Some(len),
        })
    } else {
        let mut bytes = Vec::with_capacity(8);
        push_element(dt.element, values, index, &mut bytes)?;
        Some(StoredValue { bytes, len: None })
    }
}

/// The stored form of a metadata default (`"0"`, `"-1.5"`, `"false"`, `"unknown"`, `"[a,b]"`),
/// parsed as the defaults are filled before encoding.
pub fn default_value(dt: DataType, text: &str) -> Result<StoredValue, String> {
    let mut values = Values::default();
    if dt.vector {
        let inner = text
            .trim()
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| "a vector default is written [a,b,...]".to_string())?;
        if !inner.trim().is_empty() {
            for item in inner.split(',') {
                let item = if dt.element == Element::String {
                    item
                } else {
                    item.trim()
                };
                push_text(dt.element, item, &mut values)?;
            }
        }
        let (bytes, len) = vector_bytes(dt.element, &values);
        Ok(StoredValue {
            bytes,
            len: Some(len),
        })
    } else {
        let text = if dt.element == Element::String {
            text
        } else {
            text.trim()
        };
        push_text(dt.element, text, &mut values)?;
        let mut bytes = Vec::new();
        push_element(dt.element, &values, 0, &mut bytes).expect("one value was parsed");
        Ok(StoredValue { bytes, len: None })
    }
}

/// Every element of `values` (the field of `element`) in the stored layout, and their count.
fn vector_bytes(element: Element, values: &Values) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    if element == Element::String {
        let items = &values.string_values;
        for item in items {
            let len = item.len().min(u16::MAX as usize) as u16;
            bytes.extend_from_slice(&len.to_le_bytes());
        }
        for item in items {
            bytes.extend_from_slice(item.as_bytes());
        }
        return (bytes, items.len());
    }
    let mut n = 0;
    while push_element(element, values, n, &mut bytes).is_some() {
        n += 1;
    }
    (bytes, n)
}

/// Appends element `i` of `values` in its stored form; `None` past the end.
fn push_element(element: Element, values: &Values, i: usize, out: &mut Vec<u8>) -> Option<()> {
    let fp32 = || values.fp32_values.get(i).map(|v| *v as f32);
    let int32 = || values.int32_values.get(i).copied();
    let uint32 = || values.uint32_values.get(i).copied();
    match element {
        Element::Fp8E5M2 => out.push(fp8_e5m2_bits(fp32()?)),
        Element::Fp8E4M3 => out.push(fp8_e4m3_bits(fp32()?)),
        Element::Fp16 => out.extend_from_slice(&fp16_bits(fp32()?).to_le_bytes()),
        Element::Fp32 => out.extend_from_slice(&fp32()?.to_le_bytes()),
        Element::Fp64 => out.extend_from_slice(&values.fp64_values.get(i)?.to_le_bytes()),
        Element::Int8 => out.push(int32()? as i8 as u8),
        Element::Int16 => out.extend_from_slice(&(int32()? as i16).to_le_bytes()),
        Element::Int32 => out.extend_from_slice(&int32()?.to_le_bytes()),
        Element::Int64 => out.extend_from_slice(&values.int64_values.get(i)?.to_le_bytes()),
        Element::Uint8 => out.push(uint32()? as u8),
        Element::Uint16 => out.extend_from_slice(&(uint32()? as u16).to_le_bytes()),
        Element::Uint32 => out.extend_from_slice(&uint32()?.to_le_bytes()),
        Element::Uint64 => out.extend_from_slice(&values.uint64_values.get(i)?.to_le_bytes()),
        Element::String => out.extend_from_slice(values.string_values.get(i)?.as_bytes()),
        Element::Bool => out.push(u8::from(*values.bool_values.get(i)?)),
    }
    Some(())
}

/// Parses one element written as text into the field of `element`.
fn push_text(element: Element, text: &str, values: &mut Values) -> Result<(), String> {
    let int = || -> Result<i128, String> {
        text.parse::<i128>().or_else(|_| match text.parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e38 => Ok(f as i128),
            _ => Err(format!("{text:?} is not an integer")),
        })
    };
    let float = || {
        text.parse::<f64>()
            .map_err(|_| format!("{text:?} is not a number"))
    };
    match element {
        Element::Fp8E5M2 | Element::Fp8E4M3 | Element::Fp16 | Element::Fp32 => {
            values.fp32_values.push(float()? as f32 as f64)
        }
        Element::Fp64 => values.fp64_values.push(float()?),
        Element::Int8 | Element::Int16 | Element::Int32 => values.int32_values.push(int()? as i32),
        Element::Int64 => values.int64_values.push(int()? as i64),
        Element::Uint8 | Element::Uint16 | Element::Uint32 => {
            values.uint32_values.push(int()? as u32)
        }
        Element::Uint64 => values.uint64_values.push(int()? as u64),
        Element::String => values.string_values.push(text.to_string()),
        Element::Bool => values
            .bool_values
            .push(match text.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" => true,
                "false" | "f" | "0" | "no" | "n" => false,
                _ => return Err(format!("{text:?} is not a boolean")),
            }),
    }
    Ok(())
}

/// IEEE half precision bits of `v` (round to nearest even; overflow gives infinity).
pub fn fp16_bits(v: f32) -> u16 {
    half::f16::from_f32(v).to_bits()
}

/// FP8 E4M3 bits of `v` (OCP: bias 7, no infinities, `S.1111.111` is NaN), rounded to nearest
/// even. The store does not saturate: a magnitude that rounds past 448 (above 464), infinity and
/// NaN all become NaN, keeping the sign.
pub fn fp8_e4m3_bits(v: f32) -> u8 {
    let bits = v.to_bits();
    let sign = ((bits >> 24) & 0x80) as u8;
    let abs = bits & 0x7fff_ffff;
    // 480.0: the first magnitude whose encoding would be the NaN pattern.
    if abs >= 0x43f0_0000 {
        return sign | 0x7f;
    }
    // Below 2^-6 the result is subnormal: a multiple of 2^-9 (8 of them make the first normal).
    if abs < (121 << 23) {
        let steps = (f32::from_bits(abs) * 512.0).round_ties_even();
        return sign | steps as u8;
    }
    sign | round_mantissa(abs, 7, 3)
}

/// FP8 E5M2 bits of `v` (OCP: bias 15, IEEE-like infinities and NaN), rounded to nearest even;
/// a magnitude that rounds past 57344 (61440 and above) becomes infinity.
pub fn fp8_e5m2_bits(v: f32) -> u8 {
    let bits = v.to_bits();
    let sign = ((bits >> 24) & 0x80) as u8;
    let abs = bits & 0x7fff_ffff;
    if abs > 0x7f80_0000 {
        return sign | 0x7f; // NaN
    }
    // 65536.0 and above (infinity included) is infinity.
    if abs >= (143 << 23) {
        return sign | 0x7c;
    }
    // Below 2^-14 the result is subnormal: a multiple of 2^-16.
    if abs < (113 << 23) {
        let steps = (f32::from_bits(abs) * 65536.0).round_ties_even();
        return sign | steps as u8;
    }
    sign | round_mantissa(abs, 15, 2)
}

/// A normal float32 magnitude as an 8-bit float with `mantissa` bits and exponent `bias`,
/// rounded to nearest even; a carry out of the mantissa moves to the next exponent.
fn round_mantissa(abs: u32, bias: u32, mantissa: u32) -> u8 {
    let shift = 23 - mantissa;
    let rebiased = abs - ((127 - bias) << 23);
    let odd = (rebiased >> shift) & 1;
    ((rebiased + (1 << (shift - 1)) - 1 + odd) >> shift) as u8
}

/// The value of FP8 E4M3 bits (for display).
pub fn fp8_e4m3_value(bits: u8) -> f32 {
    let sign = if bits & 0x80 != 0 { -1.0 } else { 1.0 };
    let (exp, man) = (((bits >> 3) & 0xf) as i32, (bits & 7) as f32);
    sign * match (exp, bits & 0x7f) {
        (_, 0x7f) => f32::NAN,
        (0, _) => man / 8.0 * 2f32.powi(-6),
        _ => (1.0 + man / 8.0) * 2f32.powi(exp - 7),
    }
}

/// The value of FP8 E5M2 bits (for display).
pub fn fp8_e5m2_value(bits: u8) -> f32 {
    let sign = if bits & 0x80 != 0 { -1.0 } else { 1.0 };
    let (exp, man) = (((bits >> 2) & 0x1f) as i32, (bits & 3) as f32);
    sign * match exp {
        31 if man == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        0 => man / 4.0 * 2f32.powi(-14),
        _ => (1.0 + man / 4.0) * 2f32.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onfs_core::proto::Vector;

    fn dt(name: &str) -> DataType {
        name.parse().unwrap()
    }

    #[test]
    fn fp16_known_bits() {
        assert_eq!(fp16_bits(1.0), 0x3c00);
        assert_eq!(fp16_bits(-2.0), 0xc000);
        assert_eq!(fp16_bits(65504.0), 0x7bff);
        assert_eq!(fp16_bits(70000.0), 0x7c00);
        assert_eq!(fp16_bits(0.1), 0x2e66); // 0.099975586
        assert_eq!(fp16_bits(1.0 + 1.0 / 2048.0), 0x3c00); // halfway: to even
        assert_eq!(fp16_bits(1.0 + 3.0 / 2048.0), 0x3c02); // halfway: to even (up)
        assert_eq!(fp16_bits(f32::NAN) & 0x7e00, 0x7e00);
    }

    #[test]
    fn e4m3_known_bits() {
        let cases: [(f32, u8); 22] = [
            (0.0, 0x00),
            (-0.0, 0x80),
            (1.0, 0x38),
            (-2.0, 0xc0),
            (0.1, 0x1d),    // 0.1015625
            (1.0625, 0x38), // halfway 1.0 / 1.125: to even
            (1.1875, 0x3a), // halfway 1.125 / 1.25: to even
            (448.0, 0x7e),
            (460.0, 0x7e),
            (464.0, 0x7e), // halfway 448 / 480 (NaN): to even
            (465.0, 0x7f),
            (479.0, 0x7f),
            (480.0, 0x7f),
            (-500.0, 0xff),
            (f32::INFINITY, 0x7f),
            (f32::NEG_INFINITY, 0xff),
            (0.015625, 0x08),     // 2^-6, the smallest normal
            (0.001953125, 0x01),  // 2^-9, the smallest subnormal
            (0.0009765625, 0x00), // 2^-10: halfway 0 / 2^-9, to even
            (0.0029296875, 0x02), // 1.5 * 2^-9: halfway, to even
            (0.0146484375, 0x08), // 7.5 * 2^-9: rounds up into the normals
            (240.0, 0x77),
        ];
        for (v, want) in cases {
            assert_eq!(fp8_e4m3_bits(v), want, "{v}: {:#04x}", fp8_e4m3_bits(v));
        }
        assert_eq!(fp8_e4m3_bits(f32::NAN), 0x7f);
        assert!(fp8_e4m3_value(0x7f).is_nan());
        assert_eq!(fp8_e4m3_value(0x1d), 0.1015625);
    }

    #[test]
    fn e5m2_known_bits() {
        let cases: [(f32, u8); 18] = [
            (0.0, 0x00),
            (-0.0, 0x80),
            (1.0, 0x3c),
            (-2.0, 0xc0),
            (0.1, 0x2e),   // 0.09375
            (1.125, 0x3c), // halfway 1.0 / 1.25: to even
            (1.375, 0x3e), // halfway 1.25 / 1.5: to even
            (57344.0, 0x7b),
            (60000.0, 0x7b),
            (61440.0, 0x7c), // halfway 57344 / infinity: to even
            (65536.0, 0x7c),
            (-1e9, 0xfc),
            (f32::INFINITY, 0x7c),
            (f32::NEG_INFINITY, 0xfc),
            (6.1035156e-5, 0x04), // 2^-14, the smallest normal
            (1.5258789e-5, 0x01), // 2^-16, the smallest subnormal
            (7.6293945e-6, 0x00), // 2^-17: halfway, to even
            (2.2888184e-5, 0x02), // 1.5 * 2^-16: halfway, to even
        ];
        for (v, want) in cases {
            assert_eq!(fp8_e5m2_bits(v), want, "{v}: {:#04x}", fp8_e5m2_bits(v));
        }
        assert_eq!(fp8_e5m2_bits(f32::NAN), 0x7f);
        assert_eq!(fp8_e5m2_bits(-f32::NAN), 0xff);
        assert_eq!(fp8_e5m2_value(0xfc), f32::NEG_INFINITY);
        assert_eq!(fp8_e5m2_value(0x2e), 0.09375);
    }

    #[test]
    fn every_fp8_code_round_trips() {
        for code in 0u8..=0x7e {
            let v = fp8_e4m3_value(code);
            assert_eq!(fp8_e4m3_bits(v), code, "{v}");
            assert_eq!(fp8_e4m3_bits(-v), code | 0x80, "-{v}");
        }
        for code in 0u8..=0x7b {
            let v = fp8_e5m2_value(code);
            assert_eq!(fp8_e5m2_bits(v), code, "{v}");
            assert_eq!(fp8_e5m2_bits(-v), code | 0x80, "-{v}");
        }
    }

    #[test]
    fn sent_scalars_take_the_store_width() {
        let v = Values {
            fp32_values: vec![0.1f32 as f64, 1.0],
            int32_values: vec![300, -1],
            uint32_values: vec![70000],
            bool_values: vec![true],
            string_values: vec!["héllo".into()],
            ..Default::default()
        };
        let b = |name: &str, i: usize| sent_value(dt(name), &v, i).unwrap().bytes;
        assert_eq!(b("DataTypeFP32", 0), 0.1f32.to_le_bytes());
        assert_eq!(b("DataTypeFP16", 0), 0x2e66u16.to_le_bytes());
        assert_eq!(b("DataTypeFP8E4M3", 1), [0x38]);
        assert_eq!(b("DataTypeFP8E5M2", 1), [0x3c]);
        assert_eq!(b("DataTypeInt8", 0), [44]); // 300 truncated to 8 bits
        assert_eq!(b("DataTypeInt16", 1), [0xff, 0xff]);
        assert_eq!(b("DataTypeInt32", 0), 300i32.to_le_bytes());
        assert_eq!(b("DataTypeUint16", 0), (70000u32 as u16).to_le_bytes());
        assert_eq!(b("DataTypeBool", 0), [1]);
        assert_eq!(b("DataTypeString", 0), "héllo".as_bytes());
        assert!(sent_value(dt("DataTypeFP64"), &v, 0).is_none());
    }

    #[test]
    fn sent_vectors() {
        let inner = |values: Values| Vector {
            values: Some(values),
        };
        let v = Values {
            vector: vec![
                inner(Values {
                    string_values: vec!["ab".into(), "".into(), "xyz".into()],
                    ..Default::default()
                }),
                inner(Values {
                    int64_values: vec![1, -2],
                    ..Default::default()
                }),
            ],
            ..Default::default()
        };
        let s = sent_value(dt("DataTypeStringVector"), &v, 0).unwrap();
        assert_eq!(s.len, Some(3));
        assert_eq!(s.bytes, b"\x02\x00\x00\x00\x03\x00abxyz");
        let n = sent_value(dt("DataTypeInt64Vector"), &v, 1).unwrap();
        assert_eq!(n.len, Some(2));
        assert_eq!(n.bytes[..8], 1i64.to_le_bytes());
        assert_eq!(n.bytes[8..], (-2i64).to_le_bytes());
        assert!(sent_value(dt("DataTypeInt64Vector"), &v, 2).is_none());
    }

    #[test]
    fn defaults_parse_like_the_fill() {
        let d = |name: &str, text: &str| default_value(dt(name), text);
        assert_eq!(d("DataTypeInt64", "0").unwrap().bytes, 0i64.to_le_bytes());
        assert_eq!(d("DataTypeInt32", "0.0").unwrap().bytes, 0i32.to_le_bytes());
        assert_eq!(
            d("DataTypeFP16", "-1.5").unwrap().bytes,
            0xbe00u16.to_le_bytes()
        );
        assert_eq!(d("DataTypeBool", "false").unwrap().bytes, [0]);
        assert_eq!(d("DataTypeString", "unknown").unwrap().bytes, b"unknown");
        let v = d("DataTypeFP32Vector", "[0, 1.5]").unwrap();
        assert_eq!(v.len, Some(2));
        assert_eq!(v.bytes[4..], 1.5f32.to_le_bytes());
        let v = d("DataTypeStringVector", "[a,b]").unwrap();
        assert_eq!(v.bytes, b"\x01\x00\x01\x00ab");
        assert_eq!(d("DataTypeInt8Vector", "[]").unwrap().len, Some(0));
        assert!(d("DataTypeInt64", "abc").is_err());
        assert!(d("DataTypeInt64", "1.5").is_err());
        assert!(d("DataTypeInt64Vector", "0").is_err());
    }
}
