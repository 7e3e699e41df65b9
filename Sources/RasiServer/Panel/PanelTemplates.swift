/// The admin panel's pages, as Mustache templates. Server-rendered: every page reads without
/// JavaScript, links and buttons are real ones (keyboard-friendly), and nothing is fetched
/// from the internet.
enum PanelTemplates {
    static let all: [String: String] = [
        "layout": layout, "signin": signin, "interactions": interactions, "interaction": interaction, "review": review,
        "lessons": lessons, "lesson": lesson, "retrieve": retrieve, "keys": keys, "error": error, "impact": impact,
        "evaluations": evaluations, "evaluation": evaluation,
    ]

    static let evaluations = """
        <p class="muted">Learning curves of <code>rasi eval</code>: every task run before and after the lessons made from the learn split's failures.</p>
        <table><thead><tr><th scope="col">Suite</th><th scope="col">Model</th><th scope="col">Tasks</th><th scope="col">Lessons created</th><th scope="col">Pass rate, before → after</th><th scope="col">When (UTC)</th></tr></thead><tbody>
        {{#rows}}<tr><td><a href="/admin/evaluations/{{id}}">{{suite}}</a></td><td>{{model}}</td><td>{{tasks}}</td><td>{{lessons}}</td><td>{{splits}}</td><td>{{created}}</td></tr>{{/rows}}
        {{^rows}}<tr><td colspan="6" class="muted">No evaluations yet. Run <code>rasi eval run</code> with <code>--rasi</code> pointing here.</td></tr>{{/rows}}
        </tbody></table>
        """

    static let evaluation = """
        <p class="muted">{{model}} at {{endpoint}} · {{tasks}} tasks · {{lessons}} lessons created · {{created}} UTC</p>
        <figure class="card" id="learning-curve">{{{chart}}}<figcaption class="muted">Pass rate against the lessons live (<a href="/api/v1/evaluations/{{id}}/chart.svg">SVG</a>, <a href="/api/v1/evaluations/{{id}}">JSON</a>)</figcaption></figure>
        <table id="splits"><thead><tr><th scope="col">Split</th><th scope="col">Tasks</th><th scope="col">Pass rate before</th><th scope="col">After</th><th scope="col">Fixed</th><th scope="col">Broken</th><th scope="col">Injected tokens/request, before → after</th><th scope="col">Lessons/request after</th></tr></thead><tbody>
        {{#splits}}<tr><td>{{split}}</td><td>{{tasks}}</td><td>{{before}}</td><td>{{after}}</td><td>{{fixed}}</td><td>{{broken}}</td><td>{{tokensBefore}} → {{tokensAfter}}</td><td>{{lessonsPerRequest}}</td></tr>{{/splits}}
        </tbody></table>
        <h2>Broken (regressions)</h2>
        <table id="broken"><thead><tr><th scope="col">Task</th><th scope="col">Request</th><th scope="col">Expected</th><th scope="col">Before</th><th scope="col">After</th></tr></thead><tbody>
        {{#broken}}<tr><td>{{id}}</td><td class="request">{{request}}</td><td>{{expected}}</td><td>{{before}}</td><td>{{#interaction}}<a href="/admin/interactions/{{interaction}}">{{after}}</a>{{/interaction}}{{^interaction}}{{after}}{{/interaction}}</td></tr>{{/broken}}
        {{^broken}}<tr><td colspan="5" class="muted">None.</td></tr>{{/broken}}
        </tbody></table>
        <h2>Fixed</h2>
        <table id="fixed"><thead><tr><th scope="col">Task</th><th scope="col">Request</th><th scope="col">Expected</th><th scope="col">Before</th><th scope="col">After</th></tr></thead><tbody>
        {{#fixed}}<tr><td>{{id}}</td><td class="request">{{request}}</td><td>{{expected}}</td><td>{{before}}</td><td>{{#interaction}}<a href="/admin/interactions/{{interaction}}">{{after}}</a>{{/interaction}}{{^interaction}}{{after}}{{/interaction}}</td></tr>{{/fixed}}
        {{^fixed}}<tr><td colspan="5" class="muted">None.</td></tr>{{/fixed}}
        </tbody></table>
        """

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · rasi</title>
        <style>
        :root { --ink: #1d2330; --muted: #5d6677; --line: #dde1e8; --bg: #f6f7f9; --accent: #2f5bd3; --bad: #b42318; --good: #067647; --warn: #b54708; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #9bb5f5; outline-offset: 1px; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; }
        header { background: #1d2330; color: #fff; }
        nav { display: flex; gap: 18px; align-items: center; max-width: 1280px; margin: 0 auto; padding: 10px 20px; flex-wrap: wrap; }
        nav a { color: #dbe3ff; text-decoration: none; } nav a[aria-current=page] { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
        nav .brand { font-weight: 700; color: #fff; margin-right: 8px; } nav .who { margin-left: auto; color: #aab3c5; font-size: 13px; }
        nav form button { background: transparent; color: #dbe3ff; border: 1px solid #56607a; }
        main { max-width: 1280px; margin: 0 auto; padding: 18px 20px 60px; }
        h1 { font-size: 22px; margin: 4px 0 14px; } h2 { font-size: 17px; margin: 26px 0 10px; }
        table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: 7px 9px; border-bottom: 1px solid var(--line); vertical-align: top; font-size: 14px; }
        th { background: #eef1f5; font-weight: 600; font-size: 13px; color: var(--muted); }
        tr:hover td { background: #fafbfd; }
        .request { max-width: 420px; }
        form.filters { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin-bottom: 12px; background: #fff; padding: 10px; border: 1px solid var(--line); }
        label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
        input, select, textarea { font: inherit; padding: 5px 7px; border: 1px solid #c5cbd6; border-radius: 4px; background: #fff; color: var(--ink); }
        textarea { width: 100%; min-height: 64px; }
        button, .button { font: inherit; padding: 5px 12px; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
        button.secondary { background: #fff; color: var(--accent); } button.danger { background: var(--bad); border-color: var(--bad); }
        form.inline { display: inline; }
        .badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; background: #e8ebf0; margin: 1px 2px 1px 0; white-space: nowrap; }
        .badge.down, .badge.flag, .badge.error, .badge.retired { background: #fde8e7; color: var(--bad); }
        .badge.up, .badge.ok, .badge.active { background: #e3f6ec; color: var(--good); }
        .badge.implicit, .badge.proposed, .badge.invalid { background: #fef0c7; color: var(--warn); }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin: 10px 0; }
        .grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 20px; } @media (max-width: 1000px) { .grid { grid-template-columns: 1fr; } }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; } dt { color: var(--muted); } dd { margin: 0; }
        ol.trace { list-style: none; padding: 0; margin: 0; } ol.trace li { background: #fff; border: 1px solid var(--line); border-left: 4px solid #c5cbd6; padding: 8px 12px; margin: 6px 0; }
        ol.trace li.user { border-left-color: var(--accent); } ol.trace li.thinking { border-left-color: #9e77ed; } ol.trace li.tool_call { border-left-color: var(--warn); }
        ol.trace li.tool_result { border-left-color: #b54708; background: #fffcf5; } ol.trace li.assistant { border-left-color: var(--good); }
        .kind { font-size: 12px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
        pre { white-space: pre-wrap; word-break: break-word; margin: 4px 0 0; font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
        .notice { background: #e3f6ec; border: 1px solid #a6e3c1; padding: 8px 12px; border-radius: 4px; } .notice.bad { background: #fde8e7; border-color: #f5b5b0; }
        .secret { font: 15px ui-monospace, monospace; background: #fff; padding: 6px 10px; border: 1px dashed var(--ink); user-select: all; }
        .muted { color: var(--muted); font-size: 13px; } .pager { margin-top: 10px; }
        .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; } .fields .wide { grid-column: 1 / -1; }
        </style>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        {{#signedIn}}
        <header><nav aria-label="Main">
        <span class="brand">rasi</span>
        {{#nav}}<a href="{{href}}" accesskey="{{key}}" {{#current}}aria-current="page"{{/current}}>{{label}}</a>{{/nav}}
        <span class="who">{{who}} · {{role}}</span>
        <form method="post" action="/admin/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="sign-out">Sign out</button></form>
        </nav></header>
        {{/signedIn}}
        <main id="main">
        <h1>{{title}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#problem}}<p class="notice bad" role="alert">{{problem}}</p>{{/problem}}
        {{{body}}}
        </main>
        </body>
        </html>
        """

    static let signin = """
        <form method="post" action="/admin/login" class="card" style="max-width: 460px">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="next" value="{{next}}">
        <label for="key">API key (reviewer or admin)
        <input id="key" name="key" type="password" autocomplete="current-password" required autofocus style="width: 100%"></label>
        <p><button type="submit" id="sign-in">Sign in</button></p>
        <p class="muted">Make a key with <code>rasi keys create --role reviewer</code>. The session lasts {{hours}} hours, or until the key is revoked.</p>
        </form>
        """

    static let interactions = """
        <form method="get" action="/admin/interactions" class="filters" role="search">
        <label>Search<input name="q" value="{{filter.q}}" placeholder="words in request or answer"></label>
        <label>Agent<input name="agent" value="{{filter.agent}}" size="12"></label>
        <label>Topic<input name="topic" value="{{filter.topic}}" size="12"></label>
        <label>Flagged<select name="flagged">{{#flaggedOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/flaggedOptions}}</select></label>
        <label>Feedback<select name="feedback">{{#feedbackOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/feedbackOptions}}</select></label>
        <label>Since<input type="date" name="since" value="{{filter.since}}"></label>
        <button type="submit">Filter</button> <a href="/admin/interactions">Clear</a>
        </form>
        <table>
        <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Agent</th><th scope="col">User request</th><th scope="col">Topic</th><th scope="col">Tools</th><th scope="col">Feedback</th><th scope="col">Flags</th><th scope="col">Lessons</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr><td>{{time}}</td><td>{{agent}}</td><td class="request"><a href="/admin/interactions/{{id}}">{{request}}</a></td><td>{{topic}}</td>
        <td>{{#tools}}<span class="badge">{{.}}</span>{{/tools}}</td>
        <td>{{#feedback}}<span class="badge {{kind}}" title="{{title}}">{{label}}</span>{{/feedback}}</td>
        <td>{{#flags}}<span class="badge flag" title="{{reason}}">{{rule}}</span>{{/flags}}</td>
        <td>{{#lessons}}<a class="badge" href="/admin/lessons/{{.}}">lesson</a>{{/lessons}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="8" class="muted">No interactions match.</td></tr>{{/rows}}
        </tbody></table>
        {{#next}}<p class="pager"><a href="{{next}}" rel="next">Older →</a></p>{{/next}}
        """

    static let interaction = """
        <div class="grid">
        <section aria-label="Trace">
        <div class="card"><dl>
        <dt>Agent</dt><dd>{{agent}}</dd><dt>Time</dt><dd>{{time}} UTC</dd><dt>Model</dt><dd>{{model}}</dd>
        <dt>Conversation</dt><dd>{{conversation}}</dd><dt>User</dt><dd>{{user}}</dd><dt>Topic</dt><dd>{{topic}}</dd>
        <dt>Latency</dt><dd>{{latency}} ms</dd><dt>Tokens</dt><dd>{{tokens}}</dd>
        </dl></div>
        <h2>Trace</h2>
        <ol class="trace">
        {{#steps}}<li class="{{css}}"><span class="kind">{{label}}</span> <span class="muted">{{at}}</span>{{#arguments}}<pre>{{arguments}}</pre>{{/arguments}}{{#content}}<pre>{{content}}</pre>{{/content}}</li>{{/steps}}
        </ol>
        <h2>Final answer</h2>
        <div class="card" id="final-answer">{{#response}}<pre>{{response}}</pre>{{/response}}{{^response}}<span class="muted">None.</span>{{/response}}
        {{#error}}<p class="notice bad">Error: {{error}}</p>{{/error}}</div>
        <details class="card"><summary>Messages sent to the model ({{messageCount}})</summary><pre>{{messages}}</pre></details>
        </section>
        <aside aria-label="Review">
        <h2>Lessons injected</h2>
        {{#injected}}<div class="card"><a href="/admin/lessons/{{id}}">{{situation}}</a> <span class="badge {{status}}">{{status}}</span></div>{{/injected}}
        {{^injected}}<p class="muted">None.</p>{{/injected}}
        <h2>Feedback</h2>
        {{#feedback}}<div class="card"><span class="badge {{kind}}">{{label}}</span> <span class="muted">{{source}} · {{at}}</span>{{#comment}}<br>{{comment}}{{/comment}}</div>{{/feedback}}
        {{^feedback}}<p class="muted">None yet.</p>{{/feedback}}
        <h2>Flags</h2>
        {{#flags}}<div class="card"><span class="badge flag">{{rule}}</span> {{reason}}</div>{{/flags}}
        {{#hasFlags}}<form method="post" action="/admin/interactions/{{id}}/dismiss"><input type="hidden" name="csrf" value="{{csrf}}"><button class="secondary" type="submit" id="dismiss">Dismiss flags</button></form>{{/hasFlags}}
        {{^hasFlags}}<p class="muted">Not flagged.</p>{{/hasFlags}}
        <h2>Judge</h2>
        {{#runs}}<div class="card judge-run"><span class="badge {{status}}">{{status}}</span> {{verdict}} <span class="muted">{{model}} · {{at}} · {{tokens}} tokens</span>
        {{#summary}}<p>{{summary}}</p>{{/summary}}{{#error}}<p class="muted">{{error}}</p>{{/error}}
        {{#rubric}}<div><strong>{{item}}</strong> {{score}}/5 — {{comment}}</div>{{/rubric}}
        {{#lessonId}}<p>Proposed lesson: <a href="/admin/lessons/{{lessonId}}">{{lessonId}}</a></p>{{/lessonId}}</div>{{/runs}}
        <form method="post" action="/admin/interactions/{{id}}/judge"><input type="hidden" name="csrf" value="{{csrf}}"><button class="secondary" type="submit" id="run-judge">Run judge</button></form>
        </aside>
        </div>
        <h2 id="correction">Correction</h2>
        <form method="post" action="/admin/interactions/{{id}}/lessons#correction" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="fields">
        <label class="wide">Situation: when the lesson applies<textarea name="situation" required>{{correction.situation}}</textarea></label>
        <label class="wide">What the agent did<textarea name="did">{{correction.did}}</textarea></label>
        <label class="wide">What it should have done<textarea name="should_have_done" id="should_have_done" required>{{correction.should_have_done}}</textarea></label>
        <label class="wide">Why<textarea name="why" id="why">{{correction.why}}</textarea></label>
        <label class="wide">Correct behaviour<textarea name="correct_behavior" id="correct_behavior" required>{{correction.correct_behavior}}</textarea></label>
        <label>Topic<input name="topic" value="{{correction.topic}}"></label>
        <label>Polarity<select name="polarity">{{#polarityOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/polarityOptions}}</select></label>
        </div>
        <p><button class="secondary" type="submit" name="action" value="preview" id="preview">Preview as stored</button>
        <button type="submit" name="action" value="create" id="create-lesson">Create lesson</button></p>
        {{#preview}}<div class="card" id="lesson-preview"><p class="muted">The lesson as it will be stored (personal data redacted):</p><dl>
        <dt>Situation</dt><dd>{{situation}}</dd><dt>Did</dt><dd>{{did}}</dd><dt>Should have done</dt><dd>{{shouldHaveDone}}</dd>
        <dt>Why</dt><dd>{{why}}</dd><dt>Correct behaviour</dt><dd>{{correctBehavior}}</dd></dl></div>{{/preview}}
        </form>
        """

    static let review = """
        <h2>Flagged interactions, oldest first</h2>
        <table><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Agent</th><th scope="col">User request</th><th scope="col">Reasons</th><th scope="col"></th></tr></thead><tbody>
        {{#flagged}}<tr><td>{{time}}</td><td>{{agent}}</td><td class="request"><a href="/admin/interactions/{{id}}">{{request}}</a></td>
        <td>{{#flags}}<div><span class="badge flag">{{rule}}</span> {{reason}}</div>{{/flags}}</td>
        <td><form method="post" action="/admin/interactions/{{id}}/dismiss"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="next" value="/admin/review"><button class="secondary" type="submit">Dismiss</button></form></td></tr>{{/flagged}}
        {{^flagged}}<tr><td colspan="5" class="muted">The queue is empty.</td></tr>{{/flagged}}
        </tbody></table>
        {{#next}}<p class="pager"><a href="{{next}}" rel="next">More →</a></p>{{/next}}
        <h2>Lessons proposed by the judge</h2>
        <table><thead><tr><th scope="col">Situation</th><th scope="col">Correct behaviour</th><th scope="col">Confidence</th><th scope="col"></th></tr></thead><tbody>
        {{#proposed}}<tr><td><a href="/admin/lessons/{{id}}">{{situation}}</a></td><td>{{correctBehavior}}</td><td>{{confidence}}</td>
        <td><form method="post" action="/admin/lessons/{{id}}/status" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="status" value="active"><input type="hidden" name="next" value="/admin/review"><button type="submit">Approve</button></form>
        <a href="/admin/lessons/{{id}}#edit">Edit</a></td></tr>{{/proposed}}
        {{^proposed}}<tr><td colspan="4" class="muted">Nothing proposed.</td></tr>{{/proposed}}
        </tbody></table>
        <h2>Conflicting lessons</h2>
        {{#conflicts}}<div class="card conflict"><p class="muted">{{reason}}</p><div class="grid">
        {{#a}}<div><a href="/admin/lessons/{{id}}">{{situation}}</a><br><strong>{{behavior}}</strong><br><span class="muted">{{polarity}} · confidence {{confidence}}</span></div>{{/a}}
        {{#b}}<div><a href="/admin/lessons/{{id}}">{{situation}}</a><br><strong>{{behavior}}</strong><br><span class="muted">{{polarity}} · confidence {{confidence}}</span></div>{{/b}}
        </div><form method="post" action="/admin/conflicts/{{id}}/resolve"><input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" name="keep" value="{{a.id}}">Keep the first</button> <button type="submit" name="keep" value="{{b.id}}">Keep the second</button>
        <button class="secondary" type="submit" name="keep" value="both">Keep both</button></form></div>{{/conflicts}}
        {{^conflicts}}<p class="muted">No open conflicts.</p>{{/conflicts}}
        <h2>Retired automatically</h2>
        {{#autoRetired}}<div class="card"><a href="/admin/lessons/{{id}}">{{situation}}</a> <span class="badge retired">{{reason}}</span></div>{{/autoRetired}}
        {{^autoRetired}}<p class="muted">None.</p>{{/autoRetired}}
        """

    static let lessons = """
        <form method="get" action="/admin/lessons" class="filters" role="search">
        <label>Search<input name="q" value="{{filter.q}}" placeholder="words in any field"></label>
        <label>Agent<input name="agent" value="{{filter.agent}}" size="12"></label>
        <label>Status<select name="status">{{#statusOptions}}<option value="{{value}}" {{#selected}}selected{{/selected}}>{{label}}</option>{{/statusOptions}}</select></label>
        <button type="submit">Search</button> <a href="/admin/lessons">Clear</a>
        </form>
        <table><thead><tr><th scope="col">Situation</th><th scope="col">Agent</th><th scope="col">Topic</th><th scope="col">Status</th><th scope="col">Version</th><th scope="col">Helpful / harmful</th><th scope="col">Updated (UTC)</th></tr></thead><tbody>
        {{#rows}}<tr><td class="request"><a href="/admin/lessons/{{id}}">{{situation}}</a></td><td>{{agent}}</td><td>{{topic}}</td><td><span class="badge {{status}}">{{status}}</span></td><td>{{version}}</td><td>{{helpful}} / {{harmful}}</td><td>{{updated}}</td></tr>{{/rows}}
        {{^rows}}<tr><td colspan="7" class="muted">No lessons match.</td></tr>{{/rows}}
        </tbody></table>
        {{#next}}<p class="pager"><a href="{{next}}" rel="next">Older →</a></p>{{/next}}
        """

    static let lesson = """
        {{#reviewReason}}<p class="notice bad" role="status">{{reviewReason}}</p>{{/reviewReason}}
        <div class="grid">
        <section>
        <div class="card"><dl>
        <dt>Status</dt><dd><span class="badge {{status}}" id="lesson-status">{{status}}</span> · {{polarity}} · version {{version}}</dd>
        <dt>Agent</dt><dd>{{agent}}</dd><dt>Topic</dt><dd>{{topic}}</dd>
        <dt>Situation</dt><dd>{{situation}}</dd><dt>Did</dt><dd>{{did}}</dd><dt>Should have done</dt><dd>{{shouldHaveDone}}</dd>
        <dt>Why</dt><dd>{{why}}</dd><dt>Correct behaviour</dt><dd>{{correctBehavior}}</dd>
        <dt>Confidence</dt><dd>{{confidence}}</dd><dt>Helpful / harmful</dt><dd>{{helpful}} / {{harmful}}</dd>
        <dt>Author</dt><dd>{{author}}</dd><dt>Created</dt><dd>{{created}} UTC</dd><dt>Updated</dt><dd>{{updated}} UTC</dd>
        <dt>From</dt><dd>{{#source}}<a href="/admin/interactions/{{source}}">{{source}}</a>{{/source}}{{^source}}<span class="muted">written directly</span>{{/source}}</dd>
        </dl></div>
        <p>
        {{#canActivate}}<form method="post" action="/admin/lessons/{{id}}/status" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="status" value="active"><button type="submit" id="activate">{{activateLabel}}</button></form>{{/canActivate}}
        {{#canRetire}}<form method="post" action="/admin/lessons/{{id}}/status" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="status" value="retired"><button class="secondary" type="submit" id="retire">Retire</button></form>{{/canRetire}}
        <a class="button secondary" href="/admin/lessons/{{id}}/impact" id="impact" style="background:#fff;color:var(--accent)">Preview impact</a>
        <form method="post" action="/admin/lessons/{{id}}/delete" class="inline" onsubmit="return confirm('Delete this lesson? Its history is kept.')"><input type="hidden" name="csrf" value="{{csrf}}"><button class="danger" type="submit" id="delete">Delete</button></form>
        </p>
        <h2 id="edit">Edit (saved as version {{nextVersion}})</h2>
        <form method="post" action="/admin/lessons/{{id}}" class="card">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="fields">
        <label class="wide">Situation<textarea name="situation" required>{{situation}}</textarea></label>
        <label class="wide">Did<textarea name="did">{{did}}</textarea></label>
        <label class="wide">Should have done<textarea name="should_have_done" required>{{shouldHaveDone}}</textarea></label>
        <label class="wide">Why<textarea name="why">{{why}}</textarea></label>
        <label class="wide">Correct behaviour<textarea name="correct_behavior" required>{{correctBehavior}}</textarea></label>
        <label>Topic<input name="topic" value="{{topic}}"></label>
        <label>Confidence<input name="confidence" value="{{confidence}}" inputmode="decimal"></label>
        </div>
        <p><button type="submit" id="save">Save version</button></p>
        </form>
        </section>
        <aside>
        <h2>History</h2>
        <table><thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Saved (UTC)</th><th scope="col">By</th><th scope="col">Situation</th></tr></thead><tbody>
        {{#history}}<tr><td>{{version}}</td><td>{{status}}</td><td>{{updated}}</td><td>{{by}}</td><td>{{situation}}</td></tr>{{/history}}
        </tbody></table>
        <h2>Injected into</h2>
        <table><thead><tr><th scope="col">Interaction</th><th scope="col">Time (UTC)</th><th scope="col">Rank</th><th scope="col">Score</th><th scope="col">Version</th></tr></thead><tbody>
        {{#injections}}<tr><td><a href="/admin/interactions/{{interaction}}">{{interaction}}</a></td><td>{{at}}</td><td>{{rank}}</td><td>{{score}}</td><td>{{version}}</td></tr>{{/injections}}
        {{^injections}}<tr><td colspan="5" class="muted">Not injected yet.</td></tr>{{/injections}}
        </tbody></table>
        </aside>
        </div>
        """

    static let retrieve = """
        <form method="get" action="/admin/retrieve" class="filters" role="search">
        <label>Agent<input name="agent" value="{{agent}}" size="14"></label>
        <label style="flex: 1">Request<input name="q" id="retrieve-query" value="{{query}}" placeholder="type a user request"></label>
        <button type="submit" id="try">Try</button>
        </form>
        {{#ran}}
        <h2>Lessons that would be injected</h2>
        <table id="retrieved"><thead><tr><th scope="col">Score</th><th scope="col">Situation</th><th scope="col">Status</th></tr></thead><tbody>
        {{#hits}}<tr><td>{{score}}</td><td><a href="/admin/lessons/{{id}}">{{situation}}</a></td><td><span class="badge {{status}}">{{status}}</span></td></tr>{{/hits}}
        {{^hits}}<tr><td colspan="3" class="muted">Nothing passes the similarity floor: no lesson would be injected.</td></tr>{{/hits}}
        </tbody></table>
        <h2>Rendered context: {{tokens}} tokens</h2>
        <div class="card"><pre id="rendered-context">{{context}}</pre></div>
        {{/ran}}
        """

    static let keys = """
        {{#secret}}<div class="card" role="status"><p>The new key's secret, shown only now:</p><p class="secret" id="new-secret">{{secret}}</p></div>{{/secret}}
        <table><thead><tr><th scope="col">Key</th><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Starts with</th><th scope="col">Created (UTC)</th><th scope="col">State</th><th scope="col"></th></tr></thead><tbody>
        {{#rows}}<tr><td>{{id}}</td><td>{{name}}</td><td>{{role}}</td><td><code>{{prefix}}…</code></td><td>{{created}}</td><td>{{state}}</td>
        <td>{{#active}}<form method="post" action="/admin/keys/{{id}}/revoke" class="inline" onsubmit="return confirm('Revoke this key? It stops working at once.')"><input type="hidden" name="csrf" value="{{csrf}}"><button class="danger" type="submit">Revoke</button></form>{{/active}}</td></tr>{{/rows}}
        </tbody></table>
        <h2>Create a key</h2>
        <form method="post" action="/admin/keys" class="filters">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Role<select name="role"><option value="agent">agent</option><option value="reviewer">reviewer</option><option value="admin">admin</option></select></label>
        <label>Name<input name="name" required></label>
        <button type="submit" id="create-key">Create</button>
        </form>
        """

    static let impact = """
        <p><a href="/admin/lessons/{{id}}">{{situation}}</a></p>
        <div class="card" id="impact-summary"><dl>
        <dt>Recent requests checked</dt><dd>{{checked}}</dd><dt>Would retrieve it</dt><dd>{{matched}}</dd>
        <dt>Would get it injected</dt><dd>{{injected}} ({{share}})</dd>
        <dt>Lessons it would push out</dt><dd>{{#displaces}}<a href="/admin/lessons/{{id}}">{{id}}</a> ({{count}}) {{/displaces}}{{^displaces}}none{{/displaces}}</dd>
        </dl></div>
        <table><thead><tr><th scope="col">Score</th><th scope="col">Request</th><th scope="col">Injected</th><th scope="col">Pushes out</th></tr></thead><tbody>
        {{#requests}}<tr><td>{{score}}</td><td><a href="/admin/interactions/{{interaction}}">{{request}}</a></td><td>{{injected}}</td><td>{{displaces}}</td></tr>{{/requests}}
        {{^requests}}<tr><td colspan="4" class="muted">No recent request would retrieve this lesson.</td></tr>{{/requests}}
        </tbody></table>
        """

    static let error = """
        <p>{{message}}</p>
        <p><a href="/admin/interactions">Back to the interactions</a></p>
        """
}
