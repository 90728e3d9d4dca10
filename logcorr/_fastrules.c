/* logcorr._fastrules: the rule engine's per-event loop, compiled.
 *
 * decide(ctx, cols) is Engine._process_py (logcorr/rules/engine.py) statement for statement: the same
 * containers (RuleState, SystemState, the loop/cross/trace dicts, the engine's decision caches), the same
 * order of tests and updates, and the same Python functions for everything off the common path (window
 * roll-over, month boundary and sweeps, pruning, reasons, budget charging and threshold moments). What it
 * saves is the interpreter: each event's tests and counter updates run here, and SystemState / RuleState
 * fields are read and written through their slots' offsets (bind() checks that every field is a plain
 * object slot of that exact class; decide() refuses other types). With numbered=True it returns the drops
 * as Engine.decide_numbered does (each row's per-batch decision number in a buffer, with a validity bitmap
 * of the dropped rows, and the distinct decisions once) instead of a (position, decision) tuple per drop.
 *
 * The Python loop stays the reference: tests/test_rules_compiled.py holds the two to the same drops, the
 * same state and the same counters on random streams. logcorr/rules/engine.py decides whether this module
 * is used (LOGCORR_NO_FASTPATH=1 turns it off).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* the digest of this file it was built from: see _fastparse.c */
#ifndef LOGCORR_SOURCE
#define LOGCORR_SOURCE ""
#endif
#include <stdint.h>
#include <string.h>
#include <structmember.h>

/* ---------------------------------------------------------------------------------------------- */
/* slots of SystemState and RuleState                                                              */

enum {
    SS_WINDOW_END, SS_OFFERED, SS_COUNT, SS_LIMIT, SS_GRACE, SS_GRACE_LIMIT, SS_BIT, SS_OWN, SS_LENT,
    SS_QUOTA, SS_BORROWED, SS_NEXT_THRESHOLD, SS_DROP_INFO, SS_GRACE_DROP_INFO, SS_CLOCK, N_SS
};
static const char *SS_NAMES[N_SS] = {
    "window_end", "offered", "count", "limit", "grace", "grace_limit", "bit", "own", "lent",
    "quota", "borrowed", "next_threshold", "drop_info", "grace_drop_info", "clock",
};
enum { ST_CLOCK, ST_SYSTEMS, ST_TOTAL, ST_NEXT_TOTAL, ST_LOOP, ST_CROSS, ST_TRACES, N_ST };
static const char *ST_NAMES[N_ST] = {"clock", "systems", "total", "next_total_threshold", "loop", "cross", "traces"};

static PyTypeObject *SS_TYPE = NULL, *ST_TYPE = NULL;
static Py_ssize_t SS_OFF[N_SS], ST_OFF[N_ST];

static PyObject *S_SUPPRESS, *S_DUPLICATE, *S_LOOP, *S_CROSS, *S_TRACE, *S_RATE, *S_BUDGET;
static PyObject *K_CRIT, *K_REFUSED, *K_GRACE, *K_LATE;

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

static int offsets(PyObject *type, const char **names, int n, Py_ssize_t *out)
{
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString(type, names[i]);
        if (d == NULL)
            return -1;
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)d)->d_member->flags & READONLY);
        if (ok)
            out[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%R.%s is not a plain slot", type, names[i]);
            return -1;
        }
    }
    return 0;
}

static PyObject *bind(PyObject *self, PyObject *args)
{
    PyObject *ss, *st;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &ss, &PyType_Type, &st))
        return NULL;
    if (offsets(ss, SS_NAMES, N_SS, SS_OFF) < 0 || offsets(st, ST_NAMES, N_ST, ST_OFF) < 0)
        return NULL;
    Py_INCREF(ss);
    Py_INCREF(st);
    Py_XSETREF(SS_TYPE, (PyTypeObject *)ss);
    Py_XSETREF(ST_TYPE, (PyTypeObject *)st);
    Py_RETURN_NONE;
}

/* a slot's value, borrowed; AttributeError when unset */
static PyObject *get(PyObject *o, Py_ssize_t off, const char *name)
{
    PyObject *v = SLOT(o, off);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "'%s' is not set", name);
    return v;
}

/* an int as a long long (PyLong_AsLongLong takes a slow path for every value above 2**30, which event
 * times are) */
static int ll_of(PyObject *v, long long *out)
{
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "an int of the rule state or input does not fit 64 bits");
        return -1;
    }
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int get_ll(PyObject *o, Py_ssize_t off, const char *name, long long *out)
{
    PyObject *v = get(o, off, name);
    return v == NULL ? -1 : ll_of(v, out);
}

/* store `v` (a new reference, stolen; NULL: an error already set) in the slot */
static int set(PyObject *o, Py_ssize_t off, PyObject *v)
{
    if (v == NULL)
        return -1;
    PyObject *old = SLOT(o, off);
    SLOT(o, off) = v;
    Py_XDECREF(old);
    return 0;
}

static int set_ll(PyObject *o, Py_ssize_t off, long long x) { return set(o, off, PyLong_FromLongLong(x)); }

#define SS_LL(ss, f, out) get_ll(ss, SS_OFF[f], SS_NAMES[f], out)
#define ST_LL(st, f, out) get_ll(st, ST_OFF[f], ST_NAMES[f], out)

/* ---------------------------------------------------------------------------------------------- */
/* small helpers                                                                                   */

static PyObject *call(PyObject *f, PyObject *const *args, Py_ssize_t n) { return PyObject_Vectorcall(f, args, n, NULL); }

/* (rule, *r) for r a tuple (reason, snapshot); steals r */
static PyObject *with_rule(PyObject *rule, PyObject *r)
{
    if (r == NULL)
        return NULL;
    if (!PyTuple_Check(r)) {
        PyErr_SetString(PyExc_TypeError, "a rule's drop() must return a tuple");
        Py_DECREF(r);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(r);
    PyObject *out = PyTuple_New(n + 1);
    if (out != NULL) {
        PyTuple_SET_ITEM(out, 0, Py_NewRef(rule));
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(out, i + 1, Py_NewRef(PyTuple_GET_ITEM(r, i)));
    }
    Py_DECREF(r);
    return out;
}

/* Where the drops go. As (position, decision) pairs in a list; or numbered: per row of the batch, the number
 * of its decision among the batch's distinct decision objects (int32, in order of first use; 0 for a stored
 * row), a bitmap of the dropped rows (Arrow's validity layout), and the distinct decisions in a list: what
 * ingest's drop sink writes as Arrow columns as they are, without a tuple per drop. */
typedef struct {
    PyObject *pairs; /* NULL when numbered */
    PyObject *num;   /* bytes: n int32, filled in place (the result owns it) */
    PyObject *valid; /* bytes: ceil(n / 8), bit i set for a dropped row */
    PyObject *distinct;
    PyObject **keys; /* open addressing: decision object -> its number */
    int32_t *vals;
    size_t mask;
} Out;

static int out_grow_table(Out *o)
{
    size_t size = o->mask ? (o->mask + 1) * 2 : 1024;
    PyObject **keys = PyMem_Calloc(size, sizeof(PyObject *));
    int32_t *vals = PyMem_Malloc(size * sizeof(int32_t));
    if (keys == NULL || vals == NULL) {
        PyMem_Free(keys);
        PyMem_Free(vals);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; o->mask && i <= o->mask; i++) {
        if (o->keys[i] == NULL)
            continue;
        size_t h = ((uintptr_t)o->keys[i] >> 4) & (size - 1);
        while (keys[h] != NULL)
            h = (h + 1) & (size - 1);
        keys[h] = o->keys[i];
        vals[h] = o->vals[i];
    }
    PyMem_Free(o->keys);
    PyMem_Free(o->vals);
    o->keys = keys;
    o->vals = vals;
    o->mask = size - 1;
    return 0;
}

/* the drop of row `row` (position `pos`, read only for pairs) for `decision` */
static int add(Out *o, PyObject *pos, Py_ssize_t row, PyObject *decision)
{
    if (o->pairs != NULL) {
        PyObject *pair = PyTuple_Pack(2, pos, decision);
        if (pair == NULL)
            return -1;
        int rc = PyList_Append(o->pairs, pair);
        Py_DECREF(pair);
        return rc;
    }
    /* the distinct list holds every key, so no two live keys share an address */
    if ((size_t)PyList_GET_SIZE(o->distinct) * 2 >= o->mask && out_grow_table(o) < 0)
        return -1;
    size_t h = ((uintptr_t)decision >> 4) & o->mask;
    while (o->keys[h] != NULL && o->keys[h] != decision)
        h = (h + 1) & o->mask;
    if (o->keys[h] == NULL) {
        if (PyList_GET_SIZE(o->distinct) >= INT32_MAX || PyList_Append(o->distinct, decision) < 0)
            return -1;
        o->keys[h] = decision;
        o->vals[h] = (int32_t)(PyList_GET_SIZE(o->distinct) - 1);
    }
    ((int32_t *)PyBytes_AS_STRING(o->num))[row] = o->vals[h];
    ((unsigned char *)PyBytes_AS_STRING(o->valid))[row >> 3] |= (unsigned char)(1u << (row & 7));
    return 0;
}

/* numbered: the buffers of an n-row batch, every row stored (0, not valid) until `add` */
static int out_numbered(Out *o, Py_ssize_t n)
{
    o->distinct = PyList_New(0);
    o->num = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    o->valid = PyBytes_FromStringAndSize(NULL, (n + 7) / 8);
    if (o->distinct == NULL || o->num == NULL || o->valid == NULL)
        return -1;
    memset(PyBytes_AS_STRING(o->num), 0, (size_t)n * sizeof(int32_t));
    memset(PyBytes_AS_STRING(o->valid), 0, (size_t)(n + 7) / 8);
    return 0;
}

static void out_free(Out *o)
{
    Py_CLEAR(o->pairs);
    Py_CLEAR(o->distinct);
    Py_CLEAR(o->num);
    Py_CLEAR(o->valid);
    PyMem_Free(o->keys);
    PyMem_Free(o->vals);
}

/* the result: the pairs, or (validity bitmap as bytes, numbers as int32 bytes, distinct decisions) */
static PyObject *out_result(Out *o)
{
    if (o->pairs != NULL)
        return Py_NewRef(o->pairs);
    return PyTuple_Pack(3, o->valid, o->num, o->distinct);
}

/* item i of a tuple or list of at least i + 1 items, borrowed */
static PyObject *item(PyObject *seq, Py_ssize_t i)
{
    if (PyTuple_Check(seq) && PyTuple_GET_SIZE(seq) > i)
        return PyTuple_GET_ITEM(seq, i);
    if (PyList_Check(seq) && PyList_GET_SIZE(seq) > i)
        return PyList_GET_ITEM(seq, i);
    PyErr_SetString(PyExc_IndexError, "rule state entry too short");
    return NULL;
}

/* whether `kept`, a copy's (system, ts ms), is another system's within `w` ms of `t` either side (another
   system's clock may be ahead of this one's): 1, 0, or -1 with an error */
static int kept_near(PyObject *kept, PyObject *system, long long t, long long w)
{
    PyObject *k_sys = item(kept, 0), *k_t = k_sys ? item(kept, 1) : NULL;
    if (k_t == NULL)
        return -1;
    int other = PyObject_RichCompareBool(k_sys, system, Py_NE);
    if (other <= 0)
        return other;
    long long v;
    if (ll_of(k_t, &v) < 0)
        return -1;
    return t - v <= w && v - t <= w;
}

/* ---------------------------------------------------------------------------------------------- */
/* the loop                                                                                        */

typedef struct {
    PyObject *engine, *state;
    int sup_on, dup_on, loop_on, cross_on, trace_on, rate_on;
    long long loop_max, loop_w, cross_w, gate, essential_at, fresh_cross, idle_ms, refuse_ms;
    PyObject *loop_max_o, *loop_w_o, *cross_w_o, *fresh_loop; /* fresh_loop: system -> time (a dict) */
    PyObject *crit_levels, *exempt_levels, *essential_levels, *patterns;
    PyObject *loop_cache, *sup_cache;
    PyObject *suppress_drop, *duplicate_drop, *loop_prune, *loop_drop, *cross_drop;
    PyObject *traces_refuse, *rate_roll, *rate_drop, *budget_charge, *budget_record, *budget_drop;
    PyObject *boundary, *new_system, *rcfg, *bcfg, *tcfg, *stats;
} Ctx;

/* TraceConfig.critical_trace: a critical pattern is a substring of the trace id */
static int critical_trace(Ctx *c, PyObject *tid)
{
    if (tid == Py_None)
        return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(c->patterns);
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = PySequence_Contains(tid, PyTuple_GET_ITEM(c->patterns, i));
        if (r != 0)
            return r;
    }
    return 0;
}

/* `level in levels or critical_trace(tid)` */
static int level_or_critical(Ctx *c, PyObject *levels, PyObject *level, PyObject *tid)
{
    int r = PySet_Contains(levels, level);
    return r != 0 ? r : critical_trace(c, tid);
}

/* `tid is not None and trace_on and (rec is None or not rec[0]) and not (level in exempt or critical)`:
 * then refuse the trace (traces.refuse) and count it */
static int maybe_refuse(Ctx *c, PyObject *trace_recs, PyObject *rec, PyObject *tid, PyObject *system,
                        PyObject *level, PyObject *rule, PyObject *t_obj, long long *refused)
{
    if (tid == Py_None || !c->trace_on)
        return 0;
    if (rec != NULL) {
        PyObject *mask = item(rec, 0);
        if (mask == NULL)
            return -1;
        int truth = PyObject_IsTrue(mask);
        if (truth < 0)
            return -1;
        if (truth)
            return 0;
    }
    int ex = level_or_critical(c, c->exempt_levels, level, tid);
    if (ex != 0)
        return ex < 0 ? -1 : 0;
    PyObject *args[] = {trace_recs, tid, system, rule, t_obj, c->tcfg};
    PyObject *r = call(c->traces_refuse, args, 6);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    (*refused)++;
    return 0;
}

static int count_stat(PyObject *stats, PyObject *key, long long n)
{
    if (n == 0)
        return 0;
    PyObject *cur = PyObject_GetItem(stats, key);
    if (cur == NULL)
        return -1;
    PyObject *add_n = PyLong_FromLongLong(n);
    PyObject *sum = add_n ? PyNumber_Add(cur, add_n) : NULL;
    Py_DECREF(cur);
    Py_XDECREF(add_n);
    if (sum == NULL)
        return -1;
    int rc = PyObject_SetItem(stats, key, sum);
    Py_DECREF(sum);
    return rc;
}

/* One column of a batch: a list of n values, or (codes, values), the form dictionary encoding gives: the
 * i-th value is values[codes[i]], codes n int32 in native order (bytes). Equal values are then one object,
 * whose hash is computed once, and the batch needs no object per row. */
typedef struct {
    PyObject *list; /* borrowed: the values, or the dictionary */
    const int32_t *codes;
} Col;

#define COL(c, i) PyList_GET_ITEM((c).list, (c).codes ? (Py_ssize_t)(c).codes[i] : (i))

/* 1 and *out filled; 0 for an optional column that is absent (None, an empty list); -1 on error */
static int column(PyObject *cols, const char *name, Py_ssize_t n, int optional, Col *out)
{
    out->list = NULL;
    out->codes = NULL;
    PyObject *v = PyDict_GetItemString(cols, name);
    if (v == NULL || (optional && (v == Py_None || (PyList_Check(v) && PyList_GET_SIZE(v) == 0)))) {
        if (optional)
            return 0;
        PyErr_Format(PyExc_KeyError, "column %s", name);
        return -1;
    }
    if (PyList_Check(v)) {
        if (n >= 0 && PyList_GET_SIZE(v) != n) {
            PyErr_Format(PyExc_ValueError, "column %s has %zd values, not %zd", name, PyList_GET_SIZE(v), n);
            return -1;
        }
        out->list = v;
        return 1;
    }
    PyObject *codes, *values;
    if (n < 0 || !PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 2 || !PyBytes_Check(codes = PyTuple_GET_ITEM(v, 0)) ||
        !PyList_Check(values = PyTuple_GET_ITEM(v, 1))) {
        PyErr_Format(PyExc_TypeError, "column %s must be a list or (int32 codes as bytes, list of values)", name);
        return -1;
    }
    if (PyBytes_GET_SIZE(codes) != n * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_Format(PyExc_ValueError, "column %s has %zd bytes of codes, not %zd", name, PyBytes_GET_SIZE(codes),
                     n * (Py_ssize_t)sizeof(int32_t));
        return -1;
    }
    const int32_t *c = (const int32_t *)PyBytes_AS_STRING(codes); /* bytes data is aligned for any type */
    Py_ssize_t k = PyList_GET_SIZE(values);
    for (Py_ssize_t i = 0; i < n; i++)
        if (c[i] < 0 || c[i] >= k) {
            PyErr_Format(PyExc_ValueError, "column %s: code %d at row %zd is not below %zd", name, (int)c[i], i, k);
            return -1;
        }
    out->list = values;
    out->codes = c;
    return 1;
}

/* (re)read the state's loop, cross and trace dicts (the month boundary's sweeps replace them) */
static int containers(PyObject *st, PyObject **loop, PyObject **cross, PyObject **traces)
{
    PyObject *lo = get(st, ST_OFF[ST_LOOP], "loop"), *cr = get(st, ST_OFF[ST_CROSS], "cross");
    PyObject *tr = get(st, ST_OFF[ST_TRACES], "traces");
    if (lo == NULL || cr == NULL || tr == NULL)
        return -1;
    if (!PyDict_Check(lo) || !PyDict_Check(cr) || !PyDict_Check(tr)) {
        PyErr_SetString(PyExc_TypeError, "the rule state's loop, cross and traces must be dicts");
        return -1;
    }
    Py_XSETREF(*loop, Py_NewRef(lo));
    Py_XSETREF(*cross, Py_NewRef(cr));
    Py_XSETREF(*traces, Py_NewRef(tr));
    return 0;
}

#define CTX_FORMAT "OOppppppOOOLLOLLLOOOOOOOOOOOOOOOOOOOOOOO"

static PyObject *decide(PyObject *self, PyObject *args)
{
    PyObject *ctx_t, *cols;
    int numbered = 0;
    if (!PyArg_ParseTuple(args, "O!O!|p", &PyTuple_Type, &ctx_t, &PyDict_Type, &cols, &numbered))
        return NULL;
    Ctx c;
    if (!PyArg_ParseTuple(ctx_t, CTX_FORMAT, &c.engine, &c.state, &c.sup_on, &c.dup_on, &c.loop_on,
                          &c.cross_on, &c.trace_on, &c.rate_on, &c.loop_max_o, &c.loop_w_o, &c.cross_w_o,
                          &c.gate, &c.essential_at, &c.fresh_loop, &c.fresh_cross, &c.idle_ms, &c.refuse_ms, &c.crit_levels,
                          &c.exempt_levels, &c.essential_levels, &c.patterns, &c.loop_cache, &c.sup_cache,
                          &c.suppress_drop, &c.duplicate_drop, &c.loop_prune, &c.loop_drop, &c.cross_drop,
                          &c.traces_refuse, &c.rate_roll, &c.rate_drop,
                          &c.budget_charge, &c.budget_record, &c.budget_drop, &c.boundary, &c.new_system,
                          &c.rcfg, &c.bcfg, &c.tcfg, &c.stats))
        return NULL;
    if (SS_TYPE == NULL || !Py_IS_TYPE(c.state, ST_TYPE)) {
        PyErr_SetString(PyExc_TypeError, "decide() needs bind() and a RuleState");
        return NULL;
    }
    if (!PyAnySet_Check(c.crit_levels) || !PyAnySet_Check(c.exempt_levels) ||
        !PyAnySet_Check(c.essential_levels) || !PyTuple_Check(c.patterns) || !PyDict_Check(c.loop_cache) ||
        !PyDict_Check(c.sup_cache) || !PyDict_Check(c.fresh_loop)) {
        PyErr_SetString(PyExc_TypeError, "decide(): a context entry has the wrong type");
        return NULL;
    }
    if (ll_of(c.loop_max_o, &c.loop_max) < 0 || ll_of(c.loop_w_o, &c.loop_w) < 0 ||
        ll_of(c.cross_w_o, &c.cross_w) < 0)
        return NULL;

    /* a list gives the batch's length: the positions (numbered drops need none), else the times */
    Col pos_c = {0}, ts_c, sys_c, lvl_c, tid_c, fp_c, sup_c, dup_c, lh_c, ch_c, pr_c;
    const char *first = numbered ? "ts_ms" : "pos";
    PyObject *first_v = PyDict_GetItemString(cols, first);
    if (first_v == NULL || !PyList_Check(first_v)) {
        PyErr_Format(PyExc_TypeError, "column %s must be a list", first);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(first_v);
    if ((!numbered && column(cols, "pos", n, 0, &pos_c) < 0) || column(cols, "ts_ms", n, 0, &ts_c) < 0 ||
        column(cols, "system", n, 0, &sys_c) < 0 || column(cols, "level", n, 0, &lvl_c) < 0 ||
        column(cols, "trace_id", n, 0, &tid_c) < 0 || column(cols, "fingerprint", n, 0, &fp_c) < 0 ||
        column(cols, "suppressed", n, 0, &sup_c) < 0 || column(cols, "dup", n, 0, &dup_c) < 0 ||
        column(cols, "loop_hot", n, 1, &lh_c) < 0 ||
        column(cols, "cross_hot", n, 1, &ch_c) < 0 || column(cols, "cross_prior", n, 1, &pr_c) < 0)
        return NULL;

    PyObject *st = c.state;
    Out out = {0};
    if (numbered ? out_numbered(&out, n) < 0 : (out.pairs = PyList_New(0)) == NULL) {
        out_free(&out);
        return NULL;
    }
    Out *drops = &out;
    PyObject *systems = get(st, ST_OFF[ST_SYSTEMS], "systems");
    PyObject *loop_seen = NULL, *cross_seen = NULL, *trace_recs = NULL;
    long long clock, boundary = -1, sweep_due = -1, late = 0, n_crit = 0, n_refused = 0, n_grace = 0;
    if (systems == NULL || !PyDict_Check(systems) || ST_LL(st, ST_CLOCK, &clock) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "RuleState.systems must be a dict");
        out_free(&out);
        return NULL;
    }
    Py_INCREF(systems);
    if (containers(st, &loop_seen, &cross_seen, &trace_recs) < 0) {
        Py_DECREF(systems);
        out_free(&out);
        return NULL;
    }

    /* per event, owned */
    PyObject *t_obj = NULL, *ss = NULL, *lk = NULL, *stored = NULL, *rec = NULL, *hit = NULL, *tmp = NULL;

#define FAIL goto error
#define CHECK(x) do { if ((x) < 0) FAIL; } while (0)
#define NOTNULL(x) do { if ((x) == NULL) FAIL; } while (0)

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pos = pos_c.list ? COL(pos_c, i) : NULL, *system = COL(sys_c, i), *level = COL(lvl_c, i), *tid = COL(tid_c, i);
        PyObject *fp = COL(fp_c, i), *sup = COL(sup_c, i), *dup = COL(dup_c, i);
        PyObject *prior = pr_c.list ? COL(pr_c, i) : Py_None; /* a copy an earlier ingest stored */
        int loop_hot = 1, cross_hot = 1;
        if (lh_c.list)
            CHECK(loop_hot = PyObject_IsTrue(COL(lh_c, i)));
        if (ch_c.list)
            CHECK(cross_hot = PyObject_IsTrue(COL(ch_c, i)));

        /* rules 2-3: decided before the engine ran */
        if (sup != Py_None && c.sup_on) {
            PyObject *d = PyDict_GetItemWithError(c.sup_cache, sup);
            if (d != NULL) {
                CHECK(add(drops, pos, i, d));
                continue;
            }
            if (PyErr_Occurred())
                FAIL;
            NOTNULL(tmp = with_rule(S_SUPPRESS, call(c.suppress_drop, &sup, 1)));
            CHECK(PyDict_SetItem(c.sup_cache, sup, tmp));
            CHECK(add(drops, pos, i, tmp));
            Py_CLEAR(tmp);
            continue;
        }
        int dup_truth;
        CHECK(dup_truth = PyObject_IsTrue(dup));
        if (dup_truth && c.dup_on) {
            PyObject *code = PyNumber_Long(dup);
            NOTNULL(code);
            PyObject *a[] = {code};
            tmp = call(c.duplicate_drop, a, 1); /* duplicate.decision: the rule's whole decision, shared */
            Py_DECREF(code);
            NOTNULL(tmp);
            CHECK(add(drops, pos, i, tmp));
            Py_CLEAR(tmp);
            continue;
        }

        long long t, raw;
        CHECK(ll_of(COL(ts_c, i), &t));
        raw = t; /* its own time: what no later event is before (the sweeps' cutoffs, see Engine._boundary) */
        ss = PyDict_GetItemWithError(systems, system);
        if (ss != NULL)
            Py_INCREF(ss);
        else if (PyErr_Occurred())
            FAIL;
        else
            NOTNULL(ss = call(c.new_system, &system, 1));
        if (!Py_IS_TYPE(ss, SS_TYPE)) {
            PyErr_SetString(PyExc_TypeError, "a system's state must be a SystemState");
            FAIL;
        }
        long long v, w, x;
        /* older than what its own system decided in an earlier ingest: decided at that system's clock */
        CHECK(SS_LL(ss, SS_CLOCK, &v));
        if (t < v) {
            t = v;
            late++;
            NOTNULL(t_obj = PyLong_FromLongLong(t));
        } else {
            t_obj = Py_NewRef(COL(ts_c, i));
            CHECK(set(ss, SS_OFF[SS_CLOCK], Py_NewRef(t_obj)));
        }
        if (t > clock)
            clock = t;
        if (clock >= boundary || raw >= sweep_due) {
            PyObject *a[2] = {PyLong_FromLongLong(clock), PyLong_FromLongLong(raw)};
            int rc = a[0] == NULL || a[1] == NULL ? -1 : set(st, ST_OFF[ST_CLOCK], Py_NewRef(a[0]));
            tmp = rc < 0 ? NULL : call(c.boundary, a, 2); /* may replace the containers below */
            Py_XDECREF(a[0]);
            Py_XDECREF(a[1]);
            NOTNULL(tmp);
            if (!PyTuple_Check(tmp) || PyTuple_GET_SIZE(tmp) != 2) {
                PyErr_SetString(PyExc_TypeError, "Engine._boundary must return (month end, next sweep)");
                FAIL;
            }
            CHECK(ll_of(PyTuple_GET_ITEM(tmp, 0), &boundary));
            CHECK(ll_of(PyTuple_GET_ITEM(tmp, 1), &sweep_due));
            Py_CLEAR(tmp);
            CHECK(containers(st, &loop_seen, &cross_seen, &trace_recs));
        }
        CHECK(SS_LL(ss, SS_WINDOW_END, &v));
        if (t >= v) {
            PyObject *a[] = {ss, t_obj, c.rcfg};
            NOTNULL(tmp = call(c.rate_roll, a, 3));
            Py_CLEAR(tmp);
        }

        /* rule 4: loop (skipped for a message with no identical one within the window either side) */
        int loop_check = c.loop_on && loop_hot;
        if (c.loop_on && !loop_hot && PyDict_GET_SIZE(c.fresh_loop)) {
            PyObject *f = PyDict_GetItemWithError(c.fresh_loop, system);
            if (f == NULL && PyErr_Occurred())
                FAIL;
            CHECK(f == NULL ? 0 : ll_of(f, &v));
            loop_check = f != NULL && t < v;
        }
        if (loop_check) {
            NOTNULL(lk = PyTuple_Pack(3, system, level, fp));
            stored = PyDict_GetItemWithError(loop_seen, lk);
            if (stored != NULL)
                Py_INCREF(stored);
            else if (PyErr_Occurred())
                FAIL;
            if (stored != NULL) {
                PyObject *first = PyList_Check(stored) ? item(stored, 0) : NULL;
                if (first == NULL) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_TypeError, "a loop entry must be a list");
                    FAIL;
                }
                CHECK(ll_of(first, &v));
                if (v <= t - c.loop_w) {
                    PyObject *cut = PyLong_FromLongLong(t - c.loop_w);
                    NOTNULL(cut);
                    PyObject *a[] = {stored, cut};
                    tmp = call(c.loop_prune, a, 2);
                    Py_DECREF(cut);
                    NOTNULL(tmp);
                    Py_SETREF(stored, tmp);
                    tmp = NULL;
                    int keep;
                    CHECK(keep = PyObject_IsTrue(stored));
                    if (keep) {
                        CHECK(PyDict_SetItem(loop_seen, lk, stored));
                    } else {
                        CHECK(PyDict_DelItem(loop_seen, lk));
                        Py_CLEAR(stored);
                    }
                    if (stored != NULL && !PyList_Check(stored)) {
                        PyErr_SetString(PyExc_TypeError, "loop.prune must return a list");
                        FAIL;
                    }
                }
                if (stored != NULL && PyList_GET_SIZE(stored) >= c.loop_max) {
                    /* a loop's later copies share one reason while its stored copies do not change */
                    Py_ssize_t len = PyList_GET_SIZE(stored);
                    hit = PyDict_GetItemWithError(c.loop_cache, lk);
                    if (hit == NULL && PyErr_Occurred())
                        FAIL;
                    int fresh = hit == NULL || !PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 3 ||
                                PyTuple_GET_ITEM(hit, 0) != stored;
                    if (!fresh) {
                        CHECK(ll_of(PyTuple_GET_ITEM(hit, 1), &v));
                        fresh = v != len;
                    }
                    if (fresh) {
                        PyObject *a[] = {lk, stored, c.loop_max_o, c.loop_w_o};
                        NOTNULL(tmp = with_rule(S_LOOP, call(c.loop_drop, a, 4)));
                        PyObject *ln = PyLong_FromSsize_t(len);
                        NOTNULL(ln);
                        hit = PyTuple_Pack(3, stored, ln, tmp);
                        Py_DECREF(ln);
                        Py_CLEAR(tmp);
                        NOTNULL(hit);
                        int rc = PyDict_SetItem(c.loop_cache, lk, hit);
                        Py_DECREF(hit); /* the cache holds it */
                        CHECK(rc);
                    }
                    CHECK(add(drops, pos, i, PyTuple_GET_ITEM(hit, 2)));
                    hit = NULL;
                    goto next;
                }
            }
        }

        /* rule 5: cross-system duplicate, then the trace's refusal */
        if (tid != Py_None) {
            if (c.cross_on && (cross_hot || t <= c.fresh_cross || prior != Py_None)) {
                NOTNULL(tmp = PyTuple_Pack(2, tid, fp));
                PyObject *kept = PyDict_GetItemWithError(cross_seen, tmp);
                Py_CLEAR(tmp);
                if (kept == NULL && PyErr_Occurred())
                    FAIL;
                int near = 0;
                if (kept != NULL) {
                    Py_INCREF(kept);
                    near = kept_near(kept, system, t, c.cross_w);
                    if (near <= 0)
                        Py_CLEAR(kept);
                    CHECK(near);
                }
                if (!near && prior != Py_None) { /* as engine._process_py: the earlier ingest's copy */
                    CHECK(near = kept_near(prior, system, t, c.cross_w));
                    if (near)
                        kept = Py_NewRef(prior);
                }
                if (near) {
                    PyObject *a[] = {tid, fp, kept, system, t_obj, c.cross_w_o};
                    tmp = with_rule(S_CROSS, call(c.cross_drop, a, 6));
                    Py_DECREF(kept);
                    NOTNULL(tmp);
                    CHECK(add(drops, pos, i, tmp));
                    Py_CLEAR(tmp);
                    goto next;
                }
            }
            rec = PyDict_GetItemWithError(trace_recs, tid);
            if (rec == NULL && PyErr_Occurred())
                FAIL;
            if (rec != NULL) {
                Py_INCREF(rec);
                if (!PyList_Check(rec) || PyList_GET_SIZE(rec) < 4) {
                    PyErr_SetString(PyExc_TypeError, "a trace record must be a list of 4");
                    FAIL;
                }
                /* idle past its time and not refused: forgotten, as a saved state forgets it */
                CHECK(ll_of(PyList_GET_ITEM(rec, 1), &v));
                CHECK(ll_of(PyList_GET_ITEM(rec, 2), &w));
                if (v <= t - c.idle_ms && w <= t) {
                    CHECK(PyDict_DelItem(trace_recs, tid));
                    Py_CLEAR(rec);
                }
            }
            if (rec != NULL) {
                CHECK(ll_of(PyList_GET_ITEM(rec, 1), &v));
                if (t > v)
                    CHECK(PyList_SetItem(rec, 1, Py_NewRef(t_obj)));
                CHECK(ll_of(PyList_GET_ITEM(rec, 2), &v));
                CHECK(ll_of(PyList_GET_ITEM(rec, 0), &w));
                /* refused from its start until it ends, unless an exempt event of the trace was stored since */
                if (v > t && t >= v - c.refuse_ms && w == 0 && c.trace_on) {
                    int ex;
                    CHECK(ex = level_or_critical(&c, c.exempt_levels, level, tid));
                    if (!ex) {
                        /* the refusal's decision, shared by all its later events (see traces.refusal) */
                        PyObject *refusal = PyList_GET_ITEM(rec, 3);
                        if (!PyTuple_Check(refusal) || PyTuple_GET_SIZE(refusal) != 4) {
                            PyErr_SetString(PyExc_TypeError, "a refused trace's refusal must be a tuple of 4");
                            FAIL;
                        }
                        /* load the system had to drop, as the rate rule counts it (see engine._process_py) */
                        CHECK(SS_LL(ss, SS_OFFERED, &v));
                        CHECK(set_ll(ss, SS_OFF[SS_OFFERED], v + 1));
                        CHECK(add(drops, pos, i, PyTuple_GET_ITEM(refusal, 3)));
                        goto next;
                    }
                }
            }
        }

        /* rule 6: rate limit */
        int via_grace = 0;
        CHECK(SS_LL(ss, SS_OFFERED, &v));
        CHECK(set_ll(ss, SS_OFF[SS_OFFERED], v + 1));
        if (c.rate_on) {
            CHECK(SS_LL(ss, SS_COUNT, &v));
            CHECK(SS_LL(ss, SS_LIMIT, &w));
        }
        if (c.rate_on && v >= w) {
            int crit;
            CHECK(crit = level_or_critical(&c, c.crit_levels, level, tid));
            if (crit) {
                n_crit++;
                CHECK(SS_LL(ss, SS_OFFERED, &v)); /* not load: the limit does not apply to it */
                CHECK(set_ll(ss, SS_OFF[SS_OFFERED], v - 1));
            } else {
                int elsewhere = 0;
                if (rec != NULL) {
                    CHECK(ll_of(PyList_GET_ITEM(rec, 0), &v));
                    CHECK(SS_LL(ss, SS_BIT, &w));
                    elsewhere = (v & ~w) != 0;
                }
                if (elsewhere) {
                    CHECK(SS_LL(ss, SS_GRACE, &v));
                    CHECK(SS_LL(ss, SS_GRACE_LIMIT, &w));
                }
                if (elsewhere && v < w) {
                    via_grace = 1;
                } else {
                    /* a flood's drops share one reason until the window's counters change */
                    int f = elsewhere ? SS_GRACE_DROP_INFO : SS_DROP_INFO;
                    PyObject *info = get(ss, SS_OFF[f], SS_NAMES[f]);
                    NOTNULL(info);
                    if (info == Py_None) {
                        PyObject *a[] = {ss, c.rcfg, elsewhere ? Py_True : Py_False};
                        NOTNULL(info = with_rule(S_RATE, call(c.rate_drop, a, 3)));
                        CHECK(set(ss, SS_OFF[f], info)); /* the slot holds it */
                    }
                    CHECK(add(drops, pos, i, info));
                    CHECK(maybe_refuse(&c, trace_recs, rec, tid, system, level, S_RATE, t_obj, &n_refused));
                    goto next;
                }
            }
        }

        /* rule 7: monthly budget */
        CHECK(ST_LL(st, ST_TOTAL, &x));
        int inline_charge = 0;
        if (x < c.gate) {
            CHECK(SS_LL(ss, SS_OWN, &v));
            CHECK(SS_LL(ss, SS_LENT, &w));
            long long quota;
            CHECK(SS_LL(ss, SS_QUOTA, &quota));
            inline_charge = v + w < quota;
        }
        if (inline_charge) {
            CHECK(set_ll(ss, SS_OFF[SS_OWN], v + 1));
        } else {
            int essential = 0;
            if (x >= c.essential_at)
                CHECK(essential = level_or_critical(&c, c.essential_levels, level, tid));
            PyObject *a[] = {st, ss, t_obj, essential ? Py_True : Py_False, c.bcfg};
            NOTNULL(tmp = call(c.budget_charge, a, 5));
            if (tmp != Py_None) {
                PyObject *b[] = {st, ss, tmp};
                PyObject *d = call(c.budget_drop, b, 3);
                Py_CLEAR(tmp);
                NOTNULL(d);
                int rc = add(drops, pos, i, d);
                Py_DECREF(d);
                CHECK(rc);
                CHECK(maybe_refuse(&c, trace_recs, rec, tid, system, level, S_BUDGET, t_obj, &n_refused));
                goto next;
            }
            Py_CLEAR(tmp);
        }

        /* stored: every rule remembers it */
        CHECK(ST_LL(st, ST_TOTAL, &x));
        CHECK(set_ll(st, ST_OFF[ST_TOTAL], x + 1));
        CHECK(ST_LL(st, ST_NEXT_TOTAL, &v));
        int record = x + 1 >= v;
        if (!record) {
            long long own, borrowed, next;
            CHECK(SS_LL(ss, SS_OWN, &own));
            CHECK(SS_LL(ss, SS_BORROWED, &borrowed));
            CHECK(SS_LL(ss, SS_NEXT_THRESHOLD, &next));
            record = own + borrowed >= next;
        }
        if (record) {
            PyObject *a[] = {st, ss, t_obj, c.bcfg};
            NOTNULL(tmp = call(c.budget_record, a, 4));
            Py_CLEAR(tmp);
        }
        CHECK(SS_LL(ss, SS_COUNT, &v));
        CHECK(set_ll(ss, SS_OFF[SS_COUNT], v + 1));
        CHECK(set(ss, SS_OFF[SS_DROP_INFO], Py_NewRef(Py_None)));
        CHECK(set(ss, SS_OFF[SS_GRACE_DROP_INFO], Py_NewRef(Py_None)));
        if (via_grace) {
            CHECK(SS_LL(ss, SS_GRACE, &v));
            CHECK(set_ll(ss, SS_OFF[SS_GRACE], v + 1));
            n_grace++;
        }
        if (loop_check) {
            if (stored == NULL) {
                NOTNULL(tmp = PyList_New(1));
                PyList_SET_ITEM(tmp, 0, Py_NewRef(t_obj));
                CHECK(PyDict_SetItem(loop_seen, lk, tmp));
                Py_CLEAR(tmp);
            } else {
                CHECK(PyList_Append(stored, t_obj));
            }
        }
        if (tid != Py_None) {
            if (c.cross_on && (cross_hot || t <= c.fresh_cross)) {
                PyObject *ck = PyTuple_Pack(2, tid, fp);
                NOTNULL(ck);
                /* the newest copy (a system behind may store an older one) */
                PyObject *kept = PyDict_GetItemWithError(cross_seen, ck);
                int newer = kept == NULL ? (PyErr_Occurred() ? -1 : 1) : 0;
                if (kept != NULL) {
                    PyObject *k_t = item(kept, 1);
                    newer = k_t == NULL || ll_of(k_t, &v) < 0 ? -1 : t >= v;
                }
                int rc = newer;
                if (newer > 0) {
                    tmp = PyTuple_Pack(2, system, t_obj);
                    rc = tmp ? PyDict_SetItem(cross_seen, ck, tmp) : -1;
                    Py_CLEAR(tmp);
                }
                Py_DECREF(ck);
                CHECK(rc);
            }
            PyObject *bit = get(ss, SS_OFF[SS_BIT], "bit");
            NOTNULL(bit);
            if (rec == NULL) {
                NOTNULL(tmp = PyList_New(4));
                PyList_SET_ITEM(tmp, 0, Py_NewRef(bit));
                PyList_SET_ITEM(tmp, 1, Py_NewRef(t_obj));
                PyObject *zero = PyLong_FromLong(0);
                NOTNULL(zero);
                PyList_SET_ITEM(tmp, 2, zero);
                PyList_SET_ITEM(tmp, 3, Py_NewRef(Py_None));
                CHECK(PyDict_SetItem(trace_recs, tid, tmp));
                Py_CLEAR(tmp);
            } else {
                PyObject *mask = PyNumber_Or(PyList_GET_ITEM(rec, 0), bit);
                NOTNULL(mask);
                CHECK(PyList_SetItem(rec, 0, mask));
            }
        }

    next:
        Py_CLEAR(t_obj);
        Py_CLEAR(ss);
        Py_CLEAR(lk);
        Py_CLEAR(stored);
        Py_CLEAR(rec);
    }

    CHECK(set_ll(st, ST_OFF[ST_CLOCK], clock));
    CHECK(count_stat(c.stats, K_CRIT, n_crit));
    CHECK(count_stat(c.stats, K_REFUSED, n_refused));
    CHECK(count_stat(c.stats, K_GRACE, n_grace));
    CHECK(count_stat(c.stats, K_LATE, late));
    Py_DECREF(systems);
    Py_XDECREF(loop_seen);
    Py_XDECREF(cross_seen);
    Py_XDECREF(trace_recs);
    PyObject *result = out_result(&out);
    out_free(&out);
    return result;

error:
    Py_XDECREF(t_obj);
    Py_XDECREF(ss);
    Py_XDECREF(lk);
    Py_XDECREF(stored);
    Py_XDECREF(rec);
    Py_XDECREF(tmp);
    Py_DECREF(systems);
    Py_XDECREF(loop_seen);
    Py_XDECREF(cross_seen);
    Py_XDECREF(trace_recs);
    out_free(&out);
    return NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* hot flags of one batch                                                                          */

/* A batch's events that may meet the loop or the cross-system rule, found in one pass each: what
 * hot_flags_sql (logcorr/rules/engine.py) computes over a whole input, but per batch and coarser, so it flags a superset.
 * An event is hot when an event of the same key comes within the window before or after it in the batch,
 * when it lies within the window of the batch's first or last event (its neighbour may be in the batch
 * before or after), or within the window before the input's end (its system's newest time for the loop
 * rule, the newest overall for the cross-system rule: the next ingest's events meet what the saved state
 * keeps). An event flagged cold has no such neighbour anywhere, which is all the engine's bookkeeping
 * needs to skip it. Keys are codes, collisions of packed codes only merge keys (more events hot). */

typedef struct {
    uint64_t *keys;
    int32_t *last; /* row of the key's latest event in the batch; -1: an empty slot */
    size_t mask;
    int bits;
} Near;

static int near_init(Near *h, Py_ssize_t n)
{
    int bits = 4;
    while (((size_t)1 << bits) < (size_t)n * 2)
        bits++;
    size_t size = (size_t)1 << bits;
    h->keys = PyMem_Malloc(size * sizeof(uint64_t));
    h->last = PyMem_Malloc(size * sizeof(int32_t));
    if (h->keys == NULL || h->last == NULL) {
        PyMem_Free(h->keys);
        PyMem_Free(h->last);
        PyErr_NoMemory();
        return -1;
    }
    h->mask = size - 1;
    h->bits = bits;
    return 0;
}

static void near_clear(Near *h) { memset(h->last, 0xff, (h->mask + 1) * sizeof(int32_t)); }

/* the row of `key`'s previous event (-1: none), and `row` its latest from now on */
static int32_t near_swap(Near *h, uint64_t key, int32_t row)
{
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - h->bits));
    while (h->last[i] >= 0 && h->keys[i] != key)
        i = (i + 1) & h->mask;
    int32_t prev = h->last[i];
    h->keys[i] = key;
    h->last[i] = row;
    return prev;
}

static inline long long ts_at(const char *ts, Py_ssize_t i)
{
    int64_t v;
    memcpy(&v, ts + i * 8, 8);
    return v;
}

static inline int32_t code_at(const char *codes, Py_ssize_t i)
{
    int32_t v;
    memcpy(&v, codes + i * 4, 4);
    return v;
}

static PyObject *hot_flags(PyObject *self, PyObject *args)
{
    Py_buffer ts, sy, lv, fp, tid;
    long long tid_none, loop_w, cross_w, cross_last;
    PyObject *loop_last;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*LLO!LL", &ts, &sy, &lv, &fp, &tid, &tid_none, &loop_w, &PyList_Type,
                          &loop_last, &cross_w, &cross_last))
        return NULL;
    PyObject *result = NULL, *loop_out = NULL, *cross_out = NULL;
    long long *sys_last = NULL;
    char *sys_all = NULL;
    Near h = {0};
    Py_ssize_t n = ts.len / 8, k = PyList_GET_SIZE(loop_last);
    if (ts.len % 8 || sy.len != n * 4 || lv.len != n * 4 || fp.len != n * 4 || tid.len != n * 4 || n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "hot_flags: the columns' lengths differ");
        goto done;
    }
    const char *t = ts.buf, *s = sy.buf, *l = lv.buf, *f = fp.buf, *d = tid.buf;
    for (Py_ssize_t i = 1; i < n; i++)
        if (ts_at(t, i) < ts_at(t, i - 1)) { /* not in time order: no flags (every event checked) */
            result = Py_NewRef(Py_None);
            goto done;
        }
    sys_last = PyMem_Malloc((k + 1) * sizeof(long long));
    sys_all = PyMem_Calloc(k + 1, 1);
    if (sys_last == NULL || sys_all == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *v = PyList_GET_ITEM(loop_last, j);
        if (v == Py_None)
            sys_all[j] = 1; /* its end unknown: every event of it hot */
        else if (ll_of(v, &sys_last[j]) < 0)
            goto done;
    }
    if ((loop_out = PyBytes_FromStringAndSize(NULL, n * 4)) == NULL ||
        (cross_out = PyBytes_FromStringAndSize(NULL, n * 4)) == NULL || (n && near_init(&h, n) < 0))
        goto done;
    int32_t *lo = (int32_t *)PyBytes_AS_STRING(loop_out), *cr = (int32_t *)PyBytes_AS_STRING(cross_out);
    long long first = n ? ts_at(t, 0) : 0, last = n ? ts_at(t, n - 1) : 0;
    if (n)
        near_clear(&h);
    for (Py_ssize_t i = 0; i < n; i++) {
        long long at = ts_at(t, i);
        int32_t sc = code_at(s, i);
        if (sc < 0 || sc >= k) {
            PyErr_Format(PyExc_ValueError, "hot_flags: system code %d at row %zd has no newest time", (int)sc, i);
            goto done;
        }
        lo[i] = at - first <= loop_w || last - at <= loop_w || sys_all[sc] || at >= sys_last[sc] - loop_w;
        uint64_t key = ((uint64_t)(uint32_t)code_at(f, i) << 32) ^ ((uint64_t)(uint32_t)sc << 16) ^
                       (uint64_t)(uint32_t)code_at(l, i);
        int32_t prev = near_swap(&h, key, (int32_t)i);
        if (prev >= 0 && at - ts_at(t, prev) < loop_w)
            lo[i] = lo[prev] = 1;
    }
    if (n)
        near_clear(&h);
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t dc = code_at(d, i);
        if (dc == tid_none) {
            cr[i] = 0; /* no trace: the rule does not apply */
            continue;
        }
        long long at = ts_at(t, i);
        cr[i] = at - first <= cross_w || last - at <= cross_w || at >= cross_last - cross_w;
        int32_t prev = near_swap(&h, ((uint64_t)(uint32_t)dc << 32) | (uint32_t)code_at(f, i), (int32_t)i);
        if (prev >= 0 && at - ts_at(t, prev) <= cross_w)
            cr[i] = cr[prev] = 1;
    }
    result = PyTuple_Pack(2, loop_out, cross_out);
done:
    PyMem_Free(h.keys);
    PyMem_Free(h.last);
    PyMem_Free(sys_last);
    PyMem_Free(sys_all);
    Py_XDECREF(loop_out);
    Py_XDECREF(cross_out);
    PyBuffer_Release(&ts);
    PyBuffer_Release(&sy);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&fp);
    PyBuffer_Release(&tid);
    return result;
}

/* ---------------------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"bind", bind, METH_VARARGS, "bind(SystemState, RuleState): learn the classes' slot offsets."},
    {"decide", decide, METH_VARARGS,
     "decide(context, columns, numbered=False) -> [(pos, decision)]: Engine._process_py over one batch (see\n"
     "engine.py). numbered: (positions as int64 bytes, decision numbers as int32 bytes, distinct decisions)."},
    {"hot_flags", hot_flags, METH_VARARGS,
     "hot_flags(ts, system, level, fingerprint, trace_id, trace_none, loop_ms, loop_newest, cross_ms,\n"
     "cross_newest) -> (loop, cross) int32 0/1 per row as bytes, or None for rows out of time order: the\n"
     "events of one batch that may meet the loop or cross-system rule (see logcorr/rules/columns.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "logcorr._fastrules", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastrules(void)
{
#define INTERN(var, s) if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL
    INTERN(S_SUPPRESS, "suppress");
    INTERN(S_DUPLICATE, "duplicate");
    INTERN(S_LOOP, "loop");
    INTERN(S_CROSS, "cross_system");
    INTERN(S_TRACE, "trace");
    INTERN(S_RATE, "rate_limit");
    INTERN(S_BUDGET, "budget");
    INTERN(K_CRIT, "critical_bypass");
    INTERN(K_REFUSED, "trace_refused");
    INTERN(K_GRACE, "trace_grace");
    INTERN(K_LATE, "late");
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddStringConstant(m, "SOURCE", LOGCORR_SOURCE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
