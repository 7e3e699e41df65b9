import Foundation

/// A tool-routing suite from the CLINC150 corpus: each intent is a tool the agent can call;
/// `learn` tasks come from the corpus's training split, `test` tasks from its validation split,
/// and out-of-scope requests expect no tool at all.
public enum Clinc150Suite {
    public static let agent = "clinc150"

    public struct Options: Sendable {
        /// Requests per intent in each split.
        public var learnPerIntent: Int
        public var testPerIntent: Int
        /// Out-of-scope requests in each split.
        public var outOfScope: Int
        /// Only the first this many intents (by domain, then name); all 150 when nil.
        public var intents: Int?

        public init(learnPerIntent: Int = 2, testPerIntent: Int = 2, outOfScope: Int = 20, intents: Int? = nil) {
            self.learnPerIntent = learnPerIntent
            self.testPerIntent = testPerIntent
            self.outOfScope = outOfScope
            self.intents = intents
        }
    }

    struct Corpus: Decodable {
        var train: [[String]]
        var val: [[String]]
        var oosTrain: [[String]]
        var oosVal: [[String]]

        enum CodingKeys: String, CodingKey {
            case train, val
            case oosTrain = "oos_train"
            case oosVal = "oos_val"
        }
    }

    /// Builds the suite from `clinc150_dev.json` and `domains.json`, taking the first requests of
    /// each intent in corpus order, so the same options always give the same suite.
    public static func build(corpus: Data, domains: Data, options: Options = Options()) throws -> EvaluationSuite {
        let corpus = try JSONDecoder().decode(Corpus.self, from: corpus)
        let domains = try JSONDecoder().decode([String: [String]].self, from: domains)
        var intents = domains.keys.sorted().flatMap { domain in domains[domain]!.sorted().map { (domain: domain, intent: $0) } }
        if let limit = options.intents { intents = Array(intents.prefix(max(1, limit))) }

        var suite = EvaluationSuite(agents: [
            .init(
                name: agent,
                instructions: """
                    You are the request router of a virtual assistant. Call exactly one tool, the one that handles the user's \
                    request. If no tool handles it, call none and say the request is out of scope.
                    """)
        ])
        suite.tools = intents.map { entry in
            EvaluationSuite.ToolSpec(
                agent: agent, name: entry.intent, description: "\(words(entry.domain)): \(words(entry.intent))",
                parameters: JSONSchema.object())
        }
        func rows(_ rows: [[String]], intent: String, count: Int) -> [String] {
            Array(rows.filter { $0.count == 2 && $0[1] == intent }.map { $0[0] }.prefix(count))
        }
        for entry in intents {
            for (split, source, count) in [
                (EvaluationSuite.Split.learn, corpus.train, options.learnPerIntent), (.test, corpus.val, options.testPerIntent)
            ] {
                for (k, request) in rows(source, intent: entry.intent, count: count).enumerated() {
                    suite.tasks.append(
                        .init(
                            id: "\(split.rawValue)-\(entry.intent)-\(k + 1)", agent: agent, request: request,
                            expectedTools: [entry.intent], split: split))
                }
            }
        }
        for (split, source) in [(EvaluationSuite.Split.learn, corpus.oosTrain), (.test, corpus.oosVal)] {
            for (k, row) in source.prefix(options.outOfScope).enumerated() where row.count == 2 {
                suite.tasks.append(.init(id: "\(split.rawValue)-oos-\(k + 1)", agent: agent, request: row[0], expectedTools: [], split: split))
            }
        }
        return suite
    }

    /// `credit_cards` as `credit cards`.
    static func words(_ name: String) -> String {
        name.replacingOccurrences(of: "_", with: " ")
    }
}
