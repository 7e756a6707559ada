/* fixture.h - reader for the golden fixtures in tests/fixtures/ (C99, also valid C++11).
 *
 * The fixtures are produced by tests/gen_fixtures.py (Debian python3-torch); the tests
 * only read the committed text files and never need Python.
 *
 * Format: lines starting with '#' are comments. Each record is a header line
 * `name rank d0 ... d(rank-1)` followed by one line with all values, row-major, printed
 * with %.9g (exact float32 round trip). Scalars have rank 0. Integers are stored as floats.
 *
 *   fx_file f;
 *   if (fx_load(&f, "tests/fixtures/dense_3x17x33.txt") != 0) fail;
 *   const fx_tensor *y = fx_get(&f, "y");
 *   double worst;
 *   ok = fx_close(out, y->data, y->size, 1e-5, 1e-5, &worst);
 *   fx_free(&f);
 *
 * Unused dimensions of shape[] are set to 1; a rank-0 tensor has size 1.
 */
#ifndef NN_TESTS_FIXTURE_H
#define NN_TESTS_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NAN
#define NAN (0.0f / 0.0f)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FX_FN static __attribute__((unused))
#else
#define FX_FN static
#endif

typedef struct fx_tensor {
    char name[64];
    int rank;
    int shape[4];
    int size;
    float *data;
} fx_tensor;

typedef struct fx_file {
    fx_tensor *t;
    int n;
    char path[512];
} fx_file;

FX_FN void fx_free(fx_file *f)
{
    int i;
    if (!f) return;
    for (i = 0; i < f->n; i++) free(f->t[i].data);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

/* Next non-comment, non-blank line starting at *p; NUL-terminates it and advances *p.
 * Returns NULL at end of buffer. *lineno tracks the 1-based line number. */
FX_FN char *fx__line(char **p, int *lineno)
{
    while (**p) {
        char *s = *p, *e = s;
        while (*e && *e != '\n') e++;
        *p = *e ? e + 1 : e;
        *e = '\0';
        (*lineno)++;
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (*s && *s != '#') return s;
    }
    return NULL;
}

/* 0 ok, -1 error (reason printed to stderr). On error f is left empty. */
FX_FN int fx_load(fx_file *f, const char *path)
{
    FILE *fp;
    long len;
    char *buf = NULL, *p, *line;
    int lineno = 0, cap = 0;

    memset(f, 0, sizeof *f);
    strncpy(f->path, path, sizeof f->path - 1);
    fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture %s: cannot open\n", path);
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fixture %s: cannot size file\n", path);
        fclose(fp);
        return -1;
    }
    buf = (char *)malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
        fprintf(stderr, "fixture %s: cannot read\n", path);
        free(buf);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    buf[len] = '\0';

    p = buf;
    while ((line = fx__line(&p, &lineno)) != NULL) {
        fx_tensor t;
        char *s = line, *end;
        int i, namelen = 0;
        long v;

        memset(&t, 0, sizeof t);
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') {
            if (namelen >= (int)sizeof t.name - 1) goto bad_header;
            t.name[namelen++] = *s++;
        }
        v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 4) goto bad_header;
        t.rank = (int)v;
        s = end;
        t.size = 1;
        for (i = 0; i < 4; i++) t.shape[i] = 1;
        for (i = 0; i < t.rank; i++) {
            v = strtol(s, &end, 10);
            if (end == s || v < 1 || v > 100000000L / t.size) goto bad_header;
            t.shape[i] = (int)v;
            t.size *= (int)v;
            s = end;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (*s) goto bad_header;

        line = fx__line(&p, &lineno);
        if (!line) {
            fprintf(stderr, "fixture %s: tensor '%s' has no value line\n", path, t.name);
            goto fail;
        }
        t.data = (float *)malloc(sizeof(float) * (size_t)t.size);
        if (!t.data) {
            fprintf(stderr, "fixture %s: out of memory\n", path);
            goto fail;
        }
        s = line;
        for (i = 0; i < t.size; i++) {
            t.data[i] = strtof(s, &end);
            if (end == s) {
                fprintf(stderr, "fixture %s:%d: tensor '%s' has %d values, expected %d\n", path, lineno, t.name,
                        i, t.size);
                free(t.data);
                goto fail;
            }
            s = end;
        }
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (*s) {
            fprintf(stderr, "fixture %s:%d: tensor '%s' has more than %d values\n", path, lineno, t.name, t.size);
            free(t.data);
            goto fail;
        }
        if (f->n == cap) {
            fx_tensor *nt;
            cap = cap ? 2 * cap : 16;
            nt = (fx_tensor *)realloc(f->t, sizeof(fx_tensor) * (size_t)cap);
            if (!nt) {
                fprintf(stderr, "fixture %s: out of memory\n", path);
                free(t.data);
                goto fail;
            }
            f->t = nt;
        }
        f->t[f->n++] = t;
        continue;

    bad_header:
        fprintf(stderr, "fixture %s:%d: bad header line '%s'\n", path, lineno, line);
        goto fail;
    }
    free(buf);
    return 0;

fail:
    free(buf);
    fx_free(f);
    return -1;
}

/* The tensor called name, or NULL (with a message on stderr). */
FX_FN const fx_tensor *fx_get(const fx_file *f, const char *name)
{
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    fprintf(stderr, "fixture %s: no tensor '%s'\n", f->path, name);
    return NULL;
}

/* Value of a one-element (normally rank-0) tensor; NAN if missing or not one element. */
FX_FN float fx_scalar(const fx_file *f, const char *name)
{
    const fx_tensor *t = fx_get(f, name);
    if (!t) return (float)NAN;
    if (t->size != 1) {
        fprintf(stderr, "fixture %s: tensor '%s' is not a scalar (%d values)\n", f->path, name, t->size);
        return (float)NAN;
    }
    return t->data[0];
}

/* Passes element i when |got-want| <= rtol*|want| + atol*max_j|want[j]| (identical values,
 * including equal infinities, always pass; NaN never does). Returns 1 if all pass, else 0 and
 * prints the first failing index to stderr. If worst is not NULL it receives the largest
 * elementwise relative error |got-want| / max(|want|, 1e-30), for reporting. */
FX_FN int fx_close(const float *got, const float *want, int n, double rtol, double atol, double *worst)
{
    double scale = 0.0, w = 0.0;
    int i, ok = 1;
    for (i = 0; i < n; i++) {
        double a = fabs((double)want[i]);
        if (a > scale && a <= 3.4e38) scale = a;
    }
    for (i = 0; i < n; i++) {
        double g = got[i], e = want[i], d, r, tol;
        if (g == e) continue;
        d = fabs(g - e);
        r = d / (fabs(e) > 1e-30 ? fabs(e) : 1e-30);
        if (!(r <= w)) w = r; /* also propagates NaN */
        tol = rtol * fabs(e) + atol * scale;
        if (!(d <= tol)) {
            if (ok)
                fprintf(stderr, "fx_close: first mismatch at [%d]: got %.9g want %.9g (|diff| %.3g > tol %.3g)\n",
                        i, g, e, d, tol);
            ok = 0;
        }
    }
    if (worst) *worst = w;
    return ok;
}

#endif /* NN_TESTS_FIXTURE_H */
