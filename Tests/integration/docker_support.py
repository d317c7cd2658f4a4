"""Docker for the integration suite: test images built offline, a private local registry, and a
real ecs-agent process. Everything listens on 127.0.0.1.
"""
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import BIN, free_port

BUSYBOX_IMAGE = "stevedore/busybox:test"
APPLETS = ["sh", "sleep", "echo", "cat", "true", "false", "ls", "env", "httpd", "wget", "head", "tr", "kill", "mkdir",
           "dd", "nc", "ps", "date", "seq", "yes"]


def docker(*args, check=True, capture=True):
    result = subprocess.run(["docker", *args], capture_output=capture, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {result.stderr}")
    return result.stdout.strip() if capture else ""


def docker_available():
    return shutil.which("docker") is not None and subprocess.run(["docker", "version"], capture_output=True).returncode == 0


requires_docker = pytest.mark.skipif(
    not docker_available(),
    reason="needs a Docker engine: run `make test` (it installs docker.io and starts dockerd)")


def busybox_path():
    for path in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(path):
            return path
    raise AssertionError("busybox-static is not installed (apt-get install busybox-static)")


def build_busybox_image(tag=BUSYBOX_IMAGE):
    """A FROM-scratch image of Debian's static busybox, made with `docker import` (no registry needed)."""
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(busybox_path(), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        for directory in ("tmp", "www", "proc", "sys", "dev", "etc"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
    subprocess.run(["docker", "import", "--change", 'ENV PATH=/bin', "-", tag], input=buffer.getvalue(), check=True,
                   capture_output=True, timeout=120)
    return tag


class Registry:
    """Debian's docker-registry (Distribution 2.x) on 127.0.0.1 with htpasswd authentication."""

    def __init__(self, work_dir, username="ci", password="s3cret"):
        self.port = free_port()
        self.username, self.password = username, password
        self.work = work_dir
        self.process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        import bcrypt
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
        htpasswd = os.path.join(self.work, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write(f"{self.username}:{bcrypt.hashpw(self.password.encode(), bcrypt.gensalt()).decode()}\n")
        config = os.path.join(self.work, "registry.yml")
        with open(config, "w") as f:
            f.write(f"""version: 0.1
storage:
  filesystem:
    rootdirectory: {self.work}/data
http:
  addr: {self.address}
auth:
  htpasswd:
    realm: stevedore-tests
    path: {htpasswd}
""")
        self.process = subprocess.Popen([binary, "serve", config], stdout=open(os.path.join(self.work, "registry.log"), "ab"),
                                        stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{self.address}/v2/"]).returncode == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("the registry did not start")

    def push_private(self, source, name):
        target = f"{self.address}/{name}"
        docker("tag", source, target)
        subprocess.run(["docker", "login", "-u", self.username, "--password-stdin", self.address], input=self.password,
                       text=True, check=True, capture_output=True)
        docker("push", target)
        docker("logout", self.address)
        docker("rmi", target)
        return target

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Agent:
    """A real ecs-agent process on this host's Docker engine."""

    def __init__(self, endpoint, cluster, data_dir, extra_env=None):
        self.endpoint, self.cluster, self.data_dir = endpoint, cluster, data_dir
        self.extra_env = extra_env or {}
        self.process = None
        self.log_path = os.path.join(data_dir, "agent.log")

    def start(self):
        env = {**os.environ,
               "ECS_CLUSTER": self.cluster, "ECS_BACKEND_HOST": self.endpoint, "ECS_DATADIR": self.data_dir,
               "ECS_HOST_PORT_BIND_IP": "127.0.0.1", "ECS_IMAGE_PULL_BEHAVIOR": "prefer-cached",
               "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "2s", "ECS_STATS_INTERVAL": "1s", **self.extra_env}
        os.makedirs(self.data_dir, exist_ok=True)
        self.process = subprocess.Popen([os.path.join(BIN, "ecs-agent"), "--config", "/dev/null"],
                                        stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
        return self

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()[-4000:]
        except OSError:
            return ""


def containers_of(cluster, all_states=True):
    """Names of containers labelled with the cluster."""
    args = ["ps", "--format", "{{.Names}} {{.State}}", "--filter", f"label=com.amazonaws.ecs.cluster={cluster}"]
    if all_states:
        args.insert(1, "-a")
    output = docker(*args)
    return [line.split() for line in output.splitlines() if line.strip()]


def remove_cluster_containers(cluster):
    for name, _ in containers_of(cluster):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def restart_dockerd():
    """Stops dockerd and starts it again the way scripts/start-docker.sh does (tests that need this
    only run when STEVEDORE_ALLOW_DOCKERD_RESTART=1, as in CI)."""
    subprocess.run(["pkill", "-TERM", "-x", "dockerd"], check=False)
    deadline = time.time() + 30
    while time.time() < deadline and subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0:
        time.sleep(0.2)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    subprocess.run([os.path.join(root, "scripts", "start-docker.sh")], check=True, timeout=60)
