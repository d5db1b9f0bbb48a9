"""A project-local PostgreSQL cluster from the operating system's packages."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from infra.local.processes import Process

OS_USER = "postgres"  # the server refuses to run as root


def find_bin_dir() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        found = sorted(glob.glob(pattern), key=lambda p: int(p.split("/")[-2]))
        if found:
            return Path(found[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def ensure_installed() -> Path:
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        return bin_dir
    if os.geteuid() != 0:
        raise RuntimeError("PostgreSQL is not installed; install the 'postgresql' package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL was installed but initdb is not found")
    return bin_dir


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", *argv]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(OS_USER)
        for root, _dirs, files in os.walk(path):
            os.chown(root, user.pw_uid, user.pw_gid)
            for name in files:
                os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


class LocalCluster:
    def __init__(self, bin_dir: Path, state_dir: Path, url: str):
        self.bin_dir = bin_dir
        self.root = state_dir / "postgres"
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.password_file = self.root / "superuser.password"
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 5432
        self.process = Process("postgres", state_dir / "run", state_dir / "logs")

    def superuser_url(self, database: str = "postgres") -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://postgres:{password}@{self.host}:{self.port}/{database}"

    def ensure_initialised(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        pwfile = self.root / ".initdb-pw"
        shutil.copy(self.password_file, pwfile)
        self.data.mkdir(exist_ok=True)
        _chown(self.root)
        try:
            subprocess.run(
                _as_server_user(
                    [
                        str(self.bin_dir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                capture_output=True,
                text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> int:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.process.log_dir.mkdir(parents=True, exist_ok=True)
        self.process.run_dir.mkdir(parents=True, exist_ok=True)
        _chown(self.socket_dir)
        return self.process.start(
            _as_server_user(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    f"unix_socket_directories={self.socket_dir}",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "shared_buffers=256MB",
                    "-c",
                    "synchronous_commit=on",
                    "-c",
                    "fsync=on",
                    # Checkpoints by time, not forced by WAL volume every few seconds under load: each
                    # checkpoint makes the next change of every page write a full page image into the WAL.
                    "-c",
                    "max_wal_size=4GB",
                    "-c",
                    "checkpoint_timeout=15min",
                    "-c",
                    "checkpoint_completion_target=0.9",
                    "-c",
                    "wal_compression=lz4",
                    # Tables are analyzed within seconds of growing, not a minute: a statement the services
                    # prepared while a table was small keeps the plan made then (a sequential scan of the
                    # batteries and the inbox for every batch of a new stack) until an analyze replaces it.
                    "-c",
                    "autovacuum_naptime=5s",
                    "-c",
                    "shared_preload_libraries=pg_stat_statements",  # per-statement cost, for operators
                ]
            )
        )

    def stop(self) -> bool:
        return self.process.stop(signal.SIGINT)  # "fast" shutdown: does not wait for clients
