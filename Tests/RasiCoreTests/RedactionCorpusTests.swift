import Foundation
import RasiCore
import Testing

/// Measures redaction on the labelled corpus in tests/redaction (written for this; see
/// make_corpus.py there): precision and recall per type, printed, with recall ≥ 0.98 for every
/// type and no placeholder at all in the strings that hold no personal data.
@Suite struct RedactionCorpusTests {
    struct Row: Decodable {
        struct PII: Decodable {
            var type: String
            var value: String
        }
        var text: String
        var pii: [PII]
    }

    static func corpus() throws -> [Row] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../tests/redaction/corpus.jsonl")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    static func placeholders(_ text: String, type: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: #"\["# + type + #"_\d+\]"#)
        return Set(regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) })
    }

    @Test func recallAndPrecisionPerTypeOnTheLabelledCorpus() throws {
        let rows = try Self.corpus()
        #expect(rows.count >= 300)
        let redactor = try PIIRedactor()
        var truePositives: [String: Int] = [:]
        var falseNegatives: [String: Int] = [:]
        var falsePositives: [String: Int] = [:]
        var misses: [String] = []
        var negativesTouched: [String] = []
        for row in rows {
            let output = redactor.redact(row.text)
            if row.pii.isEmpty && output != row.text { negativesTouched.append("\(row.text) -> \(output)") }
            for type in PIIType.allCases.map(\.rawValue) {
                let expected = Set(row.pii.filter { $0.type == type }.map(\.value))
                let found = Self.placeholders(output, type: type).count
                let caught = expected.filter { !output.contains($0) && found > 0 }.count
                truePositives[type, default: 0] += caught
                falseNegatives[type, default: 0] += expected.count - caught
                falsePositives[type, default: 0] += max(0, found - expected.count)
                if caught < expected.count { misses.append("\(type) in: \(row.text) -> \(output)") }
            }
        }
        print("redaction on \(rows.count) labelled strings (\(rows.filter { $0.pii.isEmpty }.count) with no personal data)")
        print("type      precision  recall    values")
        for type in PIIType.allCases.map(\.rawValue) {
            let tp = Double(truePositives[type]!)
            let fn = Double(falseNegatives[type]!)
            let fp = Double(falsePositives[type]!)
            let precision = tp + fp == 0 ? 1 : tp / (tp + fp)
            let recall = tp + fn == 0 ? 1 : tp / (tp + fn)
            print(type.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: "%9.3f %7.3f %8d", precision, recall, Int(tp + fn)))
            #expect(recall >= 0.98, "\(type) recall \(recall)")
        }
        for miss in misses { print("missed: \(miss)") }
        #expect(negativesTouched.isEmpty, "ordinary numbers were redacted: \(negativesTouched)")
    }

    @Test func placeholdersAreTypedAndStableAcrossTheFieldsOfARecord() throws {
        let redacted = try PIIRedactor().redact(["Ann is ann@example.com", "write to ann@example.com or bob@example.com", "no contact"])
        #expect(redacted == ["Ann is [EMAIL_1]", "write to [EMAIL_1] or [EMAIL_2]", "no contact"])
    }

    @Test func customPatternsFromConfigurationAreRedactedToo() throws {
        let custom = try PIIRedactor.parseCustom("EMPLOYEE=\\bEMP-\\d{6}\\b;;TICKET=\\bTCK\\d{5}\\b")
        let redacted = try PIIRedactor(custom: custom).redact("EMP-123456 opened TCK00042 about EMP-123456")
        #expect(redacted == "[EMPLOYEE_1] opened [TICKET_1] about [EMPLOYEE_1]")
        #expect(throws: RasiError.self) { try PIIRedactor.parseCustom("no equals sign") }
    }
}
