#ifndef RASI_KERNELS_H
#define RASI_KERNELS_H

#include <stdint.h>

/// Matrix products for the built-in embedding model, with the weights packed once at load.
///
/// A single request is about a dozen tokens, so each product multiplies a dozen rows by a
/// weight matrix of 150k to 590k floats: its time is the weights' trip from memory. OpenBLAS
/// repacks the weight matrix on every call (a third of a single query's time), and the model's
/// 42 MB of float32 weights do not stay in a 32 MB cache. Here they are packed once, as
/// half-precision floats (21 MB; each converted back to float32 in registers, products and
/// sums in float32), in the order the kernel reads them.

/// Whether this CPU runs the kernels: 0 without AVX2, FMA and F16C (callers then use BLAS);
/// 1 with them (weights in half precision, inputs and sums in float32); 2 where it also has
/// AVX512-BF16 (weights and inputs rounded to bfloat16, multiplied in pairs by `vdpbf16ps`,
/// sums in float32: twice the multiply-adds per instruction; against the reference model the
/// worst cosine goes from 0.9999993 to 0.99996). `RASI_KERNEL_NO_BF16` set keeps 1.
int rasi_kernels_available(void);

/// 16-bit values (half precision or bfloat16) `rasi_pack_weight` writes for an (outputs × inputs) weight.
long rasi_packed_size(int outputs, int inputs);

/// Packs a weight stored (outputs × inputs) row-major, as PyTorch stores a linear layer's,
/// into panels of 16 outputs: for each input, the panel's 16 weights side by side (in bfloat16
/// mode, for each pair of inputs, the panel's 16 pairs).
void rasi_pack_weight(const float *weight, int outputs, int inputs, uint16_t *packed);

/// y (rows × outputs) = x (rows × inputs) · weightᵀ + bias, the weight packed by `rasi_pack_weight`.
/// Each row is computed alone, in the same order whatever the batch, so a text gets the same
/// vector embedded alone or with others. From 64 rows (a batch, not a single query) the outputs
/// are split over `rasi_parallel_threads()` threads in runs of whole panels; each output's
/// arithmetic is the same however they are split.
void rasi_linear_packed(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y);

/// GELU in place, 0.5·v·(1 + erf(v/√2)), with erf by Abramowitz & Stegun 7.1.26 (absolute
/// error ≤ 1.5e-7) and its `exp` by a polynomial: branch-free, so it runs 16 (or 8) values at
/// a time. Computed one value at a time through libm, it took a quarter of a single query's pass.
void rasi_gelu(float *values, long count);

/// x = LayerNorm(x + residual) row by row (`residual` may be NULL), with the model's gain and bias.
void rasi_add_layer_norm(float *x, const float *residual, int rows, int width, const float *gain, const float *bias);

/// Σ a[i]·b[i], summed in vector lanes (the order differs from a sequential sum by rounding only).
float rasi_dot(const float *a, const float *b, long count);

/// Asks for `bytes` from `address` to be brought into the cache (no effect on results).
void rasi_prefetch(const void *address, long bytes);

/// Runs `run(context, chunk)` for every chunk in [0, chunks), on the calling thread and the
/// pool's helper threads, and returns when all are done. A helper that does not start in time
/// leaves its chunks to the caller; a call made while another is in flight runs serially.
void rasi_parallel_for(void (*run)(const void *context, int chunk), const void *context, int chunks);

/// Threads `rasi_parallel_for` uses: the process's CPUs, at most 4 (`RASI_EMBED_THREADS` sets it).
int rasi_parallel_threads(void);

/// Sets the threads used (1: serial; more than the pool started is capped at what it started).
void rasi_set_parallel_threads(int threads);

#endif
