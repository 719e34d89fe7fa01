//! The binary as an operator runs it: config file, accounts, serve, SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gongshu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gongshu"));
    c.env_remove("GONGSHU_ADMIN_PASSWORD")
        .env_remove("GONGSHU_DATA_DIR")
        .env_remove("GONGSHU_ADDR")
        .env("GONGSHU_LOG_FORMAT", "json");
    c
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn user_commands_and_serve_with_config_file_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("gongshu.toml");
    std::fs::write(
        &config,
        format!(
            "addr = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();

    let out = gongshu()
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut add = gongshu()
        .args([
            "user",
            "add",
            "zhangsan",
            "--display-name",
            "张三",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a-long-password\n")
        .unwrap();
    let out = add.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user zhangsan"));
    let out = gongshu()
        .args([
            "user", "grant", "zhangsan", "--role", "auditor", "--region", "370000", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = gongshu()
        .args(["user", "grant", "zhangsan", "--role", "wizard", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));

    // Plain `serve` starts empty with a generated admin password, printed once.
    let mut server = gongshu()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("`admin` with password:"), "{first}");
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut addr = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["fields"]["addr"].as_str() {
            addr = Some(a.to_owned());
            break;
        }
        assert!(Instant::now() < deadline, "server did not start");
    }
    let addr = addr.expect("the server logged its address");
    assert!(http_get(&addr, "/healthz").contains("\"status\":\"ok\""));
    let list = http_get(&addr, "/api/v1/datasets");
    assert!(
        list.contains("\"total\":0"),
        "plain serve starts empty: {list}"
    );

    // SIGTERM: graceful shutdown, exit status 0.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "{exit:?}");

    // A second start keeps the admin and prints no password.
    let out = gongshu()
        .args(["user", "passwd", "admin", "--config"])
        .arg(&config)
        .env("GONGSHU_USER_PASSWORD", "another-password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "adress = \"127.0.0.1:1\"\n").unwrap();
    let out = gongshu()
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("parsing config file") && err.contains("adress"),
        "{err}"
    );
}

#[test]
fn openapi_command_prints_the_spec() {
    let out = gongshu().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"]["/api/v1/datasets"].is_object());
}

#[test]
fn calendar_commands_enter_a_notice_and_count_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = gongshu()
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, _) = run(&["calendar", "deadline", "2026-09-30", "3"]);
    assert!(ok);
    assert_eq!(out.trim(), "2026-10-10");
    let (ok, out, _) = run(&["calendar", "deadline", "2026-12-31", "1"]);
    assert!(ok);
    assert!(out.starts_with("2027-01-01  (provisional"), "{out}");

    let notice = dir.path().join("2027.json");
    std::fs::write(
        &notice,
        r#"{"year": 2027, "papers": [], "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true}]}"#,
    )
    .unwrap();
    let notice = notice.to_str().unwrap();
    let (ok, out, _) = run(&[
        "calendar",
        "import",
        notice,
        "--reason",
        "国办发明电〔2026〕号",
    ]);
    assert!(ok);
    assert_eq!(out.trim(), "2027: 1 rest days, 0 make-up working days");
    let (_, out, _) = run(&["calendar", "deadline", "2026-12-31", "1"]);
    assert_eq!(out.trim(), "2027-01-04");

    // Refusals name the problem and change nothing.
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"year": 2027, "days": []}"#).unwrap();
    let (ok, _, err) = run(&[
        "calendar",
        "import",
        empty.to_str().unwrap(),
        "--reason",
        "x",
    ]);
    assert!(!ok);
    assert!(
        err.contains("days: a schedule has at least one day"),
        "{err}"
    );
    let (ok, _, err) = run(&["calendar", "deadline", "2026-12-31", "0"]);
    assert!(!ok);
    assert!(err.contains("days must be between 1 and 1000"), "{err}");
    let (_, out, _) = run(&["calendar", "deadline", "2026-12-31", "1"]);
    assert_eq!(out.trim(), "2027-01-04");
}

/// Issue 5: at-rest keys kept inside the data directory, or unreadable, stop the start
/// with the reason; the same file outside it (set in the config file) is accepted.
#[test]
fn at_rest_keys_inside_the_data_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let keys = format!(
        "active = \"k1\"\n[[keys]]\nid = \"k1\"\nalgorithm = \"sm4-gcm\"\nkey = \"{}\"\n",
        "ab".repeat(16)
    );
    let inside = data.join("keys.toml");
    std::fs::write(&inside, &keys).unwrap();
    let out = gongshu()
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .arg("--at-rest-keys")
        .arg(&inside)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("inside the data directory"), "{err}");

    let outside = dir.path().join("keys.toml");
    std::fs::write(&outside, keys.replace("ab", "zz")).unwrap();
    let out = gongshu()
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .arg("--at-rest-keys")
        .arg(&outside)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not hex"), "{err}");

    std::fs::write(&outside, &keys).unwrap();
    let config = dir.path().join("gongshu.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nat_rest_keys = {:?}\n",
            data.display().to_string(),
            outside.display().to_string()
        ),
    )
    .unwrap();
    let out = gongshu()
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 6 (under way): `gongshu reindex` rebuilds the search index from the store.
#[test]
fn reindex_rebuilds_the_search_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = gongshu()
        .args(["reindex", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("search index rebuilt: 0 published entries")
    );
    assert!(dir.path().join("search").is_dir());
}
