/* Drive an FMI 2.0 Co-Simulation FMU's C sources under AddressSanitizer (tests/test_fmu_robustness).
 *
 * argv: GUID, comma-separated input value references, comma-separated Real value references
 * to read, the value reference of solver.threads (or -1), the number of instances.
 * Each instance: instantiate, set threads, initialise, 50 steps of 60 s with changing
 * setpoints (charge and discharge), read every Real, save/restore/serialise the state,
 * unknown value references (must be refused, not read), terminate, free.  Exit 0 when every
 * call returned the expected status.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fmi2Functions.h"

static void logger(fmi2ComponentEnvironment env, fmi2String name, fmi2Status status,
                   fmi2String category, fmi2String message, ...) {
    (void)env; (void)name; (void)status; (void)category; (void)message;
}

static size_t parse(const char *text, fmi2ValueReference **out) {
    size_t n = 0, cap = 16;
    *out = malloc(cap * sizeof **out);
    char *copy = strdup(text), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap) { cap *= 2; *out = realloc(*out, cap * sizeof **out); }
        (*out)[n++] = (fmi2ValueReference)strtoul(tok, NULL, 10);
    }
    free(copy);
    return n;
}

#define CHECK(call, want) do { if ((call) != (want)) { \
    fprintf(stderr, "unexpected status: %s (instance %d)\n", #call, k); return 1; } } while (0)

int main(int argc, char **argv) {
    if (argc != 6) { fprintf(stderr, "usage: driver GUID INPUTS REALS THREADS_VR N\n"); return 2; }
    fmi2ValueReference *in_vr, *real_vr;
    size_t n_in = parse(argv[2], &in_vr), n_real = parse(argv[3], &real_vr);
    long threads_vr = strtol(argv[4], NULL, 10);
    int n = atoi(argv[5]);
    fmi2CallbackFunctions cb = {logger, calloc, free, NULL, NULL};
    double *values = calloc(n_real, sizeof *values), *inputs = calloc(n_in, sizeof *inputs);
    for (int k = 0; k < n; k++) {
        fmi2Component c = fmi2Instantiate("asan", fmi2CoSimulation, argv[1], "file:///tmp",
                                          &cb, fmi2False, fmi2False);
        if (!c) { fprintf(stderr, "instantiate failed\n"); return 1; }
        if (threads_vr >= 0) {
            fmi2ValueReference vr = (fmi2ValueReference)threads_vr;
            double two = 2.0;
            CHECK(fmi2SetReal(c, &vr, 1, &two), fmi2OK);
        }
        CHECK(fmi2SetupExperiment(c, fmi2False, 0.0, 0.0, fmi2False, 0.0), fmi2OK);
        CHECK(fmi2EnterInitializationMode(c), fmi2OK);
        CHECK(fmi2ExitInitializationMode(c), fmi2OK);
        fmi2FMUstate state = NULL;
        for (int s = 0; s < 50; s++) {
            for (size_t i = 0; i < n_in; i++)
                inputs[i] = (s % 3 == 0) ? -3000.0 : (s % 3 == 1 ? 7000.0 : 0.0);
            /* inputs other than setpoints keep plausible values: only the first is a power */
            for (size_t i = 1; i < n_in; i++) inputs[i] = 0.0;
            CHECK(fmi2SetReal(c, in_vr, n_in > 0 ? 1 : 0, inputs), fmi2OK);
            CHECK(fmi2DoStep(c, 60.0 * s, 60.0, fmi2True), fmi2OK);
            CHECK(fmi2GetReal(c, real_vr, n_real, values), fmi2OK);
            if (s == 10) CHECK(fmi2GetFMUstate(c, &state), fmi2OK);
        }
        size_t size = 0;
        CHECK(fmi2SerializedFMUstateSize(c, state, &size), fmi2OK);
        char *bytes = malloc(size);
        CHECK(fmi2SerializeFMUstate(c, state, bytes, size), fmi2OK);
        fmi2FMUstate copy = NULL;
        CHECK(fmi2DeSerializeFMUstate(c, bytes, size, &copy), fmi2OK);
        CHECK(fmi2SetFMUstate(c, copy), fmi2OK);
        CHECK(fmi2FreeFMUstate(c, &copy), fmi2OK);
        fmi2FMUstate truncated = NULL;  /* half the bytes: refused, nothing allocated */
        CHECK(fmi2DeSerializeFMUstate(c, bytes, size / 2, &truncated) == fmi2OK, 0);
        CHECK(truncated == NULL, 1);
        free(bytes);
        CHECK(fmi2FreeFMUstate(c, &state), fmi2OK);
        fmi2ValueReference bad[2] = {100000u, 0xFFFFFFFFu};
        double junk[2];
        CHECK(fmi2GetReal(c, bad, 2, junk) == fmi2OK, 0);
        CHECK(fmi2SetReal(c, bad, 2, junk) == fmi2OK, 0);
        fmi2Terminate(c);
        fmi2FreeInstance(c);
    }
    free(values); free(inputs); free(in_vr); free(real_vr);
    puts("ok");
    return 0;
}
