"""A tiny FMI 2.0 Co-Simulation EV FMU compiled from C for tests (single-EV or fleet of N).

Model per vehicle (deliberately simple, exact energy bookkeeping):
    p_ac = clamp(p_set, ±p_rated), zero when the SOC bound would be crossed, scaled down to
    land on soc_max/soc_min; q_ac = clamp(q_set + k_qu·(vm − 1)·s_rated if enable_qu,
    ±sqrt(s_rated² − p_ac²));
    p_dc = η·p_ac (charging) or p_ac/η (discharging); p_loss_charger = p_ac − p_dc;
    p_loss_battery = r_loss·p_dc²/p_rated; p_chem = p_dc − p_loss_battery;
    soc += p_chem·h/capacity_j; energy meters integrate p_ac, p_dc, p_chem and both losses.
Fault injection parameters (for failure-path tests): fail_at_s (doStep returns fmi2Error),
hang_at_s (doStep spins forever inside C), crash_at_s (abort()), segv_at_s (a write through a
null pointer: SIGSEGV), kill_at_s (the process sends itself SIGKILL, as the OOM killer would);
negative = off.  hang_in_init
> 0: fmi2ExitInitializationMode spins forever (a hang during the run's set-up).  The
environment variable ``V2XCOSIM_TOY_HANG_IN_INSTANTIATE`` (any value) makes fmi2Instantiate
spin forever: a hang while the FMU is loaded, before any parameter can be set.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

PARAMS = [
    ("capacity_j", 2.16e8),
    ("p_rated_w", 11000.0),
    ("s_rated_va", 11000.0),
    ("eta_charger", 0.95),
    ("r_loss", 0.02),
    ("soc_start", 0.5),
    ("soc_min", 0.0),
    ("soc_max", 1.0),
    ("enable_qu", 0.0),
    ("k_qu", 5.0),
    ("fail_at_s", -1.0),
    ("hang_at_s", -1.0),
    ("crash_at_s", -1.0),
    ("segv_at_s", -1.0),
    ("kill_at_s", -1.0),
    ("hang_in_init", 0.0),
]
INPUTS = [("p_set_w", 0.0), ("q_set_var", 0.0), ("vm_pu", 1.0), ("t_amb_k", 293.15)]
OUTPUTS = [
    "p_ac_w",
    "q_ac_var",
    "p_dc_w",
    "soc",
    "p_loss_charger_w",
    "p_loss_battery_w",
    "e_ac_j",
    "e_dc_j",
    "e_chem_j",
    "e_loss_j",
]
NAMES = [p for p, _ in PARAMS] + [i for i, _ in INPUTS] + OUTPUTS
NV = len(NAMES)

C_SOURCE = r"""
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include "fmi2Functions.h"

#define NV %(NV)d
#define N %(N)d
enum { %(ENUM)s };

typedef struct { double v[N][NV]; double time; int initialized; } Inst;

static const double DEFAULTS[NV] = { %(DEFAULTS)s };

static void init_outputs(Inst* m) {
    for (int i = 0; i < N; i++) {
        double* v = m->v[i];
        v[V_soc] = v[V_soc_start];
        v[V_p_ac_w] = v[V_q_ac_var] = v[V_p_dc_w] = 0.0;
        v[V_p_loss_charger_w] = v[V_p_loss_battery_w] = 0.0;
        v[V_e_ac_j] = v[V_e_dc_j] = v[V_e_chem_j] = v[V_e_loss_j] = 0.0;
    }
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type t, fmi2String guid, fmi2String loc,
                              const fmi2CallbackFunctions* cb, fmi2Boolean vis, fmi2Boolean log) {
    if (getenv("V2XCOSIM_TOY_HANG_IN_INSTANTIATE")) { volatile int spin = 1; while (spin) {} }
    Inst* m = (Inst*)calloc(1, sizeof(Inst));
    for (int i = 0; i < N; i++) memcpy(m->v[i], DEFAULTS, sizeof(DEFAULTS));
    init_outputs(m);
    return m;
}
void fmi2FreeInstance(fmi2Component c) { free(c); }
const char* fmi2GetTypesPlatform(void) { return fmi2TypesPlatform; }
const char* fmi2GetVersion(void) { return fmi2Version; }
fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean l, size_t n,
                               const fmi2String c2[]) { return fmi2OK; }
fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean a, fmi2Real tol, fmi2Real t0,
                               fmi2Boolean b, fmi2Real t1) {
    ((Inst*)c)->time = t0; return fmi2OK; }
fmi2Status fmi2EnterInitializationMode(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
    if (((Inst*)c)->v[0][V_hang_in_init] > 0) { volatile int spin = 1; while (spin) {} }
    init_outputs((Inst*)c); ((Inst*)c)->initialized = 1; return fmi2OK; }
fmi2Status fmi2Terminate(fmi2Component c) { return fmi2OK; }
fmi2Status fmi2Reset(fmi2Component c) {
    Inst* m = (Inst*)c;
    for (int i = 0; i < N; i++) memcpy(m->v[i], DEFAULTS, sizeof(DEFAULTS));
    init_outputs(m); m->time = 0; m->initialized = 0; return fmi2OK; }
fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                       fmi2Real value[]) {
    Inst* m = (Inst*)c;
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N * NV) return fmi2Error;
        value[k] = m->v[vr[k] / NV][vr[k] %% NV];
    }
    return fmi2OK; }
fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                       const fmi2Real value[]) {
    Inst* m = (Inst*)c;
    for (size_t k = 0; k < n; k++) {
        if (vr[k] >= N * NV) return fmi2Error;
        m->v[vr[k] / NV][vr[k] %% NV] = value[k];
    }
    return fmi2OK; }
fmi2Status fmi2GetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          fmi2Integer v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2GetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          fmi2Boolean v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2GetString(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                         fmi2String v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetInteger(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Integer v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetBoolean(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                          const fmi2Boolean v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2SetString(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                         const fmi2String v[]) { return n ? fmi2Error : fmi2OK; }
fmi2Status fmi2GetFMUstate(fmi2Component c, fmi2FMUstate* s) { return fmi2Error; }
fmi2Status fmi2SetFMUstate(fmi2Component c, fmi2FMUstate s) { return fmi2Error; }
fmi2Status fmi2FreeFMUstate(fmi2Component c, fmi2FMUstate* s) { return fmi2Error; }
fmi2Status fmi2SerializedFMUstateSize(fmi2Component c, fmi2FMUstate s,
                                      size_t* n) { return fmi2Error; }
fmi2Status fmi2SerializeFMUstate(fmi2Component c, fmi2FMUstate s, fmi2Byte b[],
                                 size_t n) { return fmi2Error; }
fmi2Status fmi2DeSerializeFMUstate(fmi2Component c, const fmi2Byte b[], size_t n,
                                   fmi2FMUstate* s) { return fmi2Error; }
fmi2Status fmi2GetDirectionalDerivative(fmi2Component c, const fmi2ValueReference a[], size_t na,
                                        const fmi2ValueReference b[], size_t nb,
                                        const fmi2Real dv[], fmi2Real dz[]) { return fmi2Error; }
fmi2Status fmi2SetRealInputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                       const fmi2Integer o[],
                                       const fmi2Real v[]) { return fmi2Error; }
fmi2Status fmi2GetRealOutputDerivatives(fmi2Component c, const fmi2ValueReference vr[], size_t n,
                                        const fmi2Integer o[], fmi2Real v[]) { return fmi2Error; }
fmi2Status fmi2CancelStep(fmi2Component c) { return fmi2Error; }
fmi2Status fmi2GetStatus(fmi2Component c, const fmi2StatusKind s,
                         fmi2Status* v) { return fmi2Error; }
fmi2Status fmi2GetRealStatus(fmi2Component c, const fmi2StatusKind s,
                             fmi2Real* v) { return fmi2Error; }
fmi2Status fmi2GetIntegerStatus(fmi2Component c, const fmi2StatusKind s,
                                fmi2Integer* v) { return fmi2Error; }
fmi2Status fmi2GetBooleanStatus(fmi2Component c, const fmi2StatusKind s,
                                fmi2Boolean* v) { return fmi2Error; }
fmi2Status fmi2GetStringStatus(fmi2Component c, const fmi2StatusKind s,
                               fmi2String* v) { return fmi2Error; }

fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean nsp) {
    Inst* m = (Inst*)c;
    for (int i = 0; i < N; i++) {
        double* v = m->v[i];
        if (v[V_fail_at_s] >= 0 && t >= v[V_fail_at_s]) return fmi2Error;
        if (v[V_crash_at_s] >= 0 && t >= v[V_crash_at_s]) abort();
        if (v[V_segv_at_s] >= 0 && t >= v[V_segv_at_s]) { volatile int* null = 0; *null = 1; }
        if (v[V_kill_at_s] >= 0 && t >= v[V_kill_at_s]) kill(getpid(), SIGKILL);
        if (v[V_hang_at_s] >= 0 && t >= v[V_hang_at_s]) { volatile int spin = 1; while (spin) {} }
        double pr = v[V_p_rated_w], cap = v[V_capacity_j], eta = v[V_eta_charger];
        double p = fmax(-pr, fmin(pr, v[V_p_set_w]));
        for (int pass = 0; pass < 60; pass++) {
            double pdc = p >= 0 ? eta * p : p / eta;
            double pchem = pdc - v[V_r_loss] * pdc * pdc / pr;
            double soc_new = v[V_soc] + pchem * h / cap;
            if (p > 0 && soc_new > v[V_soc_max])
                p = v[V_soc] >= v[V_soc_max]
                    ? 0.0 : p * (v[V_soc_max] - v[V_soc]) / (soc_new - v[V_soc]);
            else if (p < 0 && soc_new < v[V_soc_min])
                p = v[V_soc] <= v[V_soc_min]
                    ? 0.0 : p * (v[V_soc] - v[V_soc_min]) / (v[V_soc] - soc_new);
            else break;
        }
        double pdc = p >= 0 ? eta * p : p / eta;
        double lb = v[V_r_loss] * pdc * pdc / pr;
        double pchem = pdc - lb;
        double smax = sqrt(fmax(0.0, v[V_s_rated_va] * v[V_s_rated_va] - p * p));
        double q = v[V_q_set_var]
            + (v[V_enable_qu] > 0.5 ? v[V_k_qu] * (v[V_vm_pu] - 1.0) * v[V_s_rated_va] : 0.0);
        q = fmax(-smax, fmin(smax, q));
        v[V_p_ac_w] = p; v[V_q_ac_var] = q; v[V_p_dc_w] = pdc;
        v[V_p_loss_charger_w] = p - pdc; v[V_p_loss_battery_w] = lb;
        v[V_soc] += pchem * h / cap;
        v[V_e_ac_j] += p * h; v[V_e_dc_j] += pdc * h; v[V_e_chem_j] += pchem * h;
        v[V_e_loss_j] += (p - pdc + lb) * h;
    }
    m->time = t + h;
    return fmi2OK;
}
"""


def _xml(model: str, guid: str, n: int | None) -> str:
    rows: list[str] = []
    outputs_idx = []
    count = 1 if n is None else n
    for i in range(count):
        prefix = "" if n is None else f"ev[{i + 1}]."
        for j, name in enumerate(NAMES):
            vr = i * NV + j
            if name in dict(PARAMS):
                attrs = 'causality="parameter" variability="fixed" initial="exact"'
                start = f' start="{dict(PARAMS)[name]!r}"'
            elif name in dict(INPUTS):
                attrs = 'causality="input" variability="continuous"'
                start = f' start="{dict(INPUTS)[name]!r}"'
            else:
                attrs = 'causality="output" variability="continuous"'
                start = ""
                outputs_idx.append(len(rows) + 1)
            rows.append(
                f'  <ScalarVariable name="{prefix}{name}" valueReference="{vr}" {attrs}>'
                f"<Real{start}/></ScalarVariable>"
            )
    outs = "\n".join(f'    <Unknown index="{k}"/>' for k in outputs_idx)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="{model}" guid="{guid}" numberOfEventIndicators="0">
 <CoSimulation modelIdentifier="{model}" canHandleVariableCommunicationStepSize="true"/>
 <ModelVariables>
{chr(10).join(rows)}
 </ModelVariables>
 <ModelStructure>
  <Outputs>
{outs}
  </Outputs>
 </ModelStructure>
</fmiModelDescription>
"""


def build_toy_fmu(out_dir: Path, n: int | None = None) -> Path:
    """Compile the toy EV FMU (``n`` = None: single EV; else a fleet of ``n``) into out_dir."""
    import fmpy

    model = "ToyEV" if n is None else f"ToyEV_fleet{n}"
    out_dir.mkdir(parents=True, exist_ok=True)
    fmu_path = out_dir / f"{model}.fmu"
    if fmu_path.exists():
        return fmu_path
    work = out_dir / f"{model}_build"
    work.mkdir(exist_ok=True)
    enum = ", ".join(f"V_{name}" for name in NAMES)
    defaults = ", ".join(repr(float(dict(PARAMS + INPUTS).get(name, 0.0))) for name in NAMES)
    src = C_SOURCE % {"NV": NV, "N": 1 if n is None else n, "ENUM": enum, "DEFAULTS": defaults}
    (work / "model.c").write_text(src)
    headers = Path(fmpy.__file__).parent / "c-code"
    so = work / f"{model}.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O2",
            f"-I{headers}",
            "-DFMI2_FUNCTION_PREFIX=",
            str(work / "model.c"),
            "-o",
            str(so),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    tmp = fmu_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        info = zipfile.ZipInfo("modelDescription.xml")
        info.external_attr = 0o100644 << 16  # regular file (Python's default has no type bits)
        zf.writestr(info, _xml(model, "{" + str(uuid.uuid4()) + "}", n))
        zf.write(so, f"binaries/linux64/{model}.so")
    tmp.replace(fmu_path)
    return fmu_path


if __name__ == "__main__":  # pragma: no cover
    print(build_toy_fmu(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
