//! Every frame recorded from real Phoenix 1.7.14 and 1.8.12 decodes with the connection's vsn;
//! every server frame re-encodes to the recorded bytes; the deliberately invalid frames (those
//! after which the server closed with 1011) are refused.

use crate::support::fixtures;
use phx_protocol::{negotiate, Frame, Vsn};
use serde_json::Value;
use std::collections::HashMap;

struct Recorded {
    file: String,
    line: usize,
    conn: String,
    dir: String,
    frame: Frame,
    vsn: Vsn,
}

/// The transcript lines with a frame, each with the vsn of its connection's last connect URL.
fn load(version: &str) -> Vec<(Recorded, bool)> {
    let dir = fixtures().join(version).join("transcripts");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
    {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut vsn_of: HashMap<String, Vsn> = HashMap::new();
        for (i, l) in lines.iter().enumerate() {
            let conn = l["conn"].as_str().unwrap_or("").to_owned();
            let frame_text = l["frame"].as_str().unwrap_or("");
            match l["dir"].as_str().unwrap() {
                "event" => {
                    if let Some(url) = frame_text.strip_prefix("connect ") {
                        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
                        let vsn = query.split('&').find_map(|kv| kv.strip_prefix("vsn="));
                        // An unsupported vsn (3.0.0) is refused at upgrade: no frames follow.
                        if let Ok(v) = negotiate(vsn) {
                            vsn_of.insert(conn, v);
                        }
                    }
                }
                dir @ ("send" | "recv") => {
                    let frame = if l["opcode"] == "binary" {
                        Frame::binary(hex::decode(frame_text).unwrap())
                    } else {
                        Frame::text(frame_text)
                    };
                    // The server closed with 1011 right after this frame: Phoenix could not decode it.
                    let next_for_conn = lines[i + 1..]
                        .iter()
                        .find(|n| n["conn"].as_str() == Some(conn.as_str()));
                    let invalid = next_for_conn.is_some_and(|n| {
                        n["frame"]
                            .as_str()
                            .is_some_and(|f| f.starts_with("connection closed code=1011"))
                    });
                    let vsn = *vsn_of
                        .get(&conn)
                        .unwrap_or_else(|| panic!("{file}:{}: frame before connect", i + 1));
                    out.push((
                        Recorded {
                            file: file.clone(),
                            line: i + 1,
                            conn,
                            dir: dir.to_owned(),
                            frame,
                            vsn,
                        },
                        invalid,
                    ));
                }
                other => panic!("{file}:{}: unknown dir {other}", i + 1),
            }
        }
    }
    out
}

fn check(version: &str) {
    let frames = load(version);
    let (mut sent, mut received, mut invalid) = (0, 0, 0);
    for (r, is_invalid) in &frames {
        let at = format!("{version}/{}:{} ({}, {:?})", r.file, r.line, r.conn, r.vsn);
        if *is_invalid {
            assert_eq!(r.dir, "send", "{at}: only client frames are invalid");
            let err = r.vsn.decode_client(&r.frame);
            assert!(
                err.is_err(),
                "{at}: Phoenix refused this frame but it decoded: {err:?}"
            );
            invalid += 1;
        } else if r.dir == "send" {
            let msg = r
                .vsn
                .decode_client(&r.frame)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(!msg.topic.is_empty(), "{at}");
            sent += 1;
        } else {
            let msg = r
                .vsn
                .decode_server(&r.frame)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            let again = r
                .vsn
                .encode_server(&msg)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(again, r.frame, "{at}: re-encoding differs");
            received += 1;
        }
    }
    // invalid.jsonl has 9 frames Phoenix could not decode (PROTOCOL.md §3 and the fixture README).
    assert_eq!(invalid, 9, "{version}");
    assert!(
        sent > 50 && received > 50,
        "{version}: {sent} sent, {received} received"
    );
}

#[test]
fn phoenix_1_7_14_recordings() {
    check("phoenix-1.7.14");
}

#[test]
fn phoenix_1_8_12_recordings() {
    check("phoenix-1.8.12");
}
