"""`rasi bench retrieval` measures what it says, on any file of the CLINC150 shape."""
import json
import subprocess

from conftest import RASI_BIN
from test_embeddings import MODEL_DIR, SHARED

CORPUS = {
    "train": [
        ["how do i reset my password", "password"], ["i forgot my password and cannot log in", "password"],
        ["change the password on my account", "password"],
        ["what is the weather tomorrow", "weather"], ["will it rain this afternoon", "weather"],
        ["how hot will it be today", "weather"],
        ["book a table for two at an italian restaurant", "restaurant"], ["reserve dinner for four tonight", "restaurant"],
        ["find me a sushi place and book it", "restaurant"],
    ],
    "val": [
        ["i can't remember my password", "password"], ["is it going to rain tomorrow", "weather"],
        ["make a dinner reservation for six", "restaurant"],
    ],
    "oos_val": [["what is the boiling point of tungsten", "oos"], ["who painted the mona lisa", "oos"]],
    "oos_train": [["how many moons does jupiter have", "oos"], ["translate cat into german", "oos"]],
}


def test_bench_retrieval_reports_every_mode_and_writes_json(tmp_path):
    data = tmp_path / "corpus.json"
    data.write_text(json.dumps(CORPUS))
    out = tmp_path / "result.json"
    done = subprocess.run([RASI_BIN, "bench", "retrieval", "--data", str(data), "--out", str(out), "--model-dir", MODEL_DIR],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "top-1" in done.stdout and "hybrid" in done.stdout
    report = json.loads(out.read_text())
    modes = {m["mode"]: m for m in report["modes"]}
    # `words` is hybrid retrieval when the embedding model is too busy to take the request.
    assert set(modes) == {"lexical", "dense", "hybrid", "words"}
    assert report["lessons"] == 9 and report["queries"] == 3 and report["oos"] == 2
    # Paraphrases of indexed requests: the embedding model finds their intent.
    assert modes["dense"]["top1_accuracy"] == 1.0
    assert modes["hybrid"]["recall_at_3"] == 1.0
    # The floor is picked so that at least 80% of the floor split gets nothing injected...
    for name in ("lexical", "dense", "hybrid"):
        assert modes[name]["floor_split_nothing_injected"] >= 0.8
    # ...and choosing by words is measured at the floor that serves it: hybrid's.
    assert modes["words"]["floor"] == modes["hybrid"]["floor"]


def test_a_given_floor_is_used_for_every_mode(tmp_path):
    data = tmp_path / "corpus.json"
    data.write_text(json.dumps(CORPUS))
    out = tmp_path / "result.json"
    done = subprocess.run([RASI_BIN, "bench", "retrieval", "--data", str(data), "--out", str(out), "--model-dir", MODEL_DIR,
                           "--floor", "0.99"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for mode in json.loads(out.read_text())["modes"]:
        assert mode["floor"] == 0.99
        # Nothing is that similar: nothing is injected anywhere.
        assert mode["in_scope_injected"] == 0 and mode["oos_nothing_injected"] == 1.0


def test_an_unknown_split_is_a_clear_error(tmp_path):
    data = tmp_path / "corpus.json"
    data.write_text(json.dumps(CORPUS))
    done = subprocess.run([RASI_BIN, "bench", "retrieval", "--data", str(data), "--queries", "test", "--model-dir", MODEL_DIR],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no split test" in done.stderr


def clinc_bench(name, tmp_path, *extra):
    """Runs `rasi bench NAME` on the shared CLINC150 files; returns its JSON report."""
    out = tmp_path / f"{name}.json"
    clinc = SHARED / "data" / "clinc150"
    done = subprocess.run([RASI_BIN, "bench", name, "--data", str(clinc / "clinc150_dev.json"), *extra, "--out", str(out),
                           "--model-dir", MODEL_DIR], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_the_shipped_rephrase_thresholds_are_the_ones_the_data_recommends(tmp_path):
    report = clinc_bench("signals", tmp_path, "--domains", str(SHARED / "data" / "clinc150" / "domains.json"))
    for measure in report["measures"]:
        assert measure["recommended"]["threshold"] == measure["shipped_default"], measure["similarity"]
        # At the recommended threshold at most 3% of related follow-ups pass for a rephrase.
        assert measure["recommended"]["follow_ups_mistaken"] <= 0.03
    # No ordinary request reads as asking for a human, but for the one that does.
    assert report["escalations_in_split"] == ["i need to talk to someone about a fraudulent activity on my card"]


def test_bench_panel_times_every_page_over_http(tmp_path):
    report = clinc_bench("panel", tmp_path, "--interactions", "3000", "--lessons", "50", "--runs", "3")
    pages = {p["page"]: p for p in report["pages"]}
    assert {"/admin/interactions", "/admin/interactions/{id}", "/admin/review", "/admin/lessons/{lesson}", "/admin/keys"} <= set(pages)
    assert all(p["status"] == 200 for p in pages.values()), pages
    assert report["slowest_p99_ms"] == max(p["p99_ms"] for p in pages.values())


def test_the_shipped_topic_floor_is_the_one_the_data_recommends(tmp_path):
    report = clinc_bench("topics", tmp_path, "--domains", str(SHARED / "data" / "clinc150" / "domains.json"))
    assert report["recommended"]["floor"] == report["shipped_default"]
    assert report["recommended"]["in_scope_filed_correctly"] >= 0.75


def test_bench_gateway_measures_direct_and_through_rasi_in_one_run(tmp_path):
    report = clinc_bench("gateway", tmp_path, "--lessons", "0,300", "--sequential", "3", "--clients", "1,4", "--rounds", "1",
                         "--delay-ms", "50")
    scenarios = report["scenarios"]
    assert {(s["lessons"], s["clients"], s["stream"]) for s in scenarios} == {
        (n, c, st) for n in (0, 300) for c in (1, 4) for st in (False, True)}
    for s in scenarios:
        assert s["direct_p50_ms"] >= 50 and s["rasi_p50_ms"] >= 50  # the upstream's delay is in both
        assert abs(s["added_p50_ms"] - (s["rasi_p50_ms"] - s["direct_p50_ms"])) < 1e-6
    assert all(s["injected_share"] == 0 for s in scenarios if s["lessons"] == 0)
    assert any(s["injected_share"] > 0 for s in scenarios if s["lessons"] == 300)
    # rasi's own account of each call (its Server-Timing header): the model's delay, and with
    # lessons the embedding and both sides of retrieval.
    for s in scenarios:
        assert s["phases_p50_ms"]["upstream"] >= 50
        assert ("embed" in s["phases_p50_ms"]) == (s["lessons"] > 0)
    assert all({"lessons", "embed", "lexical", "dense"} <= set(s["phases_p99_ms"]) for s in scenarios if s["lessons"] == 300)


def test_bench_store_measures_sqlite_and_postgres_in_one_run(tmp_path):
    import os
    assert os.environ.get("RASI_TEST_POSTGRES_URL"), "scripts/test starts PostgreSQL for this test"
    data = tmp_path / "corpus.json"
    data.write_text(json.dumps(CORPUS))
    out = tmp_path / "store.json"
    done = subprocess.run([RASI_BIN, "bench", "store", "--data", str(data), "--out", str(out), "--model-dir", MODEL_DIR,
                           "--interactions", "3000", "--singles", "400", "--writers", "4", "--lessons", "20,50", "--queries", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = {r["store"]: r for r in json.loads(out.read_text())}
    assert set(report) == {"sqlite", "postgres"}
    for result in report.values():
        assert result["ingest_single_per_s"] > 0 and result["ingest_batch_per_s"] > 0 and result["interactions"] == 3000
        assert [r["lessons"] for r in result["retrieval"]] == [20, 50]
        assert all(0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] for r in result["retrieval"])


def test_bench_lift_retires_the_planted_harmful_lessons_and_measures_the_true_lift(tmp_path):
    # One domain (15 tools), a holdout of a half and 6 exposures per arm: small enough for a test.
    report = clinc_bench("lift", tmp_path, "--domains", str(SHARED / "data" / "clinc150" / "domains.json"), "--domain-count", "1",
                         "--requests", "1800", "--every", "600", "--planted", "3", "--holdout", "0.5", "--min-exposures", "6",
                         "--noise", "0.05", "--clients", "4")
    planted, good = report["planted"], report["good"]
    assert planted["total"] == 3 and good["total"] > 0
    # The planted lessons truly hurt, the good ones truly help, on the traffic they got.
    assert planted["mean_true_lift"] > 0.5 and good["mean_true_lift"] < 0
    # The planted lessons are retired on the figures of both arms, once they have their exposures;
    # one the selection rarely picks may not get them in a run this short, none exposed twice over escapes.
    assert planted["retired"] >= 2
    for retirement in planted["retirements"]:
        assert retirement["kind"] == "planted" and retirement["true_lift"] > 0
        assert retirement["treatment_at_retirement"]["exposures"] >= 6 and retirement["control_at_retirement"]["exposures"] >= 6
        assert retirement["treatment_at_retirement"]["negative"] > retirement["control_at_retirement"]["negative"]
    for lesson in report["planted_lessons"]:
        if min(lesson["treatment"]["exposures"], lesson["control"]["exposures"]) >= 12:
            assert lesson["retired"], lesson
    # No good lesson retired unless it truly hurt the traffic it got (one from a failure can: it
    # is also picked for requests of a neighbouring intent, and sends them to its own tool).
    assert report["good_wrongly_retired"] == 0
    assert all(r["true_lift"] > 0 for r in good["retirements"])
    # rasi counts exactly what the simulated users did, per agent and per lesson, and the model
    # called the tools the simulation expected.
    agent = report["agent"]
    assert agent["agrees_with_simulation"] and report["lessons_disagreeing_with_simulation"] == []
    assert report["traffic"]["route_mismatches"] == 0
    # The agent's lift: its lessons lower the negative rate, truly and as measured.
    assert agent["true_difference"] < 0 and agent["measured"]["difference"] < 0
    # About 1,000 exposures, half in each arm: the measured difference is within 0.12 of the true one
    # (four standard errors; its 95% interval would miss the truth in one run of twenty).
    assert abs(agent["measured"]["difference"] - agent["true_difference"]) < 0.12
    assert report["traffic"]["expected_negative_rate_served"] < report["traffic"]["expected_negative_rate_without_lessons"]
    rows = report["convergence"]
    assert [r["requests"] for r in rows] == [600, 1200, 1800]
    assert rows[-1]["planted_retired"] == planted["retired"] and rows[-1]["measured_difference"] == agent["measured"]["difference"]
    assert [r["planted_retired"] for r in rows] == sorted(r["planted_retired"] for r in rows)
