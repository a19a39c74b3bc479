/* Named codes of the v2xcosim FMI 2.0 shell (v2x_fmi2.c, v2x_solver.c) and of the generated
 * v2x_config.h, which uses V2X_SOLVER_* and V2X_P_*.  The Python side writes those two by name:
 * v2xcosim.fmu.registry.SOLVERS and v2xcosim.fmu.meta.ParamKind hold the same values (a test
 * compares them with this file).  They are enumeration constants: compare them in C code, not
 * in #if.
 */
#ifndef V2X_SHELL_H
#define V2X_SHELL_H

/* V2X_SOLVER: the model's Co-Simulation integrator (models/fmus.toml, solver = ...). */
enum {
    V2X_SOLVER_SDIRK = 1, /* 3-stage L-stable SDIRK of order 3 (v2x_integrate_sdirk) */
    V2X_SOLVER_DOPRI = 2, /* Dormand-Prince 5(4) (v2x_integrate_dopri) */
    V2X_SOLVER_BS3 = 3    /* Bogacki-Shampine 3(2), first same as last (v2x_integrate_bs3) */
};

/* v2x_p_kind[k]: what P slot k is. */
enum {
    V2X_P_PARAMETER = 0,  /* independent parameter: settable before initialization */
    V2X_P_CALCULATED = 1, /* dependent (calculated) parameter: set by v2x_kernel_update */
    V2X_P_INPUT = 2,      /* input: settable at any time */
    V2X_P_CONSTANT = 3    /* constant: never settable */
};

/* What a value reference points at (v2x_ref). */
enum {
    V2X_VR_Y = 0,    /* y[k]: states, algebraic variables, outputs */
    V2X_VR_P = 1,    /* p[k - NY]: parameters and inputs */
    V2X_VR_DX = 2,   /* dx[k - NY - NP]: state derivatives */
    V2X_VR_SHELL = 3 /* one of the shell's own parameters below */
};

/* The shell's own parameters, in value-reference order after the last block. */
enum {
    V2X_SHELL_RTOL = 0,      /* solver.rtol */
    V2X_SHELL_MAX_STEP = 1,  /* solver.max_step_s */
    V2X_SHELL_THREADS = 2,   /* solver.threads (listed by fleet FMUs) */
    V2X_SHELL_N_PARAMS = 3
};

/* v2x_blk.jac_state: the finite-difference Jacobian of a block's right-hand side. */
enum {
    V2X_JAC_NONE = 0,     /* not computed yet */
    V2X_JAC_VALID = 1,    /* computed earlier and reused; a failing stage recomputes it first */
    V2X_JAC_REFRESHED = 2 /* recomputed since the last accepted step or input change: a failing
                             stage cuts the step instead */
};

/* Result of one SDIRK stage (v2x_stage). */
enum {
    V2X_STAGE_OK = 0,
    V2X_STAGE_NO_CONVERGENCE = 1, /* simplified Newton did not contract */
    V2X_STAGE_RHS_FAILED = 2      /* the right-hand side gave a non-finite value */
};

/* Result of integrating one block over a communication step (v2x_integrate_*, m->rc[k]). */
enum {
    V2X_STEP_OK = 0,
    V2X_STEP_FAILED = -1,    /* non-finite value or algebraic loop did not converge */
    V2X_STEP_UNDERFLOW = -2, /* step size fell below 1e-12 of the step's end time */
    V2X_STEP_NONFINITE = -3  /* a variable is not finite after the step */
};

/* Instance state (v2x_inst.state). */
enum { ST_INSTANTIATED, ST_INIT, ST_RUNNING, ST_TERMINATED, ST_ERROR };

#endif
