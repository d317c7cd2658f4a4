"""A real headless Chromium driven through the DevTools protocol (over `websockets`), for the console's
tests. It records every request the page makes and every console error, so a test can assert that
nothing left 127.0.0.1 and nothing went wrong in the page.
"""
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

requires_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: run `make test` (it installs Debian's chromium)")


class Browser:
    """One headless Chromium with one page, at 1280×800."""

    def __init__(self, width=1280, height=800):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="stevedore-chromium-")
        self.process = None
        self.socket = None
        self.ids = itertools.count(1)
        self.requests = []
        self.errors = []
        self.dialogs = []

    def start(self):
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
             "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
             # Nothing but 127.0.0.1 resolves: a request for anything else fails instead of leaving the machine.
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 30
        while time.time() < deadline and port is None:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
        if port is None:
            raise RuntimeError("chromium did not start its DevTools listener")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [target for target in json.load(response) if target["type"] == "page"]
        self.socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=10).__enter__()
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height, deviceScaleFactor=1, mobile=False)
        return self

    def stop(self):
        if self.socket:
            self.socket.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    # MARK: The protocol

    def call(self, method, **params):
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.time() + 30
        while time.time() < deadline:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.time())))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)
        raise TimeoutError(method)

    def _event(self, message):
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console." + params["type"] + ": " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append("log: " + params["entry"]["text"] + " " + params["entry"].get("url", ""))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params["message"])

    def pump(self, seconds=0.05):
        """Reads the events that arrived meanwhile."""
        deadline = time.time() + seconds
        while True:
            try:
                self._event(json.loads(self.socket.recv(timeout=max(0.0, deadline - time.time()))))
            except TimeoutError:
                return

    # MARK: The page

    def open(self, url):
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30, message=None):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.evaluate(f"(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()")
            if last:
                return last
            self.pump(0.1)
        shown = self.evaluate("(document.getElementById('main') || document.body).innerText.slice(0, 800)")
        raise AssertionError(f"timed out after {timeout}s waiting for {message or expression} (last: {last!r}; errors: {self.errors}; page: {shown!r})")

    def fill(self, selector, text):
        self.evaluate(f"""(() => {{ const field = document.querySelector({json.dumps(selector)}); field.focus();
            field.value = {json.dumps(text)}; field.dispatchEvent(new Event('input', {{ bubbles: true }})); }})()""")

    def click(self, selector):
        self.wait_for(f"document.querySelector({json.dumps(selector)}) !== null", message=selector)
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    def press(self, key):
        """A real key press (Tab, Enter) through the browser's input pipeline."""
        codes = {"Tab": (9, ""), "Enter": (13, "\r")}
        code, text = codes[key]
        self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=code, nativeVirtualKeyCode=code, text=text)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)

    def tab_to(self, selector, limit=40):
        """Presses Tab until `selector` has the focus; the number of presses, or an AssertionError."""
        for presses in range(1, limit + 1):
            self.press("Tab")
            if self.evaluate(f"document.activeElement === document.querySelector({json.dumps(selector)})"):
                return presses
        raise AssertionError(f"{selector} not reached with {limit} Tab presses")

    def confirm(self):
        """Accepts the console's confirmation dialog."""
        self.wait_for("document.getElementById('confirm').open", message="the confirmation dialog")
        self.click("#confirm-ok")
        self.wait_for("!document.getElementById('confirm').open", message="the dialog to close")

    def text(self, selector):
        return self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || ''")

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = self.call("Page.captureScreenshot", format="png", clip={"x": 0, "y": 0, "width": self.width, "height": self.height, "scale": 1})
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))
        return path

    def outside_requests(self, origin):
        """Requests to anything but `origin` (and data: URLs)."""
        return [url for url in self.requests if not (url.startswith(origin + "/") or url == origin or url.startswith("data:"))]
