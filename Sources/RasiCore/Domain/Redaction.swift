import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Removes personal data from text before it is stored.
public protocol Redactor: Sendable {
    /// Redacts the texts of one record (a lesson's fields, an interaction's messages): one value
    /// gets the same placeholder in every text of the record, so the record still reads.
    func redact(_ texts: [String]) -> [String]
}

extension Redactor {
    public func redact(_ text: String) -> String { redact([text])[0] }
}

/// The kinds of personal data rasi redacts, each replaced by `[TYPE_n]`.
public enum PIIType: String, Sendable, CaseIterable {
    case secret = "SECRET"
    case email = "EMAIL"
    case iban = "IBAN"
    case card = "CARD"
    case ssn = "SSN"
    case ip = "IP"
    case phone = "PHONE"
}

/// Typed, stable redaction of e-mail addresses, phone numbers (international and North
/// American forms), payment cards (Luhn-checked), IBANs (mod-97-checked), US social security
/// numbers, IPv4 and IPv6 addresses, and secrets (private key blocks, bearer tokens, API keys of
/// well-known shapes, JWTs, `password=...` pairs, passwords in URLs), plus custom patterns.
///
/// Detectors run most specific first, so a card number is not read as a phone number; numbers
/// without the shape of personal data (prices, dates, order ids, times) are left alone. The
/// labelled corpus in `Tests/RasiCoreTests/Redaction/corpus.jsonl` measures it.
public struct PIIRedactor: Redactor {
    struct Detector {
        let type: String
        let regex: NSRegularExpression
        /// The capture group that is the personal data (0: the whole match).
        let group: Int
        let isValid: @Sendable (String) -> Bool
    }

    let detectors: [Detector]

    /// - Parameter custom: extra `(TYPE, regular expression)` pairs, tried after the built-in ones.
    public init(custom: [(String, String)] = []) throws {
        func make(_ type: PIIType, _ pattern: String, group: Int = 0, valid: @escaping @Sendable (String) -> Bool = { _ in true }) -> Detector {
            Detector(type: type.rawValue, regex: try! NSRegularExpression(pattern: pattern), group: group, isValid: valid)
        }
        var detectors = [
            make(.secret, #"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"#),
            make(.secret, #"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@"#, group: 1),
            make(.secret, #"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})"#, group: 1),
            make(.secret, #"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#),
            make(
                .secret,
                #"\b(?:sk|pk|rk)-(?:live-|test-|proj-|ant-)?[A-Za-z0-9_-]{16,}|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"#
                    + #"|\brasi_[0-9a-f]{40}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"#
                    + #"|\bAKIA[0-9A-Z]{16}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}"#
            ),
            make(.secret, #"(?i)\b(?:api[_-]?key|secret|token|password|passwd|pwd|access[_-]?key)\s*[:=]\s*["']?([^\s"',;]{4,})"#, group: 1),
            make(.email, #"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"#),
            make(.iban, #"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"#, valid: Self.isIBAN),
            make(.card, #"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"#, valid: Self.isCard),
            make(.ssn, #"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"#),
            make(.ip, #"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"#),
            make(.ip, #"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Za-z:])"#, valid: Self.isIPv6),
            make(
                .phone, #"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,5}){1,4}(?![\w])"#,
                valid: { Self.digits($0).count >= 8 && Self.digits($0).count <= 15 }),
            make(.phone, #"(?<![\w(])\(\d{3}\) ?\d{3}[ .-]\d{4}(?!\d)|(?<![\w.-])\d{3}[.-]\d{3}[.-]\d{4}(?![\w.-])"#),
            make(.phone, #"(?<![\w+])0\d{2,4}[ ]\d{3,4}[ ]?\d{3,4}(?!\d)"#, valid: { Self.digits($0).count >= 10 && Self.digits($0).count <= 11 })
        ]
        for (type, pattern) in custom {
            do {
                detectors.append(
                    Detector(type: type.uppercased(), regex: try NSRegularExpression(pattern: pattern), group: 0, isValid: { _ in true }))
            } catch {
                throw RasiError.invalidField("RASI_REDACT_PATTERNS", "\(type): not a valid regular expression")
            }
        }
        self.detectors = detectors
    }

    /// `NAME=REGEX` pairs separated by newlines (a file) or `;;`.
    public static func parseCustom(_ text: String) throws -> [(String, String)] {
        try text.components(separatedBy: CharacterSet.newlines).flatMap { $0.components(separatedBy: ";;") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { line in
                guard let equals = line.firstIndex(of: "="), line[..<equals].allSatisfy({ $0.isLetter || $0 == "_" }), equals != line.startIndex
                else {
                    throw RasiError.invalidField("RASI_REDACT_PATTERNS", "each pattern is NAME=REGEX, got \"\(line)\"")
                }
                return (String(line[..<equals]), String(line[line.index(after: equals)...]))
            }
    }

    public func redact(_ texts: [String]) -> [String] {
        var results = texts
        var numbers: [String: [String: Int]] = [:] // type → value → n
        for detector in detectors {
            for index in results.indices {
                let text = results[index]
                let matches = detector.regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
                var replacements: [(Range<String.Index>, String)] = []
                for match in matches {
                    guard let range = Range(match.range(at: detector.group), in: text) else { continue }
                    let value = String(text[range])
                    guard !value.hasPrefix("["), detector.isValid(value) else { continue }
                    var seen = numbers[detector.type, default: [:]]
                    let n = seen[value] ?? seen.count + 1
                    seen[value] = n
                    numbers[detector.type] = seen
                    replacements.append((range, "[\(detector.type)_\(n)]"))
                }
                var redacted = text
                for (range, label) in replacements.reversed() { redacted.replaceSubrange(range, with: label) }
                results[index] = redacted
            }
        }
        return results
    }

    static func digits(_ text: String) -> [Int] {
        text.compactMap { $0.wholeNumberValue }
    }

    /// Luhn's checksum, on 13 to 19 digits.
    static func isCard(_ text: String) -> Bool {
        let digits = Self.digits(text)
        guard (13...19).contains(digits.count), Set(digits).count > 1 else { return false }
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            let value = offset % 2 == 1 ? digit * 2 : digit
            sum += value > 9 ? value - 9 : value
        }
        return sum % 10 == 0
    }

    /// ISO 13616: the country code and check digits moved to the end, letters as numbers, mod 97 = 1.
    static func isIBAN(_ text: String) -> Bool {
        let compact = text.replacingOccurrences(of: " ", with: "")
        guard (15...34).contains(compact.count) else { return false }
        let rearranged = compact.dropFirst(4) + compact.prefix(4)
        var remainder = 0
        for character in rearranged {
            guard let value = character.wholeNumberValue ?? (character.isUppercase ? Int(character.asciiValue ?? 0) - 55 : nil) else { return false }
            for digit in String(value) { remainder = (remainder * 10 + digit.wholeNumberValue!) % 97 }
        }
        return remainder == 1
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.filter({ $0 == ":" }).count >= 2, text.contains(where: { $0.isHexDigit && $0 != "0" }) || text == "::1" else { return false }
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }
}

extension Redactor {
    /// An interaction and the steps about to be appended to it, redacted as one record: the
    /// request, answer, error, every message string, and every step's content and arguments.
    ///
    /// A turn is written in several calls. `context` is the conversation as the client sent it
    /// (raw): it is read first, so a value keeps the number it got in the first write, and the
    /// texts already redacted (placeholders match no detector) stay as they are.
    public func redact(_ interaction: Interaction, appending steps: [Step], context: [String] = []) -> (Interaction, [Step]) {
        let all = interaction.steps + steps
        var texts = context + [interaction.request, interaction.response ?? "", interaction.error ?? ""] + interaction.messages.strings
        for step in all { texts += [step.content ?? "", step.arguments ?? ""] }
        var redacted = redact(texts).dropFirst(context.count).map { $0 }.makeIterator()
        var result = interaction
        result.request = redacted.next()!
        let response = redacted.next()!
        let error = redacted.next()!
        if interaction.response != nil { result.response = response }
        if interaction.error != nil { result.error = error }
        result.messages = interaction.messages.replacingStrings(&redacted)
        var redactedSteps = all
        for index in redactedSteps.indices {
            let content = redacted.next()!
            let arguments = redacted.next()!
            if redactedSteps[index].content != nil { redactedSteps[index].content = content }
            if redactedSteps[index].arguments != nil { redactedSteps[index].arguments = arguments }
        }
        result.steps = Array(redactedSteps.prefix(interaction.steps.count))
        return (result, Array(redactedSteps.dropFirst(interaction.steps.count)))
    }
}
