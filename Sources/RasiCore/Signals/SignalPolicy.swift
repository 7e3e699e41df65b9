import Foundation

/// How implicit signals are read from a conversation: a rephrase, an escalation, an abandonment.
///
/// Plain and synchronous: the server feeds it interactions and similarities, and records what
/// it says as feedback with `source: implicit`. The defaults are explained in the README.
public struct SignalPolicy: Sendable, Equatable {
    /// A new user message counts as a rephrase of the previous turn only this soon after it.
    public var rephraseWindow: TimeInterval = 300
    /// Least cosine between the two requests' embeddings for a rephrase (built-in model).
    /// Chosen on CLINC150 with `rasi bench signals`: requests of the same intent against
    /// requests of other intents of the same domain (a related follow-up, not a rephrase).
    /// The lowest threshold that takes at most 3% of those follow-ups for a rephrase: 0.46
    /// catches 61% of same-intent pairs (CLINC's same intent is often a different request).
    public var rephraseThreshold = 0.46
    /// The same, when retrieval is lexical only and similarity is the term cosine (same rule).
    public var lexicalRephraseThreshold = 0.34
    /// A conversation that stays silent this long after an answer that asked the user
    /// something, or after an error, was abandoned.
    public var abandonAfter: TimeInterval = 1800
    /// Tools whose call by the agent is a hand-off to a human.
    public var handoffTools: Set<String> = ["escalate_to_human", "handoff_to_human", "transfer_to_human", "transfer_to_agent"]
    /// Phrases in a user message that ask for a human (matched on lowercased words).
    public var escalationPhrases: [String] = Self.defaultEscalationPhrases {
        didSet { escalationPatterns = Self.patterns(escalationPhrases) }
    }
    /// Each phrase as its words between spaces, as messages are matched (made once, not per message).
    private var escalationPatterns = Self.patterns(Self.defaultEscalationPhrases)

    private static func patterns(_ phrases: [String]) -> [String] {
        phrases.map { " " + words($0).joined(separator: " ") + " " }
    }

    public init() {}

    /// Requests for a person, not mentions of one: "who is your supervisor" and "are you a live
    /// person" are not escalations (`rasi bench signals` lists what matches in CLINC150).
    public static let defaultEscalationPhrases = [
        "talk to a human", "speak to a human", "speak with a human", "talk with a human", "talk to a real person",
        "speak to a real person", "speak with a real person", "talk to a person", "speak to a person", "speak with a person",
        "talk to someone", "speak to someone", "speak with someone", "a real human", "human agent", "live agent",
        "talk to a representative", "speak to a representative", "speak with a representative", "customer service",
        "customer support", "talk to a manager", "speak to a manager", "speak to your manager", "talk to your manager",
        "talk to a supervisor", "speak to a supervisor", "speak to your supervisor", "transfer me", "connect me to",
        "escalate this"
    ]

    /// Messages that close or acknowledge a turn rather than ask anything.
    static let acknowledgementWords: Set<String> = [
        "thanks", "thank", "you", "thx", "ty", "ok", "okay", "k", "kk", "cool", "great", "good", "nice", "perfect",
        "awesome", "got", "it", "sure", "yes", "yeah", "yep", "no", "nope", "alright", "fine", "bye", "goodbye",
        "cheers", "that", "works", "helps", "helped", "helpful", "much", "so", "very", "lot", "a", "understood",
        "makes", "sense", "wonderful", "excellent", "right", "i", "see", "will", "do", "done", "all", "set", "ah",
        "oh", "hmm", "lol", "please", "appreciate", "appreciated", "is", "was", "the", "answer"
    ]

    /// Lowercased words, letters and digits only.
    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init)
    }

    /// True for "thanks", "ok great", "got it, thank you!": short, and every word an acknowledgement.
    public func isAcknowledgement(_ text: String) -> Bool {
        let words = Self.words(text)
        return words.count <= 6 && words.allSatisfy(Self.acknowledgementWords.contains)
    }

    /// Whether a later request could repeat an earlier one: soon enough, and saying something
    /// (not a mere acknowledgement). Checked before the similarity is worth computing.
    public func couldRephrase(_ earlier: Interaction, by later: String, at now: Date) -> Bool {
        // The same words again is a retry, which counts too; an empty message is nothing.
        now.timeIntervalSince(earlier.updatedAt) <= rephraseWindow && !isAcknowledgement(later) && !Self.words(later).isEmpty
    }

    /// Whether a later request repeats an earlier one in other words.
    public func isRephrase(of earlier: Interaction, by later: String, similarity: Double, lexical: Bool, at now: Date) -> Bool {
        couldRephrase(earlier, by: later, at: now) && similarity >= (lexical ? lexicalRephraseThreshold : rephraseThreshold)
    }

    /// The escalation phrase in a user message, if it asks for a human.
    public func escalationPhrase(in text: String) -> String? {
        let normalized = " " + Self.words(text).joined(separator: " ") + " "
        return zip(escalationPhrases, escalationPatterns).first { normalized.contains($0.1) }?.0
    }

    /// The agent's call of a hand-off tool in this turn, if any.
    public func handoffCall(in steps: [Step]) -> Step? {
        steps.first { $0.kind == .toolCall && handoffTools.contains($0.name ?? "") }
    }

    /// Whether an answer ends by asking the user something: its last sentence is a question.
    public static func asksTheUser(_ response: String?) -> Bool {
        guard let response else { return false }
        let trimmed = response.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "*_`\"')")))
        return trimmed.hasSuffix("?")
    }

    /// Whether a turn that nothing followed was abandoned: it asked the user something, or failed.
    public func wasAbandoned(_ interaction: Interaction, followedByAnotherTurn: Bool, at now: Date) -> Bool {
        guard !followedByAnotherTurn, now.timeIntervalSince(interaction.updatedAt) >= abandonAfter else { return false }
        return interaction.error != nil || Self.asksTheUser(interaction.response)
    }
}
