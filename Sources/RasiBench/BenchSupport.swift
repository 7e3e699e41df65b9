import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient

/// `--model-dir` for every command that loads the built-in model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Folder of the built-in model (RASI_MODEL_DIR; default ./models/all-MiniLM-L6-v2).") var modelDir: String?

    func load() throws -> MiniLM {
        try MiniLM(directory: URL(fileURLWithPath: modelDir ?? ModelLocation.directory(ProcessInfo.processInfo.environment)))
    }
}

/// Writes a benchmark's JSON and says where.
enum BenchOutput {
    static func write(_ value: some Encodable, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try RasiJSON.encoder(pretty: true).encode(value).write(to: url)
        print("wrote \(path)")
    }
}

struct AnyEncodable: Encodable {
    let encodeValue: (any Encoder) throws -> Void

    init(_ value: some Encodable) {
        encodeValue = value.encode
    }

    func encode(to encoder: any Encoder) throws {
        try encodeValue(encoder)
    }
}

/// The value below which a share `p` of the values lie (nearest rank).
/// A comma-separated option's whole numbers ("1,32" → [1, 32]); what is not one is left out.
func integers(_ list: String) -> [Int] {
    list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
}
