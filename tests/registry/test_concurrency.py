"""Processes that register the same model name at once get distinct versions 1, 2, 3, ..."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from modelyard import registry as reg

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from modelyard import registry
    from modelyard.settings import Settings
    from modelyard.tracking.client import TrackingClient

    database_url, artifact_url, root, runs, start = sys.argv[1:6]
    client = TrackingClient(Settings.load(
        project_root=root, database_url=database_url, artifact_url=artifact_url,
        capture_code=False, capture_environment=False,
    ))
    client.store  # connect before the start line, so all processes begin together
    while time.time() < float(start):
        time.sleep(0.001)
    got = [registry.register_model(r, "race", client=client).version for r in runs.split(",")]
    print(json.dumps(got))
    """
)


def test_concurrent_registrations_never_duplicate_a_version(settings, client, model_run, tmp_path):
    processes, per_process = 3, 6
    runs = [[model_run() for _ in range(per_process)] for _ in range(processes)]
    script = tmp_path / "register.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)
    start = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                settings.database_url,
                settings.artifact_url,
                str(tmp_path),
                ",".join(batch),
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for batch in runs
    ]
    got = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        numbers = json.loads(out.strip().splitlines()[-1])
        assert numbers == sorted(numbers)  # each process sees its own versions increase
        got.extend(numbers)
    total = processes * per_process
    assert sorted(got) == list(range(1, total + 1))
    versions = reg.list_model_versions("race", client=client)
    assert [v.version for v in versions] == list(range(1, total + 1))
    assert sorted(v.run_id for v in versions) == sorted(r for batch in runs for r in batch)
    created = [
        e for e in reg.list_model_events("race", client=client) if e.kind.endswith("created")
    ]
    assert sum(e.kind == "registered_model.created" for e in created) == 1
    assert sorted(e.payload["version"] for e in created if e.payload) == list(range(1, total + 1))
