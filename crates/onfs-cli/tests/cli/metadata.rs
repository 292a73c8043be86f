//! The metadata service through the CLI: the token never shows.

use crate::support::*;

const TOKEN: &str = "tok-S3CRET-cli";

/// Serves `status` + `body` to every request until dropped; returns the URL.
fn serve(status: u16, body: String) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut sink = String::new();
            let _ = req.as_reader().read_to_string(&mut sink);
            let _ = req
                .respond(tiny_http::Response::from_string(body.clone()).with_status_code(status));
        }
    });
    format!("http://127.0.0.1:{port}/api/v1/orion/get-source-mapping")
}

#[test]
fn plan_from_the_service_matches_the_file() {
    let body = std::fs::read_to_string(case("tables-pipeline").join("metadata.json")).unwrap();
    let url = serve(200, body);
    let run = onfs_env(
        &[
            "plan",
            "--metadata-url",
            &url,
            "--job-id",
            "j1",
            "--json",
            "--log-level",
            "trace",
        ],
        &[("ONFS_JOB_TOKEN", TOKEN)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_tables_pipeline_plan(&run.stdout);
    assert!(!run.all_output().contains(TOKEN));
}

#[test]
fn refused_token_exits_2_without_showing_it() {
    let url = serve(401, format!("bad token {TOKEN}"));
    for token_arg in [true, false] {
        let mut args = vec![
            "plan",
            "--metadata-url",
            url.as_str(),
            "--job-id",
            "job-42",
            "--log-level",
            "trace",
        ];
        if token_arg {
            args.extend(["--job-token", TOKEN]);
        }
        let env: &[(&str, &str)] = if token_arg {
            &[]
        } else {
            &[("ONFS_JOB_TOKEN", TOKEN)]
        };
        let run = onfs_env(&args, env);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.contains("job-42") && run.stderr.contains(&url),
            "{}",
            run.stderr
        );
        assert!(
            !run.all_output().contains(TOKEN),
            "token leaked: {}",
            run.all_output()
        );
    }
}

#[test]
fn server_errors_exit_1_without_showing_the_token() {
    let url = serve(503, format!("overloaded; you sent jobToken={TOKEN}"));
    let run = onfs_env(
        &[
            "plan",
            "--metadata-url",
            &url,
            "--job-id",
            "j",
            "--log-level",
            "debug",
        ],
        &[("ONFS_JOB_TOKEN", TOKEN)],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("after 3 tries") && run.stderr.contains("HTTP 503"),
        "{}",
        run.stderr
    );
    assert!(
        !run.all_output().contains(TOKEN),
        "token leaked: {}",
        run.all_output()
    );
}

#[test]
fn missing_token_is_a_usage_error() {
    let run = onfs(&[
        "plan",
        "--metadata-url",
        "http://127.0.0.1:9/x",
        "--job-id",
        "j",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("ONFS_JOB_TOKEN"), "{}", run.stderr);
}

#[test]
fn help_does_not_show_the_token_from_the_environment() {
    let run = onfs_env(&["plan", "--help"], &[("ONFS_JOB_TOKEN", TOKEN)]);
    assert_eq!(run.code, 0);
    assert!(!run.all_output().contains(TOKEN));
}
