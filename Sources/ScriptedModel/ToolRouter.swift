import Foundation
import RasiCore

/// The scripted model's stand-in for an LLM choosing a tool: deterministic, and as a real model
/// would, it follows an injected lesson over its own guess.
///
/// 1. If rasi injected lessons, the top-ranked lesson's "Correct behaviour" decides: the first
///    of the request's tools it names in backticks is called; "do not call a tool" calls none.
/// 2. Otherwise the tool whose name and description share the most words with the request is
///    called (words of three letters or more, a plural `s` dropped); with no shared word, none.
enum ToolRouter {
    struct Tool {
        let name: String
        let description: String
    }

    /// The tools a request declares, in any of the three shapes: Chat Completions nests name and
    /// description under `function`; Responses (`"type": "function"`) and Messages have them at the top.
    static func tools(_ declared: JSONValue?) -> [Tool] {
        (declared?.arrayValue ?? []).compactMap { tool in
            let fields = tool["function"] ?? tool
            guard let name = fields["name"]?.stringValue else { return nil }
            return Tool(name: name, description: fields["description"]?.stringValue ?? "")
        }
    }

    /// The tool to call, or nil to answer without one.
    static func route(tools: [Tool], prompt: Prompt) -> String? {
        if let behaviour = topLessonBehaviour(prompt.system) {
            let lowered = behaviour.lowercased()
            let named = tools.compactMap { tool in lowered.range(of: "`\(tool.name.lowercased())`").map { (tool.name, $0.lowerBound) } }
            if let first = named.min(by: { $0.1 < $1.1 }) { return first.0 }
            if lowered.contains("do not call a tool") { return nil }
        }
        let asked = words(prompt.lastUser)
        var best: (name: String, shared: Int)?
        for tool in tools {
            let shared = asked.intersection(words(tool.name + " " + tool.description)).count
            if shared > 0, shared > (best?.shared ?? 0) { best = (tool.name, shared) }
        }
        return best?.name
    }

    /// The correct behaviour of the first lesson in rasi's block, if there is one.
    static func topLessonBehaviour(_ system: String) -> String? {
        guard let open = system.range(of: LessonRenderer.openingTag) else { return nil }
        let block = system[open.upperBound...]
        guard let line = block.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("Correct behaviour:") }) else {
            // Merged guidance has no per-lesson fields: the whole block speaks.
            return String(block.prefix { $0 != "<" })
        }
        return String(line)
    }

    static let ignored: Set<String> = [
        "the", "and", "for", "you", "can", "what", "how", "with", "that", "this", "please", "are", "was", "have", "from", "tell", "want", "need",
        "would", "like", "there", "when", "does", "about"
    ]

    static func words(_ text: String) -> Set<String> {
        var found = Set<String>()
        for piece in text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }) {
            let word = String(piece)
            guard word.count >= 3, !ignored.contains(word) else { continue }
            found.insert(word.count > 3 && word.hasSuffix("s") ? String(word.dropLast()) : word)
        }
        return found
    }
}
