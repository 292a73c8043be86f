//! A connection to one metastore: the binary protocol over a buffered socket, one call at a
//! time, and the call this crate needs (`get_table_req`).

use std::io::{BufReader, BufWriter};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TInputProtocol, TMessageIdentifier, TMessageType,
    TOutputProtocol, TType,
};

use super::codec::{read_value, write_value, Value, MAX_DEPTH};
use super::table::HiveTable;
use crate::SourceError;

/// A call's result struct: field 0 is what it returns (`success`); the others, the exceptions
/// it declares.
const RESULT_SUCCESS: i16 = 0;
/// `TApplicationException.message`, and `message` of the metastore's exceptions
/// (`MetaException`, `NoSuchObjectException`, ...).
const EXCEPTION_MESSAGE: i16 = 1;

/// `get_table_req(1: GetTableRequest req)`.
const GET_TABLE_REQ: &str = "get_table_req";
const GET_TABLE_REQ_ARG: i16 = 1;
/// `GetTableRequest.dbName`
const REQUEST_DB_NAME: i16 = 1;
/// `GetTableRequest.tblName`
const REQUEST_TBL_NAME: i16 = 2;
/// `GetTableResult.table`
const RESULT_TABLE: i16 = 1;
/// `get_table_req ... throws (1: MetaException o1, 2: NoSuchObjectException o2)`
const NO_SUCH_OBJECT: i16 = 2;

/// What a call answered: its result, or one of its declared exceptions (field id, text).
pub enum Answer {
    Ok(Option<Value>),
    Exception(i16, String),
}

/// A connection to one metastore.
pub struct HiveMetastore {
    uri: String,
    input: TBinaryInputProtocol<BufReader<TcpStream>>,
    output: TBinaryOutputProtocol<BufWriter<TcpStream>>,
    seq: i32,
}

impl HiveMetastore {
    /// `thrift://HOST:PORT`.
    pub fn connect(uri: &str) -> Result<HiveMetastore, SourceError> {
        let bad = |problem: &'static str| SourceError::BadMetastoreUri {
            uri: uri.to_string(),
            problem,
        };
        let addr = uri
            .strip_prefix("thrift://")
            .ok_or_else(|| bad("not a thrift:// URI"))?
            .trim_end_matches('/');
        let unreachable = |source: std::io::Error| SourceError::MetastoreUnreachable {
            uri: uri.to_string(),
            source,
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| bad("the host does not resolve"))?;
        let stream =
            TcpStream::connect_timeout(&sock, Duration::from_secs(10)).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(unreachable)?;
        let reader = stream.try_clone().map_err(unreachable)?;
        Ok(HiveMetastore {
            uri: uri.to_string(),
            input: TBinaryInputProtocol::new(BufReader::new(reader), true),
            output: TBinaryOutputProtocol::new(BufWriter::new(stream), true),
            seq: 0,
        })
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn failed(&self, call: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Catalog {
            catalog: format!("Hive Metastore {}", self.uri),
            problem: format!("{call} failed: {e}"),
        }
    }

    /// Calls `name` with the argument struct's fields; returns the result or the exception the
    /// call declared.
    pub fn call(&mut self, name: &str, args: Vec<(i16, Value)>) -> Result<Answer, SourceError> {
        self.seq += 1;
        let seq = self.seq;
        let sent = (|| -> thrift::Result<()> {
            self.output.write_message_begin(&TMessageIdentifier::new(
                name,
                TMessageType::Call,
                seq,
            ))?;
            write_value(&mut self.output, &Value::record(args))?;
            self.output.write_message_end()?;
            self.output.flush()?;
            Ok(())
        })();
        sent.map_err(|e| self.failed(name, e))?;
        let answer = (|| -> thrift::Result<(TMessageIdentifier, Value)> {
            let m = self.input.read_message_begin()?;
            let v = read_value(&mut self.input, TType::Struct, MAX_DEPTH)?;
            self.input.read_message_end()?;
            Ok((m, v))
        })();
        let (m, v) = answer.map_err(|e| self.failed(name, e))?;
        if m.message_type == TMessageType::Exception {
            let text = v
                .field(EXCEPTION_MESSAGE)
                .and_then(Value::str)
                .unwrap_or("application error");
            return Err(self.failed(name, text));
        }
        if let Value::Struct(fields) = &v {
            for (id, f) in fields {
                if *id != RESULT_SUCCESS {
                    let text = f
                        .field(EXCEPTION_MESSAGE)
                        .and_then(Value::str)
                        .unwrap_or("an exception")
                        .to_string();
                    return Ok(Answer::Exception(*id, text));
                }
            }
        }
        Ok(Answer::Ok(v.field(RESULT_SUCCESS).cloned()))
    }

    /// The table's location, format and partition keys; None when the metastore has no such
    /// table (or database).
    pub fn table(&mut self, db: &str, table: &str) -> Result<Option<HiveTable>, SourceError> {
        let req = Value::record([
            (REQUEST_DB_NAME, Value::string(db)),
            (REQUEST_TBL_NAME, Value::string(table)),
        ]);
        match self.call(GET_TABLE_REQ, vec![(GET_TABLE_REQ_ARG, req)])? {
            Answer::Ok(Some(result)) => {
                let t = result
                    .field(RESULT_TABLE)
                    .ok_or_else(|| self.failed(GET_TABLE_REQ, "an answer without a table"))?;
                Ok(Some(HiveTable::from_thrift(t)))
            }
            Answer::Ok(None) | Answer::Exception(NO_SUCH_OBJECT, _) => Ok(None),
            Answer::Exception(_, text) => Err(self.failed(GET_TABLE_REQ, text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_uris_and_nothing_listening() {
        let e = HiveMetastore::connect("http://h:9083").err().unwrap();
        assert!(matches!(e, SourceError::BadMetastoreUri { .. }), "{e}");
        assert!(e.is_usage());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = HiveMetastore::connect(&format!("thrift://127.0.0.1:{port}"))
            .err()
            .unwrap();
        assert!(!e.is_usage());
        let e = e.to_string();
        assert!(
            e.contains("cannot connect") && e.contains(&port.to_string()),
            "{e}"
        );
    }
}
