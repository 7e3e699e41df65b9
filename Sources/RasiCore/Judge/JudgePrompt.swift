import Foundation

/// What the judge is told: its task, the rubric, the output schema, and the turn's full trace.
public enum JudgePrompt {
    /// Longest text of one message or step shown to the judge, and of the whole trace.
    static let partLimit = 3000
    static let traceLimit = 24000

    public static func messages(for interaction: Interaction, rubric: JudgeRubric) -> [JSONValue] {
        [
            .object(["role": .string("system"), "content": .string(system(rubric))]),
            .object(["role": .string("user"), "content": .string(trace(interaction))])
        ]
    }

    static func system(_ rubric: JudgeRubric) -> String {
        let items = rubric.items.map { "- \($0.name): \($0.question)" }.joined(separator: "\n")
        let scores = rubric.items.map { "{\"item\": \"\($0.name)\", \"score\": 1-5, \"comment\": \"one sentence\"}" }.joined(separator: ", ")
        return """
            You are rasi's judge. You review one turn of an AI agent's work: what the user asked, every step \
            the agent took (reasoning, tool calls with their arguments and results), and its answer. You say \
            whether the turn served the user and, if it did not, write the lesson that would make the agent \
            handle similar requests better next time.

            Score each rubric item from 1 (failed) to 5 (fully met), with one sentence:
            \(items)
            Take any feedback on the turn into account: ratings, comments, and implicit signals (the user \
            asking again in other words, leaving, or asking for a human).

            Answer with one JSON object and nothing else:
            {"verdict": "ok" or "problem", "summary": "one sentence", "rubric": [\(scores)], \
            "lesson": null or {"situation": "when this applies: the kind of request, in general words", \
            "did": "what the agent did", "should_have_done": "what it should have done", "why": "why the gap exists", \
            "correct_behavior": "concrete instructions the agent can follow", "topic": "a short topic name", \
            "confidence": 0.0-1.0, "polarity": "negative" or "positive"}}
            A "problem" verdict must come with a lesson. Write the lesson in general terms that fit similar \
            future requests, not only this one, and leave out names, contact details and other personal data.
            """
    }

    /// The message that asks again after invalid output, naming what was wrong.
    static func retry(error: String) -> String {
        "Your answer was not valid: \(error). Answer again with only the JSON object, exactly in the schema given."
    }

    /// The turn, rendered for reading: instructions, earlier conversation, steps in order, answer, feedback.
    public static func trace(_ interaction: Interaction) -> String {
        var sections: [String] = ["Agent: \(interaction.agent)" + (interaction.model.map { "; model: \($0)" } ?? "")]
        let messages = interaction.messages.arrayValue ?? []
        let instructions = messages.filter { $0["role"]?.stringValue == "system" || $0["role"]?.stringValue == "developer" }
            .compactMap { text($0["content"]) }.filter { !$0.contains("<rasi-lessons>") }
        if !instructions.isEmpty { sections.append("## The agent's instructions\n" + instructions.map(clip).joined(separator: "\n\n")) }
        let lessons = messages.compactMap { text($0["content"]) }.first { $0.contains("<rasi-lessons>") }
        if let lessons { sections.append("## Lessons rasi gave the agent for this turn\n" + clip(lessons)) }

        // The conversation before this turn: messages up to the turn's user request.
        let lastUser = messages.lastIndex { $0["role"]?.stringValue == "user" } ?? messages.endIndex
        let earlier = messages[..<lastUser].filter { ["user", "assistant"].contains($0["role"]?.stringValue ?? "") }
            .compactMap { message in text(message["content"]).map { "[\(message["role"]?.stringValue ?? "")] \(clip($0))" } }
        if !earlier.isEmpty { sections.append("## Earlier in the conversation\n" + earlier.suffix(10).joined(separator: "\n")) }

        var steps: [String] = []
        for step in interaction.steps {
            switch step.kind {
            case .message: steps.append("[\(step.name ?? "message")] \(clip(step.content ?? ""))")
            case .thinking: steps.append("[thinking] \(clip(step.content ?? ""))")
            case .toolCall: steps.append("[tool call] \(step.name ?? "?")(\(clip(step.arguments ?? "")))")
            case .toolResult: steps.append("[tool result\(step.name.map { " of \($0)" } ?? "")] \(clip(step.content ?? ""))")
            case .stateChange: steps.append("[state change\(step.name.map { " \($0)" } ?? "")] \(clip(step.content ?? ""))")
            }
        }
        if !steps.contains(where: { $0.hasPrefix("[user]") }) { steps.insert("[user] \(clip(interaction.request))", at: 0) }
        sections.append("## This turn, step by step\n" + steps.joined(separator: "\n"))
        sections.append("## The agent's final answer\n" + (interaction.response.map(clip) ?? "(none)"))
        if let error = interaction.error { sections.append("## Error\n" + clip(error)) }
        let feedback = interaction.feedback.map { item in
            var parts = ["[\(item.source.rawValue)]"]
            if let rating = item.rating { parts.append(rating == .up ? "thumbs up" : "thumbs down") }
            if let signal = item.signal { parts.append("signal: \(signal.rawValue)") }
            if let comment = item.comment { parts.append("comment: \(clip(comment))") }
            return parts.joined(separator: " ")
        }
        sections.append("## Feedback\n" + (feedback.isEmpty ? "(none)" : feedback.joined(separator: "\n")))
        let whole = sections.joined(separator: "\n\n")
        return whole.count > traceLimit ? String(whole.prefix(traceLimit)) + "\n…(trace cut here)" : whole
    }

    static func text(_ content: JSONValue?) -> String? {
        if let s = content?.stringValue { return s }
        let parts = (content?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }

    static func clip(_ text: String) -> String {
        text.count > partLimit ? String(text.prefix(partLimit)) + "…" : text
    }
}
