//! Marker scanning throughput: an 8 MiB output with no marker (one memchr
//! pass; target ≥ 1 GB/s), the same with dense markers, and the whole
//! payload path (parse + scan) on a large Bash payload. The baseline is
//! `memchr::memmem` counting `<EVENT>` over the same bytes: the cost of
//! reading the text once.
//!
//! Run: `cargo bench --bench scan`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use event_publisher::Payload;
use event_publisher::Scanner;
use serde_json::json;

fn plain_text(len: usize) -> String {
    let line =
        "drwxr-xr-x  2 user user 4096 Aug 12 16:30 some/path/to/a/file.txt and more log text\n";
    line.repeat(len / line.len() + 1)[..len].to_string()
}

fn dense_text(len: usize) -> String {
    let marker = format!(
        "<EVENT>{}</EVENT>\n",
        json!({"name": "urlCacher.contentFetched", "timestamp": "2025-08-12T16:30:00.000Z",
               "attributes": {"url": "https://docs.astral.sh/uv/", "status_code": 200, "bytes": 12345}})
    );
    let unit = format!("{marker}some output between markers\n");
    unit.repeat(len / unit.len() + 1)
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::new(1 << 20);
    let finder = memchr::memmem::Finder::new("<EVENT>");
    let mut g = c.benchmark_group("scan");
    for (label, text) in [
        ("no markers", plain_text(8 << 20)),
        ("dense markers", dense_text(8 << 20)),
    ] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("read once (memmem count)", label),
            &text,
            |b, t| b.iter(|| finder.find_iter(t.as_bytes()).count()),
        );
        g.bench_with_input(BenchmarkId::new("scanner", label), &text, |b, t| {
            b.iter(|| {
                let mut n = 0usize;
                scanner.scan(t, |_| {
                    n += 1;
                    true
                });
                n
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("payload");
    let stdout = plain_text(8 << 20);
    let payload = serde_json::to_vec(&json!({
        "session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t",
        "tool_input": {"command": "ls -lR"}, "tool_response": {"stdout": stdout, "stderr": ""}
    }))
    .unwrap();
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("serde_json::from_slice::<IgnoredAny> (read once)", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(&payload).unwrap())
    });
    g.bench_function("Payload::parse + texts", |b| {
        b.iter(|| Payload::parse(&payload).unwrap().texts().len())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
