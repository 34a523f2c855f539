/* Where Windows x64 keeps each field of CONTEXT and EXCEPTION_RECORD, as
 * winnt.h lays them out. Plain numbers, no Windows headers: the reader,
 * nt/ and a compile-time test (tests/test_winnt_layout.c, built with
 * mingw-w64 against its own winnt.h) share them. */
#ifndef DX_WINNT_LAYOUT_H
#define DX_WINNT_LAYOUT_H

#define CTX_SIZE 0x4d0
#define CTX_CONTEXT_FLAGS 0x30
#define CTX_MXCSR 0x34
#define CTX_SEG_CS 0x38
#define CTX_SEG_DS 0x3a
#define CTX_SEG_ES 0x3c
#define CTX_SEG_FS 0x3e
#define CTX_SEG_GS 0x40
#define CTX_SEG_SS 0x42
#define CTX_EFLAGS 0x44
#define CTX_DR0 0x48 /* Dr0 Dr1 Dr2 Dr3 Dr6 Dr7, 8 bytes each */
#define CTX_RAX 0x78 /* Rax Rcx Rdx Rbx Rsp Rbp Rsi Rdi R8..R15, 8 bytes each */
#define CTX_RSP 0x98
#define CTX_RIP 0xf8
#define CTX_FLTSAVE 0x100 /* XMM_SAVE_AREA32, the FXSAVE image (512 bytes) */
#define FLT_CONTROL_WORD 0
#define FLT_STATUS_WORD 2
#define FLT_TAG_WORD 4
#define FLT_ERROR_OPCODE 6
#define FLT_ERROR_OFFSET 8
#define FLT_ERROR_SELECTOR 12
#define FLT_DATA_OFFSET 16
#define FLT_DATA_SELECTOR 20
#define FLT_MXCSR 24
#define FLT_MXCSR_MASK 28
#define FLT_FLOAT_REGISTERS 32 /* st0..st7, 16 bytes each */
#define FLT_XMM_REGISTERS 160  /* xmm0..xmm15, 16 bytes each */
#define CTX_XMM0 (CTX_FLTSAVE + FLT_XMM_REGISTERS)

#define EXR_SIZE 0x98
#define EXR_CODE 0x00
#define EXR_FLAGS 0x04
#define EXR_RECORD 0x08
#define EXR_ADDRESS 0x10
#define EXR_NUMBER_PARAMETERS 0x18
#define EXR_INFORMATION 0x20 /* 15 ULONG_PTRs */
#define EXR_MAX_PARAMETERS 15

#endif
