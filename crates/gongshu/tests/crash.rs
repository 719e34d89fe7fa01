//! R3.2 / issue 3: an import killed mid-way (SIGKILL, no chance to clean up) leaves the
//! previous version serving, and the next import works.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn gongshu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gongshu"));
    c.env_remove("GONGSHU_ADMIN_PASSWORD")
        .env_remove("GONGSHU_DATA_DIR")
        .env_remove("GONGSHU_ADDR")
        .env("GONGSHU_LOG_FORMAT", "json");
    c
}

fn get_json(addr: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Starts `serve --demo` on a free port and returns it with its address.
fn serve(data: &Path) -> (Child, String) {
    let mut server = gongshu()
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .args(["--public-url", "https://data.example.gov.cn/", "--data-dir"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut addr = None;
    for line in stderr.by_ref() {
        let Ok(line) = line else { break };
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
    // Keep reading its log, as a terminal or journald would.
    std::thread::spawn(move || stderr.for_each(drop));
    (server, addr)
}

fn import(data: &Path, file: &Path, resource: Option<&str>) -> Command {
    let mut c = gongshu();
    c.args([
        "import",
        "--dataset",
        "208012/000001",
        "--json",
        "--data-dir",
    ])
    .arg(data)
    .arg(file);
    if let Some(r) = resource {
        c.args(["--resource", r]);
    }
    c
}

fn rows(addr: &str, resource: &str) -> serde_json::Value {
    get_json(addr, &format!("/api/v1/resources/{resource}/rows?_size=1"))
}

#[test]
fn a_killed_import_leaves_the_previous_version_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, addr) = serve(&data);

    let small = dir.path().join("small.csv");
    std::fs::write(&small, "编号,名称\n001,甲\n002,乙\n003,丙\n").unwrap();
    let out = import(&data, &small, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["version"], 1);
    let resource = first["resource_id"].as_str().unwrap().to_owned();
    assert_eq!(rows(&addr, &resource)["total"], 3);

    // Big enough that reading it takes seconds, so the kill lands mid-ingest.
    let big = dir.path().join("big.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        writeln!(f, "编号,名称,金额,日期").unwrap();
        for i in 0..3_000_000u32 {
            writeln!(
                f,
                "{i:07},企业{i},{}.{:02},2024-03-{:02}",
                i % 9973,
                i % 100,
                i % 28 + 1
            )
            .unwrap();
        }
    }
    let mut killed = import(&data, &big, Some(&resource))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        killed.try_wait().unwrap().is_none(),
        "the import finished before it could be killed; the test needs a bigger file"
    );
    killed.kill().unwrap();
    killed.wait().unwrap();

    // The server never saw a half-written version.
    let after = rows(&addr, &resource);
    assert_eq!(after["total"], 3, "{after}");
    assert_eq!(after["meta"]["version"], 1);
    assert_eq!(after["rows"][0]["编号"], "001");
    // SD-OPEN §15: the citation carries the platform's public address.
    assert_eq!(
        after["meta"]["source"]["url"],
        "https://data.example.gov.cn/datasets/4"
    );

    // A restart marks what the killed import left behind as failed and keeps serving v1.
    Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    server.wait().unwrap();
    let (mut server, addr) = serve(&data);
    assert_eq!(rows(&addr, &resource)["meta"]["version"], 1);

    // And the next import works and takes over.
    let next = dir.path().join("next.csv");
    std::fs::write(&next, "编号,名称\n004,丁\n").unwrap();
    let out = import(&data, &next, Some(&resource)).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(second["version"].as_i64().unwrap() >= 2);
    let now = rows(&addr, &resource);
    assert_eq!(now["total"], 1);
    assert_eq!(now["meta"]["version"], second["version"]);
    server.kill().unwrap();
    server.wait().unwrap();
}
