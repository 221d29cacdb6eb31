"""The deployment files agree with the code: what would break in production if they drifted.

No container is built or started here. The YAML files are parsed with pyyaml, the Dockerfile is
read instruction by instruction, the settings the code reads come from `Settings.from_env`'s own
source, the routes from the Flask blueprint, and the gunicorn options from `app/ops/serve.py`.
`docker compose config` and `kubectl kustomize` run too, when those tools are installed.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from flask import Flask

from app.foundations.errors import ConfigError
from app.foundations.settings import Need, Settings, declared
from app.ops.serve import gunicorn_options
from app.ops.worker import CALLBACK_GRACE
from tests.support.paths import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "env.example"
DOCKERFILE = DEPLOY / "Dockerfile"

PLACEHOLDER = "REPLACE-ME"
#: What a person fills in for each placeholder: values that pass the settings' validation.
FILLED = {
    "SLACK_BOT_TOKEN": "xoxb-fake",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "MYSAFE_URL": "https://segura.example.com",
    "MYSAFE_BOT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "MYSAFE_BOT_APPROVAL_CHANNEL": "C0123ABCD",
    "MYSAFE_BOT_APPROVERS": "U0123ABCD,S0456EFGH",
    "REDIS_URL": "redis://:pw@redis.mysafe-bot.svc.cluster.local:6379/0",
}
#: Settings whose value is a secret: never in a ConfigMap, only placeholders in templates.
SECRET_SETTINGS = {
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "MYSAFE_BOT_ENCRYPTION_KEY",
    "MYSAFE_BOT_WEBHOOK_SECRET",
    "MYSAFE_BOT_AUDIT_SIGNING_KEY",
    "MYSAFE_BOT_AUDIT_HEC_TOKEN",
    "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET",
    "MYSAFE_BOT_ON_CALL_TOKEN",
    "REDIS_URL",
}
#: Optional secrets: an unfilled template must leave them empty, since any value turns the
#: feature on (a webhook accepting a published secret, Socket Mode with a bogus token).
OPTIONAL_SECRETS = {"SLACK_APP_TOKEN", "MYSAFE_BOT_WEBHOOK_SECRET"}
WORKER_COMMAND = ["mysafe-bot", "worker"]


# --- what the code reads -------------------------------------------------------------------------


@cache
def settings_read() -> dict[str, bool]:
    """Every variable `Settings` declares (app.foundations.settings) -> whether it is ever required.

    MYSAFE_BOT_DEMO is left out: `mysafe-bot serve` sets it for the demo, never an operator.
    SLACK_SIGNING_SECRET counts as required (the deployments here run in HTTP mode)."""
    return {spec.env: spec.need is not Need.OPTIONAL for _, spec in declared() if spec.listed}


def required_settings() -> set[str]:
    return {name for name, required in settings_read().items() if required}


@cache
def runtime_variables() -> set[str]:
    """Variables read outside the settings: PORT, WEB_CONCURRENCY, PROMETHEUS_MULTIPROC_DIR…"""
    source = "\n".join(p.read_text() for p in sorted((ROOT / "app").rglob("*.py")))
    pattern = r"""(?:environ\.get|environ\.setdefault|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']|environ\[\s*["']([A-Z][A-Z0-9_]+)["']\]"""
    return {a or b for a, b in re.findall(pattern, source)}


def known_variables() -> set[str]:
    return set(settings_read()) | runtime_variables()


@cache
def routes() -> dict[str, set[str]]:
    """Path -> methods of the operational blueprint, without building the full app (the
    routes never touch the runtime until a request comes)."""
    from app.ops.web import blueprint

    app = Flask("routes-only")
    app.register_blueprint(blueprint(None))  # type: ignore[arg-type]
    return {rule.rule: set(rule.methods or ()) for rule in app.url_map.iter_rules()}


def _fill(env: dict[str, str]) -> dict[str, str]:
    return {k: (FILLED[k] if PLACEHOLDER in v else v) for k, v in env.items()}


def test_settings_source_is_read_the_way_the_code_behaves() -> None:
    """The declarations read above agree with what `from_env` does when a value is missing."""
    read = settings_read()
    assert {"MYSAFE_URL", "SLACK_BOT_TOKEN", "REDIS_URL", "LOG_FORMAT", "MYSAFE_BOT_DATA_DIR"} <= set(
        read
    )
    full = {name: FILLED.get(name, "") for name in read}
    Settings.from_env(full, dotenv=None)  # everything required given: starts
    for name in read:
        env = dict(full, **{name: ""})
        if read[name]:
            with pytest.raises(ConfigError) as error:
                Settings.from_env(env, dotenv=None)
            assert error.value.variable == name
        else:
            Settings.from_env(env, dotenv=None)
    assert {"PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"} <= runtime_variables()


# --- env.example ---------------------------------------------------------------------------------


@cache
def env_example() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}


def test_env_example_lists_every_setting_and_nothing_the_code_does_not_read() -> None:
    names = set(env_example())
    assert set(settings_read()) <= names, f"missing from env.example: {set(settings_read()) - names}"
    assert names <= known_variables(), f"not read by the code: {names - known_variables()}"


def test_env_example_explains_each_setting_in_a_comment() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"[A-Z][A-Z0-9_]*=", line):
            assert lines[number - 1].startswith("#"), f"no comment above {line!r}"
            assert " #" not in line, "compose keeps inline comments as part of the value"


def test_env_example_placeholders_are_fake_and_filled_in_it_starts() -> None:
    env = env_example()
    assert required_settings() <= {k for k, v in env.items() if PLACEHOLDER in v}
    for name in SECRET_SETTINGS & set(env):
        assert env[name] == "" or PLACEHOLDER in env[name] or name == "REDIS_URL", name
    for name in OPTIONAL_SECRETS:
        assert env[name] == "", f"{name} must be empty in a template: any value switches it on"
    with pytest.raises(ConfigError):  # an unfilled copy stops start-up instead of half-working
        Settings.from_env(env, dotenv=None)
    settings = Settings.from_env(_fill(env), dotenv=None)
    assert settings.redis_url == "redis://redis:6379/0"
    assert not settings.webhook_secret and not settings.slack_app_token


# --- Kubernetes ----------------------------------------------------------------------------------


@cache
def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@cache
def k8s_objects() -> tuple[dict, ...]:
    objects = []
    for name in kustomization()["resources"]:
        objects += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return tuple(objects)


def k8s(kind: str, name: str | None = None) -> dict:
    found = [
        o
        for o in k8s_objects()
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(deployment: str) -> dict:
    (only,) = k8s("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return only


def configmap_and_secret() -> tuple[dict[str, str], dict[str, str]]:
    data = k8s("ConfigMap")["data"]
    secret = k8s("Secret")
    assert "data" not in secret, "the template uses stringData: placeholders, not base64"
    return ({k: str(v) for k, v in data.items()}, {k: str(v) for k, v in secret["stringData"].items()})


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    kinds = {o["kind"] for o in k8s_objects()}
    assert {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= kinds


def test_k8s_env_names_are_variables_the_code_reads() -> None:
    data, secret = configmap_and_secret()
    names = set(data) | set(secret)
    for deployment in ("mysafe-bot-web", "mysafe-bot-worker"):
        names |= {e["name"] for e in container(deployment).get("env", [])}
    assert names <= known_variables(), f"not read by the code: {names - known_variables()}"


def test_k8s_provides_every_required_setting_and_redis() -> None:
    data, secret = configmap_and_secret()
    provided = set(data) | set(secret)
    # REDIS_URL is optional to the code (embedded Redis) but required for any multi-pod setup.
    assert required_settings() | {"REDIS_URL"} <= provided
    assert {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "MYSAFE_BOT_ENCRYPTION_KEY",
        "MYSAFE_BOT_WEBHOOK_SECRET",
        "REDIS_URL",
    } <= set(secret)
    assert not SECRET_SETTINGS & set(data), "secrets belong in the Secret, not the ConfigMap"
    assert not set(data) & set(secret), "a name in both: which one wins depends on envFrom order"


def test_k8s_secret_is_a_template_and_filled_in_the_settings_start() -> None:
    data, secret = configmap_and_secret()
    for name, value in secret.items():
        assert value == "" or PLACEHOLDER in value, f"{name} looks like a real secret"
    for name in OPTIONAL_SECRETS:
        assert secret[name] == "", f"{name} must be empty in a template: any value switches it on"
    env = {**data, **secret}
    with pytest.raises(ConfigError):
        Settings.from_env(env, dotenv=None)
    settings = Settings.from_env(_fill(env), dotenv=None)
    assert settings.redis_url and not settings.webhook_secret


def _resolve_port(port: int | str, spec: dict) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in spec.get("ports", []) if "name" in p}
    assert port in named, f"port {port!r} is not a named port of the container"
    return named[port]


def test_probe_paths_are_routes_of_the_app() -> None:
    web = container("mysafe-bot-web")
    paths = routes()
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert web[probe]["httpGet"]["path"] == path
        assert "GET" in paths[path]
    annotations = k8s("Deployment", "mysafe-bot-web")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert "GET" in paths[annotations["prometheus.io/path"]]


def test_probe_scrape_and_service_ports_reach_the_container_port() -> None:
    web = container("mysafe-bot-web")
    (port,) = [p["containerPort"] for p in web["ports"]]
    assert port == 8000
    env = {e["name"]: e.get("value") for e in web.get("env", [])}
    assert env.get("PORT", "8000") == str(port), "gunicorn binds $PORT"
    for probe in ("readinessProbe", "livenessProbe"):
        assert _resolve_port(web[probe]["httpGet"]["port"], web) == port
    annotations = k8s("Deployment", "mysafe-bot-web")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port
    (service_port,) = k8s("Service")["spec"]["ports"]
    assert service_port["port"] == 80
    assert _resolve_port(service_port["targetPort"], web) == port
    assert str(port) in dockerfile_args("EXPOSE")[0].split()


def _pod_labels(deployment: str) -> dict[str, str]:
    return k8s("Deployment", deployment)["spec"]["template"]["metadata"]["labels"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_service_and_pdb_select_the_web_pods_only() -> None:
    web, worker = _pod_labels("mysafe-bot-web"), _pod_labels("mysafe-bot-worker")
    for deployment in ("mysafe-bot-web", "mysafe-bot-worker"):
        spec = k8s("Deployment", deployment)["spec"]
        assert _selects(spec["selector"]["matchLabels"], _pod_labels(deployment))
    selector = k8s("Service")["spec"]["selector"]
    assert _selects(selector, web) and not _selects(selector, worker)
    pdb = k8s("PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    assert _selects(pdb["selector"]["matchLabels"], web)
    assert not _selects(pdb["selector"]["matchLabels"], worker)
    assert k8s("Deployment", "mysafe-bot-web")["spec"]["replicas"] > pdb["minAvailable"], (
        "with one replica the budget would block every drain"
    )


def _prestop_sleep(spec: dict) -> int:
    command = spec.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    return int(command[1]) if command[:1] == ["sleep"] else 0


def _check_pod_hardening(deployment: str) -> dict:
    pod = k8s("Deployment", deployment)["spec"]["template"]["spec"]
    spec = container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(spec["resources"][kind]), f"{deployment} {kind}"
    refs = [next(iter(source.values()))["name"] for source in spec["envFrom"]]
    assert refs == [k8s("ConfigMap")["metadata"]["name"], k8s("Secret")["metadata"]["name"]]
    # A read-only root: everything written needs a volume. prometheus-client writes its
    # multiprocess files in every process that imports the metrics (the worker too).
    env = {e["name"]: e.get("value") for e in spec.get("env", [])}
    multiproc = env.get("PROMETHEUS_MULTIPROC_DIR") or dockerfile_env()["PROMETHEUS_MULTIPROC_DIR"]
    assert multiproc == dockerfile_env()["PROMETHEUS_MULTIPROC_DIR"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in spec["volumeMounts"]}
    for path in (multiproc, "/tmp"):
        assert path in mounts, f"{deployment}: {path} is not writable"
        assert "emptyDir" in volumes[mounts[path]]
    return pod


def test_web_deployment() -> None:
    deployment = k8s("Deployment", "mysafe-bot-web")
    assert deployment["spec"]["replicas"] == 2
    pod = _check_pod_hardening("mysafe-bot-web")
    web = container("mysafe-bot-web")
    assert "command" not in web and "args" not in web, "web runs the image's gunicorn command"
    graceful = gunicorn_options(host="0.0.0.0", port=8000, workers=2)["graceful_timeout"]
    assert pod["terminationGracePeriodSeconds"] > graceful + _prestop_sleep(web), (
        "the kubelet would SIGKILL gunicorn while it drains"
    )
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_worker_deployment_runs_the_worker_beside_web() -> None:
    deployment = k8s("Deployment", "mysafe-bot-worker")
    assert deployment["spec"]["replicas"] == 1
    _check_pod_hardening("mysafe-bot-worker")
    worker = container("mysafe-bot-worker")
    assert worker.get("command", []) + worker.get("args", []) == WORKER_COMMAND
    # Alive by its heartbeat (no port to probe), and given time to finish an apply at SIGTERM.
    assert worker["livenessProbe"]["exec"]["command"] == [*WORKER_COMMAND, "--check"]
    assert not {"readinessProbe", "startupProbe"} & set(worker)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > _apply_lease() + CALLBACK_GRACE
    assert "ports" not in worker
    assert worker["image"] == container("mysafe-bot-web")["image"]


def test_kustomize_image_override_names_the_image_used() -> None:
    images = {i["name"] for i in kustomization().get("images", [])}
    for deployment in ("mysafe-bot-web", "mysafe-bot-worker"):
        assert container(deployment)["image"].split(":")[0] in images


def test_kubectl_kustomize_builds() -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    built = [d for d in yaml.safe_load_all(result.stdout) if d]
    namespace = kustomization()["namespace"]
    for item in built:
        if item["kind"] != "Namespace":
            assert item["metadata"]["namespace"] == namespace
    (override,) = kustomization()["images"]
    for item in built:
        if item["kind"] == "Deployment":
            (spec,) = item["spec"]["template"]["spec"]["containers"]
            assert spec["image"] == f"{override['newName']}:{override['newTag']}"


# --- Dockerfile ----------------------------------------------------------------------------------


@cache
def dockerfile() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():  # comments, also inside a command
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current)
        current = ""
    instructions = []
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return tuple(instructions)


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage (a stage starts at FROM; global ARGs come before)."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in dockerfile():
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def dockerfile_args(instruction: str, *, final: bool = False) -> list[str]:
    items = stages()[-1] if final else list(dockerfile())
    return [rest for word, rest in items if word == instruction]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in dockerfile_args("ENV", final=True):
        for token in shlex.split(rest):
            name, _, value = token.partition("=")
            env[name] = value
    return env


def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)",
        lambda m: env.get(m.group(1) or m.group(3)) or m.group(2) or "",
        text,
    )


def gunicorn_command() -> list[str]:
    """The CMD's gunicorn argv, as sh would expand it with the image's environment."""
    (cmd,) = dockerfile_args("CMD", final=True)
    argv = json.loads(cmd)
    assert argv[:2] == ["sh", "-c"], "CMD runs a shell line so ${PORT:-8000} is expanded"
    script = argv[2]
    assert script.count("exec gunicorn") == 1, "gunicorn must be exec'd: PID 1 gets SIGTERM"
    words = shlex.split(script.split("exec ", 1)[1])
    return [_expand(w, dockerfile_env()) for w in words]


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    args = dict(re.findall(r"(\w+)=(\S+)", " ".join(dockerfile_args("ARG"))))
    froms = [_expand(f, args).split() for f in dockerfile_args("FROM")]
    assert len(froms) >= 2
    assert all(f[0] == "python:3.11-slim" for f in froms)
    builder = froms[0][-1]
    assert froms[0][-2].upper() == "AS"
    assert any("pip wheel" in rest for word, rest in stages()[0] if word == "RUN")
    final_runs = " ".join(dockerfile_args("RUN", final=True) + dockerfile_args("COPY", final=True))
    assert f"from={builder}" in final_runs, "the final stage installs what the builder made"
    assert "pip wheel" not in final_runs and "gcc" not in final_runs
    copied = [c.split()[0] for c in dockerfile_args("COPY") if not c.startswith("--")]
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"


def test_dockerfile_installs_only_what_the_lock_pins() -> None:
    builder, final = stages()[0], stages()[-1]
    copied = " ".join(rest for word, rest in builder if word == "COPY")
    assert "requirements.lock" in copied.split()
    runs = [rest for word, rest in builder if word == "RUN" and "pip " in rest]
    assert any("--require-hashes" in r and "-r requirements.lock" in r for r in runs)
    for run in runs:
        for command in re.split(r"&&|;", run):
            if re.search(r"\bpip (install|wheel)\b", command):
                from_lock = "--require-hashes" in command and "-r requirements.lock" in command
                no_index = "--no-index" in command
                project = "--no-deps" in command and "--no-build-isolation" in command
                assert from_lock or no_index or project, f"floats past the lock: {command}"
    installs = [rest for word, rest in final if word == "RUN" and "pip install" in rest]
    assert installs and all("--no-index" in rest for rest in installs), "only the builder's wheels"


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = dockerfile_args("USER", final=True)
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "numeric, so runAsNonRoot can verify it"
    items = list(dockerfile())
    last_user = max(i for i, (w, r) in enumerate(items) if w == "USER")
    assert last_user < max(i for i, (w, _) in enumerate(items) if w == "CMD")
    for deployment in ("mysafe-bot-web", "mysafe-bot-worker"):
        pod = k8s("Deployment", deployment)["spec"]["template"]["spec"]
        assert str(pod["securityContext"]["runAsUser"]) == user


def test_dockerfile_healthcheck_calls_healthz_without_curl() -> None:
    (check,) = dockerfile_args("HEALTHCHECK", final=True)
    assert "/healthz" in check and "urllib" in check and "curl" not in check
    assert "GET" in routes()["/healthz"]
    assert "PORT" in check, "the check must follow $PORT like the bind does"
    assert dockerfile_args("EXPOSE", final=True) == ["8000"]


def test_dockerfile_sets_writable_metrics_and_data_directories() -> None:
    env = dockerfile_env()
    assert set(env) <= known_variables() | {
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PIP_NO_CACHE_DIR",
        "PIP_DISABLE_PIP_VERSION_CHECK",
    }
    user = dockerfile_args("USER", final=True)[-1].split(":")[0]
    runs = " && ".join(dockerfile_args("RUN", final=True))
    for name in ("PROMETHEUS_MULTIPROC_DIR", "MYSAFE_BOT_DATA_DIR"):
        path = env[name]
        assert path.startswith("/")
        assert re.search(rf"mkdir -p [^&]*{re.escape(path)}", runs), f"{name}: {path} not created"
        chowned = re.findall(r"chown (?:-R )?(\S+) ([^&]+)", runs)
        assert any(
            owner.split(":")[0] == user and any(path.startswith(d) for d in dirs.split())
            for owner, dirs in chowned
        ), f"{name}: {path} not owned by {user}"


def test_dockerfile_gunicorn_matches_mysafe_bot_serve() -> None:
    from gunicorn.config import Config

    argv = gunicorn_command()
    assert argv[0] == "gunicorn"
    config = Config()
    parsed = config.parser().parse_args(argv[1:])
    for key, value in vars(parsed).items():
        if value is not None and key in config.settings:
            config.set(key, value)
    assert parsed.args == ["app:create_app()"]
    from app import create_app

    assert callable(create_app)
    assert config.bind == ["0.0.0.0:8000"], "bound to 0.0.0.0:${PORT:-8000}"
    assert '"0.0.0.0:${PORT:-8000}"' in json.loads(dockerfile_args("CMD", final=True)[0])[2]
    # Every other option and hook comes from the module `mysafe-bot serve` uses too.
    assert config.config == "python:app.ops.gunicorn_conf"


def test_dockerfile_web_command_refuses_to_run_without_redis_url() -> None:
    (cmd,) = dockerfile_args("CMD", final=True)
    assert "${REDIS_URL:?" in json.loads(cmd)[2]


def _dockerignore_excludes(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, pattern in patterns:
        if any(pattern.fullmatch(c) for c in candidates):
            excluded = not negated
    return excluded


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        patterns.append((negated, re.compile(regex)))
    return patterns


def test_dockerignore_keeps_secrets_out_and_lets_the_wheel_sources_in() -> None:
    patterns = _dockerignore()
    copied = [c.split()[0] for c in dockerfile_args("COPY") if not c.startswith("--")]
    for source in copied:
        for path in [source, *[str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py")]]:
            if "__pycache__" not in path:
                assert not _dockerignore_excludes(path.strip("/"), patterns), path
    for path in (
        ".env",
        "deploy/.env",
        "app/.env",
        ".venv/bin/python",
        ".git/config",
        ".mysafe-bot/redis.db",
        "app/__pycache__/web.cpython-311.pyc",
    ):
        assert _dockerignore_excludes(path, patterns), path


# --- docker compose ------------------------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _duration(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value))


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_services_are_complete_and_consistent() -> None:
    services = compose()["services"]
    assert {"web", "worker", "redis"} <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: no image or build"
        depends = service.get("depends_on", {})
        for dependency in depends:
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if isinstance(depends, dict) and "redis" in depends:
            assert depends["redis"]["condition"] == "service_healthy"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in (compose().get("volumes") or {}), f"undeclared volume {source}"
    for name in ("web", "worker"):
        service = services[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        build = service["build"]
        assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert service["image"] == services["web"]["image"], "one image for web and worker"


def test_compose_bot_services_use_the_compose_redis_and_known_settings() -> None:
    services = compose()["services"]
    for name in ("web", "worker"):
        env = _environment(services[name])
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert set(env) <= known_variables(), set(env) - known_variables()
        env_file = services[name]["env_file"]
        env_file = env_file if isinstance(env_file, str) else env_file[0]
        env_file = env_file if isinstance(env_file, str) else env_file["path"]
        target = (COMPOSE_FILE.parent / env_file).resolve()
        assert target.name == ".env", "the copy of env.example the README tells people to make"
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(target)], cwd=ROOT, capture_output=True, check=False
        )
        assert ignored.returncode == 0, f"{target} is not git-ignored: secrets could be committed"
        if services[name].get("read_only"):
            tmpfs = services[name].get("tmpfs", [])
            assert dockerfile_env()["PROMETHEUS_MULTIPROC_DIR"] in tmpfs and "/tmp" in tmpfs


def test_compose_web_serves_8000_and_drains_before_it_is_killed() -> None:
    web = compose()["services"]["web"]
    assert any(str(p).split(":")[-1] == "8000" for p in web["ports"])
    assert _environment(web).get("PORT", "8000") == "8000"
    assert "command" not in web, "web runs the image's gunicorn command"
    graceful = gunicorn_options(host="0.0.0.0", port=8000, workers=2)["graceful_timeout"]
    assert _duration(web.get("stop_grace_period", "10s")) > graceful


def test_compose_worker_is_checked_by_its_heartbeat_not_the_web_port() -> None:
    worker = compose()["services"]["worker"]
    assert _command(worker) == WORKER_COMMAND
    assert worker["healthcheck"]["test"] == ["CMD", *WORKER_COMMAND, "--check"], (
        "the image's HEALTHCHECK probes the web port, which the worker does not open"
    )
    assert _duration(worker["stop_grace_period"]) > _apply_lease() + CALLBACK_GRACE


def _apply_lease() -> int:
    from app.foundations.settings import Settings

    return Settings.apply_lease


def test_compose_redis_is_persistent_and_checked() -> None:
    redis = compose()["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = _command(redis)
    assert "--appendonly" in command and command[command.index("--appendonly") + 1] == "yes"
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    test = redis["healthcheck"]["test"]
    test = " ".join(test) if isinstance(test, list) else test
    assert "redis-cli" in test and "ping" in test
    assert "ports" not in redis, "Redis has no password here: never publish it on the host"


def _published(port: str | int | dict) -> tuple[str, str, str]:
    """(host address, host port, container port) of one `ports:` item; "" = every interface."""
    if isinstance(port, dict):
        return (port.get("host_ip", ""), str(port.get("published", "")), str(port["target"]))
    parts = str(port).split(":")
    parts = [""] * (3 - len(parts)) + parts
    return parts[0], parts[1], parts[2]


def test_compose_publishes_ports_on_loopback_only() -> None:
    """Nothing is reachable from other machines unless someone widens a mapping on purpose."""
    published = [
        (name, _published(port))
        for name, service in compose()["services"].items()
        for port in service.get("ports", [])
    ]
    assert {name for name, _ in published} == {"web", "mcp"}
    for name, (address, _, _) in published:
        assert address == "127.0.0.1", f"{name} publishes on every interface"


def _mcp_command() -> tuple[str, int]:
    command = _command(compose()["services"]["mcp"])
    assert command[:3] == ["mysafe-bot", "mcp", "--http"]
    return command[command.index("--host") + 1], int(command[command.index("--port") + 1])


def test_compose_mcp_service_starts_with_a_url_assistants_can_use() -> None:
    """It listens on 0.0.0.0 in its container, so it needs a public URL: by default the
    loopback port compose publishes, and what deploy/.env says once the operator sets one."""
    host, port = _mcp_command()
    service = compose()["services"]["mcp"]
    filled = _fill(env_example())
    with pytest.raises(ConfigError) as error:  # the guard: .env alone names no usable URL
        Settings.from_env(filled, dotenv=None).mcp_url(host=host, port=port)
    assert error.value.variable == "MYSAFE_BOT_MCP_PUBLIC_URL"
    for own in ("", "https://mcp.example.com"):  # compose reads deploy/.env to fill ${…} in
        dotenv = {**filled, "MYSAFE_BOT_MCP_PUBLIC_URL": own}
        env = {**dotenv, **{k: _expand(v, dotenv) for k, v in _environment(service).items()}}
        url = Settings.from_env(env, dotenv=None).mcp_url(host=host, port=port)
        assert url == (own or f"http://127.0.0.1:{port}")
    (published,) = [_published(p) for p in service["ports"]]
    assert published == ("127.0.0.1", str(port), str(port)), "the default URL is that port"


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("docker is not installed")
    if (
        subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        ).returncode
        != 0
    ):
        pytest.skip("the docker compose plugin is not installed")
    project = tmp_path / "deploy"
    project.mkdir()
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, project / ".env")
    shutil.copy(DOCKERFILE, project / "Dockerfile")
    result = subprocess.run(
        [docker, "compose", "-f", str(project / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- Procfile and the README -----------------------------------------------------------------------


def test_procfile_runs_web_on_port_and_the_worker() -> None:
    processes = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert shlex.split(processes["worker"]) == WORKER_COMMAND
    assert "$PORT" in processes["web"] and "-c python:app.ops.gunicorn_conf" in processes["web"]


def test_deploy_readme_walks_through_each_way() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for text in (
        "cp deploy/env.example deploy/.env",
        "docker compose -f deploy/docker-compose.yml up",
        "kubectl apply -k deploy/k8s",
        "Procfile",
        "$PORT",
        "mysafe-bot worker",
        "REDIS_URL",
    ):
        assert text in readme, text
