//! Running the binary as an operator would, for the tests that need a live server.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, with JSON logs and none of the caller's Gongshu settings.
pub fn gongshu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gongshu"));
    c.env_remove("GONGSHU_ADMIN_PASSWORD")
        .env_remove("GONGSHU_DATA_DIR")
        .env_remove("GONGSHU_ADDR")
        .env_remove("GONGSHU_MASTER_KEY")
        .env_remove("GONGSHU_DEMO_PASSWORD")
        .env("GONGSHU_LOG_FORMAT", "json");
    c
}

/// Starts `serve` (its arguments already on `command`, with `--addr 127.0.0.1:0`) and
/// returns it with the address it logged; its log keeps being read.
pub fn start(command: Command) -> (Child, String) {
    let (child, addr, _) = start_logged(command);
    (child, addr)
}

/// As `start`, keeping every line the server logs, to look for what must never be there.
pub fn start_logged(
    mut command: Command,
) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut server = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut addr = None;
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        log.lock().unwrap().push(line.clone());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["fields"]["addr"].as_str() {
            addr = Some(a.to_owned());
            break;
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let Some(addr) = addr else {
        let _ = server.kill();
        let _ = server.wait();
        panic!("the server did not start");
    };
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (server, addr, log)
}

/// `POST /api/v1/auth/token` over a plain connection: the status line and the body.
pub fn ask_token(addr: &str, username: &str, password: &str) -> (String, serde_json::Value) {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, json) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, serde_json::from_str(json).unwrap_or_default())
}

/// One JSON request with the blocking client: the status and the body (a string when
/// it is not JSON).
pub fn send(
    http: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

pub fn get(
    http: &reqwest::blocking::Client,
    url: &str,
    token: Option<&str>,
) -> (reqwest::StatusCode, serde_json::Value) {
    send(http, reqwest::Method::GET, url, token, None)
}

pub fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    send(http, reqwest::Method::POST, url, token, Some(body))
}

/// Waits until `check` holds, asking again every 200 ms for up to 60 s.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not happen");
}
