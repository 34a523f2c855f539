/* Symbol servers for the image path: an srv*CACHE*URL entry (srv*URL
 * caches under the user's cache folder) fetches, for each module whose
 * code the dump lacks, URL/name/TTTTTTTTSSSS/name into CACHE, the same
 * layout as a symbol-store folder, which the entry then becomes for
 * dx_dump_add_images. HTTP through libcurl, with timeouts, a progress line
 * for long downloads, and a message for each module a server does not
 * give; what is not a PE file is not kept. */
#include "symsrv.h"

#include "describe.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 5L
#define STALL_S 10L        /* a transfer slower than 1 KiB/s for this long ends */
#define PROGRESS_BYTES (1 << 20)

/* libcurl is opened when an image path names a server: linked in, it and
 * its TLS libraries would cost every server process 5 MiB at start. */
typedef struct curl_api {
    void *so;
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
} curl_api;

static bool curl_open(curl_api *c)
{
    memset(c, 0, sizeof *c);
    if (!(c->so = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)))
        return false;
    *(void **)&c->global_init = dlsym(c->so, "curl_global_init");
    *(void **)&c->global_cleanup = dlsym(c->so, "curl_global_cleanup");
    *(void **)&c->easy_init = dlsym(c->so, "curl_easy_init");
    *(void **)&c->easy_setopt = dlsym(c->so, "curl_easy_setopt");
    *(void **)&c->easy_perform = dlsym(c->so, "curl_easy_perform");
    *(void **)&c->easy_getinfo = dlsym(c->so, "curl_easy_getinfo");
    *(void **)&c->easy_cleanup = dlsym(c->so, "curl_easy_cleanup");
    *(void **)&c->easy_strerror = dlsym(c->so, "curl_easy_strerror");
    bool ok = c->global_init && c->global_cleanup && c->easy_init && c->easy_setopt && c->easy_perform &&
              c->easy_getinfo && c->easy_cleanup && c->easy_strerror && c->global_init(CURL_GLOBAL_DEFAULT) == 0;
    if (!ok) {
        dlclose(c->so);
        c->so = NULL;
    }
    return ok;
}

static void curl_close(curl_api *c)
{
    if (c->so) {
        c->global_cleanup();
        dlclose(c->so);
    }
    c->so = NULL;
}

static int mkdirs(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

typedef struct progress {
    const char *name;
    double last;
    bool shown;
} progress;

static int on_progress(void *user, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un)
{
    (void)ut, (void)un;
    progress *p = user;
    if (total > PROGRESS_BYTES && (double)now - p->last >= total / 20.0) {
        fprintf(stderr, "\rdump_exec: fetching %s: %3d%% of %.1f MiB", p->name, (int)(100.0 * (double)now / (double)total),
                (double)total / (1 << 20));
        p->last = (double)now;
        p->shown = true;
    }
    return 0;
}

/* url into path (through path.part); 0, or -1 with why in report. */
static int fetch(const curl_api *api, const char *url, const char *path, const char *name, dx_buf *report)
{
    char part[4096];
    FILE *out = snprintf(part, sizeof part, "%s.part", path) < (int)sizeof part ? fopen(part, "wb") : NULL;
    if (!out) {
        dx_buf_printf(report, "%s: cannot write %s\n", name, part);
        return -1;
    }
    CURL *c = api->easy_init();
    progress p = {name, 0, false};
    char curl_err[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (c) {
        api->easy_setopt(c, CURLOPT_URL, url);
        api->easy_setopt(c, CURLOPT_WRITEDATA, out);
        api->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
        api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
        api->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        api->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_S);
        api->easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
        api->easy_setopt(c, CURLOPT_USERAGENT, "Microsoft-Symbol-Server/10.0.0.0 (dump_exec)");
        api->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        api->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        api->easy_setopt(c, CURLOPT_XFERINFODATA, &p);
        rc = api->easy_perform(c);
        api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        api->easy_cleanup(c);
    }
    if (p.shown)
        fprintf(stderr, "\n");
    bool ok = fclose(out) == 0 && rc == CURLE_OK && status == 200;
    if (!ok) {
        if (rc != CURLE_OK)
            dx_buf_printf(report, "%s: %s: %s\n", name, url, curl_err[0] ? curl_err : api->easy_strerror(rc));
        else
            dx_buf_printf(report, "%s: %s: HTTP %ld\n", name, url, status);
        unlink(part);
        return -1;
    }
    return rename(part, path);
}

/* What the server gave must be a PE file to be kept. */
static bool is_pe(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t head[4096];
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    /* The headers alone: a PE32+ file's whole check needs its sections, which dump/ does on loading. */
    return n >= 0x40 && head[0] == 'M' && head[1] == 'Z';
}

static void fetch_modules(const curl_api *api, const dx_dump *d, const char *cache, const char *url, dx_buf *report)
{
    for (size_t i = 0; i < dx_dump_module_count(d); i++) {
        const dx_module *m = dx_dump_module(d, i);
        if (dx_module_has_code(d, m) || !dx_safe_file_name(m->basename))
            continue; /* a name with a folder in it would be written outside the cache */
        char key[32], dir[4096], path[4096], where[8192];
        snprintf(key, sizeof key, "%08X%x", m->timestamp, m->size);
        if (snprintf(dir, sizeof dir, "%s/%s/%s", cache, m->basename, key) >= (int)sizeof dir ||
            snprintf(path, sizeof path, "%s/%s", dir, m->basename) >= (int)sizeof path ||
            snprintf(where, sizeof where, "%s/%s/%s/%s", url, m->basename, key, m->basename) >= (int)sizeof where)
            continue; /* names too long for a file */
        if (access(path, R_OK) == 0)
            continue; /* cached */
        if (mkdirs(dir) != 0) {
            dx_buf_printf(report, "%s: cannot make the cache folder %s\n", m->basename, dir);
            continue;
        }
        if (fetch(api, where, path, m->basename, report) == 0 && !is_pe(path)) {
            dx_buf_printf(report, "%s: %s did not send a PE file: not kept\n", m->basename, where);
            unlink(path);
        }
    }
}

static void default_cache(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, len, "%s/dumpexec/symbols", xdg);
    else
        snprintf(out, len, "%s/.cache/dumpexec/symbols", home && *home ? home : "/tmp");
}

char *dx_symsrv_resolve(const dx_dump *d, const char *path, dx_buf *report)
{
    dx_buf out = {0};
    curl_api api = {0};
    bool curl_tried = false;
    for (const char *p = path; p && *p;) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        char entry[4096];
        snprintf(entry, sizeof entry, "%.*s", (int)len, p);
        p = semi ? semi + 1 : NULL;
        if (strncasecmp(entry, "srv*", 4)) {
            dx_buf_printf(&out, "%s%s", out.len ? ";" : "", entry);
            continue;
        }
        /* srv*CACHE*URL, srv*URL, srv*CACHE (a downstream store only). */
        char *parts = entry + 4, *star = strchr(parts, '*'), cache[4096];
        const char *url = NULL;
        if (star) {
            *star = 0;
            snprintf(cache, sizeof cache, "%s", parts);
            url = star + 1;
        } else if (strstr(parts, "://")) {
            default_cache(cache, sizeof cache);
            url = parts;
        } else {
            snprintf(cache, sizeof cache, "%s", parts);
        }
        if (!cache[0])
            default_cache(cache, sizeof cache);
        char base_url[4096];
        if (url) {
            snprintf(base_url, sizeof base_url, "%s", url);
            for (size_t n = strlen(base_url); n && base_url[n - 1] == '/'; n--)
                base_url[n - 1] = 0;
            url = base_url;
        }
        if (url && *url) {
            if (!curl_tried && !curl_open(&api))
                dx_buf_printf(report, "cannot load libcurl (libcurl.so.4): symbol servers skipped\n");
            curl_tried = true;
            if (api.so)
                fetch_modules(&api, d, cache, url, report);
        }
        dx_buf_printf(&out, "%s%s", out.len ? ";" : "", cache);
    }
    curl_close(&api);
    char *s = strdup(dx_buf_str(&out));
    dx_buf_free(&out);
    return s;
}
