"""The admin panel, driven in a real headless Chromium through Selenium."""
import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlencode

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ADMIN_KEY, ROOT, Rasi

# Screenshots are test artefacts, kept out of git (see .gitignore).
SHOTS = Path(os.environ.get("RASI_SCREENSHOTS", str(ROOT / "test-artifacts" / "screenshots")))

VERDICT = json.dumps({
    "verdict": "problem", "summary": "The order answer never said when it would arrive.",
    "rubric": [{"item": "tools", "score": 5, "comment": "lookup_order was right."},
               {"item": "reasoning", "score": 3, "comment": "It stopped at the status."},
               {"item": "need", "score": 2, "comment": "The user wanted a delivery date."}],
    "lesson": {"situation": "User asks where their order is", "did": "Gave the status only",
               "should_have_done": "Give the expected delivery date too", "why": "Users ask where an order is to know when it arrives",
               "correct_behavior": "State the status and the expected delivery date", "topic": "orders", "confidence": 0.7}})

RULES = [
    {"when": {"prompt_contains": "rasi's judge"}, "reply": {"content": VERDICT}},
    {"when": {"last_user_contains_any": ["gut", "digest"], "prompt_contains": "minerals"},
     "reply": {"content": "Besides fibre, check magnesium, zinc and iron."}},
    {"when": {"last_role": "tool"}, "reply": {"content": "Your order 42 has shipped."}},
    {"when": {"last_user_contains": "order"}, "reply": {"tool_calls": [{"name": "lookup_order", "arguments": {"id": "42"}}]}},
    {"when": {"last_user_contains_any": ["gut", "digest"]}, "reply": {"content": "Eat more fibre and fermented foods."}},
]


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,1000"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def click_and_load(driver, element):
    """Clicks a link or submit button and waits for the next page to replace this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 10).until(lambda d: _stale(old))


def _stale(element):
    try:
        element.tag_name
        return False
    except Exception:
        return True


def sign_in(driver, rasi, key):
    driver.get(rasi.url + "/admin/interactions")
    assert "/admin/login" in driver.current_url  # no session: sent to sign in
    driver.find_element(By.ID, "key").send_keys(key)
    click_and_load(driver, driver.find_element(By.ID, "sign-in"))
    assert driver.current_url.endswith("/admin/interactions")


def test_a_reviewer_works_the_whole_loop_in_the_panel(rasi, model, agent_key, reviewer_key, browser):
    model.script(RULES)
    client = rasi.openai(agent_key, **{"X-RASI-Agent": "nutrition"})
    gut = client.chat.completions.with_raw_response.create(
        model="scripted", messages=[{"role": "user", "content": "How can I fix my gut health? I'm also low on energy, email me at jo@example.com"}])
    gut_id = gut.headers["X-RASI-Interaction"]
    rasi.api("POST", f"/api/v1/interactions/{gut_id}/feedback", key=agent_key, json={"rating": "down", "comment": "nothing about energy"})
    order = rasi.openai(agent_key)
    first = order.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "Where is my order?"}])
    call = first.choices[0].message.tool_calls[0]
    order.chat.completions.create(model="scripted", messages=[
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'}])

    # Sign in; the interactions table shows both, with tools, feedback and flags.
    sign_in(browser, rasi, reviewer_key)
    shot(browser, "01-interactions")
    table = browser.find_element(By.TAG_NAME, "table").text
    assert "lookup_order" in table and "down" in table and "thumbs_down" in table

    # Find the interaction by text search, and open it.
    search = browser.find_element(By.NAME, "q")
    search.send_keys("gut energy")
    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, "form.filters button"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1
    click_and_load(browser, rows[0].find_element(By.TAG_NAME, "a"))
    assert browser.current_url.endswith(f"/admin/interactions/{gut_id}")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Eat more fibre and fermented foods." in page and "nothing about energy" in page
    shot(browser, "02-interaction")

    # The correction box: `did` is pre-filled from the trace; the preview shows the lesson redacted.
    assert "Eat more fibre" in browser.find_element(By.NAME, "did").get_attribute("value")
    browser.find_element(By.ID, "should_have_done").send_keys("Consider minerals as well as fibre")
    browser.find_element(By.ID, "why").send_keys("Mineral shortfalls cause both; the user (jo@example.com) said so")
    browser.find_element(By.ID, "correct_behavior").send_keys("Mention magnesium, zinc and iron")
    click_and_load(browser, browser.find_element(By.ID, "preview"))
    preview = browser.find_element(By.ID, "lesson-preview").text
    assert "[EMAIL_1]" in preview and "jo@example.com" not in preview
    shot(browser, "03-correction-preview")
    click_and_load(browser, browser.find_element(By.ID, "create-lesson"))
    assert "/admin/lessons/les_" in browser.current_url
    lesson_id = browser.current_url.split("/admin/lessons/")[1].split("?")[0]
    assert browser.find_element(By.ID, "lesson-status").text == "active"
    shot(browser, "04-lesson")

    # The lesson is in the lesson list.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Lessons"))
    assert lesson_id in browser.page_source
    shot(browser, "05-lessons")

    # Try retrieval: a similar request would get it, with its score and the rendered context.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Try retrieval"))
    browser.find_element(By.NAME, "agent").clear()
    browser.find_element(By.NAME, "agent").send_keys("nutrition")
    browser.find_element(By.ID, "retrieve-query").send_keys("What should I eat for better digestion and gut health when my energy is low?")
    click_and_load(browser, browser.find_element(By.ID, "try"))
    assert lesson_id in browser.find_element(By.ID, "retrieved").get_attribute("innerHTML")
    assert browser.find_element(By.ID, "retrieve-query").get_attribute("value").startswith("What should I eat for better")
    assert "magnesium, zinc and iron" in browser.find_element(By.ID, "rendered-context").text
    assert "tokens" in browser.find_element(By.TAG_NAME, "main").text
    shot(browser, "06-retrieval")

    # Retire it: no longer retrieved.
    browser.get(rasi.url + f"/admin/lessons/{lesson_id}")
    click_and_load(browser, browser.find_element(By.ID, "retire"))
    assert browser.find_element(By.ID, "lesson-status").text == "retired"
    hits = rasi.api("POST", "/api/v1/retrieve", key=agent_key, json={
        "agent": "nutrition", "query": "What should I eat for better digestion and gut health when my energy is low?"}).json()
    assert hits["lessons"] == []

    # The review queue shows the thumbs-down with its reason; dismissing empties it.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Review queue"))
    assert "nothing about energy" in browser.find_element(By.TAG_NAME, "main").text
    shot(browser, "07-review")
    click_and_load(browser, browser.find_element(By.XPATH, "//button[text()='Dismiss']"))
    assert "The queue is empty." in browser.find_element(By.TAG_NAME, "main").text

    # The judge, run from the order interaction's page, proposes a lesson; the queue approves it.
    browser.get(rasi.url + "/admin/interactions?q=order")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Where is my order?"))
    trace = browser.find_element(By.CSS_SELECTOR, "ol.trace").text
    assert "TOOL CALL: LOOKUP_ORDER" in trace.upper(), trace
    assert '"status": "shipped"' in trace, trace
    assert "Your order 42 has shipped." in trace, trace
    click_and_load(browser, browser.find_element(By.ID, "run-judge"))
    run = browser.find_element(By.CLASS_NAME, "judge-run").text
    assert "verdict: problem" in run and "need 2/5" in run and "Proposed lesson" in run
    shot(browser, "08-judge")
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Review queue"))
    assert "User asks where their order is" in browser.find_element(By.TAG_NAME, "main").text
    click_and_load(browser, browser.find_element(By.XPATH, "//button[text()='Approve']"))
    assert "Nothing proposed." in browser.find_element(By.TAG_NAME, "main").text
    approved = rasi.api("GET", "/api/v1/lessons?status=active").json()["lessons"]
    assert [l["situation"] for l in approved] == ["User asks where their order is"]

    # A reviewer cannot open the keys page, and has no link to it.
    assert not browser.find_elements(By.LINK_TEXT, "Keys")
    browser.get(rasi.url + "/admin/keys")
    assert "Not allowed" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "09-keys-forbidden")

    # Sign out: the session is gone.
    browser.get(rasi.url + "/admin/interactions")
    click_and_load(browser, browser.find_element(By.ID, "sign-out"))
    assert "/admin/login" in browser.current_url
    browser.get(rasi.url + "/admin/interactions")
    assert "/admin/login" in browser.current_url


def test_an_admin_manages_keys_and_a_revoked_key_ends_its_session(rasi, browser):
    from conftest import ADMIN_KEY
    sign_in(browser, rasi, ADMIN_KEY)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Keys"))
    browser.find_element(By.NAME, "name").send_keys("panel reviewer")
    browser.find_element(By.NAME, "role").send_keys("reviewer")
    click_and_load(browser, browser.find_element(By.ID, "create-key"))
    secret = browser.find_element(By.ID, "new-secret").text
    assert secret.startswith("rasi_")
    shot(browser, "10-keys")
    # Listed without its secret.
    browser.get(rasi.url + "/admin/keys")
    assert secret not in browser.page_source and secret[:9] in browser.page_source

    # The new reviewer signs in elsewhere; revoking the key ends that session at once.
    other = rasi.api("GET", "/admin/interactions", key=secret)
    assert other.status_code == 200
    row = browser.find_element(By.XPATH, "//tr[td[text()='panel reviewer']]")
    browser.execute_script("window.confirm = () => true")
    click_and_load(browser, row.find_element(By.TAG_NAME, "button"))
    assert "revoked" in browser.find_element(By.XPATH, "//tr[td[text()='panel reviewer']]").text
    assert rasi.api("GET", "/admin/interactions", key=secret).status_code == 401


def test_forms_without_the_session_token_are_refused(rasi, reviewer_key, browser):
    sign_in(browser, rasi, reviewer_key)
    lesson = rasi.api("POST", "/api/v1/lessons", json={"situation": "s", "should_have_done": "x", "correct_behavior": "y"}).json()
    # A cross-site form post carries the cookie (were it not SameSite) but not the token.
    browser.execute_script("""
        const form = document.createElement('form');
        form.method = 'post'; form.action = '/admin/lessons/' + arguments[0] + '/delete';
        document.body.appendChild(form); form.submit();""", lesson["id"])
    assert "security token" in browser.find_element(By.TAG_NAME, "main").text
    assert rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").status_code == 200
    cookie = browser.get_cookie("rasi_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"


def test_a_reviewer_resolves_a_conflict_and_previews_a_lessons_impact(rasi, agent_key, reviewer_key, browser):
    keep = rasi.api("POST", "/api/v1/lessons", json={
        "situation": "Customer asks for a refund for a parcel that arrived damaged", "should_have_done": "x",
        "correct_behavior": "Refund at once without asking for photos", "confidence": 0.9}).json()
    drop = rasi.api("POST", "/api/v1/lessons", json={
        "situation": "A customer wants a refund because the parcel came damaged", "should_have_done": "x", "polarity": "positive",
        "correct_behavior": "Ask for photos of the damage before any refund", "confidence": 0.6}).json()
    for text in ["My parcel arrived damaged, can I get a refund?", "What are your opening hours?"]:
        rasi.api("POST", "/api/v1/interactions", key=agent_key, json={"request": text}).raise_for_status()

    sign_in(browser, rasi, reviewer_key)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Review queue"))
    conflict = browser.find_element(By.CLASS_NAME, "conflict")
    assert "Refund at once" in conflict.text and "Ask for photos" in conflict.text
    shot(browser, "11-conflict")
    click_and_load(browser, conflict.find_element(By.XPATH, ".//button[text()='Keep the first']"))
    assert "No open conflicts." in browser.find_element(By.TAG_NAME, "main").text
    kept_first = rasi.api("GET", f"/api/v1/lessons/{drop['id']}").json()["status"] == "retired"
    kept_second = rasi.api("GET", f"/api/v1/lessons/{keep['id']}").json()["status"] == "retired"
    assert kept_first != kept_second  # exactly one of the pair was retired

    browser.get(rasi.url + f"/admin/lessons/{keep['id']}")
    click_and_load(browser, browser.find_element(By.ID, "impact"))
    summary = browser.find_element(By.ID, "impact-summary").text
    assert "Recent requests checked\n2" in summary and "Would retrieve it\n1" in summary
    shot(browser, "12-impact")


def test_a_reviewer_reads_an_evaluations_learning_curve(rasi, model, reviewer_key, browser, workdir):
    import subprocess
    from conftest import RASI_BIN
    from test_eval import ROUTER, clinc_suite
    model.script(ROUTER)
    result = subprocess.run([RASI_BIN, "eval", "run", "--suite", str(clinc_suite(workdir)), "--base-url", model.url + "/v1",
                             "--model", "scripted-router", "--rasi", rasi.url, "--key", reviewer_key, "--out", str(workdir / "eval")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((workdir / "eval" / "evaluation.json").read_text())

    sign_in(browser, rasi, reviewer_key)
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Evaluations"))
    row = browser.find_element(By.XPATH, "//tr[td/a[text()='clinc']]")
    test = report["splits"]["test"]
    assert f"test: {test['pass_rate_before'] * 100:.1f}% → {test['pass_rate_after'] * 100:.1f}%" in row.text
    click_and_load(browser, row.find_element(By.TAG_NAME, "a"))

    # The chart is drawn inline: one line per split, a point per round.
    chart = browser.find_element(By.CSS_SELECTOR, "#learning-curve svg")
    assert chart.size["width"] > 300
    for split in ["learn", "test"]:
        points = chart.find_element(By.CSS_SELECTOR, f"polyline.split-{split}").get_attribute("points").split()
        assert len(points) == 2
    table = browser.find_element(By.ID, "splits").text
    assert f"{test['pass_rate_after'] * 100:.1f}%" in table
    fixed_rows = browser.find_elements(By.CSS_SELECTOR, "#fixed tbody tr")
    assert len(fixed_rows) == len(report["splits"]["learn"]["fixed"]) + len(test["fixed"])
    shot(browser, "12-evaluation")
    # A fixed task links to the interaction of its last run.
    click_and_load(browser, fixed_rows[0].find_element(By.TAG_NAME, "a"))
    assert "/admin/interactions/int_" in browser.current_url


REFUND = "Customer asks for a refund for a parcel that arrived damaged"
VASE = "The vase I ordered came smashed, I want my money back"
SWEATER = "Can I return a sweater that does not fit?"
CRUSHED = "Box was crushed in the post, refund please"


def refund_lesson(rasi, **fields):
    response = rasi.api("POST", "/api/v1/lessons", json={
        "situation": REFUND, "should_have_done": "Refund at once", "correct_behavior": "Refund at once without asking for photos",
        **fields})
    assert response.status_code == 201, response.text
    return response.json()


def row_with(browser, table_id, text):
    return browser.find_element(By.XPATH, f"//table[@id='{table_id}']//tr[td[contains(., {json.dumps(text)})]]")


def test_a_reviewer_curates_a_lessons_examples(rasi, agent_key, reviewer_key, browser):
    lesson = refund_lesson(rasi, examples=[{"text": VASE, "source": "judge"}], counter_examples=[{"text": SWEATER, "source": "judge"}])
    returns = "The parcel came damaged and I only need the returns address"
    for text in ["My parcel arrived damaged, can I get a refund?", returns]:
        rasi.api("POST", "/api/v1/interactions", key=agent_key, json={"request": text}).raise_for_status()
    sign_in(browser, rasi, reviewer_key)

    # The lesson page lists its examples and counter-examples, each with where it came from.
    browser.get(rasi.url + f"/admin/lessons/{lesson['id']}")
    examples = browser.find_element(By.ID, "lesson-examples").text
    assert VASE in examples and "judge" in examples
    assert SWEATER in browser.find_element(By.ID, "lesson-counter-examples").text
    shot(browser, "13-lesson-examples")

    # Editing them, one request a line, saves a new version; an unchanged line keeps its source.
    examples_box = browser.find_element(By.ID, "examples-text")
    assert examples_box.get_attribute("value") == VASE
    examples_box.send_keys("\n" + CRUSHED)
    browser.find_element(By.ID, "counter-examples-text").clear()
    click_and_load(browser, browser.find_element(By.ID, "save"))
    assert "Saved as a new version." in browser.find_element(By.TAG_NAME, "main").text
    stored = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
    assert stored["version"] == 2
    assert stored["examples"] == [{"text": VASE, "source": "judge"}, {"text": CRUSHED, "source": "reviewer"}]
    assert stored["counter_examples"] == []
    assert CRUSHED in browser.find_element(By.ID, "lesson-examples").text
    assert "reviewer" in browser.find_element(By.ID, "lesson-examples").text
    assert "None." in browser.find_element(By.ID, "lesson-counter-examples").text

    # The impact preview: one click says the lesson does not fit a past request.
    click_and_load(browser, browser.find_element(By.ID, "impact"))
    assert "Would retrieve it\n2" in browser.find_element(By.ID, "impact-summary").text
    shot(browser, "14-impact-marks")
    click_and_load(browser, row_with(browser, "impact-requests", returns).find_element(By.XPATH, ".//button[text()='does not apply']"))
    assert "/impact" in browser.current_url
    assert "Marked as a counter-example" in browser.find_element(By.TAG_NAME, "main").text
    stored = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
    assert stored["version"] == 3 and stored["counter_examples"] == [{"text": returns, "source": "reviewer"}]
    # A counter-example closer than the situation keeps the lesson out of that request.
    assert "Would retrieve it\n1" in browser.find_element(By.ID, "impact-summary").text
    assert returns not in browser.find_element(By.ID, "impact-requests").text

    # Try retrieval says what each lesson was matched by: an example, or its situation.
    browser.get(rasi.url + "/admin/retrieve?" + urlencode({"agent": "default", "q": VASE}))
    row = row_with(browser, "retrieved", REFUND)
    assert row.find_element(By.CLASS_NAME, "matched").text == f"example: {VASE} judge"
    shot(browser, "15-retrieval-matched")
    browser.get(rasi.url + "/admin/retrieve?" + urlencode({"agent": "default", "q": REFUND}))
    assert row_with(browser, "retrieved", REFUND).find_element(By.CLASS_NAME, "matched").text == "situation"


def test_outcomes_and_flagged_requests_become_a_lessons_examples(rasi, model, agent_key, reviewer_key, browser):
    model.script([{"when": {"last_user_contains": "parcel"}, "reply": {"content": "Please send photos of the damage first."}}])
    lesson = refund_lesson(rasi)
    hours = rasi.api("POST", "/api/v1/lessons", json={
        "situation": "User asks for the shop's opening hours", "should_have_done": "x", "correct_behavior": "Give the hours"}).json()
    client = rasi.openai(agent_key)
    card = "My parcel was damaged, can I get a refund to a different card?"
    broken = "Parcel showed up broken, I need my money back"
    given = {}
    for text, comment in [(card, "I only asked about the card"), (broken, "still no refund")]:
        reply = client.chat.completions.with_raw_response.create(model="scripted", messages=[{"role": "user", "content": text}])
        assert reply.headers["X-RASI-Lessons"] == lesson["id"]
        given[text] = reply.headers["X-RASI-Interaction"]
        rasi.api("POST", f"/api/v1/interactions/{given[text]}/feedback", key=agent_key, json={"rating": "down", "comment": comment})
    sign_in(browser, rasi, reviewer_key)

    # The lesson page proposes the requests it was given that went wrong; one click accepts one.
    browser.get(rasi.url + f"/admin/lessons/{lesson['id']}")
    proposal = row_with(browser, "outcome-proposals", card)
    assert "thumbs-down: I only asked about the card" in proposal.text
    shot(browser, "16-outcome-proposals")
    click_and_load(browser, proposal.find_element(By.XPATH, ".//button[text()='Accept: it does not apply']"))
    assert "Marked as a counter-example" in browser.find_element(By.TAG_NAME, "main").text
    assert card in browser.find_element(By.ID, "lesson-counter-examples").text
    assert card not in browser.find_element(By.ID, "outcome-proposals").text
    stored = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
    assert stored["counter_examples"] == [{"text": card, "source": "outcome"}]

    # The review queue shows each flagged request's lessons with applies / does not apply.
    click_and_load(browser, browser.find_element(By.LINK_TEXT, "Review queue"))
    assert "counter-example" in row_with(browser, "flagged", card).text
    shot(browser, "17-review-marks")
    click_and_load(browser, row_with(browser, "flagged", broken).find_element(By.XPATH, ".//button[text()='applies']"))
    assert "Marked as an example" in browser.find_element(By.TAG_NAME, "main").text
    assert broken not in browser.find_element(By.ID, "flagged").text  # its flags were dismissed
    stored = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
    assert stored["examples"] == [{"text": broken, "source": "reviewer"}]

    # A flagged interaction the lesson missed: its page offers the nearest lessons (below the
    # similarity floor too) instead of a duplicate; "this is lesson X again" marks it.
    again = rasi.api("POST", "/api/v1/interactions", key=agent_key, json={"request": "I got a broken parcel, refund me please"}).json()
    rasi.api("POST", f"/api/v1/interactions/{again['id']}/feedback", key=agent_key, json={"rating": "down"})
    browser.get(rasi.url + f"/admin/interactions/{again['id']}")
    nearby = browser.find_element(By.ID, "nearby-lessons").text
    assert REFUND in nearby and "User asks for the shop's opening hours" in nearby
    shot(browser, "18-nearby-lessons")
    click_and_load(browser, browser.find_element(By.ID, f"again-{lesson['id']}"))
    assert f"/admin/interactions/{again['id']}" in browser.current_url
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Marked as another case of the lesson" in page and "Not flagged." in page
    assert "this request is one of its examples" in browser.find_element(By.ID, "nearby-lessons").text
    assert not browser.find_elements(By.ID, f"again-{lesson['id']}") and browser.find_elements(By.ID, f"again-{hours['id']}")
    stored = rasi.api("GET", f"/api/v1/lessons/{lesson['id']}").json()
    assert {"text": "I got a broken parcel, refund me please", "source": "reviewer"} in stored["examples"]
    assert len(rasi.api("GET", "/api/v1/lessons?status=active").json()["lessons"]) == 2  # no duplicate written


def test_the_trends_page_draws_outcomes_per_agent_and_topic_without_javascript(workdir, model):
    model.script([], default={"content": "ok"})
    rasi = Rasi(workdir, upstream=model.url + "/v1", extra_env={"RASI_HOLDOUT": "0.5", "RASI_LIFT_NEGATIVE": "thumbs_down"})
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1440,1400"]:
        options.add_argument(flag)
    # The page is read as a browser without JavaScript reads it.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    try:
        rasi.api("PUT", "/api/v1/topics/billing", json={
            "description": "Billing, charges and refunds", "examples": ["I was charged twice", "I want a refund"]}).raise_for_status()
        rasi.api("PUT", "/api/v1/topics/account", json={
            "description": "Logging in and passwords", "examples": ["I forgot my password", "I cannot log in"]}).raise_for_status()
        lesson = rasi.api("POST", "/api/v1/lessons", json={
            "agent": "shop", "situation": "Customer was charged twice and wants a refund",
            "should_have_done": "Refund the duplicate charge", "correct_behavior": "Refund the duplicate charge"}).json()
        key = rasi.create_key("agent")
        injected = withheld = 0
        for n in range(16):
            text = "I was charged twice, please refund me" if n < 12 else "I forgot my password"
            raw = rasi.openai(key, **{"X-RASI-Agent": "shop", "X-RASI-Conversation": f"c{n}"}).chat.completions.with_raw_response.create(
                model="m", messages=[{"role": "user", "content": text}])
            raw.parse()
            iid = raw.headers["X-RASI-Interaction"]
            if n < 12:
                with_lesson = raw.headers["X-RASI-Lessons"] == lesson["id"]
                injected += with_lesson
                withheld += not with_lesson
                # The lesson hurts: thumbs-down with it, thumbs-up without.
                rasi.api("POST", f"/api/v1/interactions/{iid}/feedback", key=key, json={"rating": "down" if with_lesson else "up"})
        assert injected and withheld

        driver.get(rasi.url + "/admin/login")
        driver.find_element(By.ID, "key").send_keys(ADMIN_KEY)
        click_and_load(driver, driver.find_element(By.ID, "sign-in"))
        driver.get(rasi.url + "/admin/trends")
        assert driver.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text == "Trends"
        chart = driver.find_element(By.ID, "trend-chart")
        assert chart.size["width"] > 300 and chart.size["height"] > 100  # drawn, with no script
        described = driver.find_element(By.ID, "trend-chart-desc").get_attribute("textContent")
        assert f"with lessons {100 * injected / injected:.1f}% of {injected} exposures" in described
        assert f"withheld 0.0% of {withheld}" in described and "1 lessons created" in described
        assert driver.find_element(By.ID, "trend-summary").text.startswith(f"16 interactions, {injected} with a negative outcome, {withheld} positive")
        assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.agent-chart")] == ["shop"]
        assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.topic-chart")] == ["billing", "account"]
        shot(driver, "19-trends")

        # A topic's chart leads to the page for that topic; per day.
        click_and_load(driver, driver.find_element(By.LINK_TEXT, "billing"))
        assert "topic=billing" in driver.current_url
        assert "topic billing" in driver.find_element(By.ID, "trend-chart-title").get_attribute("textContent")
        assert driver.find_element(By.ID, "trend-summary").text.startswith(f"12 interactions, {injected} with a negative outcome")
        assert not driver.find_elements(By.CSS_SELECTOR, "a.topic-chart")
        Select(driver.find_element(By.NAME, "bucket")).select_by_value("day")
        click_and_load(driver, driver.find_element(By.CSS_SELECTOR, "form.filters button"))
        assert "bucket=day" in driver.current_url and "topic=billing" in driver.current_url
        rows = driver.find_elements(By.CSS_SELECTOR, "#trend-table tbody tr")
        assert len(rows) == 1 and rows[0].find_elements(By.TAG_NAME, "td")[1].text == "12"

        # The lesson's page shows its exposures over time, injected and withheld.
        driver.get(rasi.url + f"/admin/lessons/{lesson['id']}")
        assert driver.find_element(By.ID, "exposure-chart").size["height"] > 50
        assert f"{injected} injected" in driver.find_element(By.ID, "exposure-chart-desc").get_attribute("textContent")
        shot(driver, "20-lesson-exposures")
    finally:
        driver.quit()
        rasi.stop()
