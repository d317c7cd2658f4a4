"""The web console (`/console` on ecsd's API listener): signed in with an access key in a real headless
Chromium, it shows instances fill as tasks start, a service scale as it happens, a task stop, and a
query's rows, live and without reloading; no request leaves 127.0.0.1 and the page logs no error.
Its sessions and CSRF protection are tested over plain HTTP too.
"""
import http.cookiejar
import json
import os
import urllib.error
import urllib.request

import boto3
import pytest

from browser_support import Browser, requires_chromium
from conftest import ROOT, Ecsd, wait_until

SCREENSHOTS = os.environ.get("STEVEDORE_SCREENSHOTS", os.path.join(ROOT, ".build", "console-screenshots"))


def admin_key(server):
    values = {}
    with open(os.path.join(server.data_dir, "admin-credentials")) as f:
        for line in f:
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def client(server, service, key):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key[0], aws_secret_access_key=key[1])


@pytest.fixture
def signed_ecsd(data_dir):
    server = Ecsd(data_dir, auth="on").start()
    yield server
    server.stop()


def go(browser, fragment):
    browser.evaluate(f"location.hash = {json.dumps(fragment)}")
    browser.wait_for("document.getElementById('main').dataset.ready === '1'", message=f"page {fragment}")


def reserved_memory(browser):
    return browser.evaluate(
        "[...document.querySelectorAll('.bar.mem')].reduce((sum, bar) => sum + Number(bar.getAttribute('aria-valuenow')), 0)")


@requires_chromium
def test_the_console_in_a_real_browser(signed_ecsd, fleets):
    server = signed_ecsd
    key = admin_key(server)
    ecs = client(server, "ecs", key)
    client(server, "s3", key).create_bucket(Bucket="console-results")
    ecs.create_cluster(clusterName="web")
    token = open(os.path.join(server.data_dir, "agent-token")).read().strip()
    fleets(server.endpoint, "web", 2, zones=("a", "b"), resources="cpu=2048,memory=4096", extra_env={"ECS_AGENT_REGISTRATION_TOKEN": token})
    wait_until(lambda: len(ecs.list_container_instances(cluster="web")["containerInstanceArns"]) == 2, message="two instances")
    ecs.register_task_definition(family="site", containerDefinitions=[{"name": "app", "image": "site:1", "memory": 512, "cpu": 256}])
    ecs.create_service(cluster="web", serviceName="front", taskDefinition="site", desiredCount=1)
    wait_until(lambda: ecs.describe_services(cluster="web", services=["front"])["services"][0]["runningCount"] == 1, message="front running")

    browser = Browser().start()
    try:
        browser.open(server.endpoint + "/console")
        browser.wait_for("document.getElementById('access-key-id') !== null", message="the sign-in form")
        browser.fill("#access-key-id", key[0])
        browser.fill("#secret-access-key", key[1])
        browser.click("#sign-in")
        browser.wait_for("document.querySelector('main a[href=\"#/cluster/web\"]') !== null", message="the clusters table")
        # The session's cookie is HttpOnly: the page's scripts cannot read it.
        assert "stevedore_console" not in browser.evaluate("document.cookie")
        browser.screenshot(os.path.join(SCREENSHOTS, "clusters.png"))

        # An instance's bar fills when a task starts, without reloading the page.
        go(browser, "#/cluster/web")
        browser.wait_for("document.querySelectorAll('.instance').length === 2", message="two instance cards")
        assert reserved_memory(browser) == 512
        started = ecs.run_task(cluster="web", taskDefinition="site")["tasks"][0]["taskArn"]
        browser.wait_for("[...document.querySelectorAll('.bar.mem')].reduce((s, b) => s + Number(b.getAttribute('aria-valuenow')), 0) === 1024",
                         message="the bars to show the new task's memory")
        browser.screenshot(os.path.join(SCREENSHOTS, "cluster.png"))

        # The service scales from 1 to 3, asked for on its page with the keyboard alone, and watched there.
        go(browser, "#/service/web/front")
        browser.wait_for("document.getElementById('service-running').textContent === '1'")
        browser.evaluate("document.activeElement.blur()")
        browser.tab_to("#desired-count")
        browser.fill("#desired-count", "3")
        browser.tab_to("#scale-service")
        browser.press("Enter")
        browser.wait_for("document.getElementById('confirm').open", message="the confirmation dialog")
        assert browser.evaluate("document.activeElement.id") == "confirm-ok"
        browser.press("Enter")
        browser.wait_for("document.getElementById('service-desired').textContent === '3'", message="desired 3 on the page")
        wait_until(lambda: ecs.describe_services(cluster="web", services=["front"])["services"][0]["runningCount"] == 3, message="3 running")
        browser.wait_for("document.getElementById('service-running').textContent === '3'", message="3 running on the page")
        assert ecs.describe_services(cluster="web", services=["front"])["services"][0]["desiredCount"] == 3
        assert browser.evaluate("document.querySelectorAll('figure svg polyline').length") == 3
        # Sampled every 2 s: the chart gains points of its own, not only the page's "now".
        history = lambda: json.loads(browser.evaluate("fetch('/console/api/services/web/front').then(r => r.text())"))["history"]
        wait_until(lambda: len(history()) >= 3, timeout=10, message="sampled history")
        browser.screenshot(os.path.join(SCREENSHOTS, "service.png"))

        # A task stopped from its page shows STOPPED.
        task_id = started.split("/")[-1]
        go(browser, f"#/task/web/{task_id}")
        browser.wait_for("document.querySelector('.figure .status').textContent === 'RUNNING'")
        browser.click(f'button[data-task="{task_id}"]')
        browser.confirm()
        wait_until(lambda: ecs.describe_tasks(cluster="web", tasks=[started])["tasks"][0]["lastStatus"] == "STOPPED", message="the task STOPPED")
        browser.wait_for("document.querySelector('.figure .status').textContent === 'STOPPED'", message="the task STOPPED on its page")
        assert ecs.describe_tasks(cluster="web", tasks=[started])["tasks"][0]["stoppedReason"] == "Stopped from the console"
        browser.screenshot(os.path.join(SCREENSHOTS, "task.png"))

        # The tasks page filters by status.
        go(browser, "#/tasks?cluster=web&status=STOPPED")
        browser.wait_for(f"document.querySelector('main a[href=\"#/task/web/{task_id}\"]') !== null", message="the stopped task listed")
        assert browser.evaluate("document.querySelectorAll('main tbody tr').length") == 1

        # A query's rows, as a table.
        go(browser, "#/query")
        browser.fill("#query-sql", "SELECT last_status, count(*) AS tasks FROM stevedore.tasks WHERE cluster = 'web' GROUP BY 1 ORDER BY 1")
        browser.fill("#query-output", "s3://console-results/console/")
        browser.click("#run-query")
        browser.wait_for("document.querySelector('#query-result tbody tr') !== null", message="the query's rows")
        rows = browser.evaluate("[...document.querySelectorAll('#query-result tbody tr')].map(r => [...r.cells].map(c => c.textContent))")
        assert rows == [["RUNNING", "3"], ["STOPPED", "1"]]
        browser.screenshot(os.path.join(SCREENSHOTS, "query.png"))

        # Readable on a phone: nothing wider than the screen but tables, which scroll.
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        go(browser, "#/cluster/web")
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=800, deviceScaleFactor=1, mobile=False)

        # A new deployment forced from the service's page becomes its PRIMARY there.
        def primary():
            return [d["id"] for d in ecs.describe_services(cluster="web", services=["front"])["services"][0]["deployments"] if d["status"] == "PRIMARY"][0]
        first = primary()
        go(browser, "#/service/web/front")
        browser.click("#force-deployment")
        browser.confirm()
        wait_until(lambda: primary() != first, message="a new deployment")
        browser.wait_for(f"document.getElementById('main').innerText.includes({json.dumps(primary())})", message="the new deployment on the page")

        # An instance drained from the cluster's page shows DRAINING on its card.
        go(browser, "#/cluster/web")
        instance = browser.evaluate("document.querySelector('.instance').dataset.instance")
        browser.click(f'button[data-instance="{instance}"]')
        browser.confirm()
        browser.wait_for(f"document.querySelector('.instance[data-instance=\"{instance}\"] .status').textContent === 'DRAINING'",
                         message="the instance DRAINING on its card")
        arns = ecs.list_container_instances(cluster="web")["containerInstanceArns"]
        statuses = {i["containerInstanceArn"].split("/")[-1]: i["status"] for i in ecs.describe_container_instances(cluster="web", containerInstances=arns)["containerInstances"]}
        assert statuses[instance] == "DRAINING"

        browser.pump(0.5)
        assert browser.errors == []
        assert browser.outside_requests(server.endpoint) == []
        assert any(url.endswith("/console/api/events") for url in browser.requests)
    finally:
        browser.stop()


def request(server, method, path, body=None, headers=None, opener=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.endpoint + path, method=method, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    def parsed(response):
        body = response.read()
        return json.loads(body or b"{}") if response.headers.get("Content-Type") == "application/json" else body.decode()

    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=10) as response:
            return response.status, dict(response.headers), parsed(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), parsed(error)


def test_sessions_cookies_and_csrf(signed_ecsd):
    server = signed_ecsd
    key = admin_key(server)
    # Nothing but the page itself without a session.
    status, headers, _ = request(server, "GET", "/console")
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    assert request(server, "GET", "/console/api/clusters")[0] == 401
    status, _, body = request(server, "GET", "/console/api/session")
    assert status == 200 and body == {"signedIn": False, "authentication": True}
    # A wrong secret is refused with a message that says what to use.
    status, headers, body = request(server, "POST", "/console/api/sign-in", {"accessKeyId": key[0], "secretAccessKey": "wrong"})
    assert status == 401 and "Set-Cookie" not in headers and "secret access key is not right" in body["message"]
    assert request(server, "POST", "/console/api/sign-in", {"nothing": 1})[0] == 400

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, headers, body = request(server, "POST", "/console/api/sign-in", {"accessKeyId": key[0], "secretAccessKey": key[1]}, opener=opener)
    assert status == 200 and body["signedIn"] and body["user"] == "arn:aws:iam::000000000000:root"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    csrf = body["csrf"]
    status, _, clusters = request(server, "GET", "/console/api/clusters", opener=opener)
    assert status == 200 and clusters == {"clusters": []}

    # Calls need the session's CSRF token as well as its cookie.
    client(server, "ecs", key).create_cluster(clusterName="shop")
    call = {"target": "AmazonEC2ContainerServiceV20141113.DescribeServices", "input": {"cluster": "shop", "services": ["cart"]}}
    assert request(server, "POST", "/console/api/aws", call, opener=opener)[0] == 403
    assert request(server, "POST", "/console/api/aws", call, headers={"X-Console-CSRF": "0" * 64}, opener=opener)[0] == 403
    assert request(server, "POST", "/console/api/aws", call, headers={"X-Console-CSRF": csrf})[0] == 401  # token without the cookie
    status, _, answer = request(server, "POST", "/console/api/aws", call, headers={"X-Console-CSRF": csrf}, opener=opener)
    assert status == 200 and answer["status"] == 200 and json.loads(answer["body"])["failures"] == [
        {"arn": "arn:aws:ecs:us-east-1:000000000000:service/shop/cart", "reason": "MISSING"}]
    # AWS's errors come back as AWS words them; agents' operations and unknown targets are not callable.
    status, _, answer = request(server, "POST", "/console/api/aws",
                                {"target": "AmazonEC2ContainerServiceV20141113.DescribeServices", "input": {"cluster": "nope", "services": ["x"]}},
                                headers={"X-Console-CSRF": csrf}, opener=opener)
    assert status == 200 and answer["status"] == 400 and json.loads(answer["body"])["__type"] == "ClusterNotFoundException"
    # Only the operations the pages make can be called through the console.
    for target in ("AmazonEC2ContainerServiceV20141113.SubmitTaskStateChange", "AmazonEC2ContainerServiceV20141113.DeleteCluster",
                   "secretsmanager.GetSecretValue", "Nope.Nothing"):
        assert request(server, "POST", "/console/api/aws", {"target": target, "input": {}}, headers={"X-Console-CSRF": csrf}, opener=opener)[0] == 400
    for method, path in (("GET", "/2015-03-31/nothing"), ("DELETE", "/2015-03-31/functions/f"), ("POST", "/2015-03-31/functions/"),
                         ("PUT", "/2015-03-31/functions/f/code")):
        status, _, refused = request(server, "POST", "/console/api/lambda", {"method": method, "path": path}, headers={"X-Console-CSRF": csrf}, opener=opener)
        assert status == 400 and "Invoke, UpdateAlias" in refused["message"], (method, path)

    # Signing in takes JSON from the console's own origin: another site's form cannot sign a browser in.
    credentials = {"accessKeyId": key[0], "secretAccessKey": key[1]}
    assert request(server, "POST", "/console/api/sign-in", credentials, headers={"Origin": "http://evil.example"})[0] == 403
    assert request(server, "POST", "/console/api/sign-in", credentials, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    assert request(server, "POST", "/console/api/sign-in", credentials, headers={"Content-Type": "text/plain"})[0] == 403

    # Signing out ends the session.
    assert request(server, "POST", "/console/api/sign-out", {}, headers={"X-Console-CSRF": csrf}, opener=opener)[0] == 200
    assert request(server, "GET", "/console/api/clusters", opener=opener)[0] == 401


def test_an_iam_users_console_is_limited_by_its_policies(signed_ecsd):
    server = signed_ecsd
    iam = client(server, "iam", admin_key(server))
    iam.create_user(UserName="viewer")
    ecs = client(server, "ecs", admin_key(server))
    ecs.create_cluster(clusterName="open")
    ecs.create_cluster(clusterName="secret")
    iam.put_user_policy(UserName="viewer", PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:Describe*", "ecs:List*"], "Resource": "*"},
            {"Effect": "Deny", "Action": "ecs:Describe*", "Resource": "arn:aws:ecs:us-east-1:000000000000:cluster/secret"}]}))
    created = iam.create_access_key(UserName="viewer")["AccessKey"]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, _, body = request(server, "POST", "/console/api/sign-in",
                              {"accessKeyId": created["AccessKeyId"], "secretAccessKey": created["SecretAccessKey"]}, opener=opener)
    assert status == 200 and body["user"].endswith(":user/viewer")
    # The policy's Deny on one cluster hides it, and refuses its page, as DescribeClusters would.
    status, _, listed = request(server, "GET", "/console/api/clusters", opener=opener)
    assert status == 200 and [cluster["name"] for cluster in listed["clusters"]] == ["open"]
    assert request(server, "GET", "/console/api/clusters/open", opener=opener)[0] == 200
    status, _, refused = request(server, "GET", "/console/api/clusters/secret", opener=opener)
    assert status == 403 and "explicit deny" in refused["message"]
    status, _, refused = request(server, "GET", "/console/api/functions", opener=opener)
    assert status == 403 and "lambda:ListFunctions" in refused["message"]
    status, _, answer = request(server, "POST", "/console/api/aws",
                                {"target": "AmazonEC2ContainerServiceV20141113.UpdateService", "input": {"cluster": "open", "service": "x", "desiredCount": 2}},
                                headers={"X-Console-CSRF": body["csrf"]}, opener=opener)
    assert status == 200 and answer["status"] == 400 and json.loads(answer["body"])["__type"] == "AccessDeniedException"
    # A deleted key ends its sessions at once.
    iam.delete_access_key(UserName="viewer", AccessKeyId=created["AccessKeyId"])
    wait_until(lambda: request(server, "GET", "/console/api/clusters", opener=opener)[0] == 401, timeout=5, message="the session to end")


def test_with_authentication_off_the_console_needs_no_sign_in(ecsd):
    status, _, body = request(ecsd, "GET", "/console/api/session")
    assert status == 200 and body["signedIn"] and body["authentication"] is False and len(body["csrf"]) == 64
    for path in ("/console/console.js", "/console/console.css"):
        with urllib.request.urlopen(ecsd.endpoint + path, timeout=5) as response:
            assert response.status == 200 and response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    # Even so, a call needs the page's token: another site's page cannot make one.
    call = {"target": "AmazonEC2ContainerServiceV20141113.StopTask", "input": {"cluster": "x", "task": "y"}}
    assert request(ecsd, "POST", "/console/api/aws", call)[0] == 403
    status, _, answer = request(ecsd, "POST", "/console/api/aws", call, headers={"X-Console-CSRF": body["csrf"]})
    assert status == 200 and answer["status"] == 400 and json.loads(answer["body"])["__type"] == "ClusterNotFoundException"
