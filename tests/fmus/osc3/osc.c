/* Damped oscillator m x'' + c x' + k x = F, FMI 3.0 Co-Simulation (test FMU).
 *
 * doStep integrates with classical RK4 on a fixed internal step of at most 1 ms (deterministic).
 * Value references: 0 time, 1 F (input), 2 x, 3 v (outputs), 4 k, 5 c, 6 m (parameters).
 * Functions not implemented here are generated as stubs returning fmi3Error (see testkit.py).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fmi3Functions.h"

typedef struct { double time, F, x, v, k, c, m; } Osc;

const char *fmi3GetVersion(void) { return fmi3Version; }
fmi3Status fmi3SetDebugLogging(fmi3Instance i, fmi3Boolean on, size_t n, const fmi3String cat[]) {
    (void)i; (void)on; (void)n; (void)cat; return fmi3OK;
}
static void osc_defaults(Osc *o) {
    o->time = 0; o->F = 0; o->x = 1; o->v = 0; o->k = 4; o->c = 0.4; o->m = 1;
}
fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String res,
    fmi3Boolean vis, fmi3Boolean log, fmi3Boolean eventMode, fmi3Boolean early,
    const fmi3ValueReference req[], size_t nreq, fmi3InstanceEnvironment env,
    fmi3LogMessageCallback logMessage, fmi3IntermediateUpdateCallback upd) {
    (void)name; (void)res; (void)vis; (void)log; (void)eventMode; (void)early; (void)req;
    (void)nreq; (void)env; (void)logMessage; (void)upd;
    if (!token || strcmp(token, "{3f2a7c1e-0b7d-4f3e-9a55-0c0ffee00003}") != 0) return NULL;
    Osc *o = calloc(1, sizeof(Osc));
    if (o) osc_defaults(o);
    return o;
}
void fmi3FreeInstance(fmi3Instance i) { free(i); }
fmi3Status fmi3EnterInitializationMode(fmi3Instance i, fmi3Boolean tolDef, fmi3Float64 tol,
                                       fmi3Float64 t0, fmi3Boolean stopDef, fmi3Float64 t1) {
    (void)tolDef; (void)tol; (void)stopDef; (void)t1; ((Osc *)i)->time = t0; return fmi3OK;
}
fmi3Status fmi3ExitInitializationMode(fmi3Instance i) { (void)i; return fmi3OK; }
fmi3Status fmi3Terminate(fmi3Instance i) { (void)i; return fmi3OK; }
fmi3Status fmi3Reset(fmi3Instance i) { osc_defaults(i); return fmi3OK; }

static double *osc_ref(Osc *o, fmi3ValueReference vr) {
    switch (vr) {
    case 0: return &o->time; case 1: return &o->F; case 2: return &o->x; case 3: return &o->v;
    case 4: return &o->k; case 5: return &o->c; case 6: return &o->m; default: return NULL;
    }
}
fmi3Status fmi3GetFloat64(fmi3Instance i, const fmi3ValueReference vr[], size_t n,
                          fmi3Float64 v[], size_t nv) {
    if (n != nv) return fmi3Error;
    for (size_t j = 0; j < n; j++) { double *p = osc_ref(i, vr[j]); if (!p) return fmi3Error; v[j] = *p; }
    return fmi3OK;
}
fmi3Status fmi3SetFloat64(fmi3Instance i, const fmi3ValueReference vr[], size_t n,
                          const fmi3Float64 v[], size_t nv) {
    if (n != nv) return fmi3Error;
    for (size_t j = 0; j < n; j++) {
        double *p = osc_ref(i, vr[j]);
        if (!p || vr[j] == 0 || vr[j] == 2 || vr[j] == 3) {
            if (!(p && (vr[j] == 2 || vr[j] == 3))) return fmi3Error; /* x, v: start values */
        }
        *p = v[j];
    }
    return fmi3OK;
}

static void osc_rhs(const Osc *o, double x, double v, double *dx, double *dv) {
    *dx = v;
    *dv = (o->F - o->c * v - o->k * x) / o->m;
}
fmi3Status fmi3DoStep(fmi3Instance i, fmi3Float64 t, fmi3Float64 h, fmi3Boolean noPrior,
                      fmi3Boolean *eventNeeded, fmi3Boolean *terminate, fmi3Boolean *early,
                      fmi3Float64 *lastTime) {
    Osc *o = i; (void)noPrior;
    int n = (int)ceil(h / 1e-3 - 1e-9); if (n < 1) n = 1;
    double dt = h / n;
    for (int s = 0; s < n; s++) {
        double k1x, k1v, k2x, k2v, k3x, k3v, k4x, k4v;
        osc_rhs(o, o->x, o->v, &k1x, &k1v);
        osc_rhs(o, o->x + 0.5 * dt * k1x, o->v + 0.5 * dt * k1v, &k2x, &k2v);
        osc_rhs(o, o->x + 0.5 * dt * k2x, o->v + 0.5 * dt * k2v, &k3x, &k3v);
        osc_rhs(o, o->x + dt * k3x, o->v + dt * k3v, &k4x, &k4v);
        o->x += dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x);
        o->v += dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v);
    }
    o->time = t + h;
    *eventNeeded = fmi3False; *terminate = fmi3False; *early = fmi3False; *lastTime = o->time;
    return fmi3OK;
}
