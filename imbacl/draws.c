/* torch's CPU draws, faster (benchmarks/README.md), for train(compile=True); imbacl/fast.py
   loads this.

   torch.rand, torch.randn and torch.randint(0, 2**32) of float32 / int64 from one
   torch.Generator on a CPU, as torch draws them: the same Mersenne Twister (mt19937) outputs,
   used in the same order, read from and written back to the generator's get_state() bytes.
   The uniforms, the mask words and the generator's state come out bit for bit as torch's; the
   normals come from the same uniform pairs by the same Box-Muller transform of torch's
   normal_fill_16, with a polynomial log, sin and cos that the compiler vectorizes, so they
   differ from torch's in the last bits (a few float32 ulps of each pair's radius). */
#include <stdint.h>
#include <string.h>
#include <math.h>

enum { N = 624, M = 397 };
#define UPPER 0x80000000u
#define LOWER 0x7fffffffu
#define MATRIX_A 0x9908b0dfu

typedef struct { uint32_t s[N]; int64_t left, next; } mt;

/* The twister's regeneration of all 624 words (torch's mt19937::next_state). */
static void twist(uint32_t *s) {
    for (int i = 0; i < N - M; i++) {
        uint32_t y = (s[i] & UPPER) | (s[i + 1] & LOWER);
        s[i] = s[i + M] ^ (y >> 1) ^ ((s[i + 1] & 1u) ? MATRIX_A : 0u);
    }
    for (int i = N - M; i < N - 1; i++) {
        uint32_t y = (s[i] & UPPER) | (s[i + 1] & LOWER);
        s[i] = s[i + M - N] ^ (y >> 1) ^ ((s[i + 1] & 1u) ? MATRIX_A : 0u);
    }
    uint32_t y = (s[N - 1] & UPPER) | (s[0] & LOWER);
    s[N - 1] = s[M - 1] ^ (y >> 1) ^ ((s[0] & 1u) ? MATRIX_A : 0u);
}

/* n outputs, as n calls of torch's mt19937::operator() give them: a call counts `left` down and
   regenerates when it reaches 0; between regenerations the outputs are tempered in a run. */
static void raw(mt *g, uint32_t *out, int64_t n) {
    while (n > 0) {
        if (g->left == 1) { twist(g->s); g->left = N + 1; g->next = 0; }
        int64_t take = n < g->left - 1 ? n : g->left - 1;
        const uint32_t *s = g->s + g->next;
        for (int64_t i = 0; i < take; i++) {
            uint32_t y = s[i];
            y ^= y >> 11; y ^= (y << 7) & 0x9d2c5680u; y ^= (y << 15) & 0xefc60000u; y ^= y >> 18;
            out[i] = y;
        }
        g->next += take; g->left -= take; out += take; n -= take;
    }
}

/* torch's uniform_real_distribution<float>(0, 1): the low 24 bits of one output, times 2^-24. */
static void uniforms(mt *g, float *out, int64_t n) {
    uint32_t buf[1024];
    while (n > 0) {
        int64_t k = n < 1024 ? n : 1024;
        raw(g, buf, k);
        for (int64_t i = 0; i < k; i++) out[i] = (float)(buf[i] & 0xffffffu) * (1.0f / 16777216.0f);
        out += k; n -= k;
    }
}

/* log(x) for x in (0, 1], Cephes' logf polynomial, written without branches so that the
   compiler vectorizes it (libm's scalar logf would cost more than all the rest). */
static inline float log01(float x) {
    uint32_t i; memcpy(&i, &x, 4);
    int e = (int)(i >> 23) - 126;                       /* x = m 2^e, m in [0.5, 1) */
    i = (i & 0x807fffffu) | 0x3f000000u;
    float m; memcpy(&m, &i, 4);
    int small = m < 0.70710678118654752f;
    e -= small;
    m = small ? m + m - 1.0f : m - 1.0f;
    float z = m * m;
    float y = (((((((( 7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m
              - 1.2420140846e-1f) * m + 1.4249322787e-1f) * m - 1.6668057665e-1f) * m
              + 2.0000714765e-1f) * m - 2.4999993993e-1f) * m + 3.3333331174e-1f) * m * z;
    float fe = (float)e;
    y += -2.12194440e-4f * fe - 0.5f * z;
    return m + y + 0.693359375f * fe;
}

/* cos and sin of 2 pi u for u in [0, 1): the quarter turn q nearest to u is exact, the rest is
   an angle in [-pi/4, pi/4] for Cephes' sinf and cosf polynomials. */
static inline void sincos_turns(float u, float *c, float *s) {
    float q = nearbyintf(4.0f * u), a = (u - 0.25f * q) * 6.28318530717958647692f, z = a * a;
    float sa = a + a * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
    float ca = 1.0f - 0.5f * z + z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f
               + z * 2.443315711809948e-5f));
    int k = (int)q & 3;
    float cq = k == 0 ? ca : k == 1 ? -sa : k == 2 ? -ca : sa;
    float sq = k == 0 ? sa : k == 1 ? ca : k == 2 ? -sa : -ca;
    *c = cq; *s = sq;
}

/* torch's normal_fill_16: Box-Muller on pairs (x[j], x[j + 8]) of a block of 16 uniforms. */
static void normal16(float *x) {
    for (int j = 0; j < 8; j++) {
        float radius = sqrtf(-2.0f * log01(1.0f - x[j])), c, s;
        sincos_turns(x[j + 8], &c, &s);
        x[j] = radius * c;
        x[j + 8] = radius * s;
    }
}

/* torch.rand(n_u), then torch.randn(n_xi), then torch.randint(0, 2**32, (n_w,)) from the CPU
   generator whose get_state() bytes are `state` (advanced in place). torch's layout of those
   bytes: left (int32) at 8, next (uint64) at 16, the 624 state words (as uint64) at 24.
   Returns 1, drawing nothing, unless n_xi is a multiple of 16 (torch redraws a ragged tail). */
int imbacl_draw(uint8_t *state, float *u, int64_t n_u, float *xi, int64_t n_xi,
                int64_t *words, int64_t n_w) {
    if (n_xi % 16) return 1;
    mt g;
    int32_t left; uint64_t next, s64[N];
    memcpy(&left, state + 8, 4); memcpy(&next, state + 16, 8); memcpy(s64, state + 24, 8 * N);
    for (int i = 0; i < N; i++) g.s[i] = (uint32_t)s64[i];
    g.left = left; g.next = (int64_t)next;
    uniforms(&g, u, n_u);
    uniforms(&g, xi, n_xi);
    for (int64_t i = 0; i < n_xi; i += 16) normal16(xi + i);
    /* randint(0, 2**32) draws random64() = first << 32 | second, and keeps it mod 2^32 */
    uint32_t buf[1024];
    for (int64_t i = 0; i < n_w; i += 512) {
        int64_t k = n_w - i < 512 ? n_w - i : 512;
        raw(&g, buf, 2 * k);
        for (int64_t j = 0; j < k; j++) words[i + j] = buf[2 * j + 1];
    }
    left = (int32_t)g.left; next = (uint64_t)g.next;
    for (int i = 0; i < N; i++) s64[i] = g.s[i];
    memcpy(state + 8, &left, 4); memcpy(state + 16, &next, 8); memcpy(state + 24, s64, 8 * N);
    return 0;
}
