import Foundation

/// A rule that puts an interaction in the review queue.
public enum FlagRule: String, Codable, Sendable, CaseIterable {
    /// Any thumbs-down, from the user or a reviewer.
    case thumbsDown = "thumbs_down"
    /// Any escalation to a human: asked for by the user, handed off by the agent, or reported.
    case escalate
    /// The user rephrased the request, and no thumbs-up came after.
    case rephrase
    /// The user left after a question or an error.
    case abandon
    /// The upstream model failed.
    case upstreamError = "upstream_error"
    /// A tool result reports an error.
    case toolFailed = "tool_failed"

    /// Whether a flag of this rule is worth the judge's time: an upstream failure is an
    /// operations problem with no agent behaviour to learn from, so it waits for a human.
    public var isJudged: Bool { self != .upstreamError }
}

/// A flag a rule raises, with the reason a reviewer reads.
public struct RaisedFlag: Sendable, Equatable {
    public var rule: FlagRule
    public var reason: String

    public init(rule: FlagRule, reason: String) {
        self.rule = rule
        self.reason = reason
    }
}

/// The configured flag rules, evaluated over an interaction's trace, feedback and signals.
public struct FlagRules: Sendable, Equatable {
    public var enabled: Set<FlagRule>

    /// Everything but abandonment: leaving after a clarifying question is as often a user who
    /// got what they needed as one who gave up, so it is recorded but flags nothing by default.
    public static let defaults: Set<FlagRule> = [.thumbsDown, .escalate, .rephrase, .upstreamError, .toolFailed]

    public init(enabled: Set<FlagRule> = FlagRules.defaults) {
        self.enabled = enabled
    }

    /// Parses rule names (`thumbs_down`, `escalate`, ...); `["none"]` for no rules.
    public static func parse(_ names: [String]) throws -> FlagRules {
        if names == ["none"] { return FlagRules(enabled: []) }
        var rules: Set<FlagRule> = []
        for name in names {
            guard let rule = FlagRule(rawValue: name) else {
                throw RasiError.invalidField(
                    "RASI_FLAG_RULES", "unknown rule \"\(name)\"; rules are " + FlagRule.allCases.map(\.rawValue).joined(separator: ", "))
            }
            rules.insert(rule)
        }
        return FlagRules(enabled: rules)
    }

    /// The flags that hold for this interaction now, one per rule at most.
    public func evaluate(_ interaction: Interaction) -> [RaisedFlag] {
        var flags: [RaisedFlag] = []
        let feedback = interaction.feedback.sorted { $0.createdAt < $1.createdAt }
        if enabled.contains(.thumbsDown), let down = feedback.first(where: { $0.rating == .down }) {
            flags.append(RaisedFlag(rule: .thumbsDown, reason: "thumbs down" + (down.comment.map { ": \(Self.clip($0))" } ?? "")))
        }
        if enabled.contains(.escalate), let escalation = feedback.first(where: { $0.signal == .escalate }) {
            flags.append(RaisedFlag(rule: .escalate, reason: "escalated to a human" + (escalation.comment.map { ": \(Self.clip($0))" } ?? "")))
        }
        if enabled.contains(.rephrase), let rephrase = feedback.last(where: { $0.signal == .rephrase }),
            !feedback.contains(where: { $0.rating == .up && $0.createdAt >= rephrase.createdAt })
        {
            flags.append(
                RaisedFlag(rule: .rephrase, reason: "the user asked again in other words" + (rephrase.comment.map { ": \(Self.clip($0))" } ?? "")))
        }
        if enabled.contains(.abandon), feedback.contains(where: { $0.signal == .abandon }) {
            flags.append(
                RaisedFlag(
                    rule: .abandon,
                    reason: interaction.error != nil
                        ? "the user left after an error" : "the user left without answering the agent's question"))
        }
        if enabled.contains(.upstreamError), let error = interaction.error {
            flags.append(RaisedFlag(rule: .upstreamError, reason: "upstream error: \(Self.clip(error))"))
        }
        if enabled.contains(.toolFailed), let failed = interaction.steps.first(where: { $0.kind == .toolResult && Self.reportsError($0.content) }) {
            let tool = failed.name ?? interaction.steps.first { $0.kind == .toolCall && $0.callId != nil && $0.callId == failed.callId }?.name
            flags.append(RaisedFlag(rule: .toolFailed, reason: "tool \(tool ?? "call") failed: \(Self.clip(failed.content ?? ""))"))
        }
        return flags
    }

    /// A tool result reports an error when it is a JSON object with a non-null `error`, or
    /// when its text starts with "error", "exception" or "traceback".
    public static func reportsError(_ content: String?) -> Bool {
        guard let content = content?.trimmingCharacters(in: .whitespacesAndNewlines), !content.isEmpty else { return false }
        if content.hasPrefix("{"), let json = try? JSONValue(parsing: content) {
            if let error = json["error"], error != .null, error != .bool(false), error != .string("") { return true }
            return false
        }
        let lower = content.lowercased()
        return ["error", "exception", "traceback", "failed:"].contains { lower.hasPrefix($0) }
    }

    static func clip(_ text: String, _ limit: Int = 200) -> String {
        text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
