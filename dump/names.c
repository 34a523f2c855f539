/* Names for numbers the dump stores. */
#include "dump.h"

#include <stddef.h>

const char *dx_exception_name(uint32_t code)
{
    static const struct {
        uint32_t code;
        const char *name;
    } names[] = {
        {0x80000003, "EXCEPTION_BREAKPOINT"},
        {0x80000004, "EXCEPTION_SINGLE_STEP"},
        {0x80000001, "EXCEPTION_GUARD_PAGE"},
        {0x80000002, "EXCEPTION_DATATYPE_MISALIGNMENT"},
        {0xc0000005, "EXCEPTION_ACCESS_VIOLATION"},
        {0xc0000006, "EXCEPTION_IN_PAGE_ERROR"},
        {0xc0000008, "EXCEPTION_INVALID_HANDLE"},
        {0xc000000d, "STATUS_INVALID_PARAMETER"},
        {0xc000001d, "EXCEPTION_ILLEGAL_INSTRUCTION"},
        {0xc0000025, "EXCEPTION_NONCONTINUABLE_EXCEPTION"},
        {0xc0000026, "EXCEPTION_INVALID_DISPOSITION"},
        {0xc000008c, "EXCEPTION_ARRAY_BOUNDS_EXCEEDED"},
        {0xc000008d, "EXCEPTION_FLT_DENORMAL_OPERAND"},
        {0xc000008e, "EXCEPTION_FLT_DIVIDE_BY_ZERO"},
        {0xc000008f, "EXCEPTION_FLT_INEXACT_RESULT"},
        {0xc0000090, "EXCEPTION_FLT_INVALID_OPERATION"},
        {0xc0000091, "EXCEPTION_FLT_OVERFLOW"},
        {0xc0000092, "EXCEPTION_FLT_STACK_CHECK"},
        {0xc0000093, "EXCEPTION_FLT_UNDERFLOW"},
        {0xc0000094, "EXCEPTION_INT_DIVIDE_BY_ZERO"},
        {0xc0000095, "EXCEPTION_INT_OVERFLOW"},
        {0xc0000096, "EXCEPTION_PRIV_INSTRUCTION"},
        {0xc00000fd, "EXCEPTION_STACK_OVERFLOW"},
        {0xc0000409, "STATUS_STACK_BUFFER_OVERRUN"},
        {0xc0000417, "STATUS_INVALID_CRUNTIME_PARAMETER"},
        {0xc000013a, "STATUS_CONTROL_C_EXIT"},
        {0x40010005, "DBG_CONTROL_C"},
        {0x406d1388, "MS_VC_EXCEPTION"},
        {0xe06d7363, "C++ exception (MSVC)"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == code)
            return names[i].name;
    return NULL;
}

const char *dx_arch_name(uint16_t arch)
{
    switch (arch) {
    case 0: return "x86 (32-bit)";
    case 5: return "ARM";
    case 6: return "IA-64";
    case 9: return "AMD64";
    case 12: return "ARM64";
    case 0xffff: return "unknown";
    default: return "unrecognised";
    }
}
