/* v2xcosim generic FMI 2.0 shell (Model Exchange + Co-Simulation).
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
 * Co-Simulation integrates each block separately with error control and sub-steps:
 *   V2X_SOLVER == 1: 3-stage L-stable SDIRK of order 3 (Alexander 1977), simplified Newton with a
 *                    finite-difference Jacobian per block (reused across steps), embedded
 *                    second-order error estimate filtered by (I - h*gamma*J)^-1 (Hairer & Wanner,
 *                    Solving ODEs II, sec. IV.8) so stiff components do not force tiny steps;
 *   V2X_SOLVER == 2: Dormand-Prince 5(4) with the standard step-size controller.
 * Algebraic blocks (rumoca's algebraic projection plan) are solved in order before every right-hand
 * side evaluation: explicit steps directly, torn loops by damped Newton with a finite-difference
 * Jacobian, warm-started from the previous solution.
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
#define VR_RTOL ((fmi2ValueReference)(V2X_NBLK * STRIDE))
#define VR_MAXSTEP ((fmi2ValueReference)(V2X_NBLK * STRIDE + 1))
#define VR_THREADS ((fmi2ValueReference)(V2X_NBLK * STRIDE + 2))
#define V2X_MAX_THREADS 64
/* solver.threads = 0 (automatic) gives each thread at least this many vehicles.  Threads are
 * started and joined in every fmi2DoStep (50-65 us per thread measured on the 2-core benchmark
 * machine); a held 60-s step costs about 2.3 us per vehicle (bench/RESULTS.md), so 64 vehicles
 * (~150 us) is the smallest share for which a thread clearly pays for itself. */
#define V2X_MIN_BLOCKS_PER_THREAD 64

enum { ST_INSTANTIATED, ST_INIT, ST_RUNNING, ST_TERMINATED, ST_ERROR };

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
    int jac_ok;
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
    int *rc, *fy;          /* per block: integrator result and failing variable of the last step */
    int state;
    int type;
    int logging;
    int need_update;
    fmi2CallbackFunctions cb;
    char *name;
} v2x_inst;

static const double V2X_GAMMA = 0.43586652150845899942; /* root of x^3 - 3x^2 + 3x/2 - 1/6 in (1/6, 1/2) */

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

/* ---------------------------------------------------------------- dense linear algebra ---- */
static int v2x_lu(double *a, int *piv, int n) {
    for (int k = 0; k < n; ++k) {
        int pk = k;
        double amax = fabs(a[k * n + k]);
        for (int i = k + 1; i < n; ++i)
            if (fabs(a[i * n + k]) > amax) { amax = fabs(a[i * n + k]); pk = i; }
        piv[k] = pk;
        if (amax == 0.0 || !isfinite(amax)) return -1;
        if (pk != k)
            for (int j = 0; j < n; ++j) { double t = a[k * n + j]; a[k * n + j] = a[pk * n + j]; a[pk * n + j] = t; }
        for (int i = k + 1; i < n; ++i) {
            double f = a[i * n + k] / a[k * n + k];
            a[i * n + k] = f;
            for (int j = k + 1; j < n; ++j) a[i * n + j] -= f * a[k * n + j];
        }
    }
    return 0;
}

static void v2x_lu_solve(const double *a, const int *piv, int n, double *b) {
    /* v2x_lu swaps whole rows (multipliers included), so apply every row interchange first
     * (as LAPACK's dgetrs does), then the unit lower and the upper triangular solves. */
    for (int k = 0; k < n; ++k)
        if (piv[k] != k) { double t = b[k]; b[k] = b[piv[k]]; b[piv[k]] = t; }
    for (int k = 0; k < n; ++k)
        for (int i = k + 1; i < n; ++i) b[i] -= a[i * n + k] * b[k];
    for (int k = n - 1; k >= 0; --k) {
        for (int j = k + 1; j < n; ++j) b[k] -= a[k * n + j] * b[j];
        b[k] /= a[k * n + k];
    }
}

/* --------------------------------------------------------------- algebraic blocks -------- */
/* Re-solve the explicit (causal) steps of block B once for the current tear values: each row is
 * linear in its variable, so one secant step from y to y + 1 lands on the solution. */
static void v2x_causal_once(const v2x_block *B, double t, double *y, const double *p) {
    for (int c = 0; c < B->n_causal; ++c) {
        int kc = B->causal_y[c];
        double rc0 = v2x_kernel_residual(B->causal_row[c], t, y, p);
        double yc0 = y[kc];
        y[kc] = yc0 + 1.0;
        double s = v2x_kernel_residual(B->causal_row[c], t, y, p) - rc0;
        if (B->causal_unit[c]) s = (s > 0.0) ? 1.0 : -1.0;
        y[kc] = (s != 0.0) ? yc0 - rc0 / s : yc0;
    }
}

/* Solve algebraic block ib at time t (y holds the states and the earlier blocks) by Newton on
 * its tear variables with a finite-difference Jacobian; 0 on success. */
static int v2x_solve_block(int ib, double t, double *y, const double *p, int *fail_y) {
    const v2x_block *B = &v2x_kernel_blocks[ib];
    int m = B->n_tear;
    double J[NTA * NTA], r[NTA], r1[NTA], yt0[NTA];
    int piv[NTA];
    for (int it = 0; it < 60; ++it) {
        /* explicit steps, iterated to convergence where the coefficient is not +-1 */
        for (int c = 0; c < B->n_causal; ++c) {
            int k = B->causal_y[c], row = B->causal_row[c];
            for (int sub = 0; sub < (B->causal_unit[c] ? 1 : 30); ++sub) {
                double y0 = y[k];
                double r0 = v2x_kernel_residual(row, t, y, p);
                double d = (B->causal_unit[c] ? 1.0 : 1e-7 * fmax(fmax(fabs(y0), 1.0), 1e-8 * fabs(r0)));
                y[k] = y0 + d;
                double s = (v2x_kernel_residual(row, t, y, p) - r0) / d;
                if (B->causal_unit[c]) s = (s > 0.0) ? 1.0 : -1.0;
                if (s == 0.0 || !isfinite(s)) { y[k] = y0; *fail_y = k; return -1; }
                y[k] = y0 - r0 / s;
                if (!isfinite(y[k])) { *fail_y = k; return -1; }
                if (fabs(y[k] - y0) <= 1e-14 * fmax(fabs(y[k]), 1e-300)) break;
            }
        }
        if (m == 0) return 0;
        double rn = 0.0;
        for (int i = 0; i < m; ++i) {
            r[i] = v2x_kernel_residual(B->tear_row[i], t, y, p);
            if (!isfinite(r[i])) { *fail_y = B->tear_y[i]; return -1; }
            rn = fmax(rn, fabs(r[i]));
        }
        if (rn == 0.0) return 0;
        /* finite-difference Jacobian of the torn residuals (causal steps re-run inside) */
        for (int j = 0; j < m; ++j) yt0[j] = y[B->tear_y[j]];
        for (int j = 0; j < m; ++j) {
            int k = B->tear_y[j];
            /* step large enough to move the residual above its rounding level */
            double d = 1.4901161193847656e-08 * fmax(fmax(fabs(yt0[j]), 1.0), 1e-8 * rn);
            y[k] = yt0[j] + d;
            v2x_causal_once(B, t, y, p);
            for (int i = 0; i < m; ++i)
                J[i * m + j] = (v2x_kernel_residual(B->tear_row[i], t, y, p) - r[i]) / d;
            y[k] = yt0[j];
        }
        if (v2x_lu(J, piv, m) != 0) { *fail_y = B->tear_y[0]; return -1; }
        for (int i = 0; i < m; ++i) r1[i] = -r[i];
        v2x_lu_solve(J, piv, m, r1);
        double dmax = 0.0;
        for (int j = 0; j < m; ++j) {
            y[B->tear_y[j]] = yt0[j] + r1[j];
            dmax = fmax(dmax, fabs(r1[j]) / fmax(fabs(yt0[j]), 1.0));
        }
        if (dmax <= 1e-13) {
            v2x_causal_once(B, t, y, p); /* explicit steps for the converged tear values */
            return 0;
        }
    }
    *fail_y = B->tear_y[0];
    return -1;
}

/* Solve every algebraic block at time t for the states in b->y; 0 on success.  The build
 * generates v2x_blocks.c: affine blocks as straight-line code, the others through
 * v2x_solve_block. */
#include "v2x_blocks.c"

static int v2x_solve_alg(v2x_blk *b, double t, int *fail_y) {
    return v2x_solve_blocks_generated(t, b->y, b->p, fail_y);
}

/* f = dx/dt for states x (x may alias nothing in b); leaves b->y consistent with x. */
static int v2x_rhs(v2x_blk *b, double t, const double *x, double *f, int *fail_y) {
    if (x != b->y) memcpy(b->y, x, sizeof(double) * NX);
    b->n_rhs++;
    if (v2x_solve_alg(b, t, fail_y) != 0) return -1;
    if (NX > 0) v2x_kernel_derivatives(t, b->y, b->p, f);
    for (int i = 0; i < NX; ++i)
        if (!isfinite(f[i])) { *fail_y = -(i + 1); return -1; }
    return 0;
}

static double v2x_err_norm(const double *e, const double *y0, const double *y1, double rtol) {
    double s = 0.0;
    for (int i = 0; i < NX; ++i) {
        double sc = rtol * v2x_x_nominal[i] + rtol * fmax(fabs(y0[i]), fabs(y1[i]));
        double q = e[i] / sc;
        s += q * q;
    }
    return NX > 0 ? sqrt(s / NX) : 0.0;
}

static int v2x_jacobian(v2x_blk *b, double t, const double *x, const double *f0, int *fail_y) {
    double xp[NXA], fp[NXA];
    memcpy(xp, x, sizeof(double) * NX);
    for (int j = 0; j < NX; ++j) {
        double d = 1.4901161193847656e-08 * fmax(fabs(x[j]), v2x_x_nominal[j]);
        xp[j] = x[j] + d;
        if (v2x_rhs(b, t, xp, fp, fail_y) != 0) return -1;
        for (int i = 0; i < NX; ++i) b->jac[i * NX + j] = (fp[i] - f0[i]) / d;
        xp[j] = x[j];
    }
    /* states no derivative depends on (zero columns), split off in v2x_factor */
    int na = 0, nq = 0;
    for (int j = 0; j < NX; ++j) {
        int zero = 1;
        for (int i = 0; i < NX && zero; ++i) zero = (b->jac[i * NX + j] == 0.0);
        if (zero) b->iq[nq++] = j; else b->ia[na++] = j;
    }
    b->na = na;
    b->jac_ok = 1;
    b->lu_h = 0.0;
    return 0;
}

/* (I - h*gamma*J)^-1 for the Newton iterations.  States that no derivative depends on (zero
 * Jacobian columns: energy counters and other quadratures) are split off exactly: for
 * J = [[A, 0], [C, 0]], (I - hgJ)^-1 = [[B, 0], [hgC B, I]] with B = (I - hgA)^-1.  B and hgC B are
 * formed once per factorisation (LU with partial pivoting, then one solve per unit vector), so a
 * Newton solve is one NX x na product (v2x_newton_solve); simplified Newton only needs the
 * matrix to contract, and the residual is always evaluated exactly. */
static int v2x_factor(v2x_blk *b, double h) {
    const int na = b->na, nq = NX - na;
    const double hg = h * V2X_GAMMA;
    double lu[NXA * NXA], e[NXA];
    int piv[NXA];
    for (int r = 0; r < na; ++r)
        for (int c = 0; c < na; ++c)
            lu[r * na + c] = (r == c ? 1.0 : 0.0) - hg * b->jac[b->ia[r] * NX + b->ia[c]];
    if (na > 0 && v2x_lu(lu, piv, na) != 0) return -1;
    for (int c = 0; c < na; ++c) {
        for (int r = 0; r < na; ++r) e[r] = (r == c) ? 1.0 : 0.0;
        v2x_lu_solve(lu, piv, na, e);
        double *col = b->sol + c * NX;
        for (int r = 0; r < na; ++r) col[r] = e[r];
        for (int q = 0; q < nq; ++q) {
            double acc = 0.0;
            for (int l = 0; l < na; ++l) acc += b->jac[b->iq[q] * NX + b->ia[l]] * e[l];
            col[na + q] = hg * acc;
        }
    }
    b->lu_h = h;
    return 0;
}

/* g <- (I - h*gamma*J)^-1 g with the matrices of v2x_factor (h = b->lu_h). */
static void v2x_newton_solve(const v2x_blk *b, double *g) {
    const int na = b->na;
    double acc[NXA] = {0.0};
    /* column by column: the inner loop has a fixed length and no reduction, so it vectorises */
    for (int c = 0; c < na; ++c) {
        const double gc = g[b->ia[c]];
        const double *col = b->sol + c * NX;
        for (int r = 0; r < NX; ++r) acc[r] += col[r] * gc;
    }
    for (int r = 0; r < na; ++r) g[b->ia[r]] = acc[r];
    for (int r = na; r < NX; ++r) g[b->iq[r - na]] += acc[r];
}

/* One stage: solve Y = z + h*gamma*f(t, Y) by simplified Newton from the guess in Y, with the
 * stopping rule of Hairer & Wanner II (sec. IV.8): eta*|dY| <= kappa in units of the error
 * tolerance (weights wt = 1/(rtol*(nominal + |y0|)) of the step's start, as in RADAU5), eta =
 * theta/(1 - theta) from the observed contraction theta.  The stage derivative is then
 * F = (Y - z)/(h*gamma), which needs no further evaluation.  0 ok, 1 no convergence, 2 the
 * right-hand side failed (non-finite).  *eta carries the contraction estimate between stages. */
static int v2x_stage(v2x_blk *b, double t, double h, const double *z, double *Y, double *F,
                     const double *wt, int *fail_y, double *eta) {
    const double kappa = 0.03;
    double g[NXA], f[NXA];
    double prev = 0.0;
    for (int it = 0; it < 10; ++it) {
        if (v2x_rhs(b, t, Y, f, fail_y) != 0) return 2;
        for (int i = 0; i < NX; ++i) g[i] = -(Y[i] - z[i] - h * V2X_GAMMA * f[i]);
        v2x_newton_solve(b, g);
        double nrm = 0.0;
        for (int i = 0; i < NX; ++i) nrm += (g[i] * wt[i]) * (g[i] * wt[i]);
        nrm = sqrt(nrm / NXA);
        if (!(nrm == nrm) || !isfinite(nrm)) return 1;
        for (int i = 0; i < NX; ++i) Y[i] += g[i];
        if (it == 0) {
            *eta = pow(fmax(*eta, 2.220446049250313e-16), 0.8);
        } else {
            double theta = nrm / prev;
            if (theta >= 0.99) return 1;
            *eta = theta / (1.0 - theta);
        }
        if (*eta * nrm <= kappa || nrm <= 1e-10) {
            for (int i = 0; i < NX; ++i) F[i] = (Y[i] - z[i]) / (h * V2X_GAMMA);
            return 0;
        }
        prev = nrm;
    }
    return 1;
}

static int v2x_integrate_sdirk(v2x_inst *m, v2x_blk *b, double t0, double t1, int *fail_y) {
    /* Alexander's 3-stage, order-3, L-stable, stiffly accurate SDIRK (SIAM J. Numer. Anal. 14,
     * 1977; Hairer & Wanner II, Table IV.6.5).  Embedded order-2 solution from stages 1-2
     * (b^ = [1 - w, w, 0], w = (1 - 2g)/(1 - g)); the error estimate y1 - y^ is O(h^3) and is
     * filtered by (I - h g J)^-1 so that stiff components do not force small steps. */
    static const double g = V2X_GAMMA;
    const double a21 = (1.0 - g) / 2.0;
    const double b1 = -1.5 * g * g + 4.0 * g - 0.25, b2 = 1.5 * g * g - 5.0 * g + 1.25;
    const double w = (1.0 - 2.0 * g) / (1.0 - g);
    const double c2 = (1.0 + g) / 2.0;
    double x0[NXA], f0[NXA], Y1[NXA], F1[NXA], Y2[NXA], F2[NXA], Y3[NXA], F3[NXA], z[NXA], e[NXA],
        wt[NXA];
    double t = t0;
    double h = b->h > 0.0 ? b->h : fmin(1e-3 * fmax(t1 - t0, 1e-6), 1.0);
    int last_rc = 0;
    double eta = 1.0;
    memcpy(x0, b->y, sizeof(double) * NX);
    if (b->alg_dirty || b->h <= 0.0) {
        /* new inputs (or the first step): a transient may start here, so choose the first step
         * size from scratch (Hairer, Norsett & Wanner I, sec. II.4) instead of reusing the last */
        if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return -1;
        double x1[NXA], f1[NXA], sc[NXA], d0 = 0.0, d1 = 0.0, d2 = 0.0;
        for (int i = 0; i < NX; ++i) {
            sc[i] = m->rtol * (v2x_x_nominal[i] + fabs(x0[i]));
            d0 += (x0[i] / sc[i]) * (x0[i] / sc[i]);
            d1 += (f0[i] / sc[i]) * (f0[i] / sc[i]);
        }
        d0 = sqrt(d0 / NXA);
        d1 = sqrt(d1 / NXA);
        double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
        h0 = fmin(h0, t1 - t0);
        for (int i = 0; i < NX; ++i) x1[i] = x0[i] + h0 * f0[i];
        if (v2x_rhs(b, t + h0, x1, f1, fail_y) == 0) {
            for (int i = 0; i < NX; ++i) d2 += ((f1[i] - f0[i]) / sc[i]) * ((f1[i] - f0[i]) / sc[i]);
            d2 = sqrt(d2 / NXA) / h0;
            double dm = fmax(d1, d2);
            double h1 = (dm <= 1e-15) ? fmax(1e-6, 1e-3 * h0) : pow(0.01 / dm, 1.0 / 3.0);
            double hs = fmin(100.0 * h0, h1);
            h = (b->h > 0.0) ? fmin(b->h, hs) : hs;
        } else {
            h = h0;
        }
        memcpy(b->y, x0, sizeof(double) * NX);
        if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return -1;
    } else {
        memcpy(f0, b->dx, sizeof(double) * NX); /* unchanged inputs: f at the end of the last step */
    }
    while (t < t1) {
        int last = 0;
        if (m->max_step > 0.0 && h > m->max_step) h = m->max_step;
        double hnat = h;
        if (t + 1.0001 * h >= t1) { h = t1 - t; last = 1; }
        if (!b->jac_ok && v2x_jacobian(b, t, x0, f0, fail_y) != 0) return -1;
        if (b->lu_h != h && v2x_factor(b, h) != 0) {
            if (v2x_jacobian(b, t, x0, f0, fail_y) != 0) return -1;
            if (v2x_factor(b, h) != 0) return -1;
        }
        int rc;
        for (int i = 0; i < NX; ++i) wt[i] = 1.0 / (m->rtol * (v2x_x_nominal[i] + fabs(x0[i])));
        for (int i = 0; i < NX; ++i) Y1[i] = x0[i] + g * h * f0[i];
        rc = v2x_stage(b, t + g * h, h, x0, Y1, F1, wt, fail_y, &eta);
        if (rc == 0) {
            for (int i = 0; i < NX; ++i) {
                z[i] = x0[i] + h * a21 * F1[i];
                Y2[i] = x0[i] + c2 * h * F1[i];
            }
            rc = v2x_stage(b, t + c2 * h, h, z, Y2, F2, wt, fail_y, &eta);
        }
        if (rc == 0) {
            for (int i = 0; i < NX; ++i) {
                z[i] = x0[i] + h * (b1 * F1[i] + b2 * F2[i]);
                Y3[i] = x0[i] + h * F2[i];
            }
            rc = v2x_stage(b, t + h, h, z, Y3, F3, wt, fail_y, &eta);
        }
        if (rc != 0) {
            last_rc = rc;
            /* refresh the Jacobian first; then cut the step */
            if (b->jac_ok == 1) {
                if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return -1;
                if (v2x_jacobian(b, t, x0, f0, fail_y) != 0) return -1;
                b->jac_ok = 2;
            } else {
                h *= 0.25;
                b->jac_ok = 2;
                b->lu_h = 0.0;
            }
            b->n_rejected++;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return last_rc == 2 ? -1 : -2;
            continue;
        }
        /* y1 - y^ = h [(b1 - 1 + w) F1 + (b2 - w) F2 + g F3] */
        for (int i = 0; i < NX; ++i) e[i] = h * ((b1 - 1.0 + w) * F1[i] + (b2 - w) * F2[i] + g * F3[i]);
        v2x_newton_solve(b, e);
        double err = v2x_err_norm(e, x0, Y3, m->rtol);
        double fac = (err > 0.0) ? 0.9 * pow(err, -1.0 / 3.0) : 4.0;
        if (fac > 4.0) fac = 4.0;
        if (fac < 0.2) fac = 0.2;
        if (err <= 1.0) {
            t = last ? t1 : t + h;
            memcpy(x0, Y3, sizeof(double) * NX);
            memcpy(f0, F3, sizeof(double) * NX);
            b->n_steps++;
            if (b->jac_ok == 2) b->jac_ok = 1;
            double hn = h * fac;
            b->h = (last && h < hnat) ? fmax(hnat, hn) : hn;
            if (last) break;
            if (fabs(hn - h) > 0.2 * h) h = hn; /* keep the factorisation for small changes */
        } else {
            b->n_rejected++;
            h *= fac;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return -2;
        }
    }
    /* leave y consistent with the final state */
    if (v2x_rhs(b, t1, x0, f0, fail_y) != 0) return -1;
    memcpy(b->dx, f0, sizeof(double) * NX);
    return 0;
}

/* Dormand-Prince 5(4) coefficients (Dormand & Prince 1980). */
static int v2x_integrate_dopri(v2x_inst *m, v2x_blk *b, double t0, double t1, int *fail_y) {
    static const double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
    static const double a21 = 1.0 / 5;
    static const double a31 = 3.0 / 40, a32 = 9.0 / 40;
    static const double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
    static const double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561,
                        a54 = -212.0 / 729;
    static const double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247,
                        a64 = 49.0 / 176, a65 = -5103.0 / 18656;
    static const double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784,
                        b6 = 11.0 / 84;
    static const double e1 = 71.0 / 57600, e3 = -71.0 / 16695, e4 = 71.0 / 1920,
                        e5 = -17253.0 / 339200, e6 = 22.0 / 525, e7 = -1.0 / 40;
    double x[NXA], k1[NXA], k2[NXA], k3[NXA], k4[NXA], k5[NXA], k6[NXA], k7[NXA], xt[NXA],
        xn[NXA], e[NXA];
    double t = t0;
    double h = b->h > 0.0 ? b->h : fmin(1e-3 * fmax(t1 - t0, 1e-6), 1.0);
    memcpy(x, b->y, sizeof(double) * NX);
    if (v2x_rhs(b, t, x, k1, fail_y) != 0) return -1;
    while (t < t1) {
        int last = 0;
        if (m->max_step > 0.0 && h > m->max_step) h = m->max_step;
        double hnat = h;
        if (t + 1.0001 * h >= t1) { h = t1 - t; last = 1; }
#define V2X_STAGE(K, expr, c)                                                   \
        for (int i = 0; i < NX; ++i) xt[i] = x[i] + h * (expr);                \
        if (v2x_rhs(b, t + (c) * h, xt, K, fail_y) != 0) return -1;
        V2X_STAGE(k2, a21 * k1[i], c2)
        V2X_STAGE(k3, a31 * k1[i] + a32 * k2[i], c3)
        V2X_STAGE(k4, a41 * k1[i] + a42 * k2[i] + a43 * k3[i], c4)
        V2X_STAGE(k5, a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i], c5)
        V2X_STAGE(k6, a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] + a65 * k5[i], 1.0)
#undef V2X_STAGE
        for (int i = 0; i < NX; ++i)
            xn[i] = x[i] + h * (b1 * k1[i] + b3 * k3[i] + b4 * k4[i] + b5 * k5[i] + b6 * k6[i]);
        if (v2x_rhs(b, t + h, xn, k7, fail_y) != 0) return -1;
        for (int i = 0; i < NX; ++i)
            e[i] = h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i]);
        double err = v2x_err_norm(e, x, xn, m->rtol);
        double fac = (err > 0.0) ? 0.9 * pow(err, -0.2) : 5.0;
        if (fac > 5.0) fac = 5.0;
        if (fac < 0.2) fac = 0.2;
        if (err <= 1.0) {
            t = last ? t1 : t + h;
            memcpy(x, xn, sizeof(double) * NX);
            memcpy(k1, k7, sizeof(double) * NX);
            b->n_steps++;
            double hn = h * fac;
            b->h = (last && h < hnat) ? fmax(hnat, hn) : hn;
            if (last) break;
            h = hn;
        } else {
            b->n_rejected++;
            h *= fac;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return -2;
        }
    }
    if (v2x_rhs(b, t1, x, k1, fail_y) != 0) return -1;
    memcpy(b->dx, k1, sizeof(double) * NX);
    return 0;
}

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
                if (v2x_p_kind[pk] != 2 && v2x_out_of_range(pk, b->p[pk])) {
                    m->state = ST_ERROR;
                    return v2x_range_error(m, "initialization", k, pk, b->p[pk],
                                           v2x_p_kind[pk] == 1 ? " (it is calculated: check the parameters it depends on)" : "");
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

/* Resolve a value reference: returns pointer to the value, block index, kind 0=y,1=p,2=dx,3=shell. */
static double *v2x_ref(v2x_inst *m, fmi2ValueReference vr, int *blk, int *kind, int *k) {
    if (vr == VR_RTOL) { *kind = 3; *blk = 0; *k = 0; return &m->rtol; }
    if (vr == VR_MAXSTEP) { *kind = 3; *blk = 0; *k = 1; return &m->max_step; }
    if (vr == VR_THREADS) { *kind = 3; *blk = 0; *k = 2; return &m->threads; }
    if (vr >= (fmi2ValueReference)(V2X_NBLK * STRIDE)) return NULL;
    *blk = (int)(vr / STRIDE);
    *k = (int)(vr % STRIDE);
    v2x_blk *b = &m->blk[*blk];
    if (*k < NY) { *kind = 0; return &b->y[*k]; }
    if (*k < NY + NP) { *kind = 1; return &b->p[*k - NY]; }
    *kind = 2;
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
        if (kind == 3) {
            static const char *const shell_names[3] = {"solver.rtol", "solver.max_step_s", "solver.threads"};
            if (k == 2 && !(v[i] >= 0.0 && v[i] <= V2X_MAX_THREADS && v[i] == floor(v[i]))) {
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
        if (kind == 1) {
            int pk = k - NY;
            ok = (v2x_p_kind[pk] == 2) || (v2x_p_kind[pk] == 0 && pre);
        } else if (kind == 0) {
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
            if (kind == 1 && v2x_out_of_range(k - NY, v[i])) { /* the held value was checked */
                m->state = pre ? m->state : ST_ERROR;
                return v2x_range_error(m, "fmi2SetReal", blk, k - NY, v[i], "");
            }
            *r = v[i];
            m->blk[blk].alg_dirty = 1;
            if (kind == 1 && v2x_p_kind[k - NY] == 2) m->blk[blk].jac_ok = m->blk[blk].jac_ok ? 1 : 0;
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
typedef struct {
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
            if (V2X_SOLVER == 1) rc = v2x_integrate_sdirk(m, b, job->t0, job->t1, &fy);
            else rc = v2x_integrate_dopri(m, b, job->t0, job->t1, &fy);
            if (rc == 0)
                for (int i = 0; i < NY; ++i)
                    if (!isfinite(b->y[i])) { rc = -3; fy = i; break; }
            m->rc[k] = rc;
            m->fy[k] = fy;
        }
    }
    return NULL;
}

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
        pthread_t tid[V2X_MAX_THREADS];
        int started = 0;
        for (; started < nth - 1; ++started)
            if (pthread_create(&tid[started], NULL, v2x_worker, &job) != 0) break; /* fewer threads */
        v2x_worker(&job);
        for (int i = 0; i < started; ++i) pthread_join(tid[i], NULL);
#else
        (void)nth;
        v2x_worker(&job);
#endif
    }
    /* report the first failing block (in block order, whichever thread integrated it) */
    for (int k = 0; k < V2X_NBLK && h > 0.0; ++k) {
        v2x_blk *b = &m->blk[k];
        if (m->rc[k] == -2) {
            v2x_log(m, fmi2Error, "logStatusError", "step size underflow in block %d between t = %.9g s and %.9g s", k + 1, t, t1);
            m->state = ST_ERROR;
            return fmi2Error;
        }
        if (m->rc[k] == -3) return v2x_fail(m, k, m->fy[k], t1, "non-finite value");
        if (m->rc[k] != 0) return v2x_fail(m, k, m->fy[k], t, "integration failed (non-finite value or algebraic loop did not converge)");
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
