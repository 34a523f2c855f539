/* Compile-time test, built with mingw-w64 against its own winnt.h: every
 * CONTEXT and EXCEPTION_RECORD offset DumpExec writes or reads (the
 * reader, nt/'s exception frames) is where Windows keeps it. */
#include <stddef.h>
#include <windows.h>

#include "winnt_layout.h"

#define SAME(what, ours) _Static_assert(what == ours, #what " is not " #ours)

SAME(sizeof(CONTEXT), CTX_SIZE);
SAME(offsetof(CONTEXT, ContextFlags), CTX_CONTEXT_FLAGS);
SAME(offsetof(CONTEXT, MxCsr), CTX_MXCSR);
SAME(offsetof(CONTEXT, SegCs), CTX_SEG_CS);
SAME(offsetof(CONTEXT, SegDs), CTX_SEG_DS);
SAME(offsetof(CONTEXT, SegEs), CTX_SEG_ES);
SAME(offsetof(CONTEXT, SegFs), CTX_SEG_FS);
SAME(offsetof(CONTEXT, SegGs), CTX_SEG_GS);
SAME(offsetof(CONTEXT, SegSs), CTX_SEG_SS);
SAME(offsetof(CONTEXT, EFlags), CTX_EFLAGS);
SAME(offsetof(CONTEXT, Dr0), CTX_DR0);
SAME(offsetof(CONTEXT, Dr7), CTX_DR0 + 5 * 8);
SAME(offsetof(CONTEXT, Rax), CTX_RAX);
SAME(offsetof(CONTEXT, Rcx), CTX_RAX + 8);
SAME(offsetof(CONTEXT, Rbx), CTX_RAX + 3 * 8);
SAME(offsetof(CONTEXT, Rsp), CTX_RSP);
SAME(offsetof(CONTEXT, Rdi), CTX_RAX + 7 * 8);
SAME(offsetof(CONTEXT, R15), CTX_RAX + 15 * 8);
SAME(offsetof(CONTEXT, Rip), CTX_RIP);
SAME(offsetof(CONTEXT, FltSave), CTX_FLTSAVE);
SAME(offsetof(CONTEXT, Xmm0), CTX_XMM0);
SAME(offsetof(CONTEXT, Xmm15), CTX_XMM0 + 15 * 16);
SAME(offsetof(XMM_SAVE_AREA32, ControlWord), FLT_CONTROL_WORD);
SAME(offsetof(XMM_SAVE_AREA32, StatusWord), FLT_STATUS_WORD);
SAME(offsetof(XMM_SAVE_AREA32, TagWord), FLT_TAG_WORD);
SAME(offsetof(XMM_SAVE_AREA32, ErrorOpcode), FLT_ERROR_OPCODE);
SAME(offsetof(XMM_SAVE_AREA32, ErrorOffset), FLT_ERROR_OFFSET);
SAME(offsetof(XMM_SAVE_AREA32, ErrorSelector), FLT_ERROR_SELECTOR);
SAME(offsetof(XMM_SAVE_AREA32, DataOffset), FLT_DATA_OFFSET);
SAME(offsetof(XMM_SAVE_AREA32, DataSelector), FLT_DATA_SELECTOR);
SAME(offsetof(XMM_SAVE_AREA32, MxCsr), FLT_MXCSR);
SAME(offsetof(XMM_SAVE_AREA32, MxCsr_Mask), FLT_MXCSR_MASK);
SAME(offsetof(XMM_SAVE_AREA32, FloatRegisters), FLT_FLOAT_REGISTERS);
SAME(offsetof(XMM_SAVE_AREA32, XmmRegisters), FLT_XMM_REGISTERS);
SAME(sizeof(XMM_SAVE_AREA32), 512);

SAME(sizeof(EXCEPTION_RECORD), EXR_SIZE);
SAME(offsetof(EXCEPTION_RECORD, ExceptionCode), EXR_CODE);
SAME(offsetof(EXCEPTION_RECORD, ExceptionFlags), EXR_FLAGS);
SAME(offsetof(EXCEPTION_RECORD, ExceptionRecord), EXR_RECORD);
SAME(offsetof(EXCEPTION_RECORD, ExceptionAddress), EXR_ADDRESS);
SAME(offsetof(EXCEPTION_RECORD, NumberParameters), EXR_NUMBER_PARAMETERS);
SAME(offsetof(EXCEPTION_RECORD, ExceptionInformation), EXR_INFORMATION);
SAME(EXCEPTION_MAXIMUM_PARAMETERS, EXR_MAX_PARAMETERS);

/* The frame KiUserExceptionDispatcher reads: CONTEXT, then CONTEXT_EX
 * (three chunks, 24 bytes, padded to 0x20), then the record at 0x4f0. */
SAME(CTX_SIZE + 0x20, 0x4f0);
