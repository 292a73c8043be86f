//! The `persist` protobuf messages, for decoding (inspect, tests). The encoder never uses them.

#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    #[prost(string, tag = "1")]
    pub entity_label: String,
    #[prost(string, repeated, tag = "2")]
    pub keys_schema: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub feature_group_schema: Vec<FeatureGroupSchema>,
    #[prost(message, repeated, tag = "4")]
    pub data: Vec<Data>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FeatureGroupSchema {
    #[prost(string, tag = "1")]
    pub label: String,
    #[prost(string, repeated, tag = "2")]
    pub feature_labels: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Data {
    #[prost(string, repeated, tag = "1")]
    pub key_values: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub feature_values: Vec<FeatureValues>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FeatureValues {
    #[prost(message, optional, tag = "1")]
    pub values: Option<Values>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Values {
    #[prost(double, repeated, tag = "1")]
    pub fp32_values: Vec<f64>,
    #[prost(double, repeated, tag = "2")]
    pub fp64_values: Vec<f64>,
    #[prost(int32, repeated, tag = "3")]
    pub int32_values: Vec<i32>,
    #[prost(int64, repeated, tag = "4")]
    pub int64_values: Vec<i64>,
    #[prost(uint32, repeated, tag = "5")]
    pub uint32_values: Vec<u32>,
    #[prost(uint64, repeated, tag = "6")]
    pub uint64_values: Vec<u64>,
    #[prost(string, repeated, tag = "7")]
    pub string_values: Vec<String>,
    #[prost(bool, repeated, tag = "8")]
    pub bool_values: Vec<bool>,
    #[prost(message, repeated, tag = "9")]
    pub vector: Vec<Vector>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Vector {
    #[prost(message, optional, tag = "1")]
    pub values: Option<Values>,
}

/// The number of rows (`data` entries) in a serialized `Query`, without decoding it; 0 if the
/// bytes are not a well-formed message.
pub fn count_rows(value: &[u8]) -> u32 {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut at = 0;
    let mut rows = 0;
    while at < value.len() {
        let Some(key) = varint(value, &mut at) else {
            return 0;
        };
        let skip = match key & 7 {
            0 => match varint(value, &mut at) {
                Some(_) => 0,
                None => return 0,
            },
            1 => 8,
            2 => match varint(value, &mut at) {
                Some(n) => n as usize,
                None => return 0,
            },
            5 => 4,
            _ => return 0,
        };
        if key >> 3 == 4 {
            rows += 1;
        }
        at = match at.checked_add(skip) {
            Some(a) if a <= value.len() => a,
            _ => return 0,
        };
    }
    rows
}
