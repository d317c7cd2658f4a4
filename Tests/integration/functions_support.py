"""Helpers for the function tests: zips, the Python runtime image, an ecsd + agent pair."""
import io
import os
import subprocess
import uuid
import zipfile

import boto3

from conftest import ROOT, Ecsd, wait_until
from docker_support import Agent, remove_cluster_containers

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
PYTHON_IMAGE = "stevedore/lambda-python:3.11"


def zip_files(files):
    """A zip (bytes) of {path: (text, mode)} or {path: text}; modes kept as Unix attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, value in files.items():
            text, mode = value if isinstance(value, tuple) else (value, 0o644)
            info = zipfile.ZipInfo(path)
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return buffer.getvalue()


def zip_directory(directory):
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        with open(path) as f:
            files[name] = (f.read(), os.stat(path).st_mode & 0o777)
    return zip_files(files)


def ensure_python_image():
    """Builds the Python runtime image offline (debootstrap + awslambdaric) unless it exists."""
    subprocess.run([os.path.join(ROOT, "scripts", "build-python-runtime.sh"), PYTHON_IMAGE], check=True, timeout=900)


class FunctionCluster:
    """ecsd placing execution environments in a cluster of its own, plus one real agent."""

    def __init__(self, data_dir, extra_args=(), agent=True):
        self.name = "fn-" + uuid.uuid4().hex[:8]
        self.data_dir = data_dir
        self.server = Ecsd(os.path.join(data_dir, "ecsd"), extra_args=[
            "--functions-cluster", self.name, "--agent-timeout", "10", "--async-retry-delay", "1", *extra_args]).start()
        self.agent = None
        if agent:
            self.start_agent()

    def start_agent(self):
        ecs = boto3.client("ecs", endpoint_url=self.server.endpoint, region_name="us-east-1")
        ecs.create_cluster(clusterName=self.name)
        self.agent = Agent(self.server.endpoint, self.name, os.path.join(self.data_dir, "agent")).start()
        wait_until(lambda: len(ecs.list_container_instances(cluster=self.name)["containerInstanceArns"]) == 1, timeout=30,
                   message="agent registered")

    @property
    def endpoint(self):
        return self.server.endpoint

    def client(self, service):
        from botocore.config import Config
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 1}, read_timeout=120))

    def close(self):
        if self.agent:
            self.agent.stop()
        self.server.stop()
        remove_cluster_containers(self.name)
