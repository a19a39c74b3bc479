/* First-order lag y' = (u - y) / T, FMI 2.0 Co-Simulation and Model Exchange (test FMU).
 *
 * Co-Simulation integrates exactly with the input held over the step:
 *   x(t + h) = u + (x(t) - u) * exp(-h / T).
 * Value references: 0 u (input), 1 y (output), 2 T (parameter), 3 x (state), 4 der(x).
 * Functions not implemented here are generated as stubs returning fmi2Error (see testkit.py).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fmi2Functions.h"

typedef struct { double u, T, x, time; int cs; } Lag;

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }
fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cat[]) {
    (void)c; (void)on; (void)n; (void)cat; return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String res,
                              const fmi2CallbackFunctions *cb, fmi2Boolean vis, fmi2Boolean log) {
    (void)name; (void)res; (void)cb; (void)vis; (void)log;
    if (!guid || strcmp(guid, "{8c4e810f-3df3-4a00-8276-176fa3c9f000}") != 0) return NULL;
    Lag *m = calloc(1, sizeof(Lag));
    if (m) { m->T = 0.5; m->cs = (type == fmi2CoSimulation); }
    return m;
}
void fmi2FreeInstance(fmi2Component c) { free(c); }
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tolDef, fmi2Real tol, fmi2Real t0,
                               fmi2Boolean stopDef, fmi2Real t1) {
    (void)tolDef; (void)tol; (void)stopDef; (void)t1; ((Lag *)c)->time = t0; return fmi2OK;
}
fmi2Status fmi2EnterInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2Terminate(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2Reset(fmi2Component c) { Lag *m = c; m->u = 0; m->T = 0.5; m->x = 0; return fmi2OK; }

static double lag_get(const Lag *m, fmi2ValueReference vr) {
    switch (vr) {
    case 0: return m->u;
    case 1: case 3: return m->x;
    case 2: return m->T;
    default: return (m->u - m->x) / m->T;
    }
}
fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real v[]) {
    for (size_t i = 0; i < n; i++) { if (vr[i] > 4) return fmi2Error; v[i] = lag_get(c, vr[i]); }
    return fmi2OK;
}
fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Real v[]) {
    Lag *m = c;
    for (size_t i = 0; i < n; i++) {
        if (vr[i] == 0) m->u = v[i];
        else if (vr[i] == 2 && v[i] > 0) m->T = v[i];
        else if (vr[i] == 3) m->x = v[i];
        else return fmi2Error;
    }
    return fmi2OK;
}
fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Integer v[]) {
    (void)c; (void)vr; (void)v; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Boolean v[]) {
    (void)c; (void)vr; (void)v; return n ? fmi2Error : fmi2OK;
}

/* Co-Simulation */
fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean noPrior) {
    Lag *m = c; (void)noPrior;
    m->x = m->u + (m->x - m->u) * exp(-h / m->T);
    m->time = t + h;
    return fmi2OK;
}

/* Model Exchange */
fmi2Status fmi2SetTime(fmi2Component c, fmi2Real t) { ((Lag *)c)->time = t; return fmi2OK; }
fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t n) {
    if (n != 1) return fmi2Error;
    ((Lag *)c)->x = x[0];
    return fmi2OK;
}
fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t n) {
    if (n != 1) return fmi2Error;
    x[0] = ((Lag *)c)->x;
    return fmi2OK;
}
fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t n) {
    if (n != 1) return fmi2Error;
    dx[0] = lag_get(c, 4);
    return fmi2OK;
}
fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t n) {
    (void)c; if (n != 1) return fmi2Error; x[0] = 1.0; return fmi2OK;
}
fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real z[], size_t n) {
    (void)c; (void)z; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2EnterEventMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *e) {
    (void)c;
    e->newDiscreteStatesNeeded = fmi2False; e->terminateSimulation = fmi2False;
    e->nominalsOfContinuousStatesChanged = fmi2False; e->valuesOfContinuousStatesChanged = fmi2False;
    e->nextEventTimeDefined = fmi2False; e->nextEventTime = 0.0;
    return fmi2OK;
}
fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noPrior, fmi2Boolean *enter,
                                       fmi2Boolean *term) {
    (void)c; (void)noPrior; *enter = fmi2False; *term = fmi2False; return fmi2OK;
}
