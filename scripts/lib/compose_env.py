#!/usr/bin/env python3
"""Runs `dearme check-config` on each app service's environment, exactly as compose renders it.

    scripts/lib/compose_env.py [BINARY [ENV_FILE]]

BINARY defaults to target/debug/dearme. docker-compose.prod.yml is rendered by compose's own
loader (`config --format json`), with ENV_FILE for interpolation, or by default a temporary copy
of .env.example whose required secrets (each `${NAME:?...}` of the file) are filled with
placeholders, as a deployment's .env would be. Compose runs with PATH and HOME only, so that
the calling shell's variables do not leak into the rendering. Then every service whose command
is `dearme serve|worker|migrate` gets `BINARY check-config` with exactly its `environment` map
(plus PATH). Exits 1 naming each failing service with its problems (and if one of the three
commands has no service), 2 when it cannot run.

Compose: $COMPOSE (a command line; scripts/check-deploy passes the one it found), else
`docker compose`, else a v2 `docker-compose`, else the binary scripts/check-deploy caches in
$CHECK_DEPLOY_CACHE (default ~/.cache/dearme-check-deploy). Standard library only.
"""

import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_FILE = "docker-compose.prod.yml"
APP_COMMANDS = ("serve", "worker", "migrate")


def die(msg):
    print(f"compose_env: {msg}", file=sys.stderr)
    sys.exit(2)


def works(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_compose():
    if os.environ.get("COMPOSE"):
        return shlex.split(os.environ["COMPOSE"])
    if works(["docker", "compose", "version"]) is not None:
        return ["docker", "compose"]
    version = works(["docker-compose", "version", "--short"])
    if version and re.match(r"v?2\.", version):
        return ["docker-compose"]
    cache = os.environ.get("CHECK_DEPLOY_CACHE") or os.path.expanduser("~/.cache/dearme-check-deploy")
    cached = sorted(glob.glob(os.path.join(cache, "compose-*", "docker-compose")))
    if cached:
        return [cached[-1]]
    die("no docker compose v2 (plugin, docker-compose or the one scripts/check-deploy fetches into "
        f"{cache}); run scripts/check-deploy once, or set COMPOSE")


def test_env_file(directory):
    """.env.example with the compose file's required variables given placeholder values."""
    with open(os.path.join(REPO, COMPOSE_FILE)) as f:
        required = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", f.read())))
    with open(os.path.join(REPO, ".env.example")) as f:
        text = f.read()
    path = os.path.join(directory, "test.env")
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
        for name in required:
            # URL-safe (passwords end up in URLs) and long enough for JWT_SECRET.
            f.write(f"{name}=placeholder-{name.lower().replace('_', '-')}-0123456789abcdef0123456789abcdef\n")
    return path


def render(compose, env_file):
    cmd = [*compose, "--project-directory", REPO, "--env-file", env_file, "-f", COMPOSE_FILE,
           "config", "--format", "json"]
    clean = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    out = subprocess.run(cmd, cwd=REPO, env=clean, capture_output=True, text=True)
    if out.returncode != 0:
        die(f"{shlex.join(cmd)} failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout)["services"]


def rendered_services(env_file=None):
    """The services of COMPOSE_FILE as compose renders them, interpolated with `env_file`, or by
    default with the placeholder copy of .env.example (`test_env_file`)."""
    compose = find_compose()
    with tempfile.TemporaryDirectory() as tmp:
        return render(compose, os.path.abspath(env_file) if env_file else test_env_file(tmp))


def app_command(service):
    command = service.get("command") or []
    if isinstance(command, str):
        command = shlex.split(command)
    if len(command) >= 2 and os.path.basename(command[0]) == "dearme" and command[1] in APP_COMMANDS:
        return command[1]
    return None


def container_env(service):
    """The service's environment as its container sees it: `$$` is compose's escaped `$`; a
    variable without a value (null) is not set."""
    env = {}
    for name, value in (service.get("environment") or {}).items():
        if value is not None:
            env[name] = str(value).replace("$$", "$")
    return env


def main(argv):
    if len(argv) > 2:
        die("usage: compose_env.py [BINARY [ENV_FILE]]")
    binary = os.path.abspath(argv[0] if argv else os.path.join(REPO, "target", "debug", "dearme"))
    if not os.access(binary, os.X_OK):
        die(f"{binary} is not an executable (cargo build --bin dearme)")
    services = rendered_services(argv[1] if len(argv) > 1 else None)

    failed, seen = [], set()
    for name, service in sorted(services.items()):
        command = app_command(service)
        if command is None:
            continue
        seen.add(command)
        env = container_env(service)
        count = len(env)
        env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
        out = subprocess.run([binary, "check-config"], env=env, capture_output=True, text=True, timeout=60)
        lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
        if out.returncode == 0:
            print(f"{name} (dearme {command}, {count} variables): {' '.join(lines) or 'ok'}")
        else:
            failed.append(name)
            print(f"{name} (dearme {command}): check-config exited {out.returncode}")
            for line in lines:
                print(f"  {name}: {line}")
    for command in APP_COMMANDS:
        if command not in seen:
            failed.append(f"dearme {command}")
            print(f"no service of {COMPOSE_FILE} runs `dearme {command}`")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
