"""AWS's own `sam` CLI (aws-sam-cli from PyPI) against ecsd, pointed at it by AWS_ENDPOINT_URL alone:
`sam init` (its bundled template, offline) → `sam build` → `sam deploy --resolve-s3` → the API answers
→ `sam logs` → `sam list endpoints` / `stack-outputs` → a change deployed as an update → `sam delete`;
and every command of Examples/sam/README.md as written."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, ROOT, example, wait_until
from functions_support import FunctionCluster, ensure_python_image

SAM_HOME = os.environ.get("STEVEDORE_SAM_HOME", os.path.expanduser("~/.local/share/stevedore/sam"))


@pytest.fixture(scope="module")
def sam_bin():
    path = os.path.join(SAM_HOME, "bin")
    if not os.access(os.path.join(path, "sam"), os.X_OK):
        pytest.fail(f"the sam CLI is not installed in {SAM_HOME}: run scripts/install-test-deps.sh")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    ensure_python_image()
    cluster = FunctionCluster(str(tmp_path_factory.mktemp("sam")))
    yield cluster
    cluster.close()


def sam_env(cluster, sam_bin, home):
    return {**os.environ, "AWS_ENDPOINT_URL": cluster.endpoint, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "HOME": home, "PATH": sam_bin + ":" + os.environ["PATH"]}


def run(command, env, cwd, timeout=300):
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def gateway_get(cluster, path):
    done = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", cluster.server.gateway + path], capture_output=True, text=True, timeout=30)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_sam_init_build_deploy_update_and_delete(cluster, sam_bin, tmp_path):
    # A home of its own: no clone of the app templates from an earlier run, as on a fresh machine.
    home = str(tmp_path / "home")
    os.makedirs(home)
    env = sam_env(cluster, sam_bin, home)
    run(["sam", "init", "--no-interactive", "--name", "app", "--runtime", "python3.11", "--dependency-manager", "pip",
         "--app-template", "hello-world"], env, str(tmp_path))
    project = str(tmp_path / "app")
    run(["sam", "build"], env, project)
    out = run(["sam", "deploy", "--resolve-s3", "--stack-name", "app", "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
               "--no-progressbar"], env, project)
    assert "Successfully created/updated stack - app" in out, out
    assert re.search(r"CREATE_COMPLETE\s+AWS::Lambda::Function\s+HelloWorldFunction", out), out
    cfn = cluster.client("cloudformation")
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="app")["StackResources"]}
    assert {r["ResourceType"] for r in resources.values()} == {
        "AWS::Lambda::Function", "AWS::IAM::Role", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage",
        "AWS::Lambda::Permission"}
    assert cfn.get_template(StackName="app")["TemplateBody"].find("AWS::Serverless-2016-10-31") >= 0
    api = resources["ServerlessRestApi"]["PhysicalResourceId"]
    status, body = gateway_get(cluster, f"/{api}/Prod/hello")
    assert (status, body) == (200, '{"message": "hello world"}'), body
    policy = cluster.client("lambda").get_policy(FunctionName=resources["HelloWorldFunction"]["PhysicalResourceId"])["Policy"]
    assert "apigateway.amazonaws.com" in policy and f"{api}/*/GET/hello" in policy

    logs = wait_until(lambda: "REPORT RequestId" in (out := run(["sam", "logs", "--stack-name", "app", "-n", "HelloWorldFunction"], env, project)) and out,
                      timeout=60, interval=1, message="sam logs shows the invocation")
    assert "START RequestId" in logs
    outputs = run(["sam", "list", "stack-outputs", "--stack-name", "app", "--output", "json"], env, project)
    assert f"https://{api}.execute-api.us-east-1.amazonaws.com/Prod/hello/" in outputs, outputs
    endpoints = run(["sam", "list", "endpoints", "--stack-name", "app", "--output", "json"], env, project)
    assert api in endpoints and "HelloWorldFunction" in endpoints, endpoints

    # A change to the code, deployed as an update: the function changes in place.
    app_py = os.path.join(project, "hello_world", "app.py")
    with open(app_py) as f:
        source = f.read()
    with open(app_py, "w") as f:
        f.write(source.replace('"hello world"', '"hello again"'))
    run(["sam", "build"], env, project)
    out = run(["sam", "deploy", "--resolve-s3", "--stack-name", "app", "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
               "--no-progressbar"], env, project)
    assert re.search(r"\* Modify\s+HelloWorldFunction\s+AWS::Lambda::Function\s+False", out), out
    assert "Successfully created/updated stack - app" in out, out
    status = run(["aws", "cloudformation", "describe-stacks", "--stack-name", "app", "--query", "Stacks[0].StackStatus", "--output", "text"],
                 env, project)
    assert status.strip() == "UPDATE_COMPLETE", status
    status, body = gateway_get(cluster, f"/{api}/Prod/hello")
    assert (status, body) == (200, '{"message": "hello again"}'), body

    run(["sam", "delete", "--stack-name", "app", "--no-prompts"], env, project)
    assert [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "app"] == ["DELETE_COMPLETE"]
    assert cluster.client("lambda").list_functions()["Functions"] == []
    assert gateway_get(cluster, f"/{api}/Prod/hello")[0] in (403, 404)


def test_the_sam_examples_run_as_written(cluster, sam_bin, tmp_path):
    """Every sh block of Examples/sam/README.md, in order, in one shell."""
    with open(example("sam", "README.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    script = "set -euo pipefail\n" + "\n".join(blocks)
    home = str(tmp_path / "home")
    os.makedirs(home)
    env = {**sam_env(cluster, sam_bin, home), "GATEWAY": cluster.server.gateway, "CLUSTER": cluster.name,
           "PATH": sam_bin + ":" + BIN + ":" + os.environ["PATH"]}
    for built in ("hello-api", "sqs-worker", "s3-uploads", "custom-resource", "scheduled-job"):
        shutil.rmtree(example("sam", built, ".aws-sam"), ignore_errors=True)
    try:
        done = subprocess.run(["bash", "-c", script.replace("http://127.0.0.1:8340", cluster.endpoint)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        for built in ("hello-api", "sqs-worker", "s3-uploads", "custom-resource", "scheduled-job"):
            shutil.rmtree(example("sam", built, ".aws-sam"), ignore_errors=True)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert '{"message": "hello, world", "path": "/hello"}' in out and '{"message": "bonjour, world", "path": "/hello"}' in out, out
    assert out.count("REPORT RequestId") >= 2, out
    assert '"ApproximateNumberOfMessages": "0"' in out, out
    assert "ObjectCreated:Put s3://" in out and "/incoming/orders 1.csv (9 bytes)" in out, out
    assert re.search(r"^hello, world$", out, re.M) and re.search(r"^hello, stevedore$", out, re.M), out
    assert "rate(5 minutes)\tENABLED" in out and "CleanupHourly\tENABLED" in out, out
    assert '{"ran": "by hand"}' in out, out
    assert re.search(r"^2\t2$", out, re.M), out
    cfn = cluster.client("cloudformation")
    wait_until(lambda: all(s["StackStatus"] == "DELETE_COMPLETE" for s in cfn.list_stacks()["StackSummaries"]
                           if s["StackName"] in ("hello-api", "sqs-worker", "scheduled-job", "ecs-service-api")),
               timeout=120, interval=0.5, message="the example stacks deleted")
