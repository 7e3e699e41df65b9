import Foundation
import RasiCore
import Testing

@Suite struct SignalPolicyTests {
    let policy = SignalPolicy()
    let now = Date()

    @Test(arguments: ["thanks", "Thank you!", "ok", "ok great, got it", "perfect, that works", "cheers"])
    func anAcknowledgementIsNotARephrase(_ text: String) {
        #expect(policy.isAcknowledgement(text))
        let earlier = Interaction(agent: "a", request: "how do I reset my password", createdAt: now.addingTimeInterval(-30))
        #expect(!policy.isRephrase(of: earlier, by: text, similarity: 0.99, lexical: false, at: now))
    }

    @Test(arguments: ["how do I reset my password", "no, I mean the password for the app", "thanks but how do I reset it"])
    func aQuestionIsNotAnAcknowledgement(_ text: String) {
        #expect(!policy.isAcknowledgement(text))
    }

    @Test func aSimilarRequestWithinTheWindowIsARephraseAndOutsideItIsNot() {
        let earlier = Interaction(agent: "a", request: "how do I reset my password", createdAt: now.addingTimeInterval(-30))
        #expect(policy.isRephrase(of: earlier, by: "what are the steps to change my password", similarity: 0.8, lexical: false, at: now))
        #expect(!policy.isRephrase(of: earlier, by: "what are the steps to change my password", similarity: 0.3, lexical: false, at: now))
        let stale = Interaction(agent: "a", request: "how do I reset my password", createdAt: now.addingTimeInterval(-policy.rephraseWindow - 1))
        #expect(!policy.isRephrase(of: stale, by: "what are the steps to change my password", similarity: 0.8, lexical: false, at: now))
    }

    @Test func askingForAHumanIsAnEscalationButMentioningHumansIsNot() {
        #expect(policy.escalationPhrase(in: "This is useless. Can I talk to a human please?") == "talk to a human")
        #expect(policy.escalationPhrase(in: "Let me SPEAK TO A REAL PERSON") == "speak to a real person")
        #expect(policy.escalationPhrase(in: "is this food safe for humans") == nil)
        #expect(policy.escalationPhrase(in: "are you an actual live person") == nil)
        #expect(policy.escalationPhrase(in: "who is your supervisor") == nil)
        #expect(policy.escalationPhrase(in: "who manages my account") == nil)
    }

    @Test func aHandoffToolCallIsFoundInTheSteps() {
        let steps = [Step(kind: .toolCall, name: "lookup_order", arguments: "{}"), Step(kind: .toolCall, name: "escalate_to_human", arguments: "{}")]
        #expect(policy.handoffCall(in: steps)?.name == "escalate_to_human")
        #expect(policy.handoffCall(in: [steps[0]]) == nil)
    }

    @Test func aQuietTurnThatAskedTheUserOrFailedWasAbandoned() {
        let old = now.addingTimeInterval(-policy.abandonAfter - 1)
        let asked = Interaction(agent: "a", request: "book a table", response: "For how many people?", createdAt: old)
        let failed = Interaction(agent: "a", request: "book a table", error: "upstream returned 500", createdAt: old)
        let answered = Interaction(agent: "a", request: "book a table", response: "Booked for 7pm.", createdAt: old)
        #expect(policy.wasAbandoned(asked, followedByAnotherTurn: false, at: now))
        #expect(policy.wasAbandoned(failed, followedByAnotherTurn: false, at: now))
        #expect(!policy.wasAbandoned(answered, followedByAnotherTurn: false, at: now))
        #expect(!policy.wasAbandoned(asked, followedByAnotherTurn: true, at: now))
        let recent = Interaction(agent: "a", request: "book a table", response: "For how many people?", createdAt: now.addingTimeInterval(-60))
        #expect(!policy.wasAbandoned(recent, followedByAnotherTurn: false, at: now))
    }
}

@Suite struct FlagRuleTests {
    let now = Date()

    func feedback(_ rating: Rating? = nil, signal: Signal? = nil, at offset: TimeInterval = 0) -> Feedback {
        Feedback(
            id: Identifier.make("fb"), interactionId: "i", rating: rating, comment: nil, source: signal == nil ? .user : .implicit,
            signal: signal, createdAt: now.addingTimeInterval(offset))
    }

    @Test func eachDefaultRuleFlagsWhatItNames() {
        let rules = FlagRules()
        var interaction = Interaction(agent: "a", request: "q")
        #expect(rules.evaluate(interaction).isEmpty)
        interaction.feedback = [feedback(.down)]
        #expect(rules.evaluate(interaction).map(\.rule) == [.thumbsDown])
        interaction.feedback = [feedback(signal: .escalate)]
        #expect(rules.evaluate(interaction).map(\.rule) == [.escalate])
        interaction.feedback = [feedback(signal: .rephrase)]
        #expect(rules.evaluate(interaction).map(\.rule) == [.rephrase])
        interaction.feedback = []
        interaction.error = "upstream returned 500"
        #expect(rules.evaluate(interaction).map(\.rule) == [.upstreamError])
        interaction.error = nil
        interaction.steps = [
            Step(kind: .toolCall, name: "lookup", arguments: "{}", callId: "c1"),
            Step(kind: .toolResult, content: "{\"error\": \"order not found\"}", callId: "c1")
        ]
        let flags = rules.evaluate(interaction)
        #expect(flags.map(\.rule) == [.toolFailed])
        #expect(flags.first?.reason.contains("lookup") == true)
    }

    @Test func aRephraseFollowedByAThumbsUpNoLongerFlags() {
        var interaction = Interaction(agent: "a", request: "q")
        interaction.feedback = [feedback(signal: .rephrase), feedback(.up, at: 10)]
        #expect(FlagRules().evaluate(interaction).isEmpty)
        interaction.feedback = [feedback(.up, at: -10), feedback(signal: .rephrase)]
        #expect(FlagRules().evaluate(interaction).map(\.rule) == [.rephrase])
    }

    @Test func abandonmentFlagsOnlyWhenConfigured() throws {
        var interaction = Interaction(agent: "a", request: "q", response: "Which one?")
        interaction.feedback = [feedback(signal: .abandon)]
        #expect(FlagRules().evaluate(interaction).isEmpty)
        #expect(try FlagRules.parse(["abandon", "thumbs_down"]).evaluate(interaction).map(\.rule) == [.abandon])
        #expect(throws: RasiError.self) { try FlagRules.parse(["thumbs_down", "sometimes"]) }
        #expect(try FlagRules.parse(["none"]).enabled.isEmpty)
    }

    @Test(arguments: [
        ("{\"error\": \"not found\"}", true), ("Error: timeout", true), ("Traceback (most recent call last)", true),
        ("{\"error\": null, \"status\": \"ok\"}", false), ("{\"total\": 12.5}", false), ("The error rate is 2%", false), ("", false)
    ])
    func aToolResultReportsAnErrorOnlyWhenItSaysSo(_ content: String, _ failed: Bool) {
        #expect(FlagRules.reportsError(content) == failed)
    }
}

@Suite struct EfficacyTests {
    func feedback(_ rating: Rating? = nil, signal: Signal? = nil, at offset: TimeInterval) -> Feedback {
        Feedback(
            id: Identifier.make("fb"), interactionId: "i", rating: rating, comment: nil, source: signal == nil ? .user : .implicit,
            signal: signal, createdAt: Date().addingTimeInterval(offset))
    }

    @Test func theLatestRatingDecidesAndOutweighsImplicitSignals() {
        #expect(EfficacyPolicy.verdict([feedback(.up, at: 0), feedback(signal: .rephrase, at: 5)]) == true)
        #expect(EfficacyPolicy.verdict([feedback(.up, at: 0), feedback(.down, at: 5)]) == false)
        #expect(EfficacyPolicy.verdict([feedback(signal: .escalate, at: 0)]) == false)
        #expect(EfficacyPolicy.verdict([feedback(signal: .abandon, at: 0)]) == nil)
    }

    @Test func retirementWaitsForEnoughRatedUses() {
        let policy = EfficacyPolicy()
        #expect(!policy.shouldRetire(helpful: 0, harmful: 4))
        #expect(policy.shouldRetire(helpful: 2, harmful: 3))
        #expect(!policy.shouldRetire(helpful: 4, harmful: 3))
    }
}

@Suite struct ConflictPolicyTests {
    @Test func oppositePolarityOrDivergentBehaviourContradictsAndAgreementDoesNot() {
        let policy = ConflictPolicy()
        let refund = lesson("a", situation: "damaged parcel refund", behavior: "Refund at once")
        let photos = lesson("b", situation: "damaged parcel refund", behavior: "Ask for photos first")
        let praise = lesson("c", situation: "damaged parcel refund", polarity: .positive, behavior: "Refund at once")
        #expect(policy.contradiction(refund, praise, behaviorSimilarity: 1.0)?.contains("opposite polarity") == true)
        #expect(policy.contradiction(refund, photos, behaviorSimilarity: 0.3)?.contains("diverge") == true)
        #expect(policy.contradiction(refund, photos, behaviorSimilarity: 0.8) == nil)
    }
}
