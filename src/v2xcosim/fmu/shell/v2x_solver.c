/* v2xcosim FMI 2.0 shell: the solvers of a block (one vehicle's kernel).
 *
 * Algebraic blocks (rumoca's algebraic projection plan) are solved in order before every
 * right-hand side evaluation: explicit steps directly, torn loops by damped Newton with a
 * finite-difference Jacobian, warm-started from the previous solution (v2x_solve_block; affine
 * blocks are straight-line code in the generated v2x_blocks.c).  Co-Simulation integrates each
 * block separately with error control and sub-steps:
 *   V2X_SOLVER_SDIRK: 3-stage L-stable SDIRK of order 3 (Alexander 1977), simplified Newton with
 *                     a finite-difference Jacobian per block (reused across steps), embedded
 *                     second-order error estimate filtered by (I - h*gamma*J)^-1 (Hairer &
 *                     Wanner, Solving ODEs II, sec. IV.8) so stiff components do not force tiny
 *                     steps (v2x_integrate_sdirk);
 *   V2X_SOLVER_DOPRI: Dormand-Prince 5(4) with the standard step-size controller
 *                     (v2x_integrate_dopri);
 *   V2X_SOLVER_BS3:   Bogacki-Shampine 3(2), first same as last: 3 new right-hand sides per
 *                     accepted step where Dormand-Prince needs 6, for smooth models whose
 *                     communication step is one or a few internal steps (v2x_integrate_bs3).
 *
 * Part of the shell's one translation unit: #included by v2x_fmi2.c after the instance types
 * (v2x_inst, v2x_blk) and v2x_linalg.c; not compiled on its own.
 */

static const double V2X_GAMMA = 0.43586652150845899942; /* root of x^3 - 3x^2 + 3x/2 - 1/6 in (1/6, 1/2) */

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
    b->jac_state = V2X_JAC_VALID;
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
 * F = (Y - z)/(h*gamma), which needs no further evaluation.  Returns a V2X_STAGE_* code
 * (v2x_shell.h).  *eta carries the contraction estimate between stages. */
static int v2x_stage(v2x_blk *b, double t, double h, const double *z, double *Y, double *F,
                     const double *wt, int *fail_y, double *eta) {
    const double kappa = 0.03;
    double g[NXA], f[NXA];
    double prev = 0.0;
    for (int it = 0; it < 10; ++it) {
        if (v2x_rhs(b, t, Y, f, fail_y) != 0) return V2X_STAGE_RHS_FAILED;
        for (int i = 0; i < NX; ++i) g[i] = -(Y[i] - z[i] - h * V2X_GAMMA * f[i]);
        v2x_newton_solve(b, g);
        double nrm = 0.0;
        for (int i = 0; i < NX; ++i) nrm += (g[i] * wt[i]) * (g[i] * wt[i]);
        nrm = sqrt(nrm / NXA);
        if (!(nrm == nrm) || !isfinite(nrm)) return V2X_STAGE_NO_CONVERGENCE;
        for (int i = 0; i < NX; ++i) Y[i] += g[i];
        if (it == 0) {
            *eta = pow(fmax(*eta, 2.220446049250313e-16), 0.8);
        } else {
            double theta = nrm / prev;
            if (theta >= 0.99) return V2X_STAGE_NO_CONVERGENCE;
            *eta = theta / (1.0 - theta);
        }
        if (*eta * nrm <= kappa || nrm <= 1e-10) {
            for (int i = 0; i < NX; ++i) F[i] = (Y[i] - z[i]) / (h * V2X_GAMMA);
            return V2X_STAGE_OK;
        }
        prev = nrm;
    }
    return V2X_STAGE_NO_CONVERGENCE;
}

/* Integrate block b from t0 to t1 (one Co-Simulation step); returns a V2X_STEP_* code. */
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
    int last_rc = V2X_STAGE_OK;
    double eta = 1.0;
    memcpy(x0, b->y, sizeof(double) * NX);
    if (b->alg_dirty || b->h <= 0.0) {
        /* new inputs (or the first step): a transient may start here, so choose the first step
         * size from scratch (Hairer, Norsett & Wanner I, sec. II.4) instead of reusing the last */
        if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
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
        if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
    } else {
        memcpy(f0, b->dx, sizeof(double) * NX); /* unchanged inputs: f at the end of the last step */
    }
    while (t < t1) {
        int last = 0;
        if (m->max_step > 0.0 && h > m->max_step) h = m->max_step;
        double hnat = h;
        if (t + 1.0001 * h >= t1) { h = t1 - t; last = 1; }
        if (b->jac_state == V2X_JAC_NONE && v2x_jacobian(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
        if (b->lu_h != h && v2x_factor(b, h) != 0) {
            if (v2x_jacobian(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
            if (v2x_factor(b, h) != 0) return V2X_STEP_FAILED;
        }
        int rc;
        for (int i = 0; i < NX; ++i) wt[i] = 1.0 / (m->rtol * (v2x_x_nominal[i] + fabs(x0[i])));
        for (int i = 0; i < NX; ++i) Y1[i] = x0[i] + g * h * f0[i];
        rc = v2x_stage(b, t + g * h, h, x0, Y1, F1, wt, fail_y, &eta);
        if (rc == V2X_STAGE_OK) {
            for (int i = 0; i < NX; ++i) {
                z[i] = x0[i] + h * a21 * F1[i];
                Y2[i] = x0[i] + c2 * h * F1[i];
            }
            rc = v2x_stage(b, t + c2 * h, h, z, Y2, F2, wt, fail_y, &eta);
        }
        if (rc == V2X_STAGE_OK) {
            for (int i = 0; i < NX; ++i) {
                z[i] = x0[i] + h * (b1 * F1[i] + b2 * F2[i]);
                Y3[i] = x0[i] + h * F2[i];
            }
            rc = v2x_stage(b, t + h, h, z, Y3, F3, wt, fail_y, &eta);
        }
        if (rc != V2X_STAGE_OK) {
            last_rc = rc;
            /* refresh the Jacobian first; then cut the step */
            if (b->jac_state == V2X_JAC_VALID) {
                if (v2x_rhs(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
                if (v2x_jacobian(b, t, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
                b->jac_state = V2X_JAC_REFRESHED;
            } else {
                h *= 0.25;
                b->jac_state = V2X_JAC_REFRESHED;
                b->lu_h = 0.0;
            }
            b->n_rejected++;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return last_rc == V2X_STAGE_RHS_FAILED ? V2X_STEP_FAILED : V2X_STEP_UNDERFLOW;
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
            if (b->jac_state == V2X_JAC_REFRESHED) b->jac_state = V2X_JAC_VALID;
            double hn = h * fac;
            b->h = (last && h < hnat) ? fmax(hnat, hn) : hn;
            if (last) break;
            if (fabs(hn - h) > 0.2 * h) h = hn; /* keep the factorisation for small changes */
        } else {
            b->n_rejected++;
            h *= fac;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return V2X_STEP_UNDERFLOW;
        }
    }
    /* leave y consistent with the final state */
    if (v2x_rhs(b, t1, x0, f0, fail_y) != 0) return V2X_STEP_FAILED;
    memcpy(b->dx, f0, sizeof(double) * NX);
    return V2X_STEP_OK;
}

/* As v2x_integrate_sdirk, by Dormand-Prince 5(4) (coefficients: Dormand & Prince 1980). */
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
    if (v2x_rhs(b, t, x, k1, fail_y) != 0) return V2X_STEP_FAILED;
    while (t < t1) {
        int last = 0;
        if (m->max_step > 0.0 && h > m->max_step) h = m->max_step;
        double hnat = h;
        if (t + 1.0001 * h >= t1) { h = t1 - t; last = 1; }
#define V2X_STAGE(K, expr, c)                                                   \
        for (int i = 0; i < NX; ++i) xt[i] = x[i] + h * (expr);                \
        if (v2x_rhs(b, t + (c) * h, xt, K, fail_y) != 0) return V2X_STEP_FAILED;
        V2X_STAGE(k2, a21 * k1[i], c2)
        V2X_STAGE(k3, a31 * k1[i] + a32 * k2[i], c3)
        V2X_STAGE(k4, a41 * k1[i] + a42 * k2[i] + a43 * k3[i], c4)
        V2X_STAGE(k5, a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i], c5)
        V2X_STAGE(k6, a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] + a65 * k5[i], 1.0)
#undef V2X_STAGE
        for (int i = 0; i < NX; ++i)
            xn[i] = x[i] + h * (b1 * k1[i] + b3 * k3[i] + b4 * k4[i] + b5 * k5[i] + b6 * k6[i]);
        if (v2x_rhs(b, t + h, xn, k7, fail_y) != 0) return V2X_STEP_FAILED;
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
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return V2X_STEP_UNDERFLOW;
        }
    }
    if (v2x_rhs(b, t1, x, k1, fail_y) != 0) return V2X_STEP_FAILED;
    memcpy(b->dx, k1, sizeof(double) * NX);
    return V2X_STEP_OK;
}

/* As v2x_integrate_dopri, by Bogacki-Shampine 3(2) (Bogacki & Shampine, Appl. Math. Lett. 2(4),
 * 321-325, 1989; the coefficients of MATLAB's ode23): stages k1..k3 at c = 0, 1/2, 3/4, the
 * third-order solution x + h (2/9 k1 + 1/3 k2 + 4/9 k3), and k4 = f(t + h, x_new), which is the
 * next step's k1 (first same as last) and gives the embedded second-order solution
 * (7/24, 1/4, 1/3, 1/8).  Error norm as dopri, step-size factor 0.9 err^(-1/3) within [0.2, 5]
 * (the controller of dopri with the exponent of a method of order 3).  Per accepted step 3 new
 * right-hand sides; per communication step one more for k1 when the inputs changed, none when
 * they did not (b->dx is then f at t0 of the same inputs, as in v2x_integrate_sdirk).  The last
 * stage of the last step is evaluated at exactly t1, so it leaves b->y consistent with the final
 * state and b->dx = f(t1) without the extra evaluation dopri makes. */
static int v2x_integrate_bs3(v2x_inst *m, v2x_blk *b, double t0, double t1, int *fail_y) {
    static const double a21 = 1.0 / 2, a32 = 3.0 / 4;
    static const double b1 = 2.0 / 9, b2 = 1.0 / 3, b3 = 4.0 / 9;
    /* e = x3 - x2 = h (e1 k1 + e2 k2 + e3 k3 + e4 k4) */
    static const double e1 = 2.0 / 9 - 7.0 / 24, e2 = 1.0 / 3 - 1.0 / 4, e3 = 4.0 / 9 - 1.0 / 3,
                        e4 = -1.0 / 8;
    double x[NXA], k1[NXA], k2[NXA], k3[NXA], k4[NXA], xt[NXA], xn[NXA], e[NXA];
    double t = t0;
    double h = b->h > 0.0 ? b->h : fmin(1e-3 * fmax(t1 - t0, 1e-6), 1.0);
    memcpy(x, b->y, sizeof(double) * NX);
    if (b->alg_dirty || b->h <= 0.0) {
        if (v2x_rhs(b, t, x, k1, fail_y) != 0) return V2X_STEP_FAILED;
    } else {
        memcpy(k1, b->dx, sizeof(double) * NX); /* unchanged inputs: f at the end of the last step */
    }
    while (t < t1) {
        int last = 0;
        if (m->max_step > 0.0 && h > m->max_step) h = m->max_step;
        double hnat = h;
        if (t + 1.0001 * h >= t1) { h = t1 - t; last = 1; }
        const double tn = last ? t1 : t + h;
        for (int i = 0; i < NX; ++i) xt[i] = x[i] + h * (a21 * k1[i]);
        if (v2x_rhs(b, t + 0.5 * h, xt, k2, fail_y) != 0) return V2X_STEP_FAILED;
        for (int i = 0; i < NX; ++i) xt[i] = x[i] + h * (a32 * k2[i]);
        if (v2x_rhs(b, t + 0.75 * h, xt, k3, fail_y) != 0) return V2X_STEP_FAILED;
        for (int i = 0; i < NX; ++i) xn[i] = x[i] + h * (b1 * k1[i] + b2 * k2[i] + b3 * k3[i]);
        if (v2x_rhs(b, tn, xn, k4, fail_y) != 0) return V2X_STEP_FAILED;
        for (int i = 0; i < NX; ++i) e[i] = h * (e1 * k1[i] + e2 * k2[i] + e3 * k3[i] + e4 * k4[i]);
        double err = v2x_err_norm(e, x, xn, m->rtol);
        double fac = (err > 0.0) ? 0.9 * pow(err, -1.0 / 3.0) : 5.0;
        if (fac > 5.0) fac = 5.0;
        if (fac < 0.2) fac = 0.2;
        if (err <= 1.0) {
            t = tn;
            memcpy(x, xn, sizeof(double) * NX);
            memcpy(k1, k4, sizeof(double) * NX);
            b->n_steps++;
            double hn = h * fac;
            b->h = (last && h < hnat) ? fmax(hnat, hn) : hn;
            if (last) break;
            h = hn;
        } else {
            b->n_rejected++;
            h *= fac;
            if (h < 1e-12 * fmax(1.0, fabs(t1))) return V2X_STEP_UNDERFLOW;
        }
    }
    /* the loop ends only after accepting its last step, whose k4 (now k1) was the last
     * evaluation: b->y is consistent with x at t1, and k1 = f(t1, x) */
    memcpy(b->dx, k1, sizeof(double) * NX);
    return V2X_STEP_OK;
}
