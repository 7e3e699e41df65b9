import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient

/// `rasi bench topics`: how well requests are filed under admin-defined topics, and where the
/// `unclassified` floor should sit. CLINC150's ten domains stand for the topics, each described
/// by its name and one training request per intent; validation requests should be filed under
/// their domain, out-of-scope requests should stay unclassified.
struct TopicsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics", abstract: "Measure topic classification and pick the unclassified floor (CLINC150).")

    @Option(help: "A JSON file {split: [[text, intent], ...]}.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "A JSON file {domain: [intent, ...]}.") var domains = "../shared/data/clinc150/domains.json"
    @Option(help: "Share of out-of-scope requests (oos_train) that must stay unclassified at the recommended floor.") var oosTarget = 0.8
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/topics.json"
    @OptionGroup var model: ModelOptions

    struct Point: Codable {
        var floor: Double
        var filedCorrectly: Double
        var unclassifiedInScope: Double
        var oosUnclassified: Double

        enum CodingKeys: String, CodingKey {
            case floor
            case filedCorrectly = "in_scope_filed_correctly"
            case unclassifiedInScope = "in_scope_unclassified"
            case oosUnclassified = "oos_unclassified"
        }
    }

    func run() async throws {
        let corpus = try RetrievalBench.load(data)
        let domainOf = try SignalsBench.domainsByIntent(domains)
        guard let train = corpus["train"], let val = corpus["val"], let oosTrain = corpus["oos_train"], let oosVal = corpus["oos_val"] else {
            throw ValidationError("\(data) needs train, val, oos_train and oos_val")
        }
        var examples: [String: [String]] = [:]
        var seen: Set<String> = []
        for item in train where !seen.contains(item.intent) {
            seen.insert(item.intent)
            examples[domainOf[item.intent] ?? "?", default: []].append(item.text)
        }
        let model = try self.model.load()
        let topics = examples.keys.sorted().map { name in
            Topic(name: name, description: name.replacingOccurrences(of: "_", with: " "), examples: examples[name]!)
        }
        print(
            """
            \(topics.count) topics, \(topics.map(\.examples.count).reduce(0, +)) examples; \
            classifying \(val.count) requests and \(oosTrain.count + oosVal.count) out-of-scope ...
            """
        )
        let classifier = TopicClassifier(topics: topics.map { ($0.name, model.embedBatch($0.texts)) }, floor: 0)
        let best = { (items: [RetrievalBench.Item]) in zip(items, model.embedBatch(items.map(\.text))).map { ($0, classifier.classify($1)) } }
        let inScope = best(val)
        let tuning = best(oosTrain)
        let reported = best(oosVal)

        let curve = stride(from: 0.20, through: 0.80, by: 0.01).map { floor -> (Point, Double) in
            let filed = Double(inScope.filter { $0.1.score >= floor && $0.1.topic == domainOf[$0.0.intent] }.count) / Double(inScope.count)
            let unclassified = Double(inScope.filter { $0.1.score < floor }.count) / Double(inScope.count)
            let oos = Double(reported.filter { $0.1.score < floor }.count) / Double(reported.count)
            let tuned = Double(tuning.filter { $0.1.score < floor }.count) / Double(tuning.count)
            return (
                Point(floor: (floor * 100).rounded() / 100, filedCorrectly: filed, unclassifiedInScope: unclassified, oosUnclassified: oos), tuned
            )
        }
        let recommended = curve.first { $0.1 >= oosTarget }?.0 ?? curve.last!.0
        let accuracy = Double(inScope.filter { $0.1.topic == domainOf[$0.0.intent] }.count) / Double(inScope.count)
        print(String(format: "filed under the right topic with no floor: %.3f", accuracy))
        print("floor  in-scope filed right  in-scope unclassified  out-of-scope unclassified (oos_val)")
        for (point, _) in curve where Int((point.floor * 100).rounded()) % 5 == 0 || point.floor == recommended.floor {
            print(
                String(format: "%5.2f  %20.3f  %21.3f  %25.3f", point.floor, point.filedCorrectly, point.unclassifiedInScope, point.oosUnclassified)
                    + (point.floor == recommended.floor ? "  <- recommended (\(Int(oosTarget * 100))% of oos_train unclassified)" : ""))
        }
        print(String(format: "rasi's default floor: %.2f", RasiConfiguration().topicFloor))
        try BenchOutput.write(
            [
                "topics": AnyEncodable(topics.count), "accuracy_without_floor": AnyEncodable(accuracy), "recommended": AnyEncodable(recommended),
                "shipped_default": AnyEncodable(RasiConfiguration().topicFloor), "curve": AnyEncodable(curve.map(\.0))
            ], to: out)
    }
}
