
#[test]
fn binding_beyond_loopback_warns_and_still_refuses_foreign_hosts() {
    let env = Env::new();
    let mut child = env
        .test()
        .args(&["serve", "--port", "0", "--bind", "0.0.0.0"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://0.0.0.0:"), "{line}");
    let port: u16 = line.trim().trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    let serve = Serve { child, port };
    // Bound to every address, it still answers only to its own names.
    let (status, _) = serve.request("GET", "/api/events", "Host: attacker.example\r\n");
    assert_eq!(status, 403);
    let (status, _) = serve.request("GET", "/api/events", "Host: localhost\r\n");
    assert_eq!(status, 200);
    let mut child = serve;
    let _ = child.child.kill();
    let mut err = String::new();
    child.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("warning: listening on 0.0.0.0"), "{err}");
}
