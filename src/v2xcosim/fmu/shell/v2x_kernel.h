/* Interface between a generated v2xcosim model kernel (kernel.c, rendered by the project's
 * rumoca target) and the generic FMI 2.0 shell (v2x_fmi2.c).
 *   y = [states | algebraic variables and outputs]   (Y vector of rumoca's Solve IR)
 *   p = [parameters | inputs]                        (P vector of rumoca's Solve IR)
 */
#ifndef V2X_KERNEL_H
#define V2X_KERNEL_H

typedef struct {
    int n_causal;          /* explicit steps: residual row `causal_row[k]` determines y[causal_y[k]] */
    const int *causal_row;
    const int *causal_y;
    const int *causal_unit; /* 1 when y enters the row linearly with coefficient +-1 */
    int n_tear;            /* Newton unknowns y[tear_y[k]], residuals rows tear_row[k] */
    const int *tear_y;
    const int *tear_row;
} v2x_block;

/* V2X_KFN is "static" when the shell compiles the kernel in its own translation unit. */
#ifndef V2X_KFN
#define V2X_KFN
#endif
V2X_KFN void v2x_kernel_update(double *p, double *y);
V2X_KFN void v2x_kernel_derivatives(double time, const double *y, const double *p, double *dx);
V2X_KFN double v2x_kernel_residual(int row, double time, const double *y, const double *p);
V2X_KFN const v2x_block v2x_kernel_blocks[];

#endif
