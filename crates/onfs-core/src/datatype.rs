//! The 30 data types of the online feature store and what each one is on the wire.

use std::fmt;
use std::str::FromStr;

/// The element type of a data type, scalar or vector alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    Fp8E5M2,
    Fp8E4M3,
    Fp16,
    Fp32,
    Fp64,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    String,
    Bool,
}

/// The `Values` field an element is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireField {
    Fp32 = 1,
    Fp64 = 2,
    Int32 = 3,
    Int64 = 4,
    Uint32 = 5,
    Uint64 = 6,
    String = 7,
    Bool = 8,
}

impl Element {
    pub const ALL: [Element; 15] = [
        Element::Fp8E5M2,
        Element::Fp8E4M3,
        Element::Fp16,
        Element::Fp32,
        Element::Fp64,
        Element::Int8,
        Element::Int16,
        Element::Int32,
        Element::Int64,
        Element::Uint8,
        Element::Uint16,
        Element::Uint32,
        Element::Uint64,
        Element::String,
        Element::Bool,
    ];

    /// The name after `DataType` in the metadata, e.g. `FP8E5M2`, `Uint16`.
    pub fn name(self) -> &'static str {
        match self {
            Element::Fp8E5M2 => "FP8E5M2",
            Element::Fp8E4M3 => "FP8E4M3",
            Element::Fp16 => "FP16",
            Element::Fp32 => "FP32",
            Element::Fp64 => "FP64",
            Element::Int8 => "Int8",
            Element::Int16 => "Int16",
            Element::Int32 => "Int32",
            Element::Int64 => "Int64",
            Element::Uint8 => "Uint8",
            Element::Uint16 => "Uint16",
            Element::Uint32 => "Uint32",
            Element::Uint64 => "Uint64",
            Element::String => "String",
            Element::Bool => "Bool",
        }
    }

    pub fn wire_field(self) -> WireField {
        match self {
            Element::Fp8E5M2 | Element::Fp8E4M3 | Element::Fp16 | Element::Fp32 => WireField::Fp32,
            Element::Fp64 => WireField::Fp64,
            Element::Int8 | Element::Int16 | Element::Int32 => WireField::Int32,
            Element::Int64 => WireField::Int64,
            Element::Uint8 | Element::Uint16 | Element::Uint32 => WireField::Uint32,
            Element::Uint64 => WireField::Uint64,
            Element::String => WireField::String,
            Element::Bool => WireField::Bool,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self.wire_field(), WireField::Fp32 | WireField::Fp64)
    }

    pub fn is_integer(self) -> bool {
        matches!(
            self.wire_field(),
            WireField::Int32 | WireField::Int64 | WireField::Uint32 | WireField::Uint64
        )
    }

    /// The inclusive integer range the online store keeps without corruption.
    pub fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            Element::Int8 => (i8::MIN as i128, i8::MAX as i128),
            Element::Int16 => (i16::MIN as i128, i16::MAX as i128),
            Element::Int32 => (i32::MIN as i128, i32::MAX as i128),
            Element::Int64 => (i64::MIN as i128, i64::MAX as i128),
            Element::Uint8 => (0, u8::MAX as i128),
            Element::Uint16 => (0, u16::MAX as i128),
            Element::Uint32 => (0, u32::MAX as i128),
            Element::Uint64 => (0, u64::MAX as i128),
            _ => return None,
        })
    }

    /// The integer range of the wire field itself: a value outside it cannot be sent at all.
    pub fn wire_int_range(self) -> Option<(i128, i128)> {
        Some(match self.wire_field() {
            WireField::Int32 => (i32::MIN as i128, i32::MAX as i128),
            WireField::Int64 => (i64::MIN as i128, i64::MAX as i128),
            WireField::Uint32 => (0, u32::MAX as i128),
            WireField::Uint64 => (0, u64::MAX as i128),
            _ => return None,
        })
    }

    /// The largest finite value of a floating type narrower than float64.
    pub fn float_max(self) -> Option<f64> {
        Some(match self {
            Element::Fp8E5M2 => 57344.0,
            Element::Fp8E4M3 => 448.0,
            Element::Fp16 => 65504.0,
            Element::Fp32 => f32::MAX as f64,
            _ => return None,
        })
    }
}

/// A metadata data type: an element type, scalar or vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataType {
    pub element: Element,
    pub vector: bool,
}

impl DataType {
    /// All 30 accepted names, `DataTypeFP8E5M2` ... `DataTypeBoolVector`.
    pub fn all_names() -> Vec<String> {
        let mut names: Vec<String> = Element::ALL
            .iter()
            .map(|e| format!("DataType{}", e.name()))
            .collect();
        names.extend(
            Element::ALL
                .iter()
                .map(|e| format!("DataType{}Vector", e.name())),
        );
        names
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DataType{}{}",
            self.element.name(),
            if self.vector { "Vector" } else { "" }
        )
    }
}

/// A data type name that is none of the 30.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data type {name:?}; accepted: {}", DataType::all_names().join(", "))]
pub struct UnknownDataType {
    pub name: String,
}

impl FromStr for DataType {
    type Err = UnknownDataType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownDataType {
            name: s.to_string(),
        };
        let rest = s.strip_prefix("DataType").ok_or_else(unknown)?;
        let (base, vector) = match rest.strip_suffix("Vector") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let element = Element::ALL
            .iter()
            .copied()
            .find(|e| e.name() == base)
            .ok_or_else(unknown)?;
        Ok(DataType { element, vector })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_names_round_trip() {
        let names = DataType::all_names();
        assert_eq!(names.len(), 30);
        for name in &names {
            let dt: DataType = name.parse().unwrap();
            assert_eq!(&dt.to_string(), name);
        }
    }

    #[test]
    fn unknown_lists_all_accepted() {
        let err = "DataTypeFloat".parse::<DataType>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"DataTypeFloat\""));
        assert!(msg.contains("DataTypeFP8E4M3Vector"));
        assert!(msg.contains("DataTypeUint64"));
        assert!("FP32".parse::<DataType>().is_err());
        assert!("DataTypeVector".parse::<DataType>().is_err());
    }
}
