import Foundation
import RasiCore
import RasiEngine

// The panel's view models: what each template reads, as text ready to show. A template names
// a view model's stored properties (`PanelPages.fields(of:)`), and Mustache escapes every
// `{{value}}` for HTML. A property that is nil reads as absent: a section over it is skipped, and
// the same name inside another section is looked up in the enclosing ones, as the templates expect.

/// A panel page's view model: the template it is rendered with, and its title.
protocol PanelPage {
    /// The template's name, `Templates/NAME.mustache`.
    static var template: String { get }
    /// The navigation entry the page is under.
    static var section: String { get }
    var title: String { get }
    /// The session's token, which every form of the page carries; set as the page is rendered.
    var csrf: String { get set }
}

extension PanelPage {
    static var section: String { template }
}

/// The frame around every page: navigation for the signed-in key, the title and any notice.
struct LayoutView {
    struct NavItem {
        let href: String
        let label: String
        let key: String
        let current: Bool
    }

    let title: String
    /// The page's own HTML, already rendered.
    let body: String
    let notice: String?
    let problem: String?
    let signedIn: Bool
    let nav: [NavItem]
    let who: String?
    let role: String?
    let csrf: String?
}

/// A choice of a `<select>`.
struct SelectOption {
    let value: String
    let label: String
    let selected: Bool

    /// The choices, with the current value selected (the first, empty-valued one when none is).
    static func list(_ choices: [(value: String, label: String)], selected: String?) -> [SelectOption] {
        choices.map { SelectOption(value: $0.value, label: $0.label, selected: $0.value == (selected ?? "")) }
    }
}

struct FeedbackBadge {
    let label: String
    let kind: String
    let title: String
    let comment: String
    let source: String
    let at: String

    init(_ feedback: Feedback) {
        label = feedback.rating.map { $0 == .up ? "▲ up" : "▼ down" } ?? feedback.signal?.rawValue ?? "comment"
        kind = feedback.rating?.rawValue ?? (feedback.source == .implicit ? "implicit" : "")
        title = feedback.comment ?? ""
        comment = feedback.comment ?? ""
        source = feedback.source.rawValue
        at = PanelPages.time(feedback.createdAt)
    }
}

struct FlagBadge {
    let rule: String
    let reason: String

    init(_ flag: Flag) {
        rule = flag.rule?.rawValue ?? "flag"
        reason = flag.reason
    }
}

/// A lesson's example or counter-example as the panel shows it: the request and where it came from.
struct ExampleView {
    let text: String
    let source: String

    init(_ example: LessonExample) {
        text = example.text
        source = example.source.rawValue
    }
}

/// A lesson's examples in the edit form: one request a line, in a textarea.
enum ExampleLines {
    /// An example as one line: a request written over several lines reads as one.
    static func line(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    static func text(_ examples: [LessonExample]) -> String {
        examples.map { line($0.text) }.joined(separator: "\n")
    }

    /// The submitted lines as the lesson's new list. A line left as it was keeps its example
    /// whole (its source, and its own line breaks); a new or changed line is the reviewer's.
    static func examples(_ text: String, current: [LessonExample]) -> [LessonExample] {
        let unchanged = Dictionary(current.map { (line($0.text), $0) }, uniquingKeysWith: { first, _ in first })
        return text.split(whereSeparator: \.isNewline).compactMap { raw in
            let typed = line(String(raw))
            guard !typed.isEmpty else { return nil }
            return unchanged[typed] ?? LessonExample(typed, source: .reviewer)
        }
    }

    /// Where a past request is among a lesson's examples already: "example", "counter-example", or nil.
    static func marked(_ request: String, in lesson: Lesson) -> String? {
        let key = line(request).lowercased()
        if lesson.examples.contains(where: { line($0.text).lowercased() == key }) { return "example" }
        if lesson.counterExamples.contains(where: { line($0.text).lowercased() == key }) { return "counter-example" }
        return nil
    }
}

/// A lesson beside a past request, with the one-click buttons that mark the request as one the
/// lesson applies to or must not (`Templates/example_buttons.mustache`).
struct ExampleButtons {
    let lesson: String
    let situation: String
    let interaction: String
    /// Where the request is among the lesson's examples already, if it is.
    let marked: String?
    /// The page to come back to.
    let next: String

    init(lesson: Lesson, interaction: String, request: String, next: String) {
        self.lesson = lesson.id
        situation = PanelPages.clip(lesson.situation, 120)
        self.interaction = interaction
        marked = ExampleLines.marked(request, in: lesson)
        self.next = next
    }
}

// MARK: Signing in, errors

struct SignInPage: PanelPage {
    static let template = "signin"
    var title: String { "Sign in to rasi" }
    /// The sign-in form's own token, before any session exists.
    var csrf: String
    let next: String
    let hours: Int
}

struct ErrorPage: PanelPage {
    static let template = "error"
    let title: String
    let message: String
    var csrf = ""
}

// MARK: Interactions

struct InteractionsPage: PanelPage {
    struct Row {
        let id: String
        let time: String
        let agent: String
        let request: String
        let topic: String
        let tools: [String]
        let feedback: [FeedbackBadge]
        let flags: [FlagBadge]
        let lessons: [String]

        init(_ interaction: Interaction, tools: [String]) {
            id = interaction.id
            time = PanelPages.time(interaction.createdAt)
            agent = interaction.agent
            request = PanelPages.clip(interaction.request)
            topic = interaction.topic ?? ""
            self.tools = tools
            feedback = interaction.feedback.map(FeedbackBadge.init)
            flags = interaction.flags.map(FlagBadge.init)
            lessons = interaction.lessonsInjected
        }
    }

    /// The filters as the reviewer typed them, to fill the form again.
    struct Filter {
        let q: String
        let agent: String
        let topic: String
        let flagged: String
        let feedback: String
        let since: String
    }

    static let template = "interactions"
    var title: String { "Interactions" }
    let rows: [Row]
    let filter: Filter
    let flaggedOptions: [SelectOption]
    let feedbackOptions: [SelectOption]
    /// The next page's link, when this one is full.
    let next: String?
    var csrf = ""
}

struct InteractionPage: PanelPage {
    struct StepView {
        let label: String
        let css: String
        let at: String
        let arguments: String?
        let content: String?

        init(_ step: Step) {
            switch step.kind {
            case .message:
                (label, css) = step.name == "user" ? ("user message", "user") : ("\(step.name ?? "assistant") message", "assistant")
            case .thinking: (label, css) = ("reasoning", "thinking")
            case .toolCall: (label, css) = ("tool call: \(step.name ?? "?")", "tool_call")
            case .toolResult: (label, css) = ("tool result" + (step.name.map { ": \($0)" } ?? ""), "tool_result")
            case .stateChange: (label, css) = ("state change" + (step.name.map { ": \($0)" } ?? ""), "state_change")
            }
            at = PanelPages.time(step.at)
            // Empty ones are left out, like absent ones.
            arguments = step.arguments.flatMap { $0.isEmpty ? nil : $0 }
            content = step.content.flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    struct InjectedLesson {
        let id: String
        let situation: String
        let status: String
        /// Applies / does not apply, for a lesson not deleted since.
        let marks: ExampleButtons?
    }

    /// An existing lesson close to the request, offered instead of writing a duplicate.
    struct NearbyLesson {
        let lesson: String
        let situation: String
        let correctBehavior: String
        let status: String
        let score: String
        /// What of the lesson the request is closest to: "situation", or an example.
        let matched: String
        let interaction: String
        /// Whether the request is among the lesson's examples already.
        let isExample: Bool
        let next: String
    }

    struct JudgeRunView {
        struct Score {
            let item: String
            let score: Int
            let comment: String
        }

        let status: String
        let model: String
        let at: String
        let tokens: Int
        let verdict: String?
        let summary: String?
        let rubric: [Score]
        let error: String?
        let lessonId: String?

        init(_ run: JudgeRun) {
            status = run.status.rawValue
            model = run.model
            at = PanelPages.time(run.createdAt)
            tokens = run.tokens.total
            verdict = run.verdict.map { $0.verdict == .ok ? "verdict: ok" : "verdict: problem" }
            summary = run.verdict?.summary
            rubric = run.verdict?.rubric.map { Score(item: $0.item, score: $0.score, comment: $0.comment) } ?? []
            error = run.error
            lessonId = run.lessonId
        }
    }

    /// The correction box's fields: the reviewer's, or defaults from the interaction.
    struct Correction {
        var situation = ""
        var did = ""
        var shouldHaveDone = ""
        var why = ""
        var correctBehavior = ""
        var topic = ""
        var polarity = ""

        /// A new correction starts from the interaction: its request, what the agent did, its topic.
        init(defaultsFrom interaction: Interaction) {
            situation = interaction.request
            did = interaction.didSummary
            topic = interaction.topic ?? ""
            polarity = Polarity.negative.rawValue
        }

        /// The fields of a submitted form, as typed.
        init(form: [String: String]) {
            situation = form["situation"] ?? ""
            did = form["did"] ?? ""
            shouldHaveDone = form["should_have_done"] ?? ""
            why = form["why"] ?? ""
            correctBehavior = form["correct_behavior"] ?? ""
            topic = form["topic"] ?? ""
            polarity = form["polarity"] ?? ""
        }
    }

    /// A lesson as the preview shows it.
    struct Preview {
        let situation: String
        let did: String
        let shouldHaveDone: String
        let why: String
        let correctBehavior: String

        init(_ lesson: Lesson) {
            situation = lesson.situation
            did = lesson.did
            shouldHaveDone = lesson.shouldHaveDone
            why = lesson.why
            correctBehavior = lesson.correctBehavior
        }
    }

    static let template = "interaction"
    static let section = "interactions"
    let title: String
    let id: String
    let agent: String
    let time: String
    let model: String
    /// The agent API the call came through: Chat Completions, Responses or Messages.
    let api: String
    let conversation: String
    let user: String
    let topic: String
    let latency: Int
    let tokens: String
    let steps: [StepView]
    let injected: [InjectedLesson]
    /// The nearest lessons by retrieval, below the similarity floor too: "this is lesson X again".
    let nearby: [NearbyLesson]
    let hasNearby: Bool
    let feedback: [FeedbackBadge]
    let flags: [FlagBadge]
    let hasFlags: Bool
    let runs: [JudgeRunView]
    let correction: Correction
    let polarityOptions: [SelectOption]
    let messageCount: Int
    /// The messages sent to the model, as indented JSON.
    let messages: String
    let response: String?
    let error: String?
    let preview: Preview?
    var csrf = ""

    init(_ detail: InteractionDetail, nearby: [ScoredLesson], correction: Correction?, preview: Lesson?) {
        let interaction = detail.interaction
        let here = "/admin/interactions/\(interaction.id)"
        title = PanelPages.clip(interaction.request, 90)
        id = interaction.id
        agent = interaction.agent
        time = PanelPages.time(interaction.createdAt)
        model = interaction.model ?? ""
        api =
            switch interaction.api {
            case .chat?: "Chat Completions"
            case .responses?: "Responses"
            case .messages?: "Messages (Anthropic)"
            case nil: "logged through the API"
            }
        conversation = interaction.conversationId ?? ""
        user = interaction.userId ?? ""
        topic = interaction.topic ?? ""
        latency = interaction.latencyMs
        tokens = "\(interaction.tokens.prompt) in, \(interaction.tokens.completion) out"
        steps = interaction.steps.map(StepView.init)
        injected = detail.injected.map { id, lesson in
            InjectedLesson(
                id: id, situation: lesson?.situation ?? "(deleted) \(id)", status: lesson?.status.rawValue ?? "deleted",
                marks: lesson.map { ExampleButtons(lesson: $0, interaction: interaction.id, request: interaction.request, next: here) })
        }
        self.nearby = nearby.map {
            NearbyLesson(
                lesson: $0.lesson.id, situation: PanelPages.clip($0.lesson.situation, 160),
                correctBehavior: PanelPages.clip($0.lesson.correctBehavior, 200), status: $0.lesson.status.rawValue,
                score: String(format: "%.3f", $0.score), matched: $0.matched.map { "example: " + PanelPages.clip($0.text, 100) } ?? "situation",
                interaction: interaction.id, isExample: ExampleLines.marked(interaction.request, in: $0.lesson) == "example",
                next: here + "#correction")
        }
        hasNearby = !self.nearby.isEmpty
        feedback = interaction.feedback.map(FeedbackBadge.init)
        flags = interaction.flags.map(FlagBadge.init)
        hasFlags = !interaction.flags.isEmpty
        runs = detail.judgeRuns.reversed().map(JudgeRunView.init)
        let correction = correction ?? Correction(defaultsFrom: interaction)
        self.correction = correction
        polarityOptions = SelectOption.list(
            [("negative", "negative: don't do this"), ("positive", "positive: keep doing this")], selected: correction.polarity)
        messageCount = interaction.messages.arrayValue?.count ?? 0
        messages = String(decoding: (try? RasiJSON.encoder(pretty: true).encode(interaction.messages)) ?? Data(), as: UTF8.self)
        response = interaction.response
        error = interaction.error
        self.preview = preview.map(Preview.init)
    }
}

// MARK: Review queue

struct ReviewPage: PanelPage {
    struct Flagged {
        let id: String
        let time: String
        let agent: String
        let request: String
        let flags: [FlagBadge]
        /// The lessons it was given, each with applies / does not apply.
        let lessons: [ExampleButtons]
    }

    struct Proposed {
        let id: String
        let situation: String
        let correctBehavior: String
        let confidence: String
    }

    struct Conflict {
        /// One side of a conflict.
        struct Side {
            let id: String
            let situation: String
            let behavior: String
            let polarity: String
            let confidence: String

            init(_ lesson: Lesson) {
                id = lesson.id
                situation = PanelPages.clip(lesson.situation, 160)
                behavior = PanelPages.clip(lesson.correctBehavior, 200)
                polarity = lesson.polarity.rawValue
                confidence = String(format: "%.2f", lesson.confidence)
            }
        }

        let id: Int
        let reason: String
        let a: Side
        let b: Side
    }

    struct Retired {
        let id: String
        let situation: String
        let reason: String
    }

    static let template = "review"
    var title: String { "Review queue" }
    let flagged: [Flagged]
    let next: String?
    let proposed: [Proposed]
    let conflicts: [Conflict]
    let autoRetired: [Retired]
    var csrf = ""

    /// `lessons`: the lessons injected into the flagged interactions, by id (none for one deleted since).
    init(_ queue: ReviewQueue, lessons: [String: Lesson], limit: Int) {
        flagged = queue.flagged.map { interaction in
            Flagged(
                id: interaction.id, time: PanelPages.time(interaction.createdAt), agent: interaction.agent,
                request: PanelPages.clip(interaction.request), flags: interaction.flags.map(FlagBadge.init),
                lessons: interaction.lessonsInjected.compactMap { lessons[$0] }.map {
                    ExampleButtons(lesson: $0, interaction: interaction.id, request: interaction.request, next: "/admin/review")
                })
        }
        next = queue.flagged.count == limit ? queue.flagged.last.map { "/admin/review?cursor=\($0.id)" } : nil
        proposed = queue.proposed.map {
            Proposed(
                id: $0.id, situation: PanelPages.clip($0.situation, 200), correctBehavior: PanelPages.clip($0.correctBehavior, 200),
                confidence: String(format: "%.2f", $0.confidence))
        }
        conflicts = queue.conflicts.map { Conflict(id: $0.conflict.id, reason: $0.conflict.reason, a: .init($0.first), b: .init($0.second)) }
        autoRetired = queue.autoRetired.map { Retired(id: $0.id, situation: PanelPages.clip($0.situation, 160), reason: $0.reviewReason ?? "") }
    }
}

// MARK: Lessons

struct LessonsPage: PanelPage {
    struct Row {
        let id: String
        let situation: String
        let agent: String
        let topic: String
        let status: String
        let version: Int
        let helpful: Int
        let harmful: Int
        let updated: String

        init(_ lesson: Lesson) {
            id = lesson.id
            situation = PanelPages.clip(lesson.situation)
            agent = lesson.agent
            topic = lesson.topic ?? ""
            status = lesson.status.rawValue
            version = lesson.version
            helpful = lesson.helpful
            harmful = lesson.harmful
            updated = PanelPages.time(lesson.updatedAt)
        }
    }

    struct Filter {
        let q: String
        let agent: String
        let status: String
    }

    static let template = "lessons"
    var title: String { "Lessons" }
    let rows: [Row]
    let filter: Filter
    let statusOptions: [SelectOption]
    let next: String?
    var csrf = ""
}

struct LessonPage: PanelPage {
    struct Version {
        let version: Int
        let status: String
        let updated: String
        let by: String
        let situation: String
    }

    struct InjectionView {
        let interaction: String
        let at: String
        let rank: Int
        let score: String
        let version: Int
        /// "injected", or "withheld" (the holdout's control arm).
        let arm: String
    }

    /// An outcome proposal: a request the lesson was injected into that went wrong, with the
    /// one-click accept (as proposed) and the opposite.
    struct Proposal {
        let interaction: String
        let request: String
        let reason: String
        /// The `applies` value each button posts.
        let accept: String
        let acceptLabel: String
        let opposite: String
        let oppositeLabel: String

        init(_ candidate: RasiServices.ExampleCandidate) {
            interaction = candidate.interactionId
            request = PanelPages.clip(candidate.request, 200)
            reason = PanelPages.clip(candidate.reason, 200)
            accept = String(candidate.applies)
            opposite = String(!candidate.applies)
            (acceptLabel, oppositeLabel) =
                candidate.applies ? ("Accept: it applies", "It does not apply") : ("Accept: it does not apply", "It applies")
        }
    }

    static let template = "lesson"
    static let section = "lessons"
    let title: String
    let id: String
    let status: String
    let polarity: String
    let version: Int
    let nextVersion: Int
    let agent: String
    let topic: String
    let situation: String
    let did: String
    let shouldHaveDone: String
    let why: String
    let correctBehavior: String
    let examples: [ExampleView]
    let counterExamples: [ExampleView]
    /// The lists in the edit form, one request a line.
    let examplesText: String
    let counterExamplesText: String
    let proposals: [Proposal]
    let confidence: String
    let helpful: Int
    let harmful: Int
    /// The measured lift in one line: each arm's negative outcomes, the difference, its interval, the verdict.
    let lift: String
    /// Its exposures over time by arm, as SVG (`TrendChart`, which escapes its text).
    let exposures: String
    let author: String
    let created: String
    let updated: String
    /// The interaction the lesson was made from.
    let source: String?
    /// Why it was retired without a reviewer (by its lift), when it was.
    let reviewReason: String?
    let canActivate: Bool
    let canRetire: Bool
    let activateLabel: String
    let history: [Version]
    let injections: [InjectionView]
    var csrf = ""

    init(_ detail: LessonDetail, proposals: [RasiServices.ExampleCandidate], lift figures: Lift, exposures trends: Trends) {
        let lesson = detail.lesson
        title = PanelPages.clip(lesson.situation, 90)
        id = lesson.id
        status = lesson.status.rawValue
        polarity = lesson.polarity.rawValue
        version = lesson.version
        nextVersion = lesson.version + 1
        agent = lesson.agent
        topic = lesson.topic ?? ""
        situation = lesson.situation
        did = lesson.did
        shouldHaveDone = lesson.shouldHaveDone
        why = lesson.why
        correctBehavior = lesson.correctBehavior
        examples = lesson.examples.map(ExampleView.init)
        counterExamples = lesson.counterExamples.map(ExampleView.init)
        examplesText = ExampleLines.text(lesson.examples)
        counterExamplesText = ExampleLines.text(lesson.counterExamples)
        self.proposals = proposals.map(Proposal.init)
        confidence = String(format: "%.2f", lesson.confidence)
        helpful = lesson.helpful
        harmful = lesson.harmful
        lift = Self.describe(figures)
        exposures = TrendChart.exposures(trends, title: "Exposures per \(trends.bucket.rawValue): injected and withheld", id: "exposure-chart")
        author = lesson.author
        created = PanelPages.time(lesson.createdAt)
        updated = PanelPages.time(lesson.updatedAt)
        source = lesson.sourceInteractionId
        reviewReason = lesson.reviewReason
        canActivate = lesson.status != .active
        canRetire = lesson.status != .retired
        activateLabel = lesson.status == .proposed ? "Approve" : "Reactivate"
        history = detail.history.reversed().map {
            Version(
                version: $0.lesson.version, status: $0.lesson.status.rawValue, updated: PanelPages.time($0.changedAt),
                by: $0.changedBy, situation: PanelPages.clip($0.lesson.situation, 80))
        }
        injections = detail.injections.map {
            InjectionView(
                interaction: $0.interactionId, at: PanelPages.time($0.at), rank: $0.rank, score: String(format: "%.3f", $0.score),
                version: $0.version, arm: $0.arm == .control ? "withheld" : "injected")
        }
    }

    static func describe(_ lift: Lift) -> String {
        let (t, c) = (lift.treatment, lift.control)
        var text = "negative outcomes \(t.negative) of \(t.exposures) with the lesson, \(c.negative) of \(c.exposures) without it (holdout)"
        if let difference = lift.difference, let interval = lift.interval {
            text += String(format: "; difference %+.3f, 95%% interval [%+.3f, %+.3f]", difference, interval[0], interval[1])
        }
        return text + "; verdict: \(lift.verdict.rawValue)"
    }
}

struct ImpactPage: PanelPage {
    struct Displaced {
        let id: String
        let count: Int
    }

    /// A recent request that would retrieve the lesson.
    struct MatchedRequest {
        let interaction: String
        let request: String
        let score: String
        let injected: String
        let displaces: String
        let marks: ExampleButtons
    }

    static let template = "impact"
    var title: String { "Impact of a lesson" }
    let id: String
    let situation: String
    let checked: Int
    let matched: Int
    let injected: Int
    let share: String
    let displaces: [Displaced]
    let requests: [MatchedRequest]
    var csrf = ""

    init(_ lesson: Lesson, _ impact: RasiServices.Impact) {
        id = lesson.id
        situation = lesson.situation
        checked = impact.checked
        matched = impact.matched
        injected = impact.injected
        share = String(format: "%.1f%%", impact.share * 100)
        displaces = impact.displaces.sorted { $0.value > $1.value }.map { Displaced(id: $0.key, count: $0.value) }
        requests = impact.requests.map {
            MatchedRequest(
                interaction: $0.interactionId, request: PanelPages.clip($0.request), score: String(format: "%.3f", $0.score),
                injected: $0.injected ? "yes" : "no", displaces: $0.displaces.joined(separator: ", "),
                marks: ExampleButtons(lesson: lesson, interaction: $0.interactionId, request: $0.request, next: "/admin/lessons/\(lesson.id)/impact"))
        }
    }
}

// MARK: Try retrieval

struct RetrievePage: PanelPage {
    struct Hit {
        /// The example the request matched best; nil when that was the situation.
        struct Matched {
            let text: String
            let source: String
        }

        let id: String
        let situation: String
        let status: String
        let score: String
        let matched: Matched?
    }

    static let template = "retrieve"
    var title: String { "Try retrieval" }
    let agent: String
    let query: String
    /// Whether a request was tried: the results show only then.
    let ran: Bool
    let hits: [Hit]
    let context: String?
    let tokens: Int?
    var csrf = ""

    init(agent: String, query: String?, selection: LessonSelection?) {
        self.agent = agent
        self.query = query ?? ""
        ran = selection != nil
        hits =
            selection?.lessons.map {
                Hit(
                    id: $0.lesson.id, situation: $0.lesson.situation, status: $0.lesson.status.rawValue, score: String(format: "%.3f", $0.score),
                    matched: $0.matched.map { Hit.Matched(text: $0.text, source: $0.source.rawValue) })
            } ?? []
        context = selection?.context
        tokens = selection?.tokens
    }
}

// MARK: Evaluations

/// One split's pass rates before and after the lessons.
struct SplitRow {
    let split: String
    let tasks: Int
    let before: String
    let after: String
    let fixed: Int
    let broken: Int
    let tokensBefore: String
    let tokensAfter: String
    let lessonsPerRequest: String

    static func all(_ report: EvaluationReport) -> [SplitRow] {
        report.splits.sorted { $0.key < $1.key }.map { name, split in
            SplitRow(
                split: name, tasks: split.tasks,
                before: PanelPages.percent(split.passRateBefore), after: PanelPages.percent(split.passRateAfter),
                fixed: split.fixed.count, broken: split.broken.count,
                tokensBefore: String(format: "%.0f", split.injectedTokensPerRequestBefore),
                tokensAfter: String(format: "%.0f", split.injectedTokensPerRequestAfter),
                lessonsPerRequest: String(format: "%.2f", split.lessonsPerRequestAfter))
        }
    }
}

struct EvaluationsPage: PanelPage {
    struct Row {
        let id: String
        let suite: String
        let model: String
        let created: String
        let tasks: Int
        let lessons: Int
        /// Each split's pass rate, before → after.
        let splits: String

        init(_ report: EvaluationReport) {
            id = report.id
            suite = report.suite
            model = report.model
            created = PanelPages.time(report.createdAt)
            tasks = report.results.count
            lessons = report.lessonsCreated
            splits = SplitRow.all(report).map { "\($0.split): \($0.before) → \($0.after)" }.joined(separator: "; ")
        }
    }

    static let template = "evaluations"
    var title: String { "Evaluations" }
    let rows: [Row]
    var csrf = ""
}

struct EvaluationPage: PanelPage {
    /// A task whose outcome changed between the first run and the last.
    struct ChangedTask {
        let id: String
        let request: String
        let expected: String
        let before: String
        let after: String
        /// The last run's interaction.
        let interaction: String
    }

    static let template = "evaluation"
    static let section = "evaluations"
    let title: String
    let id: String
    let suite: String
    let model: String
    let endpoint: String
    let created: String
    let tasks: Int
    let lessons: Int
    /// The learning curve as inline SVG, drawn by `EvaluationChart` (which escapes its text).
    let chart: String
    let splits: [SplitRow]
    let fixed: [ChangedTask]
    let broken: [ChangedTask]
    var csrf = ""

    init(_ report: EvaluationReport) {
        func tools(_ names: [String]) -> String { names.isEmpty ? "no tool" : names.joined(separator: ", ") }
        func changed(_ ids: [String]) -> [ChangedTask] {
            ids.prefix(200).compactMap { id in report.results.first { $0.id == id } }.map { result in
                ChangedTask(
                    id: result.id, request: PanelPages.clip(result.request), expected: result.expectedTools.map(tools) ?? "rubric",
                    before: result.attempts.first.map { tools($0.tools) } ?? "", after: result.attempts.last.map { tools($0.tools) } ?? "",
                    interaction: result.attempts.last?.interactionId ?? "")
            }
        }
        title = "Evaluation: \(report.suite)"
        id = report.id
        suite = report.suite
        model = report.model
        endpoint = report.endpoint
        created = PanelPages.time(report.createdAt)
        tasks = report.results.count
        lessons = report.lessonsCreated
        chart = EvaluationChart.svg(report)
        splits = SplitRow.all(report)
        fixed = changed(report.splits.values.flatMap(\.fixed))
        broken = changed(report.splits.values.flatMap(\.broken))
    }
}

// MARK: Keys

struct KeysPage: PanelPage {
    struct Row {
        let id: String
        let name: String
        let role: String
        let prefix: String
        let created: String
        let state: String
        let active: Bool

        init(_ key: APIKey) {
            id = key.id
            name = key.name
            role = key.role.rawValue
            prefix = key.prefix
            created = PanelPages.time(key.createdAt)
            state = key.revokedAt == nil ? "active" : "revoked \(PanelPages.time(key.revokedAt))"
            active = key.revokedAt == nil
        }
    }

    static let template = "keys"
    var title: String { "Keys" }
    let rows: [Row]
    /// A new key's secret, shown once, right after it was made.
    let secret: String?
    var csrf = ""
}
