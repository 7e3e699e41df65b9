extension Result where Failure == any Error {
    /// The outcome of an async throwing call, kept to be dealt with later (as the gateway keeps
    /// the upstream's answer until the interaction is logged).
    public init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
