import Foundation

/// Removes personal data from text before it is stored as a lesson.
public protocol Redactor: Sendable {
    func redact(_ text: String) -> String
}

/// A first redactor for lessons: e-mail addresses, bearer tokens and API-key-like secrets,
/// IPv4 addresses and phone-number-like digit runs, replaced by typed placeholders.
/// The measured, configurable redactor is its own piece of work; this one keeps the obvious
/// personal data out of lessons meanwhile.
public struct BasicRedactor: Redactor {
    private let rules: [(String, NSRegularExpression)]

    public init() {
        let patterns: [(String, String)] = [
            ("EMAIL", #"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"#),
            ("SECRET", #"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}|\b(?:sk|rasi|pk|ghp|xox[bp])[-_][A-Za-z0-9_-]{16,}"#),
            ("IP", #"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"#),
            ("PHONE", #"(?<![\w.])\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}\b|\(\d{3}\)\s?\d{3}[\s.-]\d{4}\b|\b\d{3}[.-]\d{3}[.-]\d{4}\b"#),
        ]
        rules = patterns.compactMap { name, pattern in
            (try? NSRegularExpression(pattern: pattern)).map { (name, $0) }
        }
    }

    public func redact(_ text: String) -> String {
        var result = text
        for (name, regex) in rules {
            var seen: [String: Int] = [:]
            let matches = regex.matches(in: result, range: NSRange(result.startIndex..., in: result))
            // Numbered in reading order, replaced back to front so ranges stay valid.
            var labels: [String] = []
            for match in matches {
                let value = String(result[Range(match.range, in: result)!])
                if seen[value] == nil { seen[value] = seen.count + 1 }
                labels.append("[\(name)_\(seen[value]!)]")
            }
            for (match, label) in zip(matches, labels).reversed() {
                result.replaceSubrange(Range(match.range, in: result)!, with: label)
            }
        }
        return result
    }
}
