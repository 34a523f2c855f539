/* qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH — documents served in windows. */
#include "internal.h"

#include <stdio.h>

void rsp_xfer_window(const dx_buf *doc, uint64_t off, uint64_t len, dx_buf *reply)
{
    if (off >= doc->len) {
        dx_buf_printf(reply, "l");
        return;
    }
    uint64_t n = doc->len - off < len ? doc->len - off : len;
    dx_buf_printf(reply, "%c", off + n >= doc->len ? 'l' : 'm');
    dx_buf_append(reply, doc->data + off, n);
}

static void xml_escape(dx_buf *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': dx_buf_printf(out, "&amp;"); break;
        case '<': dx_buf_printf(out, "&lt;"); break;
        case '>': dx_buf_printf(out, "&gt;"); break;
        case '"': dx_buf_printf(out, "&quot;"); break;
        default: dx_buf_append(out, s, 1);
        }
    }
}

static void threads_xml(rsp_session *s, dx_buf *doc)
{
    uint32_t tids[4096];
    size_t n = s->ops->threads(s->target, tids, 4096);
    dx_buf_printf(doc, "<?xml version=\"1.0\"?>\n<threads>\n");
    for (size_t i = 0; i < n; i++) {
        const char *name = s->ops->thread_name ? s->ops->thread_name(s->target, tids[i]) : NULL;
        dx_buf_printf(doc, "<thread id=\"%x\" core=\"0\"", tids[i]);
        if (name && *name) {
            dx_buf_printf(doc, " name=\"");
            xml_escape(doc, name);
            dx_buf_printf(doc, "\"");
        }
        dx_buf_printf(doc, "/>\n");
    }
    dx_buf_printf(doc, "</threads>\n");
}

/* The document an object/annex names, or -1 if there is none. */
static int build(rsp_session *s, const char *object, const char *annex, dx_buf *doc)
{
    if (!strcmp(object, "features")) {
        if (strcmp(annex, "target.xml"))
            return -1;
        rsp_target_xml(s, doc);
        return 0;
    }
    if (!strcmp(object, "threads")) {
        threads_xml(s, doc);
        return 0;
    }
    if (!strcmp(object, "libraries") && s->ops->libraries_xml)
        return s->ops->libraries_xml(s->target, s->client, doc);
    if (!strcmp(object, "exec-file") && s->ops->exec_file)
        return s->ops->exec_file(s->target, doc);
    if (!strcmp(object, "siginfo") && s->ops->siginfo)
        return s->ops->siginfo(s->target, doc);
    return -2;
}

static int xfer(rsp_session *s, const char *pkt, size_t len, dx_buf *reply)
{
    char object[32], annex[64];
    const char *p = pkt + 6, *colon = memchr(p, ':', len - 6);
    if (!colon || colon - p >= (long)sizeof object)
        return 0;
    memcpy(object, p, (size_t)(colon - p));
    object[colon - p] = 0;
    p = colon + 1;
    if (strncmp(p, "read:", 5) != 0)
        return 0;
    p += 5;
    colon = strchr(p, ':');
    if (!colon || colon - p >= (long)sizeof annex) {
        rsp_error(reply, 0x00);
        return 0;
    }
    memcpy(annex, p, (size_t)(colon - p));
    annex[colon - p] = 0;
    p = colon + 1;
    uint64_t off, n;
    if (!rsp_parse_addr_len(&p, &off, &n)) {
        rsp_error(reply, 0x00);
        return 0;
    }
    dx_buf doc = {0};
    int rc = build(s, object, annex, &doc);
    if (rc == 0)
        rsp_xfer_window(&doc, off, n < s->opt.max_packet - 8 ? n : s->opt.max_packet - 8, reply);
    else if (rc == -1)
        rsp_error(reply, 0x00);
    dx_buf_free(&doc);
    return 0;
}

const rsp_packet rsp_xfer_packets[] = {
    {"qXfer:", false, xfer},
    {NULL, false, NULL},
};
