"""API Gateway REST APIs for real: built with the aws CLI and boto3 (`aws apigateway`), called
with curl and plain HTTP on the gateway's listener. MOCK integrations answer here, so no Docker
is needed; functions behind REST APIs are in test_gateway.py."""
import http.client
import json
import time
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Ecsd, run_aws, wait_until

NO_RETRIES = Config(retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ecsd = Ecsd(str(tmp_path_factory.mktemp("rest"))).start()
    yield ecsd
    ecsd.stop()


@pytest.fixture(scope="module")
def apigw(server):
    return boto3.client("apigateway", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=NO_RETRIES)


def call(server, method, path, headers=None, host=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
    headers = dict(headers or {})
    if host:
        headers["Host"] = host
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return result


def mock_method(apigw, api_id, resource_id, method, status=200, template='{"ok": true}', api_key=False):
    """A method answered by a MOCK integration: its request template gives `status`, its
    integration response `template`."""
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method, authorizationType="NONE", apiKeyRequired=api_key)
    apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method, type="MOCK",
                          requestTemplates={"application/json": json.dumps({"statusCode": status})})
    apigw.put_method_response(restApiId=api_id, resourceId=resource_id, httpMethod=method, statusCode=str(status))
    apigw.put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod=method, statusCode=str(status),
                                   selectionPattern="" if status == 200 else str(status),
                                   responseTemplates={"application/json": template})


def pets_api(apigw, name="pets", api_key=False):
    api_id = apigw.create_rest_api(name=name)["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    pets = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    mock_method(apigw, api_id, pets, "GET", template='{"pets": ["rex"], "stage": "$context.stage", "color": "$stageVariables.color"}',
                api_key=api_key)
    apigw.create_deployment(restApiId=api_id, stageName="prod", variables={"color": "blue"})
    return api_id, root, pets


def test_a_rest_api_built_with_the_aws_cli_answers_through_mock_integrations(server, monkeypatch):
    endpoint = server.endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    api = json.loads(run_aws(endpoint, "apigateway", "create-rest-api", "--name", "cli-pets")[1])
    api_id = api["id"]
    assert api["apiKeySource"] == "HEADER" and api["endpointConfiguration"]["types"] == ["EDGE"]
    resources = json.loads(run_aws(endpoint, "apigateway", "get-resources", "--rest-api-id", api_id)[1])["items"]
    assert [r["path"] for r in resources] == ["/"] and resources[0]["id"] == api["rootResourceId"]
    pets = json.loads(run_aws(endpoint, "apigateway", "create-resource", "--rest-api-id", api_id, "--parent-id",
                              api["rootResourceId"], "--path-part", "pets")[1])
    pet = json.loads(run_aws(endpoint, "apigateway", "create-resource", "--rest-api-id", api_id, "--parent-id", pets["id"],
                             "--path-part", "{id}")[1])
    assert pet["path"] == "/pets/{id}" and pet["parentId"] == pets["id"]
    for resource, body in ((pets["id"], '{"pets": []}'), (pet["id"], '{"pet": "$context.resourcePath"}')):
        run_aws(endpoint, "apigateway", "put-method", "--rest-api-id", api_id, "--resource-id", resource, "--http-method", "GET",
                "--authorization-type", "NONE")
        integration = json.loads(run_aws(endpoint, "apigateway", "put-integration", "--rest-api-id", api_id, "--resource-id", resource,
                                         "--http-method", "GET", "--type", "MOCK", "--request-templates",
                                         '{"application/json": "{\\"statusCode\\": 200}"}')[1])
        assert integration["passthroughBehavior"] == "WHEN_NO_MATCH" and integration["timeoutInMillis"] == 29000
        run_aws(endpoint, "apigateway", "put-method-response", "--rest-api-id", api_id, "--resource-id", resource, "--http-method", "GET",
                "--status-code", "200")
        run_aws(endpoint, "apigateway", "put-integration-response", "--rest-api-id", api_id, "--resource-id", resource,
                "--http-method", "GET", "--status-code", "200", "--response-templates", json.dumps({"application/json": body}))
    deployment = json.loads(run_aws(endpoint, "apigateway", "create-deployment", "--rest-api-id", api_id, "--stage-name", "prod")[1])
    assert deployment["apiSummary"]["/pets/{id}"]["GET"] == {"authorizationType": "NONE", "apiKeyRequired": False}
    stage = json.loads(run_aws(endpoint, "apigateway", "get-stage", "--rest-api-id", api_id, "--stage-name", "prod")[1])
    assert stage["deploymentId"] == deployment["id"]
    embedded = json.loads(run_aws(endpoint, "apigateway", "get-resources", "--rest-api-id", api_id, "--embed", "methods")[1])["items"]
    assert next(r for r in embedded if r["path"] == "/pets")["resourceMethods"]["GET"]["methodIntegration"]["type"] == "MOCK"

    # By path, and by the API's host name with curl (which resolves *.localhost itself).
    assert call(server, "GET", f"/{api_id}/prod/pets")[0] == 200
    status, _, body = call(server, "GET", f"/{api_id}/prod/pets/7")
    assert (status, json.loads(body)) == (200, {"pet": "/pets/{id}"})
    out = subprocess.run(["curl", "-s", f"http://{api_id}.execute-api.localhost:{server.gateway_port}/prod/pets"], capture_output=True,
                         text=True, timeout=30).stdout
    assert json.loads(out) == {"pets": []}
    # REST APIs' own answers: no resource or method is 403 Missing Authentication Token; no stage is 403 Forbidden.
    status, headers, body = call(server, "GET", f"/{api_id}/prod/cats")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert call(server, "POST", f"/{api_id}/prod/pets")[0] == 403
    assert json.loads(call(server, "GET", f"/{api_id}/dev/pets")[2]) == {"message": "Forbidden"}


def test_integration_responses_are_selected_by_status_and_stages_carry_variables(server, apigw):
    api_id, _, pets = pets_api(apigw, name="selection")
    # DELETE /pets: the request template says 403; the integration response for /403/ answers.
    apigw.put_method(restApiId=api_id, resourceId=pets, httpMethod="DELETE", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=pets, httpMethod="DELETE", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 403}'})
    for status in ("200", "403"):
        apigw.put_method_response(restApiId=api_id, resourceId=pets, httpMethod="DELETE", statusCode=status)
    apigw.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="DELETE", statusCode="200",
                                   responseTemplates={"application/json": '{"deleted": true}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="DELETE", statusCode="403", selectionPattern="4\\d\\d",
                                   responseTemplates={"application/json": '{"refused": "$context.httpMethod"}'},
                                   responseParameters={"method.response.header.X-Why": "'not yours'"})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    status, headers, body = call(server, "DELETE", f"/{api_id}/prod/pets")
    assert (status, json.loads(body), headers["X-Why"]) == (403, {"refused": "DELETE"}, "not yours")
    status, _, body = call(server, "GET", f"/{api_id}/prod/pets")
    assert json.loads(body) == {"pets": ["rex"], "stage": "prod", "color": "blue"}
    # A stage variable changed by a patch reaches the template; a new deployment is not needed.
    apigw.update_stage(restApiId=api_id, stageName="prod",
                       patchOperations=[{"op": "replace", "path": "/variables/color", "value": "green"}])
    assert json.loads(call(server, "GET", f"/{api_id}/prod/pets")[2])["color"] == "green"
    # Method throttling for every method of the stage: a burst of 1 at 1 request a second.
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.01"}])
    statuses = [call(server, "GET", f"/{api_id}/prod/pets")[0] for _ in range(3)]
    assert statuses[0] == 200 and statuses[1:] == [429, 429]
    assert json.loads(call(server, "GET", f"/{api_id}/prod/pets")[2]) == {"message": "Too Many Requests"}


def test_mapping_templates_run_velocity(server, apigw):
    api_id, _, pets = pets_api(apigw, name="velocity")
    pet = apigw.create_resource(restApiId=api_id, parentId=pets, pathPart="{petId}")["id"]
    apigw.put_method(restApiId=api_id, resourceId=pet, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=pet, httpMethod="GET", type="MOCK", requestTemplates={
        "application/json": '#if($input.params(\'petId\') == "0")\n{"statusCode": 404}\n#else\n{"statusCode": 200}\n#end'})
    for status in ("200", "404"):
        apigw.put_method_response(restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode=status)
    apigw.put_integration_response(restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode="200", responseTemplates={
        "application/json": "#set($id = $input.params('petId'))\n"
                            '{"id": $id, "tags": [#foreach($t in $input.params(\'tags\').split(","))"$t"#if($foreach.hasNext),#end#end],'
                            ' "agent": "$util.escapeJavaScript($input.params(\'user-agent\'))"}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode="404", selectionPattern="404",
                                   responseTemplates={"application/json": '{"message": "no pet $input.params(\'petId\')"}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    status, _, body = call(server, "GET", f"/{api_id}/prod/pets/7?tags=small,brown", {"User-Agent": 'say "hi"'})
    assert status == 200 and json.loads(body) == {"id": 7, "tags": ["small", "brown"], "agent": 'say "hi"'}
    status, _, body = call(server, "GET", f"/{api_id}/prod/pets/0")
    assert status == 404 and json.loads(body) == {"message": "no pet 0"}
    with pytest.raises(ClientError) as refused:
        apigw.put_integration_response(restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode="200",
                                       responseTemplates={"application/json": "#foreach($x in $y)never closed"})
    assert refused.value.response["Error"]["Code"] == "BadRequestException"


def test_request_validators_check_parameters_and_bodies_against_models(server, apigw):
    api_id, _, pets = pets_api(apigw, name="validated")
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "required": ["name", "age"],
              "properties": {"name": {"type": "string", "minLength": 1}, "age": {"type": "integer", "minimum": 0},
                             "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
              "additionalProperties": False}
    model = apigw.create_model(restApiId=api_id, name="Pet", contentType="application/json", schema=json.dumps(schema))
    assert model["name"] == "Pet" and json.loads(apigw.get_model(restApiId=api_id, modelName="Pet")["schema"]) == schema
    both = apigw.create_request_validator(restApiId=api_id, name="all", validateRequestBody=True, validateRequestParameters=True)
    assert [v["name"] for v in apigw.get_request_validators(restApiId=api_id)["items"]] == ["all"]
    apigw.put_method(restApiId=api_id, resourceId=pets, httpMethod="POST", authorizationType="NONE", requestValidatorId=both["id"],
                     requestModels={"application/json": "Pet"},
                     requestParameters={"method.request.querystring.owner": True, "method.request.header.X-Trace": False})
    apigw.put_integration(restApiId=api_id, resourceId=pets, httpMethod="POST", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="200")
    apigw.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="200",
                                   responseTemplates={"application/json": '{"created": true}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    def post(path, body):
        connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    base = f"/{api_id}/prod/pets"
    assert post(base, {"name": "rex", "age": 3}) == (400, {"message": "Missing required request parameters: [owner]"})
    assert post(base + "?owner=ann", {"name": "rex", "age": 3}) == (200, {"created": True})
    for bad in [{"name": "rex"}, {"name": "", "age": 3}, {"name": "rex", "age": -1}, {"name": "rex", "age": 1.5},
                {"name": "rex", "age": 3, "extra": 1}, {"name": "rex", "age": 3, "tags": ["a", "b", "c", "d"]}, [1, 2]]:
        assert post(base + "?owner=ann", bad) == (400, {"message": "Invalid request body"}), bad
    # Only parameters: the body is no longer checked once the deployment carries the change.
    params = apigw.create_request_validator(restApiId=api_id, name="params", validateRequestParameters=True)
    apigw.update_method(restApiId=api_id, resourceId=pets, httpMethod="POST",
                        patchOperations=[{"op": "replace", "path": "/requestValidatorId", "value": params["id"]}])
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    assert post(base + "?owner=ann", {"name": "rex"}) == (200, {"created": True})
    # A model a method names cannot go; unknown models and validators are refused on the method.
    with pytest.raises(ClientError) as in_use:
        apigw.delete_model(restApiId=api_id, modelName="Pet")
    assert in_use.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as unknown:
        apigw.put_method(restApiId=api_id, resourceId=pets, httpMethod="PUT", authorizationType="NONE", requestModels={"application/json": "Nope"})
    assert unknown.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as malformed:
        apigw.create_model(restApiId=api_id, name="Broken", contentType="application/json", schema="not json")
    assert malformed.value.response["Error"]["Code"] == "BadRequestException"
    apigw.update_model(restApiId=api_id, modelName="Pet", patchOperations=[{"op": "replace", "path": "/description", "value": "a pet"}])
    assert apigw.get_models(restApiId=api_id)["items"][0]["description"] == "a pet"
    apigw.delete_request_validator(restApiId=api_id, requestValidatorId=both["id"])
    with pytest.raises(ClientError) as gone:
        apigw.get_request_validator(restApiId=api_id, requestValidatorId=both["id"])
    assert gone.value.response["Error"]["Code"] == "NotFoundException"


def test_api_keys_and_usage_plans_admit_throttle_and_count(server, apigw):
    api_id, _, _ = pets_api(apigw, name="keyed", api_key=True)
    path = f"/{api_id}/prod/pets"
    key = apigw.create_api_key(name="partner")
    assert key["enabled"] is False and len(key["value"]) == 40
    plan = apigw.create_usage_plan(name="three-a-day", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   quota={"limit": 3, "period": "DAY"})
    # No key, an unknown key, a disabled key, a key in no plan: 403 Forbidden.
    assert call(server, "GET", path)[0::2] == (403, b'{"message":"Forbidden"}')
    assert call(server, "GET", path, {"x-api-key": "x" * 40})[0] == 403
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert call(server, "GET", path, {"x-api-key": key["value"]})[0] == 403
    apigw.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}])
    statuses = [call(server, "GET", path, {"x-api-key": key["value"]})[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert json.loads(call(server, "GET", path, {"x-api-key": key["value"]})[2]) == {"message": "Limit Exceeded"}
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert "value" not in apigw.get_api_keys()["items"][0]
    assert apigw.get_api_keys(includeValues=True)["items"][0]["value"] == key["value"]

    # GetUsage: today's requests admitted under the plan and what the quota leaves ([used, remaining]).
    today = time.strftime("%Y-%m-%d", time.gmtime())
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    usage = apigw.get_usage(usagePlanId=plan["id"], startDate=yesterday, endDate=today)
    assert usage["usagePlanId"] == plan["id"] and usage["startDate"] == yesterday and usage["endDate"] == today
    assert usage["items"] == {key["id"]: [[0, 3], [3, 0]]}
    assert apigw.get_usage(usagePlanId=plan["id"], startDate=today, endDate=today, keyId="other")["items"] == {}
    with pytest.raises(ClientError) as bad_date:
        apigw.get_usage(usagePlanId=plan["id"], startDate="2026/01/01", endDate=today)
    assert bad_date.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as no_plan:
        apigw.get_usage(usagePlanId="nope", startDate=today, endDate=today)
    assert no_plan.value.response["Error"]["Code"] == "NotFoundException"

    # Another key in a plan with a throttle: a burst of 2.
    fast = apigw.create_api_key(name="burst", enabled=True, value="burst-key-0123456789-abcdef")
    throttled = apigw.create_usage_plan(name="burst", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                        throttle={"burstLimit": 2, "rateLimit": 0.01})
    apigw.create_usage_plan_key(usagePlanId=throttled["id"], keyId=fast["id"], keyType="API_KEY")
    statuses = [call(server, "GET", path, {"x-api-key": fast["value"]})[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    # A key may be in one plan per API stage.
    with pytest.raises(ClientError) as conflict:
        apigw.create_usage_plan_key(usagePlanId=throttled["id"], keyId=key["id"], keyType="API_KEY")
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    # Plans and keys survive a restart.
    server.stop()
    server.start()
    assert apigw.get_usage_plan(usagePlanId=plan["id"])["quota"] == {"limit": 3, "offset": 0, "period": "DAY"}
    assert call(server, "GET", path, {"x-api-key": fast["value"]})[0] == 200


def test_control_api_errors_for_rest_apis(server, apigw):
    def refused(call, **arguments):
        with pytest.raises(ClientError) as caught:
            call(**arguments)
        error = caught.value.response["Error"]
        return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]

    assert refused(apigw.get_rest_api, restApiId="nosuchapi0") == \
        ("NotFoundException", "Invalid API identifier specified 000000000000:nosuchapi0", 404)
    api_id = apigw.create_rest_api(name="errors")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    assert refused(apigw.create_deployment, restApiId=api_id, stageName="prod")[:2] == \
        ("BadRequestException", "The REST API doesn't contain any methods")
    items = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    assert refused(apigw.create_resource, restApiId=api_id, parentId=root, pathPart="items")[:2] == \
        ("ConflictException", "Another resource with the same parent already has this name: items")
    assert refused(apigw.create_resource, restApiId=api_id, parentId=root, pathPart="a b")[0] == "BadRequestException"
    apigw.create_resource(restApiId=api_id, parentId=items, pathPart="{id}")
    assert "only one is allowed" in refused(apigw.create_resource, restApiId=api_id, parentId=items, pathPart="{other}")[1]
    apigw.put_method(restApiId=api_id, resourceId=items, httpMethod="GET", authorizationType="NONE")
    assert refused(apigw.put_method, restApiId=api_id, resourceId=items, httpMethod="GET", authorizationType="NONE")[:2] == \
        ("ConflictException", "Method already exists for this resource")
    assert refused(apigw.put_method, restApiId=api_id, resourceId=items, httpMethod="FETCH", authorizationType="NONE")[0] == \
        "BadRequestException"
    assert refused(apigw.create_deployment, restApiId=api_id, stageName="prod")[1] == "No integration defined for method"
    assert refused(apigw.get_integration, restApiId=api_id, resourceId=items, httpMethod="GET")[:2] == \
        ("NotFoundException", "No integration defined for method")
    assert refused(apigw.put_integration, restApiId=api_id, resourceId=items, httpMethod="GET", type="AWS_PROXY",
                   integrationHttpMethod="GET",
                   uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations")[0] \
        == "BadRequestException"
    apigw.put_integration(restApiId=api_id, resourceId=items, httpMethod="GET", type="MOCK")
    assert refused(apigw.put_integration_response, restApiId=api_id, resourceId=items, httpMethod="GET", statusCode="200")[:2] == \
        ("NotFoundException", "Invalid Response status code specified")
    assert refused(apigw.delete_resource, restApiId=api_id, resourceId=root)[0] == "BadRequestException"
    assert refused(apigw.get_stage, restApiId=api_id, stageName="nope")[:2] == ("NotFoundException", "Invalid stage identifier specified")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    assert refused(apigw.update_stage, restApiId=api_id, stageName="prod",
                   patchOperations=[{"op": "replace", "path": "/nonsense", "value": "1"}])[0] == "BadRequestException"
    assert refused(apigw.create_usage_plan, name="bad", apiStages=[{"apiId": api_id, "stage": "nope"}])[0] == "BadRequestException"
    assert refused(apigw.get_usage, usagePlanId="x", startDate="2026-01-01", endDate="2026-01-02")[:2] == \
        ("NotFoundException", "Invalid Usage Plan ID specified")
    assert refused(apigw.get_sdk, restApiId=api_id, stageName="prod", sdkType="javascript")[0] == "NotImplementedException"
    # Deleting a resource deletes what is under it.
    apigw.delete_resource(restApiId=api_id, resourceId=items)
    assert [r["path"] for r in apigw.get_resources(restApiId=api_id)["items"]] == ["/"]
    apigw.delete_rest_api(restApiId=api_id)
    assert refused(apigw.get_resources, restApiId=api_id)[0] == "NotFoundException"


SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "imported-pets", "version": "1.0"},
    "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
    "paths": {
        "/pets": {
            "get": {
                "responses": {"200": {"description": "the pets"}},
                "security": [{"api_key": []}],
                "x-amazon-apigateway-integration": {
                    "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                    "responses": {"default": {"statusCode": "200", "responseTemplates": {"application/json": "{\"pets\": \"imported\"}"}}},
                },
            },
        },
        "/pets/{petId}": {
            "x-amazon-apigateway-any-method": {
                "x-amazon-apigateway-integration": {
                    "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 404}"},
                    "responses": {
                        "default": {"statusCode": "200"},
                        "404": {"statusCode": "404", "responseTemplates": {"application/json": "{\"missing\": \"$context.resourcePath\"}"}},
                    },
                },
            },
        },
    },
}

OPENAPI_YAML = """
openapi: 3.0.1
info:
  title: overwritten
  version: "2"
paths:
  /health:
    get:
      x-amazon-apigateway-integration:
        type: MOCK
        requestTemplates:
          application/json: '{"statusCode": 200}'
        responses:
          default:
            statusCode: "200"
            responseTemplates:
              application/json: '{"healthy": true}'
"""


def test_swagger_and_openapi_documents_are_imported_and_put(server, apigw, tmp_path, monkeypatch):
    document = tmp_path / "pets.json"
    document.write_text(json.dumps(SWAGGER))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    api = json.loads(run_aws(server.endpoint, "apigateway", "import-rest-api", "--body", f"fileb://{document}")[1])
    api_id = api["id"]
    assert api["name"] == "imported-pets"
    paths = {r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert set(paths) == {"/", "/pets", "/pets/{petId}"}
    assert paths["/pets"]["resourceMethods"]["GET"]["apiKeyRequired"] is True
    assert paths["/pets/{petId}"]["resourceMethods"]["ANY"]["methodIntegration"]["integrationResponses"]["404"]["selectionPattern"] == "404"
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    assert call(server, "GET", f"/{api_id}/prod/pets")[0] == 403
    status, _, body = call(server, "PATCH", f"/{api_id}/prod/pets/9")
    assert (status, json.loads(body)) == (404, {"missing": "/pets/{petId}"})

    # PutRestApi overwrite: the YAML document's resources replace the API's; the stage stays until redeployed.
    replaced = apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=OPENAPI_YAML.encode())
    assert replaced["id"] == api_id
    assert [r["path"] for r in apigw.get_resources(restApiId=api_id)["items"]] == ["/", "/health"]
    assert call(server, "GET", f"/{api_id}/prod/health")[0] == 403
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    assert json.loads(call(server, "GET", f"/{api_id}/prod/health")[2]) == {"healthy": True}

    # Documents that cannot be imported are refused with what to fix.
    with pytest.raises(ClientError) as refused:
        apigw.import_rest_api(body=b'{"info": {"title": "x"}}')
    assert refused.value.response["Error"]["Code"] == "BadRequestException" and "swagger" in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as warned:
        apigw.import_rest_api(body=json.dumps({"swagger": "2.0", "info": {"title": "w"}, "paths": {"/x": {"get": {}}}}).encode(),
                              failOnWarnings=True)
    assert "x-amazon-apigateway-integration" in warned.value.response["Error"]["Message"]


def test_ecsctl_lists_describes_and_calls_rest_apis(server, apigw):
    from conftest import run_ecsctl

    api_id, _, _ = pets_api(apigw, name="shown")
    code, out, _ = run_ecsctl(server.endpoint, "api", "ls")
    assert code == 0 and any(line.split()[:3] == ["shown", api_id, "REST"] for line in out.splitlines())
    code, out, _ = run_ecsctl(server.endpoint, "api", "describe", "shown")
    assert code == 0 and "color=blue" in out and "/pets  GET" in out
    assert "MOCK" in run_ecsctl(server.endpoint, "api", "routes", api_id)[1]
    code, out, _ = run_ecsctl(server.endpoint, "api", "test", "shown", "/pets", "--stage", "prod", "--gateway", server.gateway)
    assert code == 0 and f"/{api_id}/prod/pets -> 200" in out and '"color": "blue"' in out
    code, _, err = run_ecsctl(server.endpoint, "api", "test", "shown", "/pets")
    assert code != 0 and "--stage" in err
    assert run_ecsctl(server.endpoint, "api", "rm", "shown")[0] == 0
    with pytest.raises(ClientError):
        apigw.get_rest_api(restApiId=api_id)


def test_rest_stages_keep_access_logs_read_with_ecsctl(server, apigw):
    from conftest import run_ecsctl

    api_id, _, _ = pets_api(apigw, name="logged")
    group = "arn:aws:logs:us-east-1:000000000000:log-group:rest-access"
    with pytest.raises(ClientError) as refused:
        apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.status"}])
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
    stage = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group},
        {"op": "replace", "path": "/accessLogSettings/format",
         "value": "$context.requestId $context.httpMethod $context.resourcePath $context.status $context.stage"}])
    assert stage["accessLogSettings"]["destinationArn"] == group
    call(server, "GET", f"/{api_id}/prod/pets")
    call(server, "GET", f"/{api_id}/prod/nothing")
    code, out, err = run_ecsctl(server.endpoint, "api", "logs", "logged", "--stage", "prod")
    assert code == 0, err
    lines = [line.split() for line in out.splitlines()]
    assert [line[1:] for line in lines] == [["GET", "/pets", "200", "prod"], ["GET", "-", "403", "prod"]], out
    # The same lines in CloudWatch Logs, where AWS puts them, for `aws logs`.
    logs = boto3.client("logs", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def stored():
        try:
            return [e["message"].split()[1:] for e in logs.filter_log_events(logGroupName="rest-access")["events"]]
        except ClientError:
            return []

    wait_until(lambda: len(stored()) == 2, timeout=10, message="the access log lines in CloudWatch Logs")
    assert stored() == [["GET", "/pets", "200", "prod"], ["GET", "-", "403", "prod"]]
    assert logs.describe_log_streams(logGroupName="rest-access")["logStreams"][0]["logStreamName"] == "access-log"
    # And in Athena's `stevedore.gateway_access_logs`, with the stage that wrote them.
    from conftest import stevedore_rows
    rows = stevedore_rows(logs, "SELECT api_id, stage, split_part(line, ' ', 4) FROM stevedore.gateway_access_logs WHERE log_group = 'rest-access'")
    assert rows == [[api_id, "prod", "200"], [api_id, "prod", "403"]]


def test_the_gateway_listener_speaks_http_1_1_and_keeps_backend_connections(server, tmp_path):
    """HTTP_PROXY routes are carried out on the listener's event loop: requests on one connection
    are answered in order (pipelined ones too), the backend's connection is kept between them,
    and what HTTP/1.1 says about closing is honoured both ways."""
    import http.server
    import socket
    import threading

    seen = []

    class Backend(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append(self.client_address[1])
            body = f"{self.path} {self.headers.get('X-Forwarded-For')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        apigw2 = boto3.client("apigatewayv2", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x", config=NO_RETRIES)
        api_id = apigw2.create_api(Name="keepalive", ProtocolType="HTTP", Target=f"http://127.0.0.1:{backend.server_port}")["ApiId"]

        def exchange(raw, answers=1):
            """Sends raw bytes on a new connection; returns the answers (status line, headers, body)
            and whether the gateway then closed the connection."""
            with socket.create_connection(("127.0.0.1", server.gateway_port), timeout=10) as sock:
                sock.sendall(raw)
                stream = sock.makefile("rb")
                results = []
                for _ in range(answers):
                    status = stream.readline().rstrip(b"\r\n")
                    headers = {}
                    while (line := stream.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode().partition(":")
                        headers[name.strip().lower()] = value.strip()
                    results.append((status, headers, stream.read(int(headers.get("content-length", "0")))))
                return results, stream.read(1) == b""

        # Three requests pipelined on one connection: three answers, in order, over one backend connection.
        pipelined = b"".join(f"GET /{api_id}/n?i={i} HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n".encode() for i in range(3))
        sock = socket.create_connection(("127.0.0.1", server.gateway_port), timeout=10)
        sock.sendall(pipelined)
        stream = sock.makefile("rb")
        for i in range(3):
            assert stream.readline() == b"HTTP/1.1 200 OK\r\n"
            headers = {}
            while (line := stream.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert stream.read(int(headers["content-length"])) == f"/?i={i} 10.0.0.9, 127.0.0.1".encode()
        sock.close()
        assert len(seen) == 3 and len(set(seen)) == 1
        # HTTP/1.0 and `Connection: close` are answered, then the connection closes.
        [(status, _, body)], closed = exchange(f"GET /{api_id}/old?v=10 HTTP/1.0\r\nHost: gw\r\n\r\n".encode())
        assert (status, body, closed) == (b"HTTP/1.0 200 OK", b"/?v=10 127.0.0.1", True)
        [(status, headers, body)], closed = exchange(f"GET /{api_id}/bye?v=11 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
        assert (status, headers["connection"], body, closed) == (b"HTTP/1.1 200 OK", "close", b"/?v=11 127.0.0.1", True)
        # A request that is not HTTP: 400, and the connection closes.
        [(status, headers, _)], closed = exchange(b"NOT HTTP AT ALL\r\n\r\n")
        assert (status, headers["connection"], closed) == (b"HTTP/1.1 400 Bad Request", "close", True)
        # One refused at its head while its body still comes: the client can send it all and read
        # the 400 (the gateway reads and drops the rest before it closes; no reset).
        sock = socket.create_connection(("127.0.0.1", server.gateway_port), timeout=10)
        sock.sendall(b"BREW /pot HTTP/1.1\r\nHost: gw\r\nContent-Length: 4000000\r\n\r\n")
        for _ in range(40):
            sock.sendall(b"x" * 100_000)
        answer = sock.makefile("rb").read()
        sock.close()
        assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer[:100]
        # A backend where nothing listens: 500, as API Gateway answers an HTTP_PROXY whose URL refuses.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        gone = apigw2.create_api(Name="gone", ProtocolType="HTTP", Target=f"http://127.0.0.1:{free_port}/")["ApiId"]
        status, _, body = call(server, "GET", f"/{gone}/x")
        assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    finally:
        backend.shutdown()
        backend.server_close()


def test_http_integrations_map_requests_and_responses(server, apigw):
    """HTTP (non-proxy): the request template's output is what the backend gets, the backend's
    status picks the integration response, whose template and header mappings make the answer."""
    import http.server
    import threading

    received = []

    class Backend(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, json.loads(body)))
            status = 404 if b'"missing"' in body else 201
            answer = json.dumps({"id": 99, "kind": "created" if status == 201 else "none"}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("X-Backend", "b1")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        api_id, root, pets = pets_api(apigw, name="mapped-http")
        apigw.put_method(restApiId=api_id, resourceId=pets, httpMethod="POST", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=pets, httpMethod="POST", type="HTTP", integrationHttpMethod="POST",
                              uri=f"http://127.0.0.1:{backend.server_port}/store",
                              requestTemplates={"application/json": '{"petName": $input.json(\'$.name\'), "by": "$input.params(\'who\')"}'})
        for status in ("201", "404"):
            apigw.put_method_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode=status)
        apigw.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="201", selectionPattern="2\\d\\d",
                                       responseTemplates={"application/json": '{"created": $input.path(\'$.id\')}'},
                                       responseParameters={"method.response.header.X-From": "integration.response.header.X-Backend",
                                                           "method.response.header.X-Kind": "integration.response.body.kind"})
        apigw.put_integration_response(restApiId=api_id, resourceId=pets, httpMethod="POST", statusCode="404", selectionPattern="4\\d\\d",
                                       responseTemplates={"application/json": '{"message": "no such pet"}'})
        apigw.create_deployment(restApiId=api_id, stageName="prod")

        def post(body, query=""):
            connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
            connection.request("POST", f"/{api_id}/prod/pets{query}", body=json.dumps(body), headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())

        status, headers, body = post({"name": "rex"}, "?who=ann")
        assert (status, body, headers["X-From"], headers["X-Kind"]) == (201, {"created": 99}, "b1", "created")
        assert received[-1] == ("/store?who=ann", {"petName": "rex", "by": "ann"})
        assert post({"name": "missing"})[::2] == (404, {"message": "no such pet"})
        # NEVER passes no body through without a template for its content type: 415.
        apigw.put_method(restApiId=api_id, resourceId=pets, httpMethod="PUT", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=pets, httpMethod="PUT", type="HTTP", integrationHttpMethod="POST",
                              uri=f"http://127.0.0.1:{backend.server_port}/store", passthroughBehavior="NEVER",
                              requestTemplates={"application/json": "{}"})
        apigw.create_deployment(restApiId=api_id, stageName="prod")
        connection = http.client.HTTPConnection("127.0.0.1", server.gateway_port, timeout=30)
        connection.request("PUT", f"/{api_id}/prod/pets", body="x", headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (415, {"message": "Unsupported Media Type"})
    finally:
        backend.shutdown()
