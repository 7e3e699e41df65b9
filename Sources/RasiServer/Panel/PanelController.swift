import Foundation
import HTTPTypes
import Hummingbird
import RasiCore
import RasiEngine

/// The admin panel at `/admin`: where reviewers monitor interactions, work the review queue,
/// write corrections and curate lessons. Every page is rendered on the server, from a view
/// model (`PanelViews.swift`) through its template (`Templates/`).
struct PanelController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/admin", .panel(.reviewer)) { _, _ in PanelAuth.redirect("/admin/interactions") }
        routes.on(.get, "/admin/login", .open, signInPage)
        routes.on(.post, "/admin/login", .open, signIn)
        routes.on(.post, "/admin/logout", .panel(.reviewer), signOut)
        routes.on(.get, "/admin/interactions", .panel(.reviewer), interactions)
        routes.on(.get, "/admin/interactions/{id}", .panel(.reviewer), interaction)
        routes.on(.post, "/admin/interactions/{id}/lessons", .panel(.reviewer), correction)
        routes.on(.post, "/admin/interactions/{id}/judge", .panel(.reviewer), judge)
        routes.on(.post, "/admin/interactions/{id}/dismiss", .panel(.reviewer), dismiss)
        routes.on(.get, "/admin/review", .panel(.reviewer), review)
        routes.on(.get, "/admin/lessons", .panel(.reviewer), lessons)
        routes.on(.get, "/admin/lessons/{id}", .panel(.reviewer), lesson)
        routes.on(.post, "/admin/lessons/{id}", .panel(.reviewer), editLesson)
        routes.on(.post, "/admin/lessons/{id}/status", .panel(.reviewer), setStatus)
        routes.on(.post, "/admin/lessons/{id}/delete", .panel(.reviewer), deleteLesson)
        routes.on(.get, "/admin/lessons/{id}/impact", .panel(.reviewer), impact)
        routes.on(.post, "/admin/lessons/{id}/examples", .panel(.reviewer), markExample)
        routes.on(.post, "/admin/conflicts/{id}/resolve", .panel(.reviewer), resolveConflict)
        routes.on(.get, "/admin/trends", .panel(.reviewer), trends)
        routes.on(.get, "/admin/retrieve", .panel(.reviewer), retrieve)
        routes.on(.get, "/admin/evaluations", .panel(.reviewer), evaluations)
        routes.on(.get, "/admin/evaluations/{id}", .panel(.reviewer), evaluation)
        routes.on(.get, "/admin/keys", .panel(.admin), keys)
        routes.on(.post, "/admin/keys", .panel(.admin), createKey)
        routes.on(.post, "/admin/keys/{id}/revoke", .panel(.admin), revokeKey)
    }

    /// Short notices after a redirect (`?done=created`), so a reload does not repeat the action.
    static let notices = [
        "created": "Lesson created: it is live on the next request.", "saved": "Saved as a new version.",
        "active": "The lesson is active: live on the next request.", "retired": "The lesson is retired: no longer injected.",
        "deleted": "Lesson deleted. Its history is kept.", "dismissed": "Flags dismissed.", "judged": "The judge has run.",
        "revoked": "Key revoked: it stops working at once.", "resolved": "Conflict resolved.",
        "example": "Marked as an example: the lesson applies to that request (a new version); any flags on the interaction are dismissed.",
        "counter": "Marked as a counter-example: the lesson no longer applies to that request (a new version).",
        "again": "Marked as another case of the lesson (a new version); the interaction's flags are dismissed."
    ]

    func notice(_ request: Request) -> String? {
        Query(request).string("done").flatMap { Self.notices[$0] }
    }

    // MARK: Signing in

    @Sendable func signInPage(_ request: Request, context: RasiRequestContext) async throws -> Response {
        signInForm(request, context: context, problem: nil, status: .ok, next: Query(request).string("next"))
    }

    func signInForm(_ request: Request, context: RasiRequestContext, problem: String?, status: HTTPResponse.Status, next: String?) -> Response {
        let token = KeySecret.generate()
        var headers: HTTPFields = [:]
        headers[.setCookie] = PanelAuth.cookie(PanelAuth.signInCookie, value: token, maxAge: 1800, request: request).description
        let page = SignInPage(csrf: token, next: PanelAuth.safeNext(next), hours: services.sessionSeconds / 3600)
        return PanelPages.page(page, context: context, status: status, problem: problem, headers: headers)
    }

    @Sendable func signIn(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let form = try await PanelAuth.form(&request, limit: limits.maxBodyBytes)
        let next = form["next"]
        guard let expected = request.cookies[PanelAuth.signInCookie]?.value, KeySecret.constantTimeEquals(form["csrf"] ?? "", expected) else {
            return signInForm(request, context: context, problem: "The sign-in form expired. Please try again.", status: .forbidden, next: next)
        }
        switch try await services.openSession(keySecret: (form["key"] ?? "").trimmingCharacters(in: .whitespaces)) {
        case .unknownKey:
            return signInForm(request, context: context, problem: "That key is not valid, or it was revoked.", status: .unauthorized, next: next)
        case .agentKey:
            let problem = "Agent keys cannot sign in: use a reviewer or admin key."
            return signInForm(request, context: context, problem: problem, status: .forbidden, next: next)
        case .opened(let secret, let seconds):
            var response = PanelAuth.redirect(PanelAuth.safeNext(next))
            response.setCookie(PanelAuth.cookie(PanelAuth.sessionCookie, value: secret, maxAge: seconds, request: request))
            response.setCookie(PanelAuth.cookie(PanelAuth.signInCookie, value: "", maxAge: 0, request: request))
            return response
        }
    }

    @Sendable func signOut(_ request: Request, context: RasiRequestContext) async throws -> Response {
        if let secret = request.cookies[PanelAuth.sessionCookie]?.value { try await services.closeSession(secret: secret) }
        var response = PanelAuth.redirect("/admin/login")
        response.setCookie(PanelAuth.cookie(PanelAuth.sessionCookie, value: "", maxAge: 0, request: request))
        return response
    }

    // MARK: Interactions

    @Sendable func interactions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let filter = try query.interactionFilter()
        let (found, tools) = try await services.browseInteractions(filter)
        let parameters: [(String, String?)] = [
            ("q", filter.text), ("agent", filter.agent), ("topic", filter.topic), ("flagged", query.string("flagged")),
            ("feedback", filter.feedback?.rawValue), ("since", query.string("since"))
        ]
        let typed = Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1 ?? "") })
        let page = InteractionsPage(
            rows: found.map { InteractionsPage.Row($0, tools: tools[$0.id] ?? []) },
            filter: .init(
                q: typed["q"]!, agent: typed["agent"]!, topic: typed["topic"]!, flagged: typed["flagged"]!,
                feedback: typed["feedback"]!, since: typed["since"]!),
            flaggedOptions: SelectOption.list([("", "any"), ("true", "flagged"), ("false", "not flagged")], selected: query.string("flagged")),
            feedbackOptions: SelectOption.list(
                [("", "any or none"), ("down", "thumbs down"), ("up", "thumbs up"), ("any", "some"), ("none", "none")],
                selected: filter.feedback?.rawValue),
            next: found.count == filter.limit ? found.last.map { "/admin/interactions" + PanelPages.query(parameters + [("cursor", $0.id)]) } : nil)
        return PanelPages.page(page, context: context)
    }

    @Sendable func interaction(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await interactionPage(try context.id(), context: context, notice: notice(request))
    }

    func interactionPage(
        _ id: String, context: RasiRequestContext, notice: String? = nil, problem: String? = nil,
        correction: InteractionPage.Correction? = nil, preview: Lesson? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let detail = try await services.interactionDetail(id)
        let page = InteractionPage(detail, nearby: await nearbyLessons(detail.interaction), correction: correction, preview: preview)
        return PanelPages.page(page, context: context, status: status, notice: notice, problem: problem)
    }

    /// The lessons nearest to an interaction's request, below the similarity floor too: the
    /// correction box offers them ("this is lesson X again") before a duplicate is written.
    /// Suggestions only: the page reads without them when retrieval fails.
    func nearbyLessons(_ interaction: Interaction) async -> [ScoredLesson] {
        (try? await services.retriever.candidates(agent: interaction.agent, query: interaction.request, limit: 3)) ?? []
    }

    /// The correction box: preview the lesson as it will be stored (redacted), or create it.
    @Sendable func correction(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let form = context.form
        var fields = LessonFields(
            topic: Self.nonEmpty(form["topic"]), situation: form["situation"], did: form["did"], shouldHaveDone: form["should_have_done"],
            why: form["why"], correctBehavior: form["correct_behavior"], polarity: form["polarity"].flatMap(Polarity.init),
            sourceInteractionId: id)
        let typed = InteractionPage.Correction(form: form)
        do {
            fields.agent = try await services.interaction(id).agent
            if form["action"] == "preview" {
                let lesson = try services.previewLesson(fields, author: context.actor)
                return try await interactionPage(id, context: context, correction: typed, preview: lesson)
            }
            let lesson = try await services.createLesson(fields, author: context.actor)
            return PanelAuth.redirect("/admin/lessons/\(lesson.id)?done=created")
        } catch let error as RasiError {
            guard case .invalidField = error else { throw error }
            return try await interactionPage(id, context: context, problem: error.description, correction: typed, status: .badRequest)
        }
    }

    @Sendable func judge(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let (run, _) = try await services.judgeNow(id)
        if run.status != .ok {
            let problem = "The judge failed: \(run.error ?? run.status.rawValue)"
            return try await interactionPage(id, context: context, problem: problem, status: .badGateway)
        }
        return PanelAuth.redirect("/admin/interactions/\(id)?done=judged")
    }

    @Sendable func dismiss(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        _ = try await services.dismissFlags(of: id, by: context.actor)
        let next = context.form["next"] == "/admin/review" ? "/admin/review" : "/admin/interactions/\(id)"
        return PanelAuth.redirect(next + "?done=dismissed")
    }

    // MARK: Review queue

    @Sendable func review(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let limit = 50
        let queue = try await services.reviewQueue(after: Query(request).string("cursor"), limit: limit)
        // The lessons the flagged interactions were given, for their applies / does not apply buttons.
        var lessons: [String: Lesson] = [:]
        for id in Set(queue.flagged.flatMap(\.lessonsInjected)) {
            do {
                lessons[id] = try await services.lesson(id)
            } catch RasiError.notFound {
                continue // deleted since
            }
        }
        return PanelPages.page(ReviewPage(queue, lessons: lessons, limit: limit), context: context, notice: notice(request))
    }

    // MARK: Lessons

    @Sendable func lessons(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let filter = try Query(request).lessonFilter()
        let found = try await services.lessons(filter)
        let parameters: [(String, String?)] = [("q", filter.text), ("agent", filter.agent), ("status", filter.status?.rawValue)]
        let page = LessonsPage(
            rows: found.map(LessonsPage.Row.init),
            filter: .init(q: filter.text ?? "", agent: filter.agent ?? "", status: filter.status?.rawValue ?? ""),
            statusOptions: SelectOption.list(
                [("", "any"), ("active", "active"), ("proposed", "proposed"), ("retired", "retired")],
                selected: filter.status?.rawValue),
            next: found.count == filter.limit ? found.last.map { "/admin/lessons" + PanelPages.query(parameters + [("cursor", $0.id)]) } : nil)
        return PanelPages.page(page, context: context, notice: notice(request))
    }

    @Sendable func lesson(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await lessonPage(try context.id(), context: context, notice: notice(request))
    }

    func lessonPage(
        _ id: String, context: RasiRequestContext, notice: String? = nil, problem: String? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let detail = try await services.lessonDetail(id, injections: 50)
        // Exposures over the lesson's life: per hour for its first three days, then per day (at most 90).
        let now = Date()
        let age = now.timeIntervalSince(detail.lesson.createdAt)
        let exposures = try await services.trends(
            TrendQuery(
                lessonId: id, bucket: age > 3 * 86_400 ? .day : .hour, since: max(detail.lesson.createdAt, now - 90 * 86_400), until: now))
        let page = LessonPage(
            detail, proposals: try await services.exampleCandidates(lessonId: id, limit: 100), lift: try await services.lift(lessonId: id),
            exposures: exposures)
        return PanelPages.page(page, context: context, status: status, notice: notice, problem: problem)
    }

    @Sendable func editLesson(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let current = try await services.lesson(id)
        let form = context.form
        do {
            var confidence: Double?
            if let text = Self.nonEmpty(form["confidence"]) {
                guard let value = Double(text) else { throw RasiError.invalidField("confidence", "must be a number between 0 and 1") }
                confidence = value
            }
            // The lists as one request a line; a form without them leaves them as they are.
            let fields = LessonFields(
                topic: form["topic"], situation: form["situation"], did: form["did"], shouldHaveDone: form["should_have_done"],
                why: form["why"], correctBehavior: form["correct_behavior"], confidence: confidence,
                examples: form["examples"].map { ExampleLines.examples($0, current: current.examples) },
                counterExamples: form["counter_examples"].map { ExampleLines.examples($0, current: current.counterExamples) })
            _ = try await services.updateLesson(current, with: fields, by: context.actor)
            return PanelAuth.redirect("/admin/lessons/\(id)?done=saved")
        } catch let error as RasiError {
            guard case .invalidField = error else { throw error }
            return try await lessonPage(id, context: context, problem: error.description, status: .badRequest)
        }
    }

    @Sendable func setStatus(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard let status = context.form["status"].flatMap(LessonStatus.init) else {
            throw RasiError.invalidField("status", "must be active, retired or proposed")
        }
        let current = try await services.lesson(id)
        _ = try await services.updateLesson(current, with: LessonFields(status: status), by: context.actor)
        let back = context.form["next"] == "/admin/review" ? "/admin/review" : "/admin/lessons/\(id)"
        return PanelAuth.redirect(back + "?done=\(status.rawValue)")
    }

    @Sendable func deleteLesson(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        try await services.deleteLesson(id, by: context.actor)
        return PanelAuth.redirect("/admin/lessons?done=deleted")
    }

    @Sendable func impact(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let lesson = try await services.lesson(try context.id())
        let impact = try await services.impact(of: lesson, limit: 500)
        return PanelPages.page(ImpactPage(lesson, impact), context: context, notice: notice(request))
    }

    /// One click: a past interaction's request is one the lesson applies to (an example) or must
    /// not (a counter-example); the lesson's next version. From a flagged interaction, "applies"
    /// is "this is lesson X again", which dismisses its flags. `source=outcome` accepts an
    /// outcome proposal. Back to the page it came from (`next`, a panel page).
    @Sendable func markExample(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let form = context.form
        guard let interaction = Self.nonEmpty(form["interaction"]) else { throw RasiError.invalidField("interaction", "is required") }
        guard let applies = form["applies"].flatMap(Bool.init) else { throw RasiError.invalidField("applies", "must be true or false") }
        let source: LessonExample.Source = form["source"] == LessonExample.Source.outcome.rawValue ? .outcome : .reviewer
        _ = try await services.markExample(lessonId: id, interactionId: interaction, applies: applies, by: context.actor, source: source)
        let done = applies ? (form["again"] == "true" ? "again" : "example") : "counter"
        return PanelAuth.redirect(Self.back(to: form["next"], otherwise: "/admin/lessons/\(id)", done: done))
    }

    @Sendable func resolveConflict(_ request: Request, context: RasiRequestContext) async throws -> Response {
        _ = try await services.resolveConflict(try context.id(), keep: context.form["keep"] ?? "", by: context.actor)
        return PanelAuth.redirect("/admin/review?done=resolved")
    }

    // MARK: Try retrieval

    @Sendable func retrieve(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let agent = query.string("agent") ?? "default"
        var selection: LessonSelection?
        if let text = query.string("q") {
            selection = try await services.selectLessons(agent: try GatewayController.agentName(agent), query: text)
        }
        return PanelPages.page(RetrievePage(agent: agent, query: query.string("q"), selection: selection), context: context)
    }

    // MARK: Evaluations

    @Sendable func evaluations(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let reports = try await services.evaluations(limit: 100)
        return PanelPages.page(EvaluationsPage(rows: reports.map(EvaluationsPage.Row.init)), context: context)
    }

    @Sendable func evaluation(_ request: Request, context: RasiRequestContext) async throws -> Response {
        PanelPages.page(EvaluationPage(try await services.evaluation(try context.id())), context: context)
    }

    // MARK: Keys

    @Sendable func keys(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await keysPage(context: context, notice: notice(request))
    }

    func keysPage(context: RasiRequestContext, notice: String? = nil, secret: String? = nil) async throws -> Response {
        let page = KeysPage(rows: try await services.keys().map(KeysPage.Row.init), secret: secret)
        return PanelPages.page(page, context: context, notice: notice)
    }

    @Sendable func createKey(_ request: Request, context: RasiRequestContext) async throws -> Response {
        guard let role = context.form["role"].flatMap(Role.init) else { throw RasiError.invalidField("role", "must be agent, reviewer or admin") }
        guard let name = Self.nonEmpty(context.form["name"]), name.count <= LessonFields.maxNameLength else {
            throw RasiError.invalidField("name", "must be 1 to \(LessonFields.maxNameLength) characters")
        }
        let (key, secret) = try await services.createKey(role: role, name: name, by: context.actor)
        let notice = "Created \(key.role.rawValue) key \(key.id). Copy the secret now: it is not shown again."
        return try await keysPage(context: context, notice: notice, secret: secret)
    }

    @Sendable func revokeKey(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await services.revokeKey(try context.id(), by: context.actor)
        return PanelAuth.redirect("/admin/keys?done=revoked")
    }

    /// A panel page to return to after a form, with its notice: `next` when it is one, else `otherwise`.
    static func back(to next: String?, otherwise: String, done: String) -> String {
        var target = otherwise
        if let next, PanelAuth.safeNext(next) == next, !next.unicodeScalars.contains(where: CharacterSet.controlCharacters.contains) {
            target = next
        }
        let parts = target.split(separator: "#", maxSplits: 1)
        let path = String(parts[0])
        return path + (path.contains("?") ? "&" : "?") + "done=" + done + (parts.count > 1 ? "#" + parts[1] : "")
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }
}
