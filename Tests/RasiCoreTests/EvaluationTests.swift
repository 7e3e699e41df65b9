import Foundation
import RasiCore
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite struct EvaluationSuiteTests {
    static let suite = """
        {"type": "agent", "name": "router", "instructions": "Route each request."}
        {"type": "tool", "agent": "router", "name": "book_flight", "description": "Book a flight"}
        {"type": "tool", "agent": "router", "name": "weather", "description": "The weather", "parameters": {"type": "object", "properties": {}}}

        {"id": "a", "agent": "router", "request": "get me a plane ticket", "expected_tools": ["book_flight"], "split": "learn"}
        {"id": "b", "agent": "router", "request": "tell me a joke", "expected_tools": [], "split": "test"}
        {"id": "c", "request": "my gut hurts", "rubric": "Considers minerals", "split": "test"}
        """

    @Test func aSuiteReadsAgentsToolsAndTasks() throws {
        let suite = try EvaluationSuite.parse(jsonl: Self.suite)
        #expect(suite.instructions(of: "router") == "Route each request.")
        #expect(suite.tools(of: "router").map(\.name) == ["book_flight", "weather"])
        #expect(suite.tasks.map(\.id) == ["a", "b", "c"])
        #expect(suite.tasks[1].expectedTools == [])
        #expect(suite.tasks[2].agent == "default" && suite.tasks[2].rubric == "Considers minerals")
        // Written out and read back, it is the same suite.
        #expect(try EvaluationSuite.parse(jsonl: suite.jsonl()) == suite)
    }

    @Test(arguments: [
        (#"{"id": "a", "request": "x", "split": "learn"}"#, "line 1: expected_tools"),
        (#"{"id": "a", "request": "x", "expected_tools": "t", "split": "learn"}"#, "line 1: expected_tools"),
        (#"{"id": "a", "request": "x", "rubric": "r", "split": "later"}"#, "line 1: split"),
        (#"{"id": "a", "rubric": "r", "split": "test"}"#, "line 1: request"),
        (
            """
            {"id": "a", "request": "x", "rubric": "r", "split": "test"}
            {"id": "a", "request": "y", "rubric": "r", "split": "test"}
            """,
            "line 2: id"
        ),
        (#"{"id": "a", "request": "x", "expected_tools": ["nope"], "split": "test"}"#, "task a: expected_tools"),
        ("not json", "line 1")
    ])
    func aBadSuiteNamesTheLineAndField(text: String, field: String) {
        #expect {
            _ = try EvaluationSuite.parse(jsonl: text)
        } throws: { error in
            guard case .invalidField(let name, _) = error as? RasiError else { return false }
            return name == field
        }
    }

    @Test func theCheckerWantsExactlyTheExpectedTools() {
        #expect(ToolCheck.mismatch(called: ["a"], expected: ["a"]) == nil)
        #expect(ToolCheck.mismatch(called: ["a", "b", "a"], expected: ["b", "a"]) == nil)
        #expect(ToolCheck.mismatch(called: [], expected: []) == nil)
        #expect(ToolCheck.mismatch(called: ["a"], expected: []) == "called a; expected no tool")
        #expect(ToolCheck.mismatch(called: [], expected: ["a"]) == "called no tool; expected a")
        #expect(ToolCheck.mismatch(called: ["a", "c"], expected: ["a"]) != nil)
    }
}

@Suite struct EvaluationReportTests {
    func result(_ id: String, _ split: EvaluationSuite.Split, _ passes: [Bool], tokens: Int = 0) -> EvaluationReport.TaskResult {
        .init(
            id: id, split: split, request: "request \(id)", expectedTools: ["t"],
            attempts: passes.enumerated().map { round, passed in
                EvaluationAttempt(passed: passed, lessons: round == 0 ? [] : ["les_1"], injectedTokens: round == 0 ? 0 : tokens)
            })
    }

    @Test func theReportCountsPassRatesFixesAndRegressionsPerSplit() {
        let report = EvaluationReport(
            suite: "s", model: "m", endpoint: "e", lessonIds: ["les_1", "les_2"], lessonsLive: [0, 1, 2],
            results: [
                result("l1", .learn, [false, true, true], tokens: 40),
                result("l2", .learn, [false, false, true], tokens: 60),
                result("t1", .test, [true, true, false], tokens: 30),
                result("t2", .test, [false, true, true], tokens: 50),
                result("t3", .test, [true, true, true]),
                result("t4", .test, [false, false, false])
            ])
        let learn = report.splits["learn"]!
        let test = report.splits["test"]!
        #expect(learn.passRateBefore == 0 && learn.passRateAfter == 1)
        #expect(learn.fixed == ["l1", "l2"] && learn.broken == [])
        #expect(learn.injectedTokensPerRequestAfter == 50)
        #expect(test.passedBefore == 2 && test.passedAfter == 2 && test.tasks == 4)
        #expect(test.fixed == ["t2"] && test.broken == ["t1"])
        #expect(test.lessonsPerRequestAfter == 1)
        #expect(report.curve.map(\.lessons) == [0, 1, 2])
        #expect(report.curve.map { $0.passRate["learn"]! } == [0, 0.5, 1])
        #expect(report.curve.map { $0.passRate["test"]! } == [0.5, 0.75, 0.5])
        #expect(report.lessonsCreated == 2)
    }

    @Test func theChartDrawsOneLinePerSplitThroughEachRound() throws {
        let report = EvaluationReport(
            suite: "routing <v2>", model: "m", endpoint: "e", lessonIds: ["les_1"], lessonsLive: [0, 1],
            results: [
                result("l1", .learn, [false, true]), result("t1", .test, [false, true]), result("t2", .test, [true, true])
            ])
        let svg = EvaluationChart.svg(report)
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.contains("routing &lt;v2&gt;") && !svg.contains("<v2>"))
        for split in ["learn", "test"] {
            let line = try #require(svg.split(separator: "\n").first { $0.contains("class=\"split-\(split)\"") })
            #expect(line.components(separatedBy: "points=\"")[1].split(separator: " ").count == 2)
        }
        #expect(svg.contains(">50.0%<") && svg.contains(">100.0%<"))
        // Well-formed XML.
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse())
    }
}

@Suite struct Clinc150SuiteTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/clinc150")

    @Test func theRoutingSuiteMapsIntentsToToolsAndSplitsToSplits() throws {
        let corpus = try Data(contentsOf: Self.folder.appendingPathComponent("clinc150_dev.json"))
        let domains = try Data(contentsOf: Self.folder.appendingPathComponent("domains.json"))
        let suite = try Clinc150Suite.build(corpus: corpus, domains: domains, options: .init(learnPerIntent: 3, testPerIntent: 2, outOfScope: 5))

        #expect(suite.tools.count == 150)
        #expect(suite.tasks.filter { $0.split == .learn }.count == 150 * 3 + 5)
        #expect(suite.tasks.filter { $0.split == .test }.count == 150 * 2 + 5)
        let raw = try JSONDecoder().decode([String: [[String]]].self, from: corpus)
        // Learn tasks come from the training split, test tasks from the validation split.
        let train = Set(raw["train"]!.map { $0[0] })
        let validation = Set(raw["val"]!.map { $0[0] })
        for task in suite.tasks where task.expectedTools != [] {
            #expect((task.split == .learn ? train : validation).contains(task.request))
            #expect(raw[task.split == .learn ? "train" : "val"]!.contains([task.request, task.expectedTools![0]]))
        }
        let outOfScope = suite.tasks.filter { $0.expectedTools == [] }
        #expect(outOfScope.count == 10)
        #expect(outOfScope.allSatisfy { task in raw[task.split == .learn ? "oos_train" : "oos_val"]!.contains { $0[0] == task.request } })
        // Valid as a suite file, and the same every time.
        #expect(try EvaluationSuite.parse(jsonl: suite.jsonl()) == suite)
        #expect(
            try Clinc150Suite.build(corpus: corpus, domains: domains, options: .init(learnPerIntent: 3, testPerIntent: 2, outOfScope: 5)) == suite)
    }

    @Test func aSubsetOfIntentsKeepsOnlyTheirTools() throws {
        let suite = try Clinc150Suite.build(
            corpus: try Data(contentsOf: Self.folder.appendingPathComponent("clinc150_dev.json")),
            domains: try Data(contentsOf: Self.folder.appendingPathComponent("domains.json")),
            options: .init(learnPerIntent: 1, testPerIntent: 1, outOfScope: 0, intents: 10))
        #expect(suite.tools.count == 10)
        #expect(Set(suite.tasks.compactMap { $0.expectedTools?.first }) == Set(suite.tools.map(\.name)))
    }
}
