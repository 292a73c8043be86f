//! The metadata client against a real local HTTP server (`tiny_http`) answering a scripted
//! sequence of responses; every request is recorded so the tests can check what was sent.
//!
//! Every test also checks that the job token appears in no error text.

use std::fmt::Debug;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use onfs_core::metadata::{fetch_metadata, MetadataError, MetadataRequest};
use onfs_core::DataType;
use serde_json::Value;

const JOB_ID: &str = "job-42";
/// Distinctive, and changed by URL encoding (`/`, `+`, `=`).
const TOKEN: &str = "tok-S3CRET/+=";
/// How `TOKEN` must appear in the query string.
const TOKEN_ENCODED: &str = "tok-S3CRET%2F%2B%3D";
const PATH: &str = "/v1/metadata";

/// In a scripted body, replaced by the path and query of the request being answered.
const ECHO_URL: &str = "{request-url}";

/// One scripted answer.
struct Reply {
    status: u16,
    body: String,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
    }
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, as sent.
    url: String,
    content_type: Option<String>,
}

/// A local HTTP server answering `script` in order, then 599 "script exhausted" to any further
/// request (so an unexpected extra request is still recorded and counted). [`ECHO_URL`] in a
/// body is replaced by the request's path and query, as a server echoing its input would.
struct ScriptedServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    fn start(script: Vec<Reply>) -> ScriptedServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (Arc::clone(&server), Arc::clone(&seen));
            std::thread::spawn(move || {
                let mut script = script.into_iter();
                // `recv` fails once `unblock` is called by `Drop`.
                while let Ok(mut request) = server.recv() {
                    let content_type = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Content-Type"))
                        .map(|h| h.value.to_string());
                    let url = request.url().to_string();
                    seen.lock().unwrap().push(Seen {
                        method: request.method().to_string(),
                        url: url.clone(),
                        content_type,
                    });
                    let mut ignored = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut ignored);
                    let Reply { status, body } = script
                        .next()
                        .unwrap_or_else(|| reply(599, "script exhausted"));
                    let response = tiny_http::Response::from_string(body.replace(ECHO_URL, &url))
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        ScriptedServer {
            url: format!("http://127.0.0.1:{port}{PATH}"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    /// A request for this server with the test's job id and token and a short backoff.
    fn request(&self) -> MetadataRequest {
        fast_request(&self.url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fast_request(url: &str) -> MetadataRequest {
    let mut req = MetadataRequest::new(url, JOB_ID, TOKEN);
    req.connect_timeout = Duration::from_secs(2);
    req.total_timeout = Duration::from_secs(10);
    req.backoff = Duration::from_millis(10);
    req
}

/// Every text of `result` (Display, `{:#}`, `{:?}`, and each source in the chain).
fn texts<T: Debug>(result: &Result<T, MetadataError>) -> Vec<String> {
    match result {
        Ok(v) => vec![format!("{v:?}")],
        Err(e) => {
            let mut out = vec![e.to_string(), format!("{e:#}"), format!("{e:?}")];
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                out.push(s.to_string());
                out.push(format!("{s:?}"));
                source = s.source();
            }
            out
        }
    }
}

/// Fails if the token, plain or URL-encoded, appears in any text of `result`.
fn assert_no_token<T: Debug>(result: &Result<T, MetadataError>) {
    for text in texts(result) {
        assert!(
            !text.contains(TOKEN) && !text.contains(TOKEN_ENCODED),
            "the job token leaked into: {text}"
        );
        assert!(
            !text.contains("S3CRET"),
            "part of the job token leaked into: {text}"
        );
    }
}

/// The error of `result`, after checking it holds no token.
fn error_of<T: Debug>(result: Result<T, MetadataError>) -> MetadataError {
    assert_no_token(&result);
    result.expect_err("expected an error")
}

fn valid_json() -> String {
    let path = crate::support::reference_case("tables-pipeline").join("metadata.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The valid body with `edit` applied to its JSON value.
fn edited_json(edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(&valid_json()).unwrap();
    edit(&mut value);
    value.to_string()
}

fn data_path(value: &mut Value, i: usize, j: usize, k: usize) -> &mut Value {
    &mut value["data"][i]["base-path"][j]["data-paths"][k]
}

#[test]
fn success_posts_job_id_and_encoded_token() {
    let server = ScriptedServer::start(vec![reply(200, valid_json())]);
    let result = fetch_metadata(&server.request());
    assert_no_token(&result);
    let meta = result.unwrap();
    assert_eq!(meta.entity_label, "user");
    assert_eq!(meta.entity_columns, vec!["user_id"]);
    assert_eq!(meta.data.len(), 2);

    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.method, "POST");
    let (path, query) = request.url.split_once('?').expect("a query string");
    assert_eq!(path, PATH);
    let params: Vec<&str> = query.split('&').collect();
    assert!(params.contains(&"jobId=job-42"), "{query}");
    assert!(
        params.contains(&format!("jobToken={TOKEN_ENCODED}").as_str()),
        "{query}"
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
}

#[test]
fn unauthorized_and_forbidden_are_refused_without_retry() {
    for status in [401, 403] {
        let server = ScriptedServer::start(vec![reply(status, "no")]);
        let err = error_of(fetch_metadata(&server.request()));
        assert!(
            matches!(err, MetadataError::Refused { status: s, .. } if s == status),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(JOB_ID), "{text}");
        assert!(text.contains(&server.url), "{text}");
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert_eq!(server.seen().len(), 1, "HTTP {status} must not be retried");
    }
}

#[test]
fn server_error_then_success_is_retried() {
    let server = ScriptedServer::start(vec![reply(500, "busy"), reply(200, valid_json())]);
    let result = fetch_metadata(&server.request());
    assert_no_token(&result);
    assert_eq!(result.unwrap().entity_label, "user");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.method == "POST"));
}

#[test]
fn server_errors_exhaust_the_tries() {
    let server = ScriptedServer::start((0..3).map(|_| reply(500, "still busy")).collect());
    let mut req = server.request();
    req.tries = 3;
    let err = error_of(fetch_metadata(&req));
    assert!(
        matches!(err, MetadataError::Unreachable { tries: 3, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("HTTP 500") && text.contains("still busy"),
        "{text}"
    );
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn not_found_is_a_status_error_without_retry() {
    let server = ScriptedServer::start(vec![reply(404, "no such job")]);
    let err = error_of(fetch_metadata(&server.request()));
    assert!(
        matches!(err, MetadataError::Status { status: 404, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(JOB_ID) && text.contains("no such job"),
        "{text}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn silent_server_times_out() {
    // Accepts connections and holds them open without ever answering.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
    });
    let mut req = fast_request(&url);
    req.total_timeout = Duration::from_millis(300);
    req.tries = 2;
    let start = Instant::now();
    let result = fetch_metadata(&req);
    let elapsed = start.elapsed();
    let err = error_of(result);
    assert!(
        matches!(err, MetadataError::Unreachable { tries: 2, .. }),
        "{err:?}"
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = err.to_string();
    assert!(text.contains("could not be reached"), "{text}");
    assert!(text.contains("timed out"), "{text}");
}

#[test]
fn nothing_listening_is_unreachable_quickly() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}{PATH}");
    let start = Instant::now();
    let err = error_of(fetch_metadata(&fast_request(&url)));
    let elapsed = start.elapsed();
    assert!(
        matches!(err, MetadataError::Unreachable { tries: 3, .. }),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
}

#[test]
fn malformed_json_is_a_format_error() {
    let server = ScriptedServer::start(vec![reply(200, r#"{"keys": "#)]);
    let err = error_of(fetch_metadata(&server.request()));
    assert!(matches!(err, MetadataError::Format { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not valid JSON"), "{text}");
    assert!(text.contains(&server.url), "{text}");
    assert_eq!(server.seen().len(), 1, "a bad answer must not be retried");
}

#[test]
fn incomplete_json_names_the_missing_field() {
    let body = edited_json(|v| {
        data_path(v, 1, 0, 2)
            .as_object_mut()
            .unwrap()
            .remove("default-value")
            .expect("the reference case has this field");
    });
    let server = ScriptedServer::start(vec![reply(200, body)]);
    let err = error_of(fetch_metadata(&server.request()));
    let MetadataError::Format { source, .. } = &err else {
        panic!("expected a format error, got {err:?}");
    };
    assert_eq!(
        source.path,
        "data[1].base-path[0].data-paths[2].default-value"
    );
    let text = err.to_string();
    assert!(
        text.contains("data[1].base-path[0].data-paths[2].default-value"),
        "{text}"
    );
    assert!(text.contains("missing field"), "{text}");
}

#[test]
fn unknown_data_type_lists_all_accepted_names() {
    let body = edited_json(|v| {
        data_path(v, 0, 0, 3)["data-type"] = Value::from("DataTypeFloat128");
    });
    let server = ScriptedServer::start(vec![reply(200, body)]);
    let err = error_of(fetch_metadata(&server.request()));
    let MetadataError::Format { source, .. } = &err else {
        panic!("expected a format error, got {err:?}");
    };
    assert_eq!(source.path, "data[0].base-path[0].data-paths[3].data-type");
    let text = err.to_string();
    assert!(
        text.contains("data[0].base-path[0].data-paths[3].data-type"),
        "{text}"
    );
    assert!(text.contains("DataTypeFloat128"), "{text}");
    assert!(text.contains("DataTypeBoolVector"), "{text}");
    assert!(text.contains("DataTypeFP8E5M2"), "{text}");
    assert!(text.contains("DataTypeFP8E4M3Vector"), "{text}");
    let names = DataType::all_names();
    assert_eq!(names.len(), 30);
    for name in names {
        assert!(text.contains(&name), "{name} missing from: {text}");
    }
}

#[test]
fn token_echoed_in_error_bodies_is_scrubbed() {
    let body = format!("bad token {TOKEN} (sent as jobToken={TOKEN_ENCODED}) in {ECHO_URL}");
    let server = ScriptedServer::start((0..3).map(|_| reply(500, body.clone())).collect());
    let err = error_of(fetch_metadata(&server.request()));
    assert!(
        matches!(err, MetadataError::Unreachable { tries: 3, .. }),
        "{err:?}"
    );
    // The rest of the body is kept; only the token is replaced.
    assert!(err.to_string().contains("bad token"), "{err}");
    assert_eq!(server.seen().len(), 3);

    // The same for a 4xx answer, whose body goes into the error as it is.
    let server = ScriptedServer::start(vec![reply(400, body)]);
    let err = error_of(fetch_metadata(&server.request()));
    assert!(
        matches!(err, MetadataError::Status { status: 400, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("bad token"), "{err}");
}

/// A token holding both characters ureq percent-encodes (`/`) and characters it leaves as they
/// are (`!`, `*`, `(`, `)`) is sent in a form that is neither the plain token nor the form
/// `scrub` looks for (which encodes every non-unreserved byte), so a server echoing its request
/// URL leaks it.
#[test]
fn token_echoed_as_sent_is_scrubbed_whatever_its_characters() {
    let token = "tok-S3CRET/!*";
    let server = ScriptedServer::start(vec![reply(404, format!("not found: {ECHO_URL}"))]);
    let mut req = server.request();
    req.job_token = token.to_string();
    let err = fetch_metadata(&req).unwrap_err();
    assert!(
        !server.seen()[0].url.contains(token),
        "not this case: the token was sent as it is"
    );
    for text in texts::<()>(&Err(err)) {
        assert!(
            !text.contains("S3CRET"),
            "the job token leaked into: {text}"
        );
    }
}

/// A format error's field path is not scrubbed, and an unknown data type is quoted with `{:?}`,
/// whose escaping (`\"`) defeats the scrub.
#[test]
fn token_echoed_in_the_metadata_is_scrubbed() {
    let token = r#"tok-S3CRET"q"#;
    let escaped = serde_json::to_string(token).unwrap();
    let bodies = [
        // The token as the entity label: path `keys.<token>`.
        format!(r#"{{"keys": {{{escaped}: []}}, "data": []}}"#),
        // The token as a data type: quoted with Debug escaping in the problem.
        edited_json(|v| data_path(v, 0, 0, 0)["data-type"] = Value::from(token)),
    ];
    let mut leaks = Vec::new();
    for body in bodies {
        let server = ScriptedServer::start(vec![reply(200, body)]);
        let mut req = server.request();
        req.job_token = token.to_string();
        let err = fetch_metadata(&req).unwrap_err();
        assert!(matches!(err, MetadataError::Format { .. }), "{err:?}");
        leaks.extend(
            texts::<()>(&Err(err))
                .into_iter()
                .filter(|text| text.contains("S3CRET")),
        );
    }
    assert!(leaks.is_empty(), "the job token leaked into: {leaks:#?}");
}
