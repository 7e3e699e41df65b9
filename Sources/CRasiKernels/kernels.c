#include "rasi_kernels.h"
#include <string.h>

#define PANEL 16
#define BLOCK 6

static inline int panels(int outputs) {
    return (outputs + PANEL - 1) / PANEL;
}

/// Inputs rounded up to even: the bf16 layout keeps them in pairs (the f16 one has room to spare).
static inline int paired(int inputs) {
    return (inputs + 1) & ~1;
}

/// How many of panel `p`'s 16 outputs exist: 16 but in a partial last panel.
static inline int panel_width(int outputs, int p) {
    return outputs - p * PANEL < PANEL ? outputs - p * PANEL : PANEL;
}

long rasi_packed_size(int outputs, int inputs) {
    return (long)panels(outputs) * PANEL * paired(inputs);
}

// The element-wise steps of a forward pass. Written as plain loops without branches or calls,
// which the compiler vectorizes; on x86 each is compiled for AVX-512, AVX2 and the baseline,
// and the loader picks the clone this CPU runs.
#if defined(__x86_64__) && defined(__linux__)
#define ELEMENTWISE __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ELEMENTWISE
#endif

/// e^x for x ≤ 0 (below -87 it gives about 1e-38, not 0): x = n·ln 2 + r with |r| ≤ ln 2 / 2,
/// e^r by Cephes's polynomial (relative error about 1e-7), 2^n put in the exponent's bits.
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

ELEMENTWISE
void rasi_gelu(float *values, long count) {
    for (long i = 0; i < count; i++) {
        float v = values[i];
        float z = v * 0.70710678118654752f;
        float a = z < 0 ? -z : z;
        float t = 1.0f / (1.0f + 0.3275911f * a);
        float polynomial = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
        float erf = 1.0f - polynomial * exp_nonpositive(-a * a);
        values[i] = 0.5f * v * (1.0f + (z < 0 ? -erf : erf));
    }
}

ELEMENTWISE
void rasi_add_layer_norm(float *x, const float *residual, int rows, int width, const float *gain, const float *bias) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (long)r * width;
        if (residual) {
            const float *add = residual + (long)r * width;
            for (int j = 0; j < width; j++) row[j] += add[j];
        }
        // Sums in any order (the pragma lets the compiler keep vector partial sums).
        float mean = 0;
#pragma clang loop vectorize(enable)
        for (int j = 0; j < width; j++) mean += row[j];
        mean /= (float)width;
        float variance = 0;
#pragma clang loop vectorize(enable)
        for (int j = 0; j < width; j++) variance += (row[j] - mean) * (row[j] - mean);
        float inverse = 1.0f / __builtin_sqrtf(variance / (float)width + 1e-12f);
        for (int j = 0; j < width; j++) row[j] = (row[j] - mean) * inverse * gain[j] + bias[j];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

/// A panel's bias, read in place for a full panel (every layer of the model: 384, 1152 and 1536
/// outputs); a partial last one is copied into `padded`, zeros after its `width` outputs.
static inline const float *panel_bias(const float *bias, int width, float padded[PANEL]) {
    if (width == PANEL) return bias;
    memcpy(padded, bias, sizeof(float) * width);
    return padded;
}

/// Whether products go through AVX512-BF16's pairwise dot products (`vdpbf16ps`): twice the
/// multiply-adds of an FMA per instruction, weights and inputs rounded to bfloat16.
static int use_bf16(void) {
    static int answer = -1;
    if (answer < 0) {
        __builtin_cpu_init();
        answer = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16") && !getenv("RASI_KERNEL_NO_BF16");
    }
    return answer;
}

int rasi_kernels_available(void) {
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))) return 0;
    return use_bf16() ? 2 : 1;
}

/// A float rounded to bfloat16 (to nearest, ties to even), as `vcvtne2ps2bf16` rounds.
static inline uint16_t bf16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffff) > 0x7f800000) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

static void pack_bf16(const float *weight, int outputs, int inputs, uint16_t *packed) {
    int pairs = paired(inputs) / 2;
    for (int p = 0; p < panels(outputs); p++) {
        uint16_t *panel = packed + (long)p * PANEL * 2 * pairs;
        for (int k = 0; k < pairs; k++) {
            for (int j = 0; j < PANEL; j++) {
                int o = p * PANEL + j;
                for (int half = 0; half < 2; half++) {
                    int i = 2 * k + half;
                    panel[((long)k * PANEL + j) * 2 + half] = bf16(o < outputs && i < inputs ? weight[(long)o * inputs + i] : 0);
                }
            }
        }
    }
}

__attribute__((target("f16c")))
void rasi_pack_weight(const float *weight, int outputs, int inputs, uint16_t *packed) {
    if (use_bf16()) {
        pack_bf16(weight, outputs, inputs, packed);
        return;
    }
    for (int p = 0; p < panels(outputs); p++) {
        uint16_t *panel = packed + (long)p * PANEL * inputs;
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < PANEL; j++) {
                int o = p * PANEL + j;
                panel[(long)i * PANEL + j] = _cvtss_sh(o < outputs ? weight[(long)o * inputs + i] : 0, _MM_FROUND_TO_NEAREST_INT);
            }
        }
    }
}

/// `count` (at most BLOCK) rows against one panel: 2 × `count` accumulators in registers, the
/// panel's 16 weights for an input converted once and used by every row. Inlined with a
/// constant `count`, so the accumulators stay in registers.
__attribute__((target("avx2,fma,f16c"), always_inline))
static inline void block(const float *x, const int count, int inputs, const uint16_t *panel, const float *bias, int width, float *y, int outputs) {
    // A full panel is read and written in place; only a partial last one goes through copies.
    float padded[PANEL] = {0};
    const float *panelBias = panel_bias(bias, width, padded);
    __m256 acc[BLOCK][2];
    for (int r = 0; r < count; r++) {
        acc[r][0] = _mm256_loadu_ps(panelBias);
        acc[r][1] = _mm256_loadu_ps(panelBias + 8);
    }
    for (int i = 0; i < inputs; i++) {
        const __m128i *half = (const __m128i *)(panel + (long)i * PANEL);
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(half)), w1 = _mm256_cvtph_ps(_mm_loadu_si128(half + 1));
        for (int r = 0; r < count; r++) {
            __m256 v = _mm256_broadcast_ss(x + (long)r * inputs + i);
            acc[r][0] = _mm256_fmadd_ps(v, w0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(v, w1, acc[r][1]);
        }
    }
    for (int r = 0; r < count; r++) {
        if (width == PANEL) {
            _mm256_storeu_ps(y + (long)r * outputs, acc[r][0]);
            _mm256_storeu_ps(y + (long)r * outputs + 8, acc[r][1]);
        } else {
            float row[PANEL];
            _mm256_storeu_ps(row, acc[r][0]);
            _mm256_storeu_ps(row + 8, acc[r][1]);
            memcpy(y + (long)r * outputs, row, sizeof(float) * width);
        }
    }
}

#define BLOCK16 12

/// `count` (at most BLOCK16) rows against one bf16 panel: one accumulator of 16 outputs a row;
/// each step multiplies a pair of inputs by the panel's 16 pairs of weights.
__attribute__((target("avx512f,avx512bf16"), always_inline))
static inline void block_bf16(const uint32_t *x, const int count, int pairs, const uint16_t *panel, const float *bias, int width, float *y, int outputs) {
    float padded[PANEL] = {0};
    const float *panelBias = panel_bias(bias, width, padded);
    __m512 acc[BLOCK16];
    for (int r = 0; r < count; r++) acc[r] = _mm512_loadu_ps(panelBias);
    for (int k = 0; k < pairs; k++) {
        __m512bh w = (__m512bh)_mm512_loadu_si512(panel + (long)k * PANEL * 2);
        for (int r = 0; r < count; r++) {
            __m512bh v = (__m512bh)_mm512_set1_epi32((int)x[(long)r * pairs + k]);
            acc[r] = _mm512_dpbf16_ps(acc[r], v, w);
        }
    }
    for (int r = 0; r < count; r++) {
        if (width == PANEL) {
            _mm512_storeu_ps(y + (long)r * outputs, acc[r]);
        } else {
            float row[PANEL];
            _mm512_storeu_ps(row, acc[r]);
            memcpy(y + (long)r * outputs, row, sizeof(float) * width);
        }
    }
}

/// One product, shared by the threads that compute it: each chunk is a run of whole panels.
typedef struct {
    const void *x;  // float32 rows, or in bfloat16 mode the rows' pairs
    int rows, inputs, outputs, panelsPerChunk;
    const uint16_t *packed;
    const float *bias;
    float *y;
} linear_task;

/// Rows from which a product is split over the pool's threads. A single query (a dozen to a
/// few dozen tokens) stays on one thread: spaced out as model calls are, its pass would start
/// with the helpers asleep, and waking one (which the scheduler may put on the caller's own
/// CPU) cost more than it saved (`rasi bench embed`, spaced queries: 4.2 ms split, 3.0 alone).
#define PARALLEL_ROWS 64

/// Chunks of about a quarter of a thread's share (at least one panel each), so a thread that
/// starts late or runs slow leaves the rest to the others; sets the task's panels per chunk.
static int chunked(linear_task *task, int threads) {
    int all = panels(task->outputs);
    int per = all / (4 * threads);
    task->panelsPerChunk = per < 1 ? 1 : per;
    return (all + task->panelsPerChunk - 1) / task->panelsPerChunk;
}

/// Splits `task` into chunks and runs them, on the pool's threads from PARALLEL_ROWS rows.
static void run_linear(linear_task *task, void (*chunk)(const void *, int)) {
    int threads = task->rows >= PARALLEL_ROWS ? rasi_parallel_threads() : 1;
    int chunks = chunked(task, threads);
    if (threads < 2) {
        for (int i = 0; i < chunks; i++) chunk(task, i);
    } else {
        rasi_parallel_for(chunk, task, chunks);
    }
}

__attribute__((target("avx512f,avx512bf16")))
static void bf16_chunk(const void *context, int chunk) {
    const linear_task *task = context;
    const uint32_t *xb = task->x;
    int pairs = paired(task->inputs) / 2, rows = task->rows, outputs = task->outputs;
    int first = chunk * task->panelsPerChunk, last = first + task->panelsPerChunk;
    if (last > panels(outputs)) last = panels(outputs);
    for (int p = first; p < last; p++) {
        const uint16_t *panel = task->packed + (long)p * PANEL * 2 * pairs;
        int width = panel_width(outputs, p);
        for (int r = 0; r < rows; r += BLOCK16) {
            int count = rows - r < BLOCK16 ? rows - r : BLOCK16;
            const uint32_t *rowsIn = xb + (long)r * pairs;
            float *rowsOut = task->y + (long)r * outputs + p * PANEL;
            const float *panelBias = task->bias + p * PANEL;
            switch (count) {
            case 12: block_bf16(rowsIn, 12, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 11: block_bf16(rowsIn, 11, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 10: block_bf16(rowsIn, 10, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 9: block_bf16(rowsIn, 9, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 8: block_bf16(rowsIn, 8, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 7: block_bf16(rowsIn, 7, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 6: block_bf16(rowsIn, 6, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 5: block_bf16(rowsIn, 5, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 4: block_bf16(rowsIn, 4, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 3: block_bf16(rowsIn, 3, pairs, panel, panelBias, width, rowsOut, outputs); break;
            case 2: block_bf16(rowsIn, 2, pairs, panel, panelBias, width, rowsOut, outputs); break;
            default: block_bf16(rowsIn, 1, pairs, panel, panelBias, width, rowsOut, outputs); break;
            }
        }
    }
}

__attribute__((target("avx512f,avx512bf16")))
static void linear_bf16(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y) {
    int pairs = paired(inputs) / 2;
    // The inputs, rounded to bfloat16 once, in pairs: one 32-bit broadcast per pair and row.
    uint32_t *xb = malloc(sizeof(uint32_t) * (size_t)rows * pairs);
    if (!xb) abort();
    for (int r = 0; r < rows; r++) {
        const float *row = x + (long)r * inputs;
        uint32_t *out = xb + (long)r * pairs;
        int i = 0;
        for (; i + 32 <= inputs; i += 32) {
            __m512bh both = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + i + 16), _mm512_loadu_ps(row + i));
            _mm512_storeu_si512(out + i / 2, (__m512i)both);
        }
        for (; i < paired(inputs); i += 2) {
            uint16_t low = bf16(row[i]), high = i + 1 < inputs ? bf16(row[i + 1]) : 0;
            out[i / 2] = (uint32_t)low | (uint32_t)high << 16;
        }
    }
    linear_task task = {.x = xb, .rows = rows, .inputs = inputs, .outputs = outputs, .packed = packed, .bias = bias, .y = y};
    run_linear(&task, bf16_chunk);
    free(xb);
}

__attribute__((target("avx2,fma,f16c")))
static void f16_chunk(const void *context, int chunk) {
    const linear_task *task = context;
    const float *x = task->x;
    int rows = task->rows, inputs = task->inputs, outputs = task->outputs;
    int first = chunk * task->panelsPerChunk, last = first + task->panelsPerChunk;
    if (last > panels(outputs)) last = panels(outputs);
    for (int p = first; p < last; p++) {
        const uint16_t *panel = task->packed + (long)p * PANEL * inputs;
        int width = panel_width(outputs, p);
        for (int r = 0; r < rows; r += BLOCK) {
            int count = rows - r < BLOCK ? rows - r : BLOCK;
            const float *rowsIn = x + (long)r * inputs;
            float *rowsOut = task->y + (long)r * outputs + p * PANEL;
            const float *panelBias = task->bias + p * PANEL;
            switch (count) {
            case 6: block(rowsIn, 6, inputs, panel, panelBias, width, rowsOut, outputs); break;
            case 5: block(rowsIn, 5, inputs, panel, panelBias, width, rowsOut, outputs); break;
            case 4: block(rowsIn, 4, inputs, panel, panelBias, width, rowsOut, outputs); break;
            case 3: block(rowsIn, 3, inputs, panel, panelBias, width, rowsOut, outputs); break;
            case 2: block(rowsIn, 2, inputs, panel, panelBias, width, rowsOut, outputs); break;
            default: block(rowsIn, 1, inputs, panel, panelBias, width, rowsOut, outputs); break;
            }
        }
    }
}

void rasi_linear_packed(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y) {
    if (use_bf16()) {
        linear_bf16(x, rows, inputs, packed, bias, outputs, y);
        return;
    }
    linear_task task = {.x = x, .rows = rows, .inputs = inputs, .outputs = outputs, .packed = packed, .bias = bias, .y = y};
    run_linear(&task, f16_chunk);
}

#else
// Other architectures multiply through BLAS: the model never packs or calls these.

int rasi_kernels_available(void) { return 0; }

void rasi_pack_weight(const float *weight, int outputs, int inputs, uint16_t *packed) {}

void rasi_linear_packed(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y) {}
#endif

// Vector search: inner products of unit vectors, and bringing a graph's next vectors into the
// cache before they are scored, so their trips from memory overlap instead of queueing.

ELEMENTWISE
float rasi_dot(const float *a, const float *b, long count) {
    float sum = 0;
#pragma clang loop vectorize(enable) interleave_count(4)
    for (long i = 0; i < count; i++) sum += a[i] * b[i];
    return sum;
}

void rasi_prefetch(const void *address, long bytes) {
    const char *p = address;
    for (long offset = 0; offset < bytes; offset += 64) __builtin_prefetch(p + offset, 0, 3);
}
