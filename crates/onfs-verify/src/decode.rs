//! A feature's stored bytes read by its data type, as text for reports: `1.5`, `"abc"`,
//! `[1, 2]`; and whether the bytes can be that type at all.

use onfs_core::{DataType, Element};

use crate::convert::{fp8_e4m3_value, fp8_e5m2_value};

/// Vectors longer than this are shown with their first elements only.
const SHOWN_ELEMENTS: usize = 16;

/// The text shown for a feature the store returned no bytes for.
pub const NOTHING: &str = "(nothing)";

/// Bytes that are not a value of the data type: what was expected instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotThisType(pub String);

/// The bytes a scalar of `element` takes; `None` for strings.
pub fn width(element: Element) -> Option<usize> {
    Some(match element {
        Element::Fp8E5M2 | Element::Fp8E4M3 | Element::Int8 | Element::Uint8 | Element::Bool => 1,
        Element::Fp16 | Element::Int16 | Element::Uint16 => 2,
        Element::Fp32 | Element::Int32 | Element::Uint32 => 4,
        Element::Fp64 | Element::Int64 | Element::Uint64 => 8,
        Element::String => return None,
    })
}

/// The elements of stored bytes. `len_hint` is the element count to try first for a string
/// vector (its bytes do not say it): the sent vector's length.
pub fn elements(
    dt: DataType,
    bytes: &[u8],
    len_hint: Option<usize>,
) -> Result<Vec<String>, NotThisType> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    match (width(dt.element), dt.vector) {
        (None, false) => Ok(vec![format!("{:?}", String::from_utf8_lossy(bytes))]),
        (None, true) => string_vector(bytes, len_hint),
        (Some(w), false) if bytes.len() != w => Err(NotThisType(format!("{w} bytes"))),
        (Some(w), true) if !bytes.len().is_multiple_of(w) => {
            Err(NotThisType(format!("a multiple of {w} bytes")))
        }
        (Some(w), _) => Ok(bytes
            .chunks_exact(w)
            .map(|c| element_text(dt.element, c))
            .collect()),
    }
}

/// The stored bytes as one text: a scalar, `[a, b]` for a vector, [`NOTHING`] for no bytes.
pub fn render(dt: DataType, bytes: &[u8], len_hint: Option<usize>) -> Result<String, NotThisType> {
    if bytes.is_empty() && !dt.vector {
        return Ok(NOTHING.to_string());
    }
    let items = elements(dt, bytes, len_hint)?;
    if !dt.vector {
        return Ok(items.into_iter().next().unwrap_or_default());
    }
    let mut text = String::from("[");
    text.push_str(&items[..items.len().min(SHOWN_ELEMENTS)].join(", "));
    if items.len() > SHOWN_ELEMENTS {
        text.push_str(&format!(", … ({} elements)", items.len()));
    }
    text.push(']');
    Ok(text)
}

/// `n` little-endian u16 lengths then the strings; `n` is tried as `hint` first, then as the
/// smallest count whose lengths add up to the rest.
fn string_vector(bytes: &[u8], hint: Option<usize>) -> Result<Vec<String>, NotThisType> {
    let split = |n: usize| -> Option<Vec<String>> {
        let header = bytes.get(..n.checked_mul(2)?)?;
        let mut rest = &bytes[header.len()..];
        let mut out = Vec::with_capacity(n);
        for len in header.chunks_exact(2) {
            let len = u16::from_le_bytes([len[0], len[1]]) as usize;
            let item = rest.get(..len)?;
            out.push(format!("{:?}", String::from_utf8_lossy(item)));
            rest = &rest[len..];
        }
        rest.is_empty().then_some(out)
    };
    hint.and_then(split)
        .or_else(|| (1..=bytes.len() / 2).find_map(split))
        .ok_or_else(|| NotThisType("u16 lengths followed by strings of those lengths".to_string()))
}

fn element_text(element: Element, b: &[u8]) -> String {
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(b.try_into().expect("width checked"))
        };
    }
    match element {
        Element::Fp8E5M2 => format!("{:?}", fp8_e5m2_value(b[0])),
        Element::Fp8E4M3 => format!("{:?}", fp8_e4m3_value(b[0])),
        Element::Fp16 => format!("{:?}", half::f16::from_bits(le!(u16)).to_f32()),
        Element::Fp32 => format!("{:?}", le!(f32)),
        Element::Fp64 => format!("{:?}", le!(f64)),
        Element::Int8 => (b[0] as i8).to_string(),
        Element::Int16 => le!(i16).to_string(),
        Element::Int32 => le!(i32).to_string(),
        Element::Int64 => le!(i64).to_string(),
        Element::Uint8 => b[0].to_string(),
        Element::Uint16 => le!(u16).to_string(),
        Element::Uint32 => le!(u32).to_string(),
        Element::Uint64 => le!(u64).to_string(),
        Element::Bool => match b[0] {
            0 => "false".to_string(),
            1 => "true".to_string(),
            other => format!("true ({other:#04x})"),
        },
        Element::String => unreachable!("strings have no width"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{default_value, sent_value};
    use onfs_core::proto::{Values, Vector};

    fn dt(name: &str) -> DataType {
        name.parse().unwrap()
    }

    /// Every one of the 30 types: a value in its stored form reads back as its text.
    #[test]
    fn every_type_reads_back() {
        let cases: [(&str, &str, &str); 30] = [
            ("DataTypeFP8E5M2", "1.5", "1.5"),
            ("DataTypeFP8E4M3", "0.1", "0.1015625"),
            ("DataTypeFP16", "0.1", "0.099975586"),
            ("DataTypeFP32", "-2.5", "-2.5"),
            ("DataTypeFP64", "0.1", "0.1"),
            ("DataTypeInt8", "-7", "-7"),
            ("DataTypeInt16", "-300", "-300"),
            ("DataTypeInt32", "70000", "70000"),
            ("DataTypeInt64", "-5000000000", "-5000000000"),
            ("DataTypeUint8", "255", "255"),
            ("DataTypeUint16", "65535", "65535"),
            ("DataTypeUint32", "4000000000", "4000000000"),
            (
                "DataTypeUint64",
                "18446744073709551615",
                "18446744073709551615",
            ),
            ("DataTypeString", "héllo", "\"héllo\""),
            ("DataTypeBool", "true", "true"),
            ("DataTypeFP8E5M2Vector", "[1,2]", "[1.0, 2.0]"),
            ("DataTypeFP8E4M3Vector", "[448,-0.5]", "[448.0, -0.5]"),
            ("DataTypeFP16Vector", "[1.5]", "[1.5]"),
            ("DataTypeFP32Vector", "[]", "[]"),
            ("DataTypeFP64Vector", "[1e300,2]", "[1e300, 2.0]"),
            ("DataTypeInt8Vector", "[-1,2]", "[-1, 2]"),
            ("DataTypeInt16Vector", "[-1,2]", "[-1, 2]"),
            ("DataTypeInt32Vector", "[-1,2]", "[-1, 2]"),
            ("DataTypeInt64Vector", "[-1,2]", "[-1, 2]"),
            ("DataTypeUint8Vector", "[1,2]", "[1, 2]"),
            ("DataTypeUint16Vector", "[1,2]", "[1, 2]"),
            ("DataTypeUint32Vector", "[1,2]", "[1, 2]"),
            ("DataTypeUint64Vector", "[1,2]", "[1, 2]"),
            ("DataTypeStringVector", "[ab,,c]", "[\"ab\", \"\", \"c\"]"),
            ("DataTypeBoolVector", "[true,false]", "[true, false]"),
        ];
        for (name, text, want) in cases {
            let v = default_value(dt(name), text).unwrap();
            assert_eq!(render(dt(name), &v.bytes, v.len).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn string_vectors_need_the_count() {
        let values = Values {
            vector: vec![Vector {
                values: Some(Values {
                    string_values: vec!["a".into(), "bc".into()],
                    ..Default::default()
                }),
            }],
            ..Default::default()
        };
        let t = dt("DataTypeStringVector");
        let v = sent_value(t, &values, 0).unwrap();
        assert_eq!(v.bytes, b"\x01\x00\x02\x00abc");
        assert_eq!(render(t, &v.bytes, Some(2)).unwrap(), "[\"a\", \"bc\"]");
        // A wrong hint falls back to the count that fits.
        assert_eq!(render(t, &v.bytes, Some(1)).unwrap(), "[\"a\", \"bc\"]");
        assert!(elements(t, b"\x05\x00ab", Some(1)).is_err());
        assert_eq!(render(t, b"", Some(3)).unwrap(), "[]");
    }

    #[test]
    fn wrong_lengths_are_not_the_type() {
        assert_eq!(
            elements(dt("DataTypeFP32"), &[0, 0, 0], None),
            Err(NotThisType("4 bytes".into()))
        );
        assert!(elements(dt("DataTypeInt16Vector"), &[0, 0, 0], None).is_err());
        assert_eq!(render(dt("DataTypeInt64"), b"", None).unwrap(), NOTHING);
        let long = default_value(
            dt("DataTypeInt8Vector"),
            "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]",
        )
        .unwrap();
        assert!(render(dt("DataTypeInt8Vector"), &long.bytes, None)
            .unwrap()
            .ends_with(", … (20 elements)]"));
        assert_eq!(element_text(Element::Bool, &[2]), "true (0x02)");
    }
}
