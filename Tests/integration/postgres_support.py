"""A real PostgreSQL for the tests: Debian's server binaries, `initdb` in a temporary directory,
started on a free port (TCP on 127.0.0.1 and a Unix socket in that directory), stopped after.
initdb refuses to run as root: as root, the server runs as the `postgres` user."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import free_port


def server_binaries():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


class Postgres:
    def __init__(self):
        self.bin = server_binaries()
        assert self.bin, "PostgreSQL's server is missing: scripts/install-test-deps.sh installs the postgresql package"
        self.directory = tempfile.mkdtemp(prefix="stevedore-pg-")
        self.port = free_port()
        self.user = "stevedore"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            os.chown(self.directory, pwd.getpwnam("postgres").pw_uid, -1)

    def run(self, *args):
        command = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self):
        self.run("initdb", "-D", self.directory + "/data", "-A", "trust", "-U", self.user, "--no-sync")
        self.run("pg_ctl", "-D", self.directory + "/data", "-l", self.directory + "/server.log", "-w", "-o",
                 f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on", "start")
        return self

    def create_database(self, name):
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.directory + "/data", "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # a test stopped it already
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()
