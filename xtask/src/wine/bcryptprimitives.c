/*
 * A stand-in for Windows' bcryptprimitives.dll, for Wine 8.0, which lacks it.
 *
 * Rust's standard library (since 1.78) takes its random bytes from `ProcessPrng`, which it
 * imports from bcryptprimitives.dll; Wine added that DLL in 9.0, so under Debian's Wine 8.0
 * every Rust program fails to start ("Library bcryptprimitives.dll ... not found", exit 53).
 * This DLL exports that one function, filling the buffer from `RtlGenRandom`
 * (advapi32's SystemFunction036, which Wine has). `cargo xtask wine-setup` builds it with
 * mingw-w64 and copies it into a Wine prefix's system32; it is never part of a Windows build.
 *
 * Windows' own `ProcessPrng` always returns TRUE; this one says FALSE if RtlGenRandom fails,
 * which Rust's standard library turns into a panic rather than using unfilled bytes.
 */
#include <windows.h>

/* advapi32's export, declared here rather than through ntsecapi.h's RtlGenRandom macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length: fill in chunks that fit one. */
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
