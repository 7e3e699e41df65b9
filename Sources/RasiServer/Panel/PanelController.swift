import Foundation
import HTTPTypes
import Hummingbird
import RasiCore
import RasiEngine

/// The admin panel at `/admin`: where reviewers monitor interactions, work the review queue,
/// write corrections and curate lessons. Every page is rendered on the server.
struct PanelController {
    let services: RasiServices
    var store: any RasiStore { services.store }

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
        routes.on(.post, "/admin/conflicts/{id}/resolve", .panel(.reviewer), resolveConflict)
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
        return PanelPages.page("signin", title: "Sign in to rasi", data: [
            "csrf": token, "next": PanelAuth.safeNext(next), "hours": services.configuration.sessionSeconds / 3600,
        ], context: context, status: status, problem: problem, headers: headers)
    }

    @Sendable func signIn(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let form = try await PanelAuth.form(&request, limit: services.configuration.maxBodyBytes)
        let next = form["next"]
        guard let expected = request.cookies[PanelAuth.signInCookie]?.value, KeySecret.constantTimeEquals(form["csrf"] ?? "", expected) else {
            return signInForm(request, context: context, problem: "The sign-in form expired. Please try again.", status: .forbidden, next: next)
        }
        let secret = (form["key"] ?? "").trimmingCharacters(in: .whitespaces)
        guard let key = try await store.activeKey(secretHash: KeySecret.hash(secret)) else {
            return signInForm(request, context: context, problem: "That key is not valid, or it was revoked.", status: .unauthorized, next: next)
        }
        guard key.role.allows(.reviewer) else {
            return signInForm(request, context: context, problem: "Agent keys cannot sign in: use a reviewer or admin key.", status: .forbidden, next: next)
        }
        let sessionSecret = KeySecret.generate(), now = Date()
        let lifetime = services.configuration.sessionSeconds
        try await store.createSession(secretHash: KeySecret.hash(sessionSecret), keyId: key.id, csrfToken: KeySecret.generate(),
                                      now: now, expiresAt: now.addingTimeInterval(TimeInterval(lifetime)))
        var response = PanelAuth.redirect(PanelAuth.safeNext(next))
        response.setCookie(PanelAuth.cookie(PanelAuth.sessionCookie, value: sessionSecret, maxAge: lifetime, request: request))
        response.setCookie(PanelAuth.cookie(PanelAuth.signInCookie, value: "", maxAge: 0, request: request))
        return response
    }

    @Sendable func signOut(_ request: Request, context: RasiRequestContext) async throws -> Response {
        if let secret = request.cookies[PanelAuth.sessionCookie]?.value { try await store.deleteSession(secretHash: KeySecret.hash(secret)) }
        var response = PanelAuth.redirect("/admin/login")
        response.setCookie(PanelAuth.cookie(PanelAuth.sessionCookie, value: "", maxAge: 0, request: request))
        return response
    }

    // MARK: Interactions

    @Sendable func interactions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let sinceText = query.string("since")
        let filter = try query.interactionFilter()
        let found = try await store.listInteractions(filter)
        let tools = try await store.toolNames(interactionIds: found.map(\.id))
        let rows: [[String: Any]] = found.map { interaction in
            [
                "id": interaction.id, "time": PanelPages.time(interaction.createdAt), "agent": interaction.agent,
                "request": PanelPages.clip(interaction.request), "topic": interaction.topic ?? "", "tools": tools[interaction.id] ?? [],
                "feedback": interaction.feedback.map(Self.badge), "flags": interaction.flags.map(Self.flag), "lessons": interaction.lessonsInjected,
            ]
        }
        let parameters: [(String, String?)] = [
            ("q", filter.text), ("agent", filter.agent), ("topic", filter.topic), ("flagged", query.string("flagged")),
            ("feedback", filter.feedback?.rawValue), ("since", sinceText),
        ]
        var data: [String: Any] = [
            "rows": rows,
            "filter": Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1 ?? "") }),
            "flaggedOptions": PanelPages.options([("", "any"), ("true", "flagged"), ("false", "not flagged")], selected: query.string("flagged")),
            "feedbackOptions": PanelPages.options([("", "any or none"), ("down", "thumbs down"), ("up", "thumbs up"), ("any", "some"), ("none", "none")],
                                                  selected: filter.feedback?.rawValue),
        ]
        if found.count == filter.limit, let last = found.last {
            data["next"] = "/admin/interactions" + PanelPages.query(parameters + [("cursor", last.id)])
        }
        return PanelPages.page("interactions", title: "Interactions", data: data, context: context)
    }

    static func badge(_ feedback: Feedback) -> [String: Any] {
        let label = feedback.rating.map { $0 == .up ? "▲ up" : "▼ down" } ?? feedback.signal?.rawValue ?? "comment"
        let kind = feedback.rating?.rawValue ?? (feedback.source == .implicit ? "implicit" : "")
        return ["label": label, "kind": kind, "title": feedback.comment ?? "", "comment": feedback.comment ?? "",
                "source": feedback.source.rawValue, "at": PanelPages.time(feedback.createdAt)]
    }

    static func flag(_ flag: Flag) -> [String: Any] {
        ["rule": flag.rule?.rawValue ?? "flag", "reason": flag.reason]
    }

    @Sendable func interaction(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await interactionPage(try context.id(), context: context, notice: notice(request))
    }

    func interactionPage(
        _ id: String, context: RasiRequestContext, notice: String? = nil, problem: String? = nil,
        correction: [String: String]? = nil, preview: Lesson? = nil, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        guard let interaction = try await store.interaction(id: id) else { throw RasiError.notFound("interaction \(id)") }
        var injected: [[String: Any]] = []
        for lessonId in interaction.lessonsInjected {
            let lesson = try await store.lesson(id: lessonId)
            injected.append(["id": lessonId, "situation": lesson?.situation ?? "(deleted) \(lessonId)", "status": lesson?.status.rawValue ?? "deleted"])
        }
        let steps: [[String: Any]] = interaction.steps.map { step in
            let label: String
            let css: String
            switch step.kind {
            case .message: (label, css) = (step.name == "user" ? "user message" : "\(step.name ?? "assistant") message", step.name == "user" ? "user" : "assistant")
            case .thinking: (label, css) = ("reasoning", "thinking")
            case .toolCall: (label, css) = ("tool call: \(step.name ?? "?")", "tool_call")
            case .toolResult: (label, css) = ("tool result" + (step.name.map { ": \($0)" } ?? ""), "tool_result")
            case .stateChange: (label, css) = ("state change" + (step.name.map { ": \($0)" } ?? ""), "state_change")
            }
            return ["label": label, "css": css, "at": PanelPages.time(step.at), "arguments": step.arguments ?? "", "content": step.content ?? ""]
                .filter { !(($0.value as? String)?.isEmpty ?? false) }
        }
        let runs: [[String: Any]] = try await store.judgeRuns(interactionId: id).reversed().map { run in
            var data: [String: Any] = ["status": run.status.rawValue, "model": run.model, "at": PanelPages.time(run.createdAt), "tokens": run.tokens.total]
            if let verdict = run.verdict {
                data["verdict"] = verdict.verdict == .ok ? "verdict: ok" : "verdict: problem"
                data["summary"] = verdict.summary
                data["rubric"] = verdict.rubric.map { ["item": $0.item, "score": $0.score, "comment": $0.comment] }
            }
            if let error = run.error { data["error"] = error }
            if let lessonId = run.lessonId { data["lessonId"] = lessonId }
            return data
        }
        let fields = correction ?? [
            "situation": interaction.request, "did": interaction.didSummary, "topic": interaction.topic ?? "", "polarity": "negative",
        ]
        var data: [String: Any] = [
            "id": interaction.id, "agent": interaction.agent, "time": PanelPages.time(interaction.createdAt), "model": interaction.model ?? "",
            "conversation": interaction.conversationId ?? "", "user": interaction.userId ?? "", "topic": interaction.topic ?? "",
            "latency": interaction.latencyMs, "tokens": "\(interaction.tokens.prompt) in, \(interaction.tokens.completion) out",
            "steps": steps, "injected": injected, "feedback": interaction.feedback.map(Self.badge), "flags": interaction.flags.map(Self.flag),
            "hasFlags": !interaction.flags.isEmpty, "runs": runs, "correction": fields,
            "polarityOptions": PanelPages.options([("negative", "negative: don't do this"), ("positive", "positive: keep doing this")], selected: fields["polarity"]),
            "messageCount": interaction.messages.arrayValue?.count ?? 0,
            "messages": String(decoding: (try? RasiJSON.encoder(pretty: true).encode(interaction.messages)) ?? Data(), as: UTF8.self),
        ]
        if let response = interaction.response { data["response"] = response }
        if let error = interaction.error { data["error"] = error }
        if let preview {
            data["preview"] = ["situation": preview.situation, "did": preview.did, "shouldHaveDone": preview.shouldHaveDone,
                               "why": preview.why, "correctBehavior": preview.correctBehavior]
        }
        return PanelPages.page("interaction", title: PanelPages.clip(interaction.request, 90), data: data, context: context,
                               status: status, notice: notice, problem: problem)
    }

    /// The correction box: preview the lesson as it will be stored (redacted), or create it.
    @Sendable func correction(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let form = context.form
        let fields = LessonFields(
            topic: Self.nonEmpty(form["topic"]), situation: form["situation"], did: form["did"], shouldHaveDone: form["should_have_done"],
            why: form["why"], correctBehavior: form["correct_behavior"], polarity: form["polarity"].flatMap(Polarity.init),
            sourceInteractionId: id)
        let typed = ["situation", "did", "should_have_done", "why", "correct_behavior", "topic", "polarity"].reduce(into: [String: String]()) { $0[$1] = form[$1] ?? "" }
        do {
            guard let interaction = try await store.interaction(id: id) else { throw RasiError.notFound("interaction \(id)") }
            var complete = fields
            complete.agent = interaction.agent
            if form["action"] == "preview" {
                try complete.requireForCreation()
                try complete.validate()
                // Exactly what createLesson stores: the same redaction over the same fields.
                let lesson = Lesson.create(fields: complete.redacted(by: services.redactor), author: context.actor)
                return try await interactionPage(id, context: context, correction: typed, preview: lesson)
            }
            let lesson = try await services.createLesson(complete, author: context.actor)
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
            return try await interactionPage(id, context: context, problem: "The judge failed: \(run.error ?? run.status.rawValue)", status: .badGateway)
        }
        return PanelAuth.redirect("/admin/interactions/\(id)?done=judged")
    }

    @Sendable func dismiss(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        _ = try await store.dismissFlags(interactionId: id, by: context.actor, at: Date())
        let next = context.form["next"] == "/admin/review" ? "/admin/review" : "/admin/interactions/\(id)"
        return PanelAuth.redirect(next + "?done=dismissed")
    }

    // MARK: Review queue

    @Sendable func review(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let filter = InteractionFilter(flagged: true, limit: 50, before: Query(request).string("cursor"), oldestFirst: true)
        let flagged = try await store.listInteractions(filter)
        let proposed = try await store.listLessons(LessonFilter(status: .proposed, limit: 100))
        var data: [String: Any] = [
            "flagged": flagged.map { ["id": $0.id, "time": PanelPages.time($0.createdAt), "agent": $0.agent,
                                      "request": PanelPages.clip($0.request), "flags": $0.flags.map(Self.flag)] as [String: Any] },
            "proposed": proposed.map { ["id": $0.id, "situation": PanelPages.clip($0.situation, 200), "correctBehavior": PanelPages.clip($0.correctBehavior, 200),
                                        "confidence": String(format: "%.2f", $0.confidence)] as [String: Any] },
        ]
        if flagged.count == filter.limit, let last = flagged.last { data["next"] = "/admin/review?cursor=\(last.id)" }
        var conflicts: [[String: Any]] = []
        for conflict in try await store.listConflicts(open: true, limit: 50) {
            guard let a = try await store.lesson(id: conflict.pair.first), let b = try await store.lesson(id: conflict.pair.second) else { continue }
            let side = { (l: Lesson) -> [String: Any] in
                ["id": l.id, "situation": PanelPages.clip(l.situation, 160), "behavior": PanelPages.clip(l.correctBehavior, 200),
                 "polarity": l.polarity.rawValue, "confidence": String(format: "%.2f", l.confidence)]
            }
            conflicts.append(["id": conflict.id, "reason": conflict.reason, "a": side(a), "b": side(b)])
        }
        data["conflicts"] = conflicts
        data["autoRetired"] = try await store.listLessons(LessonFilter(status: .retired, limit: 200)).filter { $0.reviewReason != nil }.map {
            ["id": $0.id, "situation": PanelPages.clip($0.situation, 160), "reason": $0.reviewReason ?? ""] as [String: Any]
        }
        return PanelPages.page("review", title: "Review queue", data: data, context: context, notice: notice(request))
    }

    // MARK: Lessons

    @Sendable func lessons(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let filter = try Query(request).lessonFilter()
        let found = try await store.listLessons(filter)
        let parameters: [(String, String?)] = [("q", filter.text), ("agent", filter.agent), ("status", filter.status?.rawValue)]
        var data: [String: Any] = [
            "rows": found.map { ["id": $0.id, "situation": PanelPages.clip($0.situation), "agent": $0.agent, "topic": $0.topic ?? "",
                                 "status": $0.status.rawValue, "version": $0.version, "helpful": $0.helpful, "harmful": $0.harmful,
                                 "updated": PanelPages.time($0.updatedAt)] as [String: Any] },
            "filter": Dictionary(uniqueKeysWithValues: parameters.map { ($0.0, $0.1 ?? "") }),
            "statusOptions": PanelPages.options([("", "any"), ("active", "active"), ("proposed", "proposed"), ("retired", "retired")],
                                                selected: filter.status?.rawValue),
        ]
        if found.count == filter.limit, let last = found.last { data["next"] = "/admin/lessons" + PanelPages.query(parameters + [("cursor", last.id)]) }
        return PanelPages.page("lessons", title: "Lessons", data: data, context: context, notice: notice(request))
    }

    @Sendable func lesson(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await lessonPage(try context.id(), context: context, notice: notice(request))
    }

    func lessonPage(_ id: String, context: RasiRequestContext, notice: String? = nil, problem: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        guard let lesson = try await store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
        var data: [String: Any] = [
            "id": lesson.id, "status": lesson.status.rawValue, "polarity": lesson.polarity.rawValue, "version": lesson.version,
            "nextVersion": lesson.version + 1, "agent": lesson.agent, "topic": lesson.topic ?? "", "situation": lesson.situation,
            "did": lesson.did, "shouldHaveDone": lesson.shouldHaveDone, "why": lesson.why, "correctBehavior": lesson.correctBehavior,
            "confidence": String(format: "%.2f", lesson.confidence), "helpful": lesson.helpful, "harmful": lesson.harmful,
            "author": lesson.author, "created": PanelPages.time(lesson.createdAt), "updated": PanelPages.time(lesson.updatedAt),
            "canActivate": lesson.status != .active, "canRetire": lesson.status != .retired,
            "activateLabel": lesson.status == .proposed ? "Approve" : "Reactivate",
            "history": try await store.lessonHistory(id: id).reversed().map {
                ["version": $0.lesson.version, "status": $0.lesson.status.rawValue, "updated": PanelPages.time($0.changedAt),
                 "by": $0.changedBy, "situation": PanelPages.clip($0.lesson.situation, 80)] as [String: Any]
            },
            "injections": try await store.injections(lessonId: id, limit: 50).map {
                ["interaction": $0.interactionId, "at": PanelPages.time($0.at), "rank": $0.rank, "score": String(format: "%.3f", $0.score), "version": $0.version] as [String: Any]
            },
        ]
        if let source = lesson.sourceInteractionId { data["source"] = source }
        if let reason = lesson.reviewReason { data["reviewReason"] = reason }
        return PanelPages.page("lesson", title: PanelPages.clip(lesson.situation, 90), data: data, context: context,
                               status: status, notice: notice, problem: problem)
    }

    @Sendable func editLesson(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard let current = try await store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
        let form = context.form
        do {
            var confidence: Double?
            if let text = Self.nonEmpty(form["confidence"]) {
                guard let value = Double(text) else { throw RasiError.invalidField("confidence", "must be a number between 0 and 1") }
                confidence = value
            }
            let fields = LessonFields(topic: form["topic"], situation: form["situation"], did: form["did"], shouldHaveDone: form["should_have_done"],
                                      why: form["why"], correctBehavior: form["correct_behavior"], confidence: confidence)
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
        guard let current = try await store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
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
        let id = try context.id()
        guard let lesson = try await store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
        let impact = try await services.impact(of: lesson, limit: 500)
        let data: [String: Any] = [
            "id": id, "situation": lesson.situation, "checked": impact.checked, "matched": impact.matched, "injected": impact.injected,
            "share": String(format: "%.1f%%", impact.share * 100),
            "displaces": impact.displaces.sorted { $0.value > $1.value }.map { ["id": $0.key, "count": $0.value] as [String: Any] },
            "requests": impact.requests.map {
                ["interaction": $0.interactionId, "request": PanelPages.clip($0.request), "score": String(format: "%.3f", $0.score),
                 "injected": $0.injected ? "yes" : "no", "displaces": $0.displaces.joined(separator: ", ")] as [String: Any]
            },
        ]
        return PanelPages.page("impact", title: "Impact of a lesson", data: data, context: context)
    }

    @Sendable func resolveConflict(_ request: Request, context: RasiRequestContext) async throws -> Response {
        _ = try await services.resolveConflict(try context.id(), keep: context.form["keep"] ?? "", by: context.actor)
        return PanelAuth.redirect("/admin/review?done=resolved")
    }

    // MARK: Try retrieval

    @Sendable func retrieve(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let agent = query.string("agent") ?? "default"
        var data: [String: Any] = ["agent": agent, "query": query.string("q") ?? ""]
        if let text = query.string("q") {
            let selection = try await services.selectLessons(agent: try GatewayController.agentName(agent), query: text)
            data["ran"] = true
            data["hits"] = selection.lessons.map {
                ["id": $0.lesson.id, "situation": $0.lesson.situation, "status": $0.lesson.status.rawValue, "score": String(format: "%.3f", $0.score)] as [String: Any]
            }
            data["context"] = selection.context
            data["tokens"] = selection.tokens
        }
        return PanelPages.page("retrieve", title: "Try retrieval", data: data, context: context)
    }

    // MARK: Keys

    static func percent(_ rate: Double) -> String { String(format: "%.1f%%", rate * 100) }

    static func splitRows(_ report: EvaluationReport) -> [[String: Any]] {
        report.splits.sorted { $0.key < $1.key }.map { name, split in
            ["split": name, "tasks": split.tasks, "before": percent(split.passRateBefore), "after": percent(split.passRateAfter),
             "fixed": split.fixed.count, "broken": split.broken.count,
             "tokensBefore": String(format: "%.0f", split.injectedTokensPerRequestBefore), "tokensAfter": String(format: "%.0f", split.injectedTokensPerRequestAfter),
             "lessonsPerRequest": String(format: "%.2f", split.lessonsPerRequestAfter)] as [String: Any]
        }
    }

    @Sendable func evaluations(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let reports = try await store.listEvaluations(limit: 100)
        let rows = reports.map { report -> [String: Any] in
            ["id": report.id, "suite": report.suite, "model": report.model, "created": PanelPages.time(report.createdAt),
             "tasks": report.results.count, "lessons": report.lessonsCreated,
             "splits": Self.splitRows(report).map { "\($0["split"]!): \($0["before"]!) → \($0["after"]!)" }.joined(separator: "; ")]
        }
        return PanelPages.page("evaluations", title: "Evaluations", data: ["rows": rows], context: context)
    }

    @Sendable func evaluation(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard let report = try await store.evaluation(id: id) else { throw RasiError.notFound("evaluation \(id)") }
        func tools(_ names: [String]) -> String { names.isEmpty ? "no tool" : names.joined(separator: ", ") }
        func changed(_ ids: [String]) -> [[String: Any]] {
            ids.prefix(200).compactMap { id in report.results.first { $0.id == id } }.map { result in
                ["id": result.id, "request": PanelPages.clip(result.request), "expected": result.expectedTools.map(tools) ?? "rubric",
                 "before": result.attempts.first.map { tools($0.tools) } ?? "",
                 "after": result.attempts.last.map { tools($0.tools) } ?? "",
                 "interaction": result.attempts.last?.interactionId ?? ""] as [String: Any]
            }
        }
        let data: [String: Any] = [
            "id": report.id, "suite": report.suite, "model": report.model, "endpoint": report.endpoint, "created": PanelPages.time(report.createdAt),
            "tasks": report.results.count, "lessons": report.lessonsCreated, "chart": EvaluationChart.svg(report),
            "splits": Self.splitRows(report),
            "fixed": changed(report.splits.values.flatMap(\.fixed)), "broken": changed(report.splits.values.flatMap(\.broken)),
        ]
        return PanelPages.page("evaluation", title: "Evaluation: \(report.suite)", data: data, context: context)
    }

    @Sendable func keys(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await keysPage(context: context, notice: notice(request))
    }

    func keysPage(context: RasiRequestContext, notice: String? = nil, secret: String? = nil) async throws -> Response {
        var data: [String: Any] = ["rows": try await store.listKeys().map {
            ["id": $0.id, "name": $0.name, "role": $0.role.rawValue, "prefix": $0.prefix, "created": PanelPages.time($0.createdAt),
             "state": $0.revokedAt == nil ? "active" : "revoked \(PanelPages.time($0.revokedAt))", "active": $0.revokedAt == nil] as [String: Any]
        }]
        if let secret { data["secret"] = secret }
        return PanelPages.page("keys", title: "Keys", data: data, context: context, notice: notice)
    }

    @Sendable func createKey(_ request: Request, context: RasiRequestContext) async throws -> Response {
        guard let role = context.form["role"].flatMap(Role.init) else { throw RasiError.invalidField("role", "must be agent, reviewer or admin") }
        guard let name = Self.nonEmpty(context.form["name"]), name.count <= LessonFields.maxNameLength else {
            throw RasiError.invalidField("name", "must be 1 to \(LessonFields.maxNameLength) characters")
        }
        let (key, secret) = try await KeyIssuer.create(role: role, name: name, by: context.actor, in: store)
        return try await keysPage(context: context, notice: "Created \(key.role.rawValue) key \(key.id). Copy the secret now: it is not shown again.", secret: secret)
    }

    @Sendable func revokeKey(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard try await KeyIssuer.revoke(id: id, by: context.actor, in: store) else { throw RasiError.notFound("key \(id)") }
        return PanelAuth.redirect("/admin/keys?done=revoked")
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }
}
