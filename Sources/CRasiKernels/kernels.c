#include "rasi_kernels.h"
#include <string.h>

#define PANEL 16
#define BLOCK 6

static inline int panels(int outputs) {
    return (outputs + PANEL - 1) / PANEL;
}

long rasi_packed_size(int outputs, int inputs) {
    return (long)panels(outputs) * PANEL * inputs;
}

#if defined(__x86_64__)
#include <immintrin.h>

int rasi_kernels_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

__attribute__((target("f16c")))
void rasi_pack_weight(const float *weight, int outputs, int inputs, uint16_t *packed) {
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
    // A full panel (every layer of the model: 384, 1152 and 1536 outputs) is read and written
    // in place; only a partial last one goes through a padded copy.
    float padded[PANEL] = {0};
    const float *panelBias = bias;
    if (width < PANEL) {
        memcpy(padded, bias, sizeof(float) * width);
        panelBias = padded;
    }
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

__attribute__((target("avx2,fma,f16c")))
void rasi_linear_packed(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y) {
    for (int p = 0; p < panels(outputs); p++) {
        const uint16_t *panel = packed + (long)p * PANEL * inputs;
        int width = outputs - p * PANEL < PANEL ? outputs - p * PANEL : PANEL;
        for (int r = 0; r < rows; r += BLOCK) {
            int count = rows - r < BLOCK ? rows - r : BLOCK;
            const float *rowsIn = x + (long)r * inputs;
            float *rowsOut = y + (long)r * outputs + p * PANEL;
            const float *panelBias = bias + p * PANEL;
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

#else
// Other architectures multiply through BLAS: the model never packs or calls these.

int rasi_kernels_available(void) { return 0; }

void rasi_pack_weight(const float *weight, int outputs, int inputs, uint16_t *packed) {}

void rasi_linear_packed(const float *x, int rows, int inputs, const uint16_t *packed, const float *bias, int outputs, float *y) {}
#endif
