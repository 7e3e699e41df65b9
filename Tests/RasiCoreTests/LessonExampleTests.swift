import Foundation
import RasiCore
import Testing

/// A lesson's examples and counter-examples: how they are read, checked and redacted, how they
/// score a request, and how the judge's model's proposals are read.
@Suite struct LessonExampleTests {
    func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try RasiJSON.decoder().decode(T.self, from: Data(json.utf8))
    }

    /// `validate()`'s error, or nil when the fields pass.
    func validationError(_ fields: LessonFields) -> RasiError? {
        do {
            try fields.validate()
            return nil
        } catch {
            return error as? RasiError
        }
    }

    func examples(_ texts: [String]) -> [LessonExample] { texts.map { LessonExample($0, source: .reviewer) } }

    // MARK: - Reading examples

    @Test func aBareStringIsAReviewersExample() throws {
        let example = try decode(LessonExample.self, #""cancel my plan""#)
        #expect(example == LessonExample("cancel my plan", source: .reviewer))
    }

    @Test func anObjectKeepsItsSourceAndDefaultsToTheReviewer() throws {
        let listed = try decode([LessonExample].self, #"[{"text": "stop billing me", "source": "judge"}, {"text": "end it"}, "quit"]"#)
        #expect(
            listed == [
                LessonExample("stop billing me", source: .judge), LessonExample("end it", source: .reviewer), LessonExample("quit", source: .reviewer)
            ])
    }

    @Test(arguments: [#"{"source": "judge"}"#, #"{"text": "x", "source": "robot"}"#, "42", #"{"text": 7}"#])
    func anExampleWithoutTextOrWithAnUnknownSourceIsRefused(_ json: String) {
        #expect(throws: DecodingError.self) { try decode(LessonExample.self, json) }
    }

    @Test func anExampleIsWrittenAsAnObjectAndReadBackTheSame() throws {
        let written = [LessonExample("my card was charged twice", source: .outcome), LessonExample("refund", source: .interaction)]
        let json = RasiJSON.string(written)
        #expect(json.contains(#""source":"outcome""#) && json.contains(#""text":"my card was charged twice""#))
        #expect(try decode([LessonExample].self, json) == written)
    }

    @Test func aLessonWrittenBeforeExamplesReadsWithNone() throws {
        let json = """
            {"id": "les_old", "agent": "default", "situation": "s", "did": "d", "should_have_done": "h", "why": "w",
             "correct_behavior": "c", "polarity": "negative", "status": "active", "confidence": 0.8, "author": "t",
             "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z", "version": 1}
            """
        let lesson = try decode(Lesson.self, json)
        #expect(lesson.examples.isEmpty && lesson.counterExamples.isEmpty)
    }

    @Test func theFieldsReadCounterExamplesUnderTheirSnakeCaseName() throws {
        let fields = try decode(LessonFields.self, #"{"examples": ["a", {"text": "b", "source": "judge"}], "counter_examples": ["c"]}"#)
        #expect(fields.examples == [LessonExample("a", source: .reviewer), LessonExample("b", source: .judge)])
        #expect(fields.counterExamples == [LessonExample("c", source: .reviewer)])
        #expect(try decode(LessonFields.self, #"{"situation": "s"}"#).counterExamples == nil)
    }

    // MARK: - Validation

    @Test func anEmptyExampleIsRefusedNamingItsPlace() {
        let fields = LessonFields(examples: examples(["one", "two", "  \n"]))
        #expect(validationError(fields) == .invalidField("examples[2]", "must not be empty"))
        let counters = LessonFields(examples: examples(["fine"]), counterExamples: examples([""]))
        #expect(validationError(counters) == .invalidField("counter_examples[0]", "must not be empty"))
    }

    @Test func anOverLongExampleIsRefusedNamingItsPlaceAndLength() {
        let longest = String(repeating: "a", count: LessonExample.maxLength)
        #expect(validationError(LessonFields(examples: examples(["ok", longest]))) == nil)
        let tooLong = LessonFields(counterExamples: examples(["ok", longest + "b"]))
        #expect(validationError(tooLong) == .invalidField("counter_examples[1]", "must be at most 500 characters (got 501)"))
    }

    @Test func tooManyExamplesAreRefused() {
        let most = examples((0..<LessonExample.maxCount).map { "way \($0)" })
        #expect(validationError(LessonFields(examples: most, counterExamples: most)) == nil)
        let tooMany = examples((0...LessonExample.maxCount).map { "way \($0)" })
        #expect(validationError(LessonFields(examples: tooMany)) == .invalidField("examples", "must hold at most 50 requests (got 51)"))
        #expect(
            validationError(LessonFields(counterExamples: tooMany)) == .invalidField("counter_examples", "must hold at most 50 requests (got 51)"))
    }

    // MARK: - Making a lesson

    @Test func repeatedExamplesAreKeptOnceEachTrimmed() {
        let fields = LessonFields(
            situation: "cancel a subscription", shouldHaveDone: "s", correctBehavior: "c",
            examples: [LessonExample(" Cancel my plan ", source: .judge), LessonExample("cancel MY plan", source: .reviewer)],
            counterExamples: examples(["cancel my order", "Cancel my order"]))
        let lesson = Lesson.create(fields: fields, author: "t")
        #expect(lesson.examples == [LessonExample("Cancel my plan", source: .judge)])
        #expect(lesson.counterExamples == examples(["cancel my order"]))
        #expect(lesson.embeddedTexts == ["cancel a subscription", "Cancel my plan", "cancel my order"])

        // An edit that names only the counter-examples replaces those and keeps the examples.
        let next = lesson.applying(LessonFields(counterExamples: examples(["cancel an appointment"])))
        #expect(next.examples == lesson.examples && next.counterExamples == examples(["cancel an appointment"]))
        #expect(next.version == 2)
    }

    @Test func aLessonsVectorsSplitInTheOrderOfItsTexts() {
        let embedding = LessonEmbedding(model: "m", vectors: [[0], [1], [2], [3]], examples: 2)
        #expect(embedding.vector == [0] && embedding.examples == [[1], [2]] && embedding.counterExamples == [[3]])
        let situationOnly = LessonEmbedding(model: "m", vectors: [[0]], examples: 0)
        #expect(situationOnly.examples.isEmpty && situationOnly.counterExamples.isEmpty)
    }

    // MARK: - Redaction

    @Test func redactionReachesExamplesWithTheRecordsPlaceholders() throws {
        let fields = LessonFields(
            situation: "ann@example.com asks for a refund", shouldHaveDone: "s",
            examples: [LessonExample("refund ann@example.com now", source: .interaction), LessonExample("no personal data", source: .judge)],
            counterExamples: [LessonExample("bob@example.com asks about shipping", source: .outcome)])
        let redacted = fields.redacted(by: try PIIRedactor())
        #expect(redacted.situation == "[EMAIL_1] asks for a refund")
        #expect(redacted.shouldHaveDone == "s" && redacted.did == nil)
        #expect(
            redacted.examples == [LessonExample("refund [EMAIL_1] now", source: .interaction), LessonExample("no personal data", source: .judge)]
        )
        #expect(redacted.counterExamples == [LessonExample("[EMAIL_2] asks about shipping", source: .outcome)])
    }

    @Test func anExampleRedactionLengthenedStillLetsTheLessonBeEdited() throws {
        // Given a lesson whose example, at the limit, grew past it when its address became a placeholder,
        let long = String(repeating: "a", count: LessonExample.maxLength - 7) + " a@b.io"
        let fields = LessonFields(situation: "s", shouldHaveDone: "s", correctBehavior: "c", examples: [LessonExample(long, source: .interaction)])
        try fields.validate()
        let lesson = Lesson.create(fields: fields.redacted(by: try PIIRedactor()), author: "t")
        #expect(lesson.examples[0].text.count > LessonExample.maxLength)
        // an edit that sends the stored example back with a new one is accepted against the stored lesson,
        let edit = LessonFields(examples: lesson.examples + [LessonExample("another way", source: .reviewer)])
        try edit.validate(against: lesson)
        // while the same over-long text is refused as new input.
        #expect(throws: RasiError.self) { try edit.validate() }
        let tooLong = LessonFields(examples: lesson.examples + [LessonExample(String(repeating: "b", count: 501), source: .reviewer)])
        #expect(throws: RasiError.invalidField("examples[1]", "must be at most 500 characters (got 501)")) { try tooLong.validate(against: lesson) }
    }

    @Test func redactionOfCounterExamplesAloneKeepsTheExamplesUnset() throws {
        let fields = LessonFields(counterExamples: examples(["write to carol@example.com", "plain"]))
        let redacted = fields.redacted(by: try PIIRedactor())
        #expect(redacted.examples == nil && redacted.situation == nil)
        #expect(redacted.counterExamples == examples(["write to [EMAIL_1]", "plain"]))
    }

    // MARK: - Scoring

    @Test func withoutExamplesTheSituationScores() throws {
        let match = try #require(ExampleMatch.score(situation: 0.7, examples: [], counterExamples: []))
        #expect(match.score == 0.7 && match.example == nil)
    }

    @Test func theBestExampleScoresWhenItIsCloserThanTheSituation() throws {
        let match = try #require(ExampleMatch.score(situation: 0.4, examples: [0.5, 0.9, 0.6], counterExamples: [0.3]))
        #expect(match.score == 0.9 && match.example == 1)
    }

    @Test func anExampleOnlyAsCloseAsTheSituationLeavesTheSituation() throws {
        let match = try #require(ExampleMatch.score(situation: 0.8, examples: [0.8, 0.2], counterExamples: []))
        #expect(match.score == 0.8 && match.example == nil)
    }

    @Test func aCounterExampleCloserThanTheBestMatchBlocksTheLesson() {
        #expect(ExampleMatch.score(situation: 0.4, examples: [0.7], counterExamples: [0.2, 0.75]) == nil)
        #expect(ExampleMatch.score(situation: 0.6, examples: [], counterExamples: [0.61]) == nil)
    }

    @Test func aCounterExampleNoCloserThanTheBestMatchDoesNotBlock() throws {
        // Closer than the situation, but not than the best example.
        let between = try #require(ExampleMatch.score(situation: 0.4, examples: [0.9], counterExamples: [0.6]))
        #expect(between.score == 0.9 && between.example == 0)
        // As close as the best match: a tie keeps the lesson.
        let tie = try #require(ExampleMatch.score(situation: 0.5, examples: [0.7], counterExamples: [0.7]))
        #expect(tie.score == 0.7 && tie.example == 0)
    }

    // MARK: - The judge's model's proposals

    @Test func proposalsAreReadTrimmedAndCappedAtTheirCounts() throws {
        let reply = """
            {"examples": [" stop my plan ", "end my subscription", "quit the service"],
             "counter_examples": ["cancel my order", "cancel a meeting", "unsubscribe from emails", "delete my account"]}
            """
        let parsed = try LessonEditorPrompt.parseExamples(reply, count: 2)
        #expect(parsed.examples == ["stop my plan", "end my subscription"])
        #expect(parsed.counterExamples == ["cancel my order", "cancel a meeting", "unsubscribe from emails"])
    }

    @Test func proposalsInACodeFenceOrAmidProseAreRead() throws {
        let fenced = "Here they are:\n```json\n{\"examples\": [\"stop my plan\"]}\n```\nHope this helps."
        let parsed = try LessonEditorPrompt.parseExamples(fenced, count: 5)
        #expect(parsed.examples == ["stop my plan"] && parsed.counterExamples.isEmpty)
        let bare = try LessonEditorPrompt.parseExamples(#"{"examples": ["a"], "counter_examples": []}"#, count: 5)
        #expect(bare.examples == ["a"] && bare.counterExamples.isEmpty)
    }

    @Test(arguments: [
        ("I could not think of any.", "the reply holds no JSON object"),
        (#"{"counter_examples": ["x"]}"#, "`examples` is missing"),
        (#"{"examples": "stop my plan"}"#, "`examples` must be a list of strings"),
        (#"{"examples": []}"#, "`examples` is empty"),
        (#"{"examples": ["ok", 3]}"#, "`examples[1]` must be a non-empty string"),
        (#"{"examples": ["ok", "   "]}"#, "`examples[1]` must be a non-empty string"),
        (#"{"examples": ["\#(String(repeating: "x", count: 501))"]}"#, "`examples[0]` must be at most 500 characters"),
        (#"{"examples": ["ok"], "counter_examples": {"a": 1}}"#, "`counter_examples` must be a list of strings"),
        (#"{"examples": ["ok"], "counter_examples": [null]}"#, "`counter_examples[0]` must be a non-empty string")
    ])
    func badProposalsAreRefusedSayingWhatWasWrong(_ reply: String, _ message: String) {
        #expect {
            try LessonEditorPrompt.parseExamples(reply, count: 5)
        } throws: { error in
            (error as? JudgeOutputError)?.message == message
        }
    }

    @Test func theProposalPromptAsksForTheCountAndListsWhatTheLessonMatches() throws {
        let lesson = Lesson.create(
            fields: LessonFields(
                situation: "cancel a subscription", shouldHaveDone: "s", correctBehavior: "c", examples: examples(["stop my plan"])),
            author: "t")
        let messages = LessonEditorPrompt.examples(lesson, count: 4)
        let system = try #require(messages.first?["content"]?.stringValue)
        let user = try #require(messages.last?["content"]?.stringValue)
        #expect(system.contains("Write 4 other ways") && system.contains(#""counter_examples""#))
        #expect(user.contains("- cancel a subscription\n- stop my plan"))
    }
}
