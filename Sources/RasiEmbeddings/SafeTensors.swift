import Foundation
import RasiCore

/// Reads the float32 tensors of a `.safetensors` file: an 8-byte little-endian header length,
/// a JSON header of names, dtypes, shapes and byte offsets, then the raw data.
struct SafeTensors {
    struct Tensor {
        var shape: [Int]
        var values: [Float]
    }

    private(set) var tensors: [String: Tensor] = [:]

    init(file: URL) throws {
        let data = try Data(contentsOf: file, options: .mappedIfSafe)
        guard data.count >= 8 else { throw EmbeddingError.corruptModel("\(file.lastPathComponent) is too short") }
        let headerLength = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard headerLength > 0, 8 + headerLength <= data.count,
            let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any]
        else { throw EmbeddingError.corruptModel("\(file.lastPathComponent) has no readable header") }
        let base = 8 + headerLength
        for (name, entry) in header where name != "__metadata__" {
            guard let entry = entry as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw EmbeddingError.corruptModel("tensor \(name) has a malformed header entry") }
            guard dtype == "F32" else { continue }
            let count = shape.reduce(1, *)
            guard offsets[1] - offsets[0] == count * 4, base + offsets[1] <= data.count else {
                throw EmbeddingError.corruptModel("tensor \(name) does not fit the file")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { target in
                data.copyBytes(to: target, from: (base + offsets[0])..<(base + offsets[1]))
            }
            #if _endian(big)
                values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
            #endif
            tensors[name] = Tensor(shape: shape, values: values)
        }
    }

    func require(_ name: String, shape: [Int]) throws -> [Float] {
        guard let tensor = tensors[name] else { throw EmbeddingError.corruptModel("model.safetensors lacks \(name)") }
        guard tensor.shape == shape else {
            throw EmbeddingError.corruptModel("\(name) has shape \(tensor.shape), expected \(shape)")
        }
        return tensor.values
    }
}
