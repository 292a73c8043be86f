//! A metastore's `Table` struct read into what a source needs: its location, format and
//! partition keys.

use super::codec::Value;
use crate::table::{TableEntry, TableFormat};
use crate::SourceError;

// Field ids of hive_metastore.thrift (the same in Hive 3 and 4).
/// `Table.sd` (StorageDescriptor)
const TABLE_SD: i16 = 7;
/// `Table.partitionKeys` (list<FieldSchema>)
const TABLE_PARTITION_KEYS: i16 = 8;
/// `Table.parameters` (map<string,string>)
const TABLE_PARAMETERS: i16 = 9;
/// `StorageDescriptor.location`
const SD_LOCATION: i16 = 2;
/// `StorageDescriptor.inputFormat`
const SD_INPUT_FORMAT: i16 = 3;
/// `StorageDescriptor.serdeInfo` (SerDeInfo)
const SD_SERDE_INFO: i16 = 7;
/// `SerDeInfo.serializationLib`
const SERDE_SERIALIZATION_LIB: i16 = 2;
/// `SerDeInfo.parameters` (map<string,string>)
const SERDE_PARAMETERS: i16 = 3;
/// `FieldSchema.name`
const FIELD_SCHEMA_NAME: i16 = 1;

/// A table as the metastore describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct HiveTable {
    pub location: String,
    pub format: Option<TableFormat>,
    pub partition_keys: Vec<String>,
    /// What the metastore says of the format, for an error when it is neither.
    pub described_as: String,
}

impl HiveTable {
    pub fn from_thrift(t: &Value) -> HiveTable {
        let text = |v: Option<&Value>| v.and_then(Value::str).unwrap_or("").to_string();
        let sd = t.field(TABLE_SD);
        let params = t
            .field(TABLE_PARAMETERS)
            .map(Value::string_map)
            .unwrap_or_default();
        let serde = sd.and_then(|s| s.field(SD_SERDE_INFO));
        let serde_params = serde
            .and_then(|s| s.field(SERDE_PARAMETERS))
            .map(Value::string_map);
        let input_format = text(sd.and_then(|s| s.field(SD_INPUT_FORMAT)));
        let serde_lib = text(serde.and_then(|s| s.field(SERDE_SERIALIZATION_LIB)));
        let provider = params
            .get("spark.sql.sources.provider")
            .map(|p| p.to_ascii_lowercase());
        let format = match provider.as_deref() {
            Some("delta") => Some(TableFormat::Delta),
            Some("parquet") => Some(TableFormat::Parquet),
            Some(_) => None,
            None if params
                .get("table_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delta")) =>
            {
                Some(TableFormat::Delta)
            }
            None if input_format.to_ascii_lowercase().contains("parquet")
                || serde_lib.to_ascii_lowercase().contains("parquet") =>
            {
                Some(TableFormat::Parquet)
            }
            None => None,
        };
        // Spark's data source tables keep their real path in the serde's `path`.
        let location = serde_params
            .as_ref()
            .and_then(|p| p.get("path").cloned())
            .filter(|_| provider.is_some())
            .or_else(|| {
                sd.and_then(|s| s.field(SD_LOCATION))
                    .and_then(Value::str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let partition_keys = t
            .field(TABLE_PARTITION_KEYS)
            .map(|l| {
                l.list()
                    .iter()
                    .filter_map(|f| {
                        f.field(FIELD_SCHEMA_NAME)
                            .and_then(Value::str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        HiveTable {
            location,
            format,
            partition_keys,
            described_as: format!(
                "provider {}, input format {input_format:?}, serde {serde_lib:?}",
                provider.as_deref().unwrap_or("(none)")
            ),
        }
    }

    /// As a catalog entry (Parquet or Delta only).
    pub fn entry(&self, name: &str, uri: &str) -> Result<TableEntry, SourceError> {
        let unreadable = |problem: String| SourceError::Catalog {
            catalog: format!("Hive Metastore {uri}"),
            problem,
        };
        let format = self.format.ok_or_else(|| {
            unreadable(format!(
                "table {name:?} is neither Parquet nor Delta ({}); only those can be read",
                self.described_as
            ))
        })?;
        if self.location.is_empty() {
            return Err(unreadable(format!("table {name:?} has no location")));
        }
        Ok(TableEntry {
            format,
            location: self.location.clone(),
            partition_keys: self.partition_keys.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(params: &[(&str, &str)], input: &str, serde_params: &[(&str, &str)]) -> Value {
        let sd = Value::record([
            (SD_LOCATION, Value::string("s3a://b/wh/t")),
            (SD_INPUT_FORMAT, Value::string(input)),
            (
                SD_SERDE_INFO,
                Value::record([
                    (SERDE_SERIALIZATION_LIB, Value::string("serde")),
                    (SERDE_PARAMETERS, Value::string_pairs(serde_params)),
                ]),
            ),
        ]);
        Value::record([
            (1, Value::string("t")),
            (TABLE_SD, sd),
            (
                TABLE_PARTITION_KEYS,
                Value::structs(vec![Value::record([
                    (FIELD_SCHEMA_NAME, Value::string("process_date")),
                    (2, Value::string("string")),
                ])]),
            ),
            (TABLE_PARAMETERS, Value::string_pairs(params)),
        ])
    }

    #[test]
    fn formats_locations_and_keys() {
        let hive = HiveTable::from_thrift(&table(
            &[],
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            &[],
        ));
        assert_eq!(hive.format, Some(TableFormat::Parquet));
        assert_eq!(hive.location, "s3a://b/wh/t");
        assert_eq!(hive.partition_keys, vec!["process_date"]);
        let spark = HiveTable::from_thrift(&table(
            &[("spark.sql.sources.provider", "delta")],
            "org.apache.hadoop.mapred.SequenceFileInputFormat",
            &[("path", "s3://b/delta/t")],
        ));
        assert_eq!(spark.format, Some(TableFormat::Delta));
        assert_eq!(spark.location, "s3://b/delta/t");
        let orc = HiveTable::from_thrift(&table(&[], "OrcInputFormat", &[]));
        let e = orc.entry("db.t", "thrift://h:1").unwrap_err().to_string();
        assert!(
            e.contains("neither Parquet nor Delta") && e.contains("db.t"),
            "{e}"
        );
    }

    #[test]
    fn a_table_without_location_is_refused() {
        let mut t = HiveTable::from_thrift(&table(&[], "parquet", &[]));
        t.location.clear();
        let e = t.entry("db.t", "thrift://h:1").unwrap_err().to_string();
        assert!(
            e.contains("no location") && e.contains("thrift://h:1"),
            "{e}"
        );
    }
}
