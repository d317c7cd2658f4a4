"""ecsctl node, task and service commands against ecsd with simulated agents."""
import json
import os
import subprocess

from conftest import BIN, run_ecsctl, wait_until


def ctl(ecsd, *args):
    code, out, err = run_ecsctl(ecsd.endpoint, *args)
    assert code == 0, f"ecsctl {' '.join(args)} failed: {err}"
    return out


def test_nodes_tasks_and_services(ecsd, fleets):
    ctl(ecsd, "cluster", "create", "work")
    fleets(ecsd.endpoint, "work", 2, zones=("a", "b"))
    wait_until(lambda: len(ctl(ecsd, "node", "ls", "--cluster", "work", "-q").split()) == 2, message="nodes")
    table = ctl(ecsd, "node", "ls", "--cluster", "work").splitlines()
    assert table[0].split()[:4] == ["ID", "STATUS", "AGENT", "RUNNING"]
    assert all("connected" in line for line in table[1:])
    first = table[1].split()[0]
    assert "attribute ecs.availability-zone" in ctl(ecsd, "node", "describe", first, "--cluster", "work")

    definition = json.dumps({"family": "job", "containerDefinitions": [{"name": "job", "image": "job:1", "memory": 64}]})
    subprocess.run([os.path.join(BIN, "ecsctl"), "taskdef", "register", "-f", "-"], input=definition, text=True, check=True,
                   env={**os.environ, "ECS_ENDPOINT": ecsd.endpoint}, capture_output=True)

    out = ctl(ecsd, "task", "run", "job", "--cluster", "work", "--count", "3", "--strategy", "binpack:memory", "--wait")
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["TASK", "TASK", "DEFINITION", "LAST"]
    assert len(lines) == 4 and all("RUNNING" in line for line in lines[1:])
    # binpack puts all three on one instance
    assert len({line.split()[4] for line in lines[1:]}) == 1
    task_id = lines[1].split()[0]
    assert "job:1" in ctl(ecsd, "task", "describe", task_id, "--cluster", "work")
    ctl(ecsd, "task", "stop", task_id, "--cluster", "work", "--reason", "done")
    wait_until(lambda: task_id in ctl(ecsd, "task", "ls", "--cluster", "work", "--status", "STOPPED"), message="stopped task listed")

    out = ctl(ecsd, "service", "create", "api", "--cluster", "work", "-t", "job", "--desired-count", "4", "--circuit-breaker", "--rollback")
    assert "Circuit breaker" in out and "on, rollback" in out
    out = ctl(ecsd, "service", "wait-stable", "api", "--cluster", "work", "--timeout", "60")
    assert "api is stable: 4/4 running" in out
    ctl(ecsd, "service", "scale", "api", "2", "--cluster", "work")
    out = ctl(ecsd, "service", "wait-stable", "api", "--cluster", "work", "--timeout", "60")
    assert "2/2 running" in out
    listed = ctl(ecsd, "service", "ls", "--cluster", "work").splitlines()
    assert listed[1].split()[:4] == ["api", "ACTIVE", "2", "2"]
    described = ctl(ecsd, "service", "describe", "api", "--cluster", "work")
    assert "has reached a steady state." in described

    ctl(ecsd, "node", "drain", first, "--cluster", "work")
    wait_until(lambda: "DRAINING" in ctl(ecsd, "node", "ls", "--cluster", "work"), message="draining")

    def moved():
        tasks = json.loads(ctl(ecsd, "task", "ls", "--cluster", "work", "--service", "api", "--output", "json"))
        return len(tasks) == 2 and all(not t["containerInstanceArn"].endswith(first) and t["lastStatus"] == "RUNNING" for t in tasks)

    wait_until(moved, message="service tasks moved off the draining node")
    ctl(ecsd, "node", "activate", first, "--cluster", "work")

    code, _, err = run_ecsctl(ecsd.endpoint, "service", "delete", "api", "--cluster", "work")
    assert code != 0 and "scaled above 0" in err
    ctl(ecsd, "service", "delete", "api", "--cluster", "work", "--force")
    code, _, err = run_ecsctl(ecsd.endpoint, "task", "run", "job", "--cluster", "work", "--constraint", "memberOf:attribute:ecs.availability-zone == z")
    assert code != 0 and "MemberOf placement constraint unsatisfied" in err
