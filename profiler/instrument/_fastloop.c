/* The CPU meter's hottest hooks in C: asyncio's `Handle._run`, `BaseEventLoop._call_soon` and
 * `BaseEventLoop._run_once`.
 *
 * They run for every task step and callback (~1,400 per agent run of the `rag` sample), where the
 * Python versions cost ~24k instructions each (callgrind), ~10% of a CPU-bound agent run. This is
 * a transliteration of the pure-Python hooks in cpumeter.py (`_handle_hook`, `_call_soon_hook`,
 * `_run_once_hook`), which stay the reference and the fallback; the tables are the meter's own
 * Python dicts, handed over by `configure`. A thread's hot fields live in `State`, the base class
 * of cpumeter's ThreadMeter, so Python and C read and write the same slots; running totals and
 * per-bucket figures are `Counters` (fixed arrays of doubles that Python indexes like lists).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>

/* ---- Counters: a fixed array of doubles, indexable from Python ------------------------- */

typedef struct {
    PyObject_VAR_HEAD
    double values[1];
} Counters;

static PyTypeObject CountersType;

static PyObject *Counters_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "n", &size) || size < 1) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "Counters(size) needs size >= 1");
        return NULL;
    }
    Counters *self = PyObject_NewVar(Counters, type, size);
    if (self == NULL) return NULL;
    for (Py_ssize_t i = 0; i < size; i++) self->values[i] = 0.0;
    return (PyObject *)self;
}

static void Counters_dealloc(PyObject *self) { PyObject_Free(self); }

static Py_ssize_t Counters_length(PyObject *self) { return Py_SIZE(self); }

static PyObject *Counters_item(PyObject *self, Py_ssize_t i) {
    if (i < 0 || i >= Py_SIZE(self)) {
        PyErr_SetString(PyExc_IndexError, "Counters index out of range");
        return NULL;
    }
    return PyFloat_FromDouble(((Counters *)self)->values[i]);
}

static int Counters_ass_item(PyObject *self, Py_ssize_t i, PyObject *value) {
    if (i < 0 || i >= Py_SIZE(self) || value == NULL) {
        PyErr_SetString(PyExc_IndexError, "Counters index out of range (and items cannot be deleted)");
        return -1;
    }
    double number = PyFloat_AsDouble(value);
    if (number == -1.0 && PyErr_Occurred()) return -1;
    ((Counters *)self)->values[i] = number;
    return 0;
}

static PySequenceMethods Counters_sequence = {
    .sq_length = Counters_length,
    .sq_item = Counters_item,
    .sq_ass_item = Counters_ass_item,
};

static PyTypeObject CountersType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "profiler.instrument._fastloop.Counters",
    .tp_basicsize = sizeof(Counters) - sizeof(double),
    .tp_itemsize = sizeof(double),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Counters(size): a fixed array of doubles, indexed like a list.",
    .tp_new = Counters_new,
    .tp_dealloc = Counters_dealloc,
    .tp_as_sequence = &Counters_sequence,
};

#define VALUES(obj) (((Counters *)(obj))->values)

/* ---- Snapshot: the loop's totals when a handle was scheduled ------------------------------ */

typedef struct {
    PyObject_HEAD
    long long at, total0, runtime0;
    PyObject *totals; /* the trace's Counters */
    double kinds[4];
} Snapshot;

static void Snapshot_dealloc(Snapshot *self) {
    Py_XDECREF(self->totals);
    PyObject_Free(self);
}

static PyTypeObject SnapshotType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "profiler.instrument._fastloop.Snapshot",
    .tp_basicsize = sizeof(Snapshot),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Snapshot_dealloc,
};

/* ---- State: a thread's hot fields --------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *current;       /* the bucket being charged (span id, sub-bucket, or a name) */
    PyObject *current_entry; /* its entry (key, trace totals, kind) or None */
    PyObject *pending;       /* dict: bucket -> ns since the last reconciliation */
    PyObject *figures;       /* dict: bucket -> figures (Counters) */
    PyObject *handed_off;    /* set: spans that handed work to a thread pool in this window */
    PyObject *section_return; /* the bucket an orchestrace section interrupted */
    PyObject *section_key;    /* the section's own bucket (its span's profiler sub-bucket) */
    PyObject *section_totals; /* that span's trace totals, or None */
    long long section_cpu0;
    int telemetry_depth;
    char context_changed;
    long long wall0;
    long long window0;
    long long cpu0;
    long long proc0;
    long long charged;
    long long reconciles;
    long long nvcsw0;
    long long run_delay0;
    long long cum_total;
    long long cum_runtime;
    long long handles;
    long long switches;
    long long idle_end; /* when the loop last stopped waiting for I/O (monotonic ns) */
    int sched_fd;
    char idle;
    char is_loop;
    char in_work;
} State;

static PyMemberDef State_members[] = {
    {"current", T_OBJECT_EX, offsetof(State, current), 0, NULL},
    {"current_entry", T_OBJECT, offsetof(State, current_entry), 0, NULL},
    {"pending", T_OBJECT_EX, offsetof(State, pending), 0, NULL},
    {"figures", T_OBJECT_EX, offsetof(State, figures), 0, NULL},
    {"handed_off", T_OBJECT_EX, offsetof(State, handed_off), 0, NULL},
    {"section_return", T_OBJECT_EX, offsetof(State, section_return), 0, NULL},
    {"section_key", T_OBJECT_EX, offsetof(State, section_key), 0, NULL},
    {"section_totals", T_OBJECT, offsetof(State, section_totals), 0, NULL},
    {"section_cpu0", T_LONGLONG, offsetof(State, section_cpu0), 0, NULL},
    {"telemetry_depth", T_INT, offsetof(State, telemetry_depth), 0, NULL},
    {"context_changed", T_BOOL, offsetof(State, context_changed), 0, NULL},
    {"wall0", T_LONGLONG, offsetof(State, wall0), 0, NULL},
    {"window0", T_LONGLONG, offsetof(State, window0), 0, NULL},
    {"cpu0", T_LONGLONG, offsetof(State, cpu0), 0, NULL},
    {"proc0", T_LONGLONG, offsetof(State, proc0), 0, NULL},
    {"charged", T_LONGLONG, offsetof(State, charged), 0, NULL},
    {"reconciles", T_LONGLONG, offsetof(State, reconciles), 0, NULL},
    {"nvcsw0", T_LONGLONG, offsetof(State, nvcsw0), 0, NULL},
    {"run_delay0", T_LONGLONG, offsetof(State, run_delay0), 0, NULL},
    {"sched_fd", T_INT, offsetof(State, sched_fd), 0, NULL},
    {"in_work", T_BOOL, offsetof(State, in_work), 0, NULL},
    {"cum_total", T_LONGLONG, offsetof(State, cum_total), 0, NULL},
    {"cum_runtime", T_LONGLONG, offsetof(State, cum_runtime), 0, NULL},
    {"handles", T_LONGLONG, offsetof(State, handles), 0, NULL},
    {"switches", T_LONGLONG, offsetof(State, switches), 0, NULL},
    {"idle_end", T_LONGLONG, offsetof(State, idle_end), 0, NULL},
    {"idle", T_BOOL, offsetof(State, idle), 0, NULL},
    {"is_loop", T_BOOL, offsetof(State, is_loop), 0, NULL},
    {NULL}};

static int State_traverse(State *self, visitproc visit, void *arg) {
    Py_VISIT(self->current);
    Py_VISIT(self->current_entry);
    Py_VISIT(self->pending);
    Py_VISIT(self->figures);
    Py_VISIT(self->handed_off);
    Py_VISIT(self->section_return);
    Py_VISIT(self->section_key);
    Py_VISIT(self->section_totals);
    return 0;
}

static int State_clear(State *self) {
    Py_CLEAR(self->current);
    Py_CLEAR(self->current_entry);
    Py_CLEAR(self->pending);
    Py_CLEAR(self->figures);
    Py_CLEAR(self->handed_off);
    Py_CLEAR(self->section_return);
    Py_CLEAR(self->section_key);
    Py_CLEAR(self->section_totals);
    return 0;
}

static void State_dealloc(State *self) {
    PyObject_GC_UnTrack(self);
    State_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject StateType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "profiler.instrument._fastloop.State",
    .tp_basicsize = sizeof(State),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A thread's hot meter fields, shared by Python and C.",
    .tp_new = PyType_GenericNew,
    .tp_traverse = (traverseproc)State_traverse,
    .tp_clear = (inquiry)State_clear,
    .tp_dealloc = (destructor)State_dealloc,
    .tp_members = State_members,
};

/* ---- the meter's tables, set by configure() ------------------------------------------ */

static PyObject *meter;         /* the SpanCpuMeter (loops_busy, busy_workers, slow paths) */
static PyObject *entries;       /* span object -> entry */
static PyObject *loop_handles;  /* set of socket reader/writer handles */
static PyObject *ready_at;      /* handle -> Snapshot */
static PyObject *inflight;      /* span -> flight Counters (requests, end of its last slice, start of this one) */
static PyObject *done_at;       /* span -> when a worker thread finished work it handed over (int ns) */
static PyObject *outstanding;   /* span -> work items it handed to a thread pool, not done */
static PyObject *loop_states;   /* loop -> State */
static PyObject *trace_spans;   /* open local roots -> their spans (how many agent runs are open) */
static PyObject *otel_var;      /* OTel's context var */
static PyObject *span_key;      /* OTel's current-span key in its Context */
static PyObject *loop_key;      /* the LOOP bucket name */
static PyObject *loop_idle_key; /* the LOOP_IDLE bucket name */
static PyObject *no_span_key;   /* the NO_SPAN bucket name */
static PyObject *timer_type;    /* asyncio.TimerHandle */
static PyObject *handle_type;   /* asyncio.Handle */
static PyObject *slow_state;    /* meter._thread(): creates a thread's State */
static PyObject *new_figures;   /* meter._figures(state, key) */
static PyObject *late;          /* meter._late(state, key, due, now) */
static PyObject *become_loop;   /* meter._become_loop(state, loop) */
static PyObject *report_error;  /* _report_callback_error(handle, exc) */
static PyObject *state_key;     /* key of the State in the thread-state dict */
static PyObject *original_run_once;
static PyObject *exported;      /* set of buckets of spans already exported */
static PyObject *idle_keys;     /* frozenset of the idle buckets (not CPU) */
static PyObject *late_key;      /* the LATE bucket name */
static PyObject *info;          /* bucket -> entry, for open spans and their sub-buckets */
static PyObject *telemetry_key; /* the TELEMETRY bucket name */
static PyObject *profiler_offset; /* PROFILER: a span's profiler sub-bucket is span id + this */
static PyObject *span_bits;     /* SPAN_BITS: a bucket & this is its span id */
static PyObject *prof_kind;     /* PROF: the kind of a profiler sub-bucket */
static long long reconcile_ns;
static long long schedstat_every;
static long long noise_ns;
static long long switch_interval_ns;

static PyObject *s_context, *s_callback, *s_args, *s_when, *s_ready, *s_append, *s_source_tb, *s_loops_busy,
    *s_busy_workers, *s_exporting;

/* figure indices, as in cpumeter.py */
enum { F_CPU = 0, F_GIL = 1, F_HOST = 2, F_BLOCKED = 3, F_MODEL = 4, F_READY = 5, F_R_ORCH = 6, F_R_ALL = 10, F_R_RUNTIME = 11, F_R_OTHER = 12, F_OVERLAP_CPU = 13, F_OVERLAP_READY = 14, F_HANDOFF = 15, F_PROFILER_GIL = 16 };
enum { FLIGHT_LAST_END = 1, FLIGHT_STRETCH = 2, FLIGHT_STRETCH_READY = 3 };

static inline long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static State *thread_state(void) {
    PyObject *dict = PyThreadState_GetDict();
    if (dict != NULL) {
        PyObject *state = PyDict_GetItemWithError(dict, state_key);
        if (state != NULL) {
            Py_INCREF(state);
            return (State *)state;
        }
        if (PyErr_Occurred()) return NULL;
    }
    return (State *)PyObject_CallNoArgs(slow_state);
}

/* dict[key] += delta for int values */
static int add_int(PyObject *dict, PyObject *key, long long delta) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    long long value = delta;
    if (old != NULL) {
        value += PyLong_AsLongLong(old);
    } else if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *boxed = PyLong_FromLongLong(value);
    if (boxed == NULL) return -1;
    int rc = PyDict_SetItem(dict, key, boxed);
    Py_DECREF(boxed);
    return rc;
}

static int add_loops_busy(long delta) {
    PyObject *busy = PyObject_GetAttr(meter, s_loops_busy);
    PyObject *more = busy != NULL ? PyLong_FromLong(PyLong_AsLong(busy) + delta) : NULL;
    Py_XDECREF(busy);
    int rc = more != NULL ? PyObject_SetAttr(meter, s_loops_busy, more) : -1;
    Py_XDECREF(more);
    return rc;
}

/* The bucket a handle charges: its span's entry (borrowed), with *key; or NULL with LOOP/NO_SPAN. */
static PyObject *entry_of(PyObject *handle, PyObject **key, int *error) {
    *key = no_span_key;
    *error = 0;
    int is_loop_handle = PySet_Contains(loop_handles, handle);
    if (is_loop_handle) {
        if (is_loop_handle < 0) *error = 1;
        else *key = loop_key;
        return NULL;
    }
    PyObject *ctx = PyObject_GetAttr(handle, s_context);
    if (ctx == NULL) {
        *error = 1;
        return NULL;
    }
    PyObject *otel = NULL;
    if (PyContext_CheckExact(ctx)) {
        otel = PyObject_GetItem(ctx, otel_var);
        if (otel == NULL) PyErr_Clear(); /* no OTel context in it */
    }
    Py_DECREF(ctx);
    if (otel == NULL) return NULL;
    PyObject *entry = NULL;
    if (PyDict_Check(otel)) {
        PyObject *span = PyDict_GetItemWithError(otel, span_key);
        if (span != NULL) entry = PyDict_GetItemWithError(entries, span);
        if (PyErr_Occurred()) *error = 1;
    }
    Py_DECREF(otel);
    if (entry != NULL) *key = PyTuple_GET_ITEM(entry, 0);
    return entry;
}

static int charge_switch(State *state, PyObject *key, PyObject *entry, long long now) {
    long long spent = now - state->wall0;
    state->wall0 = now;
    PyObject *prev = state->current;
    if (add_int(state->pending, prev, spent) < 0) return -1;
    if (state->is_loop) {
        state->cum_total += spent;
        PyObject *prev_entry = state->current_entry;
        if (prev_entry != NULL && prev_entry != Py_None) {
            PyObject *totals = PyTuple_GET_ITEM(prev_entry, 1);
            Py_ssize_t kind = PyLong_AsSsize_t(PyTuple_GET_ITEM(prev_entry, 2));
            if (Py_TYPE(totals) != &CountersType || kind < 0 || kind >= Py_SIZE(totals)) {
                PyErr_SetString(PyExc_TypeError, "an entry's totals must be Counters indexed by its kind");
                return -1;
            }
            VALUES(totals)[kind] += (double)spent;
            if (PyDict_GET_SIZE(inflight)) {
                PyObject *flight = PyDict_GetItemWithError(inflight, prev);
                if (flight == NULL && PyErr_Occurred()) return -1;
                if (flight != NULL && Py_TYPE(flight) == &CountersType) VALUES(flight)[FLIGHT_LAST_END] = (double)now;
            }
        } else {
            state->cum_runtime += spent;
        }
    }
    Py_INCREF(key);
    Py_SETREF(state->current, key);
    PyObject *new_entry = entry != NULL ? entry : Py_None;
    Py_INCREF(new_entry);
    Py_XSETREF(state->current_entry, new_entry);
    state->switches += 1;
    return 0;
}

static PyObject *figures_of(State *state, PyObject *key) {
    PyObject *figures = PyDict_GetItemWithError(state->figures, key);
    if (figures != NULL) {
        Py_INCREF(figures);
        return figures;
    }
    if (PyErr_Occurred()) return NULL;
    return PyObject_CallFunctionObjArgs(new_figures, (PyObject *)state, key, NULL);
}

static int note_ready(State *state, PyObject *handle, PyObject *key, long long now) {
    PyObject *found = PyDict_GetItemWithError(ready_at, handle);
    if (found == NULL) {
        if (PyErr_Occurred()) return -1;
        if (PyObject_TypeCheck(handle, (PyTypeObject *)timer_type)) {
            PyObject *when = PyObject_GetAttr(handle, s_when);
            if (when == NULL) return -1;
            double due = PyFloat_AsDouble(when);
            Py_DECREF(when);
            PyObject *result = PyObject_CallFunction(late, "OOLL", (PyObject *)state, key, (long long)(due * 1e9), now);
            if (result == NULL) return -1;
            Py_DECREF(result);
        }
        return 0;
    }
    Snapshot *ready = (Snapshot *)found;
    Py_INCREF(ready);
    int rc = PyDict_DelItem(ready_at, handle);
    PyObject *figures = rc == 0 ? figures_of(state, key) : NULL;
    if (figures == NULL || Py_TYPE(figures) != &CountersType) {
        if (figures != NULL) PyErr_SetString(PyExc_TypeError, "figures must be Counters");
        Py_XDECREF(figures);
        Py_DECREF(ready);
        return -1;
    }
    double *f = VALUES(figures);
    double *totals = VALUES(ready->totals);
    f[F_READY] += (double)(now - ready->at);
    for (int i = 0; i < 4; i++) f[F_R_ORCH + i] += totals[i] - ready->kinds[i];
    f[F_R_ALL] += (double)(state->cum_total - ready->total0);
    f[F_R_RUNTIME] += (double)(state->cum_runtime - ready->runtime0);
    if (PyDict_GET_SIZE(inflight)) { /* cpumeter._woken_in_flight */
        PyObject *flight = PyDict_GetItemWithError(inflight, key);
        if (flight != NULL && Py_TYPE(flight) == &CountersType && Py_SIZE(flight) >= 4) {
            double *fl = VALUES(flight);
            double at = (double)ready->at, idle_end = (double)state->idle_end;
            if (idle_end > fl[FLIGHT_LAST_END] && at > fl[FLIGHT_LAST_END]) { /* it waited for the model */
                double end = at < idle_end ? at : idle_end;
                double stretch = end - fl[FLIGHT_STRETCH];
                if (stretch > 0) {
                    double hidden_cpu = stretch - (end - fl[FLIGHT_LAST_END]) - fl[FLIGHT_STRETCH_READY];
                    f[F_MODEL] += stretch;
                    f[F_OVERLAP_READY] += fl[FLIGHT_STRETCH_READY];
                    if (hidden_cpu > 0) f[F_OVERLAP_CPU] += hidden_cpu;
                }
                double late_ns = at - end;
                if (late_ns > 0) {
                    f[F_READY] += late_ns;
                    f[F_R_ALL] += late_ns;
                    f[PyDict_GET_SIZE(trace_spans) > 1 ? F_R_OTHER : F_R_RUNTIME] += late_ns;
                }
                fl[FLIGHT_STRETCH] = end;
                fl[FLIGHT_STRETCH_READY] = (double)now - end;
            } else {
                fl[FLIGHT_STRETCH_READY] += (double)(now - ready->at);
            }
        }
    }
    if (PyDict_GET_SIZE(done_at)) { /* woken by work a worker thread finished: a hand-off */
        PyObject *done = PyDict_GetItemWithError(done_at, key);
        if (done != NULL) {
            long long finished = PyLong_AsLongLong(done);
            if (ready->at > finished) f[F_HANDOFF] += (double)(ready->at - finished);
            PyDict_DelItem(done_at, key);
        }
    }
    Py_DECREF(figures);
    Py_DECREF(ready);
    return PyErr_Occurred() ? -1 : 0;
}

/* Keep, of the spans that handed work to a thread pool in this window, those still waiting. */
static int prune_handed_off(State *state) {
    if (!PySet_GET_SIZE(state->handed_off)) return 0;
    PyObject *keys = PySequence_List(state->handed_off);
    if (keys == NULL) return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        int waiting = PyDict_Contains(outstanding, key);
        if (waiting < 0 || (!waiting && PySet_Discard(state->handed_off, key) < 0)) {
            Py_DECREF(keys);
            return -1;
        }
    }
    Py_DECREF(keys);
    return 0;
}

/* The thread's run-queue delay since the last reading (schedstat's second field); 0 without one.
 * pread here holds the GIL, where Python's os.pread would release it. */
static long long run_delay_since(State *state) {
    if (state->sched_fd < 0) return 0;
    char buffer[96];
    ssize_t size = pread(state->sched_fd, buffer, sizeof(buffer) - 1, 0);
    if (size <= 0) return 0;
    buffer[size] = 0;
    char *end;
    strtoll(buffer, &end, 10);
    long long delay = strtoll(end, NULL, 10);
    long long delta = delay - state->run_delay0;
    state->run_delay0 = delay;
    return delta;
}

static long long meter_int(PyObject *name) {
    PyObject *value = PyObject_GetAttr(meter, name);
    long long result = value != NULL ? PyLong_AsLongLong(value) : 0;
    Py_XDECREF(value);
    return result;
}

/* A window with less CPU than time (cpumeter.SpanCpuMeter._share_offcpu and _classify): share the
 * CPU, and split the rest into GIL wait, run-queue delay and blocked (a model request's wait for
 * buckets with one in flight), all in proportion to the buckets' time. */
static int share_offcpu(State *state, long long used, long long busy, long long voluntary, long long others_cpu) {
    long long offcpu = busy - used;
    long long delay = run_delay_since(state);
    double gil = 0, ours = 0, host = (double)offcpu, blocked = 0;
    if (offcpu >= noise_ns) {
        long long host_ns = delay < 0 ? 0 : (delay > offcpu ? offcpu : delay);
        long long asleep = offcpu - host_ns;
        long long workload = meter_int(s_busy_workers) - state->in_work + (state->is_loop ? 0 : meter_int(s_loops_busy));
        long long exporting = meter_int(s_exporting);
        if (PyErr_Occurred()) return -1;
        long long gil_ns = 0;
        if (asleep > 0 && workload + exporting > 0) {
            /* at most the CPU the other threads used; a GIL waiter wakes at least every switch interval */
            gil_ns = asleep < others_cpu ? asleep : (others_cpu > 0 ? others_cpu : 0);
            long long bound = voluntary * switch_interval_ns;
            if (!state->is_loop && gil_ns > bound) gil_ns = bound;
        }
        if (workload <= 0) ours = (double)gil_ns; /* only orchestrace's exporter could hold it */
        else gil = (double)gil_ns;
        host = (double)host_ns;
        blocked = (double)(asleep - gil_ns);
    }
    double ratio = (double)used / (double)busy;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int has_flights = PyDict_GET_SIZE(inflight) > 0;
    while (PyDict_Next(state->pending, &pos, &key, &value)) {
        int idle = PySet_Contains(idle_keys, key);
        if (idle < 0) return -1;
        if (idle) continue;
        int late_one = PySet_Contains(exported, key);
        int flying = has_flights ? PyDict_Contains(inflight, key) : 0;
        if (late_one < 0 || flying < 0) return -1;
        PyObject *figures = figures_of(state, late_one ? late_key : key);
        if (figures == NULL) return -1;
        if (Py_TYPE(figures) == &CountersType) {
            double spent = (double)PyLong_AsLongLong(value);
            double share = spent / (double)busy;
            double *f = VALUES(figures);
            f[F_CPU] += spent * ratio;
            f[F_HOST] += host * share;
            f[F_GIL] += gil * share;
            f[F_PROFILER_GIL] += ours * share;
            int handed = !flying && PySet_GET_SIZE(state->handed_off) ? PySet_Contains(state->handed_off, key) : 0;
            f[flying ? F_MODEL : (handed > 0 ? F_HANDOFF : F_BLOCKED)] += blocked * share;
        }
        Py_DECREF(figures);
    }
    PyDict_Clear(state->pending);
    if (prune_handed_off(state) < 0) return -1;
    return PyErr_Occurred() ? -1 : 0;
}

/* Share the CPU the thread used since the last reconciliation among the buckets it ran
 * (cpumeter.SpanCpuMeter._reconcile; a window with time off the CPU goes to _share_offcpu). */
static int reconcile_state(State *state, long long now) {
    if (now > state->wall0 && charge_switch(state, state->current, state->current_entry == Py_None ? NULL : state->current_entry, now) < 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    long long cpu_now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    long long used = cpu_now - state->cpu0;
    state->cpu0 = cpu_now;
    state->window0 = now;
    state->reconciles += 1;
    state->charged += used;
    long long voluntary = 0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    long long process_now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    long long others_cpu = process_now - state->proc0 - used;
    state->proc0 = process_now;
    if (!state->is_loop) {
        struct rusage usage;
        if (getrusage(RUSAGE_THREAD, &usage) == 0) {
            voluntary = usage.ru_nvcsw - state->nvcsw0;
            state->nvcsw0 = usage.ru_nvcsw;
        }
    }
    PyObject *key, *value, *idle_key = NULL;
    Py_ssize_t pos = 0;
    long long busy = 0;
    while (PyDict_Next(state->pending, &pos, &key, &value)) {
        int idle = PySet_Contains(idle_keys, key);
        if (idle < 0) return -1;
        if (idle) idle_key = key;
        else busy += PyLong_AsLongLong(value);
    }
    if (used < busy) return share_offcpu(state, used, busy, voluntary, others_cpu);
    pos = 0;
    while (PyDict_Next(state->pending, &pos, &key, &value)) {
        int idle = PySet_Contains(idle_keys, key);
        if (idle) continue;
        int late_one = PySet_Contains(exported, key);
        if (late_one < 0) return -1;
        PyObject *figures = figures_of(state, late_one ? late_key : key);
        if (figures == NULL) return -1;
        if (Py_TYPE(figures) == &CountersType) VALUES(figures)[0] += (double)PyLong_AsLongLong(value);
        Py_DECREF(figures);
    }
    if (used > busy) { /* CPU of the idle waits themselves (select, a queue's get) */
        PyObject *figures = figures_of(state, idle_key != NULL ? idle_key : state->current);
        if (figures == NULL) return -1;
        if (Py_TYPE(figures) == &CountersType) VALUES(figures)[0] += (double)(used - busy);
        Py_DECREF(figures);
    }
    PyDict_Clear(state->pending);
    if (prune_handed_off(state) < 0) return -1;
    if (schedstat_every > 0 && state->reconciles % schedstat_every == 0) {
        run_delay_since(state); /* keep the baseline fresh: run delays while idle are no window's */
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* reconcile(state, now) */
static PyObject *reconcile(PyObject *module, PyObject *const *argv, Py_ssize_t nargs) {
    if (nargs != 2 || !PyObject_TypeCheck(argv[0], &StateType)) {
        PyErr_SetString(PyExc_TypeError, "reconcile(state, now)");
        return NULL;
    }
    long long now = PyLong_AsLongLong(argv[1]);
    if (now == -1 && PyErr_Occurred()) return NULL;
    if (reconcile_state((State *)argv[0], now) < 0) return NULL;
    Py_RETURN_NONE;
}

/* Handle._run(self) */
static PyObject *fast_run(PyObject *handle, PyObject *unused) {
    State *state = thread_state();
    if (state == NULL) return NULL;
    long long now = mono_ns();
    PyObject *key;
    int error;
    PyObject *entry = entry_of(handle, &key, &error);
    if (error) {
        Py_DECREF(state);
        return NULL;
    }
    Py_XINCREF(entry);
    state->handles += 1;
    int failed = 0;
    if (state->idle) {
        state->idle = 0;
        state->idle_end = now;
        failed = add_loops_busy(1) < 0;
    }
    if (!failed && key != state->current) {
        int same = PyObject_RichCompareBool(key, state->current, Py_EQ);
        /* a long window closes at this switch: a long step gets its own CPU, not a share by wall
           time (when the OS took the core during it, a share would give it the next step's CPU) */
        if (same == 0 && now - state->window0 >= reconcile_ns) failed = reconcile_state(state, now) < 0;
        failed = failed || same < 0 || (!same && charge_switch(state, key, entry, now) < 0);
    }
    if (!failed && entry != NULL) failed = note_ready(state, handle, key, now) < 0;
    Py_XDECREF(entry);
    Py_DECREF(state);
    if (failed) return NULL;

    PyObject *ctx = PyObject_GetAttr(handle, s_context);
    PyObject *callback = PyObject_GetAttr(handle, s_callback);
    PyObject *args = PyObject_GetAttr(handle, s_args);
    PyObject *result = NULL;
    if (ctx != NULL && callback != NULL && args != NULL) {
        if (!PyTuple_Check(args)) {
            PyErr_SetString(PyExc_TypeError, "handle arguments are not a tuple");
        } else if (PyContext_Enter(ctx) == 0) {
            result = PyObject_Call(callback, args, NULL);
            if (PyContext_Exit(ctx) < 0) Py_CLEAR(result);
        }
    }
    Py_XDECREF(ctx);
    Py_XDECREF(callback);
    Py_XDECREF(args);
    if (result != NULL) {
        Py_DECREF(result);
        Py_RETURN_NONE;
    }
    if (PyErr_ExceptionMatches(PyExc_SystemExit) || PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) return NULL;
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) PyException_SetTraceback(value, traceback);
    PyObject *reported = PyObject_CallFunctionObjArgs(report_error, handle, value != NULL ? value : Py_None, NULL);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    if (reported == NULL) return NULL;
    Py_DECREF(reported);
    Py_RETURN_NONE;
}

/* BaseEventLoop._call_soon(self, callback, args, context) */
static PyObject *fast_call_soon(PyObject *loop, PyObject *const *argv, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "_call_soon takes callback, args, context");
        return NULL;
    }
    PyObject *handle = PyObject_CallFunctionObjArgs(handle_type, argv[0], argv[1], loop, argv[2], NULL);
    if (handle == NULL) return NULL;
    PyObject *traceback = PyObject_GetAttr(handle, s_source_tb);
    if (traceback == NULL) goto fail;
    int has_traceback = PyObject_IsTrue(traceback);
    if (has_traceback > 0) has_traceback = PySequence_DelItem(traceback, -1) == 0 ? 1 : -1;
    Py_DECREF(traceback);
    if (has_traceback < 0) goto fail;
    PyObject *ready = PyObject_GetAttr(loop, s_ready);
    if (ready == NULL) goto fail;
    PyObject *appended = PyObject_CallMethodOneArg(ready, s_append, handle);
    Py_DECREF(ready);
    if (appended == NULL) goto fail;
    Py_DECREF(appended);

    PyObject *key;
    int error;
    PyObject *entry = entry_of(handle, &key, &error);
    if (error) goto fail;
    if (entry == NULL) return handle;
    PyObject *found = PyDict_GetItemWithError(loop_states, loop);
    if (found == NULL) {
        if (PyErr_Occurred()) goto fail;
        return handle;
    }
    State *state = (State *)found;
    PyObject *totals = PyTuple_GET_ITEM(entry, 1);
    if (Py_TYPE(totals) != &CountersType || Py_SIZE(totals) < 4) {
        PyErr_SetString(PyExc_TypeError, "an entry's totals must be Counters of 4");
        goto fail;
    }
    Snapshot *snapshot = PyObject_New(Snapshot, &SnapshotType);
    if (snapshot == NULL) goto fail;
    snapshot->at = mono_ns();
    snapshot->total0 = state->cum_total;
    snapshot->runtime0 = state->cum_runtime;
    Py_INCREF(totals);
    snapshot->totals = totals;
    for (int i = 0; i < 4; i++) snapshot->kinds[i] = VALUES(totals)[i];
    int rc = PyDict_SetItem(ready_at, handle, (PyObject *)snapshot);
    Py_DECREF(snapshot);
    if (rc < 0) goto fail;
    return handle;

fail:
    Py_DECREF(handle);
    return NULL;
}

/* BaseEventLoop._run_once(self) */
static PyObject *fast_run_once(PyObject *loop, PyObject *unused) {
    State *state = thread_state();
    if (state == NULL) return NULL;
    int failed = 0;
    if (!state->is_loop) {
        PyObject *done = PyObject_CallFunctionObjArgs(become_loop, (PyObject *)state, loop, NULL);
        failed = done == NULL;
        Py_XDECREF(done);
    }
    long long now = mono_ns();
    PyObject *ready = failed ? NULL : PyObject_GetAttr(loop, s_ready);
    int idle = ready != NULL ? !PyObject_IsTrue(ready) : 0;
    failed = failed || ready == NULL;
    Py_XDECREF(ready);
    PyObject *key = idle ? loop_idle_key : loop_key;
    if (!failed && key != state->current) failed = charge_switch(state, key, NULL, now) < 0;
    if (!failed && idle != state->idle) {
        state->idle = (char)idle;
        failed = add_loops_busy(idle ? -1 : 1) < 0;
    }
    if (!failed && now - state->window0 >= reconcile_ns / 4) {
        int due = now - state->window0 >= reconcile_ns;
        if (!due) { /* a quarter of the time while worker threads run */
            PyObject *workers = PyObject_GetAttr(meter, s_busy_workers);
            due = workers != NULL && PyObject_IsTrue(workers) == 1;
            failed = workers == NULL;
            Py_XDECREF(workers);
        }
        if (!failed && due) failed = reconcile_state(state, now) < 0;
    }
    Py_DECREF(state);
    if (failed) return NULL;
    return PyObject_CallOneArg(original_run_once, loop);
}

static inline long long thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The bucket of the span current in this thread's context (cpumeter.SpanCpuMeter.current_key). */
static PyObject *current_key(void) {
    PyObject *otel = NULL;
    if (PyContextVar_Get(otel_var, NULL, &otel) < 0) return NULL;
    PyObject *key = no_span_key;
    if (otel != NULL && PyDict_Check(otel)) {
        PyObject *span = PyDict_GetItemWithError(otel, span_key);
        PyObject *entry = span != NULL ? PyDict_GetItemWithError(entries, span) : NULL;
        if (entry != NULL) key = PyTuple_GET_ITEM(entry, 0);
    }
    Py_XDECREF(otel);
    if (PyErr_Occurred()) return NULL;
    Py_INCREF(key);
    return key;
}

/* section_enter(): orchestrace's own work starts on this thread (cpumeter.enter_telemetry). */
static PyObject *section_enter(PyObject *module, PyObject *unused) {
    State *state = thread_state();
    if (state == NULL) return NULL;
    int failed = 0;
    if (state->telemetry_depth == 0) {
        long long now = mono_ns();
        if (!state->is_loop) { /* spans start and end in sections: there, windows end at span bounds */
            failed = reconcile_state(state, now) < 0;
        } else if (now > state->wall0) {
            failed = charge_switch(state, state->current, state->current_entry == Py_None ? NULL : state->current_entry, now) < 0;
        }
        PyObject *key = telemetry_key, *totals = Py_None;
        Py_INCREF(key);
        if (!failed && PyLong_Check(state->current)) {
            PyObject *base = PyNumber_And(state->current, span_bits);
            PyObject *entry = base != NULL ? PyDict_GetItemWithError(info, base) : NULL;
            if (entry != NULL) {
                Py_SETREF(key, PyNumber_Add(PyTuple_GET_ITEM(entry, 0), profiler_offset));
                totals = PyTuple_GET_ITEM(entry, 1);
                if (key != NULL && !PyDict_Contains(info, key)) {
                    PyObject *sub = PyTuple_Pack(3, key, totals, prof_kind);
                    failed = sub == NULL || PyDict_SetItem(info, key, sub) < 0;
                    Py_XDECREF(sub);
                }
            }
            Py_XDECREF(base);
            failed = failed || key == NULL || PyErr_Occurred();
        }
        if (!failed) {
            Py_INCREF(state->current);
            Py_XSETREF(state->section_return, state->current);
            Py_XSETREF(state->section_key, key);
            key = NULL;
            Py_INCREF(totals);
            Py_XSETREF(state->section_totals, totals);
            state->section_cpu0 = thread_cpu_ns();
        }
        Py_XDECREF(key);
    }
    state->telemetry_depth += 1;
    Py_DECREF(state);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* section_exit(): the section ends; its CPU and time off the CPU are the profiler's (exit_telemetry). */
static PyObject *section_exit(PyObject *module, PyObject *unused) {
    State *state = thread_state();
    if (state == NULL) return NULL;
    state->telemetry_depth -= 1;
    if (state->telemetry_depth > 0) {
        Py_DECREF(state);
        Py_RETURN_NONE;
    }
    state->telemetry_depth = 0;
    long long cpu = thread_cpu_ns(), now = mono_ns();
    long long used = cpu - state->section_cpu0, spent = now - state->wall0;
    int failed = 0;
    if (state->is_loop && state->section_totals != NULL && state->section_totals != Py_None &&
        Py_TYPE(state->section_totals) == &CountersType)
        VALUES(state->section_totals)[3] += (double)spent; /* PROF */
    PyObject *figures = figures_of(state, state->section_key != NULL ? state->section_key : telemetry_key);
    if (figures == NULL) {
        failed = 1;
    } else {
        if (Py_TYPE(figures) == &CountersType) {
            double *f = VALUES(figures);
            f[F_CPU] += (double)used;
            if (spent > used) {
                long long others = meter_int(s_busy_workers) - state->in_work + (state->is_loop ? 0 : meter_int(s_loops_busy));
                f[others > 0 ? F_GIL : F_BLOCKED] += (double)(spent - used);
            }
        }
        Py_DECREF(figures);
    }
    state->cpu0 += used; /* the section is not part of the window around it */
    state->charged += used;
    if (state->is_loop) state->cum_total += spent;
    state->wall0 = now;
    PyObject *returned = state->section_return != NULL ? state->section_return : no_span_key;
    Py_INCREF(returned);
    int known = PyDict_Contains(info, returned);
    if (!failed && (state->context_changed || known == 0)) {
        state->context_changed = 0;
        Py_SETREF(returned, current_key());
    }
    if (returned == NULL || known < 0) {
        failed = 1;
    } else {
        PyObject *entry = PyDict_GetItemWithError(info, returned);
        Py_INCREF(returned);
        Py_SETREF(state->current, returned);
        PyObject *new_entry = entry != NULL ? entry : Py_None;
        Py_INCREF(new_entry);
        Py_XSETREF(state->current_entry, new_entry);
    }
    Py_XDECREF(returned);
    Py_DECREF(state);
    if (failed || PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef run_def = {"_run", (PyCFunction)fast_run, METH_NOARGS, "Handle._run with the meter's checkpoint."};
static PyMethodDef call_soon_def = {"_call_soon", (PyCFunction)(void (*)(void))fast_call_soon, METH_FASTCALL,
                                    "BaseEventLoop._call_soon noting the loop's totals."};
static PyMethodDef run_once_def = {"_run_once", (PyCFunction)fast_run_once, METH_NOARGS,
                                   "BaseEventLoop._run_once with the meter's loop checkpoint."};

static PyObject **const slots[] = {
    &meter,      &entries,     &loop_handles, &ready_at,     &inflight,          &done_at, &outstanding, &loop_states, &trace_spans,
    &otel_var,   &span_key,    &loop_key,     &loop_idle_key, &no_span_key,      &timer_type, &handle_type,
    &slow_state, &new_figures, &late,         &become_loop,  &report_error,      &state_key, &original_run_once,
    &exported,   &idle_keys,   &late_key,     &info,         &telemetry_key,     &profiler_offset, &span_bits,
    &prof_kind};

/* configure(*tables in the order of `slots`, loop_type, reconcile_ns, schedstat_every, noise_ns,
 *           switch_interval_ns)
 *     -> (Handle._run, BaseEventLoop._call_soon, BaseEventLoop._run_once) */
static PyObject *configure(PyObject *module, PyObject *args) {
    Py_ssize_t count = sizeof(slots) / sizeof(slots[0]);
    if (PyTuple_GET_SIZE(args) != count + 5) {
        PyErr_Format(PyExc_TypeError, "configure takes %zd arguments", count + 5);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *value = PyTuple_GET_ITEM(args, i);
        Py_INCREF(value);
        Py_XSETREF(*slots[i], value);
    }
    PyObject *loop_type = PyTuple_GET_ITEM(args, count);
    reconcile_ns = PyLong_AsLongLong(PyTuple_GET_ITEM(args, count + 1));
    schedstat_every = PyLong_AsLongLong(PyTuple_GET_ITEM(args, count + 2));
    noise_ns = PyLong_AsLongLong(PyTuple_GET_ITEM(args, count + 3));
    switch_interval_ns = PyLong_AsLongLong(PyTuple_GET_ITEM(args, count + 4));
    if (PyErr_Occurred()) return NULL;
    if (!PyType_Check(handle_type) || !PyType_Check(loop_type) || !PyType_Check(timer_type)) {
        PyErr_SetString(PyExc_TypeError, "handle, timer and loop types expected");
        return NULL;
    }
    PyObject *run = PyDescr_NewMethod((PyTypeObject *)handle_type, &run_def);
    PyObject *call_soon = PyDescr_NewMethod((PyTypeObject *)loop_type, &call_soon_def);
    PyObject *run_once = PyDescr_NewMethod((PyTypeObject *)loop_type, &run_once_def);
    if (run == NULL || call_soon == NULL || run_once == NULL) {
        Py_XDECREF(run);
        Py_XDECREF(call_soon);
        Py_XDECREF(run_once);
        return NULL;
    }
    return Py_BuildValue("(NNN)", run, call_soon, run_once);
}

/* set_state(key, state): remember this thread's State under the meter's key. */
static PyObject *set_state(PyObject *module, PyObject *const *argv, Py_ssize_t nargs) {
    PyObject *dict = PyThreadState_GetDict();
    if (nargs != 2 || dict == NULL) {
        PyErr_SetString(PyExc_TypeError, "set_state(key, state)");
        return NULL;
    }
    if (PyDict_SetItem(dict, argv[0], argv[1]) < 0) return NULL;
    Py_RETURN_NONE;
}

/* get_state(key): this thread's State under the meter's key, or None. */
static PyObject *get_state(PyObject *module, PyObject *key) {
    PyObject *dict = PyThreadState_GetDict();
    PyObject *state = dict != NULL ? PyDict_GetItemWithError(dict, key) : NULL;
    if (state == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(state);
    return state;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS, "Hand the meter's tables to the C hooks; returns the three methods."},
    {"set_state", (PyCFunction)(void (*)(void))set_state, METH_FASTCALL, "Remember this thread's State under a key."},
    {"get_state", get_state, METH_O, "This thread's State under a key, or None."},
    {"reconcile", (PyCFunction)(void (*)(void))reconcile, METH_FASTCALL, "Share the window's CPU (see cpumeter)."},
    {"section_enter", section_enter, METH_NOARGS, "Orchestrace's own section starts on this thread."},
    {"section_exit", section_exit, METH_NOARGS, "Orchestrace's own section ends on this thread."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_fastloop", NULL, -1, module_methods};

PyMODINIT_FUNC PyInit__fastloop(void) {
    if (PyType_Ready(&StateType) < 0 || PyType_Ready(&CountersType) < 0 || PyType_Ready(&SnapshotType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    Py_INCREF(&StateType);
    Py_INCREF(&CountersType);
    if (PyModule_AddObject(module, "State", (PyObject *)&StateType) < 0 ||
        PyModule_AddObject(module, "Counters", (PyObject *)&CountersType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL
    INTERN(s_context, "_context");
    INTERN(s_callback, "_callback");
    INTERN(s_args, "_args");
    INTERN(s_when, "_when");
    INTERN(s_ready, "_ready");
    INTERN(s_append, "append");
    INTERN(s_source_tb, "_source_traceback");
    INTERN(s_loops_busy, "loops_busy");
    INTERN(s_busy_workers, "busy_workers");
    INTERN(s_exporting, "exporting");
#undef INTERN
    return module;
}
