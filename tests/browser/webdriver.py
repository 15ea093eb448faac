"""A small W3C WebDriver client over the standard library, and the
sandbox the page tests run in: a project with the captured fixtures
published through the real hook, `event-publisher serve` on a free port,
and chromedriver driving Debian's chromium headless."""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
def _debug_binary():
    # .cargo/config.toml names the target, so builds go to target/<host>/.
    host = subprocess.run(["rustc", "--print", "host-tuple"], capture_output=True,
                          text=True, check=True).stdout.strip()
    for path in (os.path.join(REPO, "target", host, "debug", "event-publisher"),
                 os.path.join(REPO, "target", "debug", "event-publisher")):
        if os.path.exists(path):
            return path
    raise SystemExit("no debug build of event-publisher: run cargo build first")


BIN = os.environ.get("EVENT_PUBLISHER") or _debug_binary()
FIXTURES = os.path.join(REPO, "fixtures", "claude-code-2.1.328")
FG_SESSION = "e0d02c63-fe6e-4116-bbe1-d984038ca784"
BG_SESSION = "ae619f5d-d6ea-4ede-91de-4840d311b5ad"
SESSION_FIXTURES = [
    "foreground-post-tool-use-bash-in-subagent", "foreground-post-tool-use-agent",
    "foreground-subagent-stop", "foreground-stop",
    "background-post-tool-use-agent", "background-post-tool-use-bash-in-subagent",
    "background-stop", "background-subagent-stop", "background-stop-2",
]


def missing_browser():
    """What is missing to run the page tests, or None."""
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return tool
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=20.0):
    """Polls `check` until it returns something true; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


class Sandbox:
    """A project directory and a home, the fixtures published into it."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        self.home = os.path.join(self.root, "home")
        self.project = os.path.join(self.root, "project")
        os.makedirs(os.path.join(self.home, ".claude", "projects"))
        shutil.copytree(os.path.join(REPO, "schemas"), os.path.join(self.project, "schemas"))
        shutil.copytree(os.path.join(FIXTURES, "transcripts"),
                        os.path.join(self.home, ".claude", "projects"), dirs_exist_ok=True)
        self.env = {"HOME": self.home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def publish_fixtures(self):
        for name in SESSION_FIXTURES:
            with open(os.path.join(FIXTURES, name + ".json")) as f:
                text = f.read()
            text = text.replace("/home/dev/.claude", os.path.join(self.home, ".claude"))
            text = text.replace("/home/dev/project", self.project)
            self.hook(text.encode())

    def hook(self, payload):
        subprocess.run([BIN, "publish"], input=payload, env=self.env, cwd=self.project,
                       check=True, capture_output=True)

    def emit(self, session, events, agent=None, tool_use_id="toolu_test"):
        """Events printed by one Bash call, through the real hook."""
        stdout = "\n".join("<EVENT>" + json.dumps(e) + "</EVENT>" for e in events)
        payload = {"session_id": session, "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_use_id": tool_use_id, "tool_input": {"command": "echo"},
                   "cwd": self.project, "tool_response": {"stdout": stdout, "stderr": ""}}
        if agent:
            payload["agent_id"], payload["agent_type"] = agent
        subprocess.run([BIN, "publish", "--no-feedback"], input=json.dumps(payload).encode(),
                       env=self.env, cwd=self.project, check=True, capture_output=True)

    def close(self):
        self.tmp.cleanup()


class Serve:
    """`event-publisher serve --port 0` over a sandbox's project."""

    def __init__(self, sandbox, port=0):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--port", str(port), "--project-dir", sandbox.project],
            env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.url = line.split("listening on ", 1)[1].strip()
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def get(self, path):
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Browser:
    """chromedriver and one headless chromium session."""

    def __init__(self, width=1280, height=800):
        port = free_port()
        self.driver = subprocess.Popen(["chromedriver", "--port=%d" % port],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % port
        wait_for("chromedriver", self._ready)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=%d,%d" % (width, height)]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            with urllib.request.urlopen(self.base + "/status", timeout=2) as r:
                return json.loads(r.read())["value"].get("ready")
        except OSError:
            return False

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError("webdriver %s %s: %s" % (method, path, e.read()[:500]))

    def _s(self, path, method="POST", body=None):
        return self._call(method, "/session/%s%s" % (self.session, path), body)

    def go(self, url):
        self._s("/url", body={"url": url})

    def js(self, script, *args):
        return self._s("/execute/sync", body={"script": script, "args": list(args)})

    def wait_js(self, what, script, *args, timeout=20.0):
        return wait_for(what, lambda: self.js(script, *args), timeout)

    def click(self, css):
        el = self._s("/element", body={"using": "css selector", "value": css})
        key = next(iter(el))
        self._s("/element/%s/click" % el[key], body={})

    def screenshot(self, path):
        png = base64.b64decode(self._s("/screenshot", method="GET"))
        with open(path, "wb") as f:
            f.write(png)

    def close(self):
        try:
            self._s("", method="DELETE")
        finally:
            self.driver.kill()
            self.driver.wait()
