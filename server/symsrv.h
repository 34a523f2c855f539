/* Symbol servers in an image path (symsrv.c): I/O kept out of dump/. */
#ifndef DX_SYMSRV_H
#define DX_SYMSRV_H

#include "buf.h"
#include "dump.h"

/* path with every srv*CACHE*URL entry fetched: for each module whose code
 * the dump lacks, its file from URL into CACHE unless there already, and
 * the entry replaced by CACHE (a symbol-store folder). What a server did
 * not give goes into report. A new string (free it). */
char *dx_symsrv_resolve(const dx_dump *d, const char *path, dx_buf *report);

#endif
