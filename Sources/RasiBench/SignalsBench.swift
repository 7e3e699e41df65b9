import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient

/// `rasi bench signals`: where the rephrase threshold should sit, measured on labelled data.
///
/// A rephrase is the same request in other words: two requests of the same CLINC150 intent.
/// What it must not be confused with is a related follow-up: a request of another intent in
/// the same domain ("what's my balance" after "freeze my account"). Pairs of each kind are
/// drawn (seeded) from one split; for every threshold the bench reports how many rephrases
/// it catches and how many follow-ups it mistakes for one, with the built-in model and with
/// the lexical term cosine used when rasi runs without an embedder.
struct SignalsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signals", abstract: "Measure rephrase detection and pick its thresholds (CLINC150 by default).")

    @Option(help: "A JSON file {split: [[text, intent], ...]}.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "A JSON file {domain: [intent, ...]}.") var domains = "../shared/data/clinc150/domains.json"
    @Option(help: "Split the pairs are drawn from.") var split = "val"
    @Option(help: "Pairs of each kind.") var pairs = 3000
    @Option(help: "Share of related follow-ups that may be taken for a rephrase at the recommended threshold.") var maxFollowUps = 0.03
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/signals.json"
    @OptionGroup var model: ModelOptions

    struct Point: Codable {
        var threshold: Double
        var rephrasesCaught: Double
        var followUpsMistaken: Double
        var otherDomainMistaken: Double
        var f1: Double

        enum CodingKeys: String, CodingKey {
            case threshold, f1
            case rephrasesCaught = "rephrases_caught"
            case followUpsMistaken = "follow_ups_mistaken"
            case otherDomainMistaken = "other_domain_mistaken"
        }
    }

    struct Measure: Codable {
        var similarity: String
        /// The threshold rasi ships for this similarity.
        var shippedDefault: Double
        /// The lowest threshold that mistakes at most `maxFollowUps` of the follow-ups.
        var recommended: Point
        var bestF1: Point
        var curve: [Point]

        enum CodingKeys: String, CodingKey {
            case similarity, recommended, curve
            case bestF1 = "best_f1"
            case shippedDefault = "shipped_default"
        }
    }

    func run() async throws {
        let corpus = try RetrievalBench.load(data)
        guard let items = corpus[split] else { throw ValidationError("\(data) has no split \(split)") }
        let domainOf = try Self.domainsByIntent(domains)
        let policy = SignalPolicy()
        let acknowledged = items.filter { policy.isAcknowledgement($0.text) }
        let escalated = items.filter { policy.escalationPhrase(in: $0.text) != nil }

        var rng = SplitMix64(seed: 11)
        let byIntent = Dictionary(grouping: items.indices, by: { items[$0].intent })
        let intents = byIntent.keys.sorted()
        func draw(_ accept: (Int, Int) -> Bool) -> [(Int, Int)] {
            var drawn: [(Int, Int)] = []
            while drawn.count < pairs {
                let a = Int.random(in: 0..<items.count, using: &rng)
                let b = Int.random(in: 0..<items.count, using: &rng)
                if a != b && accept(a, b) { drawn.append((a, b)) }
            }
            return drawn
        }
        let same = (0..<pairs).map { _ -> (Int, Int) in
            let members = byIntent[intents[Int.random(in: 0..<intents.count, using: &rng)]]!
            var a = 0
            var b = 0
            while a == b {
                a = members.randomElement(using: &rng)!
                b = members.randomElement(using: &rng)!
            }
            return (a, b)
        }
        let followUps = draw { a, b in items[a].intent != items[b].intent && domainOf[items[a].intent] == domainOf[items[b].intent] }
        let otherDomain = draw { a, b in domainOf[items[a].intent] != domainOf[items[b].intent] }

        print("embedding \(items.count) requests of \(split) ...")
        let vectors = try self.model.load().embedBatch(items.map(\.text))
        let terms = items.map { TextTerms.terms($0.text) }
        // The same measure the server uses to detect a rephrase.
        func dense(_ pair: (Int, Int)) -> Double { Embeddings.cosine(vectors[pair.0], vectors[pair.1]) }
        func lexical(_ pair: (Int, Int)) -> Double { TextTerms.similarity(terms[pair.0], terms[pair.1]) }

        var measures: [Measure] = []
        let measured: [(String, Double, ((Int, Int)) -> Double)] = [
            ("minilm cosine", policy.rephraseThreshold, dense), ("lexical term cosine", policy.lexicalRephraseThreshold, lexical)
        ]
        for (name, shipped, similarity) in measured {
            let positive = same.map(similarity)
            let hard = followUps.map(similarity)
            let easy = otherDomain.map(similarity)
            let curve = stride(from: 0.20, through: 0.95, by: 0.01).map { threshold -> Point in
                let caught = Double(positive.filter { $0 >= threshold }.count) / Double(pairs)
                let mistaken = Double(hard.filter { $0 >= threshold }.count) / Double(pairs)
                let precision = caught + mistaken > 0 ? caught / (caught + mistaken) : 1
                return Point(
                    threshold: (threshold * 100).rounded() / 100, rephrasesCaught: caught, followUpsMistaken: mistaken,
                    otherDomainMistaken: Double(easy.filter { $0 >= threshold }.count) / Double(pairs),
                    f1: caught + precision > 0 ? 2 * caught * precision / (caught + precision) : 0)
            }
            let best = curve.max { $0.f1 < $1.f1 }!
            // A mistaken rephrase sends a good turn to review; most next messages are follow-ups, so
            // their mistake rate, not F1 on balanced pairs, decides.
            let recommended = curve.first { $0.followUpsMistaken <= maxFollowUps } ?? curve.last!
            measures.append(Measure(similarity: name, shippedDefault: shipped, recommended: recommended, bestF1: best, curve: curve))
            print("\n\(name): \(pairs) rephrase pairs (same intent), \(pairs) follow-ups (other intent, same domain), \(pairs) other-domain pairs")
            print("threshold  rephrases caught  follow-ups mistaken  other domain mistaken  F1")
            print(String(format: "rasi's default: %.2f", shipped))
            for point in curve
            where Int((point.threshold * 100).rounded()) % 5 == 0 || [best.threshold, recommended.threshold].contains(point.threshold) {
                let marks = [
                    point.threshold == best.threshold ? "best F1" : nil,
                    point.threshold == recommended.threshold ? "recommended (follow-ups mistaken <= \(maxFollowUps))" : nil
                ].compactMap { $0 }
                print(
                    String(
                        format: "%9.2f  %16.3f  %19.3f  %21.3f  %.3f", point.threshold, point.rephrasesCaught, point.followUpsMistaken,
                        point.otherDomainMistaken, point.f1) + (marks.isEmpty ? "" : "  <- " + marks.joined(separator: ", ")))
            }
        }
        print(
            "\nrequests taken for an acknowledgement (never a rephrase): \(acknowledged.count) of \(items.count)"
                + (acknowledged.isEmpty ? "" : ": " + acknowledged.prefix(10).map { "\"\($0.text)\"" }.joined(separator: ", ")))
        print(
            "requests taken for asking a human: \(escalated.count) of \(items.count)"
                + (escalated.isEmpty ? "" : ": " + escalated.prefix(10).map { "\"\($0.text)\"" }.joined(separator: ", ")))
        try BenchOutput.write(
            [
                "split": AnyEncodable(split), "pairs": AnyEncodable(pairs), "measures": AnyEncodable(measures),
                "acknowledgements_in_split": AnyEncodable(acknowledged.map(\.text)), "escalations_in_split": AnyEncodable(escalated.map(\.text))
            ], to: out)
    }

    static func domainsByIntent(_ path: String) throws -> [String: String] {
        guard let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: [String]] else {
            throw ValidationError("\(path) is not {domain: [intent, ...]}")
        }
        var byIntent: [String: String] = [:]
        for (domain, intents) in json { for intent in intents { byIntent[intent] = domain } }
        return byIntent
    }
}
