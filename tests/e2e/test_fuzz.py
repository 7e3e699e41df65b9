"""Bad input, tried for real: schemathesis generates requests for every operation of the
OpenAPI description the running server serves, and none may get a 5xx or crash it."""
import json
import shutil
import subprocess

import httpx

from conftest import ADMIN_KEY, Rasi

VERDICT = json.dumps({"verdict": "ok", "summary": "fine", "rubric": [
    {"item": "tools", "score": 5, "comment": "ok"}, {"item": "reasoning", "score": 5, "comment": "ok"},
    {"item": "need", "score": 5, "comment": "ok"}], "lesson": None})


def test_every_endpoint_survives_property_based_fuzzing_without_a_server_error(workdir, model):
    # A working upstream and judge, so a 5xx can only be rasi's own failure.
    model.script([{"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": VERDICT}},
                  {"when": {"prompt_contains": "other ways real users would ask"},
                   "reply": {"content": json.dumps({"examples": ["another way to ask"], "counter_examples": []})}}],
                 default={"content": "ok"})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_RATE_LIMIT": "0", "RASI_JUDGE_MODEL": "judge"})
    try:
        spec = httpx.get(rasi.url + "/openapi.json").json()
        assert len([m for methods in spec["paths"].values() for m in methods]) >= 30
        schemathesis = shutil.which("schemathesis") or shutil.which("st")
        assert schemathesis, "schemathesis is installed by scripts/setup --test"
        done = subprocess.run(
            [schemathesis, "run", rasi.url + "/openapi.json", "--checks", "not_a_server_error",
             "--header", f"Authorization: Bearer {ADMIN_KEY}", "--max-examples", "25", "--seed", "1", "--workers", "1"],
            capture_output=True, text=True, timeout=600)
        summary = done.stdout[done.stdout.find("SUMMARY"):] if "SUMMARY" in done.stdout else done.stdout[-3000:]
        print(summary)
        assert done.returncode == 0, summary
        assert rasi.process.poll() is None and httpx.get(rasi.url + "/healthz").status_code == 200
        assert "request failed" not in rasi.log.read_text()  # no 500 was logged either
    finally:
        rasi.stop()
