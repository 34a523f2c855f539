/* libFuzzer: any text as a monitor command line and as call arguments. */
#include "exec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1), err[DX_ERRLEN];
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = 0;
    char **words;
    size_t n;
    if (dx_words_split(line, &words, &n, err, sizeof err) == 0) {
        dx_arg *args;
        size_t nargs;
        if (dx_args_parse(NULL, (const char *const *)words, n, &args, &nargs, err, sizeof err) == 0)
            dx_args_free(args, nargs);
        dx_words_free(words, n);
    }
    free(line);
    return 0;
}
