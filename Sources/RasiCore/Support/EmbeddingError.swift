public enum EmbeddingError: Error, CustomStringConvertible, Equatable {
    case missingModel(String)
    case corruptModel(String)
    case upstream(String)

    public var description: String {
        switch self {
        case .missingModel(let message), .corruptModel(let message), .upstream(let message): message
        }
    }
}
