/* A stair: counter (Integer) and level = 0.5 * counter (Real) step up by one every second,
 * FMI 2.0 Co-Simulation and Model Exchange (time events), test FMU after the Reference FMU
 * "Stair".  Value references: 0 counter, 1 level.  ``HANG`` compiled in: fmi2Instantiate never
 * returns (the timeout test); ``CRASH``: it writes through a NULL pointer (the crash test).
 * Functions not implemented here are generated as stubs returning fmi2Error (see testkit.py).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fmi2Functions.h"

typedef struct { double time; int counter; } Stair;

const char *fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char *fmi2GetVersion(void) { return fmi2Version; }
fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cat[]) {
    (void)c; (void)on; (void)n; (void)cat; return fmi2OK;
}
fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String res,
                              const fmi2CallbackFunctions *cb, fmi2Boolean vis, fmi2Boolean log) {
    (void)name; (void)type; (void)res; (void)cb; (void)vis; (void)log;
#ifdef HANG
    for (volatile int spin = 1; spin;) { }
#endif
#ifdef CRASH
    { volatile int *nowhere = NULL; *nowhere = 1; }
#endif
    if (!guid || strcmp(guid, "{0d6b7c1a-2e3f-4a5b-9c8d-0c0ffee00002}") != 0) return NULL;
    return calloc(1, sizeof(Stair));
}
void fmi2FreeInstance(fmi2Component c) { free(c); }
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tolDef, fmi2Real tol, fmi2Real t0,
                               fmi2Boolean stopDef, fmi2Real t1) {
    (void)tolDef; (void)tol; (void)stopDef; (void)t1; ((Stair *)c)->time = t0; return fmi2OK;
}
fmi2Status fmi2EnterInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2Terminate(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Integer v[]) {
    for (size_t i = 0; i < n; i++) { if (vr[i] != 0) return fmi2Error; v[i] = ((Stair *)c)->counter; }
    return fmi2OK;
}
fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real v[]) {
    for (size_t i = 0; i < n; i++) { if (vr[i] != 1) return fmi2Error; v[i] = 0.5 * ((Stair *)c)->counter; }
    return fmi2OK;
}
fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Boolean v[]) {
    (void)c; (void)vr; (void)v; return n ? fmi2Error : fmi2OK;
}
/* Co-Simulation: the counter after the step */
fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean noPrior) {
    Stair *m = c; (void)noPrior;
    m->time = t + h; m->counter = (int)floor(m->time + 1e-9);
    return fmi2OK;
}
/* Model Exchange: no states, a time event at every whole second */
fmi2Status fmi2SetTime(fmi2Component c, fmi2Real t) { ((Stair *)c)->time = t; return fmi2OK; }
fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t n) {
    (void)c; (void)x; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t n) {
    (void)c; (void)x; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t n) {
    (void)c; (void)dx; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t n) {
    (void)c; (void)x; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real z[], size_t n) {
    (void)c; (void)z; return n ? fmi2Error : fmi2OK;
}
fmi2Status fmi2EnterEventMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) { (void)c; return fmi2OK; }
fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo *e) {
    Stair *m = c;
    m->counter = (int)floor(m->time + 1e-9);
    e->newDiscreteStatesNeeded = fmi2False; e->terminateSimulation = fmi2False;
    e->nominalsOfContinuousStatesChanged = fmi2False; e->valuesOfContinuousStatesChanged = fmi2False;
    e->nextEventTimeDefined = fmi2True; e->nextEventTime = m->counter + 1.0;
    return fmi2OK;
}
fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean noPrior, fmi2Boolean *enter,
                                       fmi2Boolean *term) {
    (void)c; (void)noPrior; *enter = fmi2False; *term = fmi2False; return fmi2OK;
}
