"""`rasi demo`: the seed scenario, played on a real server with the scripted model, left running."""
import re
import signal
import subprocess
import time

import httpx

from conftest import RASI_BIN, free_port, wait_for
from test_embeddings import MODEL_DIR


def test_the_demo_plays_the_seed_scenario_and_leaves_the_server_running(workdir):
    port, model_port = free_port(), free_port()
    out = workdir / "demo.out"
    process = subprocess.Popen([RASI_BIN, "demo", "--port", str(port), "--model-port", str(model_port),
                                "--data-dir", str(workdir / "demo-data"), "--model-dir", MODEL_DIR],
                               stdout=out.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "rasi keeps running" in out.read_text() or process.poll() is not None, timeout=60, what="the scenario")
        text = out.read_text()
        assert "SCRIPTED MODEL" in text
        first, second = text.split("4. A similar question")
        assert "Eat more fibre" in first and "magnesium" not in first.split("3. A reviewer")[0]
        assert "magnesium" in second
        lesson = re.search(r"becomes lesson (les_\w+)", text).group(1)
        assert f"lessons injected: {lesson}" in second
        admin = re.search(r"admin key: (rasi_\w+)", text).group(1)

        # Still running, with everything in place for the panel.
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {admin}"}
        assert httpx.get(base + f"/api/v1/lessons/{lesson}", headers=headers).json()["status"] == "active"
        flagged = httpx.get(base + "/api/v1/interactions?flagged=true", headers=headers).json()["interactions"]
        assert len(flagged) == 1
        assert httpx.get(base + "/admin/interactions", headers=headers).status_code == 200
        wait_for(lambda: httpx.get(base + "/api/v1/lessons?status=proposed", headers=headers).json()["lessons"], what="the judge's proposal")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
