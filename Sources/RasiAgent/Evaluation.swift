import Foundation
import RasiCore

/// `rasi eval`: the learning curve of the loop on a task suite. Every task is run (the
/// baseline); the failures of the `learn` split are checked (by expected tools, or by the judge
/// against the task's rubric) and turned into lessons; then every task is run again. With
/// several rounds the lessons go live in equal batches, one batch before each further run.
public struct Evaluation: Sendable {
    public var suite: EvaluationSuite
    public var suiteName: String
    public var model: String
    /// Where the model is, for the report.
    public var endpoint: String
    public let chatModel: any ChatModel
    /// Checks rubric tasks and writes their lessons.
    public let judge: Judge
    public var judgeModelName: String
    public let rasi: any RasiConnection
    public var rounds: Int
    public var concurrency: Int
    /// Told each round's pass rates as they are known.
    public var progress: @Sendable (String) -> Void

    public init(
        suite: EvaluationSuite, suiteName: String, model: String, endpoint: String, chatModel: any ChatModel, judge: Judge,
        judgeModelName: String, rasi: any RasiConnection, rounds: Int = 1, concurrency: Int = 4,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.suite = suite
        self.suiteName = suiteName
        self.model = model
        self.endpoint = endpoint
        self.chatModel = chatModel
        self.judge = judge
        self.judgeModelName = judgeModelName
        self.rasi = rasi
        self.rounds = max(1, rounds)
        self.concurrency = max(1, concurrency)
        self.progress = progress
    }

    /// What a task's check found: the attempt, and the judge's proposed lesson for a rubric failure.
    struct Checked: Sendable {
        var attempt: EvaluationAttempt
        var interaction: Interaction?
        var proposed: ProposedLesson?
    }

    /// Runs the evaluation, keeps the report through the connection, and returns it.
    public func run() async throws -> EvaluationReport {
        let agents = Dictionary(uniqueKeysWithValues: Set(suite.tasks.map(\.agent)).map { ($0, agent(named: $0)) })
        var attempts: [[EvaluationAttempt]] = []
        let baseline = try await runAll(agents)
        attempts.append(baseline.map(\.attempt))
        report(round: 0, lessons: 0, attempts.last!)

        let failures = suite.tasks.indices.filter { suite.tasks[$0].split == .learn && !baseline[$0].attempt.passed }
        let batchSize = max(1, (failures.count + rounds - 1) / rounds)
        var lessonIds: [String] = []
        var live = [0]
        for round in 1...rounds {
            let batch = failures.dropFirst((round - 1) * batchSize).prefix(batchSize)
            for index in batch {
                guard let fields = lessonFields(for: suite.tasks[index], baseline[index]) else { continue }
                lessonIds.append(try await rasi.createLesson(fields).id)
            }
            live.append(lessonIds.count)
            attempts.append(try await runAll(agents).map(\.attempt))
            report(round: round, lessons: lessonIds.count, attempts.last!)
        }

        let results = suite.tasks.enumerated().map { index, task in
            EvaluationReport.TaskResult(
                id: task.id, split: task.split, request: task.request, expectedTools: task.expectedTools,
                attempts: attempts.map { $0[index] })
        }
        let report = EvaluationReport(suite: suiteName, model: model, endpoint: endpoint, lessonIds: lessonIds, lessonsLive: live, results: results)
        try await rasi.saveEvaluation(report)
        return report
    }

    func report(round: Int, lessons: Int, _ attempts: [EvaluationAttempt]) {
        let rates = EvaluationSuite.Split.allCases.compactMap { split -> String? in
            let mine = suite.tasks.indices.filter { suite.tasks[$0].split == split }.map { attempts[$0] }
            guard !mine.isEmpty else { return nil }
            return String(format: "%@ %.1f%%", split.rawValue, EvaluationReport.passRate(mine) * 100)
        }
        progress("\(round == 0 ? "baseline" : "round \(round)/\(rounds)"): \(lessons) lessons live; pass rate \(rates.joined(separator: ", "))")
    }

    /// The suite's agent: its instructions, and its tools as stubs that acknowledge the call
    /// (the checker looks at which tools were called, not at what they did).
    func agent(named name: String) -> Agent {
        let tools: [any Tool] = suite.tools(of: name).map { spec in
            DynamicTool(name: spec.name, description: spec.description, parameters: spec.parameters ?? JSONSchema.object()) { _ in
                ToolOutput(#"{"ok": true, "tool": "\#(spec.name)"}"#)
            }
        }
        return Agent(name: name, model: model, instructions: suite.instructions(of: name), tools: tools, chatModel: chatModel, rasi: rasi)
    }

    /// Every task, `concurrency` at a time, results in suite order.
    func runAll(_ agents: [String: Agent]) async throws -> [Checked] {
        var results = [Checked?](repeating: nil, count: suite.tasks.count)
        try await withThrowingTaskGroup(of: (Int, Checked).self) { group in
            var next = 0
            func start() {
                guard next < suite.tasks.count else { return }
                let index = next
                let task = suite.tasks[index]
                let agent = agents[task.agent]!
                group.addTask { (index, try await check(task, agent: agent)) }
                next += 1
            }
            for _ in 0..<concurrency { start() }
            while let (index, checked) = try await group.next() {
                results[index] = checked
                start()
            }
        }
        return results.map { $0! }
    }

    /// Runs one task and checks it: expected tools by the deterministic checker, a rubric by the judge.
    func check(_ task: EvaluationSuite.Task, agent: Agent) async throws -> Checked {
        let run: AgentRun
        do {
            run = try await agent.run(task.request)
        } catch let failure as AgentFailure {
            return Checked(attempt: EvaluationAttempt(passed: false, interactionId: failure.interactionId, reason: failure.message))
        }
        var attempt = EvaluationAttempt(
            passed: true, tools: run.toolCalls, answer: run.answer, interactionId: run.interactionId,
            lessons: run.lessons.lessons.map(\.lesson.id), injectedTokens: run.lessons.tokens)
        var reasons: [String] = []
        if let expected = task.expectedTools, let mismatch = ToolCheck.mismatch(called: run.toolCalls, expected: expected) {
            reasons.append(mismatch)
        }
        var proposed: ProposedLesson?
        if let rubric = task.rubric {
            var judge = self.judge
            judge.rubric = JudgeRubric(
                extra: judge.rubric.items.filter { !JudgeRubric.defaultItems.contains($0) } + [RubricItem(name: "task", question: rubric)])
            let verdict = await judge.run(run.interaction, modelName: judgeModelName)
            switch (verdict.status, verdict.verdict) {
            case (.ok, let found?) where found.verdict == .ok:
                break
            case (.ok, let found?):
                reasons.append("the judge: \(found.summary)")
                proposed = found.lesson
            default:
                reasons.append("the judge failed: \(verdict.error ?? verdict.status.rawValue)")
            }
        }
        attempt.passed = reasons.isEmpty
        attempt.reason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        return Checked(attempt: attempt, interaction: run.interaction, proposed: proposed)
    }

    /// The lesson a learn-split failure becomes: the judge's for a rubric task, the checker's
    /// (what was called, what should have been) for a task with expected tools.
    func lessonFields(for task: EvaluationSuite.Task, _ checked: Checked) -> LessonFields? {
        if let proposed = checked.proposed, let interaction = checked.interaction {
            var fields = proposed.fields(for: interaction, autoApproveAt: 0)
            fields.status = .active
            return fields
        }
        guard let expected = task.expectedTools else { return nil }
        let tools = suite.tools(of: task.agent)
        func named(_ name: String) -> String {
            "`\(name)` (\(tools.first { $0.name == name }?.description ?? name))"
        }
        let did = checked.interaction?.didSummary ?? checked.attempt.reason ?? "Failed."
        let source = checked.attempt.interactionId
        if expected.isEmpty {
            return LessonFields(
                agent: task.agent, situation: task.request, did: did, shouldHaveDone: "Answer without calling any tool",
                why: "None of the tools fits this request; calling one acts on something the user did not ask for",
                correctBehavior: "For requests like this, do not call a tool: answer directly, or say it is out of scope",
                polarity: .negative, status: .active, confidence: 0.9, sourceInteractionId: source)
        }
        let list = expected.map(named).joined(separator: " and ")
        return LessonFields(
            agent: task.agent, situation: task.request, did: did, shouldHaveDone: "Call \(list)",
            why: "This request asks for what \(list) does",
            correctBehavior: "For requests like this, call \(list)",
            polarity: .negative, status: .active, confidence: 0.9, sourceInteractionId: source)
    }
}
