"""The real aws CLI drives clusters and task definitions against ecsd."""
import json

from conftest import example, run_aws


def test_cluster_lifecycle(ecsd):
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "create-cluster", "--cluster-name", "prod",
                        "--tags", "key=team,value=core", "--settings", "name=containerInsights,value=enabled")
    cluster = json.loads(out)["cluster"]
    assert cluster["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/prod"
    assert cluster["status"] == "ACTIVE"

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "describe-clusters", "--clusters", "prod", "ghost",
                        "--include", "TAGS", "SETTINGS", "STATISTICS")
    described = json.loads(out)
    assert described["clusters"][0]["tags"] == [{"key": "team", "value": "core"}]
    assert described["clusters"][0]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert {s["name"] for s in described["clusters"][0]["statistics"]} >= {"runningEC2TasksCount", "pendingEC2TasksCount"}
    assert described["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:cluster/ghost", "reason": "MISSING"}]

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "update-cluster-settings", "--cluster", "prod",
                        "--settings", "name=containerInsights,value=disabled")
    assert json.loads(out)["cluster"]["settings"] == [{"name": "containerInsights", "value": "disabled"}]

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "delete-cluster", "--cluster", "prod")
    assert json.loads(out)["cluster"]["status"] == "INACTIVE"
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-clusters")
    assert json.loads(out)["clusterArns"] == []


def test_list_clusters_paginates(ecsd):
    for index in range(12):
        run_aws(ecsd.endpoint, "ecs", "create-cluster", "--cluster-name", f"c{index:02d}")
    # The CLI follows nextToken itself; --page-size forces several pages.
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-clusters", "--page-size", "5")
    arns = json.loads(out)["clusterArns"]
    assert len(arns) == 12
    assert arns == sorted(arns)
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-clusters", "--max-items", "4")
    page = json.loads(out)
    assert len(page["clusterArns"]) == 4 and "NextToken" in page


def test_cluster_errors(ecsd):
    code, _, err = run_aws(ecsd.endpoint, "ecs", "create-cluster", "--cluster-name", "bad name!", check=False)
    assert code != 0
    assert "InvalidParameterException" in err and "clusterName" in err
    code, _, err = run_aws(ecsd.endpoint, "ecs", "delete-cluster", "--cluster", "ghost", check=False)
    assert code != 0 and "ClusterNotFoundException" in err
    code, _, err = run_aws(ecsd.endpoint, "ecs", "update-cluster-settings", "--cluster", "default",
                           "--settings", "name=containerInsights,value=maybe", check=False)
    assert code != 0 and "ClusterNotFoundException" in err


def test_task_definitions_with_the_cli(ecsd):
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "register-task-definition", "--cli-input-json",
                        "file://" + example("task-definitions", "web.json"))
    definition = json.loads(out)["taskDefinition"]
    assert definition["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"
    assert definition["containerDefinitions"][0]["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    assert "ecs.capability.container-health-check" in [a["name"] for a in definition["requiresAttributes"]]

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "describe-task-definition", "--task-definition", "web")
    assert json.loads(out)["taskDefinition"]["revision"] == 1

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "deregister-task-definition", "--task-definition", "web:1")
    assert json.loads(out)["taskDefinition"]["status"] == "INACTIVE"

    _, out, _ = run_aws(ecsd.endpoint, "ecs", "delete-task-definitions", "--task-definitions", "web:1")
    assert json.loads(out)["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"

    code, _, err = run_aws(ecsd.endpoint, "ecs", "describe-task-definition", "--task-definition", "web:1", check=False)
    assert code != 0 and "ClientException" in err


def test_task_definition_validation_errors_reach_the_cli(ecsd):
    code, _, err = run_aws(ecsd.endpoint, "ecs", "register-task-definition", "--family", "x",
                           "--container-definitions", '[{"name":"a","image":"busybox"}]', check=False)
    assert code != 0
    assert "ClientException" in err
    assert "At least one of 'memory' or 'memoryReservation' must be specified" in err

    code, _, err = run_aws(ecsd.endpoint, "ecs", "register-task-definition", "--family", "x", "--network-mode", "host",
                           "--container-definitions",
                           '[{"name":"a","image":"busybox","memory":32,"portMappings":[{"containerPort":80,"hostPort":81}]}]',
                           check=False)
    assert code != 0 and "hostPort must be omitted or equal to containerPort" in err


def test_account_settings_with_the_cli(ecsd):
    """Put, list (own and effective), delete; the account default applies to new clusters; AWS's refusals."""
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-account-settings", "--effective-settings", "--name", "containerInsights")
    assert json.loads(out)["settings"] == [
        {"name": "containerInsights", "value": "disabled", "principalArn": "arn:aws:iam::000000000000:root", "type": "user"}]
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "put-account-setting-default", "--name", "containerInsights", "--value", "enhanced")
    assert json.loads(out)["setting"] == {
        "name": "containerInsights", "value": "enhanced", "principalArn": "arn:aws:iam::000000000000:root", "type": "user"}
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "create-cluster", "--cluster-name", "insightful")
    assert json.loads(out)["cluster"]["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "put-account-setting", "--name", "awsvpcTrunking", "--value", "enabled")
    assert json.loads(out)["setting"]["value"] == "enabled"
    # The CLI pages through them itself (pages of one here).
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-account-settings", "--page-size", "1")
    assert sorted(s["name"] for s in json.loads(out)["settings"]) == ["awsvpcTrunking", "containerInsights"]
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-account-settings", "--effective-settings")
    assert len(json.loads(out)["settings"]) == 11
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "delete-account-setting", "--name", "awsvpcTrunking")
    assert json.loads(out)["setting"]["value"] == "enabled"
    _, out, _ = run_aws(ecsd.endpoint, "ecs", "list-account-settings", "--name", "awsvpcTrunking")
    assert json.loads(out)["settings"] == []
    code, _, err = run_aws(ecsd.endpoint, "ecs", "put-account-setting", "--name", "containerInsights", "--value", "maybe", check=False)
    assert code != 0 and "InvalidParameterException" in err and "Invalid setting 'value'" in err
    code, _, err = run_aws(ecsd.endpoint, "ecs", "put-account-setting-default", "--name", "taskLongArnFormat", "--value", "disabled",
                           check=False)
    assert code != 0 and "You can no longer disable Long Arn settings" in err
    code, _, err = run_aws(ecsd.endpoint, "ecs", "list-account-settings", "--max-results", "11", check=False)
    assert code != 0 and "InvalidParameterException" in err

