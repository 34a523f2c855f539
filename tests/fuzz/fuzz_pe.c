/* The PE file mapper of images from files (dump/images.c): any bytes as a
 * module's file, checked, laid out and relocated to another base. */
#include "dump.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dx_pe_file_info info;
    if (dx_pe_file_check(data, size, &info) || info.size_of_image > (64u << 20))
        return 0;
    uint8_t *img = dx_pe_file_layout(data, size, info.image_base + 0x7ff00000ull);
    if (img) {
        volatile uint8_t sink = img[info.size_of_image - 1];
        (void)sink;
    }
    free(img);
    return 0;
}
