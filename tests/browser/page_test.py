"""The page of `event-publisher serve` in a real browser (Debian's chromium,
driven over WebDriver): the timeline over the captured fixtures, a new
event arriving live, filters, a session's waterfall, and hostile text shown
as text. Run by .ci/test; skipped with a message when chromium or
chromedriver is missing, unless CI=true, where that fails."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webdriver import (BG_SESSION, FG_SESSION, Browser, Sandbox, Serve,  # noqa: E402
                       missing_browser)

FG_AGENT = ("a038d4b520bfd4de3", "general-purpose")
HOSTILE = "<img src=x onerror=\"document.title='pwned';window.pwned=1\"><script>window.pwned=2</script>"

ROWS = "return Array.from(document.querySelectorAll('#rows tr')).map(r => r.textContent)"


class Page(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Cleaned up even when set-up fails half way (tearDownClass is not
        # called then): no serve, chromedriver or chromium is left running.
        cls.sandbox = Sandbox()
        cls.addClassCleanup(cls.sandbox.close)
        cls.sandbox.publish_fixtures()
        # Agent-controlled text meant to run, in a valid event and a dead letter.
        cls.sandbox.emit(BG_SESSION, [
            {"name": "urlCacher.cacheFailed", "attributes": {"url": "https://x/", "error": HOSTILE}},
            {"name": "urlCacher.cacheFailed", "attributes": {"url": "https://x/", "error": "e", "stage": HOSTILE}},
        ], tool_use_id="toolu_hostile")
        # The main agent's side of the foreground session, and a pair closed.
        cls.sandbox.emit(FG_SESSION, [
            {"name": "urlCacher.cacheRequested", "attributes": {"url": "https://main/", "cache_path": "m/"}},
        ], tool_use_id="toolu_main")
        cls.sandbox.emit(FG_SESSION, [
            {"name": "urlCacher.cacheCheckCompleted", "attributes": {
                "url": "https://docs.astral.sh/uv/", "hit": False}},
        ], agent=FG_AGENT, tool_use_id="toolu_done")
        cls.serve = Serve(cls.sandbox)
        cls.addClassCleanup(cls.serve.close)
        cls.browser = Browser()
        cls.addClassCleanup(cls.browser.close)
        # 6 fixture events and 4 emitted here, and the lifecycle records the
        # hook writes for the fixture payloads, if it writes any.
        cls.stored = len(cls.serve.get("/api/events?validity=all&limit=1000")["events"])
        assert cls.stored >= 10, cls.stored

    def open(self, query, ready):
        self.browser.go(self.serve.url + query)
        self.browser.wait_js(ready, "return document.body.dataset.ready === arguments[0]", ready)

    def test_timeline_shows_every_stored_event(self):
        self.open("?view=timeline", "timeline")
        rows = self.browser.js(ROWS)
        self.assertEqual(len(rows), self.stored)
        self.assertTrue(any("urlCacher.urlValidated" in r for r in rows))
        invalid = self.browser.js(
            "return Array.from(document.querySelectorAll('#rows tr.invalid .errors')).map(e => e.textContent)")
        self.assertEqual(len(invalid), 1)
        self.assertIn("[schema]", invalid[0])

    def test_a_new_event_appears_live(self):
        self.open("?view=timeline", "timeline")
        self.browser.wait_js("the stream", "return document.getElementById('live').textContent === 'live'")
        url = "https://live.example/%d" % time.time_ns()
        start = time.monotonic()
        self.sandbox.emit(FG_SESSION, [{"name": "urlCacher.urlValidated", "attributes": {"url": url}}],
                          agent=FG_AGENT, tool_use_id="toolu_live")
        first = self.browser.wait_js("the new event", "const r = document.querySelector('#rows tr');"
                                     "return r && r.textContent.includes(arguments[0]) && r.textContent", url)
        took = time.monotonic() - start
        print("\n  store to page: %.0f ms" % (took * 1000), file=sys.stderr)
        self.assertIn("urlCacher.urlValidated", first)
        self.assertEqual(self.browser.js("return document.querySelectorAll('#rows tr').length"), self.stored + 1)
        type(self).stored += 1

    def test_filters_live_in_the_url_and_select_rows(self):
        self.open("?view=timeline", "timeline")
        self.browser.js("const f = document.getElementById('filters');"
                        "f.elements.name.value = 'urlCacher.cacheRequested';"
                        "f.elements.session.value = arguments[0];", FG_SESSION)
        self.browser.click("#filters button[type=submit]")
        self.browser.wait_js("the filtered view", "return document.body.dataset.ready === 'timeline'"
                             " && location.search.includes('name=urlCacher.cacheRequested')")
        rows = self.browser.js(ROWS)
        self.assertEqual(len(rows), 2, rows)  # the fixture's and the main agent's
        self.assertTrue(all("urlCacher.cacheRequested" in r for r in rows))
        self.assertIn("session=" + FG_SESSION, self.browser.js("return location.search"))
        # The same URL, opened afresh, shows the same view.
        self.open(self.browser.js("return location.search"), "timeline")
        self.assertEqual(len(self.browser.js(ROWS)), 2)
        self.open("?view=timeline&validity=invalid", "timeline")
        self.assertEqual(len(self.browser.js(ROWS)), 1)
        self.open("?view=timeline&q=live.example", "timeline")
        self.assertTrue(all("live.example" in r for r in self.browser.js(ROWS)))

    def test_a_session_opens_as_a_waterfall(self):
        self.open("?view=sessions", "sessions")
        ids = self.browser.js("return Array.from(document.querySelectorAll('.session-row')).map(r => r.dataset.id)")
        self.assertEqual(sorted(ids), sorted([FG_SESSION, BG_SESSION]))
        self.browser.click(".session-row[data-id='%s']" % FG_SESSION)
        self.browser.wait_js("the waterfall", "return document.body.dataset.ready === 'session'")
        lanes = self.browser.js("return Array.from(document.querySelectorAll('.run-lane')).map(l =>"
                                " [l.querySelector('.lane-label').textContent, l.dataset.depth,"
                                " l.querySelectorAll('.mark').length, l.querySelectorAll('.pair:not(.open)').length])")
        by_label = {label: (depth, marks, pairs) for label, depth, marks, pairs in lanes}
        self.assertEqual(set(by_label), {"main agent", "general-purpose a038d4b520bfd4de3"}, lanes)
        # The subagent's run nests under the main agent's (its parent span).
        self.assertEqual(by_label["main agent"][0], "1")
        self.assertEqual(by_label["general-purpose a038d4b520bfd4de3"][0], "2")
        self.assertEqual(by_label["main agent"][1], 1)
        self.assertGreaterEqual(by_label["general-purpose a038d4b520bfd4de3"][1], 4)
        # cacheCheckStarted → cacheCheckCompleted drawn as one bar.
        self.assertEqual(by_label["general-purpose a038d4b520bfd4de3"][2], 1)
        self.assertIn("view=session", self.browser.js("return location.search"))
        if os.environ.get("SCREENSHOTS"):
            self.browser.screenshot(os.path.join(os.environ["SCREENSHOTS"], "test-waterfall.png"))

    def test_hostile_text_is_shown_as_text_and_runs_nothing(self):
        self.open("?view=timeline&q=pwned", "timeline")
        rows = self.browser.js(ROWS)
        self.assertEqual(len(rows), 2, rows)
        self.assertTrue(any("<img src=x onerror=" in r for r in rows), rows)
        self.browser.click("#rows tr.invalid")
        detail = self.browser.js("return document.getElementById('detail-json').textContent")
        self.assertIn("<script>window.pwned=2</script>", detail)
        self.browser.click("#rows tr:not(.invalid)")
        detail = self.browser.js("return document.getElementById('detail-json').textContent")
        self.assertIn("<script>window.pwned=2</script>", detail)
        self.assertEqual(self.browser.js("return document.querySelectorAll('img').length"), 0)
        self.assertEqual(self.browser.js("return document.scripts.length"), 1)
        self.assertEqual(self.browser.js("return document.title"), "event-publisher")
        self.assertIsNone(self.browser.js("return window.pwned === undefined ? null : window.pwned"))


if __name__ == "__main__":
    missing = missing_browser()
    if missing:
        message = "page tests: %s is missing (install with .ci/install-browser)" % missing
        if os.environ.get("CI") == "true":
            print(message, file=sys.stderr)
            sys.exit(1)
        print(message + "; skipped", file=sys.stderr)
        sys.exit(0)
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    # The line .ci/totals counts, as cargo prints it.
    print("test result: %s. %d passed; %d failed;" % (
        "ok" if result.wasSuccessful() else "FAILED", max(result.testsRun - failed, 0), max(failed, 1 - result.wasSuccessful())))
    sys.exit(0 if result.wasSuccessful() else 1)
