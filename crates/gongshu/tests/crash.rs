//! R3.2 / issue 3: an import killed mid-way (SIGKILL, no chance to clean up) leaves the
//! previous version serving, and the next import works. R6.5 / issue 7: a backup taken
//! while serving restores into a platform that serves the same data, with an audit log
//! that verifies; a damaged backup is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn gongshu() -> Command {
    let mut c = common::gongshu();
    // Every process here shares one master key, as one installation's would.
    c.env("GONGSHU_MASTER_KEY", MASTER_KEY);
    c
}

const MASTER_KEY: &str = "5f2e7c1a9b3d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f";

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
    let mut c = gongshu();
    c.args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .args(["--public-url", "https://data.example.gov.cn/", "--data-dir"])
        .arg(data);
    common::start(c)
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

#[test]
fn a_backup_taken_while_serving_restores_and_a_damaged_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, addr) = serve(&data);
    let file = dir.path().join("small.csv");
    std::fs::write(&file, "编号,名称\n001,甲\n002,乙\n").unwrap();
    let out = import(&data, &file, None).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resource = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["resource_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rows(&addr, &resource)["total"], 2);

    // Taken while the server runs.
    let backup = dir.path().join("backup");
    let out = gongshu()
        .arg("backup")
        .arg(&backup)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup written"));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    server.wait().unwrap();
    // The manifest names files and checksums, and holds no secret.
    let manifest = std::fs::read_to_string(backup.join("manifest.json")).unwrap();
    for secret in [MASTER_KEY, "gongshu-demo", "$argon2", "password"] {
        assert!(!manifest.contains(secret), "{secret} in the manifest");
    }
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert!(m["objects"].as_array().unwrap().len() >= 3, "{m}");
    assert!(m["audit_entries"].as_i64().unwrap() > 0, "{m}");

    // Restored into an empty directory, it serves the same rows and its audit log
    // verifies; a second restore over it is refused.
    let restored = dir.path().join("restored");
    let restore = |to: &Path, from: &Path| {
        gongshu()
            .arg("restore")
            .arg(from)
            .arg("--data-dir")
            .arg(to)
            .output()
            .unwrap()
    };
    let out = restore(&restored, &backup);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = restore(&restored, &backup);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));
    let verify = gongshu()
        .args(["audit", "verify", "--data-dir"])
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let (mut server, addr) = serve(&restored);
    let after = rows(&addr, &resource);
    assert_eq!(after["total"], 2, "{after}");
    assert_eq!(after["rows"][0]["名称"], "甲");
    let _ = server.kill();
    server.wait().unwrap();

    // One byte changed in a stored object: the restore refuses before writing anything.
    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    copy_tree(&backup, &damaged);
    let victim = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["bytes"].as_u64() > Some(0))
        .unwrap()["path"]
        .as_str()
        .unwrap();
    let path = damaged.join(victim);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let target = dir.path().join("from-damaged");
    let out = restore(&target, &damaged);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged or was altered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!target.join("gongshu.db").exists());
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
