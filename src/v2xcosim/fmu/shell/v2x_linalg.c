/* v2xcosim FMI 2.0 shell: dense linear algebra (LU with partial pivoting, and its solve).
 *
 * Part of the shell's one translation unit: #included by v2x_fmi2.c, not compiled on its own.
 */

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
