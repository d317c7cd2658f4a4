"""ecsctl against a real ecsd: tables, JSON and errors."""
import json

from conftest import example, run_ecsctl


def test_cluster_commands(ecsd):
    code, out, _ = run_ecsctl(ecsd.endpoint, "cluster", "create", "demo", "--tag", "env=dev")
    assert code == 0 and "demo" in out
    code, out, _ = run_ecsctl(ecsd.endpoint, "cluster", "ls")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split() == ["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING", "SERVICES"]
    assert row.split() == ["demo", "ACTIVE", "0", "0", "0", "0"]
    code, out, _ = run_ecsctl(ecsd.endpoint, "cluster", "describe", "demo", "--output", "json")
    assert code == 0 and json.loads(out)["tags"] == [{"key": "env", "value": "dev"}]
    code, out, _ = run_ecsctl(ecsd.endpoint, "cluster", "ls", "-q")
    assert out.strip() == "arn:aws:ecs:us-east-1:000000000000:cluster/demo"
    code, out, _ = run_ecsctl(ecsd.endpoint, "cluster", "delete", "demo")
    assert code == 0 and "deleted" in out


def test_taskdef_commands(ecsd):
    code, out, err = run_ecsctl(ecsd.endpoint, "taskdef", "register", "-f", example("task-definitions", "app-with-db.json"))
    assert code == 0, err
    assert out.strip() == "registered arn:aws:ecs:us-east-1:000000000000:task-definition/guestbook:1"
    code, out, _ = run_ecsctl(ecsd.endpoint, "taskdef", "describe", "guestbook")
    assert code == 0
    assert "guestbook:1" in out and "migrate" in out and "busybox:1.36" in out
    code, out, _ = run_ecsctl(ecsd.endpoint, "taskdef", "ls")
    assert "guestbook" in out and "ACTIVE" in out
    code, out, _ = run_ecsctl(ecsd.endpoint, "taskdef", "deregister", "guestbook:1")
    assert code == 0
    code, out, _ = run_ecsctl(ecsd.endpoint, "taskdef", "ls", "--status", "INACTIVE", "-q")
    assert out.strip().endswith("guestbook:1")


def test_errors_go_to_stderr_with_nonzero_exit(ecsd):
    code, out, err = run_ecsctl(ecsd.endpoint, "cluster", "delete", "ghost")
    assert code != 0 and out == ""
    assert "ClusterNotFoundException" in err
    code, _, err = run_ecsctl(ecsd.endpoint, "taskdef", "register", "-f", "/nonexistent.json")
    assert code != 0 and "cannot read" in err
    code, _, err = run_ecsctl("http://127.0.0.1:1", "cluster", "ls")
    assert code != 0 and "cannot reach the control plane" in err
    code, _, err = run_ecsctl(ecsd.endpoint, "taskdef", "ls", "--status", "SLEEPING")
    assert code != 0 and "Valid values" in err
