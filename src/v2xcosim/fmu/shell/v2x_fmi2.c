/* v2xcosim generic FMI 2.0 shell (Model Exchange + Co-Simulation): the FMI API.
 *
 * Wraps one generated model kernel (kernel.c, see v2x_kernel.h) and replicates it V2X_NBLK times
 * ("fleet": one FMU instance serves N identical vehicles, each an independent block with its own
 * states, parameters, inputs and integrator history).  Value references of block b (0-based):
 *     b*V2X_STRIDE + k     k in [0, NY)            -> y[k]   (states, algebraics, outputs)
 *                          k in [NY, NY+NP)        -> p[k-NY] (parameters, inputs)
 *                          k in [NY+NP, STRIDE)    -> dx[..]  (state derivatives)
 * followed by the shell's own parameters (solver.rtol, solver.max_step_s, solver.threads; 0 threads =
 * automatic, see v2x_auto_threads).
 *
 * Co-Simulation integrates each block separately with error control and sub-steps (SDIRK,
 * Dormand-Prince or Bogacki-Shampine, V2X_SOLVER); algebraic blocks are solved before every
 * right-hand side evaluation.  The solvers are in v2x_solver.c, the dense LU in v2x_linalg.c.  This file is the
 * shell's one translation unit: it #includes those, the kernel and the generated files, so the
 * build compiles only v2x_fmi2.c and the FMU's SourceFiles list only it.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getaffinity: the CPUs this process may run on (taskset, cgroups) */
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif
#define V2X_THREADS 1 /* fleet blocks may be integrated by several threads (solver.threads) */
#else
#define V2X_THREADS 0
#endif

#include "fmi2Functions.h"
#define V2X_KFN static
#include "v2x_kernel.h"
#include "v2x_shell.h" /* named codes, also used by v2x_config.h */
#include "v2x_config.h"
/* The generated kernel is compiled in this translation unit so that the compiler can inline its
 * residual rows into the algebraic solver (the FMU's SourceFiles list only this file). */
#include "kernel.c"

#define NY V2X_NY
#define NP V2X_NP
#define NX V2X_NX
#define STRIDE (NY + NP + NX)
#define NXA (NX > 0 ? NX : 1)
#define NTA (V2X_MAXTEAR > 0 ? V2X_MAXTEAR : 1)
#define VR_RTOL ((fmi2ValueReference)(V2X_NBLK * STRIDE + V2X_SHELL_RTOL))
#define VR_MAXSTEP ((fmi2ValueReference)(V2X_NBLK * STRIDE + V2X_SHELL_MAX_STEP))
#define VR_THREADS ((fmi2ValueReference)(V2X_NBLK * STRIDE + V2X_SHELL_THREADS))
#define V2X_MAX_THREADS 64
/* solver.threads = 0 (automatic) gives each thread at least this many vehicles.  The helper
 * threads are started once per instance and kept (v2x_pool_*): waking them costs a few us per
 * fmi2DoStep, where starting and joining them cost 50-65 us per thread and step on the 2-core
 * benchmark machine; a held 60-s step costs about 2.3 us per vehicle (bench/RESULTS.md), so 64
 * vehicles (~150 us) remain a share for which a thread clearly pays for itself. */
#define V2X_MIN_BLOCKS_PER_THREAD 64

typedef struct {
    double y[NY > 0 ? NY : 1];
    double p[NP > 0 ? NP : 1];
    double dx[NXA];
    double h;              /* step size carried over to the next doStep */
    double jac[NXA * NXA]; /* df/dx at jac_x */
    double sol[NXA * NXA]; /* Newton solve, column c (coupled state ia[c]) of the NX x na matrix
                              [(I - hgA)^-1; hgC (I - hgA)^-1], rows ia then iq */
    int na, ia[NXA], iq[NXA]; /* coupled states, and states no derivative depends on (of jac) */
    double lu_h;           /* h of the current factorisation; 0 = none */
    int jac_state;         /* V2X_JAC_* */
    int alg_dirty;         /* inputs changed since the algebraic variables were solved */
    long n_steps, n_rejected, n_rhs;
} v2x_blk;

typedef struct {
    v2x_blk *blk;
    double time;
    double rtol;
    double max_step;
    double threads;        /* solver.threads: threads integrating the blocks in fmi2DoStep, 0 = automatic */
    int threads_auto;      /* what 0 means on this machine for this fleet (v2x_auto_threads) */
    int *rc, *fy;          /* per block: integrator result (V2X_STEP_*) and failing variable of the last step */
    int state;
    int type;
    int logging;
    int need_update;
    fmi2CallbackFunctions cb;
    char *name;
#if V2X_THREADS
    /* persistent helper threads (v2x_pool_*): started on the first fmi2DoStep that needs them,
     * woken by a new generation number, joined in fmi2FreeInstance */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_go, pool_done;
    pthread_t pool_tid[V2X_MAX_THREADS];
    int pool_n;              /* helper threads running */
    int pool_active;         /* helpers taking part in the current step (the others only report) */
    int pool_pending;        /* helpers not yet done with the current generation */
    int pool_quit;
    unsigned long pool_gen;  /* generation: incremented per step handed to the helpers */
    struct v2x_job_s *pool_job;
    pid_t pool_pid;          /* process that started the helpers (a forked child has none) */
#endif
} v2x_inst;

#if V2X_THREADS
static void v2x_pool_init(v2x_inst *m);
static void v2x_pool_stop(v2x_inst *m);
#endif

/* ------------------------------------------------------------------------------------------ */
static void v2x_log(v2x_inst *m, fmi2Status st, const char *cat, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    if (!m || !m->cb.logger) return;
    if (st == fmi2OK && !m->logging) return;
    char esc[2 * sizeof buf];
    size_t j = 0;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* The message is passed as the format string itself (percent signs doubled), so importers
     * whose logger callbacks do not expand C varargs still see the full text. */
    for (size_t i = 0; buf[i] && j + 2 < sizeof esc; ++i) {
        if (buf[i] == '%') esc[j++] = '%';
        esc[j++] = buf[i];
    }
    esc[j] = 0;
    m->cb.logger(m->cb.componentEnvironment, m->name ? m->name : "?", st, cat, esc);
}

static void v2x_var_name(int b, int k, char *out, size_t n) {
    const char *base;
    if (k < NY) base = v2x_y_names[k];
    else if (k < NY + NP) base = v2x_p_names[k - NY];
    else base = v2x_y_names[k - NY - NP];
    if (V2X_FLEET) {
        if (k >= NY + NP) snprintf(out, n, "der(" V2X_FLEET_PREFIX "[%d].%s)", b + 1, base);
        else snprintf(out, n, V2X_FLEET_PREFIX "[%d].%s", b + 1, base);
    } else {
        if (k >= NY + NP) snprintf(out, n, "der(%s)", base);
        else snprintf(out, n, "%s", base);
    }
}

/* The solvers are files of their own, compiled in this translation unit (the FMU's SourceFiles
 * list only this file): dense LU (v2x_linalg.c), then the algebraic blocks and the integrators
 * (v2x_solver.c). */
#include "v2x_linalg.c"
#include "v2x_solver.c"

/* ---------------------------------------------------------------- helpers --------------- */
static v2x_inst *INST(fmi2Component c) { return (v2x_inst *)c; }

static fmi2Status v2x_fail(v2x_inst *m, int blk, int fail_y, double t, const char *what) {
    char nm[256];
    if (fail_y < 0) v2x_var_name(blk, NY + NP + (-fail_y - 1), nm, sizeof nm);
    else v2x_var_name(blk, fail_y, nm, sizeof nm);
    v2x_log(m, fmi2Error, "logStatusError", "%s: variable %s at t = %.9g s", what, nm, t);
    m->state = ST_ERROR;
    return fmi2Error;
}

/* A parameter or input outside the min/max the model declares for it. */
static int v2x_out_of_range(int pk, double v) { return v < v2x_p_min[pk] || v > v2x_p_max[pk]; }

static fmi2Status v2x_range_error(v2x_inst *m, const char *where, int blk, int pk, double v,
                                  const char *hint) {
    char nm[256];
    v2x_var_name(blk, NY + pk, nm, sizeof nm);
    v2x_log(m, fmi2Error, "logStatusError", "%s: %s = %g is outside its range [%g, %g] declared in the model%s",
            where, nm, v, v2x_p_min[pk], v2x_p_max[pk], hint);
    return fmi2Error;
}

/* Parameter-dependent values, then the algebraic variables, for every block. */
static fmi2Status v2x_refresh(v2x_inst *m, int with_update) {
    for (int k = 0; k < V2X_NBLK; ++k) {
        v2x_blk *b = &m->blk[k];
        int fy = 0;
        if (with_update) {
            /* rumoca's update plan is not ordered across parameter and start targets: repeat it
             * until a fixed point (bounded by the length of the dependency chain). */
            double pp[NP > 0 ? NP : 1], yy[NY > 0 ? NY : 1];
            for (int pass = 0; pass < 64; ++pass) {
                memcpy(pp, b->p, sizeof pp);
                memcpy(yy, b->y, sizeof yy);
                v2x_kernel_update(b->p, b->y);
                if (memcmp(pp, b->p, sizeof pp) == 0 && memcmp(yy, b->y, sizeof yy) == 0) break;
            }
            /* calculated parameters (and the others, once more) against their declared ranges */
            for (int pk = 0; pk < NP; ++pk)
                if (v2x_p_kind[pk] != V2X_P_INPUT && v2x_out_of_range(pk, b->p[pk])) {
                    m->state = ST_ERROR;
                    return v2x_range_error(m, "initialization", k, pk, b->p[pk],
                                           v2x_p_kind[pk] == V2X_P_CALCULATED ? " (it is calculated: check the parameters it depends on)" : "");
                }
        }
        if (v2x_solve_alg(b, m->time, &fy) != 0)
            return v2x_fail(m, k, fy, m->time, "algebraic loop did not converge or gave a non-finite value");
        if (NX > 0) v2x_kernel_derivatives(m->time, b->y, b->p, b->dx);
        b->alg_dirty = 0;
        for (int i = 0; i < NY; ++i)
            if (!isfinite(b->y[i])) return v2x_fail(m, k, i, m->time, "non-finite value");
        for (int i = 0; i < NX; ++i)
            if (!isfinite(b->dx[i])) return v2x_fail(m, k, -(i + 1), m->time, "non-finite derivative");
    }
    if (with_update) m->need_update = 0;
    return fmi2OK;
}

static fmi2Status v2x_sync(v2x_inst *m) {
    if (m->state == ST_INSTANTIATED || m->state == ST_INIT) {
        if (m->need_update) return v2x_refresh(m, 1);
        return fmi2OK;
    }
    for (int k = 0; k < V2X_NBLK; ++k) {
        v2x_blk *b = &m->blk[k];
        if (b->alg_dirty) {
            int fy = 0;
            if (v2x_solve_alg(b, m->time, &fy) != 0)
                return v2x_fail(m, k, fy, m->time, "algebraic loop did not converge or gave a non-finite value");
            if (NX > 0) v2x_kernel_derivatives(m->time, b->y, b->p, b->dx);
            b->alg_dirty = 0;
        }
    }
    return fmi2OK;
}

/* ---------------------------------------------------------------- FMI 2.0 common ----------- */
const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cats[]) {
    (void)n; (void)cats;
    if (!c) return fmi2Error;
    INST(c)->logging = on ? 1 : 0;
    return fmi2OK;
}

static void v2x_defaults(v2x_inst *m) {
    for (int k = 0; k < V2X_NBLK; ++k) {
        v2x_blk *b = &m->blk[k];
        memset(b, 0, sizeof *b);
        memcpy(b->y, v2x_y_start, sizeof(double) * NY);
        memcpy(b->p, v2x_p_default, sizeof(double) * NP);
        b->alg_dirty = 1;
    }
    m->time = 0.0;
    m->rtol = V2X_RTOL_DEFAULT;
    m->max_step = 0.0;
    m->threads = 0.0;
    m->need_update = 1;
    m->state = ST_INSTANTIATED;
}

/* Threads for solver.threads = 0: the CPUs this process may use, at most one per
 * V2X_MIN_BLOCKS_PER_THREAD vehicles and at most V2X_MAX_THREADS; at least 1. */
static int v2x_auto_threads(void) {
    long ncpu = 1;
#if V2X_THREADS
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) ncpu = CPU_COUNT(&set);
    else ncpu = sysconf(_SC_NPROCESSORS_ONLN);
#else
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
#endif
#endif
    long n = V2X_NBLK / V2X_MIN_BLOCKS_PER_THREAD;
    if (ncpu < n) n = ncpu;
    if (n > V2X_MAX_THREADS) n = V2X_MAX_THREADS;
    return n < 1 ? 1 : (int)n;
}

/* Threads integrating the blocks in fmi2DoStep: solver.threads, or the automatic count for 0. */
static int v2x_threads_used(const v2x_inst *m) {
    int nth = m->threads > 0.0 ? (int)m->threads : m->threads_auto;
    return nth > V2X_NBLK ? V2X_NBLK : nth;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String loc,
                              const fmi2CallbackFunctions *cb, fmi2Boolean visible,
                              fmi2Boolean logging) {
    (void)loc; (void)visible;
    if (!cb || !cb->logger) return NULL;
    if (!guid || strcmp(guid, V2X_GUID) != 0) {
        cb->logger(cb->componentEnvironment, name ? name : "?", fmi2Error, "logStatusError",
                   "GUID mismatch: the FMU expects %s, modelDescription gave %s; rebuild the FMU",
                   V2X_GUID, guid ? guid : "(null)");
        return NULL;
    }
    v2x_inst *m = (v2x_inst *)calloc(1, sizeof(v2x_inst));
    if (!m) return NULL;
    m->blk = (v2x_blk *)calloc(V2X_NBLK, sizeof(v2x_blk));
    m->rc = (int *)calloc(V2X_NBLK, sizeof(int));
    m->fy = (int *)calloc(V2X_NBLK, sizeof(int));
    m->name = (char *)malloc(strlen(name ? name : "v2x") + 1);
    if (!m->blk || !m->rc || !m->fy || !m->name) {
        free(m->blk); free(m->rc); free(m->fy); free(m->name); free(m);
        return NULL;
    }
    strcpy(m->name, name ? name : "v2x");
    m->cb = *cb;
    m->type = (int)type;
    m->logging = logging ? 1 : 0;
    v2x_defaults(m);
    m->threads_auto = v2x_auto_threads();
#if V2X_THREADS
    v2x_pool_init(m);
#endif
    return m;
}

void fmi2FreeInstance(fmi2Component c) {
    v2x_inst *m = INST(c);
    if (!m) return;
    if (getenv("V2X_SOLVER_STATS")) {
        for (int k = 0; k < V2X_NBLK && k < 3; ++k)
            fprintf(stderr, "v2x block %d: %ld steps, %ld rejected, %ld rhs evaluations\n", k + 1,
                    m->blk[k].n_steps, m->blk[k].n_rejected, m->blk[k].n_rhs);
    }
#if V2X_THREADS
    v2x_pool_stop(m);
#endif
    free(m->blk);
    free(m->rc);
    free(m->fy);
    free(m->name);
    free(m);
}

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tolDefined, fmi2Real tol,
                               fmi2Real tStart, fmi2Boolean stopDefined, fmi2Real tStop) {
    (void)stopDefined; (void)tStop;
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    m->time = tStart;
    if (tolDefined && tol > 0.0 && m->type == fmi2CoSimulation) m->rtol = tol;
    return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    m->state = ST_INIT;
    m->need_update = 1;
    return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    fmi2Status s = v2x_refresh(m, m->need_update);
    if (s != fmi2OK) return s;
    if (V2X_FLEET)
        v2x_log(m, fmi2OK, "logEvents", "%d vehicles integrated on %d thread(s) (solver.threads = %g%s)", V2X_NBLK,
                v2x_threads_used(m), m->threads,
                m->threads > 0.0 ? "" : ": automatic, one per CPU this process may use and per 64 vehicles");
    m->state = ST_RUNNING;
    return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) {
    if (!c) return fmi2Error;
    INST(c)->state = ST_TERMINATED;
    return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component c) {
    if (!c) return fmi2Error;
    v2x_defaults(INST(c));
    return fmi2OK;
}

/* Resolve a value reference: returns pointer to the value, block index, kind (V2X_VR_*) and the
 * index k within the block (or of the shell parameter, V2X_SHELL_*). */
static double *v2x_ref(v2x_inst *m, fmi2ValueReference vr, int *blk, int *kind, int *k) {
    if (vr == VR_RTOL) { *kind = V2X_VR_SHELL; *blk = 0; *k = V2X_SHELL_RTOL; return &m->rtol; }
    if (vr == VR_MAXSTEP) { *kind = V2X_VR_SHELL; *blk = 0; *k = V2X_SHELL_MAX_STEP; return &m->max_step; }
    if (vr == VR_THREADS) { *kind = V2X_VR_SHELL; *blk = 0; *k = V2X_SHELL_THREADS; return &m->threads; }
    if (vr >= (fmi2ValueReference)(V2X_NBLK * STRIDE)) return NULL;
    *blk = (int)(vr / STRIDE);
    *k = (int)(vr % STRIDE);
    v2x_blk *b = &m->blk[*blk];
    if (*k < NY) { *kind = V2X_VR_Y; return &b->y[*k]; }
    if (*k < NY + NP) { *kind = V2X_VR_P; return &b->p[*k - NY]; }
    *kind = V2X_VR_DX;
    return &b->dx[*k - NY - NP];
}

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real v[]) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    if (n > 0 && v2x_sync(m) != fmi2OK) return fmi2Error;
    for (size_t i = 0; i < n; ++i) {
        int blk, kind, k;
        double *r = v2x_ref(m, vr[i], &blk, &kind, &k);
        if (!r) {
            v2x_log(m, fmi2Error, "logStatusError", "fmi2GetReal: unknown value reference %u", vr[i]);
            return fmi2Error;
        }
        v[i] = *r;
    }
    return fmi2OK;
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Real v[]) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    int pre = (m->state == ST_INSTANTIATED || m->state == ST_INIT);
    for (size_t i = 0; i < n; ++i) {
        int blk, kind, k;
        char nm[256];
        double *r = v2x_ref(m, vr[i], &blk, &kind, &k);
        if (!r) {
            v2x_log(m, fmi2Error, "logStatusError", "fmi2SetReal: unknown value reference %u", vr[i]);
            return fmi2Error;
        }
        if (kind == V2X_VR_SHELL) {
            static const char *const shell_names[V2X_SHELL_N_PARAMS] = {"solver.rtol", "solver.max_step_s", "solver.threads"};
            if (k == V2X_SHELL_THREADS && !(v[i] >= 0.0 && v[i] <= V2X_MAX_THREADS && v[i] == floor(v[i]))) {
                v2x_log(m, fmi2Error, "logStatusError", "fmi2SetReal: solver.threads must be a whole number from 0 (automatic) to %d, got %g",
                        V2X_MAX_THREADS, v[i]);
                return fmi2Error;
            }
            if (!(v[i] >= 0.0) || !isfinite(v[i])) {
                v2x_log(m, fmi2Error, "logStatusError", "fmi2SetReal: %s must be a finite value >= 0, got %g",
                        shell_names[k], v[i]);
                return fmi2Error;
            }
            *r = v[i];
            continue;
        }
        int ok = 0;
        if (kind == V2X_VR_P) {
            int pk = k - NY;
            ok = (v2x_p_kind[pk] == V2X_P_INPUT) || (v2x_p_kind[pk] == V2X_P_PARAMETER && pre);
        } else if (kind == V2X_VR_Y) {
            ok = pre && v2x_y_settable[k];
        }
        if (!ok) {
            v2x_var_name(blk, k, nm, sizeof nm);
            v2x_log(m, fmi2Error, "logStatusError", "fmi2SetReal: variable %s cannot be set %s", nm,
                    pre ? "(it is calculated)" : "after initialization (only inputs can)");
            return fmi2Error;
        }
        if (!isfinite(v[i])) {
            v2x_var_name(blk, k, nm, sizeof nm);
            v2x_log(m, fmi2Error, "logStatusError", "fmi2SetReal: non-finite value %g for variable %s at t = %.9g s",
                    v[i], nm, m->time);
            m->state = pre ? m->state : ST_ERROR;
            return fmi2Error;
        }
        if (*r != v[i]) {
            if (kind == V2X_VR_P && v2x_out_of_range(k - NY, v[i])) { /* the held value was checked */
                m->state = pre ? m->state : ST_ERROR;
                return v2x_range_error(m, "fmi2SetReal", blk, k - NY, v[i], "");
            }
            *r = v[i];
            m->blk[blk].alg_dirty = 1;
            /* a new input: a failing stage may refresh the Jacobian again (REFRESHED -> VALID) */
            if (kind == V2X_VR_P && v2x_p_kind[k - NY] == V2X_P_INPUT)
                m->blk[blk].jac_state = m->blk[blk].jac_state != V2X_JAC_NONE ? V2X_JAC_VALID : V2X_JAC_NONE;
            if (pre) m->need_update = 1;
        }
    }
    return fmi2OK;
}

fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Integer v[]) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    for (size_t i = 0; i < n; ++i) {
        fmi2Real x;
        if (fmi2GetReal(c, &vr[i], 1, &x) != fmi2OK) return fmi2Error;
        v[i] = (fmi2Integer)lround(x);
    }
    return fmi2OK;
}

fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Integer v[]) {
    for (size_t i = 0; i < n; ++i) {
        fmi2Real x = (fmi2Real)v[i];
        if (fmi2SetReal(c, &vr[i], 1, &x) != fmi2OK) return fmi2Error;
    }
    return fmi2OK;
}

fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Boolean v[]) {
    for (size_t i = 0; i < n; ++i) {
        fmi2Real x;
        if (fmi2GetReal(c, &vr[i], 1, &x) != fmi2OK) return fmi2Error;
        v[i] = x != 0.0;
    }
    return fmi2OK;
}

fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Boolean v[]) {
    for (size_t i = 0; i < n; ++i) {
        fmi2Real x = v[i] ? 1.0 : 0.0;
        if (fmi2SetReal(c, &vr[i], 1, &x) != fmi2OK) return fmi2Error;
    }
    return fmi2OK;
}

fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2String v[]) {
    (void)vr; (void)v;
    if (n == 0) return fmi2OK;
    v2x_log(INST(c), fmi2Error, "logStatusError", "fmi2GetString: the model has no String variables");
    return fmi2Error;
}

fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2String v[]) {
    (void)vr; (void)v;
    if (n == 0) return fmi2OK;
    v2x_log(INST(c), fmi2Error, "logStatusError", "fmi2SetString: the model has no String variables");
    return fmi2Error;
}

/* ---------------------------------------------------------------- FMU state ---------------- */
typedef struct {
    unsigned magic;
    int nblk;
    double time, rtol, max_step;
    int state, need_update;
} v2x_hdr;

#define V2X_MAGIC 0x56325846u
#define V2X_STATE_BYTES (sizeof(v2x_hdr) + sizeof(v2x_blk) * (size_t)V2X_NBLK)

static void v2x_pack(v2x_inst *m, char *buf) {
    v2x_hdr h = {V2X_MAGIC, V2X_NBLK, m->time, m->rtol, m->max_step, m->state, m->need_update};
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, m->blk, sizeof(v2x_blk) * (size_t)V2X_NBLK);
}

static fmi2Status v2x_unpack(v2x_inst *m, const char *buf, size_t size) {
    v2x_hdr h;
    if (size != V2X_STATE_BYTES) {
        v2x_log(m, fmi2Error, "logStatusError", "FMU state has %zu bytes, expected %zu", size, (size_t)V2X_STATE_BYTES);
        return fmi2Error;
    }
    memcpy(&h, buf, sizeof h);
    if (h.magic != V2X_MAGIC || h.nblk != V2X_NBLK) {
        v2x_log(m, fmi2Error, "logStatusError", "FMU state was not saved by this FMU");
        return fmi2Error;
    }
    m->time = h.time; m->rtol = h.rtol; m->max_step = h.max_step;
    m->state = h.state; m->need_update = h.need_update;
    memcpy(m->blk, buf + sizeof h, sizeof(v2x_blk) * (size_t)V2X_NBLK);
    return fmi2OK;
}

fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate *s) {
    v2x_inst *m = INST(c);
    if (!m || !s) return fmi2Error;
    char *buf = (char *)(*s ? *s : malloc(V2X_STATE_BYTES));
    if (!buf) return fmi2Error;
    v2x_pack(m, buf);
    *s = buf;
    return fmi2OK;
}

fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate s) {
    v2x_inst *m = INST(c);
    if (!m || !s) return fmi2Error;
    return v2x_unpack(m, (const char *)s, V2X_STATE_BYTES);
}

fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate *s) {
    (void)c;
    if (s && *s) { free(*s); *s = NULL; }
    return fmi2OK;
}

fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate s, size_t *size) {
    (void)c; (void)s;
    *size = V2X_STATE_BYTES;
    return fmi2OK;
}

fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate s, fmi2Byte bytes[], size_t size) {
    v2x_inst *m = INST(c);
    if (!m || !s || size < V2X_STATE_BYTES) return fmi2Error;
    memcpy(bytes, s, V2X_STATE_BYTES);
    return fmi2OK;
}

fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte bytes[], size_t size, fmi2FMUstate *s) {
    v2x_inst *m = INST(c);
    if (!m || !s) return fmi2Error;
    if (size != V2X_STATE_BYTES || ((const v2x_hdr *)(const void *)bytes)->magic != V2X_MAGIC) {
        v2x_log(m, fmi2Error, "logStatusError", "serialized FMU state has %zu bytes or a wrong header; expected %zu bytes from this FMU",
                size, (size_t)V2X_STATE_BYTES);
        return fmi2Error;
    }
    char *buf = (char *)malloc(V2X_STATE_BYTES);
    if (!buf) return fmi2Error;
    memcpy(buf, bytes, V2X_STATE_BYTES);
    *s = buf;
    return fmi2OK;
}

fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference u[], size_t nu,
                                        const fmi2ValueReference z[], size_t nz,
                                        const fmi2Real dv[], fmi2Real dz[]) {
    (void)u; (void)nu; (void)z; (void)nz; (void)dv; (void)dz;
    v2x_log(INST(c), fmi2Error, "logStatusError", "directional derivatives are not provided");
    return fmi2Error;
}

/* ---------------------------------------------------------------- Model Exchange ----------- */
fmi2Status fmi2EnterEventMode(fmi2Component c) { return c ? fmi2OK : fmi2Error; }

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *e) {
    if (!c) return fmi2Error;
    e->newDiscreteStatesNeeded = fmi2False;
    e->terminateSimulation = fmi2False;
    e->nominalsOfContinuousStatesChanged = fmi2False;
    e->valuesOfContinuousStatesChanged = fmi2False;
    e->nextEventTimeDefined = fmi2False;
    e->nextEventTime = 0.0;
    return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) { return c ? fmi2OK : fmi2Error; }

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noSet, fmi2Boolean *enter,
                                       fmi2Boolean *term) {
    (void)noSet;
    if (!c) return fmi2Error;
    *enter = fmi2False;
    *term = fmi2False;
    return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real t) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    m->time = t;
    for (int k = 0; k < V2X_NBLK; ++k) m->blk[k].alg_dirty = 1;
    return fmi2OK;
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
    v2x_inst *m = INST(c);
    if (!m || nx != (size_t)(NX * V2X_NBLK)) return fmi2Error;
    for (int k = 0; k < V2X_NBLK; ++k) {
        for (int i = 0; i < NX; ++i) {
            if (!isfinite(x[k * NX + i])) {
                return v2x_fail(m, k, i, m->time, "non-finite continuous state set by the importer");
            }
        }
        memcpy(m->blk[k].y, x + (size_t)k * NX, sizeof(double) * NX);
        m->blk[k].alg_dirty = 1;
    }
    return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t nx) {
    v2x_inst *m = INST(c);
    if (!m || nx != (size_t)(NX * V2X_NBLK)) return fmi2Error;
    if (v2x_sync(m) != fmi2OK) return fmi2Error;
    for (int k = 0; k < V2X_NBLK; ++k) {
        for (int i = 0; i < NX; ++i) {
            if (!isfinite(m->blk[k].dx[i])) return v2x_fail(m, k, -(i + 1), m->time, "non-finite derivative");
        }
        memcpy(dx + (size_t)k * NX, m->blk[k].dx, sizeof(double) * NX);
    }
    return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real ind[], size_t ni) {
    (void)ind;
    return (c && ni == 0) ? fmi2OK : fmi2Error;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    v2x_inst *m = INST(c);
    if (!m || nx != (size_t)(NX * V2X_NBLK)) return fmi2Error;
    if (m->state == ST_INSTANTIATED || m->state == ST_INIT) {
        if (v2x_sync(m) != fmi2OK) return fmi2Error;
    }
    for (int k = 0; k < V2X_NBLK; ++k) memcpy(x + (size_t)k * NX, m->blk[k].y, sizeof(double) * NX);
    return fmi2OK;
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
    if (!c || nx != (size_t)(NX * V2X_NBLK)) return fmi2Error;
    for (int k = 0; k < V2X_NBLK; ++k) memcpy(x + (size_t)k * NX, v2x_x_nominal, sizeof(double) * NX);
    return fmi2OK;
}

/* ---------------------------------------------------------------- Co-Simulation ------------ */
fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                       const fmi2Integer order[], const fmi2Real v[]) {
    (void)vr; (void)order; (void)v;
    if (n == 0) return fmi2OK;
    v2x_log(INST(c), fmi2Error, "logStatusError", "input derivatives are not supported (canInterpolateInputs=false)");
    return fmi2Error;
}

fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                        const fmi2Integer order[], fmi2Real v[]) {
    (void)vr; (void)order; (void)v;
    if (n == 0) return fmi2OK;
    v2x_log(INST(c), fmi2Error, "logStatusError", "output derivatives are not provided");
    return fmi2Error;
}

/* Integration of the blocks over [t0, t1] for fmi2DoStep.  Blocks are independent (own states,
 * inputs and integrator history), so threads take chunks of them from a shared counter and a
 * block's result does not depend on which thread integrated it: a fleet FMU gives the same bits
 * with any solver.threads.  Results go to m->rc / m->fy; messages are written afterwards by the
 * calling thread. */
typedef struct v2x_job_s {
    v2x_inst *m;
    double t0, t1;
    int chunk; /* blocks taken at a time: about 8 chunks per thread, for load balance */
    int next;  /* next block to take (atomic) */
} v2x_job;

static void *v2x_worker(void *arg) {
    v2x_job *job = (v2x_job *)arg;
    v2x_inst *m = job->m;
    for (;;) {
        const int k0 = __atomic_fetch_add(&job->next, job->chunk, __ATOMIC_RELAXED);
        if (k0 >= V2X_NBLK) break;
        for (int k = k0; k < k0 + job->chunk && k < V2X_NBLK; ++k) {
            v2x_blk *b = &m->blk[k];
            int fy = 0, rc;
            if (V2X_SOLVER == V2X_SOLVER_SDIRK) rc = v2x_integrate_sdirk(m, b, job->t0, job->t1, &fy);
            else if (V2X_SOLVER == V2X_SOLVER_BS3) rc = v2x_integrate_bs3(m, b, job->t0, job->t1, &fy);
            else rc = v2x_integrate_dopri(m, b, job->t0, job->t1, &fy);
            if (rc == V2X_STEP_OK)
                for (int i = 0; i < NY; ++i)
                    if (!isfinite(b->y[i])) { rc = V2X_STEP_NONFINITE; fy = i; break; }
            m->rc[k] = rc;
            m->fy[k] = fy;
        }
    }
    return NULL;
}

#if V2X_THREADS
typedef struct {
    v2x_inst *m;
    int idx;
    unsigned long gen; /* generation at start: the helper waits for the next one */
} v2x_pool_arg;

/* A helper thread: waits for a new generation, integrates its share of the blocks (when its
 * index is below pool_active), reports done; leaves when pool_quit is set. */
static void *v2x_pool_main(void *arg) {
    v2x_pool_arg a = *(v2x_pool_arg *)arg;
    free(arg);
    v2x_inst *m = a.m;
    unsigned long seen = a.gen;
    pthread_mutex_lock(&m->pool_mu);
    for (;;) {
        while (m->pool_gen == seen && !m->pool_quit) pthread_cond_wait(&m->pool_go, &m->pool_mu);
        if (m->pool_quit) break;
        seen = m->pool_gen;
        v2x_job *job = m->pool_job;
        int work = a.idx < m->pool_active;
        pthread_mutex_unlock(&m->pool_mu);
        if (work) v2x_worker(job);
        pthread_mutex_lock(&m->pool_mu);
        if (--m->pool_pending == 0) pthread_cond_signal(&m->pool_done);
    }
    pthread_mutex_unlock(&m->pool_mu);
    return NULL;
}

static void v2x_pool_init(v2x_inst *m) {
    pthread_mutex_init(&m->pool_mu, NULL);
    pthread_cond_init(&m->pool_go, NULL);
    pthread_cond_init(&m->pool_done, NULL);
    m->pool_n = 0;
    m->pool_quit = 0;
    m->pool_gen = 0;
    m->pool_pid = getpid();
}

/* Stop and join the helpers (fmi2FreeInstance).  In a forked child the helpers do not exist. */
static void v2x_pool_stop(v2x_inst *m) {
    if (m->pool_pid != getpid()) return;
    pthread_mutex_lock(&m->pool_mu);
    m->pool_quit = 1;
    pthread_cond_broadcast(&m->pool_go);
    pthread_mutex_unlock(&m->pool_mu);
    for (int i = 0; i < m->pool_n; ++i) pthread_join(m->pool_tid[i], NULL);
    m->pool_n = 0;
    pthread_cond_destroy(&m->pool_go);
    pthread_cond_destroy(&m->pool_done);
    pthread_mutex_destroy(&m->pool_mu);
}

/* Integrate the blocks of job on the calling thread and nhelp helpers (started when missing; fewer
 * when the system refuses a thread).  Each block is integrated by exactly one thread, so the
 * result does not depend on the number of threads. */
static void v2x_pool_run(v2x_inst *m, v2x_job *job, int nhelp) {
    if (m->pool_pid != getpid()) v2x_pool_init(m); /* forked child: the helpers stayed behind */
    while (m->pool_n < nhelp) {
        v2x_pool_arg *a = (v2x_pool_arg *)malloc(sizeof *a);
        if (!a) break;
        a->m = m;
        a->idx = m->pool_n;
        a->gen = m->pool_gen; /* only this thread changes pool_gen */
        if (pthread_create(&m->pool_tid[m->pool_n], NULL, v2x_pool_main, a) != 0) { free(a); break; }
        m->pool_n++;
    }
    if (nhelp > m->pool_n) nhelp = m->pool_n;
    if (nhelp <= 0) { v2x_worker(job); return; }
    pthread_mutex_lock(&m->pool_mu);
    m->pool_job = job;
    m->pool_active = nhelp;
    m->pool_pending = m->pool_n;
    m->pool_gen++;
    pthread_cond_broadcast(&m->pool_go);
    pthread_mutex_unlock(&m->pool_mu);
    v2x_worker(job);
    pthread_mutex_lock(&m->pool_mu);
    while (m->pool_pending > 0) pthread_cond_wait(&m->pool_done, &m->pool_mu);
    pthread_mutex_unlock(&m->pool_mu);
}
#endif

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean noSetPrior) {
    (void)noSetPrior;
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    if (m->state != ST_RUNNING) {
        v2x_log(m, fmi2Error, "logStatusError", "fmi2DoStep called in the wrong state (initialise first)");
        return fmi2Error;
    }
    if (!(h >= 0.0)) {
        v2x_log(m, fmi2Error, "logStatusError", "fmi2DoStep: negative or NaN step size %g", h);
        return fmi2Error;
    }
    if (fabs(t - m->time) > 1e-9 * fmax(1.0, fabs(t))) {
        v2x_log(m, fmi2Error, "logStatusError", "fmi2DoStep: communication point %.12g differs from the FMU time %.12g", t, m->time);
        return fmi2Error;
    }
    const double t1 = t + h;
    if (h > 0.0) {
        const int nth = v2x_threads_used(m);
        int chunk = V2X_NBLK / (8 * nth);
        v2x_job job = {m, t, t1, chunk > 0 ? chunk : 1, 0};
#if V2X_THREADS
        if (nth > 1) v2x_pool_run(m, &job, nth - 1);
        else v2x_worker(&job);
#else
        (void)nth;
        v2x_worker(&job);
#endif
    }
    /* report the first failing block (in block order, whichever thread integrated it) */
    for (int k = 0; k < V2X_NBLK && h > 0.0; ++k) {
        v2x_blk *b = &m->blk[k];
        if (m->rc[k] == V2X_STEP_UNDERFLOW) {
            v2x_log(m, fmi2Error, "logStatusError", "step size underflow in block %d between t = %.9g s and %.9g s", k + 1, t, t1);
            m->state = ST_ERROR;
            return fmi2Error;
        }
        if (m->rc[k] == V2X_STEP_NONFINITE) return v2x_fail(m, k, m->fy[k], t1, "non-finite value");
        if (m->rc[k] != V2X_STEP_OK) return v2x_fail(m, k, m->fy[k], t, "integration failed (non-finite value or algebraic loop did not converge)");
        b->alg_dirty = 0;
    }
    m->time = t1;
    return fmi2OK;
}

fmi2Status fmi2CancelStep(fmi2Component c) { (void)c; return fmi2Error; }

fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s, fmi2Status *v) {
    (void)c; (void)s; *v = fmi2OK; return fmi2OK;
}

fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s, fmi2Real *v) {
    v2x_inst *m = INST(c);
    if (!m) return fmi2Error;
    if (s == fmi2LastSuccessfulTime) { *v = m->time; return fmi2OK; }
    return fmi2Discard;
}

fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s, fmi2Integer *v) {
    (void)c; (void)s; (void)v; return fmi2Discard;
}

fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s, fmi2Boolean *v) {
    (void)c;
    if (s == fmi2Terminated) { *v = fmi2False; return fmi2OK; }
    return fmi2Discard;
}

fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s, fmi2String *v) {
    (void)c; (void)s; (void)v; return fmi2Discard;
}
