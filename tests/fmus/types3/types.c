/* Every FMI 3.0 scalar type passed through, plus a stair, FMI 3.0 Co-Simulation (test FMU).
 *
 * Each output copies its input of the same type (exact, also 2**63 - 1 and 2**64 - 1);
 * stair = floor(time) counts whole seconds.  Value references: 0 time, 1/2 Float32 in/out,
 * 3/4 Int8, 5/6 Int64, 7/8 UInt64, 9/10 Boolean, 11/12 Enumeration, 13 stair (Int32),
 * 14 label (String), 15 arr (Float64[2]), 16 blob (Binary).
 * Functions not implemented here are generated as stubs returning fmi3Error (see testkit.py).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fmi3Functions.h"

typedef struct {
    double time, arr[2]; float f32; fmi3Int8 i8; fmi3Int64 i64, e; fmi3UInt64 u64; fmi3Boolean b;
} Types;

const char *fmi3GetVersion(void) { return fmi3Version; }
fmi3Status fmi3SetDebugLogging(fmi3Instance i, fmi3Boolean on, size_t n, const fmi3String cat[]) {
    (void)i; (void)on; (void)n; (void)cat; return fmi3OK;
}
fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String res,
    fmi3Boolean vis, fmi3Boolean log, fmi3Boolean eventMode, fmi3Boolean early,
    const fmi3ValueReference req[], size_t nreq, fmi3InstanceEnvironment env,
    fmi3LogMessageCallback logMessage, fmi3IntermediateUpdateCallback upd) {
    (void)name; (void)res; (void)vis; (void)log; (void)eventMode; (void)early; (void)req;
    (void)nreq; (void)env; (void)logMessage; (void)upd;
    if (!token || strcmp(token, "{5b1d2e9a-7c41-4f0e-8d2a-0c0ffee00007}") != 0) return NULL;
    Types *m = calloc(1, sizeof(Types));
    if (m) m->e = 1;
    return m;
}
void fmi3FreeInstance(fmi3Instance i) { free(i); }
fmi3Status fmi3EnterInitializationMode(fmi3Instance i, fmi3Boolean tolDef, fmi3Float64 tol,
                                       fmi3Float64 t0, fmi3Boolean stopDef, fmi3Float64 t1) {
    (void)tolDef; (void)tol; (void)stopDef; (void)t1; ((Types *)i)->time = t0; return fmi3OK;
}
fmi3Status fmi3ExitInitializationMode(fmi3Instance i) { (void)i; return fmi3OK; }
fmi3Status fmi3Terminate(fmi3Instance i) { (void)i; return fmi3OK; }

/* Defined by GETSET (named here for testkit's stub generator):
 *   fmi3GetFloat32() fmi3SetFloat32() fmi3GetInt8() fmi3SetInt8()
 *   fmi3GetUInt64() fmi3SetUInt64() fmi3GetBoolean() fmi3SetBoolean()
 *   fmi3GetInt64() fmi3SetInt64() fmi3GetInt32() fmi3SetInt32()
 */
#define GETSET(NAME, CTYPE, BODY_GET, BODY_SET)                                                  \
fmi3Status fmi3Get##NAME(fmi3Instance i, const fmi3ValueReference vr[], size_t n, CTYPE v[],    \
                         size_t nv) {                                                           \
    Types *m = i; (void)m; if (n != nv) return fmi3Error;                                        \
    for (size_t j = 0; j < n; j++) { switch (vr[j]) { BODY_GET default: return fmi3Error; } }   \
    return fmi3OK;                                                                              \
}                                                                                               \
fmi3Status fmi3Set##NAME(fmi3Instance i, const fmi3ValueReference vr[], size_t n,               \
                         const CTYPE v[], size_t nv) {                                          \
    Types *m = i; (void)m; if (n != nv) return fmi3Error;                                        \
    for (size_t j = 0; j < n; j++) { switch (vr[j]) { BODY_SET default: return fmi3Error; } }   \
    return fmi3OK;                                                                              \
}
GETSET(Float32, fmi3Float32, case 1: case 2: v[j] = m->f32; break;, case 1: m->f32 = v[j]; break;)
GETSET(Int8, fmi3Int8, case 3: case 4: v[j] = m->i8; break;, case 3: m->i8 = v[j]; break;)
GETSET(UInt64, fmi3UInt64, case 7: case 8: v[j] = m->u64; break;, case 7: m->u64 = v[j]; break;)
GETSET(Boolean, fmi3Boolean, case 9: case 10: v[j] = m->b; break;, case 9: m->b = v[j]; break;)
GETSET(Int64, fmi3Int64, case 5: case 6: v[j] = m->i64; break; case 11: case 12: v[j] = m->e; break;,
       case 5: m->i64 = v[j]; break; case 11: m->e = v[j]; break;)
GETSET(Int32, fmi3Int32, case 13: v[j] = (fmi3Int32)floor(m->time + 1e-9); break;, )

fmi3Status fmi3GetFloat64(fmi3Instance i, const fmi3ValueReference vr[], size_t n,
                          fmi3Float64 v[], size_t nv) {
    Types *m = i; size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (vr[j] == 0 && k < nv) v[k++] = m->time;
        else if (vr[j] == 15 && k + 1 < nv) { v[k++] = m->arr[0]; v[k++] = m->arr[1]; }
        else return fmi3Error;
    }
    return k == nv ? fmi3OK : fmi3Error;
}
fmi3Status fmi3DoStep(fmi3Instance i, fmi3Float64 t, fmi3Float64 h, fmi3Boolean noPrior,
                      fmi3Boolean *eventNeeded, fmi3Boolean *terminate, fmi3Boolean *early,
                      fmi3Float64 *lastTime) {
    Types *m = i; (void)noPrior;
    m->time = t + h; m->arr[0] = m->time; m->arr[1] = -m->time;
    *eventNeeded = fmi3False; *terminate = fmi3False; *early = fmi3False; *lastTime = m->time;
    return fmi3OK;
}
