import Foundation
import RasiCore

/// The admin-defined topics, embedded once and kept in memory, and the one place texts are
/// filed under them. Reloaded whenever a topic changes.
public actor TopicCatalog {
    let store: any TopicStore
    let embedder: (any Embedder)?
    let floor: Double
    private var classifier: TopicClassifier?
    private var lexical: [(name: String, terms: [[String]])] = []
    private var loaded = false

    public init(store: any TopicStore, embedder: (any Embedder)?, floor: Double) {
        self.store = store
        self.embedder = embedder
        self.floor = floor
    }

    public func reload() async throws {
        let topics = try await store.listTopics()
        if let embedder {
            var embedded: [(name: String, vectors: [[Float]])] = []
            for topic in topics { embedded.append((topic.name, try await embedder.embed(topic.texts))) }
            classifier = TopicClassifier(topics: embedded, floor: floor)
        }
        lexical = topics.map { ($0.name, $0.texts.map(TextTerms.terms)) }
        loaded = true
    }

    /// The topic of a text, `unclassified` below the floor; nil when no topic is defined.
    public func classify(_ text: String) async throws -> String? {
        if !loaded { try await reload() }
        guard !lexical.isEmpty else { return nil }
        if let embedder, let classifier, let vector = try await embedder.embed([text]).first {
            return classifier.classify(vector).topic
        }
        let terms = TextTerms.terms(text)
        let best = lexical.map { topic in (topic.name, topic.terms.map { TextTerms.similarity(terms, $0) }.max() ?? 0) }.max { $0.1 < $1.1 }
        guard let best, best.1 >= LessonSelectionPolicy.defaultLexicalFloor else { return Topic.unclassified }
        return best.0
    }
}
