//! Issue 7: property-based fuzzing of the whole API with schemathesis (PyPI) over the
//! OpenAPI document the server publishes: thousands of generated requests, valid and
//! not, as a provider. No answer may be a 5xx, and none may contradict the documented
//! response schema.
//!
//! schemathesis is found as `$GONGSHU_SCHEMATHESIS`, in `~/.cache/gongshu-st-venv`
//! (where `.ci/run` installs it) or as `st` on the PATH. The seed is fixed, so a failure
//! replays; `GONGSHU_FUZZ_SEED` and `GONGSHU_FUZZ_EXAMPLES` change the run.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn schemathesis() -> PathBuf {
    if let Ok(p) = std::env::var("GONGSHU_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(std::env::var("HOME").unwrap_or_default())
        .join(".cache/gongshu-st-venv/bin/st");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("st")
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let st = schemathesis();
    let version = Command::new(&st).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis is not installed ({}): .ci/run installs it, or \
         `python3 -m venv ~/.cache/gongshu-st-venv && ~/.cache/gongshu-st-venv/bin/pip install schemathesis`",
        st.display()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut serve = common::gongshu();
    serve
        .args([
            "serve",
            "--demo",
            "--rate-limit",
            "0",
            "--addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("GONGSHU_LOG", "warn,gongshu=info");
    let (mut server, addr) = common::start(serve);

    let seed = std::env::var("GONGSHU_FUZZ_SEED").unwrap_or_else(|_| "20261123".into());
    let examples = std::env::var("GONGSHU_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let out = Command::new(&st)
        .arg("run")
        .arg(format!("http://{addr}/api/v1/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            &examples,
            "--seed",
            &seed,
            "--no-color",
            // Revoking its own token would leave the rest of the run anonymous.
            "--exclude-path",
            "/api/v1/auth/token",
            "-H",
        ])
        .arg(format!(
            "Authorization: Bearer {}",
            common::ask_token(&addr, "demo-provider", "gongshu-demo").1["token"]
                .as_str()
                .unwrap()
        ))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures (replay with GONGSHU_FUZZ_SEED={seed}):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
}
