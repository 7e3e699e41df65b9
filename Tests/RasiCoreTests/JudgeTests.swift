import Foundation
import RasiCore
import Testing

/// A chat model that answers from a list, in order, and keeps what it was sent.
final class ListedReplies: ChatModel, @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [String]
    private(set) var received: [[JSONValue]] = []

    init(_ replies: [String]) {
        self.replies = replies
    }

    func complete(model: String, messages: [JSONValue]) async throws -> ChatCompletion {
        try lock.withLock {
            received.append(messages)
            guard !replies.isEmpty else { throw RasiError.upstream(status: 502, message: "no reply left") }
            return ChatCompletion(content: replies.removeFirst(), model: model, usage: TokenUsage(prompt: 100, completion: 20))
        }
    }
}

@Suite struct JudgeVerdictTests {
    let rubric = JudgeRubric()

    static let problem = """
        {"verdict": "problem", "summary": "Missed the minerals.",
         "rubric": [{"item": "tools", "score": 5, "comment": "No tool needed."},
                    {"item": "reasoning", "score": 3, "comment": "Narrow."},
                    {"item": "need", "score": 2, "comment": "Energy needs minerals."}],
         "lesson": {"situation": "questions about gut health and energy", "did": "talked about fibre only",
                    "should_have_done": "consider minerals", "why": "fatigue often comes from low iron or magnesium",
                    "correct_behavior": "mention magnesium and iron", "topic": "nutrition", "confidence": 0.9}}
        """

    @Test func aValidVerdictParsesWithItsLesson() throws {
        let verdict = try JudgeVerdict.parse(Self.problem, rubric: rubric)
        #expect(verdict.verdict == .problem)
        #expect(verdict.rubric.map(\.item) == ["tools", "reasoning", "need"])
        #expect(verdict.lesson?.correctBehavior == "mention magnesium and iron")
        #expect(verdict.lesson?.polarity == .negative)
    }

    @Test func aVerdictInACodeFenceParses() throws {
        #expect(try JudgeVerdict.parse("Here it is:\n```json\n\(Self.problem)\n```", rubric: rubric).verdict == .problem)
    }

    @Test(arguments: [
        ("not json at all", "not a JSON object"),
        (#"{"verdict": "maybe", "rubric": []}"#, "`verdict`"),
        (#"{"verdict": "ok", "rubric": [{"item": "tools", "score": 5, "comment": "fine"}]}"#, "missing the items reasoning, need"),
        (#"{"verdict": "ok", "rubric": [{"item": "tools", "score": 9, "comment": "x"}]}"#, "`rubric[0].score`"),
        (
            """
            {"verdict": "problem", "rubric": [{"item": "tools", "score": 1, "comment": "x"}, \
            {"item": "reasoning", "score": 1, "comment": "x"}, {"item": "need", "score": 1, "comment": "x"}]}
            """,
            "needs a `lesson`"
        ),
        (
            """
            {"verdict": "problem", "rubric": [{"item": "tools", "score": 1, "comment": "x"}, \
            {"item": "reasoning", "score": 1, "comment": "x"}, {"item": "need", "score": 1, "comment": "x"}], \
            "lesson": {"situation": "s", "did": "d", "should_have_done": "", "why": "w", "correct_behavior": "c"}}
            """,
            "`lesson.should_have_done`"
        )
    ])
    func invalidOutputIsRefusedNamingTheField(_ output: String, _ named: String) {
        #expect {
            try JudgeVerdict.parse(output, rubric: rubric)
        } throws: { error in
            (error as? JudgeOutputError)?.message.contains(named) == true
        }
    }

    @Test func configuredRubricItemsAreRequiredToo() throws {
        let extended = JudgeRubric(extra: try JudgeRubric.parseItems("# ours\npolicy: Did the agent follow the refund policy?\n"))
        #expect(extended.items.map(\.name) == ["tools", "reasoning", "need", "policy"])
        #expect(throws: JudgeOutputError.self) { try JudgeVerdict.parse(Self.problem, rubric: extended) }
        #expect(
            JudgePrompt.messages(for: Interaction(agent: "a", request: "q"), rubric: extended).first?["content"]?.stringValue?
                .contains("policy: Did the agent follow the refund policy?") == true)
    }
}

@Suite struct JudgeRunTests {
    let interaction = Interaction(
        agent: "nutrition", request: "I feel tired and bloated, what should I eat?",
        messages: [
            ["role": "system", "content": "You are a nutrition assistant."],
            ["role": "user", "content": "I feel tired and bloated, what should I eat?"]
        ],
        steps: [
            Step(kind: .message, name: "user", content: "I feel tired and bloated, what should I eat?"),
            Step(kind: .toolCall, name: "search_foods", arguments: "{\"q\":\"fibre\"}", callId: "c1"),
            Step(kind: .toolResult, name: "search_foods", content: "oats, lentils", callId: "c1")
        ],
        response: "Eat more fibre.", model: "agent-model",
        feedback: [Feedback(id: "f", interactionId: "i", rating: .down, comment: "ignored my fatigue", source: .user, signal: nil, createdAt: Date())]
    )

    @Test func theJudgeSeesTheWholeTraceAndTheFeedback() {
        let trace = JudgePrompt.trace(interaction)
        for part in [
            "You are a nutrition assistant.", "[tool call] search_foods({\"q\":\"fibre\"})", "[tool result of search_foods] oats, lentils",
            "Eat more fibre.", "thumbs down", "ignored my fatigue"
        ] {
            #expect(trace.contains(part), "trace lacks \(part)")
        }
    }

    @Test func invalidOutputIsRetriedWithTheErrorShownThenAccepted() async {
        let model = ListedReplies(["I think it was fine.", JudgeVerdictTests.problem])
        let run = await Judge(model: model, attempts: 2).run(interaction, modelName: "judge-model")
        #expect(run.status == .ok)
        #expect(run.outputs.count == 2)
        #expect(run.tokens == TokenUsage(prompt: 200, completion: 40))
        let retry = model.received[1].last?["content"]?.stringValue ?? ""
        #expect(retry.contains("not valid") && retry.contains("not a JSON object"))
    }

    @Test func outputInvalidOnEveryAttemptIsAJudgeFailureWithNoVerdict() async {
        let run = await Judge(model: ListedReplies(["nope", "still nope"]), attempts: 2).run(interaction, modelName: "judge-model")
        #expect(run.status == .invalid)
        #expect(run.verdict == nil)
        #expect(run.outputs == ["nope", "still nope"])
        #expect(run.error?.contains("2 attempts") == true)
    }

    @Test func anUnreachableModelIsAnErrorRun() async {
        let run = await Judge(model: ListedReplies([]), attempts: 2).run(interaction, modelName: "judge-model")
        #expect(run.status == .error)
        #expect(run.outputs.isEmpty)
    }

    @Test func aProposalIsProposedUnlessConfidentEnoughForAutoApproval() throws {
        let lesson = try #require(try JudgeVerdict.parse(JudgeVerdictTests.problem, rubric: JudgeRubric()).lesson)
        #expect(lesson.fields(for: interaction, autoApproveAt: nil).status == .proposed)
        #expect(lesson.fields(for: interaction, autoApproveAt: 0.95).status == .proposed)
        #expect(lesson.fields(for: interaction, autoApproveAt: 0.85).status == .active)
        #expect(lesson.fields(for: interaction, autoApproveAt: nil).sourceInteractionId == interaction.id)
    }
}
