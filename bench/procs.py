"""Server processes the harness starts, and what the kernel says they cost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line.")


@dataclass
class Server:
    """One uvicorn process on loopback, started and stopped by the harness."""

    name: str
    app: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def start(self, log_dir: Path, timeout: float = 60.0) -> None:
        """Start uvicorn and wait until the port accepts connections."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        self.log_path = log_dir / f"{self.name}-{self.port}.log"
        command = [
            sys.executable, "-m", "uvicorn", self.app,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--no-access-log", "--log-level", "warning",
            "--ws-max-queue", "256", "--backlog", "16384",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen within {timeout:.0f} s.")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process the harness started, then SIGKILL it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class CpuMeter:
    """CPU used by some processes between `start()` and `stop()`, as cores busy."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.began = 0.0
        self.cpu_at_start = 0.0
        self.seconds = 0.0
        self.cores = 0.0

    def _total(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def start(self) -> None:
        self.began = time.monotonic()
        self.cpu_at_start = self._total()

    def stop(self) -> None:
        self.seconds = self._total() - self.cpu_at_start
        self.cores = self.seconds / max(time.monotonic() - self.began, 1e-9)
