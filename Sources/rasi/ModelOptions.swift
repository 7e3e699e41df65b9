import ArgumentParser
import Foundation
import RasiEmbeddings

/// `--model-dir` for every command that loads the built-in model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Folder of the built-in model (RASI_MODEL_DIR; default ./models/all-MiniLM-L6-v2).") var modelDir: String?

    func load() throws -> MiniLM {
        try MiniLM(directory: URL(fileURLWithPath: modelDir ?? ModelLocation.directory(ProcessInfo.processInfo.environment)))
    }
}
