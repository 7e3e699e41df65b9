import ArgumentParser
import Foundation
import Logging
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer

/// `rasi lessons export|import`: lessons as JSONL, one version a line, in a stable order, so a
/// team can keep its lessons in git and review changes as diffs.
struct LessonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lessons", abstract: "Export and import lessons as JSONL (every version, stable order).",
        subcommands: [Export.self, Import.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write every version of every lesson, by lesson id then version.")
        @OptionGroup var store: StoreOptions
        @Option(help: "File to write; standard output when left out.") var out: String?

        func run() async throws {
            let versions = try await withStore(try store.configuration()) { try await $0.exportLessonVersions() }
            let encoder = RasiJSON.encoder()
            var text = ""
            for version in versions { text += String(decoding: try encoder.encode(version), as: UTF8.self) + "\n" }
            if let out {
                try Data(text.utf8).write(to: URL(fileURLWithPath: out))
                let lessons = Set(versions.map(\.lesson.id)).count
                FileHandle.standardError.write(Data("exported \(versions.count) versions of \(lessons) lessons to \(out)\n".utf8))
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the versions the store lacks (idempotent by lesson id and version), and embed what changed.",
            discussion: "A running server sees imported lessons after a restart.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var model: ModelOptions
        @Argument(help: "A JSONL file written by `rasi lessons export`.") var file: String

        func run() async throws {
            let configuration = try RasiConfiguration.read(flags: ["database-url": store.databaseURL, "model-dir": model.modelDir])
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            var versions: [LessonVersion] = []
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated()
            for (number, line) in lines where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                do {
                    versions.append(try RasiJSON.decoder().decode(LessonVersion.self, from: Data(line.utf8)))
                } catch {
                    throw ValidationError("\(file) line \(number + 1) is not a lesson version: \(error)")
                }
            }
            let client = makeHTTPClient(configuration)
            do {
                let embedder = try await loadEmbedder(configuration, httpClient: client)
                let logger = Logger(label: "rasi.lessons")
                let result = try await withStore(
                    configuration, embeddingModel: embedder?.name, dimensions: embedder?.model.dimensions ?? 384, logger: logger
                ) { store in
                    let result = try await store.importLessonVersions(versions)
                    if let embedder {
                        try await RasiServices.backfillEmbeddings(in: store, embedder: embedder.model, model: embedder.name, logger: logger)
                    }
                    return result
                }
                print("imported \(result.added) versions (\(result.skipped) already present); \(result.updated.count) lessons updated")
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}
