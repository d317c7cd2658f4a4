"""Lambda function URLs for real: configured with the aws CLI, called over plain HTTP on the
gateway's listener by the URL's own host name, in front of an awslambdaric function."""
import json
import re

from conftest import run_aws
from docker_support import requires_docker
from test_gateway import call, cluster, function_arn, header  # noqa: F401 (the module's fixtures)

pytestmark = requires_docker


def test_a_function_url_serves_its_function_once_anyone_may_invoke_it(cluster, function_arn):
    endpoint = cluster.endpoint
    created = json.loads(run_aws(endpoint, "lambda", "create-function-url-config", "--function-name", "echo", "--auth-type", "NONE")[1])
    url = created["FunctionUrl"]
    match = re.fullmatch(r"http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/", url)
    assert match and int(match.group(2)) == cluster.server.gateway_port and created["FunctionArn"] == function_arn, created
    url_id, host = match.group(1), f"{match.group(1)}.lambda-url.us-east-1.localhost:{cluster.server.gateway_port}"
    assert created["AuthType"] == "NONE" and created["InvokeMode"] == "BUFFERED" and created["CreationTime"].endswith("Z")
    code, _, err = run_aws(endpoint, "lambda", "create-function-url-config", "--function-name", "echo", "--auth-type", "NONE", check=False)
    assert code != 0 and "ResourceConflictException" in err and "FunctionUrlConfig exists for this Lambda function" in err

    # AuthType NONE still needs the function's policy to let anyone invoke the URL.
    status, _, body = call(cluster, "GET", "/hello?x=1", host=host)
    assert (status, json.loads(body)) == (403, {"Message": "Forbidden"})
    run_aws(endpoint, "lambda", "add-permission", "--function-name", "echo", "--statement-id", "url", "--action", "lambda:InvokeFunctionUrl",
            "--principal", "*", "--function-url-auth-type", "NONE")
    status, headers, body = call(cluster, "POST", "/orders/7?x=1&x=2", host=host, headers={"content-type": "application/json"}, body=b'{"n": 1}')
    assert status == 200 and header(headers, "x-echo") == "yes", body
    event = json.loads(body)
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == ("2.0", "$default", "/orders/7", "x=1&x=2")
    assert event["queryStringParameters"] == {"x": "1,2"} and event["body"] == '{"n": 1}'
    context = event["requestContext"]
    assert (context["apiId"], context["domainPrefix"], context["stage"], context["accountId"]) == (url_id, url_id, "$default", "anonymous")
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/orders/7"

    # CORS as the URL's configuration says; the configuration read, listed, deleted.
    run_aws(endpoint, "lambda", "update-function-url-config", "--function-name", "echo",
            "--cors", json.dumps({"AllowOrigins": ["https://shop.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 60}))
    status, headers, _ = call(cluster, "OPTIONS", "/orders", host=host, headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert status == 204 and header(headers, "access-control-allow-origin") == "https://shop.example"
    got = json.loads(run_aws(endpoint, "lambda", "get-function-url-config", "--function-name", "echo")[1])
    assert got["Cors"]["AllowOrigins"] == ["https://shop.example"] and got["LastModifiedTime"] >= got["CreationTime"]
    listed = json.loads(run_aws(endpoint, "lambda", "list-function-url-configs", "--function-name", "echo")[1])["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [url]
    run_aws(endpoint, "lambda", "delete-function-url-config", "--function-name", "echo")
    assert call(cluster, "GET", "/hello", host=host)[0] == 404
    code, _, err = run_aws(endpoint, "lambda", "get-function-url-config", "--function-name", "echo", check=False)
    assert code != 0 and "The resource you requested does not exist." in err
    code, _, err = run_aws(endpoint, "lambda", "create-function-url-config", "--function-name", "echo", "--qualifier", "1",
                           "--auth-type", "NONE", check=False)
    assert code != 0 and "ValidationException" in err or "InvalidParameterValueException" in err
