#define _GNU_SOURCE
#include "rasi_kernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

// A pass's products split over a few threads: the caller and up to MAX_HELPERS helpers take
// chunks from one counter until none is left. A helper that is slow to wake leaves its chunks
// to the caller, so a busy machine gets a serial pass, never a wait for a thread that is not
// running. Helpers spin a moment after their last chunk (the next product of the pass follows
// within microseconds), then sleep until the next task.

#define MAX_HELPERS 3
#define SPIN_NS 200000L

#if defined(__x86_64__)
#define RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define RELAX() __asm__ __volatile__("yield")
#else
#define RELAX() ((void)0)
#endif

// The task word: generation (20 bits) | chunks (12 bits) | next chunk to take (32 bits). Taking a
// chunk is one fetch-add on it, so a chunk taken always belongs to the task it was taken from.
#define COUNT_SHIFT 32
#define GENERATION_SHIFT 44
#define LOW_MASK 0xffffffffULL

static struct {
    _Atomic uint64_t word;
    _Atomic int done;
    _Atomic int sleepers;
    _Atomic int busy;
    _Atomic int threads;
    void (*run)(const void *, int);
    const void *context;
    uint64_t generation;
    int helpers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_once_t once;
} pool = {
    .mutex = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .once = PTHREAD_ONCE_INIT,
};

static inline int chunk_index(uint64_t word) { return (int)(word & LOW_MASK); }
static inline int chunk_count(uint64_t word) { return (int)((word >> COUNT_SHIFT) & 0xfff); }

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/// Takes and runs chunks of the current task until none is left; whether it ran any.
static int work(void) {
    int ran = 0;
    for (;;) {
        uint64_t seen = atomic_load(&pool.word);
        if (chunk_index(seen) >= chunk_count(seen)) return ran;
        uint64_t taken = atomic_fetch_add(&pool.word, 1);
        int index = chunk_index(taken);
        if (index >= chunk_count(taken)) return ran;
        pool.run(pool.context, index);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
        ran = 1;
    }
}

static void *helper(void *unused) {
    (void)unused;
    long idleSince = now_ns();
    for (;;) {
        if (work()) {
            idleSince = now_ns();
            continue;
        }
        for (int i = 0; i < 32; i++) RELAX();
        if (now_ns() - idleSince < SPIN_NS) continue;
        pthread_mutex_lock(&pool.mutex);
        atomic_fetch_add(&pool.sleepers, 1);
        uint64_t seen = atomic_load(&pool.word);
        while (chunk_index(seen) >= chunk_count(seen)) {
            pthread_cond_wait(&pool.wake, &pool.mutex);
            seen = atomic_load(&pool.word);
        }
        atomic_fetch_sub(&pool.sleepers, 1);
        pthread_mutex_unlock(&pool.mutex);
        idleSince = now_ns();
    }
    return NULL;
}

/// This process's CPUs (its affinity mask where the system has one), at most 1 + MAX_HELPERS.
static int default_threads(void) {
    const char *configured = getenv("RASI_EMBED_THREADS");
    if (configured && atoi(configured) > 0) return atoi(configured) > 1 + MAX_HELPERS ? 1 + MAX_HELPERS : atoi(configured);
    int cpus = 1;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
#else
    cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (cpus < 1) cpus = 1;
    return cpus > 1 + MAX_HELPERS ? 1 + MAX_HELPERS : cpus;
}

static void start(void) {
    atomic_store(&pool.threads, default_threads());
    int wanted = atomic_load(&pool.threads) - 1;
    for (int i = 0; i < wanted; i++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attributes, helper, NULL) == 0) pool.helpers++;
        pthread_attr_destroy(&attributes);
    }
}

int rasi_parallel_threads(void) {
    pthread_once(&pool.once, start);
    int threads = atomic_load(&pool.threads);
    return threads < 1 + pool.helpers ? threads : 1 + pool.helpers;
}

void rasi_set_parallel_threads(int threads) {
    pthread_once(&pool.once, start);
    atomic_store(&pool.threads, threads < 1 ? 1 : threads);
}

void rasi_parallel_for(void (*run)(const void *context, int chunk), const void *context, int chunks) {
    int expected = 0;
    // Serial when there is one chunk, one thread, or another caller's task in flight.
    if (chunks <= 1 || chunks > 0xfff || rasi_parallel_threads() < 2 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        for (int i = 0; i < chunks; i++) run(context, i);
        return;
    }
    // Every chunk of the previous task is done, so no helper reads these until the word below is published.
    pool.run = run;
    pool.context = context;
    atomic_store(&pool.done, 0);
    pool.generation = (pool.generation + 1) & 0xfffff;
    atomic_store(&pool.word, pool.generation << GENERATION_SHIFT | (uint64_t)chunks << COUNT_SHIFT);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.mutex);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.mutex);
    }
    work();
    // What is left is in a helper's hands, mid-chunk: spin briefly, then yield the CPU to it.
    for (long spins = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < chunks; spins++) {
        if (spins < 4096) RELAX();
        else sched_yield();
    }
    atomic_store(&pool.busy, 0);
}
